"""WhatsApp notifications for Django: an outbox, Celery delivery and the Meta Cloud API.

The public API is re-exported here; import it from ``whatsapp_notify``.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "AlAgente",
    "BotonRapido",
    "BotonUrl",
    "EstadoWhatsApp",
    "ReenvioAviso",
    "ResultadoReenvio",
    "disparador",
    "enviar_botones",
    "enviar_documento",
    "enviar_imagen",
    "enviar_lista",
    "enviar_plantilla",
    "enviar_reaccion",
    "enviar_texto",
    "enviar_ubicacion",
    "estado_whatsapp",
    "estados_whatsapp",
    "marcar_leido",
    "otorgar_consentimiento",
    "recordatorio",
    "reenviar_aviso",
    "respuesta",
    "revocar_consentimiento",
]


if TYPE_CHECKING:
    # What a type checker and an IDE read: the real signatures, so a misspelt keyword
    # (``enviar_plantilla(..., variable=[...])``) is an error before it runs. At run time
    # the names come from ``__getattr__`` below.
    from .consent import otorgar_consentimiento, revocar_consentimiento
    from .inbound.handlers import respuesta
    from .inbound.handoff import AlAgente
    from .inbound.leidos import marcar_leido
    from .messages import BotonRapido, BotonUrl
    from .outbound.outbox import (
        enviar_botones,
        enviar_documento,
        enviar_imagen,
        enviar_lista,
        enviar_plantilla,
        enviar_reaccion,
        enviar_texto,
        enviar_ubicacion,
    )
    from .outbound.resend import ReenvioAviso, ResultadoReenvio, reenviar_aviso
    from .outbound.status import EstadoWhatsApp, estado_whatsapp, estados_whatsapp
    from .scheduling.reminders import recordatorio
    from .scheduling.triggers import disparador


def __getattr__(name: str) -> object:
    # Lazy re-exports: importing the package must not import models before apps are ready.
    if name in {
        "enviar_plantilla",
        "enviar_documento",
        "enviar_imagen",
        "enviar_texto",
        "enviar_ubicacion",
        "enviar_botones",
        "enviar_lista",
        "enviar_reaccion",
    }:
        from .outbound import outbox

        return getattr(outbox, name)
    if name in {"BotonRapido", "BotonUrl"}:
        from . import messages

        return getattr(messages, name)
    if name in {"EstadoWhatsApp", "estado_whatsapp", "estados_whatsapp"}:
        from .outbound import status

        return getattr(status, name)
    if name in {"reenviar_aviso", "ReenvioAviso", "ResultadoReenvio"}:
        from .outbound import resend

        return getattr(resend, name)
    if name == "marcar_leido":
        from .inbound.leidos import marcar_leido

        return marcar_leido
    if name in {"otorgar_consentimiento", "revocar_consentimiento"}:
        from . import consent

        return getattr(consent, name)
    if name == "disparador":
        from .scheduling.triggers import disparador

        return disparador
    if name == "AlAgente":
        from .inbound.handoff import AlAgente

        return AlAgente
    if name == "respuesta":
        from .inbound.handlers import respuesta

        return respuesta
    if name == "recordatorio":
        from .scheduling.reminders import recordatorio

        return recordatorio
    raise AttributeError(f"module 'whatsapp_notify' has no attribute {name!r}")
