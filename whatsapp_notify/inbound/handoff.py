"""Human handoff: a person answers when the bot cannot.

A conversation passes to an agent when the customer's message has one of
``HANDOFF_KEYWORDS`` ("quiero hablar con un humano"), when a reply handler returns
:class:`AlAgente`, or from the admin (an agent takes it). Then:

- the agents with a WhatsApp number (``AGENTS``) are told, by ``HANDOFF_TEMPLATE`` (or
  free text when None), with the customer's name, phone and message, and the customer
  hears ``HANDOFF_REPLY``;
- while an agent holds it the bot stays silent: each customer message is relayed to the
  agent holding it (to every agent until one answers), named;
- an agent's message from their own WhatsApp reaches the customer: the conversation it
  answers (the notice or relay it quotes, else the one the agent holds, else the newest one
  waiting) is taken by that agent on the first reply;
- an agent's message that is only one of ``HANDOFF_CLOSE_KEYWORDS`` ("cerrar"), the admin's
  "give back", or ``HANDOFF_TIMEOUT`` seconds without messages hand it back to the bot.

Every step is a :class:`~whatsapp_notify.models.PasoConversacion`; every message is an
envío of the conversation (``referencia``) with its own clave, so a redelivered webhook or a
worker that runs again never tells anyone twice. Everything here runs in the ``responder``
worker under the conversation's row lock, with the outbox's ``registrar`` handed in.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from ..agents import Agente, agente_por_clave, agentes
from ..conf import get_settings
from ..exceptions import MessageError
from ..messages import Plantilla, Texto
from ..models import (
    Conversacion,
    Direccion,
    EnvioWhatsApp,
    EstadoConversacion,
    Mensaje,
    PasoConversacion,
    TipoPaso,
)
from ..phones import mask
from .palabras import es_una_de, palabra_clave, palabras

logger = logging.getLogger(__name__)

Registrar = Callable[..., EnvioWhatsApp]
AVISO, RELEVO = "aviso_agente", "relevo_agente"  # envío tipos of what goes to agents
TIPO_DEL_AGENTE = "agente"  # envío tipo of an agent's message relayed to the customer


@dataclass(frozen=True)
class AlAgente:
    """What a reply handler returns to pass the conversation to a person.

    ``texto`` is what the customer hears (default ``HANDOFF_REPLY``; "" for nothing);
    ``motivo`` is recorded on the step and shown to the agents.
    """

    texto: str | None = None
    motivo: str = ""


def activo() -> bool:
    """Handoff by keyword is on when there are agents to hand to."""
    return bool(agentes())


def pide_agente(mensaje: Mensaje) -> bool:
    """The customer's text has one of ``HANDOFF_KEYWORDS`` as a whole word."""
    if mensaje.tipo != "text" or not mensaje.texto or not activo():
        return False
    dichas = palabras(mensaje.texto)
    return any(palabra_clave(p) in dichas for p in get_settings().HANDOFF_KEYWORDS)


def es_cierre(mensaje: Mensaje) -> bool:
    return es_una_de(mensaje.texto or "", get_settings().HANDOFF_CLOSE_KEYWORDS)


def paso(
    conversacion: Conversacion, tipo: str, quien: str, motivo: str = "", mensaje=None
) -> PasoConversacion:
    return PasoConversacion.objects.create(
        conversacion=conversacion, tipo=tipo, quien=quien[:150], motivo=motivo[:255],
        mensaje=mensaje,
    )  # fmt: skip


# -- to an agent ------------------------------------------------------------------------------


def pasar_a_agente(
    conversacion: Conversacion,
    registrar: Registrar,
    *,
    mensaje: Mensaje | None = None,
    motivo: str = "",
    quien: str = "cliente",
    texto: str | None = None,
) -> PasoConversacion:
    """Hand ``conversacion`` (locked) to the agents; tell them, and the customer ``texto``.

    Idempotent per message: the notices' and the reply's claves derive from the step, and
    a conversation an agent already holds is not handed again.

    Raises:
        MessageError: ``AGENTS`` is empty: nobody would answer, and the bot would fall
            silent until ``HANDOFF_TIMEOUT``.
    """
    if not agentes():
        raise MessageError(
            'No hay agentes (WHATSAPP_NOTIFY["AGENTS"] está vacío): nadie atendería la '
            "conversación y el bot quedaría callado."
        )
    if conversacion.estado == EstadoConversacion.AGENTE:
        ultimo = conversacion.pasos.filter(tipo=TipoPaso.AGENTE).last()
        if ultimo is not None:
            return ultimo  # already with the agents: nobody is told twice
    conversacion.estado, conversacion.agente, conversacion.tomada_en = (
        EstadoConversacion.AGENTE, "", None,
    )  # fmt: skip
    conversacion.save(update_fields=["estado", "agente", "tomada_en", "actualizada_en"])
    hecho = paso(conversacion, TipoPaso.AGENTE, quien, motivo, mensaje)
    logger.info(
        "Conversación %s con %s pasa a un agente", conversacion.pk, mask(conversacion.telefono)
    )
    _avisar(conversacion, registrar, hecho, mensaje)
    respuesta = get_settings().HANDOFF_REPLY if texto is None else texto
    if respuesta and mensaje is not None:
        registrar(
            Texto(respuesta), mensaje.telefono, cuenta=mensaje.cuenta, responde_a=mensaje,
            tipo="respuesta", clave=f"agente:respuesta:{hecho.pk}", nombre=mensaje.nombre or None,
        )  # fmt: skip
    return hecho


def _avisar(conversacion, registrar, hecho, mensaje) -> None:
    settings = get_settings()
    cliente = conversacion.nombre or "Un cliente"
    texto = (mensaje.texto if mensaje else "") or hecho.motivo or "—"
    for agente in _con_telefono(agentes()):
        if settings.HANDOFF_TEMPLATE:
            # A template variable is one line (Meta refuses newlines, tabs, 5 spaces: 132018).
            variables = [_una_linea(cliente), f"+{conversacion.telefono}", _una_linea(texto)]
            contenido = Plantilla(settings.HANDOFF_TEMPLATE, settings.DEFAULT_LANGUAGE, variables)
        else:
            contenido = Texto(
                f"{cliente} (+{conversacion.telefono}) pide hablar con una persona: "
                f"«{texto[:1000]}». Responde a este mensaje para contestarle; escribe «cerrar» "
                "para devolverlo al bot."
            )
        aviso = registrar(
            contenido, agente.telefono, cuenta=conversacion.cuenta, referencia=conversacion,
            tipo=AVISO, clave=f"agente:aviso:{hecho.pk}:{agente.telefono}",
            nombre=agente.nombre or None,
        )  # fmt: skip
        if aviso.estado == "omitido":
            logger.error(
                "El aviso al agente %s de la conversación %s no sale (%s): nadie sabe que el "
                "cliente pidió una persona; revisa HANDOFF_TEMPLATE",
                mask(agente.telefono), conversacion.pk, aviso.motivo,
            )  # fmt: skip


def _una_linea(texto: str) -> str:
    """``texto`` as one template variable: control characters and runs of spaces as one
    space, at most 1,000 characters, never empty."""
    limpio = " ".join(
        "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in texto).split()
    )
    return limpio[:1000] or "—"


def _relevable(texto: str) -> str:
    """Free text relayed as it was written, minus what WhatsApp refuses (control characters
    other than newlines and tabs)."""
    return "".join(c for c in texto if c in "\n\t" or unicodedata.category(c) != "Cc")


def al_agente(mensaje: Mensaje, conversacion: Conversacion, registrar: Registrar) -> int:
    """Relay the customer's ``mensaje`` to the agent holding ``conversacion`` when they have a
    number (to every agent with one while nobody took it); returns how many relays."""
    que = _relevable(mensaje.texto).strip() or f"[{mensaje.tipo}]"
    cuerpo = f"{_cliente(conversacion)}: {que}"[:4096]
    # Held: only its holder (a user in the admin gets no relay); waiting, or held by a
    # number no longer in AGENTS: every agent.
    titular = agente_por_clave(conversacion.agente)
    if titular is not None:
        destinos = [titular]
    elif conversacion.agente and not conversacion.agente.isdigit():
        destinos = []  # a Django user answers it from the admin
    else:
        destinos = list(agentes())
    n = 0
    for agente in _con_telefono(destinos):
        registrar(
            Texto(cuerpo), agente.telefono, cuenta=conversacion.cuenta, referencia=conversacion,
            tipo=RELEVO, clave=f"agente:relevo:{mensaje.pk}:{agente.telefono}",
            nombre=agente.nombre or None,
        )  # fmt: skip
        n += 1
    return n


def _con_telefono(lista) -> list[Agente]:
    return [agente for agente in lista if agente is not None and agente.telefono]


# -- from an agent ----------------------------------------------------------------------------


def del_agente(mensaje: Mensaje, agente: Agente, registrar: Registrar) -> str:
    """An agent wrote from their WhatsApp: relay it to the customer it answers, or close.

    Returns what happened (the message's ``manejador``).
    """
    conversacion = destino(mensaje, agente)

    def contestar(texto: str, que: str, clave: str) -> str:
        """Tell the agent, quoting their message; returns ``agente:<que>``."""
        registrar(
            Texto(texto), agente.telefono, cuenta=mensaje.cuenta, responde_a=mensaje,
            tipo=AVISO, clave=f"agente:{clave}:{mensaje.pk}",
        )  # fmt: skip
        return f"agente:{que}"

    if conversacion is None:
        return contestar(
            "No tienes conversaciones abiertas con clientes.",
            "sin_conversacion",
            "sin_conversacion",
        )
    cliente = _cliente(conversacion)
    if conversacion.agente and conversacion.agente != agente.clave:
        otro = agente_por_clave(conversacion.agente)
        quien = otro.para_el_cliente if otro else conversacion.agente
        return contestar(
            f"{quien} ya atiende a {cliente}: tu mensaje no se le envió.", "de_otro", "ocupada"
        )
    if es_cierre(mensaje):
        devolver_al_bot(conversacion, quien=agente.clave, motivo="cerrar", mensaje=mensaje)
        return contestar(f"Listo: {cliente} vuelve al bot.", "cerrar", "cerrada")
    if not conversacion.agente:
        tomar(conversacion, agente.clave, mensaje=mensaje)
    if mensaje.tipo != "text" or not mensaje.texto:
        return contestar("Sólo se reenvía texto al cliente.", "sin_texto", "solo_texto")
    if not conversacion.ventana_abierta():
        return contestar(
            f"La ventana de 24 horas con {cliente} se cerró: sólo se le puede escribir con una "
            "plantilla.",
            "fuera_de_ventana",
            "ventana",
        )
    ultimo = _ultimo_del_cliente(conversacion)
    registrar(
        Texto(_relevable(mensaje.texto)), conversacion.telefono, cuenta=conversacion.cuenta,
        responde_a=ultimo, tipo=TIPO_DEL_AGENTE, clave=f"agente:mensaje:{mensaje.pk}",
        nombre=conversacion.nombre or None,
    )  # fmt: skip
    conversacion.save(update_fields=["actualizada_en"])
    return "agente:relevo"


def _cliente(conversacion: Conversacion) -> str:
    """How the agent reads who the customer is: their name, else their number."""
    return conversacion.nombre or f"+{conversacion.telefono}"


def destino(mensaje: Mensaje, agente: Agente) -> Conversacion | None:
    """The conversation an agent's message answers, locked: the one whose notice or relay it
    quotes; else the newest one this agent holds; else the newest one nobody took yet."""
    abiertas = Conversacion.objects.select_for_update().filter(
        cuenta=mensaje.cuenta, estado=EstadoConversacion.AGENTE
    )
    if mensaje.contexto_wamid:
        citado = EnvioWhatsApp.objects.filter(
            wamid=mensaje.contexto_wamid, tipo__in=[AVISO, RELEVO],
            content_type=ContentType.objects.get_for_model(Conversacion),
        ).values_list("object_id", flat=True).first()  # fmt: skip
        if citado and (conversacion := abiertas.filter(pk=citado).first()):
            return conversacion
    for agente_clave in (agente.clave, ""):
        conversacion = (
            abiertas.filter(agente=agente_clave).order_by("-ultimo_mensaje_en", "-pk").first()
        )
        if conversacion is not None:
            return conversacion
    return None


def _ultimo_del_cliente(conversacion: Conversacion) -> Mensaje | None:
    return (
        conversacion.mensajes.filter(direccion=Direccion.ENTRANTE)
        .exclude(wamid__isnull=True)
        .order_by("-fecha", "-pk")
        .first()
    )


# -- taking and giving back ------------------------------------------------------------------


def tomar(conversacion: Conversacion, quien: str, *, mensaje: Mensaje | None = None) -> None:
    """``quien`` (an agent's clave or a username) holds ``conversacion`` now."""
    conversacion.estado, conversacion.agente = EstadoConversacion.AGENTE, quien[:150]
    conversacion.tomada_en = timezone.now()
    conversacion.save(update_fields=["estado", "agente", "tomada_en", "actualizada_en"])
    paso(conversacion, TipoPaso.TOMADA, quien, mensaje=mensaje)


def devolver_al_bot(
    conversacion: Conversacion, *, quien: str, motivo: str = "", mensaje: Mensaje | None = None
) -> None:
    """The bot answers ``conversacion`` again (its context is kept)."""
    conversacion.estado, conversacion.agente, conversacion.tomada_en = (
        EstadoConversacion.BOT, "", None,
    )  # fmt: skip
    conversacion.save(update_fields=["estado", "agente", "tomada_en", "actualizada_en"])
    paso(conversacion, TipoPaso.BOT, quien, motivo, mensaje)
    logger.info("Conversación %s vuelve al bot (%s)", conversacion.pk, motivo or quien)


def liberar_vencidas(ahora: datetime | None = None) -> int:
    """Give back to the bot the conversations an agent held with no message for
    ``HANDOFF_TIMEOUT`` seconds (Beat, every minute); returns how many."""
    from django.db import transaction

    ahora = ahora or timezone.now()
    corte = ahora - get_settings().seconds("HANDOFF_TIMEOUT")
    vencidas = Conversacion.objects.filter(
        estado=EstadoConversacion.AGENTE, ultimo_mensaje_en__lt=corte, actualizada_en__lt=corte
    ).values_list("pk", flat=True)[:1000]
    n = 0
    for pk in list(vencidas):
        with transaction.atomic():
            conversacion = (
                Conversacion.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, estado=EstadoConversacion.AGENTE, actualizada_en__lt=corte)
                .first()
            )
            if conversacion is not None:
                devolver_al_bot(conversacion, quien="sistema", motivo="tiempo")
                n += 1
    return n
