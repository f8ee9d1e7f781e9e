"""Read receipts and the typing indicator for inbound messages.

:func:`marcar_leido` is what a reply handler or an agent calls on the customer's message:
the blue ticks, and with ``escribiendo=True`` the «escribiendo…» indicator while the answer
is prepared (Meta shows it until the reply, at most 25 s). It never calls the provider in
the caller: a worker does, once the caller's transaction commits (:func:`aplicar`).
"""

from __future__ import annotations

import logging

from ..backends import backends
from ..exceptions import ConfigurationError, MessageError, ProviderError
from ..messages import exigir_tipo
from ..models import Direccion, Mensaje
from ..phones import mask

logger = logging.getLogger("whatsapp_notify")


def marcar_leido(mensaje: Mensaje, *, escribiendo: bool = False) -> None:
    """Mark the customer's ``mensaje`` read (and earlier ones of the chat, as WhatsApp does);
    ``escribiendo=True`` also shows the typing indicator, where the provider has one.

    Queued for a worker when the caller's transaction commits (eager Celery: at the
    commit, in the caller). A receipt is a courtesy: where the account's provider cannot
    mark messages read (Twilio), or cannot show the indicator (WHAPI marks it read only),
    that is logged and nothing else happens; a provider error is logged, not retried (an
    indicator shown late would be wrong).

    Raises:
        TipoInvalido: ``mensaje`` is not a :class:`~whatsapp_notify.models.Mensaje`.
        MessageError: it is not an inbound message with its WhatsApp id (``wamid``).
    """
    from ..tasks import al_confirmar, publicar_escribiendo, publicar_leido

    exigir_tipo(mensaje, Mensaje, "mensaje", "usa el Mensaje entrante que el cliente envió.")
    if mensaje.direccion != Direccion.ENTRANTE or not mensaje.wamid or mensaje.pk is None:
        raise MessageError(
            "Sólo un mensaje entrante guardado, con su wamid, se marca como leído: "
            f"este es {mensaje.direccion or 'sin dirección'}"
            f"{'' if mensaje.wamid else ', sin wamid'}."
        )
    al_confirmar(publicar_escribiendo if escribiendo else publicar_leido, mensaje.pk)


def aplicar(mensaje_id: int, *, escribiendo: bool = False) -> bool:
    """What the worker's task does: True when the provider took the receipt."""
    mensaje = Mensaje.objects.filter(pk=mensaje_id, direccion=Direccion.ENTRANTE).first()
    if mensaje is None or not mensaje.wamid:
        return False  # deleted since (retention), or never had an id to mark
    try:
        backend = backends[mensaje.cuenta]
    except ConfigurationError:
        logger.warning(
            "Cuenta %r sin configurar: el mensaje %s no se marca leído.", mensaje.cuenta, mensaje_id
        )
        return False
    capacidad = "typing" if escribiendo and backend.supports("typing") else "mark_read"
    if not backend.supports(capacidad):
        logger.info(
            "La cuenta %r (%s) no marca mensajes como leídos: el mensaje %s queda como está.",
            mensaje.cuenta, type(backend).__name__, mensaje_id,
        )  # fmt: skip
        return False
    try:
        getattr(backend, capacidad)(mensaje.wamid)
    except (ProviderError, ConfigurationError) as exc:  # refused, unreachable, no token
        logger.warning(
            "No se marcó leído el mensaje %s de %s: %s",
            mensaje_id, mask(mensaje.telefono or mensaje.wa_id), exc,
        )  # fmt: skip
        return False
    return True
