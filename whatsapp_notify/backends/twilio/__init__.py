"""The Twilio WhatsApp provider (Programmable Messaging).

``whatsapp_notify.backends.twilio.TwilioBackend`` is the documented ``BACKEND`` path; the
backend itself lives in :mod:`.backend`.
"""

from .backend import API_URL, CONTENT_URL, TwilioBackend

__all__ = ["API_URL", "CONTENT_URL", "TwilioBackend"]
