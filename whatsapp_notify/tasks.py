"""Thin Celery tasks over ``delivery`` and the Beat schedule the host merges.

Tasks carry only the envío id; the row is the truth. With ``task_always_eager`` (the
zero-set-up default) retries are not chained in-process: the Beat task
``whatsapp_notify.despachar`` picks them up when due.

Importing this module does not import models, so a host's ``celery.py`` can import
``BEAT_SCHEDULE`` at module level, before Django is set up.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from celery import current_app, shared_task
from celery.schedules import crontab
from django.utils import timezone

from .conf import get_settings

logger = logging.getLogger(__name__)

#: Merge into your Celery app: ``app.conf.beat_schedule.update(BEAT_SCHEDULE)``.
BEAT_SCHEDULE = {
    "whatsapp_notify.despachar": {"task": "whatsapp_notify.despachar", "schedule": 60.0},
    "whatsapp_notify.comprobar_cuentas": {
        "task": "whatsapp_notify.comprobar_cuentas",
        "schedule": 60.0,
    },
    "whatsapp_notify.reprocesar_webhooks": {
        "task": "whatsapp_notify.reprocesar_webhooks",
        "schedule": 60.0,
    },
    # Daily at 03:17 in Celery's timezone (CELERY_TIMEZONE): a quiet hour, off the full hour
    # other nightly jobs pick.
    "whatsapp_notify.purgar": {
        "task": "whatsapp_notify.purgar",
        "schedule": crontab(hour=3, minute=17),
    },
    "whatsapp_notify.alerta_fallos": {"task": "whatsapp_notify.alerta_fallos", "schedule": 300.0},
}


def encolar(envio_id: int, eta: datetime | None = None) -> bool:
    """Enqueue delivery of an envío (at ``eta``); False (logged) when the broker can't take it.

    The envío is already recorded, so a broker that is down loses nothing: Beat's
    ``despachar`` re-dispatches it on its next run.
    """
    from .models import EnvioWhatsApp

    envios = EnvioWhatsApp.objects.filter(pk=envio_id)
    if eta is not None and current_app.conf.task_always_eager:
        # Eager Celery would run the retry right now, inside this call: leave it to Beat.
        envios.update(despachado_en=None)
        return True
    # despachado_en is when the task should run; Beat treats it as lost REDISPATCH_AFTER later.
    envios.update(despachado_en=eta or timezone.now())
    if not _publicar(enviar_envio, (envio_id,), eta=eta, **_cola()):
        envios.update(despachado_en=None)  # Beat's next run takes it
        return False
    return True


def encolar_webhook(evento_id: int) -> bool:
    """Enqueue processing of a stored webhook body; False (logged) when the broker can't take it.

    The body is already stored, so nothing is lost: Beat's ``reprocesar_webhooks`` takes
    up bodies left unprocessed.
    """
    return _publicar(procesar_webhook, (evento_id,), **_cola())


def pedir_despacho() -> bool:
    """Ask a worker to run ``despachar`` now (e.g. after resuming an account); never raises."""
    return _publicar(despachar, (), **_cola())


def _publicar(tarea, args: tuple, **opciones) -> bool:
    """Publish ``tarea``; False (logged) when the broker cannot take it. Never raises."""
    if _broker.caido():
        return False
    try:
        # No publish retries: a broker that is down must not hold the ERP's request.
        tarea.apply_async(args, retry=False, **opciones)
    except Exception as exc:  # broker down, misconfigured Celery
        _broker.fallo()
        logger.warning("No se pudo publicar %s (%s); Beat lo reintentará.", tarea.name, exc)
        return False
    return True


def _cola() -> dict[str, str]:
    cola = get_settings().TASK_QUEUE
    return {"queue": cola} if cola else {}


class _Interruptor:
    """After a failed publish, skip publishing for a while in this process.

    Connecting to a dead broker can take seconds (kombu's connection retries); paying that
    once per ``PAUSA`` instead of on every ERP request keeps the ERP fast while it is down.
    """

    PAUSA = 30.0

    def __init__(self) -> None:
        self._hasta = 0.0

    def caido(self) -> bool:
        return time.monotonic() < self._hasta

    def fallo(self) -> None:
        self._hasta = time.monotonic() + self.PAUSA

    def reiniciar(self) -> None:
        self._hasta = 0.0


_broker = _Interruptor()


@shared_task(name="whatsapp_notify.enviar", ignore_result=True)
def enviar_envio(envio_id: int) -> str:
    """Deliver one envío (one attempt); schedule the next attempt when one is due."""
    from . import delivery

    intento = delivery.entregar(envio_id)
    if intento.resultado == delivery.Resultado.REINTENTO and intento.proximo_intento:
        encolar(envio_id, eta=intento.proximo_intento)
    return intento.resultado.value


@shared_task(name="whatsapp_notify.despachar", ignore_result=True)
def despachar() -> int:
    """Re-dispatch due envíos whose task was lost (broker down, worker killed)."""
    from . import delivery

    ids = delivery.envios_por_despachar()
    for envio_id in ids:
        encolar(envio_id)
    if ids:
        logger.info("Re-despachados %s envíos de WhatsApp", len(ids))
    return len(ids)


@shared_task(name="whatsapp_notify.comprobar_cuentas", ignore_result=True)
def comprobar_cuentas() -> list[str]:
    """Probe paused accounts; resumed ones get their waiting envíos dispatched."""
    from . import delivery

    reanudadas = delivery.comprobar_cuentas_pausadas()
    if reanudadas:
        despachar()
    return reanudadas


@shared_task(name="whatsapp_notify.procesar_webhook", ignore_result=True)
def procesar_webhook(evento_id: int) -> bool:
    """Apply one stored webhook body (``EventoWebhook``); False when it was already done."""
    from . import inbound

    return inbound.procesar_evento_webhook(evento_id)


@shared_task(name="whatsapp_notify.reprocesar_webhooks", ignore_result=True)
def reprocesar_webhooks() -> int:
    """Apply webhook bodies left unprocessed for over a minute (their task was lost)."""
    from . import inbound

    procesados = sum(map(inbound.procesar_evento_webhook, inbound.eventos_por_reprocesar()))
    if procesados:
        logger.info("Procesados %s eventos de webhook pendientes", procesados)
    return procesados


@shared_task(name="whatsapp_notify.purgar", ignore_result=True)
def purgar() -> dict[str, int]:
    """Delete envíos, webhook bodies, messages and files older than ``RETENTION_DAYS``."""
    from . import operations

    return operations.purgar()._asdict()


@shared_task(name="whatsapp_notify.alerta_fallos", ignore_result=True)
def alerta_fallos() -> bool:
    """E-mail the admins (once per ``FAILURE_WINDOW``) when too many envíos failed."""
    from . import operations

    return operations.alertar_fallos()
