"""The one settings resolver: ``settings.WHATSAPP_NOTIFY`` merged over the defaults.

Settings are read lazily and cached until Django's ``setting_changed`` fires, so
``override_settings`` works in tests and nothing is frozen at import time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

SETTING_NAME = "WHATSAPP_NOTIFY"
MAX_SEGUNDOS = 100 * 365 * 24 * 3600  # a century: the longest duration setting that makes sense
DEFAULT_ALIAS = "default"
DEFAULT_BACKEND = "whatsapp_notify.backends.meta.MetaBackend"

DEFAULTS: dict[str, Any] = {
    "ENABLED": True,
    "BACKENDS": {DEFAULT_ALIAS: {"BACKEND": DEFAULT_BACKEND, "OPTIONS": {}}},
    "DEFAULT_REGION": "MX",
    "DEFAULT_LANGUAGE": "es_MX",
    "REQUIRE_CONSENT": True,
    "MAX_ATTEMPTS": 5,
    # Exponential backoff between attempts: RETRY_BACKOFF * 2**(n-1) seconds, capped, with jitter.
    "RETRY_BACKOFF": 30,
    "RETRY_BACKOFF_MAX": 3600,
    "RATE_LIMIT": "80/s",
    # One delivery task sends up to DELIVERY_BATCH due envíos of one account (claimed a
    # quarter second of its rate at a time) with up to DELIVERY_CONCURRENCY requests in
    # flight; rate limit × API latency is what must be in flight (80/s × 0.2 s = 16 per
    # number).
    "DELIVERY_BATCH": 500,
    "DELIVERY_CONCURRENCY": 64,
    "REDIS_URL": None,
    # A pendiente envío whose task was enqueued this long ago and never ran is re-dispatched.
    "REDISPATCH_AFTER": 300,
    # After an ambiguous timeout, wait this long for a status webhook before sending again.
    "RECONCILE_AFTER": 900,
    # While an account is paused by an auth error, its credentials are probed this often.
    "PAUSE_PROBE_EVERY": 300,
    # Celery queue for the delivery task (None: Celery's default queue).
    "TASK_QUEUE": None,
    # Webhooks: process inline (False) or hand each stored body to a Celery task (True);
    # None: a task when Celery has a broker (production), inline when it runs eagerly.
    "WEBHOOK_ASYNC": None,
    # Meta sends at most 3 MB per POST; larger bodies are refused with 413.
    "WEBHOOK_MAX_BYTES": 4 * 1024 * 1024,
    # Inbound words (case and accents ignored) that revoke or grant consent, every category.
    # Spanish, English and Portuguese stops; opt-ins stay few on purpose: «VOLTAR» or «SIM»
    # also answer a bot's menu, and a false opt-in is the unsafe side.
    "OPT_OUT_KEYWORDS": ("BAJA", "STOP", "CANCELAR", "PARAR", "SAIR"),
    "OPT_IN_KEYWORDS": ("ALTA", "START"),
    # A recordatorio whose time passed by at most this many seconds, when saved or when
    # delivered, still goes out; later it is omitido (vencido).
    "REMINDER_TOLERANCE": 300,
    # Envíos, webhook events and messages older than this many days are purged by Beat.
    "RETENTION_DAYS": 180,
    # E-mail ADMINS when, in the last FAILURE_WINDOW seconds, at least FAILURE_MIN_SENDS envíos
    # finished and the share of fallido ones reached FAILURE_THRESHOLD.
    "FAILURE_THRESHOLD": 0.2,
    "FAILURE_WINDOW": 3600,
    "FAILURE_MIN_SENDS": 20,
    # A conversation whose customer has not written for this many seconds starts over with
    # the next message: the handlers' context emptied, back to the bot.
    "CONVERSATION_EXPIRE_AFTER": 24 * 3600,
    # Human handoff. AGENTS: the people who answer when the bot cannot, each a dict with
    # "telefono" (their WhatsApp, notified and relayed to) and/or "usuario" (a Django
    # username, for the admin), and "nombre"; a bare string is a phone. A customer's message
    # with one of HANDOFF_KEYWORDS (whole words) passes the conversation to them; an agent's
    # message that is only one of HANDOFF_CLOSE_KEYWORDS gives it back to the bot, and so
    # does HANDOFF_TIMEOUT seconds without messages. HANDOFF_TEMPLATE (None: free text) is
    # the template that tells an agent, with variables [customer, phone, message].
    "AGENTS": (),
    "HANDOFF_KEYWORDS": ("HUMANO", "AGENTE", "ASESOR"),
    "HANDOFF_CLOSE_KEYWORDS": ("CERRAR",),
    "HANDOFF_TEMPLATE": None,
    "HANDOFF_REPLY": "Te comunicamos con una persona de nuestro equipo; te responderá por aquí.",
    "HANDOFF_TIMEOUT": 3600,
    # Inbound media a worker downloads into the storage of Mensaje.archivo, by message type
    # ("image", "document", "audio", "video", "sticker"); none by default. A file over
    # MEDIA_MAX_BYTES is not stored (descarga omitida).
    "MEDIA_DOWNLOAD": (),
    "MEDIA_MAX_BYTES": 20 * 1024 * 1024,
    # Dotted path of a callable(envio) -> str | None deciding per envío whether it may go out
    # (None: it may; a text: the reason it may not). None: everything may go out.
    "POLICY": None,
    # REST API (extra "api"): dotted paths of the DRF permission classes of every view (None:
    # Django's model permissions, view for reads), and each user's request rate ("600/m";
    # None: no throttle of the app's own, only REST_FRAMEWORK's).
    "API_PERMISSION_CLASSES": None,
    "API_THROTTLE_RATE": "600/m",
    # Costs (costs.py): per-message rates by ISO country and pricing category, laid over
    # Meta's shipped table when COST_CURRENCY is its currency (USD); in another currency
    # only these count. A dict {"MX": {"marketing": "0.0305", ...}} or its dotted path.
    "COST_RATES": None,
    "COST_CURRENCY": "USD",
    # Health endpoint (health.py, URL salud/): the oldest due pendiente envío may wait this
    # many seconds, and a stored webhook body wait this long for processing, before the
    # check fails (cola) or degrades (webhooks). HEALTH_TOKEN (a text, or a list to rotate):
    # a request with «Authorization: Bearer <token>» sees the details and the metrics;
    # None: only staff users do.
    "HEALTH_MAX_QUEUE_AGE": 900,
    "HEALTH_MAX_WEBHOOK_AGE": 300,
    "HEALTH_TOKEN": None,
}

# What each setting does, one sentence each, for the reference page the docs build renders
# from here (docs/_ext/whatsapp_docs.py), so the table can never drift from DEFAULTS; a test
# keeps the two key sets equal. Names in backticks that look like settings must be settings.
DESCRIPCIONES: dict[str, Promise] = {
    "ENABLED": _("`False`: nada se intenta y los envíos quedan `omitido` (`deshabilitado`)."),
    "BACKENDS": _(
        "Registro de cuentas, como `CACHES`: cada alias lleva su `BACKEND` y sus `OPTIONS`; "
        "la cuenta `default` es obligatoria."
    ),
    "DEFAULT_REGION": _("Región de los teléfonos escritos sin código de país."),
    "DEFAULT_LANGUAGE": _("Idioma de plantilla por omisión (`es_MX`, `en_US`, `fil`)."),
    "REQUIRE_CONSENT": _(
        "Sólo envía a teléfonos con `ConsentimientoCliente` otorgado para la categoría del "
        "envío; una baja explícita detiene los envíos siempre."
    ),
    "MAX_ATTEMPTS": _("Intentos de un envío ante errores temporales (un entero)."),
    "RETRY_BACKOFF": _(
        "Segundos de la primera espera entre intentos; se dobla en cada intento, con jitter."
    ),
    "RETRY_BACKOFF_MAX": _("Segundos: techo de la espera entre intentos."),
    "RATE_LIMIT": _(
        'Mensajes por cuenta (`"80/s"`, `"600/m"`, `None` para no limitar), espaciados '
        "`1/ritmo` y sin ráfagas, así que ningún segundo pasa del ritmo."
    ),
    "DELIVERY_BATCH": _(
        "Envíos de una cuenta que una tarea de envío toma como máximo (reclama lo que "
        "`RATE_LIMIT` deja salir en 0,25 s mientras los anteriores están en vuelo); si quedan "
        "más, pide el siguiente lote."
    ),
    "DELIVERY_CONCURRENCY": _(
        "Peticiones en vuelo a la vez por proceso del worker; hace falta ritmo × latencia "
        "(80/s × 0,2 s = 16)."
    ),
    "REDIS_URL": _(
        "Redis para el límite compartido entre workers, con la hora de Redis (los relojes de "
        "los workers no cuentan); sin él, el límite es por proceso."
    ),
    "REDISPATCH_AFTER": _(
        "Segundos tras los que Beat vuelve a encolar un envío `pendiente` cuya tarea se perdió."
    ),
    "RECONCILE_AFTER": _(
        "Segundos que un envío `incierto` (un timeout ambiguo) espera el webhook de estado "
        "antes de reenviarse."
    ),
    "PAUSE_PROBE_EVERY": _(
        "Segundos entre pruebas de las credenciales de una cuenta pausada por un error de "
        "autenticación."
    ),
    "TASK_QUEUE": _("Cola de Celery de las tareas de envío (`None`: la cola por omisión)."),
    "WEBHOOK_ASYNC": _(
        "`True`: el webhook guarda el cuerpo y lo procesa un worker; `False`: dentro de la "
        "petición; `None`: un worker si Celery tiene broker, la petición si corre *eager*."
    ),
    "WEBHOOK_MAX_BYTES": _("Bytes: un cuerpo de webhook mayor recibe 413 (Meta envía hasta 3 MB)."),
    "OPT_OUT_KEYWORDS": _(
        "Palabras entrantes (sin distinguir mayúsculas ni acentos) que revocan el "
        "consentimiento de todas las categorías."
    ),
    "OPT_IN_KEYWORDS": _(
        "Palabras entrantes que otorgan el consentimiento de todas las categorías; pocas a "
        "propósito, porque un alta falsa es el lado inseguro."
    ),
    "REMINDER_TOLERANCE": _(
        "Segundos de retraso con que un recordatorio aún sale, al guardarlo y al entregarlo; "
        "más tarde queda `omitido` (`vencido`)."
    ),
    "RETENTION_DAYS": _(
        "Días que se guardan los envíos terminados, los eventos de webhook y los mensajes "
        "antes de que Beat los purgue."
    ),
    "FAILURE_THRESHOLD": _(
        "Proporción de envíos `fallido` que dispara el correo a `ADMINS` (entre 0 y 1)."
    ),
    "FAILURE_WINDOW": _("Segundos de la ventana en la que se cuenta esa proporción."),
    "FAILURE_MIN_SENDS": _(
        "Envíos terminados en la ventana por debajo de los cuales no se alerta."
    ),
    "CONVERSATION_EXPIRE_AFTER": _(
        "Segundos sin mensajes del cliente tras los que su conversación empieza de nuevo: "
        "vuelve al bot con el contexto vacío."
    ),
    "AGENTS": _(
        "Las personas que atienden cuando el bot no puede: cada una un dict con `telefono` "
        "y/o `usuario` (de Django) y `nombre`, o sólo el teléfono."
    ),
    "HANDOFF_KEYWORDS": _(
        "Palabras (enteras) de un cliente que piden una persona, si hay `AGENTS`."
    ),
    "HANDOFF_CLOSE_KEYWORDS": _(
        "Un mensaje de un agente que sólo dice una de ellas devuelve la conversación al bot."
    ),
    "HANDOFF_TEMPLATE": _(
        "Plantilla que avisa a los agentes, con las variables cliente, teléfono y mensaje; "
        "`None`: texto libre."
    ),
    "HANDOFF_REPLY": _(
        'Lo que lee el cliente al pasar a un agente (`""`: nada). El texto por omisión está en '
        "español: ponle el tuyo si tus clientes hablan otro idioma."
    ),
    "HANDOFF_TIMEOUT": _(
        "Segundos sin mensajes tras los que una conversación con un agente vuelve al bot."
    ),
    "MEDIA_DOWNLOAD": _(
        'Tipos de mensaje entrante cuyo archivo descarga un worker (`"image"`, '
        '`"document"`, `"audio"`, `"video"`, `"sticker"`); ninguno por omisión.'
    ),
    "MEDIA_MAX_BYTES": _(
        "Bytes: un archivo recibido más grande no se guarda (descarga `omitida`)."
    ),
    "POLICY": _(
        "Ruta de una función `politica(envio)` que devuelve `None` (puede salir) o el motivo "
        "por el que no; `None`: todo puede salir."
    ),
    "API_PERMISSION_CLASSES": _(
        "Rutas de las clases de permisos de DRF de cada vista de la API REST; `None`: los "
        "permisos de modelo de Django (ver, para las lecturas)."
    ),
    "API_THROTTLE_RATE": _(
        'Peticiones por usuario a la API REST (`"600/m"`); `None`: sin límite propio, sólo '
        "el de `REST_FRAMEWORK`."
    ),
    "COST_RATES": _(
        'Tarifas por mensaje por país ISO y categoría (`{"MX": {"marketing": '
        '"0.0305"}}`, o la ruta de ese dict), encima de la tabla de Meta que trae la app; '
        "`None` en una tarifa la quita."
    ),
    "COST_CURRENCY": _(
        "Moneda de las tarifas; con otra que la de la tabla de Meta (USD) sólo cuenta `COST_RATES`."
    ),
    "HEALTH_MAX_QUEUE_AGE": _(
        "Segundos que puede esperar el envío `pendiente` vencido más antiguo antes de que "
        "`salud/` conteste 503 (`cola`)."
    ),
    "HEALTH_MAX_WEBHOOK_AGE": _(
        "Segundos que un cuerpo de webhook puede esperar sin aplicarse antes de que "
        "`webhooks` salga `degradado`."
    ),
    "HEALTH_TOKEN": _(
        "Token (o lista, para rotarlo) con el que `Authorization: Bearer …` ve los detalles "
        "de `salud/` y `metricas/`; `None`: sólo el staff."
    ),
}

_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
_RATE_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_rate(value: str | None) -> float | None:
    """Return messages per second for ``"80/s"``, ``"600/m"``, ``"1000/h"``; None for no limit.

    Raises:
        ValueError: the text is not ``<number>/<s|m|h>`` with a positive number.
    """
    if value in (None, ""):
        return None
    match = _RATE_RE.match(str(value))
    # A zero rate would read as "no limit" downstream; None is the way to say that.
    if not match or float(match[1]) <= 0:
        raise ValueError(
            f"RATE_LIMIT debe tener la forma '80/s', '600/m' o '1000/h' con un número positivo "
            f"(None para no limitar), no {value!r}"
        )
    return float(match[1]) / _RATE_UNITS[match[2]]


@dataclass(frozen=True)
class Settings:
    """The resolved ``WHATSAPP_NOTIFY`` setting (defaults filled in)."""

    ENABLED: bool
    BACKENDS: dict[str, dict[str, Any]] = field(repr=False)
    DEFAULT_REGION: str
    DEFAULT_LANGUAGE: str
    REQUIRE_CONSENT: bool
    MAX_ATTEMPTS: int
    RETRY_BACKOFF: float
    RETRY_BACKOFF_MAX: float
    RATE_LIMIT: str | None
    DELIVERY_BATCH: int
    DELIVERY_CONCURRENCY: int
    REDIS_URL: str | None = field(repr=False)
    REDISPATCH_AFTER: float
    RECONCILE_AFTER: float
    PAUSE_PROBE_EVERY: float
    TASK_QUEUE: str | None
    WEBHOOK_ASYNC: bool | None
    WEBHOOK_MAX_BYTES: int
    OPT_OUT_KEYWORDS: tuple[str, ...]
    OPT_IN_KEYWORDS: tuple[str, ...]
    REMINDER_TOLERANCE: float
    RETENTION_DAYS: int
    FAILURE_THRESHOLD: float
    FAILURE_WINDOW: float
    FAILURE_MIN_SENDS: int
    CONVERSATION_EXPIRE_AFTER: float
    AGENTS: Any
    HANDOFF_KEYWORDS: tuple[str, ...]
    HANDOFF_CLOSE_KEYWORDS: tuple[str, ...]
    HANDOFF_TEMPLATE: str | None
    HANDOFF_REPLY: str
    HANDOFF_TIMEOUT: float
    MEDIA_DOWNLOAD: tuple[str, ...]
    MEDIA_MAX_BYTES: int
    POLICY: str | None
    API_PERMISSION_CLASSES: tuple[str, ...] | None
    API_THROTTLE_RATE: str | None
    COST_RATES: Any
    COST_CURRENCY: str
    HEALTH_MAX_QUEUE_AGE: float
    HEALTH_MAX_WEBHOOK_AGE: float
    HEALTH_TOKEN: Any = field(repr=False)

    @property
    def rate_per_second(self) -> float | None:
        return parse_rate(self.RATE_LIMIT)

    def espera_exponencial(self, intento: int) -> float:
        """Seconds before attempt ``intento + 1``: ``RETRY_BACKOFF`` doubling per attempt,
        capped at ``RETRY_BACKOFF_MAX`` (the step envíos draw their jitter under)."""
        return min(self.RETRY_BACKOFF_MAX, self.RETRY_BACKOFF * 2 ** max(0, intento - 1))

    def seconds(self, name: str) -> timedelta:
        """``name`` as a timedelta, at most a century: a huge or infinite value (refused by
        the checks, E007) never makes a date computation overflow at run time."""
        try:
            valor = float(getattr(self, name))
        except (TypeError, ValueError):
            valor = float(DEFAULTS[name])
        if valor != valor:  # NaN
            valor = float(DEFAULTS[name])
        return timedelta(seconds=min(max(valor, 0.0), MAX_SEGUNDOS))

    def backend_config(self, alias: str) -> dict[str, Any]:
        """The ``{"BACKEND": ..., "OPTIONS": {...}}`` entry of an account alias.

        Raises:
            ImproperlyConfigured: the alias is not in ``BACKENDS``.
        """
        try:
            return self.BACKENDS[alias]
        except KeyError:
            known = ", ".join(sorted(self.BACKENDS)) or "(ninguna)"
            raise ImproperlyConfigured(
                f"La cuenta de WhatsApp {alias!r} no existe en "
                f'WHATSAPP_NOTIFY["BACKENDS"]; cuentas configuradas: {known}.'
            ) from None


def raw_user_settings() -> dict[str, Any]:
    """The host's ``WHATSAPP_NOTIFY`` dict as written (empty when unset)."""
    value = getattr(django_settings, SETTING_NAME, None)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{SETTING_NAME} debe ser un dict, no {type(value).__name__}.")
    return value


@cache
def get_settings() -> Settings:
    """Return the resolved settings; unknown keys are reported by the system checks."""
    merged = {**DEFAULTS, **raw_user_settings()}
    known = {name: merged[name] for name in DEFAULTS}
    return Settings(**known)


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        get_settings.cache_clear()
        from .backends import backends

        backends.reset()
