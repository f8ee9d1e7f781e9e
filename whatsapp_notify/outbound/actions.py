"""Operator actions on envíos and accounts, shared by the admin and management commands.

Each action is a conditional UPDATE on the rows it changes, so pressing it twice, or
while a worker or a webhook touches the same envío, never sends anything twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from django.utils import timezone

from .. import signals
from ..models import EnvioWhatsApp, EstadoEnvio, MotivoOmision
from ..phones import mask
from ..states import ACEPTADOS, REENVIABLES
from . import outbox
from .delivery import reanudar_cuenta

logger = logging.getLogger(__name__)

# Reasons an envío was not re-sent, besides the ``MotivoOmision`` values.
YA_ENVIADO = "ya_enviado"
EN_CURSO = "en_curso"


class Reenvio(NamedTuple):
    """What :func:`reenviar` did: how many went back to the queue, and why the rest did not.

    ``omitidos`` maps a reason (:data:`YA_ENVIADO`, :data:`EN_CURSO` or a
    :class:`~whatsapp_notify.models.MotivoOmision` value) to how many envíos it kept back.
    """

    reenviados: int
    omitidos: dict[str, int]


def reenviar(envios: Iterable[EnvioWhatsApp]) -> Reenvio:
    """Send again the envíos that never reached their recipient.

    ``fallido``, ``cancelado``, ``incierto`` and ``omitido`` envíos are checked again as a
    new send would be (phone, ``ENABLED``, consent of the envío's category, 24-hour window
    for free-form messages, ``expira_en``). Those that pass go back to ``pendiente``
    (``programado`` if still due in the future) with no attempts and no error, and are
    enqueued when the current transaction commits. An ``omitido`` envío that still cannot
    go stays ``omitido`` with the current reason; any other one that cannot go is left as it
    was. Envíos already
    accepted by the provider (``enviado``, ``entregado``, ``leido``) or still in progress
    are never touched. An ``incierto`` envío may have reached the recipient (Meta has no
    idempotency key): resending it is the operator's call.
    """
    reenviados, omitidos = 0, Counter()
    for envio in envios:
        razon = _reenviar_uno(envio)
        if razon is None:
            reenviados += 1
        else:
            omitidos[razon] += 1
    return Reenvio(reenviados, dict(omitidos))


def reanudar(cuentas: Iterable[str]) -> list[str]:
    """Unpause ``cuentas`` and, on commit, dispatch the envíos that waited; return the resumed."""
    reanudadas = [cuenta for cuenta in cuentas if reanudar_cuenta(cuenta, manual=True)]
    if reanudadas:
        from ..tasks import al_confirmar, pedir_despacho

        al_confirmar(pedir_despacho)
    return reanudadas


def _reenviar_uno(envio: EnvioWhatsApp) -> str | None:
    """Re-queue one envío; return why it was not, or None when it was."""
    if envio.estado in ACEPTADOS:
        return YA_ENVIADO
    if envio.estado not in REENVIABLES:
        return EN_CURSO
    if envio.motivo == MotivoOmision.ERROR_DISPARADOR:
        # Its content was never built (the disparador's callable raised): the ERP must fire again.
        return MotivoOmision.ERROR_DISPARADOR
    telefono, motivo = revisar_destinatario(envio)
    if motivo is None and outbox.vencido(envio):
        motivo = MotivoOmision.VENCIDO  # past its moment: sending it now would mislead
    if motivo is not None:
        _seguir_omitido(envio, telefono, motivo)
        return motivo
    return None if _reiniciar(envio, telefono) else EN_CURSO


def revisar_destinatario(envio: EnvioWhatsApp) -> tuple[str, MotivoOmision | None]:
    """Check an envío's recipient as a new send would be checked (see ``outbox``).

    Returns the normalised phone (empty when invalid) and the reason it cannot be sent
    now, or None when it can.
    """
    # ``telefono`` is already E.164 digits: with its "+" it keeps its country, whatever
    # DEFAULT_REGION says; ``telefono_original`` is only re-read when it never parsed.
    telefono = f"+{envio.telefono}" if envio.telefono else envio.telefono_original
    return outbox.revisar_destinatario(
        telefono, envio.clase, cuenta=envio.cuenta, categoria=envio.categoria,
        respuesta=bool(envio.responde_a),
    )  # fmt: skip


def _seguir_omitido(envio: EnvioWhatsApp, telefono: str, motivo: str) -> None:
    if envio.estado != EstadoEnvio.OMITIDO:
        return  # a fallido/cancelado envío keeps its own history
    EnvioWhatsApp.objects.filter(pk=envio.pk, estado=EstadoEnvio.OMITIDO).update(
        telefono=telefono or envio.telefono, motivo=motivo, actualizado_en=timezone.now()
    )


def _reiniciar(envio: EnvioWhatsApp, telefono: str) -> bool:
    """Put the envío back in the queue from the estado we read; False if it moved meanwhile."""
    ahora = timezone.now()
    futuro = envio.programado_para is not None and envio.programado_para > ahora
    estado = EstadoEnvio.PROGRAMADO if futuro else EstadoEnvio.PENDIENTE
    aplicado = EnvioWhatsApp.objects.filter(pk=envio.pk, estado=envio.estado).update(
        estado=estado, telefono=telefono, actualizado_en=ahora, **_CAMPOS_REINICIADOS
    )
    if not aplicado:
        return False
    logger.info(
        "Envío %s (%s, %s) reenviado a %s",
        envio.pk,
        envio.estado,
        envio.motivo or envio.error_codigo or "-",
        mask(telefono),
    )
    _avisar_cambio(envio, estado)
    if estado == EstadoEnvio.PENDIENTE:
        from ..tasks import al_confirmar, encolar

        al_confirmar(encolar, envio.pk)
    return True


# A resend is a fresh attempt: the previous attempt's outcome and timestamps no longer apply.
_CAMPOS_REINICIADOS = {
    "motivo": "",
    "intentos": 0,
    # The previous attempt's message id and what its webhooks said: a late status for the old
    # wamid must not settle the new attempt.
    "wamid": None,
    "error_titulo": "",
    "conversacion_id": "",
    "conversacion_expira_en": None,
    "conversacion_origen": "",
    "facturable": None,
    "precio_modelo": "",
    "precio_tipo": "",
    "precio_categoria": "",
    "proximo_intento": None,
    "error_codigo": None,
    "error_detalle": "",
    "despachado_en": None,
    "reclamado_en": None,
    "enviado_en": None,
    "entregado_en": None,
    "leido_en": None,
    "fallido_en": None,
    "cancelado_en": None,
}


def _avisar_cambio(envio: EnvioWhatsApp, estado: str) -> None:
    anterior = envio.estado
    envio.refresh_from_db()
    signals.avisar_estado(envio, anterior, estado)
