"""The Meta WhatsApp Cloud API backend (Graph API), the default provider.

Payloads (the ``messages`` endpoint's shapes) are built in :mod:`.payloads`; documents are
uploaded once through the Media API and reused by content hash while their id lives.
Errors are read from Graph's ``{"error": {...}}`` body and classified in :mod:`.errors`.
Webhooks (signature, handshake, parsing) are read in :mod:`.webhooks`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ...events import Evento, EventoPlantilla
from ...exceptions import (
    AmbiguousError,
    MediaDemasiadoGrande,
    ProviderError,
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
from ..base import BaseBackend, MediaCache, Option, PlantillaRemota, Resultado, WebhookRequest
from ..http import HttpBackend, revisar_ritmo, revisar_timeout, revisar_token, revisar_url
from . import errors, payloads, templates, webhooks
from .admin import MetaAdminMixin

logger = logging.getLogger(__name__)

GRAPH_URL = "https://graph.facebook.com"
API_VERSION = "v25.0"
# "v25.0"; the "v" may be left out ("25.0"), as in App Dashboard's version picker.
_VERSION_RE = re.compile(r"v?\d{1,3}\.\d{1,2}")


def revisar_version(valor: Any) -> str | None:
    """Check of the ``API_VERSION`` option: text like ``v25.0``."""
    if isinstance(valor, str) and _VERSION_RE.fullmatch(valor):
        return None
    return gettext("debe ser una versión de la Graph API como 'v25.0' (texto), no %(valor)s.") % {
        "valor": repr(valor)
    }


def revisar_secretos(valor: Any) -> str | None:
    """Check of the ``APP_SECRET`` option, without quoting it: text, or a list of texts."""
    if isinstance(valor, str):
        return None
    if isinstance(valor, list | tuple) and all(isinstance(v, str) for v in valor):
        return None
    return gettext(
        "debe ser texto, o una lista de textos mientras cambias la clave (la nueva y la "
        "anterior); su valor no se muestra."
    )


class MetaBackend(MetaAdminMixin, HttpBackend):
    """Sends through ``POST /{API_VERSION}/{PHONE_NUMBER_ID}/messages``."""

    botones_de_plantilla = True
    encabezado_de_plantilla = True
    adjunto_de_botones = True
    capabilities = frozenset(
        {"download_media", "list_templates", "mark_read", "typing", "check_subscription"}
    )

    OPTIONS = {
        "PHONE_NUMBER_ID": Option(
            required=True,
            help=_(
                "el identificador del número (no el teléfono): App Dashboard › WhatsApp › "
                "Configuración de la API › «Identificador del número de teléfono»."
            ),
        ),
        "ACCESS_TOKEN": Option(
            required=True,
            secret=True,
            check=revisar_token,
            help=_(
                "token permanente de un usuario del sistema con el permiso "
                "whatsapp_business_messaging: Configuración del negocio › Usuarios del sistema › "
                "Generar token (el token temporal de App Dashboard › WhatsApp › Configuración de "
                "la API caduca en 24 horas)."
            ),
        ),
        "APP_SECRET": Option(
            secret=True,
            check=revisar_secretos,
            help=_(
                "clave secreta de la app, para verificar la firma de los webhooks: "
                "App Dashboard › Configuración de la app › Básica › «Clave secreta de la app» "
                "(una lista con la nueva y la anterior mientras la cambias)."
            ),
        ),
        "VERIFY_TOKEN": Option(
            secret=True,
            help=_(
                "texto que eliges y escribes también en App Dashboard › WhatsApp › "
                "Configuración › Webhook › «Token de verificación»."
            ),
        ),
        "BUSINESS_ACCOUNT_ID": Option(
            help=_(
                "identificador de la cuenta de WhatsApp Business (WABA): App Dashboard › "
                "WhatsApp › Configuración de la API › «Identificador de la cuenta de WhatsApp "
                "Business»."
            ),
        ),
        "API_VERSION": Option(
            default=API_VERSION,
            check=revisar_version,
            help=_(
                "versión de la Graph API (p. ej. v25.0); la de tu app está en App Dashboard › "
                "Configuración de la app › Avanzada › «Actualizar versión de la API»."
            ),
        ),
        "RATE_LIMIT": Option(
            check=revisar_ritmo,
            help=_(
                "ritmo de envío de este número ('1000/s' en un número con más capacidad); "
                "sin él, el RATE_LIMIT global (80/s, el de Meta por número)."
            ),
        ),
        "BASE_URL": Option(
            default=GRAPH_URL,
            check=revisar_url,
            help=_(
                "raíz de la Graph API, la de los ejemplos de App Dashboard › WhatsApp › "
                "Configuración de la API; cámbiala solo para usar un sandbox local."
            ),
        ),
        "TIMEOUT": Option(
            default=10,
            check=revisar_timeout,
            help=_(
                "segundos máximos de espera por cada respuesta de Meta (no aparece en App "
                "Dashboard; 10 es un buen valor)."
            ),
        ),
    }

    # -- HttpBackend hooks ------------------------------------------------------------

    def base_url(self) -> str:
        return str(self.options["BASE_URL"])

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.options['ACCESS_TOKEN']}"}

    def parse_error(self, response: requests.Response) -> ProviderError:
        """Classify Graph's ``{"error": {"code", "message", "error_data", ...}}`` body."""
        return errors.de_respuesta(response) or super().parse_error(response)

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
        """A Graph code decides (:func:`.errors.classify`); without one, the HTTP status."""
        return errors.classify(
            code, http_status=http_status, detail=detail, message=message, trace_id=trace_id
        )

    def describe_error(self, code: int | None, detail: str = "") -> str:
        """Meta's Spanish sentence for a Graph code (:func:`.errors.describe_error`)."""
        return errors.describe_error(code, detail)

    # -- builders (shapes in .payloads) ------------------------------------------------

    def build_plantilla(self, salida: Salida, plantilla: Plantilla, media: MediaCache) -> dict:
        documento = None
        if plantilla.documento is not None:
            documento = self._documento(plantilla.documento, media)
        return payloads.plantilla(salida, plantilla, documento)

    def build_documento(self, salida: Salida, documento: Documento, media: MediaCache) -> dict:
        return payloads.documento(salida, self._documento(documento, media), documento.caption)

    def build_imagen(self, salida: Salida, imagen: Imagen, media: MediaCache) -> dict:
        return payloads.imagen(salida, self.media_id(imagen, media), imagen.caption)

    def build_texto(self, salida: Salida, texto: Texto, media: MediaCache) -> dict:
        return payloads.texto(salida, texto)

    def build_botones(self, salida: Salida, botones: Botones, media: MediaCache) -> dict:
        adjunto = self._documento(botones.adjunto, media) if botones.adjunto else None
        return payloads.botones(salida, botones, adjunto)

    def build_lista(self, salida: Salida, lista: Lista, media: MediaCache) -> dict:
        return payloads.lista(salida, lista)

    def build_ubicacion(self, salida: Salida, ubicacion: Ubicacion, media: MediaCache) -> dict:
        return payloads.ubicacion(salida, ubicacion)

    def build_reaccion(self, salida: Salida, reaccion: Reaccion, media: MediaCache) -> dict:
        return payloads.reaccion(salida, reaccion)

    # -- media ------------------------------------------------------------------------

    def _documento(self, documento: Documento, media: MediaCache) -> dict[str, Any]:
        return {"id": self.media_id(documento, media), "filename": documento.nombre}

    def media_id(self, documento: Documento, media: MediaCache) -> str:
        """The Media API id of ``documento``: from ``media`` or uploaded (once) now."""
        media_id = media.get(documento.sha256)
        if media_id is None:
            media_id = self.subir(documento)
            media.put(documento.sha256, media_id)
        return media_id

    def subir(self, documento: Documento) -> str:
        """Upload ``documento`` (``POST /{version}/{PHONE_NUMBER_ID}/media``); return its id.

        Raises:
            TransientError: also for a timeout, since an upload alone sends nothing and
                repeating it is harmless.
            ProviderError: Meta refused the file (131053: type, size or format).
        """
        archivo = {"file": (documento.nombre, bytes(documento.contenido), documento.mime)}
        datos = {"messaging_product": "whatsapp", "type": documento.mime}
        try:
            respuesta = self.request("POST", self.ruta("media"), files=archivo, data=datos)
        except AmbiguousError as exc:
            raise TransientError(str(exc), http_status=exc.http_status) from exc
        media_id = respuesta.get("id") if isinstance(respuesta, dict) else None
        if not media_id:
            raise TransientError("Meta no devolvió el id del archivo subido.", http_status=200)
        logger.info("Documento %s subido a Meta (%s)", documento.sha256[:12], media_id)
        return str(media_id)

    # -- delivery and operations ---------------------------------------------------------

    def deliver(self, salida: Salida, payload: Any) -> Resultado:
        """POST the message; return its wamid and the wa_id Meta reports.

        Raises:
            AmbiguousError: a 200 without ``messages[0].id`` (see :func:`.payloads.resultado`).
            ProviderError: as :meth:`HttpBackend.request`.
        """
        return payloads.resultado(self.request("POST", self.ruta("messages"), json=payload))

    def verify_credentials(self) -> str:
        """``"verified_name (display_phone_number)"`` of the number, if the token works."""
        campos = {"fields": "display_phone_number,verified_name"}
        datos = self.request("GET", self.ruta(), params=campos)
        datos = datos if isinstance(datos, dict) else {}
        return f"{datos.get('verified_name', '')} ({datos.get('display_phone_number', '')})"

    def list_templates(self, *, limite: int = 100) -> list[PlantillaRemota]:
        """Every template of the account's WABA (:func:`.templates.plantilla_remota`).

        ``GET /{API_VERSION}/{BUSINESS_ACCOUNT_ID}/message_templates``, following the
        ``after`` cursor while Graph announces a next page; items that are not objects
        are dropped.

        Raises:
            ConfigurationError: no ``BUSINESS_ACCOUNT_ID``.
            ProviderError: as :meth:`HttpBackend.request`.
        """
        ruta = self.ruta_waba("message_templates")
        params: dict[str, Any] = {"fields": templates.CAMPOS_PLANTILLA, "limit": limite}
        objetos: list[dict[str, Any]] = []
        for _pagina in range(templates.MAX_PAGINAS_PLANTILLAS):
            pagina = self.request("GET", ruta, params=params)
            objetos += [p for p in templates.datos_pagina(pagina) if isinstance(p, dict)]
            cursor = templates.cursor_siguiente(pagina)
            if not cursor or cursor == params.get("after"):
                break
            params["after"] = cursor
        return [templates.plantilla_remota(objeto) for objeto in objetos]

    def ruta(self, *partes: str) -> str:
        """``/{API_VERSION}/{PHONE_NUMBER_ID}[/partes...]``."""
        return "/".join(["", self.version(), str(self.options["PHONE_NUMBER_ID"]), *partes])

    def version(self) -> str:
        """``API_VERSION`` with its ``v`` (``v25.0``)."""
        version = str(self.options["API_VERSION"])
        return version if version.startswith("v") else f"v{version}"

    def _secretos(self) -> list[str]:
        # APP_SECRET may be a list while rotating: each secret is scrubbed, not the list.
        return [*super()._secretos(), *webhooks.secretos(self.options.get("APP_SECRET"))]

    # -- webhooks ---------------------------------------------------------------------

    def verify_challenge(self, params: Mapping[str, str]) -> str:
        """``hub.challenge`` when ``hub.mode`` is subscribe and ``hub.verify_token`` matches.

        Raises:
            WebhookRechazado: anything else, or no ``VERIFY_TOKEN`` configured.
        """
        return webhooks.verificar_desafio(params, str(self.options["VERIFY_TOKEN"] or ""))

    def verify_request(self, request: WebhookRequest) -> None:
        """Check ``X-Hub-Signature-256`` on the raw bytes with each ``APP_SECRET``.

        Raises:
            WebhookRechazado: missing, malformed or wrong signature, or no ``APP_SECRET``.
        """
        claves = webhooks.secretos(self.options["APP_SECRET"])
        if not claves:
            logger.warning("Cuenta %s sin APP_SECRET: se rechazan sus webhooks", self.alias)
        try:
            webhooks.verificar_firma(request.body, request.headers, claves)
        except WebhookRechazado as exc:
            raise WebhookRechazado(f"Cuenta {self.alias!r}: {exc}") from None

    def parse_webhook(self, request: WebhookRequest) -> list[Evento]:
        """Every status, message, preference and error of the body (see ``webhooks``).

        Raises:
            WebhookMalformado: not JSON, or not a JSON object.
        """
        return webhooks.parse(request.body)

    def account_key(self, evento: Evento) -> str:
        """The phone number id of a message event; ``waba:<id>`` for a template's status.

        Meta posts every number of an app to the one callback URL.
        """
        if isinstance(evento, EventoPlantilla):
            return f"waba:{evento.waba_id}" if evento.waba_id else ""
        return evento.numero_id

    def account_keys(self) -> frozenset[str]:
        claves = {str(self.options["PHONE_NUMBER_ID"] or "")}
        if self.options["BUSINESS_ACCOUNT_ID"]:
            claves.add(f"waba:{self.options['BUSINESS_ACCOUNT_ID']}")
        return frozenset(clave for clave in claves if clave)

    def comparte_firma(self, otro: BaseBackend) -> bool:
        """True for any Meta account: Meta signs the whole body, its number ids included.

        An app's one callback URL receives every subscribed number's events, so the
        ``phone_number_id`` of a body whose signature checked out is Meta's word.
        """
        return isinstance(otro, MetaBackend)

    def mark_read(self, wamid: str) -> None:
        """Blue ticks on the inbound message ``wamid`` (and the earlier ones of its chat).

        Raises:
            ProviderError: as :meth:`HttpBackend.request` (131009 for an unknown wamid).
        """
        self._leido(payloads.leido(wamid))

    def typing(self, wamid: str) -> None:
        """Mark ``wamid`` read and show «escribiendo…» until the reply, for at most 25 s."""
        self._leido(payloads.leido(wamid, escribiendo=True))

    def _leido(self, cuerpo: dict) -> None:
        respuesta = self.request("POST", self.ruta("messages"), json=cuerpo)
        if not (isinstance(respuesta, dict) and respuesta.get("success") is True):
            raise TransientError("Meta no confirmó la marca de leído.", http_status=200)

    def download_media(self, media_id: str, *, max_bytes: int | None = None) -> tuple[bytes, str]:
        """The bytes and MIME type of an inbound media file.

        Asks ``GET /{API_VERSION}/{media_id}`` for a short-lived URL, then downloads it with
        the same bearer token.

        With ``max_bytes``, a file Meta says is larger (``file_size``) is not downloaded, and
        reading stops past the cap: a huge file is never held in memory.

        Raises:
            MediaDemasiadoGrande: larger than ``max_bytes``.
            PermanentError: the media is unknown or its URL expired (404).
            AuthError: the token is refused.
            TransientError: Meta could not be reached, or answered without a URL.
        """
        datos = self.request("GET", f"/{self.version()}/{quote(str(media_id), safe='')}")
        datos = datos if isinstance(datos, dict) else {}
        url = datos.get("url")
        if not isinstance(url, str) or not url:
            raise TransientError(
                f"Meta no devolvió la URL del archivo {media_id}.", http_status=200
            )
        tamano = _entero(datos.get("file_size"))
        if max_bytes is not None and tamano is not None and tamano > max_bytes:
            raise MediaDemasiadoGrande(_demasiado(tamano, max_bytes))
        respuesta = self._descargar(url, media_id, stream=max_bytes is not None)
        mime = datos.get("mime_type") or respuesta.headers.get("Content-Type", "")
        if max_bytes is None:
            return respuesta.content, str(mime)
        partes, leidos = [], 0
        with respuesta:
            for parte in respuesta.iter_content(64 * 1024):
                leidos += len(parte)
                if leidos > max_bytes:
                    raise MediaDemasiadoGrande(_demasiado(leidos, max_bytes, mas=True))
                partes.append(parte)
        return b"".join(partes), str(mime)

    def _descargar(self, url: str, media_id: str, *, stream: bool = False) -> requests.Response:
        donde = urlsplit(url).netloc or "Meta"
        try:
            respuesta = self.session.get(
                url, headers=self.auth_headers(), timeout=self.timeout, stream=stream
            )
        except requests.RequestException as exc:
            # Downloading twice is harmless: every failure before an answer is transient.
            mensaje = (
                f"No se pudo descargar el archivo {media_id} de {donde} ({type(exc).__name__})."
            )
            raise self._fallo_descarga(TransientError(mensaje), media_id) from exc
        if not respuesta.ok:
            mensaje = f"{donde} respondió HTTP {respuesta.status_code} al descargar {media_id}."
            error = self.classify(None, http_status=respuesta.status_code, message=mensaje)
            raise self._fallo_descarga(error, media_id)
        return respuesta

    def _fallo_descarga(self, error: ProviderError, media_id: str) -> ProviderError:
        # The URL is not logged: it is a short-lived credential of its own.
        error.args = tuple(self.scrub(str(arg)) for arg in error.args)
        logger.warning(
            "%s descarga del archivo %s falló: %s (HTTP %s)",
            self.alias,
            media_id,
            type(error).__name__,
            error.http_status,
        )
        return error


def _entero(valor) -> int | None:
    """``valor`` as a non-negative int (Graph sends sizes as text), or None."""
    try:
        numero = int(str(valor))
    except (TypeError, ValueError):
        return None
    return numero if numero >= 0 else None


def _demasiado(tamano: int, maximo: int, *, mas: bool = False) -> str:
    return (
        f"El archivo pesa {'más de ' if mas else ''}{tamano / 1024 / 1024:.1f} MB y "
        f"MEDIA_MAX_BYTES admite {maximo / 1024 / 1024:.1f} MB: no se guardó."
    )
