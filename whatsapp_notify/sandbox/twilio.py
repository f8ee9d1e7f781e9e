"""A local stand-in for Twilio's Messages API that TwilioBackend can point at (``BASE_URL``).

Endpoints (HTTP Basic: the Account SID and its Auth Token, or an API key ``SK…``)::

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json   validate, answer 201, call back
    GET  /2010-04-01/Accounts/{AccountSid}.json            the account (the credentials probe)
    GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json   a message, with its price

A message is checked as Twilio checks it (``reference/cloud_api.md`` §10.1): ``To`` a
``whatsapp:+…`` address, ``From`` one too or a ``MessagingServiceSid``, and ``Body``,
``ContentSid`` (with ``ContentVariables`` a JSON object of at most 100 text values) or
``MediaUrl``. A ``MediaUrl`` is fetched at once, as Twilio does: one that does not answer
200 fails the message with 63019. An accepted message is answered 201 with a Message
resource (``status`` ``queued``); its statuses (sent, delivered, read, or undelivered) are
then posted, form-encoded and signed with ``X-Twilio-Signature``, to its ``StatusCallback``.
No callback is sent for the initial status, as on Twilio, and no callback carries a price:
as on Twilio, ``price`` / ``price_unit`` are read from the Message resource, null until the
message is priced (here: once its delivery is scheduled; never for an undelivered one). A
refused request is answered with Twilio's error body ``{code, message, more_info, status}``.
Faults are :class:`~.fallos.Fallos`; an int step is a Twilio error code.

    with TwilioSandbox(auth_token="…", webhook_url="http://127.0.0.1:8000/whatsapp/webhook/citas/"):
        ...  # OPTIONS: BASE_URL = sandbox.base_url, ACCOUNT_SID = sandbox.account_sid
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from ..phones import mask
from .fallos import FALLIDO, FALLO_5XX, TIMEOUT, Fallos
from .server import DEMORAS, Peticion, SandboxHttp, _demoras
from .webhooks import TIMEOUT_POST, Cartero, WebhookEnviado, revisar_entrante

logger = logging.getLogger(__name__)

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "sandbox-twilio-auth-token"
REMITENTE = "whatsapp:+14155238886"
_MENSAJES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-fA-F]{32})/Messages\.json$")
_RECURSO = re.compile(
    r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-fA-F]{32})/Messages/(?P<mensaje>[SM]M[0-9a-fA-F]{32})\.json$"
)
_CUENTA = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-fA-F]{32})\.json$")
_DIRECCION = re.compile(r"whatsapp:\+\d{6,15}")
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_SERVICIO = re.compile(r"MG[0-9a-fA-F]{32}")
MAX_BODY = 1600
MAX_VARIABLES = 100
# HTTP status Twilio answers some codes with; any other code is a 400.
_HTTP = {20003: 401, 20404: 404, 20429: 429, 63018: 429, 20500: 500}
ERRORES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required",
    21617: "The concatenated message body exceeds the 1600 character limit",
    21656: "The ContentVariables parameter is invalid",
    63007: "Twilio could not find a Channel with the specified From address",
    63016: "Failed to send freeform message because you are outside the allowed window",
    63018: "Rate limit exceeded for Channel",
}

Respuesta = tuple[int, Any]


def error_twilio(code: int, mensaje: str = "") -> Respuesta:
    """``(HTTP status, {"code", "message", "more_info", "status"})`` as Twilio answers."""
    status = _HTTP.get(code, 400)
    return status, {
        "code": code,
        "message": mensaje or ERRORES.get(code, f"Sandbox error {code}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def firma_twilio(token: str, url: str, parametros: Sequence[tuple[str, str]]) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL plus the sorted ``key+value``s."""
    texto = url + "".join(k + v for k, v in sorted(parametros, key=lambda par: par[0]))
    digest = hmac.new(token.encode(), texto.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class _CarteroTwilio(Cartero):
    """Posts form bodies to one URL, signed as Twilio signs them (the URL + the form).

    Each message names its own callback URL, so the sandbox has a poster per URL; they take
    turns (``turno``), so the receiver gets one callback at a time, in order per message.
    """

    def __init__(self, url: str, secreto: str, *, turno: threading.Lock, **opciones: Any):
        super().__init__(url, secreto, **opciones)
        self.turno = turno

    def _post(self, sesion: requests.Session, cuerpo: bytes, firma: str) -> int | None:
        with self.turno:
            return self._post_firmado(sesion, cuerpo)

    def _post_firmado(self, sesion: requests.Session, cuerpo: bytes) -> int | None:
        parametros = parse_qsl(cuerpo.decode(), keep_blank_values=True)
        cabeceras = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": firma_twilio(self.secreto, self.url, parametros),
            "User-Agent": "TwilioProxy/1.1",
        }
        try:
            respuesta = sesion.post(self.url, data=cuerpo, headers=cabeceras, timeout=TIMEOUT_POST)
        except requests.RequestException as exc:
            logger.warning("Callback no entregado (%s)", type(exc).__name__)
            return None
        return respuesta.status_code


class TwilioSandbox(SandboxHttp):
    """A threaded HTTP server acting as Twilio's Messages API for one account.

    Args:
        auth_token: the account's Auth Token: it checks Basic auth and signs callbacks.
        webhook_url: the sender's inbound webhook (:meth:`entrante` posts there).
        account_sid: the only account it serves.
        delays: seconds before ``sent``, ``delivered`` (or ``undelivered``) and ``read``.
        fallos: the faults to inject (none by default).
        precio: the ``price`` of a delivered message, as Twilio writes it (a charge is
            negative); None: never priced. ``price_unit`` is ``moneda``.
    """

    NOMBRE = "Twilio"

    def __init__(
        self,
        auth_token: str = AUTH_TOKEN,
        webhook_url: str | None = None,
        *,
        account_sid: str = ACCOUNT_SID,
        delays: Sequence[float] = DEMORAS,
        fallos: Fallos | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        reintentos: int = 3,
        espera_reintento: float = 0.2,
        precio: str | None = "-0.0085",
        moneda: str = "USD",
    ) -> None:
        self.auth_token = auth_token
        self.webhook_url = webhook_url
        self.account_sid = account_sid
        self.delays = _demoras(delays)
        self.fallos = fallos or Fallos()
        self.tokens_caducados: set[str] = set()
        self.precio, self.moneda = precio, moneda
        self._recursos: dict[str, dict[str, Any]] = {}  # Message resources by SID
        self.documentos: list[tuple[str, int, bytes]] = []  # (MediaUrl, status, bytes)
        self._reintentos, self._espera = reintentos, espera_reintento
        self._por_url: dict[str, _CarteroTwilio] = {}
        self._retenido = False
        self._turno = threading.Lock()
        self._preparar(host, port)

    def _carteros(self) -> list[Cartero]:
        with self._lock:
            return list(self._por_url.values())

    # -- what happened ---------------------------------------------------------------

    @property
    def mensajes(self) -> list[Peticion]:
        """The ``POST …/Messages.json`` requests received so far, oldest first."""
        with self._lock:
            return [p for p in self.requests if p.metodo == "POST"]

    @property
    def webhooks(self) -> list[WebhookEnviado]:
        return sorted((w for c in self._carteros() for w in c.enviados), key=lambda w: w.status)

    def esperar_webhooks(self, cantidad: int, timeout: float = 5.0) -> list[WebhookEnviado]:
        """Wait until ``cantidad`` callbacks were posted (or given up) or ``timeout`` passes."""
        limite = time.monotonic() + timeout
        while len(enviados := self.webhooks) < cantidad and time.monotonic() < limite:
            time.sleep(0.02)
        return enviados

    def retener_webhooks(self) -> None:
        """Hold every callback (the receiver is "down") until :meth:`soltar_webhooks`."""
        with self._lock:
            self._retenido = True
        for cartero in self._carteros():
            cartero.retener()

    def soltar_webhooks(self) -> None:
        """Post the held callbacks now, late, oldest first."""
        with self._lock:
            self._retenido = False
        for cartero in self._carteros():
            cartero.soltar()

    def caducar_token(self, token: str) -> None:
        """From now on ``token`` is refused with 20003, as a rotated Auth Token is."""
        with self._lock:
            self.tokens_caducados.add(token)

    def entrante(
        self,
        telefono: str,
        texto: str = "",
        *,
        nombre: str = "Cliente",
        payload: tuple[str, str] | None = None,
        fila: tuple[str, str] | None = None,
        responde_a: str = "",
    ) -> str:
        """Post an inbound message from ``telefono`` to ``webhook_url`` now; return its sid.

        A text by default; ``payload=(payload, button text)`` taps a quick reply of a
        content template (``ButtonPayload``), ``fila=(id, title)`` picks a list row
        (``ListId``); ``responde_a`` is the sid of the message it answers.

        Raises:
            ValueError: the sandbox has no ``webhook_url``; both a tap and a row, a
                malformed pair, or nothing to say.
        """
        if not self.webhook_url:
            raise ValueError("El sandbox no tiene webhook_url: no puede enviar mensajes.")
        revisar_entrante(texto, payload=payload, fila=fila)
        digitos = "".join(c for c in telefono if c.isdigit())
        sid = _sid("SM")
        campos = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.account_sid,
            "From": f"whatsapp:+{digitos}",
            "To": REMITENTE,
            "Body": texto,
            "NumMedia": "0",
            "ProfileName": nombre,
            "WaId": digitos,
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        if payload is not None:
            campos.update(ButtonPayload=payload[0], ButtonText=payload[1], Body=payload[1])
        if fila is not None:
            campos.update(ListId=fila[0], ListTitle=fila[1], Body=fila[1])
        if responde_a:
            campos["OriginalRepliedMessageSid"] = responde_a
        self._cartero(self.webhook_url).programar(0.0, "received", sid, _form(campos))
        return sid

    # -- answering (called from the server's threads) ---------------------------------

    def atender(self, peticion: Peticion, host: str) -> Respuesta:
        """Answer one request and record it."""
        self._dormir(self.fallos.latencia)
        ruta = urlsplit(peticion.ruta).path
        if not self._autorizado(peticion.cabeceras):
            return self._registrar(peticion, *error_twilio(20003))
        if peticion.metodo == "POST" and (match := _MENSAJES.match(ruta)):
            if match["sid"] != self.account_sid:
                return self._registrar(peticion, *error_twilio(20404))
            return self._enviar(peticion)
        if peticion.metodo == "GET" and (match := _CUENTA.match(ruta)):
            if match["sid"] != self.account_sid:
                return self._registrar(peticion, *error_twilio(20404))
            cuenta = {"sid": self.account_sid, "friendly_name": "Sandbox", "status": "active"}
            return self._registrar(peticion, 200, cuenta)
        if peticion.metodo == "GET" and (match := _RECURSO.match(ruta)):
            with self._lock:
                recurso = self._recursos.get(match["mensaje"])
                recurso = dict(recurso) if recurso else None
            if match["sid"] != self.account_sid or recurso is None:
                return self._registrar(peticion, *error_twilio(20404))
            return self._registrar(peticion, 200, recurso)
        return self._registrar(peticion, *error_twilio(20404, f"Unknown resource {ruta}"))

    def _autorizado(self, cabeceras: dict[str, str]) -> bool:
        esquema, _, valor = _cabecera(cabeceras, "Authorization").partition(" ")
        if esquema.lower() != "basic":
            return False
        try:
            usuario, _, clave = base64.b64decode(valor.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        with self._lock:
            if clave in self.tokens_caducados:
                return False
        if usuario.startswith("SK"):  # an API key: any secret it was given
            return bool(clave)
        valido = hmac.compare_digest(clave.encode(), self.auth_token.encode())
        return usuario == self.account_sid and valido

    def _enviar(self, peticion: Peticion) -> Respuesta:
        campos = dict(_pares(peticion.cuerpo))
        if problema := _problema(campos):
            codigo, texto = problema
            logger.info("Mensaje rechazado por la forma de Twilio: %s", texto)
            return self._registrar(peticion, *error_twilio(codigo, texto), problema=texto)
        with self._lock:
            paso = self.fallos.siguiente()
        if paso == FALLO_5XX or isinstance(paso, int):
            codigo = 20500 if paso == FALLO_5XX else int(paso)
            logger.info("Fallo inyectado en un envío: %s", codigo)
            return self._registrar(peticion, *error_twilio(codigo))
        fallo = "30008" if paso == FALLIDO else self._descargar(campos.get("MediaUrl", ""))
        mensaje = self._aceptar(campos)
        with self._lock:
            # The resource as GET shows it; priced once its delivery is on its way.
            self._recursos[mensaje["sid"]] = {
                **mensaje,
                "status": "undelivered" if fallo else "delivered",
                "price": None if fallo else self.precio,
            }
        self._programar(mensaje, campos.get("StatusCallback", ""), fallo)
        registrada = self._registrar(peticion, 201, mensaje, wamid=mensaje["sid"])
        if paso == TIMEOUT:
            self._dormir(self.fallos.espera_timeout)
        return registrada

    def _descargar(self, url: str) -> str:
        """Fetch a ``MediaUrl`` as Twilio does; "" when it answered 200, else "63019"."""
        if not url:
            return ""
        try:
            respuesta = requests.get(url, timeout=5)
            estado, datos = respuesta.status_code, respuesta.content
        except requests.RequestException:
            estado, datos = 0, b""
        with self._lock:
            self.documentos.append((url, estado, datos))
        return "" if estado == 200 and datos else "63019"

    def _aceptar(self, campos: dict[str, str]) -> dict[str, Any]:
        sid = _sid("MM" if campos.get("MediaUrl") else "SM")
        logger.info("Mensaje a %s aceptado: %s", mask(campos["To"]), sid)
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": campos["To"],
            "from": campos.get("From") or REMITENTE,
            "messaging_service_sid": campos.get("MessagingServiceSid"),
            "body": campos.get("Body", ""),
            "status": "queued",
            "num_media": "1" if campos.get("MediaUrl") else "0",
            "api_version": "2010-04-01",
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": self.moneda,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    def _programar(self, mensaje: dict[str, Any], callback: str, fallo: str) -> None:
        if not callback:
            return
        pasos = ["sent", "undelivered"] if fallo else ["sent", "delivered", "read"]
        demora = 0.0
        for estado, espera in zip(pasos, self.delays, strict=False):
            demora += espera
            campos = {
                "MessageSid": mensaje["sid"],
                "SmsSid": mensaje["sid"],
                "AccountSid": self.account_sid,
                "From": mensaje["from"],
                "To": mensaje["to"],
                "MessageStatus": estado,
                "SmsStatus": estado,
                "ApiVersion": "2010-04-01",
                "ChannelPrefix": "whatsapp",
            }
            if estado == "undelivered":
                campos["ErrorCode"] = fallo
            cuerpo = _form(campos)
            self._cartero(callback).programar(demora, estado, mensaje["sid"], cuerpo)

    def _cartero(self, url: str) -> _CarteroTwilio:
        """The poster of one callback URL (each message names its own)."""
        with self._lock:
            if url not in self._por_url:
                cartero = _CarteroTwilio(
                    url,
                    self.auth_token,
                    turno=self._turno,
                    reintentos=self._reintentos,
                    espera=self._espera,
                )
                if self._retenido:
                    cartero.retener()
                cartero.start()
                self._por_url[url] = cartero
            return self._por_url[url]


def _problema(campos: dict[str, str]) -> tuple[int, str] | None:
    """What Twilio would refuse in a message's form, as (code, message); None when valid."""
    if not _DIRECCION.fullmatch(campos.get("To", "")):
        return 21211, "To must be a whatsapp:+<E.164> address"
    remitente = campos.get("From", "")
    if remitente and not _DIRECCION.fullmatch(remitente):
        return 63007, "From must be a whatsapp:+<E.164> address"
    if not remitente and not _SERVICIO.fullmatch(campos.get("MessagingServiceSid", "")):
        return 21602, "A 'From' or 'MessagingServiceSid' parameter is required"
    if "ContentSid" in campos:
        return _problema_de_contenido(campos)
    if not campos.get("Body") and not campos.get("MediaUrl"):
        return 21602, "Message body is required"
    if len(campos.get("Body", "")) > MAX_BODY:
        return 21617, ERRORES[21617]
    return None


def _problema_de_contenido(campos: dict[str, str]) -> tuple[int, str] | None:
    if not _CONTENT_SID.fullmatch(campos["ContentSid"]):
        return 21656, "ContentSid must be HX followed by 32 hex digits"
    if "Body" in campos or "MediaUrl" in campos:
        return 21656, "With ContentSid, omit Body and MediaUrl"
    try:
        variables = json.loads(campos.get("ContentVariables") or "{}")
    except ValueError:
        return 21656, "ContentVariables is not valid JSON"
    valido = isinstance(variables, dict) and all(isinstance(v, str) for v in variables.values())
    if not valido or len(variables) > MAX_VARIABLES:
        return 21656, "ContentVariables must be a JSON object of at most 100 texts"
    return None


def _pares(cuerpo: Any) -> list[tuple[str, str]]:
    if isinstance(cuerpo, bytes | bytearray):
        try:
            return parse_qsl(cuerpo.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return []
    return []


def _form(campos: dict[str, str]) -> bytes:
    return urlencode(campos).encode()


def _cabecera(cabeceras: dict[str, str], nombre: str) -> str:
    return next((v for k, v in cabeceras.items() if k.lower() == nombre.lower()), "")


def _sid(prefijo: str) -> str:
    return prefijo + secrets.token_hex(16)
