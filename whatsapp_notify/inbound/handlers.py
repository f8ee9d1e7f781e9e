r"""Reply handlers: ``respuesta(...)`` rules that answer the customer's messages.

Declared like disparadores, in the host's ``AppConfig.ready()`` or its ``whatsapp.py``::

    @respuesta(boton="aprobar")
    def aprobar(mensaje, conversacion):
        ...
        return "¡Gracias! Tu cotización quedó aprobada."

    @respuesta(texto=r"^horarios?\b")
    def horarios(mensaje, conversacion):
        return Lista("Elige un horario", boton="Ver horarios", secciones=(...))

Each inbound message is handled once, in a worker (:func:`atender`, task
``whatsapp_notify.responder``), never in the webhook request: the first declared rule that
matches is called with the :class:`~whatsapp_notify.models.Mensaje` and its
:class:`~whatsapp_notify.models.Conversacion` (locked while the handler runs); if none
does, the first matching ``por_defecto`` rule. What the handler returns is sent as a reply
in context (quoting the customer's message). The handler's database work, its replies and
the message's ``manejo`` commit together: a worker killed half way leaves the message
``pendiente`` for Beat to hand out again, with nothing half done. An exception is logged
and recorded on the message (``manejo``: error); it is never raised into the webhook.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

from django.db import router, transaction
from django.db.models import F
from django.utils import timezone

from ..agents import agente_por_telefono
from ..conf import get_settings
from ..exceptions import MessageError, TipoInvalido
from ..messages import (
    Botones,
    Documento,
    Lista,
    Plantilla,
    Reaccion,
    Texto,
    Ubicacion,
    exigir_tipo,
    texto_de_error,
)
from ..models import Conversacion, EnvioWhatsApp, EstadoConversacion, Manejo, Mensaje
from ..phones import mask
from . import handoff
from .palabras import palabra_clave, palabras

logger = logging.getLogger(__name__)

Manejador = Callable[[Mensaje, Conversacion], Any]
#: A handler as declared: ``@respuesta`` gives it back with its own type.
_F = TypeVar("_F", bound=Manejador)

# Message types the providers report (events.EventoMensaje.tipo).
TIPOS = frozenset(
    {
        "text", "image", "document", "audio", "video", "sticker", "location", "contacts",
        "reaction", "interactive", "button", "order", "system", "unsupported",
    }
)  # fmt: skip
# A reply's content, as a handler may return it (or a list of them).
RESPUESTAS = (str, Texto, Botones, Lista, Plantilla, Documento, Ubicacion, Reaccion, EnvioWhatsApp)


def _conjunto(valor: str | Iterable[str] | None, parametro: str) -> frozenset[str]:
    if valor is None:
        return frozenset()
    if isinstance(valor, str):
        valores: tuple = (valor,)
    elif isinstance(valor, list | tuple | set | frozenset):
        valores = tuple(valor)
    else:
        raise TipoInvalido(
            f"respuesta({parametro}=...): usa un texto o una lista de textos, "
            f"no {type(valor).__name__}."
        )
    for uno in valores:
        exigir_tipo(uno, str, parametro, "usa un texto o una lista de textos.")
        if not uno.strip():
            raise MessageError(f"respuesta(): {parametro} no puede tener valores vacíos.")
    return frozenset(valores)


@dataclass(frozen=True)
class Respuesta:
    """One declared rule. Every criterion given must match; within one, any value does."""

    funcion: Manejador
    botones: frozenset[str]
    patron_boton: re.Pattern[str] | None
    patron: re.Pattern[str] | None
    palabras: frozenset[str]
    tipos: frozenset[str]
    estados: frozenset[str]
    si: Callable[[Mensaje, Conversacion], bool] | None
    por_defecto: bool
    cuenta: str | None

    @property
    def nombre(self) -> str:
        return f"{self.funcion.__module__}.{getattr(self.funcion, '__qualname__', self.funcion)}"

    @property
    def origen(self) -> tuple[str, int]:
        """Where the function was written: the same rule when its module runs again."""
        codigo = getattr(self.funcion, "__code__", None)
        if codigo is None:
            return (self.nombre, id(self.funcion))
        return (f"{codigo.co_filename}:{self.nombre}", codigo.co_firstlineno)

    def coincide(self, mensaje: Mensaje, conversacion: Conversacion) -> bool:
        if self.cuenta is not None and mensaje.cuenta != self.cuenta:
            return False
        if self.estados and conversacion.estado not in self.estados:
            return False
        if self.tipos and mensaje.tipo not in self.tipos:
            return False
        if self.botones and mensaje.respuesta_id not in self.botones:
            return False
        if self.patron_boton is not None and not self.patron_boton.fullmatch(
            mensaje.respuesta_id or ""
        ):
            return False
        if self.patron is not None and not self.patron.search(mensaje.texto or ""):
            return False
        if self.palabras and not (self.palabras & palabras(mensaje.texto or "")):
            return False
        if self.si is None:
            return True
        try:
            return bool(self.si(mensaje, conversacion))
        except Exception as exc:
            raise FalloDeManejador(self.nombre) from exc


class _Registro:
    def __init__(self) -> None:
        self.reglas: list[Respuesta] = []

    def agregar(self, regla: Respuesta) -> None:
        # Declared again (a module run twice, autoreload): the rule takes its old place.
        for i, otra in enumerate(self.reglas):
            if otra.origen == regla.origen:
                self.reglas[i] = regla
                return
        self.reglas.append(regla)

    def elegir(self, mensaje: Mensaje, conversacion: Conversacion) -> Respuesta | None:
        for defecto in (False, True):
            for regla in self.reglas:
                if regla.por_defecto is defecto and regla.coincide(mensaje, conversacion):
                    return regla
        return None


registro = _Registro()


# The two ways to call it, for type checkers: ``respuesta(f, ...)`` returns ``f``;
# ``@respuesta(...)`` returns the decorator, which returns the function unchanged.
@overload
def respuesta(
    funcion: _F,
    *,
    boton: str | Iterable[str] | re.Pattern[str] | None = None,
    texto: str | re.Pattern[str] | None = None,
    palabra: str | Iterable[str] | None = None,
    tipo: str | Iterable[str] | None = None,
    estado: str | Iterable[str] | None = EstadoConversacion.BOT,
    si: Callable[[Mensaje, Conversacion], bool] | None = None,
    por_defecto: bool = False,
    cuenta: str | None = None,
) -> _F: ...
@overload
def respuesta(
    funcion: None = None,
    *,
    boton: str | Iterable[str] | re.Pattern[str] | None = None,
    texto: str | re.Pattern[str] | None = None,
    palabra: str | Iterable[str] | None = None,
    tipo: str | Iterable[str] | None = None,
    estado: str | Iterable[str] | None = EstadoConversacion.BOT,
    si: Callable[[Mensaje, Conversacion], bool] | None = None,
    por_defecto: bool = False,
    cuenta: str | None = None,
) -> Callable[[_F], _F]: ...


def respuesta(
    funcion: Manejador | None = None,
    *,
    boton: str | Iterable[str] | re.Pattern[str] | None = None,
    texto: str | re.Pattern[str] | None = None,
    palabra: str | Iterable[str] | None = None,
    tipo: str | Iterable[str] | None = None,
    estado: str | Iterable[str] | None = EstadoConversacion.BOT,
    si: Callable[[Mensaje, Conversacion], bool] | None = None,
    por_defecto: bool = False,
    cuenta: str | None = None,
) -> Any:
    """Declare a reply handler; usable as ``@respuesta(...)`` or ``respuesta(funcion, ...)``.

    Args:
        boton: the id of a reply button or list row the customer chose, or a template
            quick-reply's payload (one or several); or a compiled pattern the whole id
            must match, for ids that carry data: ``re.compile(r"cotizacion:aprobar:(\\d+)")``.
        texto: a regular expression searched in the message's text (a ``str`` is compiled
            case-insensitive; pass a compiled pattern for other flags).
        palabra: words any of which, as a whole word, makes it match (case and accents
            ignored): ``palabra=["humano", "asesor"]``.
        tipo: message types (``text``, ``image``, ``document``, ``audio``, ``location``...).
        estado: the conversation's states it answers in: ``bot`` (the default: silent while
            an agent holds it), ``agente`` (while one does; the message is relayed to the
            agent as well), or None for both.
        si: ``si(mensaje, conversacion) -> bool``, for what the rest cannot say (a step
            of a multi-step flow kept in ``conversacion.contexto``).
        por_defecto: a fallback, tried only when no other rule matched; the only kind of
            rule that may have no criterion.
        cuenta: only messages to this account (default: every account).

    The handler is called as ``funcion(mensaje, conversacion)``. It may change
    ``conversacion.contexto`` (saved after it returns) and return None, a text, a
    ``Texto``/``Botones``/``Lista``/``Plantilla``/``Documento``/``Imagen``/``Ubicacion``, or a
    list of them: each is sent as a reply to the message.

    Raises:
        MessageError: no criterion and not ``por_defecto``; an invalid regular expression;
            an unknown message type or state; empty values.
        TipoInvalido: a value of the wrong type, or a handler that is not callable.
    """
    regla_sin_funcion = _regla(
        boton=boton, texto=texto, palabra=palabra, tipo=tipo, estado=estado, si=si,
        por_defecto=por_defecto, cuenta=cuenta,
    )  # fmt: skip

    def declarar(f: Manejador) -> Manejador:
        if not callable(f):
            raise TipoInvalido(f"respuesta() declara una función, no {type(f).__name__}.")
        registro.agregar(Respuesta(funcion=f, **regla_sin_funcion))
        return f

    return declarar(funcion) if funcion is not None else declarar


def _regla(*, boton, texto, palabra, tipo, estado, si, por_defecto, cuenta) -> dict[str, Any]:
    exigir_tipo(por_defecto, bool, "por_defecto", "usa True o False.")
    if cuenta is not None:
        exigir_tipo(cuenta, str, "cuenta", "usa el alias de BACKENDS.")
        get_settings().backend_config(cuenta)
    if si is not None and not callable(si):
        raise TipoInvalido("respuesta(si=...) es una función (mensaje, conversacion) -> bool.")
    patron_boton = None
    if isinstance(boton, re.Pattern):
        patron_boton, boton = boton, None
    patron = None
    if texto is not None:
        if isinstance(texto, str) and not texto.strip():
            raise MessageError("respuesta(texto=''): una expresión vacía coincide con todo.")
        if isinstance(texto, str):
            try:
                patron = re.compile(texto, re.IGNORECASE)
            except re.error as exc:
                raise MessageError(
                    f"respuesta(texto={texto!r}): expresión inválida: {exc}"
                ) from None
        elif isinstance(texto, re.Pattern):
            patron = texto
        else:
            exigir_tipo(texto, str, "texto", "usa una expresión regular.")
    tipos = _conjunto(tipo, "tipo")
    if desconocidos := tipos - TIPOS:
        raise MessageError(
            f"respuesta(tipo=...): tipos desconocidos {sorted(desconocidos)}; "
            f"los de WhatsApp son {', '.join(sorted(TIPOS))}."
        )
    estados = _conjunto(estado, "estado")
    if EstadoConversacion.CERRADA in estados:
        raise MessageError(
            "respuesta(estado='cerrada') nunca respondería: una conversación cerrada vuelve a "
            "empezar en bot con el siguiente mensaje del cliente."
        )
    if desconocidos := estados - {EstadoConversacion.BOT, EstadoConversacion.AGENTE}:
        raise MessageError(
            f"respuesta(estado=...): estados desconocidos {sorted(desconocidos)}; "
            "usa bot, agente o None (cualquiera)."
        )
    dadas = frozenset(palabra_clave(p) for p in _conjunto(palabra, "palabra"))
    if any(not re.fullmatch(r"\w+", p) for p in dadas):
        raise MessageError(
            "respuesta(palabra=...): una palabra por valor, sin espacios ni signos; "
            "para frases usa texto=."
        )
    criterios = (_conjunto(boton, "boton"), patron, dadas, tipos, si, patron_boton)
    if not por_defecto and not any(c for c in criterios):
        raise MessageError(
            "respuesta() sin criterio respondería a todo: da boton=, texto=, palabra=, "
            "tipo= o si=, o declara el respaldo con por_defecto=True."
        )
    return {
        "botones": criterios[0], "patron_boton": patron_boton, "patron": patron,
        "palabras": dadas, "tipos": tipos, "estados": estados, "si": si,
        "por_defecto": por_defecto, "cuenta": cuenta,
    }  # fmt: skip


# -- the worker's side ---------------------------------------------------------------------


def hay_manejadores(cuenta: str) -> bool:
    return any(regla.cuenta in (None, cuenta) for regla in registro.reglas)


class FalloDeManejador(Exception):
    """What a rule (its ``si=`` or its function) or the handoff raised: ``regla`` names it,
    the original exception is the cause."""

    def __init__(self, regla: str) -> None:
        super().__init__(regla)
        self.regla = regla


def atender(mensaje_id: int, registrar: Callable[..., EnvioWhatsApp]) -> str:
    """Handle one inbound message (the ``responder`` task); returns its ``manejo``.

    ``registrar`` records each reply (the outbox's; the task passes it: nothing here
    reaches into the sending side). The message row is claimed with ``FOR UPDATE SKIP
    LOCKED``: a second worker on it does nothing, and a message no longer ``pendiente`` is
    left as it is. Whatever fails while deciding or answering (a rule's ``si=``, the
    handler, the handoff) is undone, logged and recorded: the message ends ``error``, never
    ``pendiente`` for Beat to hand out again and again.
    """
    base = router.db_for_write(Mensaje)
    with transaction.atomic(using=base):
        mensaje = (
            Mensaje.objects.using(base)
            .select_for_update(skip_locked=True)
            .filter(pk=mensaje_id, manejo=Manejo.PENDIENTE)
            .first()
        )
        if mensaje is None:
            return ""
        try:
            with transaction.atomic(using=base):
                manejo, manejador = _decidir(mensaje, registrar, base)
        except Exception as exc:
            regla = exc.regla if isinstance(exc, FalloDeManejador) else ""
            causa = exc.__cause__ if isinstance(exc, FalloDeManejador) and exc.__cause__ else exc
            logger.exception(
                "El manejador %s falló con el mensaje %s de %s",
                regla, mensaje.pk, mask(mensaje.telefono),
            )  # fmt: skip
            return _cerrar(mensaje, Manejo.ERROR, regla, texto_de_error(causa))
        return _cerrar(mensaje, manejo, manejador)


def _decidir(mensaje: Mensaje, registrar, base: str) -> tuple[str, str]:
    """Answer ``mensaje``: ``(manejo, manejador)``. Runs in the caller's savepoint."""
    if (agente := agente_por_telefono(mensaje.telefono)) is not None:
        return Manejo.ATENDIDO, handoff.del_agente(mensaje, agente, registrar)
    conversacion = (
        Conversacion.objects.using(base).select_for_update().get(pk=mensaje.conversacion_id)
        if mensaje.conversacion_id
        else None
    )
    if conversacion is None:
        return Manejo.SIN_MANEJADOR, ""
    con_agente = conversacion.estado == EstadoConversacion.AGENTE
    if con_agente:
        # Relayed to the agent; only rules declared for it (estado="agente" or None) run.
        handoff.al_agente(mensaje, conversacion, registrar)
    elif handoff.pide_agente(mensaje):
        handoff.pasar_a_agente(conversacion, registrar, mensaje=mensaje, motivo="palabra clave")
        return Manejo.AGENTE, "handoff"
    regla = registro.elegir(mensaje, conversacion)
    if regla is None:
        return (Manejo.AGENTE if con_agente else Manejo.SIN_MANEJADOR), ""
    contexto = copy.deepcopy(conversacion.contexto)
    try:
        respuestas = regla.funcion(mensaje, conversacion)
        enviados = responder(mensaje, respuestas, registrar, conversacion)
        if conversacion.contexto != contexto:
            conversacion.save(update_fields=["contexto", "actualizada_en"])
    except Exception as exc:
        raise FalloDeManejador(regla.nombre) from exc
    logger.info("Mensaje %s atendido por %s (%s respuestas)", mensaje.pk, regla.nombre, enviados)
    return Manejo.ATENDIDO, regla.nombre


def _cerrar(mensaje: Mensaje, manejo: str, manejador: str = "", error: str = "") -> str:
    Mensaje.objects.filter(pk=mensaje.pk).update(
        manejo=manejo, manejador=manejador[:255], manejo_error=error, manejado_en=timezone.now()
    )
    return manejo


def responder(
    mensaje: Mensaje,
    respuestas: Any,
    registrar: Callable[..., EnvioWhatsApp],
    conversacion: Conversacion | None = None,
) -> int:
    """Send what a handler returned as replies to ``mensaje``; returns how many envíos.

    Each reply has the clave ``respuesta:<mensaje id>:<n>``: a handler that runs again for
    the same message (after its worker died) never sends a reply twice.
    """
    if respuestas is None:
        return 0
    lista = list(respuestas) if isinstance(respuestas, list | tuple) else [respuestas]
    destino = mensaje.telefono or mensaje.wa_id
    n = 0
    for i, valor in enumerate(lista):
        if valor is None or isinstance(valor, EnvioWhatsApp):
            continue  # nothing to send, or the handler sent it itself
        if isinstance(valor, handoff.AlAgente):
            conversacion = conversacion or mensaje.conversacion
            if conversacion is None:
                raise TipoInvalido("AlAgente() necesita la conversación del mensaje.")
            handoff.pasar_a_agente(
                conversacion, registrar, mensaje=mensaje, motivo=valor.motivo,
                quien="manejador", texto=valor.texto,
            )  # fmt: skip
            continue
        if not isinstance(valor, RESPUESTAS):
            raise TipoInvalido(
                f"Un manejador devuelve None, un texto, Texto, Botones, Lista, Plantilla, "
                f"Documento, Imagen, Ubicacion, Reaccion o AlAgente (o una lista de ellos), no "
                f"{type(valor).__name__}."
            )
        contenido = Texto(valor) if isinstance(valor, str) else valor
        registrar(
            contenido,
            destino,
            cuenta=mensaje.cuenta,
            responde_a=mensaje,
            tipo="respuesta",
            clave=f"respuesta:{mensaje.pk}:{i}",
            nombre=mensaje.nombre or None,
        )
        n += 1
    return n


def por_atender(ahora: datetime | None = None, *, despues: float = 60) -> list[int]:
    """Inbound messages still ``pendiente`` after ``despues`` seconds (their task was lost),
    to hand out again; each hand-out is counted.

    A message handed out ``MAX_ATTEMPTS`` times that is still pendiente (its task keeps
    dying: the worker is killed on it, the database refuses it) is recorded ``error``: it
    stays visible and no longer hides the newer ones behind it.
    """
    ahora = ahora or timezone.now()
    pendientes = Mensaje.objects.filter(
        manejo=Manejo.PENDIENTE, creado_en__lt=ahora - timedelta(seconds=despues)
    )
    maximo = get_settings().MAX_ATTEMPTS
    if agotados := pendientes.filter(manejo_intentos__gte=maximo).update(
        manejo=Manejo.ERROR,
        manejo_error=f"No se pudo atender tras {maximo} intentos (su tarea no terminó nunca).",
        manejado_en=ahora,
    ):
        logger.error("%s mensajes entrantes sin atender tras %s intentos", agotados, maximo)
    ids = list(pendientes.order_by("creado_en").values_list("pk", flat=True)[:1000])
    Mensaje.objects.filter(pk__in=ids).update(manejo_intentos=F("manejo_intentos") + 1)
    return ids
