"""The sandbox server: a local stand-in for the Cloud API that MetaBackend can point at.

Endpoints (every one needs ``Authorization: Bearer <token>``)::

    POST   /{version}/{phone_number_id}/messages   validate, answer a wamid, post statuses
    POST   /{version}/{phone_number_id}/media      multipart upload -> {"id": ...}
    GET    /{version}/{media_id}                   url, mime_type, sha256, file_size, id
    DELETE /{version}/{media_id}                   {"success": true}
    GET    /whatsapp_business/attachments/?mid=... the uploaded bytes
    GET    /{version}/{phone_number_id}            display_phone_number, verified_name
    GET    /{version}/{waba_id}/message_templates  the templates (``plantillas``), by pages
    GET    /{version}/{waba_id}/subscribed_apps    the sandbox's app, posting to ``webhook_url``

An id the sandbox does not know is answered as Graph does (error 100, subcode 33), and an id
of the other kind (the WABA's where the number's goes) with Graph's "nonexisting field on
node type" error, so ``whatsapp_check`` tells a wrong id from a missing permission.

Use it from tests and benchmarks as a context manager::

    with Sandbox(webhook_url="http://127.0.0.1:8000/whatsapp/webhook/",
                 app_secret="secreto", delays=(0.01, 0.01, 0.01)) as sandbox:
        ...  # OPTIONS["BASE_URL"] = sandbox.base_url
        sandbox.mensajes, sandbox.webhooks
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import SplitResult, parse_qs, urlsplit

from ..events import DELIVERED, FAILED, READ, SENT
from ..phones import mask
from . import schema
from .fallos import FALLIDO, FALLO_5XX, TIMEOUT, Fallos, error_graph
from .media import Media, MultipartInvalido, leer_subida, nuevo_id
from .plantillas import ejemplos, pagina
from .webhooks import (
    Cartero,
    EnvioAceptado,
    Negocio,
    WebhookEnviado,
    estado,
    revisar_entrante,
    sobre,
)

logger = logging.getLogger(__name__)

APP_SECRET = "sandbox-app-secret"
DEMORAS = (1.0, 2.0, 3.0)
DESCARGAS = "/whatsapp_business/attachments/"
#: The sandbox account's ids by default. ``whatsapp_sandbox`` answers only for this phone
#: number id; a :class:`Sandbox` given no ``phone_number_id`` answers for any.
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "102290129340398"
APP_ID = "1946000000000001"
APP_NOMBRE = "Sandbox de whatsapp_notify"
APP_LINK = "https://www.facebook.com/games/?app_id="
ENTRANTE = "/sandbox/entrante"  # the sandbox's own control: the customer writes
_VERSION = r"v\d{1,3}\.\d{1,2}"
_MENSAJES = re.compile(rf"^/(?P<version>{_VERSION})/(?P<objeto>[^/]+)/messages$")
_MEDIA = re.compile(rf"^/(?P<version>{_VERSION})/(?P<objeto>[^/]+)/media$")
_OBJETO = re.compile(rf"^/(?P<version>{_VERSION})/(?P<objeto>[^/]+)$")
_PLANTILLAS = re.compile(rf"^/(?P<version>{_VERSION})/(?P<objeto>[^/]+)/message_templates$")
_SUSCRITAS = re.compile(rf"^/(?P<version>{_VERSION})/(?P<objeto>[^/]+)/subscribed_apps$")
# Graph's node types, named in its "nonexisting field" error.
NODO_NUMERO = "WhatsAppBusinessPhoneNumber"
NODO_WABA = "WhatsAppBusinessAccount"

Respuesta = tuple[int, Any]


@dataclass(frozen=True)
class Peticion:
    """One request the sandbox received, and what it answered.

    ``problema`` says what Meta's schema rejects in a ``messages`` body ("" when valid);
    ``wamid`` is the id given to an accepted message.
    """

    metodo: str
    ruta: str
    cabeceras: dict[str, str] = field(repr=False)
    cuerpo: Any
    status: int = 0
    respuesta: Any = None
    problema: str = ""
    wamid: str = ""

    @property
    def valido(self) -> bool:
        return not self.problema

    @property
    def es_mensaje(self) -> bool:
        return self.metodo == "POST" and bool(_MENSAJES.match(urlsplit(self.ruta).path))


class SandboxHttp:
    """What every stand-in shares: a threaded local HTTP server, its life cycle and the log
    of the requests it answered. A stand-in calls :meth:`_preparar` from ``__init__`` and
    lists the webhook posters it starts and stops in :meth:`_carteros`."""

    #: Who it stands in for, in its log lines ("la Cloud API", "WHAPI", "Twilio").
    NOMBRE = ""

    def _preparar(self, host: str, port: int) -> None:
        self.requests: list[Peticion] = []
        self._lock = threading.Lock()
        self._parada = threading.Event()
        self._server = _Servidor((host, port), self)  # type: ignore[arg-type]
        self._hilo = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _carteros(self) -> list[Cartero]:
        """The webhook posters to start with the server and stop with it."""
        return []

    def start(self) -> Self:
        """Start serving (and posting webhooks) in background threads; return self."""
        self._hilo.start()
        for cartero in self._carteros():
            cartero.start()
        logger.debug("Sandbox de %s en %s", self.NOMBRE, self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and posting; wake answers still waiting. Safe to call twice."""
        if self._parada.is_set():
            return
        self._parada.set()
        if self._hilo.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._server.cerrar_conexiones()
        for cartero in self._carteros():
            cartero.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The ``BASE_URL`` to give the account's backend (``http://127.0.0.1:<port>``)."""
        host, port = self._server.server_address[:2]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{port}"

    def _registrar(
        self, peticion: Peticion, status: int, respuesta: Any, **extra: Any
    ) -> Respuesta:
        guardada = replace(peticion, status=status, respuesta=respuesta, **extra)
        with self._lock:
            self.requests.append(guardada)
        return status, respuesta

    def _dormir(self, segundos: float) -> None:
        # Waits on the stop event, so stop() never hangs on a slow answer.
        if segundos > 0:
            self._parada.wait(segundos)


class Sandbox(SandboxHttp):
    """A threaded HTTP server on ``host`` (127.0.0.1) and ``port`` (0: a free one).

    Args:
        webhook_url: where status webhooks are posted; None posts none.
        app_secret: signs each webhook (``X-Hub-Signature-256``), like the app secret.
        delays: seconds before ``sent``, then before ``delivered`` (or ``failed``), then
            before ``read``, each counted from the previous status.
        fallos: the faults to inject (:class:`Fallos`); none by default.
        token: the only bearer token accepted; None accepts any non-empty one.
            :meth:`caducar_token` makes one answer 190 ("Session has expired") until the
            client rotates to another.
        reintentos, espera_reintento: retries of a refused webhook, and the first wait.
        plantillas: the templates ``GET /{version}/{waba_id}/message_templates`` lists, as
            Graph template objects (a few examples by default); ``self.plantillas`` may be
            changed while it runs.
        phone_number_id: the only phone number id it answers for (sends, its GET); None
            answers for any id, as tests with their own ids need.
        waba_id, app_id: the WhatsApp Business Account's id and the id of the app
            subscribed to it (``subscribed_apps``, with ``webhook_url`` as its
            ``override_callback_uri``; no app when there is no ``webhook_url``).
    """

    NOMBRE = "la Cloud API"

    def __init__(
        self,
        webhook_url: str | None = None,
        app_secret: str = APP_SECRET,
        *,
        delays: Sequence[float] = DEMORAS,
        fallos: Fallos | None = None,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        reintentos: int = 3,
        espera_reintento: float = 0.2,
        display_phone_number: str = "15550001234",
        verified_name: str = "Sandbox WhatsApp",
        waba_id: str = WABA_ID,
        plantillas: Sequence[dict[str, Any]] | None = None,
        phone_number_id: str | None = None,
        app_id: str = APP_ID,
    ) -> None:
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.delays = _demoras(delays)
        self.fallos = fallos or Fallos()
        self.token = token
        self.display_phone_number = display_phone_number
        self._borrados: set[str] = set()
        self.tokens_caducados: set[str] = set()
        self.verified_name = verified_name
        self.waba_id = waba_id
        self.phone_number_id = phone_number_id
        self.app_id = app_id
        self.plantillas = ejemplos() if plantillas is None else list(plantillas)
        self.media: dict[str, Media] = {}
        self._cartero = (
            Cartero(webhook_url, app_secret, reintentos=reintentos, espera=espera_reintento)
            if webhook_url
            else None
        )
        self._preparar(host, port)

    def _carteros(self) -> list[Cartero]:
        return [self._cartero] if self._cartero is not None else []

    # -- what happened ---------------------------------------------------------------

    @property
    def mensajes(self) -> list[Peticion]:
        """The ``POST /messages`` requests received so far, oldest first."""
        with self._lock:
            return [peticion for peticion in self.requests if peticion.es_mensaje]

    @property
    def webhooks(self) -> list[WebhookEnviado]:
        """The webhooks posted (or given up) so far, in posting order."""
        return list(self._cartero.enviados) if self._cartero else []

    def esperar_webhooks(self, cantidad: int, timeout: float = 5.0) -> list[WebhookEnviado]:
        """Wait until ``cantidad`` webhooks were posted or ``timeout`` seconds pass."""
        return self._cartero.esperar(cantidad, timeout) if self._cartero else []

    @property
    def webhooks_pendientes(self) -> int:
        """Webhooks scheduled or held and not yet posted (0 when the sandbox posts none)."""
        return self._cartero.pendientes if self._cartero else 0

    def retener_webhooks(self) -> None:
        """Hold every status webhook, as when the receiver is down, until
        :meth:`soltar_webhooks` posts them late, oldest first."""
        if self._cartero is not None:
            self._cartero.retener()

    def soltar_webhooks(self) -> None:
        """Post the held webhooks now (late, as Meta does once the receiver is back)."""
        if self._cartero is not None:
            self._cartero.soltar()

    def caducar_token(self, token: str) -> None:
        """From now on ``token`` answers Graph error 190 (HTTP 401), as an expired access
        token does, on every endpoint; another token (the rotated one) works."""
        with self._lock:
            self.tokens_caducados.add(token)

    def entrante(
        self,
        telefono: str,
        texto: str = "",
        *,
        nombre: str = "Cliente",
        boton: tuple[str, str] | None = None,
        fila: tuple[str, str] | None = None,
        payload: tuple[str, str] | None = None,
        imagen: bytes | None = None,
        responde_a: str = "",
    ) -> str:
        """Post an inbound message from ``telefono`` now, signed; return its wamid.

        By default a text. The customer can also tap a reply button (``boton=(id, title)``),
        pick a list row (``fila=(id, title)``), tap a template's quick reply
        (``payload=(payload, button text)``) or send a JPEG or PNG (``imagen``, with ``texto`` as
        its caption, downloadable from the sandbox like an uploaded file). ``responde_a``:
        the wamid of the business message it answers (a tap answers the message with the
        buttons; pass the envío's ``wamid``).

        Raises:
            ValueError: the sandbox has no ``webhook_url``; more than one kind given, or
                none (no text, no tap, no image).
        """
        if self._cartero is None:
            raise ValueError("El sandbox no tiene webhook_url: no puede enviar mensajes.")
        wa_id = _digitos(telefono)
        wamid = _wamid()
        mensaje: dict[str, Any] = {
            "from": wa_id, "id": wamid, "timestamp": str(int(time.time())),
        }  # fmt: skip
        mensaje.update(self._contenido_entrante(texto, boton, fila, payload, imagen))
        numero = self._ultimo_numero()
        if responde_a:
            negocio = "".join(c for c in self.display_phone_number if c.isdigit())
            mensaje["context"] = {"from": negocio, "id": responde_a}
        value = {"contacts": [{"profile": {"name": nombre}, "wa_id": wa_id}], "messages": [mensaje]}
        cuerpo = sobre(self._negocio(numero), value)
        self._cartero.programar(0.0, "message", wamid, cuerpo)
        return wamid

    def _contenido_entrante(self, texto, boton, fila, payload, imagen) -> dict[str, Any]:
        revisar_entrante(texto, boton=boton, fila=fila, payload=payload, imagen=imagen)
        if boton is not None:
            respuesta = {"id": boton[0], "title": boton[1]}
            return {"type": "interactive",
                    "interactive": {"type": "button_reply", "button_reply": respuesta}}  # fmt: skip
        if fila is not None:
            respuesta = {"id": fila[0], "title": fila[1]}
            return {"type": "interactive",
                    "interactive": {"type": "list_reply", "list_reply": respuesta}}  # fmt: skip
        if payload is not None:
            return {"type": "button", "button": {"payload": payload[0], "text": payload[1]}}
        if imagen is not None:
            png = bytes(imagen).startswith(b"\x89PNG")
            mime, nombre = ("image/png", "foto.png") if png else ("image/jpeg", "foto.jpg")
            media = Media(nuevo_id(), bytes(imagen), mime, nombre)
            with self._lock:
                self.media[media.id] = media
            datos = {"id": media.id, "mime_type": media.mime, "sha256": media.sha256}
            return {"type": "image", "image": {**datos, **({"caption": texto} if texto else {})}}
        return {"type": "text", "text": {"body": texto}}

    # -- answering (called from the server's threads) ---------------------------------

    def atender(self, peticion: Peticion, host: str) -> Respuesta:
        """Answer one request and record it."""
        if peticion.metodo == "POST" and urlsplit(peticion.ruta).path == ENTRANTE:
            return self._registrar(peticion, *self._entrante_por_http(peticion.cuerpo))
        self._dormir(self.fallos.latencia)
        if self._caducado(peticion.cabeceras):
            return self._registrar(peticion, *_token_caducado())
        if not self._autorizado(peticion.cabeceras):
            return self._registrar(peticion, *_sin_token(peticion.cabeceras))
        ruta = urlsplit(peticion.ruta)
        if peticion.metodo == "POST" and (match := _MENSAJES.match(ruta.path)):
            if error := self._numero_desconocido(match["objeto"], "messages", "POST"):
                return self._registrar(peticion, *error)
            return self._mensajes(peticion, match["objeto"])
        if peticion.metodo == "POST" and _MEDIA.match(ruta.path):
            return self._subir(peticion)
        if peticion.metodo == "GET" and ruta.path == DESCARGAS:
            return self._registrar(peticion, *self._descargar(ruta.query))
        if peticion.metodo == "GET" and (match := _PLANTILLAS.match(ruta.path)):
            return self._registrar(peticion, *self._plantillas(match["objeto"], ruta, host))
        if peticion.metodo == "GET" and (match := _SUSCRITAS.match(ruta.path)):
            return self._registrar(peticion, *self._suscritas(match["objeto"]))
        if match := _OBJETO.match(ruta.path):
            return self._registrar(peticion, *self._objeto(peticion.metodo, match, ruta, host))
        return self._registrar(peticion, *error_graph(100, f"Unsupported request {ruta.path}"))

    def _entrante_por_http(self, cuerpo: Any) -> Respuesta:
        """``POST /sandbox/entrante``: the customer writes, from a terminal or another
        process (``{"telefono", "texto"?, "boton"?: [id, title], "fila"?, "payload"?,
        "imagen_base64"?, "nombre"?, "responde_a"?}``); answers the wamid, or 400 saying
        what is wrong. Not Meta's: the sandbox's own control, with no token."""
        if not isinstance(cuerpo, dict) or not isinstance(cuerpo.get("telefono"), str):
            falta = "Se espera JSON con telefono (y texto, boton, fila, payload o imagen_base64)."
            return 400, {"error": falta}
        argumentos: dict[str, Any] = {}
        for clave in ("boton", "fila", "payload"):
            if isinstance(cuerpo.get(clave), list):
                argumentos[clave] = tuple(cuerpo[clave])
            elif clave in cuerpo:
                argumentos[clave] = cuerpo[clave]
        if "imagen_base64" in cuerpo:
            try:
                argumentos["imagen"] = base64.b64decode(str(cuerpo["imagen_base64"]), validate=True)
            except (ValueError, binascii.Error):
                return 400, {"error": "imagen_base64 no es base64."}
        for clave in ("nombre", "responde_a"):
            if isinstance(cuerpo.get(clave), str):
                argumentos[clave] = cuerpo[clave]
        try:
            wamid = self.entrante(cuerpo["telefono"], str(cuerpo.get("texto") or ""), **argumentos)
        except ValueError as exc:
            return 400, {"error": str(exc)}
        return 200, {"wamid": wamid}

    def _caducado(self, cabeceras: dict[str, str]) -> bool:
        with self._lock:
            return _bearer(cabeceras) in self.tokens_caducados

    def _autorizado(self, cabeceras: dict[str, str]) -> bool:
        token = _bearer(cabeceras)
        if self.token is None:
            return bool(token)
        return secrets.compare_digest(token.encode(), self.token.encode())

    def _mensajes(self, peticion: Peticion, numero: str) -> Respuesta:
        cuerpo = peticion.cuerpo
        if _marcar_leido(cuerpo):
            return self._registrar(peticion, 200, {"success": True})
        if problema := schema.problema(cuerpo):
            logger.info("Cuerpo rechazado por el esquema de Meta en %s", _rutas(problema))
            status, error = error_graph(100, problema)
            return self._registrar(peticion, status, error, problema=problema)
        with self._lock:
            paso = self.fallos.siguiente()
        if paso == FALLO_5XX or isinstance(paso, int):
            status, error = error_graph(2 if paso == FALLO_5XX else int(paso))
            logger.info(
                "Fallo inyectado en un envío: HTTP %s (#%s)", status, error["error"]["code"]
            )
            return self._registrar(peticion, status, error)
        respuesta, envio = self._aceptar(cuerpo, numero, fallido=paso == FALLIDO)
        registrada = self._registrar(peticion, 200, respuesta, wamid=envio.wamid)
        if paso == TIMEOUT:
            self._dormir(self.fallos.espera_timeout)
        return registrada

    def _aceptar(self, cuerpo: dict, numero: str, *, fallido: bool) -> tuple[dict, EnvioAceptado]:
        destino = str(cuerpo.get("to", ""))
        opaco = cuerpo.get("biz_opaque_callback_data")
        envio = EnvioAceptado(
            wamid=_wamid(),
            wa_id=_digitos(destino),
            plantilla=cuerpo.get("type") == "template",
            biz_opaque_callback_data=None if opaco is None else str(opaco),
        )
        self._programar_estados(envio, self._negocio(numero), fallido)
        logger.info("Mensaje a %s aceptado: %s", mask(destino), envio.wamid)
        respuesta = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": destino, "wa_id": envio.wa_id}],
            "messages": [{"id": envio.wamid}],
        }
        return respuesta, envio

    def _programar_estados(self, envio: EnvioAceptado, negocio: Negocio, fallido: bool) -> None:
        if self._cartero is None:
            return
        pasos = [SENT, FAILED] if fallido else [SENT, DELIVERED, READ]
        demora, ahora = 0.0, time.time()
        for status, espera in zip(pasos, self.delays, strict=False):
            demora += espera
            item = estado(envio, status, ahora + demora, self.fallos.codigo_fallido)
            cuerpo = sobre(negocio, {"statuses": [item]})
            self._cartero.programar(demora, status, envio.wamid, cuerpo)

    def _subir(self, peticion: Peticion) -> Respuesta:
        tipo = _cabecera(peticion.cabeceras, "Content-Type")
        try:
            campos, media = leer_subida(tipo, peticion.cuerpo)
        except MultipartInvalido as exc:
            return self._registrar(peticion, *error_graph(100, str(exc)))
        with self._lock:
            self.media[media.id] = media
        logger.info("Archivo subido: %s (%s, %s bytes)", media.id, media.mime, len(media.contenido))
        return self._registrar(replace(peticion, cuerpo=campos), 200, {"id": media.id})

    def _objeto(self, metodo: str, match: re.Match[str], ruta: SplitResult, host: str) -> Respuesta:
        media = self.media.get(match["objeto"])
        if media is not None and metodo == "GET":
            return 200, media.descripcion(f"http://{host}{DESCARGAS}?mid={media.id}")
        if media is not None and metodo == "DELETE":
            with self._lock:
                self.media.pop(media.id, None)
                self._borrados.add(media.id)
            return 200, {"success": True}
        if match["objeto"] in self._borrados:
            # As Meta: a deleted media id is gone (error 100), not a phone number.
            return error_graph(100, "Unsupported get request: the media was deleted", http=400)
        if metodo != "GET":
            return error_graph(100, f"Unsupported {metodo} request")
        if match["objeto"] == self.waba_id and self.waba_id != self.phone_number_id:
            return self._waba(ruta.query)
        if error := self._numero_desconocido(match["objeto"]):
            return error
        return 200, {
            "verified_name": self.verified_name,
            "display_phone_number": self.display_phone_number,
            "id": match["objeto"],
        }

    def _waba(self, query: str) -> Respuesta:
        """``GET /{waba_id}``: its id and name; a phone number's field is not one of its."""
        campos = (parse_qs(query).get("fields") or [""])[0].split(",")
        if ajeno := next((c for c in campos if c and c not in ("id", "name")), None):
            return campo_inexistente(ajeno, NODO_WABA)
        return 200, {"id": self.waba_id, "name": self.verified_name}

    def _numero_desconocido(
        self, numero: str, campo: str = "", metodo: str = "GET"
    ) -> Respuesta | None:
        """Graph's answer when ``numero`` is not this sandbox's phone number id, else None."""
        if self.phone_number_id is None or numero == self.phone_number_id:
            return None
        if numero == self.waba_id and campo:
            return campo_inexistente(campo, NODO_WABA)
        return objeto_desconocido(numero, metodo)

    def _waba_desconocida(self, waba_id: str, campo: str) -> Respuesta | None:
        """Graph's answer when ``waba_id`` is not this sandbox's WABA id, else None."""
        if waba_id == self.waba_id:
            return None
        if waba_id == self.phone_number_id:
            return campo_inexistente(campo, NODO_NUMERO)
        return objeto_desconocido(waba_id)

    def _suscritas(self, waba_id: str) -> Respuesta:
        """``GET /{waba_id}/subscribed_apps``: the sandbox's app posts to ``webhook_url``."""
        if error := self._waba_desconocida(waba_id, "subscribed_apps"):
            return error
        if not self.webhook_url:
            return 200, {"data": []}  # it posts no webhooks: as a WABA with no app
        app = {"id": self.app_id, "name": APP_NOMBRE, "link": f"{APP_LINK}{self.app_id}"}
        return 200, {
            "data": [{"whatsapp_business_api_data": app, "override_callback_uri": self.webhook_url}]
        }

    def _plantillas(self, waba_id: str, ruta: SplitResult, host: str) -> Respuesta:
        if error := self._waba_desconocida(waba_id, "message_templates"):
            return error
        with self._lock:
            plantillas = list(self.plantillas)
        return pagina(plantillas, ruta.query, f"http://{host}{ruta.path}")

    def _descargar(self, query: str) -> Respuesta:
        mid = (parse_qs(query).get("mid") or [""])[0]
        media = self.media.get(mid)
        if media is None:
            return error_graph(100, "Media not found or URL expired", http=404)
        return 200, media

    def _negocio(self, numero: str) -> Negocio:
        return Negocio(numero, self.display_phone_number, self.waba_id)

    def _ultimo_numero(self) -> str:
        with self._lock:
            for peticion in reversed(self.requests):
                if match := _MENSAJES.match(urlsplit(peticion.ruta).path):
                    return match["objeto"]
        return self.phone_number_id or PHONE_NUMBER_ID


def objeto_desconocido(objeto: str, metodo: str = "GET") -> Respuesta:
    """Graph's answer for an id it does not know (or the token may not see): 100, subcode 33."""
    status, cuerpo = error_graph(
        100,
        mensaje=f"Unsupported {metodo.lower()} request. Object with ID '{objeto}' does not "
        "exist, cannot be loaded due to missing permissions, or does not support this operation.",
    )
    cuerpo["error"].update(type="GraphMethodException", error_subcode=33)
    cuerpo["error"].pop("error_data", None)  # Graph's management answers carry none
    return status, cuerpo


def campo_inexistente(campo: str, nodo: str) -> Respuesta:
    """Graph's answer when an id of another kind is asked for ``campo`` (wrong id in a setting)."""
    status, cuerpo = error_graph(
        100, mensaje=f"(#100) Tried accessing nonexisting field ({campo}) on node type ({nodo})"
    )
    cuerpo["error"].pop("error_data", None)
    return status, cuerpo


class _Servidor(ThreadingHTTPServer):
    """Keeps its open connections, so a stop also ends the kept-alive ones."""

    daemon_threads = True
    allow_reuse_address = True
    # A worker's batch opens dozens of connections at once; the default backlog (5) would
    # refuse them as the Cloud API never does.
    request_queue_size = 128

    def __init__(self, direccion: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._conexiones: set[socket.socket] = set()
        self._cerrojo = threading.Lock()
        super().__init__(direccion, _Manejador)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._cerrojo:
            self._conexiones.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._cerrojo:
            self._conexiones.discard(request)
        super().shutdown_request(request)

    def cerrar_conexiones(self) -> None:
        with self._cerrojo:
            abiertas = list(self._conexiones)
        for conexion in abiertas:
            with contextlib.suppress(OSError):
                conexion.shutdown(socket.SHUT_RDWR)


class _Manejador(BaseHTTPRequestHandler):
    server: _Servidor
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        largo = int(self.headers.get("Content-Length") or 0)
        crudo = self.rfile.read(largo) if largo else b""
        multipart = "multipart/" in self.headers.get("Content-Type", "")
        self._contestar(crudo if multipart else _json(crudo))

    # PUT: WHAPI marks a message read with it (an empty body, or JSON like a POST's).
    do_PUT = do_POST

    def do_GET(self) -> None:
        self._contestar(None)

    def do_DELETE(self) -> None:
        self._contestar(None)

    def _contestar(self, cuerpo: Any) -> None:
        peticion = Peticion(self.command, self.path, dict(self.headers), cuerpo)
        host = self.headers.get("Host") or urlsplit(self.server.sandbox.base_url).netloc
        status, respuesta = self.server.sandbox.atender(peticion, host)
        if isinstance(respuesta, Media):
            datos, tipo = respuesta.contenido, respuesta.mime
        else:
            datos, tipo = json.dumps(respuesta).encode(), "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", tipo)
            self.send_header("Content-Length", str(len(datos)))
            self.end_headers()
            self.wfile.write(datos)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (an injected timeout): nothing to answer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.command, urlsplit(self.path).path)


def _json(crudo: bytes) -> Any:
    if not crudo:
        return None
    try:
        return json.loads(crudo)
    except ValueError:
        return crudo


def _cabecera(cabeceras: dict[str, str], nombre: str) -> str:
    return next((v for k, v in cabeceras.items() if k.lower() == nombre.lower()), "")


def _bearer(cabeceras: dict[str, str]) -> str:
    esquema, _, token = _cabecera(cabeceras, "Authorization").partition(" ")
    return token.strip() if esquema.lower() == "bearer" else ""


def _sin_token(cabeceras: dict[str, str]) -> Respuesta:
    if not _bearer(cabeceras):
        return error_graph(190, mensaje="Invalid OAuth access token - Cannot parse access token")
    return error_graph(190, mensaje="Error validating access token: the token is not valid")


def _token_caducado() -> Respuesta:
    # As Graph words it (error 190, subcode 463): the token is refused, not malformed.
    status, cuerpo = error_graph(
        190, mensaje="Error validating access token: Session has expired on a past date."
    )
    cuerpo["error"]["error_subcode"] = 463
    return status, cuerpo


def _marcar_leido(cuerpo: Any) -> bool:
    return isinstance(cuerpo, dict) and cuerpo.get("status") == "read" and "message_id" in cuerpo


def _rutas(problema: str) -> str:
    # Only the JSON paths: the problem text may quote the phone number or the message text.
    return ", ".join(sorted({linea.split(":", 1)[0] for linea in problema.splitlines()}))


def _demoras(delays: Sequence[float]) -> tuple[float, float, float]:
    valores = tuple(float(valor) for valor in delays)
    if len(valores) != 3 or any(valor < 0 for valor in valores):
        raise ValueError(f"delays son 3 segundos no negativos (sent, delivered, read): {delays!r}")
    return valores[0], valores[1], valores[2]


def _digitos(telefono: str) -> str:
    return "".join(caracter for caracter in telefono if caracter.isdigit())


def _wamid() -> str:
    return f"wamid.{secrets.token_hex(24).upper()}"
