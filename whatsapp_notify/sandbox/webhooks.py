"""Webhooks of the sandbox: bodies shaped like Meta's, signed, posted from one thread.

Bodies follow the Cloud API envelope (``object`` / ``entry`` / ``changes`` / ``value``
with ``metadata``) and are signed like Meta signs them: ``X-Hub-Signature-256:
sha256=<hex HMAC-SHA256(app secret, raw body)>``. A :class:`Cartero` posts them when
due, in due order, retrying a refused or unreachable delivery a few times.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from ..events import DELIVERED, FAILED, SENT
from .fallos import error_de_estado

logger = logging.getLogger(__name__)

# A conversation (v23.0 and earlier) lasts 24 hours from the first message.
CONVERSACION_SEGUNDOS = 24 * 3600
TIMEOUT_POST = 5.0


@dataclass(frozen=True)
class Negocio:
    """The business number the sandbox impersonates (``metadata`` of every webhook)."""

    phone_number_id: str
    display_phone_number: str
    waba_id: str


@dataclass(frozen=True)
class EnvioAceptado:
    """What a status webhook needs to know about an accepted send."""

    wamid: str
    wa_id: str
    plantilla: bool
    biz_opaque_callback_data: str | None = None
    conversacion: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass(frozen=True)
class WebhookEnviado:
    """One webhook the sandbox posted (or gave up posting).

    ``respuesta`` is the receiver's last HTTP status, None when it could not be reached.
    """

    status: str
    wamid: str
    url: str
    respuesta: int | None
    intentos: int
    cuerpo: bytes = field(repr=False)
    firma: str = field(repr=False)

    @property
    def entregado(self) -> bool:
        """True when the receiver answered 200 (Meta counts nothing else as delivered)."""
        return self.respuesta == 200

    def json(self) -> dict[str, Any]:
        return json.loads(self.cuerpo)


def firmar(secreto: str, cuerpo: bytes) -> str:
    """The ``X-Hub-Signature-256`` value of ``cuerpo``."""
    return "sha256=" + hmac.new(secreto.encode(), cuerpo, hashlib.sha256).hexdigest()


def sobre(negocio: Negocio, value: dict[str, Any]) -> bytes:
    """A whole webhook body for one ``messages`` change, as raw UTF-8 bytes."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": negocio.display_phone_number,
            "phone_number_id": negocio.phone_number_id,
        },
        **value,
    }
    cuerpo = {
        "object": "whatsapp_business_account",
        "entry": [{"id": negocio.waba_id, "changes": [{"field": "messages", "value": value}]}],
    }
    # Not ASCII-escaped: receivers must verify the signature on the raw bytes.
    return json.dumps(cuerpo, ensure_ascii=False, separators=(",", ":")).encode()


def estado(envio: EnvioAceptado, status: str, cuando: float, codigo_error: int = 0) -> dict:
    """One ``statuses[]`` item for ``envio`` at Unix time ``cuando``."""
    item: dict[str, Any] = {
        "id": envio.wamid,
        "status": status,
        "timestamp": str(int(cuando)),
        "recipient_id": envio.wa_id,
    }
    if envio.biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = envio.biz_opaque_callback_data
    # Conversation and pricing come on ``sent`` and again on ``delivered``; the expiry
    # only on ``sent``.
    if status in (SENT, DELIVERED):
        item["conversation"] = _conversacion(envio, cuando if status == SENT else None)
        item["pricing"] = precio(envio.plantilla)
    if status == FAILED:
        item["errors"] = [error_de_estado(codigo_error)]
    return item


def precio(plantilla: bool) -> dict[str, Any]:
    """``pricing`` under per-message pricing: templates are utility, the rest free."""
    if plantilla:
        return {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
    return {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }


def _conversacion(envio: EnvioAceptado, inicio: float | None) -> dict[str, Any]:
    conversacion: dict[str, Any] = {"id": envio.conversacion}
    if inicio is not None:
        conversacion["expiration_timestamp"] = str(int(inicio) + CONVERSACION_SEGUNDOS)
    conversacion["origin"] = {"type": "utility" if envio.plantilla else "service"}
    return conversacion


@dataclass(order=True)
class _Pendiente:
    vence: float
    orden: int
    status: str = field(compare=False)
    wamid: str = field(compare=False)
    cuerpo: bytes = field(compare=False, repr=False)


class Cartero:
    """Posts webhooks to one URL from a background thread, each when due, oldest first.

    A delivery that fails (no connection, or any answer but 200) is retried ``reintentos``
    times, waiting ``espera`` seconds and doubling; then it is recorded as given up. One
    thread posts everything, so the statuses of a message arrive in order.

    :meth:`retener` holds every webhook, due or not, until :meth:`soltar`: then they are
    posted late, oldest first, as Meta does once a receiver that was down answers again.
    """

    def __init__(self, url: str, secreto: str, *, reintentos: int = 3, espera: float = 0.2):
        self.url = url
        self.secreto = secreto
        self.reintentos = reintentos
        self.espera = espera
        self.enviados: list[WebhookEnviado] = []
        self._pendientes: list[_Pendiente] = []
        self._turno = itertools.count()
        self._cambio = threading.Condition()
        self._parar = False
        self._retenido = False
        self._en_curso = 0
        self._hilo = threading.Thread(target=self._trabajar, name="sandbox-webhooks", daemon=True)

    def start(self) -> None:
        """Start posting; a second call does nothing (a poster made while serving starts)."""
        if self._hilo.ident is None:
            self._hilo.start()

    def programar(self, demora: float, status: str, wamid: str, cuerpo: bytes) -> None:
        """Post ``cuerpo`` in ``demora`` seconds."""
        with self._cambio:
            vence = time.monotonic() + demora
            pendiente = _Pendiente(vence, next(self._turno), status, wamid, cuerpo)
            heapq.heappush(self._pendientes, pendiente)
            self._cambio.notify_all()

    def retener(self) -> None:
        """Hold every webhook (the receiver is "down") until :meth:`soltar`."""
        with self._cambio:
            self._retenido = True

    def soltar(self) -> None:
        """Post the held webhooks now, oldest first, then go on as usual."""
        with self._cambio:
            self._retenido = False
            self._cambio.notify_all()

    @property
    def pendientes(self) -> int:
        """Webhooks scheduled (or held, or being posted) and not yet recorded as posted."""
        with self._cambio:
            return len(self._pendientes) + self._en_curso

    def esperar(self, cantidad: int, timeout: float) -> list[WebhookEnviado]:
        """Wait until ``cantidad`` webhooks were posted (or given up) or ``timeout`` passes."""
        with self._cambio:
            self._cambio.wait_for(lambda: len(self.enviados) >= cantidad, timeout)
            return list(self.enviados)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop posting; webhooks not yet due are dropped."""
        with self._cambio:
            self._parar = True
            self._cambio.notify_all()
        if self._hilo.is_alive():
            self._hilo.join(timeout)

    # -- the posting thread ----------------------------------------------------------

    def _trabajar(self) -> None:
        with requests.Session() as sesion:
            while (pendiente := self._siguiente()) is not None:
                self._registrar(self._entregar(sesion, pendiente))

    def _siguiente(self) -> _Pendiente | None:
        """Block until the earliest webhook is due; None once stopped."""
        with self._cambio:
            while not self._parar:
                if not self._pendientes or self._retenido:
                    self._cambio.wait()
                    continue
                falta = self._pendientes[0].vence - time.monotonic()
                if falta <= 0:
                    self._en_curso += 1
                    return heapq.heappop(self._pendientes)
                self._cambio.wait(falta)
            return None

    def _entregar(self, sesion: requests.Session, pendiente: _Pendiente) -> WebhookEnviado:
        firma = firmar(self.secreto, pendiente.cuerpo)
        espera = self.espera
        for intento in range(1, self.reintentos + 2):
            respuesta = self._post(sesion, pendiente.cuerpo, firma)
            if respuesta == 200 or intento > self.reintentos or not self._pausa(espera):
                break
            espera *= 2
        return WebhookEnviado(
            status=pendiente.status,
            wamid=pendiente.wamid,
            url=self.url,
            respuesta=respuesta,
            intentos=intento,
            cuerpo=pendiente.cuerpo,
            firma=firma,
        )

    def _post(self, sesion: requests.Session, cuerpo: bytes, firma: str) -> int | None:
        cabeceras = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": firma,
            "User-Agent": "facebookexternalua",
        }
        try:
            respuesta = sesion.post(self.url, data=cuerpo, headers=cabeceras, timeout=TIMEOUT_POST)
        except requests.RequestException as exc:
            logger.warning("Webhook no entregado a %s (%s)", self.url, type(exc).__name__)
            return None
        return respuesta.status_code

    def _pausa(self, segundos: float) -> bool:
        """Wait before a retry; False when stopped meanwhile."""
        with self._cambio:
            return not self._cambio.wait_for(lambda: self._parar, segundos)

    def _registrar(self, enviado: WebhookEnviado) -> None:
        logger.info(
            "Webhook %s de %s -> HTTP %s (%s intento(s))",
            enviado.status,
            enviado.wamid,
            enviado.respuesta,
            enviado.intentos,
        )
        with self._cambio:
            self.enviados.append(enviado)
            self._en_curso -= 1
            self._cambio.notify_all()


def revisar_entrante(texto: str, **tipos: object) -> None:
    """Refuse an inbound message a sandbox is asked to post that no customer could send:
    two kinds at once (a tap and a row), a tap that is not an ``(id, title)`` pair of texts,
    a tap with text beside it, an image that is not bytes, or nothing at all.

    Raises:
        ValueError: saying which.
    """
    dados = [nombre for nombre, valor in tipos.items() if valor is not None]
    if len(dados) > 1:
        raise ValueError(f"Un mensaje entrante es de un solo tipo, no {' y '.join(dados)}.")
    for nombre in dados:
        valor = tipos[nombre]
        if nombre == "imagen":
            if not isinstance(valor, bytes | bytearray):
                raise ValueError(f"imagen= son los bytes de la foto, no {type(valor).__name__}.")
        elif not (
            isinstance(valor, tuple) and len(valor) == 2 and all(isinstance(v, str) for v in valor)
        ):
            raise ValueError(f"{nombre}= es un par de textos (id, título), no {valor!r}.")
        elif texto:
            raise ValueError("Un toque no lleva texto: el título va en el par (id, título).")
    if not texto and not dados:
        raise ValueError("Un mensaje entrante lleva texto, un botón, una fila o una imagen.")
