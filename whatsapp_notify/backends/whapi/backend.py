"""The WHAPI.Cloud backend: WhatsApp through a linked device, over WHAPI's HTTP gateway.

What differs from Meta's Cloud API (reference ``cloud_api.md`` §11): no templates (their
body text is rendered and sent as text, see :mod:`.templates`), no 24-hour window (free
text any time: :attr:`WhapiBackend.ventana` is None), no callback field (a status is
matched to its envío by the message id alone), no signature (webhooks carry a secret
header), and a ban risk for the linked number when it sends fast, so the account is paced
by default at WHAPI's own advice (:attr:`WhapiBackend.DEFAULT_RATE_LIMIT`).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import requests
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ...events import Evento
from ...exceptions import (
    AmbiguousError,
    AuthError,
    ProviderError,
    SuscripcionError,
    TransientError,
    WebhookRechazado,
)
from ...messages import (
    Botones,
    Documento,
    Imagen,
    Lista,
    Plantilla,
    Reaccion,
    Salida,
    Texto,
    Ubicacion,
)
from ..base import MediaCache, Option, Resultado, UnsupportedContent, WebhookRequest
from ..http import HttpBackend, revisar_ritmo, revisar_timeout, revisar_token, revisar_url
from . import errors, payloads, templates, webhooks
from .payloads import Pedido

logger = logging.getLogger(__name__)

WHAPI_URL = "https://gate.whapi.cloud"
# WHAPI's guide for a linked device: 60-90 s between messages, at most ~10 per 15 minutes
# when broadcasting. 40 per hour is one message every 90 s, and 10 in any 15 minutes.
RITMO_WHAPI = "40/h"
# GET /health: the channel is linked and working only in this state.
CONECTADO = "AUTH"


def revisar_secretos(valor: Any) -> str | None:
    """Check of ``WEBHOOK_SECRET``, without quoting it: text, or a list while rotating."""
    valores = valor if isinstance(valor, list | tuple) else [valor]
    if all(isinstance(v, str) and v and not any(c.isspace() for c in v) for v in valores):
        return None
    return gettext(
        "debe ser texto sin espacios, o una lista de textos mientras lo cambias (el nuevo y "
        "el anterior); su valor no se muestra."
    )


class WhapiBackend(HttpBackend):
    """Sends through ``POST {BASE_URL}/messages/{text|document|image|interactive}``."""

    capabilities = frozenset({"download_media", "mark_read", "check_subscription"})
    ventana = None
    DEFAULT_RATE_LIMIT = RITMO_WHAPI
    renderiza_plantillas = True
    encabezado_de_plantilla = True

    OPTIONS = {
        "TOKEN": Option(
            required=True,
            secret=True,
            check=revisar_token,
            help=_(
                "token de la API del canal: panel de WHAPI (panel.whapi.cloud) › tu canal › "
                "«Token»."
            ),
        ),
        "WEBHOOK_SECRET": Option(
            secret=True,
            check=revisar_secretos,
            help=_(
                "texto largo y aleatorio que eliges; en WHAPI, el webhook del canal lleva la "
                "cabecera Authorization: Bearer <este texto> (una lista con el nuevo y el anterior "
                "mientras lo cambias)."
            ),
        ),
        "PLANTILLAS": Option(
            check=templates.revisar_plantillas,
            help=_(
                "textos de las plantillas para esta cuenta, que WHAPI no tiene: "
                "{'vehiculo_listo_cliente': 'Hola {{1}}, tu {{2}} está listo.'} o por idioma "
                "{'vehiculo_listo_cliente': {'es_MX': '…'}}; sin él se usa el cuerpo del catálogo."
            ),
        ),
        "CHANNEL_ID": Option(
            help=_(
                "identificador del canal (panel de WHAPI › canal, p. ej. MANTIS-M72HC): "
                "reparte los webhooks entre cuentas si varias comparten una URL."
            ),
        ),
        "RATE_LIMIT": Option(
            check=revisar_ritmo,
            help=format_lazy(
                _(
                    "ritmo de envío de esta cuenta (por omisión {ritmo}, el que aconseja WHAPI "
                    "para no arriesgar un bloqueo del número); '1/m' o más lento es lo prudente."
                ),
                ritmo=RITMO_WHAPI,
            ),
        ),
        "BASE_URL": Option(
            default=WHAPI_URL,
            check=revisar_url,
            help=_("raíz de la API de WHAPI; cámbiala solo para usar un sandbox local."),
        ),
        "TIMEOUT": Option(
            default=10,
            check=revisar_timeout,
            help=_("segundos máximos de espera por cada respuesta de WHAPI (10 es un buen valor)."),
        ),
    }

    # -- HttpBackend hooks ------------------------------------------------------------

    def base_url(self) -> str:
        return str(self.options["BASE_URL"])

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.options['TOKEN']}"}

    def parse_error(self, response: requests.Response) -> ProviderError:
        """Classify WHAPI's ``{"error": {"code", "message", "details"}}`` body."""
        return errors.leer_error(response)

    def classify(
        self,
        code: int | None,
        *,
        http_status: int | None = None,
        detail: str = "",
        message: str = "",
        trace_id: str = "",
    ) -> ProviderError:
        return errors.clasificar(code, http_status=http_status, detail=detail, message=message)

    def describe_error(self, code: int | None, detail: str = "") -> str:
        return errors.describir(code, detail)

    def _secretos(self) -> list[str]:
        # WEBHOOK_SECRET may be a list while rotating: each secret is scrubbed, not the list.
        return [*super()._secretos(), *webhooks.secretos(self.options.get("WEBHOOK_SECRET"))]

    # -- builders ---------------------------------------------------------------------

    def build_plantilla(self, salida: Salida, plantilla: Plantilla, media: MediaCache) -> Pedido:
        """The template's body text, rendered; with a header document, as its caption.

        Raises:
            UnsupportedContent: no body text for it in ``PLANTILLAS`` nor in the catalog.
            VariablesPlantilla: the variables do not fit the text's placeholders.
        """
        if plantilla.botones:
            self.admite_botones_de_plantilla()
        cuerpo = templates.cuerpo_de(plantilla, self.options["PLANTILLAS"])
        texto = templates.renderizar(cuerpo, plantilla.variables, plantilla.nombre)
        if plantilla.encabezado:  # the header, as WhatsApp shows it: a bold first line
            texto = f"*{plantilla.encabezado}*\n{texto}"
        if plantilla.documento is not None:
            return payloads.archivo(salida.telefono, plantilla.documento, caption=texto)
        return payloads.texto(salida.telefono, texto)

    def build_reaccion(self, salida: Salida, reaccion: Reaccion, media: MediaCache) -> Pedido:
        raise UnsupportedContent(
            "WhapiBackend no envía reacciones: WHAPI las pone con PUT /messages/{id}/reaction, "
            "que no devuelve un id de mensaje con el que seguir el envío."
        )

    def sin_botones_de_plantilla(self) -> str:
        return (
            "WHAPI no tiene plantillas: manda su texto, sin botones. Para que el cliente "
            "responda con un botón, envía enviar_botones dentro de la ventana de 24 horas."
        )

    def build_payload(self, salida: Salida, media: MediaCache) -> Pedido:
        pedido = super().build_payload(salida, media)
        if salida.responde_a:  # the customer's message, quoted above this one
            return Pedido(pedido.ruta, {**pedido.cuerpo, "quoted": salida.responde_a})
        return pedido

    def build_documento(self, salida: Salida, documento: Documento, media: MediaCache) -> Pedido:
        return payloads.archivo(salida.telefono, documento)

    def build_imagen(self, salida: Salida, imagen: Imagen, media: MediaCache) -> Pedido:
        return payloads.archivo(salida.telefono, imagen)  # POST /messages/image

    def build_texto(self, salida: Salida, texto: Texto, media: MediaCache) -> Pedido:
        return payloads.texto(salida.telefono, texto)

    def build_botones(self, salida: Salida, botones: Botones, media: MediaCache) -> Pedido:
        if botones.adjunto is not None:
            self.admite_adjunto_de_botones()
        return payloads.botones(salida.telefono, botones)

    def build_lista(self, salida: Salida, lista: Lista, media: MediaCache) -> Pedido:
        return payloads.lista(salida.telefono, lista)

    def build_ubicacion(self, salida: Salida, ubicacion: Ubicacion, media: MediaCache) -> Pedido:
        return payloads.ubicacion(salida.telefono, ubicacion)

    # -- delivery and operations ---------------------------------------------------------

    def mark_read(self, wamid: str) -> None:
        """Blue ticks on the inbound message ``wamid`` (``PUT /messages/{id}``).

        Raises:
            ProviderError: as :meth:`HttpBackend.request` (404 for an unknown message).
        """
        respuesta = self.request("PUT", f"/messages/{quote(str(wamid), safe='')}")
        if isinstance(respuesta, dict) and respuesta.get("success") is False:
            raise TransientError("WHAPI no marcó el mensaje como leído.", http_status=200)

    def deliver(self, salida: Salida, payload: Pedido) -> Resultado:
        """POST the message; return WHAPI's ``message.id``.

        Raises:
            AmbiguousError: a 2xx without a message id (see :func:`resultado`).
            PermanentError: WHAPI answered ``sent: false`` with the message.
            ProviderError: as :meth:`HttpBackend.request`.
        """
        return resultado(self.request("POST", payload.ruta, json=payload.cuerpo), salida)

    def verify_credentials(self) -> str:
        """``"name (phone)"`` of the linked number, if the token works and it is linked.

        Raises:
            AuthError: the token is refused, or the channel is not linked (scan its QR).
        """
        datos = self.request("GET", "/health")
        datos = datos if isinstance(datos, dict) else {}
        estado = _estado_del_canal(datos)
        if estado != CONECTADO:
            raise AuthError(
                f"El canal de WHAPI de la cuenta {self.alias!r} no está vinculado (estado "
                f"{estado or 'desconocido'}): escanea su QR en el panel de WHAPI.",
                http_status=200,
            )
        usuario = datos.get("user") if isinstance(datos.get("user"), dict) else {}
        return f"{usuario.get('name', '')} ({usuario.get('id', '')})"

    def check_subscription(self, url: str = "") -> str:
        """Check WHAPI's webhook settings (``GET /settings``) call us with our secret.

        ``url``: the public webhook URL expected, when known; the webhook must post there.

        Returns:
            The URL of the webhook that carries ``Authorization: Bearer`` with one of
            ``WEBHOOK_SECRET`` and subscribes to messages and statuses.

        Raises:
            SuscripcionError: no secret configured (``aviso``), or no such webhook, with
                the ``PATCH /settings`` that sets it up.
            ProviderError: WHAPI could not be asked.
        """
        claves = webhooks.secretos(self.options["WEBHOOK_SECRET"])
        if not claves:
            clave = f'WHATSAPP_NOTIFY["BACKENDS"]["{self.alias}"]["OPTIONS"]["WEBHOOK_SECRET"]'
            arreglo = gettext("define %(clave)s.") % {"clave": clave}
            raise SuscripcionError(
                gettext("sin WEBHOOK_SECRET se rechazan todos los webhooks"), arreglo
            )
        datos = self.request("GET", "/settings")
        ganchos = datos.get("webhooks") if isinstance(datos, dict) else None
        for gancho in ganchos if isinstance(ganchos, list) else []:
            if isinstance(gancho, dict) and _gancho_valido(gancho, claves, url):
                destino = gancho.get("url") or url
                return gettext("WHAPI envía messages y statuses a %(url)s") % {"url": destino}
        if url:
            mensaje = gettext(
                "ningún webhook de WHAPI envía messages y statuses a %(url)s con la cabecera "
                "Authorization: Bearer <WEBHOOK_SECRET>"
            ) % {"url": url}
        else:
            mensaje = gettext(
                "ningún webhook de WHAPI envía messages y statuses con la cabecera "
                "Authorization: Bearer <WEBHOOK_SECRET>"
            )
        raise SuscripcionError(mensaje, _patch_settings(url))

    def download_media(self, media_id: str, *, max_bytes: int | None = None) -> tuple[bytes, str]:
        """The bytes and MIME type of an inbound file (``GET /media/{media_id}``).

        Raises:
            PermanentError: unknown media (404).
            AuthError: the token is refused.
            TransientError: WHAPI could not be reached; downloading again is harmless.
        """
        ruta = f"/media/{quote(str(media_id), safe='')}"
        self.exigir_credenciales()
        try:
            respuesta = self._send("GET", ruta)
        except AmbiguousError as exc:
            raise TransientError(str(exc), http_status=exc.http_status) from exc
        if not respuesta.ok:
            raise self._fallo("GET", ruta, self.parse_error(respuesta))
        return respuesta.content, respuesta.headers.get("Content-Type", "")

    # -- webhooks ---------------------------------------------------------------------

    def verify_request(self, request: WebhookRequest) -> None:
        """Check ``Authorization: Bearer <WEBHOOK_SECRET>`` against each secret.

        Raises:
            WebhookRechazado: missing or wrong, or no ``WEBHOOK_SECRET`` configured.
        """
        claves = webhooks.secretos(self.options["WEBHOOK_SECRET"])
        if not claves:
            logger.warning("Cuenta %s sin WEBHOOK_SECRET: se rechazan sus webhooks", self.alias)
        try:
            webhooks.verificar(request.headers, claves)
        except WebhookRechazado as exc:
            raise WebhookRechazado(f"Cuenta {self.alias!r}: {exc}") from None

    def parse_webhook(self, request: WebhookRequest) -> list[Evento]:
        """Every status and inbound message of the body (see :mod:`.webhooks`).

        Raises:
            WebhookMalformado: not JSON, or not a JSON object.
        """
        return webhooks.parse(request.body)

    def account_key(self, evento: Evento) -> str:
        """The ``channel_id`` the event came from."""
        return evento.numero_id

    def account_keys(self) -> frozenset[str]:
        canal = str(self.options["CHANNEL_ID"] or "")
        return frozenset({canal}) if canal else frozenset()


def resultado(cuerpo: Any, salida: Salida) -> Resultado:
    """Read ``message.id`` from a send answer (``{"sent": true, "message": {...}}``).

    Raises:
        PermanentError: ``sent: false``: WHAPI refused the message itself.
        AmbiguousError: no message id. WHAPI took the request and may have sent it; since
            WHAPI echoes no reference of ours, only the status webhooks of an id we never
            learnt could tell, so the envío waits (``RECONCILE_AFTER``) before a re-send.
    """
    cuerpo = cuerpo if isinstance(cuerpo, dict) else {}
    mensaje = cuerpo.get("message") if isinstance(cuerpo.get("message"), dict) else {}
    identificador = mensaje.get("id")
    if cuerpo.get("sent") is False and not identificador:
        detalle = str(cuerpo.get("message") or cuerpo.get("error") or "")
        raise errors.clasificar(
            400,
            http_status=200,
            detail=detalle[:200],
            message="WHAPI no envió el mensaje (sent: false).",
        )
    if not identificador:
        raise AmbiguousError(
            "WHAPI aceptó el mensaje pero no devolvió su id (message.id).", http_status=200
        )
    return Resultado(id=str(identificador), wa_id=salida.telefono, raw=cuerpo)


def _estado_del_canal(datos: dict[str, Any]) -> str:
    estado = datos.get("status")
    if isinstance(estado, dict):
        return str(estado.get("text") or "")
    return str(estado or "")


def _patch_settings(url: str) -> str:
    """The command that configures the webhook (the secrets are never written out)."""
    cuerpo = {
        "webhooks": [
            {
                "url": url or "https://<tu-sitio>/whatsapp/webhook/<cuenta>/",
                "events": [
                    {"type": "messages", "method": "post"},
                    {"type": "statuses", "method": "post"},
                ],
                "mode": "body",
                "headers": {"Authorization": "Bearer <WEBHOOK_SECRET>"},
            }
        ]
    }
    return (
        'curl -X PATCH https://gate.whapi.cloud/settings -H "Authorization: Bearer <TOKEN>" '
        f"-H \"Content-Type: application/json\" -d '{json.dumps(cuerpo)}'"
    )


def _gancho_valido(gancho: dict[str, Any], claves: list[str], url: str = "") -> bool:
    cabeceras = gancho.get("headers") if isinstance(gancho.get("headers"), dict) else {}
    try:
        webhooks.verificar(cabeceras, claves)
    except WebhookRechazado:
        return False
    if url and str(gancho.get("url") or "").rstrip("/") != url.rstrip("/"):
        return False
    eventos = {str(e.get("type")) for e in gancho.get("events") or [] if isinstance(e, dict)}
    return {"messages", "statuses"} <= eventos or not gancho.get("events")
