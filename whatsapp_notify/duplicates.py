"""Copies of an envío that reached the provider or the customer more than once.

Shared by outbound (a re-send the provider reports as a second message) and inbound (a
status of a copy we did not keep): both record the evidence on the envío here.
"""

from __future__ import annotations

import logging

from django.db import transaction

from . import signals
from .models import EnvioWhatsApp
from .phones import mask

logger = logging.getLogger(__name__)


def registrar_duplicado(envio_id: int, wamid: str) -> bool:
    """Record that the copy ``wamid`` of the envío also reached the provider or customer.

    Sets ``duplicado``, appends ``wamid`` to ``wamids_duplicados`` and sends
    :data:`~whatsapp_notify.signals.envio_duplicado`, once per copy: the envío's own
    wamid, or one already recorded, changes nothing. The envío's estado is never touched.
    Returns True when recorded now.
    """
    wamid = (wamid or "")[:128]
    with transaction.atomic():
        envio = EnvioWhatsApp.objects.select_for_update().filter(pk=envio_id).first()
        if envio is None or not wamid or wamid in (envio.wamid, *envio.wamids_duplicados):
            return False
        envio.duplicado = True
        envio.wamids_duplicados = [*envio.wamids_duplicados, wamid]
        envio.save(update_fields=["duplicado", "wamids_duplicados", "actualizado_en"])
    logger.warning(
        "Envío %s duplicado: otra copia (%s) también llegó a %s",
        envio.pk,
        wamid,
        mask(envio.telefono),
    )
    signals.enviar_seguro(signals.envio_duplicado, EnvioWhatsApp, envio=envio, wamid=wamid)
    return True
