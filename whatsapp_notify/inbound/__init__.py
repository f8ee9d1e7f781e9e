"""Inbound: the webhook view, the stored bodies, and applying what they say."""
