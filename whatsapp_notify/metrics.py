"""Prometheus metrics, when ``prometheus_client`` is installed (extra ``metrics``).

Counters move where the app records a change, in the process that records it: an envío
reaching an estado (``signals.avisar_estado``, which every write of an estado announces,
bulk ones included), an envío recorded ``omitido`` (``outbox``), a webhook POST answered
(``inbound.views``). The queue's figures are read from ``outbound.reports`` when Prometheus
scrapes (:func:`exponer`), not counted.

Without ``prometheus_client`` every ``contar_*`` function returns at its first line and
:func:`exponer` is not called (the view answers 404). With it, no increment ever raises
into its caller: a failure is logged at DEBUG and the metric misses one.

Web and Celery workers are separate processes: with ``PROMETHEUS_MULTIPROC_DIR`` set in
every process's environment before it starts, each writes its counters to files there and
:func:`exponer` adds them all up (prometheus_client's multiprocess mode).

Labels are bounded: ``cuenta`` is an alias of ``BACKENDS`` (``otra`` for any other value),
``estado`` and ``motivo`` are choices of the models, ``tipo`` is a slug (``otro`` past
:data:`MAX_TIPOS` distinct values in a process, or for a value that is not a short slug or
that carries a run of digits). No phone, clave or id is ever a label.
"""

from __future__ import annotations

import logging
import os
import re
import threading

from .conf import get_settings

try:
    import prometheus_client
except ImportError:  # the extra is optional: everything below is then a no-op
    prometheus_client = None

logger = logging.getLogger(__name__)

#: True when ``prometheus_client`` could be imported.
DISPONIBLE = prometheus_client is not None
#: Estados whose arrival is counted (the others are steps inside a delivery).
CONTADOS = frozenset(
    {"enviado", "entregado", "leido", "fallido", "omitido", "cancelado", "incierto"}
)
#: Distinct ``tipo`` labels one process gives out before the rest count as ``otro``.
MAX_TIPOS = 50
#: Seconds from ``creado_en`` to ``enviado_en``: a queue that drains stays in the first ones.
CUBETAS_LATENCIA = (0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600)

_SLUG = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
_DIGITOS = re.compile(r"\d{5,}")  # a phone, an order number: never a label


class _Metricas:
    """The app's metrics, registered once per process in prometheus_client's registry."""

    def __init__(self) -> None:
        counter, histogram = prometheus_client.Counter, prometheus_client.Histogram
        self.envios = counter(
            "whatsapp_notify_envios",
            "Envíos que llegaron a un estado (enviado, entregado, leido, fallido, omitido...).",
            ["cuenta", "tipo", "estado"],
        )
        self.omitidos = counter(
            "whatsapp_notify_omitidos", "Envíos omitidos, por motivo.", ["cuenta", "motivo"]
        )
        self.webhooks = counter(
            "whatsapp_notify_webhooks",
            "Cuerpos de webhook recibidos, por resultado.",
            ["cuenta", "resultado"],
        )
        self.latencia = histogram(
            "whatsapp_notify_latencia_envio_segundos",
            "Segundos desde que se registró el envío hasta que el proveedor lo aceptó.",
            ["cuenta"],
            buckets=CUBETAS_LATENCIA,
        )
        self._tipos: set[str] = set()
        self._lock = threading.Lock()

    def tipo(self, valor: str) -> str:
        if not valor:
            return "ninguno"
        if valor in self._tipos:
            return valor
        if not _SLUG.match(valor) or _DIGITOS.search(valor):
            return "otro"
        with self._lock:
            if len(self._tipos) >= MAX_TIPOS:
                return "otro"
            self._tipos.add(valor)
        return valor


_metricas = _Metricas() if DISPONIBLE else None


def _cuenta(alias: str) -> str:
    return alias if alias in get_settings().BACKENDS else "otra"


def contar_estado(envio, estado: str) -> None:
    """Count ``envio`` reaching ``estado`` (and, sent, how long it took from its record)."""
    if _metricas is None or estado not in CONTADOS:
        return
    try:
        cuenta = _cuenta(envio.cuenta)
        _metricas.envios.labels(cuenta, _metricas.tipo(envio.tipo), estado).inc()
        if estado == "omitido":
            _metricas.omitidos.labels(cuenta, _motivo(envio.motivo)).inc()
        elif estado == "enviado" and envio.creado_en and envio.enviado_en:
            segundos = (envio.enviado_en - envio.creado_en).total_seconds()
            _metricas.latencia.labels(cuenta).observe(max(segundos, 0.0))
    except Exception:
        logger.debug("No se pudo contar un cambio de estado", exc_info=True)


def contar_registro(envio) -> None:
    """Count an envío just recorded: only an ``omitido`` one (the others move later)."""
    if _metricas is None or envio.estado != "omitido":
        return
    contar_estado(envio, "omitido")


#: What a webhook POST came to (the ``resultado`` label).
GUARDADO, REPETIDO, FIRMA_INVALIDA, MAL_FORMADO, DEMASIADO_GRANDE = (
    "guardado",
    "repetido",
    "firma_invalida",
    "mal_formado",
    "demasiado_grande",
)


def contar_webhook(cuenta: str, resultado: str) -> None:
    """Count a webhook POST of a configured account and what it came to."""
    if _metricas is None:
        return
    try:
        _metricas.webhooks.labels(_cuenta(cuenta), resultado).inc()
    except Exception:
        logger.debug("No se pudo contar un webhook", exc_info=True)


def _motivo(valor: str) -> str:
    from .models import MotivoOmision

    return valor if valor in MotivoOmision.values else "otro"


def exponer() -> tuple[bytes, str]:
    """The text Prometheus scrapes and its content type: the counters (of every process
    in multiprocess mode) and the queue's gauges, read now.

    Raises:
        RuntimeError: ``prometheus_client`` is not installed.
    """
    if not DISPONIBLE:
        raise RuntimeError(
            "Instala el extra de métricas: pip install django-whatsapp-notify[metrics]"
        )
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client.multiprocess import MultiProcessCollector

        registro = CollectorRegistry()
        MultiProcessCollector(registro)
        contadores = generate_latest(registro)
    else:
        contadores = generate_latest(REGISTRY)
    cola = CollectorRegistry(auto_describe=False)
    cola.register(_Cola())
    return contadores + generate_latest(cola), CONTENT_TYPE_LATEST


class _Cola:
    """Gauges of ``reports.cola()`` and of the paused accounts, read at each scrape."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        leida = GaugeMetricFamily(
            "whatsapp_notify_cola_leida", "1 si la última lectura de la cola funcionó."
        )
        try:
            familias = list(_familias_de_cola(GaugeMetricFamily))
        except Exception as exc:
            logger.warning("No se pudo leer la cola para las métricas (%s)", type(exc).__name__)
            leida.add_metric([], 0)
            yield leida
            return
        leida.add_metric([], 1)
        yield leida
        yield from familias


def _familias_de_cola(familia):
    from .outbound import reports

    cola = reports.cola()
    for nombre, ayuda in (
        ("pendientes", "Envíos pendientes (vencidos o no)."),
        ("en_reintento", "Pendientes que ya fallaron al menos una vez."),
        ("programados", "Envíos programados para más tarde."),
        ("enviando", "Envíos que un worker tiene reclamados."),
        ("inciertos", "Envíos sin confirmar tras un timeout."),
    ):
        yield familia(f"whatsapp_notify_cola_{nombre}", ayuda, value=getattr(cola, nombre))
    espera = cola.espera.total_seconds() if cola.espera is not None else 0.0
    yield familia(
        "whatsapp_notify_cola_espera_segundos",
        "Cuánto lleva esperando el pendiente vencido más antiguo (0: ninguno).",
        value=espera,
    )
    pausada = familia(
        "whatsapp_notify_cuenta_pausada", "1 si la cuenta está pausada.", labels=["cuenta"]
    )
    for alias in sorted(get_settings().BACKENDS):
        pausada.add_metric([alias], 1 if alias in cola.pausadas else 0)
    yield pausada
