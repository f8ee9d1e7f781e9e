"""Twilio errors: its codes mapped onto the shared error classes, and their Spanish text.

Twilio answers a refused request with ``{"code", "message", "more_info", "status"}`` and
reports a failed or undelivered message in its status callback (``ErrorCode``). A code is
*transient* (retry with backoff), *auth* (credentials or an account-wide setting: pause the
account, alert once) or *permanent* (fail the envío with a readable reason); without a
code the HTTP status decides (:func:`whatsapp_notify.exceptions.classify`). Codes:
``reference/cloud_api.md`` §10.5 and Twilio's error dictionary. Nothing outside this
package reads them.
"""

from __future__ import annotations

from typing import Any

import requests
from django.utils.translation import gettext_lazy as _

from ... import exceptions
from ...events import BAJA
from ...exceptions import (
    AuthError,
    PermanentError,
    ProviderError,
    ThroughputLimitError,
    TransientError,
)

# Rate limits (63018 the WhatsApp sender's, 20429 the REST API's), queue overflow (30001),
# a channel's internal error (63012) and Twilio's unknown error (30008): retrying helps.
TRANSIENT_CODES = frozenset({63018, 20429, 63012, 30001, 30008, 30022})
# The rate limits among them slow the whole account down for a moment.
THROUGHPUT_CODES = frozenset({63018, 20429})
# Every send of the account would fail the same way: credentials (20003), a suspended
# account (30002, 20005) or a sender that is not set up (63007, 21212, 21606, 21659).
AUTH_CODES = frozenset({20003, 20005, 30002, 63007, 21212, 21606, 21659})
# The recipient blocked the business or opted out (63014; 21610 after an SMS «STOP»).
BAJA_CODES = frozenset({63014, 21610})

ERROR_MESSAGES = {
    20003: _("Twilio rechazó las credenciales: revisa ACCOUNT_SID y AUTH_TOKEN (o la API key)."),
    20005: _("La cuenta de Twilio está suspendida o cerrada."),
    20429: _("Se superó el límite de solicitudes por segundo de la API de Twilio."),
    21211: _("El número del destinatario («To») no es un teléfono válido."),
    21212: _("El remitente («From») no es válido: revisa FROM en las opciones de la cuenta."),
    21408: _("La cuenta de Twilio no tiene permiso para enviar a esa región."),
    21606: _("El remitente («From») no pertenece a la cuenta o no puede enviar WhatsApp."),
    21610: _("El cliente pidió no recibir más mensajes (STOP)."),
    21617: _("El texto supera los 1,600 caracteres que admite Twilio."),
    21620: _("La URL del documento no es válida o no es pública."),
    21656: _("ContentVariables no es un JSON válido o no coincide con la plantilla."),
    21659: _("El remitente no es un número de WhatsApp de la cuenta de Twilio."),
    30001: _("La cola de Twilio está llena: demasiados mensajes en espera."),
    30002: _("La cuenta de Twilio está suspendida."),
    30003: _("El teléfono del destinatario no está disponible."),
    30004: _("El mensaje fue bloqueado (el destinatario o el operador lo rechazó)."),
    30005: _("El número del destinatario no existe o no es conocido."),
    30006: _("El destinatario no puede recibir el mensaje (fijo o sin servicio)."),
    30007: _("El mensaje fue filtrado por el operador o por WhatsApp (spam o contenido)."),
    30008: _("Error desconocido al entregar el mensaje."),
    30022: _("Se superó el límite de envío del remitente."),
    63003: _("El número no usa WhatsApp, está inactivo o no es válido."),
    63005: _("WhatsApp no aceptó el contenido del mensaje."),
    63007: _(
        "Twilio no encuentra el remitente de WhatsApp («From»): revisa que esté "
        "aprobado y sea de esta cuenta."
    ),
    63012: _("WhatsApp devolvió un error interno; se reintentará."),
    63013: _("El mensaje infringe la política de WhatsApp."),
    63014: _("El cliente bloqueó al negocio o pidió no recibir mensajes."),
    63016: _(
        "Pasaron más de 24 horas desde el último mensaje del cliente: envía una "
        "plantilla (ContentSid)."
    ),
    63018: _("Se superó el límite de mensajes por segundo del remitente de WhatsApp."),
    63019: _("Twilio no pudo descargar el documento: revisa que WEBHOOK_URL sea pública."),
    63023: _("WhatsApp devolvió un error genérico."),
    63024: _("El destinatario no es válido para WhatsApp."),
    63027: _("La plantilla no existe en ese idioma o no está aprobada."),
    63028: _("El número de variables no coincide con la plantilla."),
    63029: _("El formato de una variable no coincide con la plantilla."),
    63030: _("Un parámetro no es válido para este tipo de mensaje de WhatsApp."),
    63032: _("El número del cliente participa en un experimento de WhatsApp; no se envió."),
}


def describe_error(code: int | None, detail: str = "") -> str:
    """``"(#code) Spanish sentence. Detalle: detail"``; only ``detail`` without a code."""
    return exceptions.describir_codigo(ERROR_MESSAGES, code, detail)


def significado(code: int | None) -> str:
    """:data:`~whatsapp_notify.events.BAJA` for a recipient's block or opt-out, else ""."""
    return BAJA if code in BAJA_CODES else ""


def classify(
    code: int | None,
    *,
    http_status: int | None = None,
    detail: str = "",
    message: str = "",
    trace_id: str = "",
) -> ProviderError:
    """The shared error for a Twilio answer: a known code decides, else the HTTP status.

    A 401 without a code is an auth error and a 429 a transient one, as the shared rule
    says; the error's ``readable`` text is :func:`describe_error`'s.
    """
    clase = _clase(code)
    kwargs = {"code": code, "detail": detail, "http_status": http_status, "trace_id": trace_id}
    if clase is None:
        error = exceptions.classify(
            code, http_status=http_status, detail=detail, message=message, trace_id=trace_id
        )
    else:
        error = clase(message, **kwargs)
    error.legible = describe_error(code, detail or str(error)) if code is not None else ""
    return error


def _clase(code: int | None) -> type[ProviderError] | None:
    if code is None:
        return None
    if code in THROUGHPUT_CODES:
        return ThroughputLimitError
    if code in TRANSIENT_CODES:
        return TransientError
    if code in AUTH_CODES:
        return AuthError
    if code in ERROR_MESSAGES or 30000 <= code < 31000 or 63000 <= code < 64000:
        return PermanentError
    return None  # an unknown code: the HTTP status decides


# -- reading Twilio's error body -----------------------------------------------------------


def de_respuesta(response: requests.Response) -> ProviderError | None:
    """Classify Twilio's ``{"code", "message", "more_info", "status"}`` error body.

    Returns None when the body is not one (an HTML page from a proxy...): the HTTP status
    decides then.
    """
    cuerpo = _cuerpo(response)
    if cuerpo is None:
        return None
    mensaje = str(cuerpo.get("message") or "")
    return classify(
        entero(cuerpo.get("code")),
        http_status=response.status_code,
        detail=mensaje,
        message=mensaje,
        trace_id=response.headers.get("Twilio-Request-Id", ""),
    )


def _cuerpo(response: requests.Response) -> dict[str, Any] | None:
    try:
        cuerpo = response.json()
    except ValueError:
        return None
    if isinstance(cuerpo, dict) and ("code" in cuerpo or "message" in cuerpo):
        return cuerpo
    return None


def entero(valor: Any) -> int | None:
    """``valor`` as an int (Twilio sends codes as numbers in JSON, text in forms), or None."""
    if isinstance(valor, bool):
        return None
    try:
        return int(valor)
    except (TypeError, ValueError):
        return None
