"""A local stand-in for the Meta Cloud API, for development, tests and benchmarks.

Point MetaBackend's ``BASE_URL`` at :attr:`Sandbox.base_url`: sends are validated against
Meta's OpenAPI description (shipped in ``data/``), answered like the Cloud API, and
followed by signed status webhooks (sent, delivered, read, or failed). :class:`Fallos`
injects latency, 5xx answers, timeouts and Graph errors. From the shell:
``python manage.py whatsapp_sandbox``.

Needs the ``sandbox`` extra: ``pip install "django-whatsapp-notify[sandbox]"``.
"""

from .fallos import ERRORES, Fallos, error_graph
from .media import Media
from .schema import PayloadInvalido, problema, validate_message
from .server import APP_SECRET, DEMORAS, Peticion, Sandbox
from .webhooks import WebhookEnviado, firmar

__all__ = [
    "APP_SECRET",
    "DEMORAS",
    "ERRORES",
    "Fallos",
    "Media",
    "PayloadInvalido",
    "Peticion",
    "Sandbox",
    "WebhookEnviado",
    "error_graph",
    "firmar",
    "problema",
    "validate_message",
]
