"""Is the app able to do its job right now? The checks behind ``salud/`` (``health_views``).

:func:`comprobar_salud` runs each check and returns a :class:`Salud`; the view of this app
and the REST API's ``salud/`` render its :meth:`Salud.as_dict`. Checks:

- ``base_de_datos``: ``SELECT 1`` on every database alias (``DATABASES``), timed.
- ``broker``: a round trip to Celery's broker on the connections publishes use, bounded
  (:func:`tasks.tocar_broker`): a broker that is down or hung fails in about a second.
- ``cuentas``: each alias of ``BACKENDS``: its backend loads with every credential it
  requires, and whether it is paused (since when, and the provider's error, in the details).
- ``cola``: how long the oldest due pendiente envío has waited (``reports.cola``) against
  ``HEALTH_MAX_QUEUE_AGE``; envíos of a paused account wait for it, not for a worker.
- ``webhooks``: how long the oldest stored webhook body has waited to be applied, against
  ``HEALTH_MAX_WEBHOOK_AGE``.

Each check is ``ok``, ``degradado`` (the app works, something needs a look: a paused
account, late webhooks) or ``fallo``; the whole is its worst check. An exception inside a
check is that check failing, never the caller's: its class is the reason, its text (which
may quote a row) is not kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from . import tasks
from .backends import backends
from .conf import get_settings

logger = logging.getLogger(__name__)

OK, DEGRADADO, FALLO = "ok", "degradado", "fallo"
_GRAVEDAD = {OK: 0, DEGRADADO: 1, FALLO: 2}
#: The longest the broker check waits, in seconds.
PLAZO_BROKER = tasks.PLAZO_PUBLICACION
#: Checks that read the database: skipped (``fallo``) when ``base_de_datos`` failed.
_CON_BASE = ("cuentas", "cola", "webhooks")


@dataclass(frozen=True)
class Comprobacion:
    """The outcome of one check: ``estado``, a short ``motivo`` and its ``detalle``.

    ``motivo`` is written by this module (never a provider's or a database's text);
    ``detalle`` may name accounts and quote a provider's error: it is for operators only.
    """

    nombre: str
    estado: str
    motivo: str = ""
    detalle: dict[str, Any] = field(default_factory=dict, repr=False)
    duracion_ms: float = 0.0

    def as_dict(self, *, detalle: bool = False) -> dict[str, Any]:
        """``{"estado": ...}``; with ``detalle`` also motivo, duracion_ms and detalle."""
        if not detalle:
            return {"estado": self.estado}
        return {
            "estado": self.estado,
            "motivo": self.motivo,
            "duracion_ms": round(self.duracion_ms, 1),
            "detalle": self.detalle,
        }


@dataclass(frozen=True)
class Salud:
    """Every check run, in order; :attr:`estado` is the worst of them."""

    comprobaciones: tuple[Comprobacion, ...]

    @property
    def estado(self) -> str:
        return max((c.estado for c in self.comprobaciones), key=_GRAVEDAD.__getitem__, default=OK)

    @property
    def sana(self) -> bool:
        """False when a check failed: the HTTP answer is then 503."""
        return self.estado != FALLO

    def as_dict(self, *, detalle: bool = False) -> dict[str, Any]:
        """``{"estado": ..., "comprobaciones": {nombre: {...}}}`` (see :class:`Comprobacion`)."""
        return {
            "estado": self.estado,
            "comprobaciones": {c.nombre: c.as_dict(detalle=detalle) for c in self.comprobaciones},
        }


def comprobar_salud(solo: Iterable[str] | None = None) -> Salud:
    """Run the checks (all of :data:`COMPROBACIONES`, or those named in ``solo``, in order).

    Never raises for what a check meets; the broker check waits at most ``PLAZO_BROKER``.

    Raises:
        ValueError: ``solo`` names a check that does not exist.
    """
    nombres = list(COMPROBACIONES) if solo is None else _validar(solo)
    hechas: list[Comprobacion] = []
    for nombre in nombres:
        if nombre in _CON_BASE and _fallo_la_base(hechas):
            hechas.append(Comprobacion(nombre, FALLO, _("la base de datos no responde")))
            continue
        hechas.append(_ejecutar(nombre, COMPROBACIONES[nombre]))
    return Salud(tuple(hechas))


def _validar(solo: Iterable[str]) -> list[str]:
    nombres = [nombre.strip() for nombre in solo if nombre.strip()]
    # Named back shortened: the answer never grows with what an anonymous caller sends.
    desconocidas = [nombre[:40] for nombre in nombres if nombre not in COMPROBACIONES][:5]
    if desconocidas or not nombres:
        conocidas = ", ".join(COMPROBACIONES)
        raise ValueError(
            _("Comprobaciones desconocidas %(desconocidas)s; existen: %(conocidas)s")
            % {"desconocidas": desconocidas, "conocidas": conocidas}
        )
    return [nombre for nombre in COMPROBACIONES if nombre in nombres]


def _fallo_la_base(hechas: list[Comprobacion]) -> bool:
    return any(c.nombre == "base_de_datos" and c.estado == FALLO for c in hechas)


def _ejecutar(nombre: str, comprobar: Callable[[], tuple[str, str, dict]]) -> Comprobacion:
    inicio = time.monotonic()
    try:
        estado, motivo, detalle = comprobar()
    except Exception as exc:
        # The class only: a database error's text can quote row values (a phone).
        logger.warning("La comprobación de salud %s falló (%s)", nombre, type(exc).__name__)
        motivo = _("error: %(clase)s") % {"clase": type(exc).__name__}
        estado, detalle = FALLO, {}
    return Comprobacion(nombre, estado, motivo, detalle, (time.monotonic() - inicio) * 1000)


def _base_de_datos() -> tuple[str, str, dict]:
    detalle, caidas = {}, []
    for alias in connections:
        inicio = time.monotonic()
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception as exc:
            caidas.append(alias)
            detalle[alias] = {"error": type(exc).__name__}
        else:
            detalle[alias] = {"ms": round((time.monotonic() - inicio) * 1000, 1)}
    if caidas:
        return FALLO, _("sin respuesta: %(bases)s") % {"bases": ", ".join(caidas)}, detalle
    return OK, "", detalle


def _broker() -> tuple[str, str, dict]:
    if tasks.en_el_acto():
        return OK, _("Celery ejecuta las tareas en el acto (eager): no hay broker"), {}
    motivo = tasks.tocar_broker(PLAZO_BROKER)
    # This process's publishes, paused for a while after one failed (Beat re-dispatches).
    detalle = {"plazo_s": PLAZO_BROKER, "publicaciones_en_pausa": tasks.publicaciones_en_pausa()}
    if motivo is not None:
        return FALLO, _("el broker no responde (%(motivo)s)") % {"motivo": motivo}, detalle
    return OK, "", detalle


def _cuentas() -> tuple[str, str, dict]:
    from .models import EstadoCuenta

    estados = {e.cuenta: e for e in EstadoCuenta.objects.filter(pausada=True)}
    detalle, pausadas, rotas = {}, [], []
    for alias in sorted(get_settings().BACKENDS):
        detalle[alias] = cuenta = {**_configuracion(alias), "pausada": alias in estados}
        if not cuenta["configurada"]:
            rotas.append(alias)
        if (estado := estados.get(alias)) is not None:
            pausadas.append(alias)
            cuenta.update(_pausa(estado))
    if rotas or pausadas:
        partes = [_("%(n)s pausada(s)") % {"n": len(pausadas)}] * bool(pausadas)
        partes += [_("%(n)s sin configurar") % {"n": len(rotas)}] * bool(rotas)
        return DEGRADADO, ", ".join(partes), detalle
    return OK, "", detalle


def _configuracion(alias: str) -> dict[str, Any]:
    """Whether the account's backend loads with every credential it requires (names only)."""
    try:
        backend = backends[alias]
    except Exception as exc:
        return {"configurada": False, "error": type(exc).__name__}
    faltan = type(backend).missing_option_names(backend.options)
    return {"configurada": not faltan, "backend": type(backend).__name__, "faltan": faltan}


def _pausa(estado) -> dict[str, Any]:
    return {
        "pausada_en": _iso(estado.pausada_en),
        "error_codigo": estado.error_codigo,
        "error": estado.error_legible()[:300],
        "comprobada_en": _iso(estado.comprobado_en),
    }


def _cola() -> tuple[str, str, dict]:
    from .outbound import reports

    cola = reports.cola()
    limite = get_settings().seconds("HEALTH_MAX_QUEUE_AGE")
    detalle = {
        "pendientes": cola.pendientes,
        "en_reintento": cola.en_reintento,
        "programados": cola.programados,
        "enviando": cola.enviando,
        "inciertos": cola.inciertos,
        "mas_antiguo": _iso(cola.mas_antiguo),
        "espera_s": _segundos(cola.espera),
        "limite_s": limite.total_seconds(),
        "pausadas": list(cola.pausadas),
    }
    if cola.espera is None or cola.espera <= limite:
        return OK, "", detalle
    espera = _espera_sin_pausadas(reports, cola) if cola.pausadas else cola.espera
    detalle["espera_sin_pausadas_s"] = _segundos(espera)
    if espera is not None and espera > limite:
        return (
            FALLO,
            _("el pendiente más antiguo espera más de %(segundos)s s")
            % {"segundos": f"{limite.total_seconds():g}"},
            detalle,
        )
    return OK, _("lo que más espera es de una cuenta pausada"), detalle


def _espera_sin_pausadas(reports, cola) -> timedelta | None:
    """The longest wait among the configured accounts that are not paused (one query, read
    only when an account is paused)."""
    activas = [alias for alias in sorted(get_settings().BACKENDS) if alias not in cola.pausadas]
    desde = reports.mas_antiguo(activas, ahora=cola.hasta)
    return max(cola.hasta - desde, timedelta(0)) if desde else None


def _webhooks() -> tuple[str, str, dict]:
    from .inbound import store
    from .models import EventoWebhook

    ahora = timezone.now()
    # Bodies older than REPROCESAR_HASTA are no longer retried: they are the admin's.
    pendientes = EventoWebhook.objects.filter(
        procesado_en__isnull=True, recibido_en__gte=ahora - store.REPROCESAR_HASTA
    ).aggregate(cuantos=Count("pk"), mas_antiguo=Min("recibido_en"))
    limite = get_settings().seconds("HEALTH_MAX_WEBHOOK_AGE")
    espera = ahora - pendientes["mas_antiguo"] if pendientes["mas_antiguo"] else None
    detalle = {
        "sin_procesar": pendientes["cuantos"],
        "espera_s": _segundos(espera),
        "limite_s": limite.total_seconds(),
    }
    if espera is not None and espera > limite:
        return (
            DEGRADADO,
            _("webhooks sin aplicar desde hace más de %(segundos)s s")
            % {"segundos": f"{limite.total_seconds():g}"},
            detalle,
        )
    return OK, "", detalle


def _iso(momento: datetime | None) -> str | None:
    return momento.isoformat() if momento else None


def _segundos(duracion: timedelta | None) -> float | None:
    return round(duracion.total_seconds(), 1) if duracion is not None else None


#: The checks, by name, in the order they run.
COMPROBACIONES: dict[str, Callable[[], tuple[str, str, dict]]] = {
    "base_de_datos": _base_de_datos,
    "broker": _broker,
    "cuentas": _cuentas,
    "cola": _cola,
    "webhooks": _webhooks,
}
