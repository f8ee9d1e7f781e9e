"""Shims that let a project written against another WhatsApp library move onto the outbox.

``whatsapp_notify.compat.heyoo``: heyoo's ``WhatsApp`` class (extra ``heyoo``).
"""
