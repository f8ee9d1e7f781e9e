"""``whatsapp/documento/<token>/``: an envío's document, for a provider that fetches it.

Twilio sends a document by fetching a public URL (``MediaUrl``) when the message goes out.
The app serves the envío's stored file there, at an unguessable and expiring address:
the token (:func:`~whatsapp_notify.references.token_documento`) names the envío and the
SHA-256 of its document, signed with ``SECRET_KEY``. A forged, altered or expired token,
an envío that no longer exists or whose document changed or was purged: all answer the
same 404, so a caller learns nothing about which.
"""

from __future__ import annotations

import hmac
import logging

from django.http import FileResponse, Http404, HttpRequest
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from .models import EnvioWhatsApp
from .references import documento_del_token

logger = logging.getLogger(__name__)

NO_DISPONIBLE = _("Documento no disponible.")


@require_safe
def documento(request: HttpRequest, token: str, nombre: str = "") -> FileResponse:
    """Serve the document of the envío ``token`` names, inline, with its type and name.

    ``nombre`` (the file name the URL ends with, so the recipient's app shows it) is not
    trusted: the stored ``nombre_documento`` is the one served.

    Raises:
        Http404: for any token or envío that does not lead to its document.
    """
    envio = _envio(token)
    try:
        archivo = envio.documento.open("rb")
    except OSError:  # purged by the retention policy meanwhile
        raise Http404(NO_DISPONIBLE) from None
    respuesta = FileResponse(
        archivo,
        content_type=envio.documento_mime or "application/octet-stream",
        filename=envio.nombre_documento or None,
    )
    # A link for one fetch: never cached by a proxy, never indexed.
    respuesta["Cache-Control"] = "private, no-store"
    respuesta["X-Robots-Tag"] = "noindex"
    logger.info("Documento del envío %s servido", envio.pk)
    return respuesta


def _envio(token: str) -> EnvioWhatsApp:
    hallado = documento_del_token(token)
    if hallado is None:
        raise Http404(NO_DISPONIBLE)
    envio_id, sha256 = hallado
    campos = ("documento", "documento_mime", "documento_sha256", "nombre_documento")
    envio = EnvioWhatsApp.objects.filter(pk=envio_id).only(*campos).first()
    if envio is None or not envio.documento or not envio.documento_sha256:
        raise Http404(NO_DISPONIBLE)
    if not hmac.compare_digest(envio.documento_sha256, sha256):
        raise Http404(NO_DISPONIBLE)
    return envio
