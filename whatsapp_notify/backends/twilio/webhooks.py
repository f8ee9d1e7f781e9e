"""Twilio webhooks: the ``X-Twilio-Signature`` check and the reading of its form bodies.

Twilio posts ``application/x-www-form-urlencoded`` bodies: a status callback (to the
``StatusCallback`` of the message: ``MessageSid``, ``MessageStatus``, ``ErrorCode``...) or
an inbound message (to the sender's webhook: ``Body``, ``NumMedia``/``MediaUrl0``,
``ButtonPayload``, ``WaId``, ``ProfileName``...). It signs each one: base64 of
HMAC-SHA1(``AUTH_TOKEN``, the URL it called + every parameter name and value, sorted by
name). ``reference/cloud_api.md`` §10.2-§10.4. Nothing here imports models.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from urllib.parse import urlencode, urlsplit, urlunsplit

from ...events import (
    DELIVERED,
    FAILED,
    READ,
    SENT,
    ErrorProveedor,
    Evento,
    EventoDesconocido,
    EventoEstado,
    EventoMensaje,
    Media,
)
from ...exceptions import WebhookMalformado, WebhookRechazado
from ..base import WebhookRequest
from . import errors

CABECERA_FIRMA = "X-Twilio-Signature"
#: The query parameter of our ``StatusCallback`` URL that carries the envío's reference.
PARAMETRO_REFERENCIA = "ref"

# Twilio's statuses onto the shared ones. ``undelivered`` is a failure for us: WhatsApp
# did not deliver it and will not. ``queued``, ``sending``, ``accepted``, ``scheduled`` and
# ``canceled`` go through as given: the receivers ignore a status they do not know, so
# they never move an envío (nor move it back).
ESTADOS = {
    "sent": SENT,
    "delivered": DELIVERED,
    "read": READ,
    "failed": FAILED,
    "undelivered": FAILED,
}
RECIBIDO = "received"  # SmsStatus of an inbound message
# .../Accounts/AC.../Messages/MM.../Media/ME...: the id kept is the part from Messages on,
# short enough for the media_id column; download_media rebuilds the URL.
_RUTA_MEDIA = re.compile(r"/Accounts/[^/]+/(Messages/[^/]+/Media/[^/?#]+)$")


# -- signature -----------------------------------------------------------------------------


def firma(token: str, url: str, parametros: Iterable[tuple[str, str]]) -> str:
    """The ``X-Twilio-Signature`` of a request to ``url`` with these form ``parametros``.

    The URL exactly as Twilio called it, then each name followed by its value, names in
    order and, for a name repeated, its distinct values in order.
    """
    valores: dict[str, set[str]] = {}
    for nombre, valor in parametros:
        valores.setdefault(nombre, set()).add(valor)
    texto = url + "".join(
        nombre + valor for nombre in sorted(valores) for valor in sorted(valores[nombre])
    )
    digest = hmac.new(token.encode("utf-8"), texto.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verificar(request: WebhookRequest, token: str) -> None:
    """Check ``X-Twilio-Signature`` over :func:`url_firmada` and the form, in constant time.

    The URL is tried as given and with its default port added or removed (a proxy may
    report either, and Twilio signs what it called).

    Raises:
        WebhookRechazado: no ``AUTH_TOKEN``, no signature, a body that is not a form, or a
            signature that matches no variant of the URL.
    """
    if not token:
        raise WebhookRechazado("sin AUTH_TOKEN no se puede verificar X-Twilio-Signature.")
    recibida = (request.header(CABECERA_FIRMA) or "").strip()
    if not recibida:
        raise WebhookRechazado(f"falta la cabecera {CABECERA_FIRMA}.")
    try:
        parametros = request.form
    except WebhookMalformado:
        mensaje = "el cuerpo no es un formulario UTF-8: no hay firma que verificar."
        raise WebhookRechazado(mensaje) from None
    coincide = False
    for url in variantes_de_puerto(url_firmada(request)):
        # Every variant is computed and compared: the time taken says nothing of which.
        coincide |= hmac.compare_digest(firma(token, url, parametros), recibida)
    if not coincide:
        raise WebhookRechazado(
            f"{CABECERA_FIRMA} no coincide: revisa AUTH_TOKEN y que WEBHOOK_URL sea la URL "
            "pública exacta que llama Twilio (esquema, host, puerto y ruta)."
        )


def url_firmada(request: WebhookRequest) -> str:
    """The URL Twilio signed: ``request.url`` plus its query string.

    The view hands the account's ``WEBHOOK_URL`` without the query the request came with;
    our ``StatusCallback`` adds ``?ref=<reference>`` to it, encoded as :func:`callback`
    does, so it is rebuilt the same way.
    """
    if urlsplit(request.url).query or not request.query:
        return request.url
    return f"{request.url}?{urlencode(dict(request.query))}"


def variantes_de_puerto(url: str) -> list[str]:
    """``url`` as given, then with its scheme's default port added or removed."""
    partes = urlsplit(url)
    por_omision = {"https": 443, "http": 80}.get(partes.scheme)
    if por_omision is None or not partes.hostname:
        return [url]
    host = partes.netloc.rsplit("@", 1)[-1]
    if partes.port is None:
        otra = partes._replace(netloc=f"{host}:{por_omision}")
    else:
        otra = partes._replace(netloc=host.rsplit(":", 1)[0])
    return [url, urlunsplit(otra)]


def callback(webhook_url: str, referencia: str) -> str:
    """The ``StatusCallback`` of a message: the account's webhook with ``?ref=<referencia>``."""
    if not referencia:
        return webhook_url
    separador = "&" if urlsplit(webhook_url).query else "?"
    return f"{webhook_url}{separador}{urlencode({PARAMETRO_REFERENCIA: referencia})}"


# -- parsing -------------------------------------------------------------------------------


def parse(request: WebhookRequest) -> list[Evento]:
    """The one event of a Twilio request: a status, an inbound message, or unknown.

    Reads only the body and the query (``ref``), as a stored request is read again.

    Raises:
        WebhookMalformado: the body is not UTF-8 or holds no form parameter at all.
    """
    pares = request.form
    if not pares:
        raise WebhookMalformado("El webhook de Twilio no trae parámetros de formulario.")
    campos = dict(reversed(pares))  # the first value of a repeated name
    estado = campos.get("MessageStatus") or campos.get("SmsStatus") or ""
    if estado and estado != RECIBIDO:
        return [_estado(campos, estado, request.query.get(PARAMETRO_REFERENCIA, ""))]
    if estado == RECIBIDO or "Body" in campos or "NumMedia" in campos:
        return [_mensaje(campos)]
    return [EventoDesconocido(campo="form", motivo="ni estado ni mensaje", raw=campos)]


def _sid(campos: dict[str, str]) -> str:
    return campos.get("MessageSid") or campos.get("SmsMessageSid") or campos.get("SmsSid") or ""


def _estado(campos: dict[str, str], estado: str, referencia: str) -> EventoEstado:
    return EventoEstado(
        wamid=_sid(campos),
        estado=ESTADOS.get(estado.lower(), estado.lower()),
        destinatario=digitos(campos.get("To", "")),
        referencia=referencia,
        errores=_errores(campos),
        numero_id=digitos(campos.get("From", "")),
        raw=campos,
    )


def _errores(campos: dict[str, str]) -> tuple[ErrorProveedor, ...]:
    codigo = errors.entero(campos.get("ErrorCode"))
    if not codigo:  # absent, empty or "0"
        return ()
    detalle = campos.get("ErrorMessage", "")
    return (
        ErrorProveedor(
            code=codigo,
            title=detalle,
            message=detalle,
            legible=errors.describe_error(codigo, detalle),
            significado=errors.significado(codigo),
        ),
    )


def _mensaje(campos: dict[str, str]) -> EventoMensaje:
    cuerpo = campos.get("Body", "")
    media = _media(campos, cuerpo)
    return EventoMensaje(
        wamid=_sid(campos),
        de=digitos(campos.get("WaId") or campos.get("From", "")),
        tipo=_tipo(campos, media),
        nombre=campos.get("ProfileName", ""),
        texto=campos.get("ButtonText") or campos.get("ListTitle") or cuerpo,
        respuesta_id=campos.get("ButtonPayload") or campos.get("ListId") or "",
        contexto_wamid=campos.get("OriginalRepliedMessageSid", ""),
        media=media,
        numero_id=digitos(campos.get("To", "")),
        raw=campos,
    )


def _media(campos: dict[str, str], caption: str) -> Media | None:
    url = campos.get("MediaUrl0", "")
    if (errors.entero(campos.get("NumMedia")) or 0) < 1 or not url:
        return None
    return Media(
        id=id_de_media(url), mime=campos.get("MediaContentType0", ""), caption=caption, url=url
    )


def _tipo(campos: dict[str, str], media: Media | None) -> str:
    if media is not None:
        principal = media.mime.split("/", 1)[0]
        return principal if principal in ("image", "audio", "video") else "document"
    if campos.get("ButtonPayload"):
        return "button"
    if campos.get("ListId"):
        return "interactive"
    if campos.get("Latitude") and campos.get("Longitude"):
        return "location"
    return "text"


def id_de_media(url: str) -> str:
    """The id kept for an inbound media URL: ``Messages/MM…/Media/ME…``, or the URL."""
    encontrada = _RUTA_MEDIA.search(urlsplit(url).path)
    return encontrada.group(1) if encontrada else url


def digitos(direccion: str) -> str:
    """The digits of ``whatsapp:+5215512345678`` (or of any address)."""
    return "".join(caracter for caracter in direccion if caracter.isdigit())
