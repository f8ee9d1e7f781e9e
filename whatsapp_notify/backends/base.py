"""The backend contract: what every provider (Meta, Twilio, WHAPI, test backends) fills in.

The send path is fixed here (:meth:`BaseBackend.send` dispatches on the content type); a
provider implements the ``build_*`` hooks it supports and :meth:`BaseBackend.deliver`. A
content type a provider does not support raises :class:`UnsupportedContent` instead of
being dropped. Backends never import models: the media cache is handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl

from django.utils.translation import gettext

from ..events import Evento
from ..exceptions import (
    ConfigurationError,
    MessageError,
    ProviderError,
    WebhookMalformado,
    WebhookRechazado,
    classify,
    describe_error,
)
from ..messages import (
    Botones,
    Contenido,
    Documento,
    Imagen,
    Lista,
    Plantilla,
    Reaccion,
    Salida,
    Texto,
    Ubicacion,
)


class UnsupportedContent(MessageError):
    """The backend cannot send this content, or a feature inside it (a header document).

    Raised at the call, when the envío is recorded, or at delivery: never a silent downgrade.
    """


class UnsupportedCapability(MessageError, NotImplementedError):
    """The backend does not offer an optional capability (download media, list templates...)."""


#: The optional capabilities a backend may offer; each is a method of :class:`BaseBackend`
#: whose default raises :class:`UnsupportedCapability`. ``capabilities`` lists those it offers.
CAPABILITIES = frozenset(
    {"download_media", "list_templates", "mark_read", "typing", "check_subscription", "fetch_price"}
)


@dataclass(frozen=True)
class WebhookRequest:
    """One webhook request, as a provider needs it to verify and read it.

    Built by the webhook view from the HTTP request, and from a stored ``EventoWebhook``
    (``body`` and ``query`` only) when a body is processed again.

    Attributes:
        body: the raw body bytes, untouched (Meta signs them).
        headers: the request headers, looked up case-insensitively.
        url: the public URL the provider called: the account's ``WEBHOOK_URL`` option when
            set (a proxy or TLS terminator changes what the app sees), else the request's
            absolute URL. Twilio signs it.
        query: the query-string parameters.
    """

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    query: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def form(self) -> list[tuple[str, str]]:
        """The body read as ``application/x-www-form-urlencoded`` pairs, in body order.

        Repeated keys are kept (Twilio signs each value). A body that is not valid UTF-8
        or not form-encoded gives what ``parse_qsl`` can read of it.
        """
        try:
            texto = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WebhookMalformado("El cuerpo del webhook no es UTF-8.") from exc
        return parse_qsl(texto, keep_blank_values=True)

    def header(self, nombre: str) -> str | None:
        """The header ``nombre`` (any case), or None."""
        valor = self.headers.get(nombre)
        if valor is not None:
            return valor
        buscado = nombre.lower()
        return next((v for k, v in self.headers.items() if k.lower() == buscado), None)


@dataclass(frozen=True)
class Option:
    """One entry of a backend's ``OPTIONS``.

    ``check`` validates a value the host gave (None means "use the default" and is not
    checked). It returns what is wrong as the rest of a sentence that starts with the
    option's exact key (``"debe ser un número mayor que cero, no 'diez'."``), or None when
    the value is fine. The check of a ``secret`` option never quotes the value.
    """

    required: bool = False
    default: Any = None
    secret: bool = False
    help: str = ""
    check: Callable[[Any], str | None] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Resultado:
    """What the provider answered for an accepted message."""

    id: str
    wa_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class PrecioReportado:
    """What the provider says it charged for one message: ``monto`` (as it wrote it, a
    text) in ``moneda`` (ISO 4217)."""

    monto: str
    moneda: str


@dataclass(frozen=True)
class PlantillaRemota:
    """One template as a provider lists it (:meth:`BaseBackend.list_templates`).

    The catalog (``Plantilla`` rows) stores these fields; a provider reads its own listing
    into them, so the catalog never reads a provider's shapes.

    Attributes:
        nombre, idioma: the template's name and language (``es_MX`` form).
        estado: ``APPROVED``, ``PENDING``, ``REJECTED``, ``PAUSED``, ``DISABLED``...
        proveedor_id: the provider's id of it (Meta's template id, Twilio's ``HX…`` SID).
        formato_parametros: ``POSITIONAL`` ({{1}}...) or ``NAMED`` ({{nombre}}...).
        parametros_cuerpo, nombres_parametros: how many body parameters a send needs, and
            their names when named.
        formato_encabezado: ``TEXT``, ``DOCUMENT``, ``IMAGE``... or "" without a header.
        cuerpo: the body text with its placeholders (rendered where the provider has no
            templates).
        componentes: the provider's own description, kept as given.
        motivo: why it was rejected or paused, as the provider says.
    """

    nombre: str
    idioma: str
    estado: str = ""
    categoria: str = ""
    proveedor_id: str = ""
    formato_parametros: str = "POSITIONAL"
    parametros_cuerpo: int = 0
    nombres_parametros: tuple[str, ...] = ()
    formato_encabezado: str = ""
    cuerpo: str = ""
    componentes: list[Any] = field(default_factory=list, repr=False)
    motivo: str = ""


class MediaCache(Protocol):
    """Where a backend keeps uploaded media ids, by content hash (``delivery`` provides one)."""

    def get(self, sha256: str) -> str | None: ...

    def put(self, sha256: str, media_id: str) -> None: ...


class NoMediaCache:
    """A cache that remembers nothing (every document is uploaded)."""

    def get(self, sha256: str) -> str | None:
        return None

    def put(self, sha256: str, media_id: str) -> None:
        return None


class BaseBackend:
    """Base class of every backend.

    Subclasses declare ``OPTIONS`` and implement the hooks they support. Instances are
    created by the registry (``whatsapp_notify.backends.backends[alias]``), once per
    worker thread, so a backend can keep a connection pool.
    """

    OPTIONS: ClassVar[dict[str, Option]] = {}

    #: How long after a customer's last message free-form content (text, documents) may be
    #: sent; None when the provider has no such window (WHAPI: any time).
    ventana: ClassVar[timedelta | None] = timedelta(hours=24)

    #: The account's pace when the provider advises one of its own (``"40/h"``); None: the
    #: global ``RATE_LIMIT`` applies. See :meth:`rate_limit`.
    DEFAULT_RATE_LIMIT: ClassVar[str | None] = None

    #: True when the provider has no templates and the backend renders their body text
    #: itself: delivery then hands it the catalog's body in ``Plantilla.cuerpo``.
    renderiza_plantillas: ClassVar[bool] = False

    def __init__(self, alias: str = "default", **options: Any):
        self.alias = alias
        self.options = self.resolve_options(alias, options)
        # A missing credential does not stop the backend from being built: the webhook
        # (handshake, signature) needs only its own secrets, and a fresh project registers
        # it before Meta hands out the token. Only talking to the provider needs them.
        self.faltan = tuple(self.missing_options(alias, options))

    @classmethod
    def resolve_options(cls, alias: str, options: dict[str, Any]) -> dict[str, Any]:
        """Validate ``OPTIONS`` of an alias and fill in defaults.

        A required option that is missing is not an error here (see
        :meth:`exigir_credenciales`).

        Raises:
            ConfigurationError: an unknown option or a malformed value, naming the key.
        """
        for problem in cls.invalid_options(alias, options):
            raise ConfigurationError(problem)
        # None stands for "not set" (e.g. an unset environment variable): the default applies.
        return {
            name: spec.default if options.get(name) is None else options[name]
            for name, spec in cls.OPTIONS.items()
        }

    def exigir_credenciales(self) -> None:
        """Refuse to talk to the provider while a required option (a credential) is missing.

        Called before anything is sent or verified (:meth:`send`, :meth:`verify_credentials`,
        every request of an HTTP backend). Delivery turns the error into a paused account.

        Raises:
            ConfigurationError: naming the first missing key and where to find its value.
        """
        if self.faltan:
            raise ConfigurationError(self.faltan[0])

    @classmethod
    def invalid_options(cls, alias: str, options: dict[str, Any]) -> list[str]:
        """Unknown options and malformed values (a token with spaces, a bad ``TIMEOUT``)."""
        where = _where(alias)
        validas = ", ".join(sorted(cls.OPTIONS)) or gettext("(ninguna)")
        problems = [
            gettext("%(donde)s no admite la opción %(opcion)s; opciones de %(clase)s: %(validas)s.")
            % {"donde": where, "opcion": repr(name), "clase": cls.__name__, "validas": validas}
            for name in options
            if name not in cls.OPTIONS
        ]
        return problems + cls._value_problems(where, options)

    @classmethod
    def missing_options(cls, alias: str, options: dict[str, Any]) -> list[str]:
        """Required options (credentials) absent, None or empty, each with where to find it.

        A fresh project has none yet: the system checks warn (error under ``--deploy``)
        and the account pauses at send time instead of failing its envíos.
        """
        return [cls.falta(alias, name) for name in cls.missing_option_names(options)]

    @classmethod
    def missing_option_names(cls, options: dict[str, Any]) -> list[str]:
        """The keys of the required options absent, None or empty, in declaration order."""
        return [
            name
            for name, spec in cls.OPTIONS.items()
            if spec.required and options.get(name) in (None, "")
        ]

    @classmethod
    def option_warnings(cls, alias: str, options: dict[str, Any]) -> list[str]:
        """Settings that work but limit the account (the system checks warn, W002).

        The default has none; a provider names what its account will not do as configured
        (Twilio without ``WEBHOOK_URL`` receives no statuses).
        """
        return []

    @classmethod
    def falta(cls, alias: str, name: str) -> str:
        """The sentence saying option ``name`` of ``alias`` is missing, and where to find it."""
        spec = cls.OPTIONS[name]
        clave = f'{_where(alias)}["{name}"]'
        if not spec.help:
            return gettext("Falta %(clave)s.") % {"clave": clave}
        return gettext("Falta %(clave)s: %(ayuda)s") % {"clave": clave, "ayuda": spec.help}

    @classmethod
    def _value_problems(cls, where: str, options: dict[str, Any]) -> list[str]:
        problems = []
        for name, value in options.items():
            spec = cls.OPTIONS.get(name)
            if spec is None or spec.check is None or value is None:
                continue
            if spec.required and value == "":
                continue  # already reported as missing
            if problem := spec.check(value):
                problems.append(f'{where}["{name}"] {problem}')
        return problems

    # -- the send path --------------------------------------------------------------

    def send(self, salida: Salida, *, media: MediaCache | None = None) -> Resultado:
        """Send one message and return the provider's answer.

        Raises:
            ProviderError: a classified provider or transport error (see ``exceptions``).
            UnsupportedContent: this backend cannot send that content.
            ConfigurationError: a required option (a credential) is missing.
        """
        self.exigir_credenciales()
        payload = self.build_payload(salida, media if media is not None else NoMediaCache())
        return self.deliver(salida, payload)

    def admite(self, contenido: Contenido) -> None:
        """Raise now what delivery would refuse for ``contenido``, so the caller hears it.

        Called when an interactive message is recorded: its payload needs no upload and
        no recipient, so building it for a placeholder proves whether this backend can
        send it. Other contents (and anything of another kind) are checked at delivery.

        Raises:
            UnsupportedContent: this backend cannot send it (the same sentence delivery
                would record).
        """
        if isinstance(contenido, Botones | Lista | Ubicacion | Reaccion):
            if isinstance(contenido, Botones) and contenido.adjunto is not None:
                self.admite_adjunto_de_botones()
                contenido = replace(contenido, adjunto=None)  # nothing uploaded for a probe
            # A reaction is on a message: any wamid will do for the probe.
            probe = Salida("0", contenido, referencia="", responde_a="wamid.0")
            self.build_payload(probe, NoMediaCache())
        elif isinstance(contenido, Plantilla):
            if contenido.botones:
                self.admite_botones_de_plantilla()
            if contenido.encabezado:
                self.admite_encabezado_de_plantilla()

    #: Whether this backend sends template button parameters (``Plantilla.botones``).
    botones_de_plantilla: ClassVar[bool] = False

    def admite_botones_de_plantilla(self) -> None:
        """Raise :class:`UnsupportedContent` unless this backend sends template buttons'
        parameters; a backend says why with :meth:`sin_botones_de_plantilla`."""
        if not self.botones_de_plantilla:
            raise UnsupportedContent(self.sin_botones_de_plantilla())

    def sin_botones_de_plantilla(self) -> str:
        return f"{type(self).__name__} no envía parámetros de botones de plantilla."

    #: Whether this backend sends reply buttons with a media header (``Botones.adjunto``).
    adjunto_de_botones: ClassVar[bool] = False

    def admite_adjunto_de_botones(self) -> None:
        if not self.adjunto_de_botones:
            raise UnsupportedContent(
                f"{type(self).__name__} no envía botones con imagen, video o documento de "
                "encabezado: usa encabezado= (texto), o manda el archivo aparte."
            )

    #: Whether this backend sends a template's text header parameter (``encabezado``).
    encabezado_de_plantilla: ClassVar[bool] = False

    def admite_encabezado_de_plantilla(self) -> None:
        if not self.encabezado_de_plantilla:
            raise UnsupportedContent(
                f"{type(self).__name__} no envía el parámetro del encabezado de una plantilla."
            )

    def build_payload(self, salida: Salida, media: MediaCache) -> Any:
        builder = self._builders().get(type(salida.contenido))
        if builder is None:
            raise UnsupportedContent(f"Contenido desconocido: {type(salida.contenido).__name__}.")
        return builder(salida, salida.contenido, media)

    def _builders(self) -> dict[type[Contenido], Any]:
        return {
            Plantilla: self.build_plantilla,
            Documento: self.build_documento,
            Imagen: self.build_imagen,
            Texto: self.build_texto,
            Botones: self.build_botones,
            Lista: self.build_lista,
            Ubicacion: self.build_ubicacion,
            Reaccion: self.build_reaccion,
        }

    def build_plantilla(self, salida: Salida, plantilla: Plantilla, media: MediaCache) -> Any:
        raise self.unsupported("plantillas")

    def build_documento(self, salida: Salida, documento: Documento, media: MediaCache) -> Any:
        raise self.unsupported("documentos")

    def build_imagen(self, salida: Salida, imagen: Imagen, media: MediaCache) -> Any:
        raise self.unsupported("imágenes")

    def build_texto(self, salida: Salida, texto: Texto, media: MediaCache) -> Any:
        raise self.unsupported("texto")

    def build_botones(self, salida: Salida, botones: Botones, media: MediaCache) -> Any:
        raise self.unsupported("botones")

    def build_lista(self, salida: Salida, lista: Lista, media: MediaCache) -> Any:
        raise self.unsupported("listas")

    def build_ubicacion(self, salida: Salida, ubicacion: Ubicacion, media: MediaCache) -> Any:
        raise self.unsupported("ubicaciones")

    def build_reaccion(self, salida: Salida, reaccion: Reaccion, media: MediaCache) -> Any:
        raise self.unsupported("reacciones")

    def deliver(self, salida: Salida, payload: Any) -> Resultado:
        """Hand the built payload to the provider."""
        raise NotImplementedError

    def unsupported(self, que: str) -> UnsupportedContent:
        return UnsupportedContent(f"{type(self).__name__} no puede enviar {que}.")

    # -- operations -----------------------------------------------------------------

    def rate_limit(self) -> str | None:
        """This account's rate (``"40/h"``), or None for the global ``RATE_LIMIT``.

        The account's own ``RATE_LIMIT`` option when the backend declares one and it is
        set, else the backend's :attr:`DEFAULT_RATE_LIMIT`.
        """
        return self.options.get("RATE_LIMIT") or self.DEFAULT_RATE_LIMIT

    def verify_credentials(self) -> str:
        """Check the credentials against the provider; return a short description.

        Used to resume a paused account. Test backends always succeed.

        Raises:
            AuthError: the credentials are still refused.
            TransientError: the provider could not be reached.
            ConfigurationError: a required option is still missing.
        """
        self.exigir_credenciales()
        return type(self).__name__

    # -- webhooks -------------------------------------------------------------------

    def verify_challenge(self, params: Mapping[str, str]) -> str:
        """Answer the provider's subscription handshake (a GET with query ``params``).

        Returns:
            The challenge to echo back as the ``text/plain`` body.

        Raises:
            WebhookRechazado: wrong mode or token, or this backend receives no webhooks.
        """
        raise WebhookRechazado(f"{type(self).__name__} no recibe webhooks.")

    def verify_request(self, request: WebhookRequest) -> None:
        """Check that ``request`` comes from the provider, before its body is read or stored.

        Meta signs the raw body, Twilio the public URL plus the form parameters, WHAPI sends
        a secret header; every secret is compared in constant time.

        Raises:
            WebhookRechazado: missing or wrong signature or secret, no secret configured, or
                this backend receives no webhooks.
        """
        raise WebhookRechazado(f"{type(self).__name__} no recibe webhooks.")

    def parse_webhook(self, request: WebhookRequest) -> list[Evento]:
        """Turn one verified webhook request into events: every status, message and notice.

        Only ``request.body`` and ``request.query`` may be read: a stored body is parsed
        again from those alone. Statuses carry the shared names of :mod:`..events`. A shape
        the backend does not understand becomes an ``EventoDesconocido`` (raw item kept);
        it never raises for one.

        Raises:
            WebhookMalformado: the body cannot be read at all (not JSON, not a form...).
        """
        raise NotImplementedError

    def account_key(self, evento: Evento) -> str:
        """The business account an event concerns, as this provider names it, or "".

        One webhook URL may receive the events of several accounts (a Meta app subscribed to
        many numbers). An event whose key is among another configured account's
        :meth:`account_keys` is applied to that account when :meth:`comparte_firma` says
        the request proves it; "" keeps the receiving one.
        """
        return ""

    def account_keys(self) -> frozenset[str]:
        """The keys :meth:`account_key` reports for this account's own events."""
        return frozenset()

    def comparte_firma(self, otro: BaseBackend) -> bool:
        """Whether a request this account verified is proof for ``otro``'s events too.

        An event is moved to another account only then: a body verified with this
        account's secret says nothing about an account that holds a different one. False
        by default (Twilio, WHAPI: each account signs its own webhook, and a body one
        account's secret verified may name any other); Meta signs the whole body for
        every number an app serves, and answers True for its own kind.
        """
        return False

    # -- error classification ------------------------------------------------------------

    def classify(
        self,
        code: int | None,
        *,
        http_status: int | None = None,
        detail: str = "",
        message: str = "",
        trace_id: str = "",
    ) -> ProviderError:
        """The shared error (transient, pair rate, permanent, auth) for a provider answer.

        A provider maps its own codes (its ``errors`` module); the default knows only HTTP.
        """
        return classify(
            code, http_status=http_status, detail=detail, message=message, trace_id=trace_id
        )

    def describe_error(self, code: int | None, detail: str = "") -> str:
        """A readable sentence, in the active language, for a stored ``error_codigo`` and
        the provider's words (``error_text``); the default is ``"(#code) detail"``."""
        return describe_error(code, detail)

    def revisa_opcion(self, clave: str) -> str:
        """The fix that points at option ``clave`` of this account: where it is set and, when
        the option has one, its help (in the active language)."""
        donde = f'WHATSAPP_NOTIFY["BACKENDS"]["{self.alias}"]["OPTIONS"]'
        spec = type(self).OPTIONS.get(clave)
        if spec is None:
            return gettext("revisa las credenciales en %(donde)s.") % {"donde": donde}
        if not spec.help:
            return gettext("revisa %(donde)s.") % {"donde": donde}
        return gettext("revisa %(donde)s: %(ayuda)s") % {
            "donde": f'{donde}["{clave}"]',
            "ayuda": spec.help,
        }

    # -- optional capabilities -----------------------------------------------------------

    #: The optional capabilities (names in :data:`CAPABILITIES`) this backend offers.
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def supports(self, capability: str) -> bool:
        """True when this backend offers ``capability`` (one of :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"Capacidad desconocida {capability!r}: {sorted(CAPABILITIES)}.")
        return capability in self.capabilities

    def download_media(self, media_id: str, *, max_bytes: int | None = None) -> tuple[bytes, str]:
        """The bytes and MIME type of an inbound media file; a backend that can tell a file
        is larger than ``max_bytes`` before holding it all raises ``MediaDemasiadoGrande``
        (the caller checks the size again in any case)."""
        raise self.no_capability("descargar archivos recibidos")

    def list_templates(self, *, limite: int = 100) -> list[PlantillaRemota]:
        """Every template of the account, read into the shared shape the catalog stores."""
        raise self.no_capability("listar plantillas")

    def mark_read(self, wamid: str) -> None:
        """Mark an inbound message as read (blue ticks)."""
        raise self.no_capability("marcar mensajes como leídos")

    def typing(self, wamid: str) -> None:
        """Show the typing indicator in answer to an inbound message."""
        raise self.no_capability("mostrar «escribiendo…»")

    def check_subscription(self, url: str = "") -> str:
        """Check that the provider will call this account's webhook; return a description.

        ``url`` is the public webhook URL the operator expects, when known: a provider that
        records where it posts compares the two.

        Raises:
            SuscripcionError: it will not (nothing subscribed, another URL), with the fix;
                ``aviso`` when it cannot be checked (an optional setting is missing).
            ProviderError: the provider could not be asked.
        """
        raise self.no_capability("revisar la suscripción del webhook")

    def fetch_price(self, wamid: str) -> PrecioReportado | None:
        """The price the provider charged for the message ``wamid``; None while it has not
        priced it yet (a provider prices a message some time after its delivery).

        Raises:
            ProviderError: the provider could not be asked, or does not know the message.
        """
        raise self.no_capability("consultar el precio de un mensaje")

    def no_capability(self, que: str) -> UnsupportedCapability:
        return UnsupportedCapability(f"{type(self).__name__} no puede {que}.")

    def close(self) -> None:
        """Release connections (called when settings change)."""


def _where(alias: str) -> str:
    return f'WHATSAPP_NOTIFY["BACKENDS"]["{alias}"]["OPTIONS"]'


class PassThroughBackend(BaseBackend):
    """A backend whose payload is the message value object itself.

    For backends that never leave the process (tests, development): ``deliver`` receives
    the :class:`Plantilla`, :class:`Documento`, :class:`Texto`... unchanged, and nothing is
    uploaded, so the media cache is not used.
    """

    botones_de_plantilla = True
    encabezado_de_plantilla = True
    adjunto_de_botones = True

    def build_plantilla(self, salida: Salida, plantilla: Plantilla, media: MediaCache) -> Any:
        return plantilla

    def build_documento(self, salida: Salida, documento: Documento, media: MediaCache) -> Any:
        return documento

    def build_imagen(self, salida: Salida, imagen: Imagen, media: MediaCache) -> Any:
        return imagen

    def build_texto(self, salida: Salida, texto: Texto, media: MediaCache) -> Any:
        return texto

    def build_botones(self, salida: Salida, botones: Botones, media: MediaCache) -> Any:
        return botones

    def build_lista(self, salida: Salida, lista: Lista, media: MediaCache) -> Any:
        return lista

    def build_ubicacion(self, salida: Salida, ubicacion: Ubicacion, media: MediaCache) -> Any:
        return ubicacion

    def build_reaccion(self, salida: Salida, reaccion: Reaccion, media: MediaCache) -> Any:
        return reaccion
