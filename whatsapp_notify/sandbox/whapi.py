"""A local stand-in for WHAPI.Cloud that WhapiBackend can point at (``BASE_URL``).

Endpoints (every one needs ``Authorization: Bearer <token>``)::

    POST /messages/text|document|image|interactive|location   validate, answer, post statuses
    GET  /health                                     the linked channel (status AUTH)
    GET  /settings                                   the webhook configured (url, headers)
    GET  /media/{id}                                 the bytes of a file (:meth:`agregar_media`)
    PUT  /messages/{id}                              mark a message read (:attr:`leidos`)

An accepted message is answered ``{"sent": true, "message": {...}}``, then WHAPI's
webhooks follow, posted with the header WHAPI's webhook configuration adds
(``Authorization: Bearer <secret>``): the echo of the message itself (``from_me: true``)
and its statuses sent, delivered and read (or failed). A body WHAPI would refuse is
answered 400 with WHAPI's error body. Faults are :class:`~.fallos.Fallos`: its steps and
shares work as with the Meta sandbox; an int step is a WHAPI error code (an HTTP status:
400, 401, 402, 404, 429...).

    with WhapiSandbox(webhook_url="http://127.0.0.1:8000/whatsapp/webhook/bot/",
                      secreto="s3cr3to", delays=(0.01, 0.01, 0.01)) as sandbox:
        ...  # OPTIONS["BASE_URL"] = sandbox.base_url, OPTIONS["WEBHOOK_SECRET"] = "s3cr3to"
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from ..events import DELIVERED, FAILED, READ, SENT
from ..phones import mask
from . import whapi_esquema
from .fallos import FALLIDO, FALLO_5XX, TIMEOUT, Fallos
from .media import Media
from .server import DEMORAS, Peticion, SandboxHttp, _demoras
from .webhooks import TIMEOUT_POST, Cartero, WebhookEnviado

logger = logging.getLogger(__name__)

SECRETO = "sandbox-whapi-secret"
CANAL = "SANDBOX-WHAPI1"
_MENSAJES = re.compile(r"^/messages/(?P<tipo>[a-z_]+)$")
_MEDIA = re.compile(r"^/media/(?P<id>[^/]+)$")
_MENSAJE = re.compile(r"^/messages/(?P<id>[^/]+)$")
# WHAPI's numeric status codes; receivers map by name (cloud_api.md §11), these are shown.
CODIGOS = {"pending": 1, SENT: 2, DELIVERED: 3, READ: 4, "played": 5, FAILED: 0}
ERRORES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    409: "Channel is not authorized",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

Respuesta = tuple[int, Any]


def error_whapi(code: int, detalle: str = "") -> Respuesta:
    """``(HTTP status, {"error": {"code", "message", "details"}})`` as WHAPI answers."""
    error: dict[str, Any] = {"code": code, "message": ERRORES.get(code, f"Sandbox error {code}")}
    if detalle:
        error["details"] = detalle
    return code, {"error": error}


class _CarteroWhapi(Cartero):
    """Posts as WHAPI does: JSON with the webhook's configured ``Authorization`` header."""

    def _post(self, sesion: requests.Session, cuerpo: bytes, firma: str) -> int | None:
        cabeceras = {"Content-Type": "application/json", "Authorization": f"Bearer {self.secreto}"}
        try:
            respuesta = sesion.post(self.url, data=cuerpo, headers=cabeceras, timeout=TIMEOUT_POST)
        except requests.RequestException as exc:
            logger.warning("Webhook no entregado a %s (%s)", self.url, type(exc).__name__)
            return None
        return respuesta.status_code


class WhapiSandbox(SandboxHttp):
    """A threaded HTTP server on ``host`` and ``port`` (0: a free one) acting as WHAPI.

    Args:
        webhook_url: where webhooks are posted; None posts none.
        secreto: the value of the webhook's ``Authorization: Bearer`` header (the
            account's ``WEBHOOK_SECRET``).
        delays: seconds before ``sent``, ``delivered`` (or ``failed``) and ``read``.
        fallos: the faults to inject (none by default).
        token: the only channel token accepted; None accepts any non-empty one.
        eco: also post the ``from_me`` echo of each accepted message, as WHAPI does.
        canal, telefono, nombre: the channel id and the linked number it reports.
    """

    NOMBRE = "WHAPI"

    def __init__(
        self,
        webhook_url: str | None = None,
        secreto: str = SECRETO,
        *,
        delays: Sequence[float] = DEMORAS,
        fallos: Fallos | None = None,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        reintentos: int = 3,
        espera_reintento: float = 0.2,
        eco: bool = True,
        canal: str = CANAL,
        telefono: str = "15550001234",
        nombre: str = "Sandbox WHAPI",
    ) -> None:
        self.webhook_url = webhook_url
        self.secreto = secreto
        self.delays = _demoras(delays)
        self.fallos = fallos or Fallos()
        self.token = token
        self.eco = eco
        self.canal, self.telefono, self.nombre = canal, telefono, nombre
        self.estado_canal = "AUTH"
        self.tokens_caducados: set[str] = set()
        self.media: dict[str, Media] = {}
        self.leidos: list[str] = []  # ids marked read (PUT /messages/{id}), in order
        self._cartero = (
            _CarteroWhapi(webhook_url, secreto, reintentos=reintentos, espera=espera_reintento)
            if webhook_url
            else None
        )
        self._preparar(host, port)

    def _carteros(self) -> list[Cartero]:
        return [self._cartero] if self._cartero is not None else []

    # -- what happened ---------------------------------------------------------------

    @property
    def mensajes(self) -> list[Peticion]:
        """The ``POST /messages/*`` requests received so far, oldest first."""
        with self._lock:
            return [p for p in self.requests if p.metodo == "POST" and _tipo(p.ruta)]

    @property
    def webhooks(self) -> list[WebhookEnviado]:
        return list(self._cartero.enviados) if self._cartero else []

    def esperar_webhooks(self, cantidad: int, timeout: float = 5.0) -> list[WebhookEnviado]:
        """Wait until ``cantidad`` webhooks were posted or ``timeout`` seconds pass."""
        return self._cartero.esperar(cantidad, timeout) if self._cartero else []

    def retener_webhooks(self) -> None:
        """Hold every webhook (the receiver is "down") until :meth:`soltar_webhooks`."""
        if self._cartero is not None:
            self._cartero.retener()

    def soltar_webhooks(self) -> None:
        """Post the held webhooks now, late, oldest first."""
        if self._cartero is not None:
            self._cartero.soltar()

    def caducar_token(self, token: str) -> None:
        """From now on ``token`` is refused with 401, as a revoked channel token is."""
        with self._lock:
            self.tokens_caducados.add(token)

    def agregar_media(self, contenido: bytes, mime: str, nombre: str = "") -> str:
        """Keep a file for ``GET /media/{id}`` (an inbound image, say); return its id."""
        media = Media(f"{mime.split('/')[0]}-{secrets.token_hex(8)}", contenido, mime, nombre)
        with self._lock:
            self.media[media.id] = media
        return media.id

    def entrante(self, telefono: str, texto: str, *, nombre: str = "Cliente") -> str:
        """Post an inbound text from ``telefono`` now, as WHAPI would; return its id.

        Raises:
            ValueError: the sandbox has no ``webhook_url``.
        """
        if self._cartero is None:
            raise ValueError("El sandbox no tiene webhook_url: no puede enviar mensajes.")
        digitos = _digitos(telefono)
        mensaje = self._mensaje(_id(), digitos, "text", {"body": texto}, de_mi=False)
        mensaje["from_name"] = nombre
        self._cartero.programar(0.0, "message", mensaje["id"], self._sobre("messages", mensaje))
        return mensaje["id"]

    # -- answering (called from the server's threads) ---------------------------------

    def atender(self, peticion: Peticion, host: str) -> Respuesta:
        """Answer one request and record it."""
        self._dormir(self.fallos.latencia)
        if not self._autorizado(peticion.cabeceras):
            return self._registrar(peticion, *error_whapi(401, "Invalid or missing token"))
        ruta = urlsplit(peticion.ruta).path
        if peticion.metodo == "POST" and (tipo := _tipo(peticion.ruta)):
            return self._enviar(peticion, tipo)
        if peticion.metodo == "GET" and ruta == "/health":
            return self._registrar(peticion, 200, self._salud())
        if peticion.metodo == "GET" and ruta == "/settings":
            return self._registrar(peticion, 200, self._ajustes())
        if peticion.metodo == "PUT" and (match := _MENSAJE.match(ruta)):
            with self._lock:
                self.leidos.append(unquote(match["id"]))
            return self._registrar(peticion, 200, {"success": True})
        if peticion.metodo == "GET" and (match := _MEDIA.match(ruta)):
            media = self.media.get(unquote(match["id"]))
            respuesta = (200, media) if media else error_whapi(404, "Media not found")
            return self._registrar(peticion, *respuesta)
        return self._registrar(peticion, *error_whapi(404, f"Unknown endpoint {ruta}"))

    def _autorizado(self, cabeceras: dict[str, str]) -> bool:
        esquema, _, token = _cabecera(cabeceras, "Authorization").partition(" ")
        token = token.strip() if esquema.lower() == "bearer" else ""
        with self._lock:
            if token in self.tokens_caducados:
                return False
        if self.token is None:
            return bool(token)
        return secrets.compare_digest(token.encode(), self.token.encode())

    def _enviar(self, peticion: Peticion, tipo: str) -> Respuesta:
        if problema := whapi_esquema.problema(tipo, peticion.cuerpo):
            logger.info("Cuerpo rechazado por la forma de WHAPI en /messages/%s", tipo)
            return self._registrar(peticion, *error_whapi(400, problema), problema=problema)
        with self._lock:
            paso = self.fallos.siguiente()
        if paso == FALLO_5XX or isinstance(paso, int):
            status, error = error_whapi(503 if paso == FALLO_5XX else int(paso))
            logger.info("Fallo inyectado en un envío: HTTP %s", status)
            return self._registrar(peticion, status, error)
        mensaje = self._aceptar(tipo, peticion.cuerpo, fallido=paso == FALLIDO)
        registrada = self._registrar(
            peticion, 200, {"sent": True, "message": mensaje}, wamid=mensaje["id"]
        )
        if paso == TIMEOUT:
            self._dormir(self.fallos.espera_timeout)
        return registrada

    def _aceptar(self, tipo: str, cuerpo: dict[str, Any], *, fallido: bool) -> dict[str, Any]:
        destino = _digitos(cuerpo["to"])
        contenido = {k: v for k, v in cuerpo.items() if k not in whapi_esquema.COMUNES}
        if "media" in contenido:  # echoes carry a media id, never the bytes
            contenido = {**contenido, "id": f"{tipo}-{secrets.token_hex(8)}"}
            contenido.pop("media")
        mensaje = self._mensaje(_id(), destino, tipo, contenido, de_mi=True)
        logger.info("Mensaje a %s aceptado: %s", mask(destino), mensaje["id"])
        self._programar(mensaje, destino, fallido)
        return mensaje

    def _programar(self, mensaje: dict[str, Any], destino: str, fallido: bool) -> None:
        if self._cartero is None:
            return
        if self.eco:
            self._cartero.programar(0.0, "eco", mensaje["id"], self._sobre("messages", mensaje))
        pasos = [SENT, FAILED] if fallido else [SENT, DELIVERED, READ]
        demora, ahora = 0.0, time.time()
        for status, espera in zip(pasos, self.delays, strict=False):
            demora += espera
            item = {
                "id": mensaje["id"],
                "code": CODIGOS[status],
                "status": status,
                "recipient_id": f"{destino}@s.whatsapp.net",
                "timestamp": str(int(ahora + demora)),
            }
            self._cartero.programar(demora, status, mensaje["id"], self._sobre("statuses", item))

    def _mensaje(
        self, id_: str, otro: str, tipo: str, contenido: dict[str, Any], *, de_mi: bool
    ) -> dict[str, Any]:
        return {
            "id": id_,
            "from_me": de_mi,
            "type": tipo,
            "chat_id": f"{otro}@s.whatsapp.net",
            "timestamp": int(time.time()),
            "source": "api" if de_mi else "mobile",
            tipo: contenido,
            "status": "sent" if de_mi else "delivered",
            "from": self.telefono if de_mi else otro,
        }

    def _sobre(self, evento: str, item: dict[str, Any]) -> bytes:
        cuerpo = {
            evento: [item],
            "event": {"type": evento, "event": "post"},
            "channel_id": self.canal,
        }
        return json.dumps(cuerpo, ensure_ascii=False, separators=(",", ":")).encode()

    def _salud(self) -> dict[str, Any]:
        codigo = 4 if self.estado_canal == "AUTH" else 2
        return {
            "channel_id": self.canal,
            "status": {"code": codigo, "text": self.estado_canal},
            "user": {"id": self.telefono, "name": self.nombre},
        }

    def _ajustes(self) -> dict[str, Any]:
        if not self.webhook_url:
            return {"webhooks": []}
        eventos = [{"type": "messages", "method": "post"}, {"type": "statuses", "method": "post"}]
        cabeceras = {"Authorization": f"Bearer {self.secreto}"}
        gancho = {"url": self.webhook_url, "events": eventos, "mode": "body", "headers": cabeceras}
        return {"webhooks": [gancho]}


def _tipo(ruta: str) -> str:
    match = _MENSAJES.match(urlsplit(ruta).path)
    return match["tipo"] if match and match["tipo"] in whapi_esquema.TIPOS else ""


def _cabecera(cabeceras: dict[str, str], nombre: str) -> str:
    return next((v for k, v in cabeceras.items() if k.lower() == nombre.lower()), "")


def _digitos(telefono: str) -> str:
    return "".join(c for c in str(telefono).removesuffix("@s.whatsapp.net") if c.isdigit())


def _id() -> str:
    # WHAPI's message ids look like "PsobWy36679._7w-wKmB9tMeGQ" (base64url with a dot).
    return f"{secrets.token_urlsafe(9)}.{secrets.token_urlsafe(12)}"
