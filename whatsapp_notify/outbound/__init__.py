"""Outbound: recording envíos, checking them, delivering them and operating on them."""
