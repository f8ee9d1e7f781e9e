"""Thin Celery tasks over ``delivery`` and the Beat schedule the host merges.

Tasks carry only the envío id; the row is the truth. With ``task_always_eager`` (the
zero-set-up default) retries are not chained in-process: the Beat task
``whatsapp_notify.despachar`` picks them up when due.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import current_app, shared_task
from django.utils import timezone

from . import delivery
from .conf import get_settings
from .models import EnvioWhatsApp

logger = logging.getLogger(__name__)

#: Merge into your Celery app: ``app.conf.beat_schedule.update(BEAT_SCHEDULE)``.
BEAT_SCHEDULE = {
    "whatsapp_notify.despachar": {"task": "whatsapp_notify.despachar", "schedule": 60.0},
    "whatsapp_notify.comprobar_cuentas": {
        "task": "whatsapp_notify.comprobar_cuentas",
        "schedule": 60.0,
    },
}


def encolar(envio_id: int, eta: datetime | None = None) -> bool:
    """Enqueue delivery of an envío; False (logged) when the broker cannot take it.

    The envío is already recorded, so a broker that is down loses nothing: Beat's
    ``despachar`` re-dispatches it once the broker is back.
    """
    opciones = {"queue": get_settings().TASK_QUEUE} if get_settings().TASK_QUEUE else {}
    eager = bool(current_app.conf.task_always_eager)
    if eta is not None and not eager:
        opciones["eta"] = eta
    try:
        EnvioWhatsApp.objects.filter(pk=envio_id).update(
            despachado_en=None if eager and eta else (eta or timezone.now())
        )
        if eta is None or not eager:
            # No publish retries: a broker that is down must not hold the ERP's request.
            enviar_envio.apply_async((envio_id,), retry=False, **opciones)
    except Exception as exc:  # broker down, misconfigured Celery: the row stays pendiente
        logger.warning("No se pudo encolar el envío %s (%s); Beat lo reintentará.", envio_id, exc)
        return False
    return True


@shared_task(name="whatsapp_notify.enviar", ignore_result=True)
def enviar_envio(envio_id: int) -> str:
    """Deliver one envío (one attempt); schedule the next attempt when one is due."""
    intento = delivery.entregar(envio_id)
    if intento.resultado == delivery.Resultado.REINTENTO and intento.proximo_intento:
        encolar(envio_id, eta=intento.proximo_intento)
    return intento.resultado.value


@shared_task(name="whatsapp_notify.despachar", ignore_result=True)
def despachar() -> int:
    """Re-dispatch due envíos whose task was lost (broker down, worker killed)."""
    ids = delivery.envios_por_despachar()
    for envio_id in ids:
        encolar(envio_id)
    if ids:
        logger.info("Re-despachados %s envíos de WhatsApp", len(ids))
    return len(ids)


@shared_task(name="whatsapp_notify.comprobar_cuentas", ignore_result=True)
def comprobar_cuentas() -> list[str]:
    """Probe paused accounts; resumed ones get their waiting envíos dispatched."""
    reanudadas = delivery.comprobar_cuentas_pausadas()
    if reanudadas:
        despachar.delay()
    return reanudadas
