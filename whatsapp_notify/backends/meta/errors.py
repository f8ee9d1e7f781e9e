"""Graph errors: Meta's codes mapped onto the shared error classes, and their Spanish text.

A Graph code is *transient* (retry with backoff), *permanent* (fail the envío with a
readable reason), *auth* (credentials, permissions or an account-wide problem: pause the
account, alert once) or a *pair rate* limit (back off that recipient only); without a code
the HTTP status decides (:func:`whatsapp_notify.exceptions.classify`). Codes:
``reference/cloud_api.md`` §6. :class:`~.backend.MetaBackend` classifies with
:func:`classify` and describes with :func:`describe_error`; nothing outside this package
reads these codes.
"""

from __future__ import annotations

from typing import Any

import requests
from django.utils.translation import gettext_lazy as _

from ... import exceptions
from ...exceptions import (
    AuthError,
    PairRateLimitError,
    PermanentError,
    ProviderError,
    ThroughputLimitError,
    TransientError,
)

# Graph codes, from the Cloud API error code reference.
TRANSIENT_CODES = frozenset(
    {1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131057, 133004, 133015, 133016, 2494100}
)
PAIR_RATE_CODES = frozenset({131056})
# Among them, the number's messages per second (130429), the business account's (80007)
# or the app's API calls (4): the account slows down as a whole.
THROUGHPUT_CODES = frozenset({4, 80007, 130429})
AUTH_CODES = frozenset({0, 3, 10, 190, *range(200, 300)})
# Account-wide problems: every send of the account would fail the same way (blocked or
# locked account, billing, unregistered number), so they pause it like an auth error.
ACCOUNT_CODES = frozenset({368, 131005, 131031, 131037, 131042, 131045, 133010})
# The customer stopped marketing messages from this business (a status error).
MARKETING_DETENIDO = 131050

# Readable Spanish messages for the codes an ERP user is likely to meet.
ERROR_MESSAGES = {
    0: _("El token de acceso no es válido, expiró o fue revocado."),
    1: _("Solicitud inválida o error temporal del servidor de Meta."),
    2: _("El servicio de Meta no está disponible temporalmente."),
    3: _("La aplicación no tiene permiso para esta operación."),
    4: _("Se alcanzó el límite de llamadas de la aplicación."),
    10: _("Permiso denegado: revisa los permisos de la aplicación."),
    100: _("Parámetro inválido en la solicitud."),
    190: _("El token de acceso expiró: genera uno nuevo (usuario del sistema)."),
    130429: _("Se alcanzó el límite de mensajes por segundo del número."),
    130472: _("El número del cliente participa en un experimento de Meta; no se envió."),
    131000: _("Error desconocido en Meta."),
    131008: _("Falta un parámetro obligatorio."),
    131009: _("Un valor de parámetro no es válido (revisa el teléfono)."),
    131016: _("El servicio de Meta no está disponible temporalmente."),
    131021: _("El destinatario es el mismo número que envía."),
    131026: _("No se pudo entregar: el número no usa WhatsApp o su aplicación es antigua."),
    131030: _("El número no está en la lista de destinatarios permitidos de prueba."),
    131031: _("La cuenta de WhatsApp Business está bloqueada."),
    131037: _("El número no tiene un nombre visible aprobado."),
    131042: _("Hay un problema con el método de pago de la cuenta."),
    131045: _("El número no está bien registrado (certificado)."),
    131047: _("Pasaron más de 24 horas desde el último mensaje del cliente: usa una plantilla."),
    131048: _("Límite por spam: demasiados mensajes bloqueados o reportados."),
    131049: _("Meta no entregó el mensaje para cuidar la experiencia del usuario."),
    131050: _("El cliente dejó de recibir mensajes de marketing."),
    131051: _("Tipo de mensaje no soportado."),
    131053: _("No se pudo subir el archivo (tipo, tamaño o formato)."),
    131056: _("Demasiados mensajes seguidos al mismo cliente."),
    131057: _("La cuenta está en mantenimiento."),
    132000: _("El número de variables no coincide con la plantilla."),
    132001: _("La plantilla no existe en ese idioma o no está aprobada."),
    132005: _("El texto de la plantilla con variables es demasiado largo."),
    132007: _("El contenido viola la política de formato de plantillas."),
    132012: _("El formato de un parámetro no coincide con la plantilla."),
    132015: _("La plantilla está pausada por baja calidad."),
    132016: _("La plantilla fue deshabilitada."),
    132018: _("Una variable tiene saltos de línea, tabuladores o demasiados espacios."),
    133004: _("El servidor de Meta no está disponible temporalmente."),
    135000: _("Error genérico del usuario en los parámetros."),
    133010: _("El número no está registrado en la plataforma."),
    368: _("La cuenta está bloqueada temporalmente por infringir políticas."),
    131005: _("Acceso denegado: revisa los permisos del token."),
}


def describe_error(code: int | None, detail: str = "") -> str:
    """``"(#code) Spanish sentence. Detalle: detail"``; only ``detail`` without a code."""
    return exceptions.describir_codigo(ERROR_MESSAGES, code, detail)


def classify(
    code: int | None,
    *,
    http_status: int | None = None,
    detail: str = "",
    message: str = "",
    trace_id: str = "",
) -> ProviderError:
    """The shared error for a Graph answer: a known code decides, else the HTTP status.

    The error's ``readable`` text is :func:`describe_error`'s.
    """
    clase = _clase(code)
    if clase is None:
        error = exceptions.classify(
            code, http_status=http_status, detail=detail, message=message, trace_id=trace_id
        )
    else:
        kwargs = {"code": code, "detail": detail, "http_status": http_status}
        error = clase(message, trace_id=trace_id, **kwargs)
    error.legible = describe_error(code, detail or str(error)) if code is not None else ""
    return error


def _clase(code: int | None) -> type[ProviderError] | None:
    if code is None:
        return None
    if code in PAIR_RATE_CODES:
        return PairRateLimitError
    if code in THROUGHPUT_CODES:
        return ThroughputLimitError
    if code in TRANSIENT_CODES:
        return TransientError
    if code in AUTH_CODES or code in ACCOUNT_CODES:
        return AuthError
    return PermanentError


def conocido(code: int | None) -> bool:
    """True when this table decides ``code`` (its class or its sentence)."""
    tablas = (TRANSIENT_CODES, PAIR_RATE_CODES, AUTH_CODES, ACCOUNT_CODES, ERROR_MESSAGES)
    return code is not None and any(code in tabla for tabla in tablas)


# -- reading Graph's error body ------------------------------------------------------------


def de_respuesta(response: requests.Response) -> ProviderError | None:
    """Classify Graph's ``{"error": {"code", "message", "error_data", ...}}`` body.

    Returns None when the body is not one (an HTML page from a proxy...): the HTTP status
    decides then.
    """
    error = _graph_error(response)
    if error is None:
        return None
    clasificado = classify(
        _entero(error.get("code")),
        http_status=response.status_code,
        detail=_detalle(error),
        message=str(error.get("message") or ""),
        trace_id=str(error.get("fbtrace_id") or ""),
    )
    return _con_pista_transitoria(clasificado, error.get("is_transient"))


def _graph_error(response: requests.Response) -> dict[str, Any] | None:
    try:
        cuerpo = response.json()
    except ValueError:
        return None
    error = cuerpo.get("error") if isinstance(cuerpo, dict) else None
    return error if isinstance(error, dict) else None


def _detalle(error: dict[str, Any]) -> str:
    # ``error_data`` is an object on the messaging endpoints and a plain string on others.
    datos = error.get("error_data")
    if isinstance(datos, dict):
        return str(datos.get("details") or "")
    return str(datos or "")


def _entero(valor: Any) -> int | None:
    try:
        return int(valor)
    except (TypeError, ValueError):
        return None


def _con_pista_transitoria(error: ProviderError, is_transient: Any) -> ProviderError:
    # Graph's is_transient hint decides only for codes our table does not know; a known
    # code is classified by the table alone.
    if is_transient is True and type(error) is PermanentError and not conocido(error.code):
        transitorio = TransientError(
            str(error),
            code=error.code,
            detail=error.detail,
            http_status=error.http_status,
            trace_id=error.trace_id,
        )
        transitorio.legible = error.legible
        return transitorio
    return error
