"""The Meta WhatsApp Cloud API provider (Graph API), the default backend.

``whatsapp_notify.backends.meta.MetaBackend`` is the documented ``BACKEND`` path; the
backend itself lives in :mod:`.backend`.
"""

from .backend import API_VERSION, GRAPH_URL, MetaBackend

__all__ = ["API_VERSION", "GRAPH_URL", "MetaBackend"]
