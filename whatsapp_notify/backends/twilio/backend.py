"""The Twilio WhatsApp backend (Programmable Messaging: the Messages API).

Sends with ``POST /2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json`` (form-encoded, HTTP
Basic with the Account SID and Auth Token, or an API key). Templates are Content
templates (``ContentSid`` + ``ContentVariables``); documents go as ``MediaUrl``, a link to
this app's own ``whatsapp/documento/<token>/`` view, since Twilio fetches media from a
public URL. Each message asks for its statuses at ``WEBHOOK_URL?ref=<reference>``.
Forms are built in :mod:`.payloads`, webhooks read in :mod:`.webhooks`, errors classified
in :mod:`.errors`, the Content API read in :mod:`.templates`.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ...events import Evento
from ...exceptions import ConfigurationError, ProviderError, TransientError, WebhookRechazado
from ...messages import Botones, Documento, Imagen, Lista, Plantilla, Salida, Texto, Ubicacion
from ...references import token_documento
from ..base import (
    MediaCache,
    Option,
    PlantillaRemota,
    PrecioReportado,
    Resultado,
    UnsupportedContent,
    WebhookRequest,
)
from ..http import HttpBackend, revisar_ritmo, revisar_timeout, revisar_token, revisar_url
from . import errors, payloads, templates, webhooks

logger = logging.getLogger(__name__)

API_URL = "https://api.twilio.com"
CONTENT_URL = "https://content.twilio.com"
API_VERSION = "2010-04-01"

_SID = {
    "ACCOUNT_SID": re.compile(r"AC[0-9a-fA-F]{32}"),
    "API_KEY_SID": re.compile(r"SK[0-9a-fA-F]{32}"),
    "MESSAGING_SERVICE_SID": re.compile(r"MG[0-9a-fA-F]{32}"),
}
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_REMITENTE = re.compile(r"(whatsapp:)?\+\d{6,15}")


def _revisar_sid(nombre: str) -> Callable[[Any], str | None]:
    prefijo = {"ACCOUNT_SID": "AC", "API_KEY_SID": "SK", "MESSAGING_SERVICE_SID": "MG"}[nombre]

    def revisar(valor: Any) -> str | None:
        if isinstance(valor, str) and _SID[nombre].fullmatch(valor):
            return None
        mensaje = gettext(
            "debe ser un SID de Twilio: %(prefijo)s seguido de 32 dígitos hexadecimales."
        )
        return mensaje % {"prefijo": prefijo}

    return revisar


def revisar_remitente(valor: Any) -> str | None:
    """Check of ``FROM``: ``whatsapp:+14155238886`` or ``+14155238886``."""
    if isinstance(valor, str) and _REMITENTE.fullmatch(valor.strip()):
        return None
    mensaje = gettext(
        "debe ser el número de WhatsApp de Twilio, como 'whatsapp:+14155238886', no %(valor)s."
    )
    return mensaje % {"valor": repr(valor)}


def revisar_content_sids(valor: Any) -> str | None:
    """Check of ``CONTENT_SIDS``: ``{"plantilla": "HX…"}`` or ``{"plantilla": {"es_MX": …}}``."""
    if not isinstance(valor, dict):
        mensaje = gettext("debe ser un dict {plantilla: 'HX…'}, no %(tipo)s.")
        return mensaje % {"tipo": type(valor).__name__}
    for plantilla, sid in valor.items():
        sids = sid.values() if isinstance(sid, dict) else [sid]
        if not all(isinstance(s, str) and _CONTENT_SID.fullmatch(s) for s in sids):
            return gettext(
                "tiene un Content SID inválido en %(plantilla)s: cada valor es 'HX' y 32 "
                "dígitos hexadecimales, o un dict {idioma: 'HX…'}."
            ) % {"plantilla": repr(plantilla)}
    return None


class TwilioBackend(HttpBackend):
    """Sends through Twilio's Messages API; receives its signed form webhooks."""

    capabilities = frozenset({"download_media", "list_templates", "fetch_price"})
    # Twilio's default for a WhatsApp sender: 10 text messages per second (more on request).
    DEFAULT_RATE_LIMIT = "10/s"

    OPTIONS = {
        "ACCOUNT_SID": Option(
            required=True,
            check=_revisar_sid("ACCOUNT_SID"),
            help=_("el Account SID (AC…): Twilio Console › Account Dashboard › «Account Info»."),
        ),
        "AUTH_TOKEN": Option(
            required=True,
            secret=True,
            check=revisar_token,
            help=_(
                "el Auth Token de la cuenta: Twilio Console › Account Dashboard › «Account "
                "Info». Firma los webhooks aunque envíes con una API key."
            ),
        ),
        "API_KEY_SID": Option(
            check=_revisar_sid("API_KEY_SID"),
            help=_(
                "SID de una API key (SK…) para autenticar los envíos en lugar del Auth "
                "Token: Twilio Console › Account › API keys & tokens."
            ),
        ),
        "API_KEY_SECRET": Option(
            secret=True,
            check=revisar_token,
            help=_("el secreto de esa API key (se muestra una sola vez al crearla)."),
        ),
        "FROM": Option(
            check=revisar_remitente,
            help=_(
                "el remitente de WhatsApp, como 'whatsapp:+14155238886': Twilio Console › "
                "Messaging › Senders › WhatsApp senders (o define MESSAGING_SERVICE_SID)."
            ),
        ),
        "MESSAGING_SERVICE_SID": Option(
            check=_revisar_sid("MESSAGING_SERVICE_SID"),
            help=_(
                "SID de un Messaging Service (MG…) con el remitente de WhatsApp, en lugar de "
                "FROM: Twilio Console › Messaging › Services."
            ),
        ),
        "CONTENT_SIDS": Option(
            default={},
            check=revisar_content_sids,
            help=_(
                "Content SID (HX…) de cada plantilla: {'plantilla': 'HX…'} o "
                "{'plantilla': {'es_MX': 'HX…'}}; Twilio Console › Messaging › Content Template "
                "Builder. Sin él se usa el del catálogo (manage.py whatsapp_sync_plantillas)."
            ),
        ),
        "WEBHOOK_URL": Option(
            check=revisar_url,
            help=_(
                "URL pública del webhook de esta cuenta, la misma que escribes en Twilio "
                "(https://tu-dominio/whatsapp/webhook/<cuenta>/): recibe los estados "
                "(StatusCallback), verifica la firma y sirve los documentos."
            ),
        ),
        "RATE_LIMIT": Option(
            check=revisar_ritmo,
            help=_(
                "ritmo de envío de esta cuenta (por omisión '10/s', el de un remitente de "
                "WhatsApp en Twilio; pide más a Twilio y súbelo aquí)."
            ),
        ),
        "BASE_URL": Option(
            default=API_URL,
            check=revisar_url,
            help=_("raíz de la API de Twilio; cámbiala solo para usar un sandbox local."),
        ),
        "CONTENT_BASE_URL": Option(
            default=CONTENT_URL,
            check=revisar_url,
            help=_("raíz de la Content API de Twilio; cámbiala solo para usar un sandbox local."),
        ),
        "TIMEOUT": Option(
            default=10,
            check=revisar_timeout,
            help=_(
                "segundos máximos de espera por cada respuesta de Twilio (10 es un buen valor)."
            ),
        ),
    }

    @classmethod
    def missing_option_names(cls, options: dict[str, Any]) -> list[str]:
        """The required options missing, plus ``FROM`` when no sender is given at all."""
        faltan = super().missing_option_names(options)
        if not options.get("FROM") and not options.get("MESSAGING_SERVICE_SID"):
            faltan.append("FROM")
        return faltan

    @classmethod
    def option_warnings(cls, alias: str, options: dict[str, Any]) -> list[str]:
        """Without ``WEBHOOK_URL`` no status reaches the app and documents cannot be sent."""
        if options.get("WEBHOOK_URL"):
            return []
        return [
            f'WHATSAPP_NOTIFY["BACKENDS"]["{alias}"]["OPTIONS"] no tiene WEBHOOK_URL: los '
            "mensajes se envían sin StatusCallback (ningún envío pasará de «enviado»), los "
            "documentos no se pueden enviar y la firma se verifica con la URL que ve Django."
        ]

    # -- HttpBackend hooks ------------------------------------------------------------

    def base_url(self) -> str:
        return str(self.options["BASE_URL"])

    def auth_headers(self) -> dict[str, str]:
        usuario, clave = self._credenciales()
        basico = base64.b64encode(f"{usuario}:{clave}".encode()).decode("ascii")
        return {"Authorization": f"Basic {basico}"}

    def _credenciales(self) -> tuple[str, str]:
        if self.options["API_KEY_SID"] and self.options["API_KEY_SECRET"]:
            return str(self.options["API_KEY_SID"]), str(self.options["API_KEY_SECRET"])
        return str(self.options["ACCOUNT_SID"]), str(self.options["AUTH_TOKEN"])

    def url(self, path: str) -> str:
        # The Content API lives on another host: its paths are handed in absolute.
        if path.startswith(("http://", "https://")):
            return path
        return super().url(path)

    def parse_error(self, response: requests.Response) -> ProviderError:
        """Classify Twilio's ``{"code", "message", "more_info", "status"}`` body."""
        return errors.de_respuesta(response) or super().parse_error(response)

    def _secretos(self) -> list[str]:
        secretos = super()._secretos()
        # The Basic header is the credentials in base64: scrubbed too if it ever shows up.
        if self.options["AUTH_TOKEN"] or self.options["API_KEY_SECRET"]:
            secretos.append(self.auth_headers()["Authorization"].removeprefix("Basic "))
        return secretos

    # -- error classification (the table is in .errors) ------------------------------------

    def classify(
        self,
        code: int | None,
        *,
        http_status: int | None = None,
        detail: str = "",
        message: str = "",
        trace_id: str = "",
    ) -> ProviderError:
        """A Twilio code decides (:func:`.errors.classify`); without one, the HTTP status."""
        return errors.classify(
            code, http_status=http_status, detail=detail, message=message, trace_id=trace_id
        )

    def describe_error(self, code: int | None, detail: str = "") -> str:
        """Twilio's Spanish sentence for its code (:func:`.errors.describe_error`)."""
        return errors.describe_error(code, detail)

    # -- builders (fields in .payloads) ------------------------------------------------

    def build_plantilla(
        self, salida: Salida, plantilla: Plantilla, media: MediaCache
    ) -> payloads.Formulario:
        if plantilla.botones:
            self.admite_botones_de_plantilla()
        if plantilla.encabezado:
            self.admite_encabezado_de_plantilla()
        sid = self.content_sid(plantilla)
        ruta = self._ruta_documento(salida, plantilla.documento) if plantilla.documento else ""
        variables = payloads.variables_de_contenido(plantilla.variables, ruta)
        return self._mensaje(salida, payloads.plantilla(sid, variables))

    def admite_encabezado_de_plantilla(self) -> None:
        raise UnsupportedContent(
            "Twilio no recibe el encabezado aparte: es parte de la plantilla de contenido. Si "
            "lleva una variable {{n}}, pásala en variables."
        )

    def sin_botones_de_plantilla(self) -> str:
        return (
            "Twilio no recibe botones por posición: son parte de la plantilla de contenido. "
            "Si la URL o el id de un botón lleva una variable {{n}}, pásala en variables."
        )

    def build_documento(
        self, salida: Salida, documento: Documento, media: MediaCache
    ) -> payloads.Formulario:
        if documento.caption:
            raise UnsupportedContent(
                "Twilio no envía pie (caption) con un documento de WhatsApp: envía el "
                "documento sin caption y el texto aparte con enviar_texto."
            )
        url = self.url_documento(salida, documento)
        return self._mensaje(salida, payloads.documento(url))

    def build_imagen(
        self, salida: Salida, imagen: Imagen, media: MediaCache
    ) -> payloads.Formulario:
        # Unlike a document's, an image's Body is shown as its caption.
        return self._mensaje(
            salida, payloads.imagen(self.url_documento(salida, imagen), imagen.caption)
        )

    def build_texto(self, salida: Salida, texto: Texto, media: MediaCache) -> payloads.Formulario:
        return self._mensaje(salida, payloads.texto(texto))

    def build_botones(self, salida: Salida, botones: Botones, media: MediaCache) -> Any:
        raise UnsupportedContent(
            "Twilio envía botones solo como plantilla de contenido: crea una plantilla "
            "twilio/quick-reply en el Content Template Builder y envíala con enviar_plantilla."
        )

    def build_lista(self, salida: Salida, lista: Lista, media: MediaCache) -> Any:
        raise UnsupportedContent(
            "Twilio envía listas solo como plantilla de contenido: crea una plantilla "
            "twilio/list-picker en el Content Template Builder y envíala con enviar_plantilla."
        )

    def build_ubicacion(self, salida: Salida, ubicacion: Ubicacion, media: MediaCache) -> Any:
        raise UnsupportedContent(
            "Twilio envía ubicaciones solo como plantilla de contenido: crea una plantilla "
            "twilio/location en el Content Template Builder y envíala con enviar_plantilla."
        )

    def _mensaje(self, salida: Salida, contenido: payloads.Formulario) -> payloads.Formulario:
        return payloads.mensaje(
            salida.telefono, self._remitente(), contenido, self._callback(salida)
        )

    def _remitente(self) -> payloads.Formulario:
        if self.options["FROM"]:
            return [("From", payloads.direccion(str(self.options["FROM"])))]
        return [("MessagingServiceSid", str(self.options["MESSAGING_SERVICE_SID"]))]

    def _callback(self, salida: Salida) -> str:
        webhook = self.options["WEBHOOK_URL"]
        return webhooks.callback(str(webhook), salida.referencia) if webhook else ""

    # -- templates ---------------------------------------------------------------------

    def content_sid(self, plantilla: Plantilla) -> str:
        """The Content SID of ``plantilla``: ``CONTENT_SIDS``, else the catalog's.

        ``CONTENT_SIDS`` maps a name to a SID, or to ``{idioma: SID}``; the catalog's SID
        is the one delivery hands in (``Plantilla.proveedor_id``) from a synced row.

        Raises:
            UnsupportedContent: neither knows the template (the envío fails with this
                sentence: it names both ways to fix it).
        """
        sid = self._sid_configurado(plantilla.nombre, plantilla.idioma) or plantilla.proveedor_id
        if not sid:
            raise UnsupportedContent(
                f"La cuenta {self.alias!r} no conoce el Content SID (HX…) de la plantilla "
                f"{plantilla.nombre!r} ({plantilla.idioma}): añádelo a OPTIONS['CONTENT_SIDS'] "
                "o sincroniza el catálogo con manage.py whatsapp_sync_plantillas."
            )
        return sid

    def _sid_configurado(self, nombre: str, idioma: str) -> str:
        valor = (self.options["CONTENT_SIDS"] or {}).get(nombre)
        if isinstance(valor, dict):
            return str(valor.get(idioma) or valor.get(idioma.split("_")[0]) or "")
        return str(valor or "")

    def list_templates(self, *, limite: int = templates.TAMANO_PAGINA) -> list[PlantillaRemota]:
        """Every content of the account with its WhatsApp approval (Content API).

        ``GET {CONTENT_BASE_URL}/v1/ContentAndApprovals``, following ``meta.next_page_url``.

        Raises:
            ProviderError: as :meth:`HttpBackend.request`.
        """
        raiz = str(self.options["CONTENT_BASE_URL"]).rstrip("/")
        ruta = f"{templates.RUTA_LISTADO}?PageSize={limite}"
        vistas: list[dict[str, Any]] = []
        for _pagina in range(templates.MAX_PAGINAS):
            pagina = self.request("GET", f"{raiz}{ruta}")
            vistas += templates.contenidos(pagina)
            siguiente = templates.siguiente(pagina)
            if not siguiente or siguiente == ruta:
                break
            ruta = siguiente
        return [templates.plantilla_remota(contenido) for contenido in vistas]

    # -- documents ---------------------------------------------------------------------

    def url_documento(self, salida: Salida, documento: Documento) -> str:
        """The public, expiring URL of ``documento`` that Twilio fetches (``MediaUrl``).

        Raises:
            UnsupportedContent: no ``WEBHOOK_URL``, no reference, or over Twilio's 16 MB.
        """
        raiz = self._raiz_publica()
        return f"{raiz}{self._prefijo_documentos()}{self._ruta_documento(salida, documento)}"

    def _ruta_documento(self, salida: Salida, documento: Documento) -> str:
        """``<token>/<name>``: the part of the document URL after ``whatsapp/documento/``.

        A template's media URL is ``https://<host>/whatsapp/documento/{{n}}``: this is the
        value of its variable. The URL ends with the file name (its type, as WhatsApp asks).
        """
        self._raiz_publica()
        if len(documento.contenido) > payloads.MAX_MEDIA_BYTES:
            raise UnsupportedContent(
                "Twilio envía documentos de hasta 16 MB por WhatsApp: reduce el archivo."
            )
        if not salida.referencia:
            raise UnsupportedContent(
                "Twilio descarga el documento de una URL de la app, que necesita la referencia "
                "del envío: envíalo con enviar_documento o enviar_plantilla."
            )
        token = token_documento(salida.referencia, documento.sha256)
        return f"{token}/{quote(documento.nombre, safe='')}"

    def _raiz_publica(self) -> str:
        webhook = self.options["WEBHOOK_URL"]
        if not webhook:
            raise UnsupportedContent(
                f"Los documentos por Twilio necesitan WEBHOOK_URL en la cuenta {self.alias!r}: "
                "Twilio descarga el archivo de una URL pública de esta app."
            )
        partes = urlsplit(str(webhook))
        return f"{partes.scheme}://{partes.netloc}"

    def _prefijo_documentos(self) -> str:
        try:
            return reverse("whatsapp_notify:documento", kwargs={"token": "T"}).removesuffix("T/")
        except NoReverseMatch:
            raise ConfigurationError(
                "Los documentos por Twilio necesitan las URLs de la app: añade "
                'path("whatsapp/", include("whatsapp_notify.urls")) a tu urls.py.'
            ) from None

    # -- delivery and operations ---------------------------------------------------------

    def deliver(self, salida: Salida, payload: Any) -> Resultado:
        """POST the form; return the message SID Twilio answers with.

        Raises:
            AmbiguousError: a 2xx without ``sid`` (see :func:`.payloads.resultado`).
            ProviderError: as :meth:`HttpBackend.request`.
        """
        return payloads.resultado(self.request("POST", self.ruta("Messages.json"), data=payload))

    def verify_credentials(self) -> str:
        """``"friendly_name (status)"`` of the account, if the credentials work."""
        datos = self.request("GET", self.ruta() + ".json")
        datos = datos if isinstance(datos, dict) else {}
        return f"{datos.get('friendly_name', '')} ({datos.get('status', '')})"

    def ruta(self, *partes: str) -> str:
        """``/2010-04-01/Accounts/{ACCOUNT_SID}[/partes...]``."""
        return "/".join(["", API_VERSION, "Accounts", str(self.options["ACCOUNT_SID"]), *partes])

    # -- webhooks ---------------------------------------------------------------------

    def verify_request(self, request: WebhookRequest) -> None:
        """Check ``X-Twilio-Signature`` with ``AUTH_TOKEN`` (:func:`.webhooks.verificar`).

        Raises:
            WebhookRechazado: missing or wrong signature, or no ``AUTH_TOKEN``.
        """
        try:
            webhooks.verificar(request, str(self.options["AUTH_TOKEN"] or ""))
        except WebhookRechazado as exc:
            raise WebhookRechazado(f"Cuenta {self.alias!r}: {exc}") from None

    def parse_webhook(self, request: WebhookRequest) -> list[Evento]:
        """The status or inbound message of a Twilio form body (:func:`.webhooks.parse`).

        Raises:
            WebhookMalformado: not UTF-8, or no form parameter at all.
        """
        return webhooks.parse(request)

    def account_key(self, evento: Evento) -> str:
        """The business number's digits (``From`` of a status, ``To`` of a message)."""
        return evento.numero_id

    def account_keys(self) -> frozenset[str]:
        remitente = webhooks.digitos(str(self.options["FROM"] or ""))
        return frozenset({remitente} if remitente else ())

    def fetch_price(self, wamid: str) -> PrecioReportado | None:
        """``price`` and ``price_unit`` of the Message resource ``wamid`` (its SID).

        Twilio's status callbacks carry no price: it is on the resource, filled in some time
        after the message is sent (null until then). Twilio writes a charge as a negative
        amount (``"-0.0085"``); it is passed on as written.

        Raises:
            ProviderError: as :meth:`HttpBackend.request` (404: no such message).
        """
        datos = self.request("GET", self.ruta("Messages", f"{quote(wamid, safe='')}.json"))
        datos = datos if isinstance(datos, dict) else {}
        precio, unidad = datos.get("price"), datos.get("price_unit")
        if precio in (None, "") or not unidad:
            return None
        return PrecioReportado(monto=str(precio), moneda=str(unidad))

    def download_media(self, media_id: str, *, max_bytes: int | None = None) -> tuple[bytes, str]:
        """The bytes and MIME type of an inbound media file (``MediaUrl0``).

        Twilio's media URLs need the account's Basic auth; they answer with a redirect to
        the file, which is followed (the credentials are not sent to the other host).

        Raises:
            PermanentError: the media is gone (404).
            AuthError: the credentials are refused.
            TransientError: Twilio could not be reached.
        """
        self.exigir_credenciales()
        url = media_id if media_id.startswith(("http://", "https://")) else self.ruta(media_id)
        try:
            respuesta = self._send("GET", url)
        except ProviderError as exc:
            raise TransientError(str(exc), http_status=exc.http_status) from exc
        if not respuesta.ok:
            raise self._fallo("GET", url, self.parse_error(respuesta))
        return respuesta.content, respuesta.headers.get("Content-Type", "")
