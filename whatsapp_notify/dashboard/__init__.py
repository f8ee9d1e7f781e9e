"""The operations dashboard in the admin: the outbox's figures as numbers, tables and SVG charts."""
