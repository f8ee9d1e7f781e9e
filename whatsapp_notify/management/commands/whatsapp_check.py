"""``python manage.py whatsapp_check``: is everything in place to send and receive?

Settings, each account's credentials (against the provider), its webhook (the URL route,
Meta's handshake on the public URL, the WABA's app subscription), Redis and the Celery
worker. One line per check; exit status 1 when any check is an ERROR.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import requests
from celery import current_app
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ...backends import backends
from ...backends.base import BaseBackend, PassThroughBackend
from ...backends.meta.logs import OcultarVerifyToken
from ...conf import DEFAULT_ALIAS, get_settings
from ...error_text import AVISADO, RETENIDO
from ...exceptions import AuthError, ProviderError, SuscripcionError, TransientError
from ...models import EnvioWhatsApp, EstadoCuenta, EstadoEnvio
from ..salida import Linea, Nivel, errores, escribir, local, sin_credenciales

OK, WARN, ERROR = Nivel.OK, Nivel.WARN, Nivel.ERROR
INCLUDE = gettext_lazy(
    'path("whatsapp/", include("whatsapp_notify.urls")) en el urls.py del proyecto.'
)


class Command(BaseCommand):
    @property
    def help(self) -> str:  # read when the parser is built, in the active language
        return _(
            "Comprueba la configuración de WhatsApp: ajustes, credenciales de cada cuenta contra "
            "el proveedor (id y nombre del número), el webhook (ruta, handshake de Meta en la URL "
            "pública con --sitio, app suscrita a la WABA), Redis y que un worker de Celery "
            "responda. Una línea OK/WARN/ERROR por comprobación, con cómo arreglarla; termina con "
            "código 1 si alguna es ERROR."
        )

    # The settings are checked and reported here, one line each, instead of aborting.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cuenta",
            action="append",
            default=[],
            help=_("Alias de la cuenta a comprobar (se puede repetir). Por omisión, todas."),
        )
        parser.add_argument(
            "--sitio",
            default="",
            help=_(
                "URL pública del sitio, como https://erp.ejemplo.com: se prueba el handshake "
                "del webhook como lo hace Meta y se compara con la URL de la suscripción."
            ),
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=2.0,
            help=_("Segundos de espera de Redis, del worker y del handshake (por omisión 2)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        aliases, sitio, timeout = cuentas(options["cuenta"]), options["sitio"], options["timeout"]
        lineas = self._escribir(revisar_ajustes())
        ajustes_ok = not errores(lineas)
        for alias in aliases:
            lineas += self._escribir(revisar_cuenta(alias, sitio, timeout, ajustes_ok))
        lineas += self._escribir(revisar_redis(timeout))
        lineas += self._escribir(revisar_worker(timeout))
        if fallos := errores(lineas):
            raise CommandError(
                ngettext("%(n)d comprobación con ERROR.", "%(n)d comprobaciones con ERROR.", fallos)
                % {"n": fallos}
            )
        self.stdout.write(self.style.SUCCESS(_("Todo en orden.")))

    def _escribir(self, lineas: list[Linea]) -> list[Linea]:
        # Each group is shown as soon as it is checked: a slow check shows where it waits.
        escribir(self.stdout, self.style, lineas)
        return lineas


def cuentas(pedidas: list[str]) -> list[str]:
    """The aliases to check: ``pedidas``, or every configured one.

    Raises:
        CommandError: an alias is not in ``BACKENDS``.
    """
    configuradas = _configuradas()
    if desconocidas := [alias for alias in pedidas if alias not in configuradas]:
        raise CommandError(
            _("Cuenta(s) desconocida(s): %(cuentas)s; configuradas: %(configuradas)s.")
            % {
                "cuentas": ", ".join(desconocidas),
                "configuradas": ", ".join(configuradas) or _("(ninguna)"),
            }
        )
    return pedidas or configuradas


def _configuradas() -> list[str]:
    # A BACKENDS that is not a dict is reported by the settings check (E002).
    config = get_settings().BACKENDS
    return list(config) if isinstance(config, dict) else []


# -- settings ----------------------------------------------------------------------------


def revisar_ajustes() -> list[Linea]:
    """The app's system checks (``whatsapp_notify.E0xx``), one line each."""
    mensajes = [
        mensaje
        for mensaje in checks.run_checks()
        if (mensaje.id or "").startswith("whatsapp_notify.")
    ]
    if not mensajes:
        nombres = ", ".join(_configuradas()) or _("(ninguna)")
        detalle = _("WHATSAPP_NOTIFY válido; cuentas: %(cuentas)s") % {"cuentas": nombres}
        return [Linea(OK, _("ajustes"), detalle)]
    return [
        Linea(
            ERROR if mensaje.is_serious() else WARN,
            _("ajustes") + f" {mensaje.id}",
            mensaje.msg,
            mensaje.hint or "",
        )
        for mensaje in mensajes
    ]


# -- one account -------------------------------------------------------------------------


def revisar_cuenta(alias: str, sitio: str, timeout: float, ajustes_ok: bool = True) -> list[Linea]:
    """Credentials, pause state and webhook of one account.

    An account whose settings are wrong is not checked further; when the settings check
    already said why (``ajustes_ok`` False), its line points there instead of repeating it.
    """
    try:
        backend = backends[alias]
    except (ImproperlyConfigured, TypeError, AttributeError) as exc:
        detalle = str(exc) if ajustes_ok else _("no se comprueba: la cuenta está mal configurada")
        fix = _("corrige los ajustes.") if ajustes_ok else _("corrige los ERROR de «ajustes».")
        return [Linea(ERROR, _etiqueta(_("credenciales"), alias), detalle, fix)]
    credenciales = revisar_credenciales(backend)
    # Refused credentials would fail the subscription query too: one cause, one line.
    preguntar = credenciales.nivel != ERROR
    return [
        credenciales,
        *revisar_pausa(alias),
        *revisar_reconciliacion(alias),
        *revisar_webhook(backend, sitio, timeout, preguntar),
    ]


def _etiqueta(nombre: str, alias: str) -> str:
    # One account (the usual case) reads "credenciales"; several name the alias.
    return nombre if _configuradas() == [alias] else f"{nombre} ({alias})"


def revisar_credenciales(backend: BaseBackend) -> Linea:
    """``verify_credentials()`` of the backend: the number's name and phone when it works."""
    nombre = _etiqueta(_("credenciales"), backend.alias)
    if isinstance(backend, PassThroughBackend):
        return Linea(
            WARN,
            nombre,
            _("%(clase)s no envía nada a WhatsApp (backend local)")
            % {"clase": type(backend).__name__},
            _("en producción usa whatsapp_notify.backends.meta.MetaBackend."),
        )
    try:
        return Linea(OK, nombre, backend.verify_credentials())
    except AuthError as exc:
        return Linea(ERROR, nombre, exc.readable, backend.revisa_opcion("ACCESS_TOKEN"))
    except TransientError as exc:
        fix = _("¿Este servidor alcanza al proveedor? Revisa la red, el proxy y %(donde)s.") % {
            "donde": _donde(backend)
        }
        return Linea(ERROR, nombre, exc.readable, fix)
    except ProviderError as exc:
        return Linea(ERROR, nombre, exc.readable, backend.revisa_opcion("PHONE_NUMBER_ID"))
    except ImproperlyConfigured as exc:
        return Linea(ERROR, nombre, str(exc), _("corrige los ajustes."))


def _donde(backend: BaseBackend) -> str:
    url = backend.options.get("BASE_URL") or _("por omisión")
    return f'OPTIONS["BASE_URL"] ({url})'


def revisar_pausa(alias: str) -> list[Linea]:
    """An ERROR when the account is paused by an auth error (its envíos wait)."""
    try:
        estado = EstadoCuenta.objects.filter(cuenta=alias, pausada=True).first()
        if estado is None:
            return []
        esperan = EnvioWhatsApp.objects.filter(cuenta=alias, estado=EstadoEnvio.PENDIENTE).count()
    except DatabaseError as exc:
        return [Linea(ERROR, _("base de datos"), str(exc), "python manage.py migrate")]
    causa = estado.error_legible() or _("error de credenciales")
    detalle = _("en pausa desde %(desde)s (%(causa)s); %(n)s envío(s) esperan") % {
        "desde": local(estado.pausada_en),
        "causa": causa,
        "n": esperan,
    }
    fix = _(
        "corrige las credenciales: la cuenta se reanuda sola al comprobarlas (Beat, "
        "comprobar_cuentas) o con la acción «Reanudar» del admin."
    )
    return [Linea(ERROR, _etiqueta(_("pausa"), alias), detalle, fix)]


def revisar_reconciliacion(alias: str, dias: int = 7) -> list[Linea]:
    """WARNs for envíos that reached a customer twice in the last ``dias`` days, and for
    incierto envíos held back because the account's status webhooks lag."""
    desde = timezone.now() - timedelta(days=dias)
    envios = EnvioWhatsApp.objects.filter(cuenta=alias)
    try:
        duplicados = envios.filter(duplicado=True, creado_en__gte=desde).count()
        inciertos = envios.filter(estado=EstadoEnvio.INCIERTO)
        retenidos = inciertos.filter(error_detalle__contains=RETENIDO).count()
        avisados = inciertos.filter(error_detalle__contains=AVISADO).count()
    except DatabaseError as exc:
        return [Linea(ERROR, _("base de datos"), str(exc), "python manage.py migrate")]
    lineas = []
    if duplicados:
        detalle = _("%(n)s envío(s) de los últimos %(dias)s días llegaron dos veces") % {
            "n": duplicados,
            "dias": dias,
        }
        fix = _("míralos con el filtro «Duplicado» del admin; suele ser un webhook caído o lento.")
        lineas.append(Linea(WARN, _etiqueta(_("duplicados"), alias), detalle, fix))
    if retenidos:
        detalle = _(
            "%(n)s envío(s) sin confirmar esperan: los webhooks de estado van atrasados"
        ) % {"n": retenidos}
        fix = _(
            "comprueba que el webhook recibe los estados de Meta; se reenvían solos cuando "
            "se pongan al día, o desde el admin con «Reenviar»."
        )
        lineas.append(Linea(WARN, _etiqueta(_("sin confirmar"), alias), detalle, fix))
    if avisados:
        detalle = _("%(n)s envío(s) sin confirmar esperan tu decisión (avisado a ADMINS)") % {
            "n": avisados
        }
        fix = _(
            "comprueba si el cliente los recibió; si no, reenvíalos desde el admin con "
            "«Reenviar» (pide confirmación) o con whatsapp_reintentar --estado incierto."
        )
        lineas.append(Linea(WARN, _etiqueta(_("decisión"), alias), detalle, fix))
    return lineas


# -- webhook -----------------------------------------------------------------------------


def revisar_webhook(
    backend: BaseBackend, sitio: str, timeout: float, preguntar: bool = True
) -> list[Linea]:
    """The URL route, the handshake on ``sitio`` (if given) and the provider's subscription.

    ``preguntar`` False leaves out the subscription (the credentials already failed).
    """
    nombre = _etiqueta(_("webhook"), backend.alias)
    try:
        ruta = ruta_webhook(backend.alias)
    except NoReverseMatch:
        detalle = _("la URL del webhook no está en las URLs del proyecto")
        return [Linea(ERROR, nombre, detalle, str(INCLUDE))]
    if not sitio:
        detalle = _("ruta %(ruta)s (usa --sitio para probar el handshake)") % {"ruta": ruta}
        lineas = [Linea(OK, nombre, detalle)]
    else:
        lineas = revisar_handshake(backend, nombre, sitio.rstrip("/") + ruta, timeout)
    if preguntar and backend.supports("check_subscription"):
        esperada = sitio.rstrip("/") + ruta if sitio else ""
        lineas.append(revisar_suscripcion(backend, nombre, esperada))
    return lineas


def ruta_webhook(alias: str) -> str:
    """The path of the account's webhook (``/whatsapp/webhook/``, ``.../webhook/<alias>/``)."""
    if alias == DEFAULT_ALIAS:
        return reverse("whatsapp_notify:webhook")
    return reverse("whatsapp_notify:webhook", kwargs={"cuenta": alias})


def revisar_handshake(backend: BaseBackend, nombre: str, url: str, timeout: float) -> list[Linea]:
    """GET ``url`` as Meta does when the callback URL is saved; it must echo the challenge."""
    token = backend.options.get("VERIFY_TOKEN")
    if "VERIFY_TOKEN" not in type(backend).OPTIONS:
        detalle = _("%(url)s (este proveedor no hace handshake)") % {"url": url}
        return [Linea(OK, nombre, detalle)]
    if not token:
        return [
            Linea(
                ERROR,
                nombre,
                _("sin VERIFY_TOKEN Meta no puede verificar la URL"),
                backend.revisa_opcion("VERIFY_TOKEN"),
            )
        ]
    lineas = []
    if not url.startswith("https://"):
        lineas.append(
            Linea(
                WARN,
                nombre,
                _("%(url)s no es HTTPS") % {"url": url},
                _("Meta solo acepta URLs https:// con un certificado válido."),
            )
        )
    return [*lineas, _handshake(nombre, url, str(token), timeout)]


def _handshake(nombre: str, url: str, token: str, timeout: float) -> Linea:
    reto = str(secrets.randbelow(10**9))
    parametros = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": reto}
    try:
        with verify_token_oculto(logging.getLogger("urllib3.connectionpool")):
            respuesta = requests.get(url, params=parametros, timeout=timeout)
    except requests.RequestException as exc:
        fix = _("la URL debe ser pública y alcanzable desde Internet (DNS, firewall, proxy).")
        detalle = _("%(url)s no responde (%(error)s)") % {"url": url, "error": type(exc).__name__}
        return Linea(ERROR, nombre, detalle, fix)
    if respuesta.status_code == 403:
        fix = _("el servidor de esa URL tiene otro VERIFY_TOKEN: usa el mismo en ambos lados.")
        detalle = _("%(url)s rechazó el VERIFY_TOKEN (HTTP 403)") % {"url": url}
        return Linea(ERROR, nombre, detalle, fix)
    if respuesta.status_code != 200 or respuesta.text != reto:
        detalle = _("%(url)s respondió HTTP %(status)s sin devolver el challenge") % {
            "url": url,
            "status": respuesta.status_code,
        }
        return Linea(ERROR, nombre, detalle, str(INCLUDE))
    return Linea(OK, nombre, _("%(url)s responde al handshake de Meta") % {"url": url})


@contextmanager
def verify_token_oculto(registro: logging.Logger) -> Iterator[None]:
    """Mask ``hub.verify_token`` in ``registro``'s lines while the block runs: urllib3
    logs the URL of each request (query string included) at DEBUG."""
    filtro = OcultarVerifyToken()
    registro.addFilter(filtro)
    try:
        yield
    finally:
        registro.removeFilter(filtro)


def revisar_suscripcion(backend: BaseBackend, nombre: str, esperada: str) -> Linea:
    """The backend's ``check_subscription``: will the provider call this webhook?"""
    try:
        detalle = backend.check_subscription(esperada) if esperada else backend.check_subscription()
    except SuscripcionError as exc:
        return Linea(WARN if exc.aviso else ERROR, nombre, str(exc), exc.arreglo)
    except ProviderError as exc:
        detalle = _("no se pudo comprobar la suscripción: %(error)s") % {"error": exc.readable}
        return Linea(ERROR, nombre, detalle)
    return Linea(OK, nombre, detalle)


# -- Redis and the worker ----------------------------------------------------------------


def revisar_redis(timeout: float) -> list[Linea]:
    """Ping each Redis in use: ``REDIS_URL`` (rate limit) and a Redis Celery broker."""
    urls = {"REDIS_URL": get_settings().REDIS_URL, "broker": _broker_redis()}
    urls = {origen: url for origen, url in urls.items() if url}
    if not urls:
        if get_settings().RATE_LIMIT:
            detalle = _("sin REDIS_URL el RATE_LIMIT se cuenta en cada proceso por separado")
            fix = _("define %(clave)s.") % {"clave": 'WHATSAPP_NOTIFY["REDIS_URL"]'}
            return [Linea(WARN, "redis", detalle, fix)]
        return [Linea(OK, "redis", _("no se usa"))]
    return [_ping_redis(origen, url, timeout) for origen, url in urls.items()]


def _broker_redis() -> str:
    if current_app.conf.task_always_eager:
        return ""
    url = str(current_app.conf.broker_url or "")
    return url if url.startswith(("redis://", "rediss://")) else ""


def _ping_redis(origen: str, url: str, timeout: float) -> Linea:
    try:
        import redis
    except ImportError:
        fix = 'pip install "django-whatsapp-notify[redis]"'
        return Linea(ERROR, "redis", _("falta el paquete redis"), fix)
    visible = sin_credenciales(url)
    cliente = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        cliente.ping()
    except redis.RedisError as exc:
        fix = _("arranca Redis o corrige %(origen)s.") % {"origen": origen}
        detalle = _("%(url)s (%(origen)s) no responde: %(error)s") % {
            "url": visible,
            "origen": origen,
            "error": exc,
        }
        return Linea(ERROR, "redis", detalle, fix)
    finally:
        cliente.close()
    detalle = _("%(url)s (%(origen)s) responde") % {"url": visible, "origen": origen}
    return Linea(OK, "redis", detalle)


def revisar_worker(timeout: float) -> list[Linea]:
    """A Celery worker answers ``ping`` and consumes the queue the app publishes to.

    Eager Celery needs none. Every line names the broker asked (password masked): without
    ``CELERY_BROKER_URL`` Celery talks to its own default, which may be someone else's.
    """
    app = current_app
    if app.conf.task_always_eager:
        detalle = _("Celery en modo eager: los envíos salen en el proceso del ERP, sin worker")
        fix = _(
            "en producción configura CELERY_BROKER_URL y arranca `celery -A <proyecto> worker`."
        )
        return [Linea(WARN, "worker", detalle, fix)]
    broker, aviso = _broker_visible(app), _sin_broker_url(app)
    try:
        with app.connection_for_write() as conexion:
            conexion.ensure_connection(max_retries=0, timeout=timeout)
            respuestas = app.control.ping(timeout=timeout, connection=conexion)
            colas = _colas_activas(app, conexion, timeout) if respuestas else {}
    except Exception as exc:  # any transport's connection error
        fix = _("arranca el broker o corrige CELERY_BROKER_URL.")
        detalle = _("el broker %(broker)s no responde: %(error)s") % {
            "broker": broker,
            "error": exc,
        }
        return [*aviso, Linea(ERROR, "worker", detalle, fix)]
    return [*aviso, _linea_worker(app, broker, respuestas, colas, timeout)]


def _linea_worker(
    app: Any, broker: str, respuestas: list[dict], colas: dict[str, set[str]] | None, timeout: float
) -> Linea:
    """OK when some worker consumes the app's queue; ERROR naming the fix otherwise."""
    if not respuestas:
        fix = _arrancar_worker(app.main)
        detalle = _("%(broker)s: ningún worker respondió en %(segundos)s s") % {
            "broker": broker,
            "segundos": f"{timeout:g}",
        }
        return Linea(ERROR, "worker", detalle, fix)
    nombres = ", ".join(sorted(nombre for respuesta in respuestas for nombre in respuesta))
    cola = cola_de_la_app(app)
    if colas is None:
        detalle = _("%(broker)s: %(n)s worker(s) responden (%(nombres)s); no dijeron sus colas") % {
            "broker": broker,
            "n": len(respuestas),
            "nombres": nombres,
        }
        fix = _("¿alguno consume la cola %(cola)s? %(orden)s") % {
            "cola": repr(cola),
            "orden": f"celery -A {app.main} inspect active_queues",
        }
        return Linea(WARN, "worker", detalle, fix)
    consumen = sorted(nombre for nombre, suyas in colas.items() if cola in suyas)
    if consumen:
        detalle = _("%(broker)s: %(n)s worker(s) consumen la cola %(cola)s: %(nombres)s") % {
            "broker": broker,
            "n": len(consumen),
            "cola": repr(cola),
            "nombres": ", ".join(consumen),
        }
        return Linea(OK, "worker", detalle)
    detalle = _(
        "%(broker)s: %(n)s worker(s) responden (%(nombres)s) pero ninguno consume la cola "
        "%(cola)s, donde la app publica sus tareas: los envíos quedarán pendientes"
    ) % {"broker": broker, "n": len(respuestas), "nombres": nombres, "cola": repr(cola)}
    otras = ",".join(sorted(set().union(*colas.values())))
    fix = _(
        "arranca uno que la consuma: %(orden)s (o añade la cola a los que ya tienes: %(opcion)s)"
    ) % {"orden": _orden_worker(app.main), "opcion": f"-Q {otras + ',' if otras else ''}{cola}"}
    return Linea(ERROR, "worker", detalle, fix)


def cola_de_la_app(app: Any) -> str:
    """The queue the app's tasks are published to: ``TASK_QUEUE``, else Celery's default."""
    return get_settings().TASK_QUEUE or str(app.conf.task_default_queue)


def _colas_activas(app: Any, conexion: Any, timeout: float) -> dict[str, set[str]] | None:
    """Worker name -> the queues it consumes; None when no worker answered the question."""
    respuesta = app.control.inspect(timeout=timeout, connection=conexion).active_queues()
    if not respuesta:
        return None
    return {
        nombre: {str(cola.get("name")) for cola in suyas or [] if isinstance(cola, dict)}
        for nombre, suyas in respuesta.items()
    }


def _broker_visible(app: Any) -> str:
    """The broker URL in use, password masked (Celery's default when none is configured)."""
    if app.conf.broker_url:
        return sin_credenciales(str(app.conf.broker_url))
    with app.connection_for_write() as conexion:  # not connected: only its URL is read
        return conexion.as_uri()  # kombu masks the password itself


def _sin_broker_url(app: Any) -> list[Linea]:
    # Celery's default is amqp://localhost: a RabbitMQ answering there is not the ERP's broker.
    if app.conf.broker_url:
        return []
    detalle = _("sin CELERY_BROKER_URL, Celery usa su broker por omisión: %(broker)s") % {
        "broker": _broker_visible(app)
    }
    fix = _("define CELERY_BROKER_URL en settings.py, p. ej. redis://localhost:6379/0.")
    return [Linea(WARN, "broker", detalle, fix)]


def _arrancar_worker(proyecto: str | None) -> str:
    return _("arranca un worker: %(orden)s") % {"orden": _orden_worker(proyecto)}


def _orden_worker(proyecto: str | None) -> str:
    """The command that starts a worker on the app's queue (the default one needs no -Q)."""
    cola = get_settings().TASK_QUEUE
    opciones = f" -Q {cola}" if cola else ""
    return f"celery -A {proyecto or '<proyecto>'} worker -l info{opciones}"
