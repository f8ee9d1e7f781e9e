"""The envío state machine: the groups of estados, their forward-only order, allowed moves.

``models.EstadoEnvio`` names the estados (its choices are what the database stores); this
module says what they mean together. Every module that asks "is this envío done / sent /
waiting?" reads the answer here, so the sets exist once.
"""

from __future__ import annotations

from .events import DELIVERED, FAILED, PLAYED, READ, SENT
from .models import EstadoEnvio

#: What the provider reports after accepting a send, in the only order an envío may move:
#: ``enviado < entregado < leido``.
AVANCE = (EstadoEnvio.ENVIADO, EstadoEnvio.ENTREGADO, EstadoEnvio.LEIDO)
#: Envíos the provider accepted: sending them again would duplicate the message.
ACEPTADOS = frozenset(AVANCE)
#: Nothing more will be attempted for these envíos.
TERMINALES = ACEPTADOS | {EstadoEnvio.FALLIDO, EstadoEnvio.OMITIDO, EstadoEnvio.CANCELADO}
#: Envíos in which the provider had confirmed nothing yet (the worker may have died or
#: timed out after the request left): any status settles them.
SIN_CONFIRMAR = frozenset({EstadoEnvio.PENDIENTE, EstadoEnvio.ENVIANDO, EstadoEnvio.INCIERTO})
#: Envíos waiting for their send: a cancellation, a date move or expiry still stops them.
EN_ESPERA = frozenset({EstadoEnvio.PROGRAMADO, EstadoEnvio.PENDIENTE})
#: Envíos still on their way: waiting, being sent, or sent without the provider's answer.
EN_CAMINO = EN_ESPERA | SIN_CONFIRMAR
#: Envíos that never reached the recipient and may be sent again.
REENVIABLES = frozenset(
    {EstadoEnvio.FALLIDO, EstadoEnvio.OMITIDO, EstadoEnvio.CANCELADO, EstadoEnvio.INCIERTO}
)

# Provider status -> estado of the envío. A played voice message was at least read.
DESTINOS = {
    SENT: EstadoEnvio.ENVIADO,
    DELIVERED: EstadoEnvio.ENTREGADO,
    READ: EstadoEnvio.LEIDO,
    PLAYED: EstadoEnvio.LEIDO,
    FAILED: EstadoEnvio.FALLIDO,
}


def puede_pasar(anterior: str, destino: str) -> bool:
    """True when a status may move an envío from ``anterior`` to ``destino`` (forward only).

    ``enviado < entregado < leido``; ``fallido`` only before a delivery is known. Envíos
    that are fallido, omitido, cancelado or programado keep their estado.
    """
    if anterior in SIN_CONFIRMAR:
        return True
    if destino == EstadoEnvio.FALLIDO:
        # Meta may report "failed" after "sent"; after "delivered", the delivery stands.
        return anterior == EstadoEnvio.ENVIADO
    return anterior in AVANCE and AVANCE.index(anterior) < AVANCE.index(destino)
