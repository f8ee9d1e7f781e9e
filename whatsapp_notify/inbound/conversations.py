"""The thread with each customer: ``Conversacion`` rows and the messages that feed them.

A conversation starts with the customer's first message to an account (one row per
account and phone) and then holds every message of that phone on that account, both ways:
each inbound message (:func:`registrar_entrante`, from the webhook) and the saliente row of
every envío that leaves (:func:`registrar_salientes`, from the worker that sent it).
Notices sent to a phone that never wrote have their saliente rows and no conversation yet;
the first message from that phone gathers them into the new one.

A conversation is changed under its row lock (``SELECT … FOR UPDATE``): two webhooks for
the same phone, or a webhook and a reply handler, take turns on it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import router, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from ..backends import backends
from ..conf import get_settings
from ..limits import recortar_campos
from ..models import (
    ClaseEnvio,
    Conversacion,
    Direccion,
    EnvioWhatsApp,
    EstadoConversacion,
    Manejo,
    Mensaje,
)
from ..phones import mask

logger = logging.getLogger(__name__)

VENTANA_SERVICIO = timedelta(hours=24)

# The Mensaje.tipo of each envío's clase, as the providers name message types.
TIPO_DE_CLASE = {
    ClaseEnvio.PLANTILLA: "template",
    ClaseEnvio.TEXTO: "text",
    ClaseEnvio.DOCUMENTO: "document",
    ClaseEnvio.IMAGEN: "image",
    ClaseEnvio.BOTONES: "interactive",
    ClaseEnvio.LISTA: "interactive",
    ClaseEnvio.UBICACION: "location",
    ClaseEnvio.REACCION: "reaction",
}


def conversacion_de(
    cuenta: str, telefono: str, *, wa_id: str = "", nombre: str = ""
) -> tuple[Conversacion, bool]:
    """The conversation of ``telefono`` on ``cuenta``, locked until the caller's transaction
    ends, and whether it was created now (with the earlier messages of that phone).

    Created with ``INSERT … ON CONFLICT DO NOTHING``: a concurrent webhook for the same
    phone that inserted it first is waited for, never a duplicate or an IntegrityError.
    Must be called inside a transaction.
    """
    base = router.db_for_write(Conversacion)
    conversaciones = Conversacion.objects.using(base).select_for_update()
    conversacion = conversaciones.filter(cuenta=cuenta, telefono=telefono).first()
    creada = False
    if conversacion is None:
        nueva = Conversacion(
            **recortar_campos(
                Conversacion,
                {"cuenta": cuenta, "telefono": telefono, "wa_id": wa_id, "nombre": nombre},
            )
        )
        Conversacion.objects.using(base).bulk_create([nueva], ignore_conflicts=True)
        conversacion = conversaciones.get(cuenta=cuenta, telefono=telefono)
        _reunir(conversacion)
        creada = True
    return conversacion, creada


def _reunir(conversacion: Conversacion) -> None:
    """Link the phone's earlier messages on the account to its new conversation."""
    Mensaje.objects.filter(
        cuenta=conversacion.cuenta, telefono=conversacion.telefono, conversacion__isnull=True
    ).update(conversacion=conversacion)


def caducada(conversacion: Conversacion, ahora: datetime) -> bool:
    """True when the customer has not written for ``CONVERSATION_EXPIRE_AFTER`` seconds:
    the next message starts over (context emptied, back to the bot)."""
    ultimo = conversacion.ultimo_entrante_en
    return ultimo is not None and ahora - ultimo >= get_settings().seconds(
        "CONVERSATION_EXPIRE_AFTER"
    )


def registrar_entrante(mensaje: Mensaje) -> Conversacion | None:
    """Add the inbound ``mensaje`` (just stored) to its conversation; returns it, locked.

    The conversation starts over when it had expired or was closed; its window opens for
    24 hours from the message (the account's provider window); the message counts as
    unread and is marked for the worker (``manejo``: pendiente), which answers it with the
    reply handlers or, while an agent holds the conversation, relays it. A message with no
    phone we can read (a username-only user) gets no conversation and is not handled.
    """
    if not mensaje.telefono:
        logger.info("Mensaje %s sin teléfono: queda fuera de las conversaciones", mensaje.pk)
        return None
    conversacion, _creada = conversacion_de(
        mensaje.cuenta, mensaje.telefono, wa_id=mensaje.wa_id, nombre=mensaje.nombre
    )
    ahora = timezone.now()
    fecha = mensaje.fecha or ahora
    # Judged by when the customer wrote, not when a late webhook brought it.
    if conversacion.estado == EstadoConversacion.CERRADA or caducada(conversacion, fecha):
        reiniciar(conversacion, ahora)
    if conversacion.ultimo_entrante_en is None or fecha >= conversacion.ultimo_entrante_en:
        conversacion.ultimo_entrante_en = fecha
        ventana = _ventana(mensaje.cuenta)
        conversacion.ventana_hasta = fecha + ventana if ventana is not None else None
    if conversacion.ultimo_mensaje_en is None or fecha >= conversacion.ultimo_mensaje_en:
        conversacion.ultimo_mensaje, conversacion.ultimo_mensaje_en = mensaje, fecha
    conversacion.wa_id = mensaje.wa_id or conversacion.wa_id
    conversacion.nombre = (mensaje.nombre or conversacion.nombre)[:200]
    conversacion.no_leidos = F("no_leidos") + 1
    conversacion.save()
    conversacion.refresh_from_db(fields=["no_leidos"])
    Mensaje.objects.filter(pk=mensaje.pk).update(conversacion=conversacion, manejo=Manejo.PENDIENTE)
    mensaje.conversacion, mensaje.manejo = conversacion, Manejo.PENDIENTE
    return conversacion


def reiniciar(conversacion: Conversacion, ahora: datetime | None = None) -> None:
    """Start the conversation over (not saved): back to the bot, an empty context."""
    logger.info(
        "Conversación %s con %s empieza de nuevo (estaba %s)",
        conversacion.pk, mask(conversacion.telefono), conversacion.estado,
    )  # fmt: skip
    conversacion.estado = EstadoConversacion.BOT
    conversacion.contexto = {}
    conversacion.agente = ""
    conversacion.tomada_en = None
    conversacion.iniciada_en = ahora or timezone.now()


def _ventana(cuenta: str) -> timedelta | None:
    try:
        return backends[cuenta].ventana
    except Exception:  # an account no longer configured: the safe reading
        return VENTANA_SERVICIO


def marcar_leida(conversacion: Conversacion) -> None:
    """The staff has read the conversation: no unread messages left."""
    Conversacion.objects.filter(pk=conversacion.pk).update(no_leidos=0)
    conversacion.no_leidos = 0


# -- salientes -----------------------------------------------------------------------------


def saliente_de(envio: EnvioWhatsApp, wamid: str | None = None) -> Mensaje:
    """The (unsaved) saliente ``Mensaje`` of an envío that left with ``wamid``."""
    if envio.clase == ClaseEnvio.PLANTILLA:
        contenido = {"plantilla": envio.plantilla, "idioma": envio.idioma}
        contenido["variables"] = envio.variables
    elif isinstance(envio.interactivo, dict):
        contenido = dict(envio.interactivo)
    else:
        contenido = {}
    if envio.nombre_documento:
        contenido["documento"] = envio.nombre_documento
    campos = {
        "direccion": Direccion.SALIENTE,
        "cuenta": envio.cuenta,
        "telefono": envio.telefono,
        "wa_id": envio.wa_id,
        "nombre": envio.nombre,
        "wamid": wamid or envio.wamid,
        "tipo": TIPO_DE_CLASE.get(envio.clase, envio.clase),
        "texto": envio.texto or (envio.plantilla if envio.clase == ClaseEnvio.PLANTILLA else ""),
        "contenido": contenido,
        "contexto_wamid": envio.responde_a,
        "media_mime": envio.documento_mime,
        "media_nombre": envio.nombre_documento,
        "envio": envio,
        "fecha": timezone.now(),
    }
    return Mensaje(**recortar_campos(Mensaje, campos))


def registrar_salientes(enviados: Iterable[tuple[EnvioWhatsApp, str | None]]) -> int:
    """Write the saliente row of each ``(envío, wamid)`` that left; returns how many.

    One INSERT for all (a wamid already stored is skipped: the row of a copy recorded
    before), one UPDATE linking them to their conversations and one moving those
    conversations' last message. An envío without a wamid gets no row (its status webhook
    adds it when it brings the wamid). A failure here is logged and loses no send: the
    envío is the record of what left.
    """
    filas = []
    for envio, wamid in enviados:
        if not (wamid or envio.wamid):
            continue
        try:
            filas.append(saliente_de(envio, wamid))
        except Exception:  # one odd row must not cost the others theirs
            logger.exception("No se pudo describir el mensaje saliente del envío %s", envio.pk)
    if not filas:
        return 0
    try:
        with transaction.atomic(using=router.db_for_write(Mensaje)):
            Mensaje.objects.bulk_create(filas, ignore_conflicts=True)
            _enlazar([fila.wamid for fila in filas])
    except Exception:
        logger.exception("No se guardaron los mensajes salientes de %s envíos", len(filas))
        return 0
    return len(filas)


def _enlazar(wamids: list[str]) -> None:
    # The phone's conversation on the account, if the customer ever wrote; else none yet.
    suya = Conversacion.objects.filter(cuenta=OuterRef("cuenta"), telefono=OuterRef("telefono"))
    nuevos = Mensaje.objects.filter(wamid__in=wamids, conversacion__isnull=True)
    if not nuevos.update(conversacion=Subquery(suya.values("pk")[:1])):
        return
    ultimo = Mensaje.objects.filter(conversacion=OuterRef("pk")).order_by("-fecha", "-pk")
    Conversacion.objects.filter(
        pk__in=Mensaje.objects.filter(wamid__in=wamids, conversacion__isnull=False).values(
            "conversacion"
        )
    ).update(
        ultimo_mensaje=Subquery(ultimo.values("pk")[:1]),
        ultimo_mensaje_en=Subquery(ultimo.values("fecha")[:1]),
    )
