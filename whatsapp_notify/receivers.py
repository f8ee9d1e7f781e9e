"""Kept for compatibility: ``whatsapp_notify.receivers.descargar_media`` is documented.

Applying events now lives in ``whatsapp_notify.inbound.apply`` and media in
``whatsapp_notify.inbound.media``; import from there in new code.
"""

from .inbound.media import MediaInvalido, descargar_media

__all__ = ["MediaInvalido", "descargar_media"]
