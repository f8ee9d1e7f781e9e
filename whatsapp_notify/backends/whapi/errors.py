"""WHAPI's errors: ``{"error": {"code", "message", "details", "href", "support"}}``.

WHAPI's error ``code`` is an HTTP status (400, 401, 402, 404, 429, 500...), so it is
classified here by that number and never through the Graph code table of
``whatsapp_notify.exceptions`` (Graph's 4, 10 or 100 mean something else).
"""

from __future__ import annotations

from typing import Any

import requests
from django.utils.translation import gettext_lazy as _

from ... import exceptions
from ...exceptions import (
    AuthError,
    PermanentError,
    ProviderError,
    ThroughputLimitError,
    TransientError,
)

# Readable Spanish sentences for the codes an ERP user is likely to meet.
MENSAJES = {
    400: _("WHAPI rechazó la solicitud: un campo falta o no es válido."),
    401: _("El token de WHAPI no es válido: copia el del canal (panel de WHAPI › canal › Token)."),
    402: _("El canal de WHAPI no tiene un plan activo (prueba terminada o pago pendiente)."),
    403: _("El token de WHAPI no tiene permiso para esta operación."),
    404: _("WHAPI no encontró el destinatario o el recurso (¿el número usa WhatsApp?)."),
    408: _("WHAPI no respondió a tiempo."),
    409: _("El canal de WHAPI no está listo: vincula el teléfono escaneando el QR."),
    413: _("El archivo es demasiado grande para WHAPI."),
    429: _("Demasiadas solicitudes a WHAPI: se reintentará más tarde."),
    500: _("Error interno de WHAPI."),
    502: _("WHAPI no está disponible temporalmente."),
    503: _("WHAPI no está disponible temporalmente."),
}
GENERICO = _("Error de WHAPI.")

TRANSITORIOS = frozenset({408, 425, 429})
# Every send of the account would fail the same way: pause it and tell the admins.
DE_CUENTA = frozenset({401, 402, 403, 409})


def clase_de(code: int | None, http_status: int | None) -> type[ProviderError]:
    """The shared error class for a WHAPI error code (an HTTP status) or HTTP status."""
    numero = code if code is not None else http_status
    if numero == 429:
        return ThroughputLimitError
    if numero is None or numero >= 500 or numero in TRANSITORIOS:
        return TransientError
    if numero in DE_CUENTA:
        return AuthError
    return PermanentError


def clasificar(
    code: int | None, *, http_status: int | None = None, detail: str = "", message: str = ""
) -> ProviderError:
    """Build the classified error for one WHAPI answer."""
    clase = clase_de(code, http_status)
    return clase(message, code=code, detail=detail, http_status=http_status)


def describir(code: int | None, detail: str = "") -> str:
    """``"(WHAPI 401) sentence. Detalle: ..."`` for the envío's ``error_detalle``."""
    if code is None:
        return detail
    return exceptions.con_detalle(f"(WHAPI {code}) {MENSAJES.get(code, GENERICO)}", detail)


def leer_error(response: requests.Response) -> ProviderError:
    """Classify an error response; a body that is not WHAPI's is classified by HTTP status."""
    error = _cuerpo_de_error(response)
    code = _entero(error.get("code")) or response.status_code
    mensaje = str(error.get("message") or f"WHAPI respondió HTTP {response.status_code}.")
    detalle = str(error.get("details") or "")
    return clasificar(code, http_status=response.status_code, detail=detalle, message=mensaje)


def _cuerpo_de_error(response: requests.Response) -> dict[str, Any]:
    try:
        cuerpo = response.json()
    except ValueError:
        return {}
    error = cuerpo.get("error", cuerpo) if isinstance(cuerpo, dict) else None
    return error if isinstance(error, dict) else {}


def _entero(valor: Any) -> int | None:
    if isinstance(valor, bool):
        return None
    try:
        return int(valor)
    except (TypeError, ValueError):
        return None
