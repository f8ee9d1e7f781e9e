"""Signals this app sends. Receivers must not raise: an exception is logged, never lost data.

Connect with ``@receiver(envio_estado_cambiado)`` as with any Django signal.
"""

import logging

from django.db import transaction
from django.dispatch import Signal

from . import metrics

logger = logging.getLogger(__name__)

# Sent after an envío changed estado (sent, failed, retried, paused...).
# kwargs: envio (EnvioWhatsApp), estado_anterior (str), estado (str)
envio_estado_cambiado = Signal()

# Sent once when an account is paused by an auth/config error.
# kwargs: cuenta (str), error (ProviderError | ConfigurationError)
cuenta_pausada = Signal()

# Sent when a paused account works again.
# kwargs: cuenta (str)
cuenta_reanudada = Signal()

# Sent once per inbound message, after its Mensaje row (entrante) was stored and a consent
# keyword in it applied; a webhook delivered again sends nothing.
# kwargs: mensaje (Mensaje), conversacion (Conversacion, or None for a message without a
# phone we can read)
mensaje_recibido = Signal()

# Sent when a worker stored the file of an inbound message (MEDIA_DOWNLOAD): it is in
# mensaje.archivo, its SHA-256 checked. kwargs: mensaje (Mensaje)
media_descargada = Signal()

# Sent when a phone's consent for one category changed estado (otorgado <-> revocado, or
# first recorded); recording the same estado again sends nothing. A change of every
# category (no categoria given, «BAJA») sends it once per category.
# kwargs: consentimiento (ConsentimientoCliente), anterior (str | None: None when the phone
# had no row for that category), origen (str: an OrigenConsentimiento value), categoria
# (str: a Categoria value, the same as consentimiento.categoria)
consentimiento_cambiado = Signal()

# Sent once per extra copy when a status webhook (or the provider's answer) proves that an
# envío reached the customer twice (an automatic re-send after a timeout or a dead worker,
# or an operator's «Reenviar»); ``envio.duplicado`` is True and ``envio.wamids_duplicados``
# lists the extra copies. A webhook delivered again sends nothing.
# kwargs: envio (EnvioWhatsApp), wamid (str: the extra copy's message id)
envio_duplicado = Signal()


def enviar_seguro(signal: Signal, sender, **kwargs) -> None:
    """Send ``signal`` with ``send_robust`` and log any receiver's exception.

    The receivers run in a savepoint of their own: one whose database write fails (an
    IntegrityError, say) rolls back only what the receivers did, never the row change that
    the signal announces.
    """
    if not signal.has_listeners(sender):
        return  # no savepoint for nobody: this runs once per state change
    with transaction.atomic():
        respuestas = signal.send_robust(sender=sender, **kwargs)
    for receiver, resultado in respuestas:
        if isinstance(resultado, Exception):
            logger.error("Un receptor de la señal falló: %r", receiver, exc_info=resultado)


def avisar_estado(envio, anterior: str, estado: str) -> None:
    """Send :data:`envio_estado_cambiado` for ``envio`` (robustly, as :func:`enviar_seguro`).

    Every write of an estado, one by one or in bulk, announces it here: the metrics count
    it here too (no query, nothing when ``prometheus_client`` is absent).
    """
    metrics.contar_estado(envio, estado)
    enviar_seguro(
        envio_estado_cambiado, type(envio), envio=envio, estado_anterior=anterior, estado=estado
    )
