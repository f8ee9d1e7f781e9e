"""Apply inbound events to the models: statuses of envíos, customer messages, consent.

:func:`aplicar` takes the events a backend parsed from one webhook body. Each event runs in
its own savepoint: one that fails is logged, counted and rolled back, the others are kept.
Applying the same events again changes nothing: statuses only move forward, a timestamp is
only filled while empty, a message is stored once per wamid and a consent decision once.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    models,
    router,
    transaction,
)
from django.db.models import Q
from django.utils import timezone

from .. import costs, signals, templates
from ..agents import agente_por_telefono
from ..backends import backends
from ..conf import get_settings
from ..consent import CATEGORIAS, otorgar_consentimiento, revocar_consentimiento
from ..duplicates import registrar_duplicado
from ..error_text import SIN_DETALLE, palabras_del_proveedor
from ..events import (
    BAJA,
    BAJA_MARKETING,
    DELIVERED,
    FAILED,
    PLAYED,
    READ,
    SENT,
    Evento,
    EventoDesconocido,
    EventoError,
    EventoEstado,
    EventoMensaje,
    EventoPlantilla,
    EventoPreferencia,
)
from ..exceptions import describe_error
from ..limits import entero_a_la_medida, id_a_la_medida, recortar, recortar_campos
from ..models import (
    Categoria,
    ConsentimientoCliente,
    Direccion,
    EnvioWhatsApp,
    EstadoConsentimiento,
    EstadoConversacion,
    EstadoEnvio,
    Manejo,
    Mensaje,
    OrigenConsentimiento,
)
from ..phones import TelefonoInvalido, mask, normalizar, variantes
from ..references import envio_referido
from ..states import DESTINOS, SIN_CONFIRMAR, puede_pasar
from . import conversations, handlers, handoff, media
from .palabras import es_una_de
from .palabras import palabra_clave as palabra_clave  # still importable from here

logger = logging.getLogger(__name__)


@dataclass
class Aplicados:
    """What :func:`aplicar` did with a list of events.

    Attributes:
        eventos: events seen.
        estados: statuses of a known envío (a repeated one included: it changes nothing).
        mensajes: inbound messages stored (a redelivered one is not counted).
        consentimientos: consent decisions recorded (keywords, preferences, error 131050).
        avisos: provider errors not tied to one message (logged).
        desconocidos: events about something this app does not know: the status of a
            message it did not send, a status or preference name it does not know, an item
            the backend could not parse.
        errores: events that raised (logged and rolled back; the others were kept).
        transitorios: of those, the ones the database refused for a passing reason
            (deadlock, lock timeout, lost connection): worth applying again later.
        plantillas: template status changes recorded in the catalog.
        duplicados: of ``estados``, those about another copy of an envío that proved it was
            sent twice (a redelivered one included: it changes nothing).
    """

    eventos: int = 0
    estados: int = 0
    mensajes: int = 0
    consentimientos: int = 0
    avisos: int = 0
    desconocidos: int = 0
    errores: int = 0
    transitorios: int = 0
    plantillas: int = 0
    duplicados: int = 0

    def sumar(self, otros: Aplicados) -> None:
        for campo in fields(self):
            setattr(self, campo.name, getattr(self, campo.name) + getattr(otros, campo.name))


def aplicar(eventos: Iterable[Evento], cuenta: str) -> Aplicados:
    """Apply the events of one webhook body received for account ``cuenta``.

    Never raises for an event: an exception is logged with the event's kind and counted in
    :attr:`Aplicados.errores`, and the next event is applied. Plain statuses of envíos
    known by their wamid are applied together first (:func:`aplicar_estados_en_bloque`).
    """
    aplicados = Aplicados()
    eventos = list(eventos)
    hechos = aplicar_estados_en_bloque([(evento, cuenta) for evento in eventos])
    aplicados.eventos = aplicados.estados = len(hechos)
    for evento in (e for i, e in enumerate(eventos) if i not in hechos):
        aplicados.eventos += 1
        parcial = Aplicados()
        try:
            with transaction.atomic():
                cuenta_evento = backends.cuenta_de(evento, cuenta)
                _aplicador(evento)(ids_a_la_medida(evento), cuenta_evento, parcial)
        except Exception as exc:
            logger.exception(
                "No se pudo aplicar un evento %s de la cuenta %r", type(evento).__name__, cuenta
            )
            aplicados.errores += 1
            aplicados.transitorios += isinstance(exc, OperationalError | InterfaceError)
        else:
            aplicados.sumar(parcial)
    return aplicados


def aplicar_estados_en_bloque(eventos: list[tuple[Evento, str]]) -> set[int]:
    """Apply the plain statuses among ``eventos`` (each with the account of the body it
    came in) in a few statements; return their positions, for the caller to skip.

    Plain: a known estado other than ``failed``, of an envío found by its wamid that has
    no ``failed`` among ``eventos`` (a failure's consent rules go one by one, and that
    envío's other statuses with it, in their order). First every envío any of the
    statuses may touch is locked, in one statement by id: the one-by-one steps that follow
    in the same transaction then wait for no row another worker could hold while waiting
    for one of these (no deadlock). The plain ones are applied in order with the rules of
    one alone (:func:`_registrar_estado`), written in one ``UPDATE``, and each change is
    announced with the envío as that status left it. Nothing is applied (an empty set)
    when this step fails: every event then goes one by one.
    """
    medidos = {
        i: (ids_a_la_medida(evento), cuenta)
        for i, (evento, cuenta) in enumerate(eventos)
        if isinstance(evento, EventoEstado)
    }
    # Each status with the account it is about (a body's events may route elsewhere).
    estados = {i: (e, backends.cuenta_de(e, cuenta)) for i, (e, cuenta) in medidos.items()}
    if len(estados) < 2:
        return set()
    con_fallo = {(e.wamid, c) for e, c in estados.values() if e.estado == FAILED}
    simples = {
        i: (evento, cuenta)
        for i, (evento, cuenta) in estados.items()
        if evento.wamid
        and evento.estado in DESTINOS
        and evento.estado != FAILED
        and (evento.wamid, cuenta) not in con_fallo
    }
    try:
        with transaction.atomic():
            bloqueados = _bloquear(estados.values())
            if len(simples) < 2:
                return set()
            hechos, cambios = _aplicar_en_bloque(simples, bloqueados)
    except Exception:
        logger.exception("No se pudieron aplicar %s estados en bloque: van uno a uno", len(simples))
        return set()
    for envio, anterior, destino, evento in cambios:
        _avisar_cambio(envio, anterior, destino, evento)
        _pedir_precio(envio, anterior)
    return hechos


def _bloquear(estados: Iterable[tuple[EventoEstado, str]]) -> list[EnvioWhatsApp]:
    """Lock and read, in one statement ordered by id, every envío these statuses (each with
    its account) may be about."""
    wamids: dict[str, set[str]] = {}
    referidos: set[int] = set()
    for evento, cuenta in estados:
        if evento.wamid:
            wamids.setdefault(cuenta, set()).add(evento.wamid)
        if (pk := _id_referido(evento)) is not None:
            referidos.add(pk)
    # A term per account, not per status: a few hundred ORed terms cost more to build
    # and plan than the rows take to read.
    condicion = Q(pk__in=referidos) if referidos else Q()
    for cuenta, de_la_cuenta in wamids.items():
        condicion |= Q(cuenta=cuenta, wamid__in=de_la_cuenta)
    if not condicion:
        return []
    envios = EnvioWhatsApp.objects.select_for_update().filter(condicion).order_by("pk")
    if not _se_escucha_el_estado():
        # What a status never reads, and only a receiver of the change could: left unread.
        envios = envios.defer(*_NO_LEIDOS_POR_UN_ESTADO)
    return list(envios)


#: Columns of an envío the status rules never read: its content and recipient as the ERP
#: gave them, and the moments before it left (each datetime read costs a parse).
_NO_LEIDOS_POR_UN_ESTADO = (
    "variables", "interactivo", "texto", "responde_a", "telefono_original", "nombre",
    "documento", "nombre_documento", "documento_mime", "documento_sha256",
    "creado_en", "programado_para", "expira_en", "despachado_en", "reclamado_en",
)  # fmt: skip


def _se_escucha_el_estado() -> bool:
    return signals.envio_estado_cambiado.has_listeners(EnvioWhatsApp)


def _aplicar_en_bloque(
    simples: dict[int, tuple[EventoEstado, str]], bloqueados: list[EnvioWhatsApp]
):
    """Apply ``simples`` to the ``bloqueados`` rows found by account and wamid; returns the
    positions applied and ``(envío, anterior, destino, evento)`` changes."""
    por_wamid = {(envio.cuenta, envio.wamid): envio for envio in bloqueados if envio.wamid}
    ahora = timezone.now()
    escuchado = _se_escucha_el_estado()
    hechos: set[int] = set()
    cambios = []
    campos: dict[int, set[str]] = {}
    for i, (evento, cuenta) in simples.items():
        if (envio := por_wamid.get((cuenta, evento.wamid))) is None:
            continue  # not ours, or known only by its reference: one by one
        destino = DESTINOS[evento.estado]
        cambio = _registrar_estado(envio, destino, evento, evento.fecha or ahora, ahora)
        campos.setdefault(envio.pk, set()).update(cambio.campos)
        hechos.add(i)
        if cambio.anterior is not None:
            # As this status left it: a later one of the same envío changes it again (a copy
            # only for a receiver to see; the log reads the pk).
            aviso = copy.copy(envio) if escuchado else envio
            cambios.append((aviso, cambio.anterior, destino, evento))
    _escribir_en_bloque({envio.pk: envio for envio in bloqueados}, campos)
    return hechos, cambios


def _escribir_en_bloque(envios: dict[int, EnvioWhatsApp], campos: dict[int, set[str]]) -> None:
    """Write each envío's ``campos``, one statement per set of field names.

    On PostgreSQL, ``UPDATE … FROM unnest(<one array per column>)``: every row its own
    values, one statement (Django's ``bulk_update`` builds a CASE per row and field, which
    costs more to compile than the rows take to write). Elsewhere, one UPDATE per distinct
    set of values.
    """
    por_nombres: dict[tuple[str, ...], list[int]] = {}
    for pk, nombres in campos.items():
        por_nombres.setdefault(tuple(sorted(nombres)), []).append(pk)
    conexion = connections[router.db_for_write(EnvioWhatsApp)]
    for nombres, pks in por_nombres.items():
        filas = [[getattr(envios[pk], nombre) for nombre in nombres] for pk in pks]
        if conexion.vendor == "postgresql":
            _actualizar_desde_valores(conexion, nombres, pks, filas)
            continue
        por_valores: dict[tuple, list[int]] = {}
        for pk, valores in zip(pks, filas, strict=True):
            por_valores.setdefault(tuple(valores), []).append(pk)
        for valores, mismos in por_valores.items():
            cambios = dict(zip(nombres, valores, strict=True))
            EnvioWhatsApp.objects.filter(pk__in=mismos).update(**cambios)


def _actualizar_desde_valores(conexion, nombres, pks: list[int], filas: list[list[Any]]) -> None:
    # One array per column, not a VALUES row per envío: the statement stays the same short
    # text for any number of rows, so neither psycopg nor PostgreSQL parses thousands of
    # placeholders again on every batch.
    opciones = EnvioWhatsApp._meta
    columnas = [opciones.get_field(nombre) for nombre in nombres]
    q = conexion.ops.quote_name
    tipos = [opciones.pk.rel_db_type(conexion)] + [c.db_type(conexion) for c in columnas]
    nombres_v = ", ".join(q(f"v{n}") for n in range(len(tipos)))
    asignaciones = ", ".join(f"{q(c.column)} = v.{q(f'v{n + 1}')}" for n, c in enumerate(columnas))
    sql = (
        f"UPDATE {q(opciones.db_table)} AS t SET {asignaciones} "
        f"FROM unnest({', '.join(f'%s::{tipo}[]' for tipo in tipos)}) AS v({nombres_v}) "
        f"WHERE t.{q(opciones.pk.column)} = v.{q('v0')}"
    )
    parametros = [list(pks)] + [
        _valores_de_columna(columna, [fila[n] for fila in filas], conexion)
        for n, columna in enumerate(columnas)
    ]
    with conexion.cursor() as cursor:
        cursor.execute(sql, parametros)


#: The fields a status writes whose own preparation returns a value of these types as it
#: is (``get_db_prep_save``): such values skip it.
_TAL_CUAL: dict[type, tuple[type, ...]] = {
    models.CharField: (str, type(None)),
    models.TextField: (str, type(None)),
    models.BooleanField: (bool, type(None)),
    models.IntegerField: (int, type(None)),
    models.DateTimeField: (type(None),),
}


def _valores_de_columna(columna, valores: list[Any], conexion) -> list[Any]:
    # Each value through get_db_prep_save took a third of this statement's Python for
    # values it returns unchanged: plain text, flags, codes and aware datetimes.
    tipos = _TAL_CUAL.get(type(columna), ())
    fechas = isinstance(columna, models.DateTimeField)
    return [
        valor
        if type(valor) in tipos or (fechas and type(valor) is datetime and valor.tzinfo)
        else columna.get_db_prep_save(valor, conexion)
        for valor in valores
    ]


def ids_a_la_medida(evento: Evento) -> Evento:
    """``evento`` with its message ids made to fit their columns (``limits.id_a_la_medida``).

    Done once, before anything reads them: the lookup, the deduplication and the stored row
    all see the same value, and a redelivered over-long id is still recognised.
    """
    if isinstance(evento, EventoEstado):
        wamid = id_a_la_medida(EnvioWhatsApp, "wamid", evento.wamid)
        return evento if wamid == evento.wamid else dataclasses.replace(evento, wamid=wamid)
    if isinstance(evento, EventoMensaje):
        return dataclasses.replace(
            evento,
            wamid=id_a_la_medida(Mensaje, "wamid", evento.wamid),
            contexto_wamid=id_a_la_medida(Mensaje, "contexto_wamid", evento.contexto_wamid),
        )
    return evento


def a_tiempo(evento: Evento, recibido_en: datetime) -> Evento:
    """``evento`` with its ``fecha`` no later than ``recibido_en``, and that when it has none.

    Nothing happened after we received news of it: a later timestamp is the sender's clock
    running ahead (a phone set to 2099). Left as it is, it would keep the 24-hour window
    open past its real end (free text sent where Meta answers 131047). An absent or
    impossible time (``events.fecha_posible``) is also the time received, not the time of
    processing (later, for Beat's catch-up). Preferences keep an absent time absent: their
    order is judged only when it is known.
    """
    if not isinstance(evento, EventoEstado | EventoMensaje | EventoPreferencia):
        return evento
    if evento.fecha is None:
        fecha = None if isinstance(evento, EventoPreferencia) else recibido_en
    else:
        fecha = min(evento.fecha, recibido_en)
    return evento if fecha == evento.fecha else dataclasses.replace(evento, fecha=fecha)


def _aplicador(evento: Evento) -> Callable[[Any, str, Aplicados], None]:
    aplicadores = {
        EventoEstado: _aplicar_estado,
        EventoMensaje: _aplicar_mensaje,
        EventoPreferencia: _aplicar_preferencia,
        EventoError: _aplicar_aviso,
        EventoDesconocido: _aplicar_desconocido,
        EventoPlantilla: _aplicar_plantilla,
    }
    return aplicadores.get(type(evento), _aplicar_desconocido)


# -- statuses ----------------------------------------------------------------------------

# Timestamps each status proves. Meta sends no "delivered" when a message is delivered and
# read at once, so a read proves the delivery too.
_MARCAS = {
    SENT: ("enviado_en",),
    DELIVERED: ("entregado_en",),
    READ: ("leido_en", "entregado_en"),
    PLAYED: ("leido_en", "entregado_en"),
    FAILED: ("fallido_en",),
}


def _aplicar_estado(evento: EventoEstado, cuenta: str, parcial: Aplicados) -> None:
    destino = DESTINOS.get(evento.estado)
    if destino is None:
        logger.info("Estado %r desconocido del mensaje %s: se ignora", evento.estado, evento.wamid)
        parcial.desconocidos += 1
        return
    envio = buscar_envio(evento, cuenta)
    if envio is None and (envio := _envio_de_otra_copia(evento, cuenta)) is not None:
        parcial.estados += 1
        parcial.duplicados += _aplicar_otra_copia(envio, evento)
        return
    if envio is None:
        # Messages sent from elsewhere (Business Manager, another app on the same number).
        logger.info("Estado %r de un mensaje sin envío (%s)", evento.estado, evento.wamid)
        parcial.desconocidos += 1
        return
    parcial.estados += 1
    fecha = evento.fecha or timezone.now()
    cambio = _registrar_estado(envio, destino, evento, fecha, timezone.now())
    envio.save(update_fields=sorted(cambio.campos))
    if "wamid" in cambio.campos:
        # Its worker died before recording the send: its saliente row comes with the wamid.
        conversations.registrar_salientes([(envio, envio.wamid)])
    if cambio.anterior is not None:
        _avisar_cambio(envio, cambio.anterior, destino, evento)
        _pedir_precio(envio, cambio.anterior)
    if destino == EstadoEnvio.FALLIDO and (categorias := _categorias_detenidas(evento)):
        parcial.consentimientos += _baja_por_error(envio, evento, fecha, categorias)


def _categorias_detenidas(evento: EventoEstado) -> tuple[str, ...]:
    """The categories a failed status's errors stop: all for a block, marketing for a stop."""
    significados = {error.significado for error in evento.errores}
    if BAJA in significados:
        return CATEGORIAS
    return (Categoria.MARKETING,) if BAJA_MARKETING in significados else ()


def _baja_por_error(
    envio: EnvioWhatsApp, evento: EventoEstado, fecha: datetime, categorias: tuple[str, ...]
) -> bool:
    # The provider refused the message because the customer stopped it (Meta 131050 for
    # marketing; Twilio 63014 when the customer blocked the business).
    if not envio.telefono:
        return False
    codigo = next((e.code for e in evento.errores if e.significado), None)
    evidencia = f"Error {codigo} en el envío {envio.pk} ({evento.wamid})"
    origen = OrigenConsentimiento.PROVEEDOR
    return _decidir_consentimiento(
        envio.telefono, False, origen, evidencia, fecha, categorias, envio.cuenta
    )


def buscar_envio(evento: EventoEstado, cuenta: str) -> EnvioWhatsApp | None:
    """The envío of ``cuenta`` a status is about: by wamid, else by ``referencia``.

    Only ``cuenta``'s: a message id is the provider's, and another account (or another
    provider) may have used the same one. The row is locked until the caller's
    transaction ends: the status is applied to what is stored now.
    """
    por_wamid = EnvioWhatsApp.objects.select_for_update().filter(wamid=evento.wamid, cuenta=cuenta)
    if evento.wamid and (envio := por_wamid.first()):
        return envio
    return _por_referencia(evento, cuenta)


def _por_referencia(evento: EventoEstado, cuenta: str) -> EnvioWhatsApp | None:
    # biz_opaque_callback_data carries the envío id, so a status settles an envío whose
    # worker died before saving the wamid. Other apps subscribed to the same WABA get our
    # webhooks and send their own values: the reference is signed (references.py), and
    # account, attempts, wamid and recipient must agree too.
    if (pk := _id_referido(evento)) is None:
        return None
    envio = (
        EnvioWhatsApp.objects.select_for_update()
        .filter(
            pk=pk,
            cuenta=cuenta,
            estado__in=SIN_CONFIRMAR,  # anything else already has its outcome
            intentos__gt=0,
            wamid__isnull=True,
        )
        .first()
    )
    if envio is None or not _mismo_destinatario(envio, evento.destinatario):
        return None
    return envio


def _id_referido(evento: EventoEstado) -> int | None:
    """The envío id a status echoes back (``referencia``), when this installation made it."""
    return envio_referido(evento.referencia)


def _envio_de_otra_copia(evento: EventoEstado, cuenta: str) -> EnvioWhatsApp | None:
    # The status names one of our envíos (same account and recipient) that already holds a
    # different wamid: it is about another copy of the same message. An envío re-sent after
    # a timeout or a dead worker keeps the wamid of the copy its worker recorded.
    pk = _id_referido(evento)
    if pk is None or not evento.wamid:
        return None
    envio = (
        EnvioWhatsApp.objects.filter(pk=pk, cuenta=cuenta, wamid__isnull=False)
        .exclude(wamid=evento.wamid)
        .first()
    )
    if envio is None or not _mismo_destinatario(envio, evento.destinatario):
        return None
    return envio


def _aplicar_otra_copia(envio: EnvioWhatsApp, evento: EventoEstado) -> bool:
    """Record the duplicate that a status of another copy proves; True when it proves one.

    The envío's estado and timestamps stay those of its own wamid. A failed copy reached
    nobody: it proves no duplicate.
    """
    if evento.estado == FAILED:
        logger.info("Envío %s: otra copia (%s) falló; nada cambia", envio.pk, evento.wamid)
        return False
    registrar_duplicado(envio.pk, evento.wamid)
    return True


def _mismo_destinatario(envio: EnvioWhatsApp, wa_id: str) -> bool:
    # The same phone, in any form WhatsApp reports it (MX 521…/52…, AR 549…/54…).
    return bool(wa_id) and (wa_id == envio.wa_id or wa_id in variantes(envio.telefono))


@dataclass(frozen=True)
class _Cambio:
    """What a status did to an envío: the estado it left (None: it stayed), fields set."""

    anterior: str | None
    campos: frozenset[str]


def _registrar_estado(
    envio: EnvioWhatsApp, destino: str, evento: EventoEstado, fecha: datetime, ahora: datetime
) -> _Cambio:
    """Apply to ``envio`` (read under its row lock) what the status proves: its evidence,
    never overwriting what is stored, and its estado when it moves forward. The caller
    writes the fields returned."""
    campos = _evidencia(envio, evento, fecha, ahora)
    if not puede_pasar(envio.estado, destino):
        return _Cambio(None, campos)
    anterior = envio.estado
    transicion = {"estado": destino, **_campos_transicion(anterior, destino, evento)}
    for campo, valor in transicion.items():
        setattr(envio, campo, valor)
    return _Cambio(anterior, campos | frozenset(transicion))


def _evidencia(
    envio: EnvioWhatsApp, evento: EventoEstado, fecha: datetime, ahora: datetime
) -> frozenset[str]:
    """Set on ``envio`` what any status adds, whatever the estado; return those fields."""
    # The first status of any kind shows the account's webhooks reach us (reconciliation).
    valores: dict[str, Any] = {"actualizado_en": ahora}
    if envio.confirmado_en is None:
        valores["confirmado_en"] = ahora
    if evento.wamid and envio.wamid is None:
        valores["wamid"] = evento.wamid
    if evento.destinatario and not envio.wa_id:
        valores["wa_id"] = recortar(EnvioWhatsApp, "wa_id", evento.destinatario)
    for campo in _MARCAS[evento.estado]:
        if getattr(envio, campo) is None:
            valores[campo] = fecha
    valores.update(_precio(evento))
    if evento.estado == FAILED and envio.error_codigo is None:
        # An envío that keeps its estado (delivered, already fallido) keeps its first error.
        valores.update(_error(evento))
    for campo, valor in valores.items():
        setattr(envio, campo, valor)
    if (costo := _costo(envio)) is not None:
        envio.costo, envio.moneda = costo.monto, costo.moneda
        return frozenset(valores) | {"costo", "moneda"}
    return frozenset(valores)


_ENTREGADO = frozenset({EstadoEnvio.ENTREGADO, EstadoEnvio.LEIDO})


def _pedir_precio(envio: EnvioWhatsApp, anterior: str) -> None:
    """Once an envío of a provider that prices on request (Twilio) is first known delivered,
    ask it the price after the commit (``tasks.consultar_precio``)."""
    if anterior in _ENTREGADO or not costs.pide_precio(envio):
        return
    from ..tasks import al_confirmar, publicar_precio

    al_confirmar(publicar_precio, envio.pk)


def _costo(envio: EnvioWhatsApp) -> costs.Costo | None:
    """The cost to record on ``envio`` now: once, when it is known delivered, from the
    pricing its statuses stored (on ``sent`` and one of delivered/read, in any order) and
    the rates in force now. Meta charges a delivery: a failed message costs nothing."""
    if envio.costo is not None or envio.entregado_en is None:
        return None
    if not (envio.precio_categoria or envio.precio_tipo or envio.facturable is not None):
        return None  # no pricing reported (Twilio, WHAPI): the provider's price, if any
    return costs.costo_meta(
        envio.telefono or envio.wa_id,
        facturable=envio.facturable,
        tipo=envio.precio_tipo,
        categoria=envio.precio_categoria,
        modelo=envio.precio_modelo,
    )


def _precio(evento: EventoEstado) -> dict[str, Any]:
    # Pricing and conversation come on "sent" and on one of delivered/read: keep them
    # whenever present, and leave what an earlier status stored when absent.
    campos = {
        "conversacion_id": evento.conversacion_id,
        "conversacion_expira_en": evento.conversacion_expira,
        "conversacion_origen": evento.conversacion_origen,
        "facturable": evento.facturable,
        "precio_modelo": evento.precio_modelo,
        "precio_tipo": evento.precio_tipo,
        "precio_categoria": evento.precio_categoria,
    }
    presentes = {campo: valor for campo, valor in campos.items() if valor not in (None, "")}
    return recortar_campos(EnvioWhatsApp, presentes)


def _campos_transicion(anterior: str, destino: str, evento: EventoEstado) -> dict[str, Any]:
    if destino == EstadoEnvio.FALLIDO:
        return {"proximo_intento": None, **_error(evento)}
    if anterior in SIN_CONFIRMAR:
        # Settled by the webhook: no resend, and the timeout's error no longer applies.
        return {
            "proximo_intento": None,
            "error_codigo": None,
            "error_titulo": "",
            "error_detalle": "",
        }
    return {}


def _error(evento: EventoEstado) -> dict[str, Any]:
    if not evento.errores:
        return {"error_codigo": None, "error_titulo": "", "error_detalle": SIN_DETALLE}
    error = evento.errores[0]
    codigo = entero_a_la_medida(EnvioWhatsApp, "error_codigo", error.code)
    # The provider's words beside its code; the explanation is written when it is read, in
    # the reader's language (error_text). A code the integer column cannot hold (on
    # PostgreSQL) is stored as NULL on every database; error_detalle keeps it readable:
    # "(#99999999999) ...".
    propio = palabras_del_proveedor(codigo, error.details or error.message)
    return {
        "error_codigo": codigo,
        "error_titulo": recortar(EnvioWhatsApp, "error_titulo", error.title),
        "error_detalle": propio
        if codigo is not None
        else error.legible or describe_error(error.code, error.details),
    }


def _avisar_cambio(envio: EnvioWhatsApp, anterior: str, estado: str, evento: EventoEstado) -> None:
    # ``envio`` is what was just written: no need to read it again.
    if estado == EstadoEnvio.FALLIDO:
        # The code as Meta sent it: error_codigo is empty when it does not fit the column.
        codigos = ", ".join(f"#{error.code}" for error in evento.errores) or "sin código"
        logger.warning("Envío %s fallido según el webhook (%s)", envio.pk, codigos)
    else:
        logger.debug("Envío %s: %s -> %s (%s)", envio.pk, anterior, estado, evento.wamid)
    signals.avisar_estado(envio, anterior, estado)


# -- inbound messages --------------------------------------------------------------------


def _aplicar_mensaje(evento: EventoMensaje, cuenta: str, parcial: Aplicados) -> None:
    mensaje = _guardar_mensaje(evento, cuenta)
    if mensaje is None:
        return  # delivered again: stored, signalled and applied the first time
    parcial.mensajes += 1
    if media.se_descarga(mensaje):
        media.marcar_pendiente(mensaje)
        from ..tasks import al_confirmar, publicar_descarga

        al_confirmar(publicar_descarga, mensaje.pk)
    if agente_por_telefono(mensaje.telefono) is not None:
        # One of the business's agents: relayed to the customer it answers, not a customer.
        conversacion = None
        Mensaje.objects.filter(pk=mensaje.pk).update(manejo=Manejo.PENDIENTE)
        _atender(mensaje)
    else:
        conversacion = conversations.registrar_entrante(mensaje)
        if _aplicar_palabra_clave(mensaje):
            parcial.consentimientos += 1
            # «BAJA» was answered by recording it: no handler replies to it.
            _sin_manejo(mensaje, Manejo.ATENDIDO, "consentimiento")
        elif mensaje.manejo == Manejo.PENDIENTE:
            if handlers.hay_manejadores(mensaje.cuenta) or handoff.activo():
                _atender(mensaje)
            elif conversacion.estado == EstadoConversacion.AGENTE:
                _sin_manejo(mensaje, Manejo.AGENTE)  # taken from the admin: the bot is silent
            else:
                _sin_manejo(mensaje, Manejo.SIN_MANEJADOR)
    signals.enviar_seguro(
        signals.mensaje_recibido, Mensaje, mensaje=mensaje, conversacion=conversacion
    )


def _atender(mensaje: Mensaje) -> None:
    """Hand ``mensaje`` to the ``responder`` worker once the webhook's transaction commits."""
    from ..tasks import al_confirmar, publicar_respuesta

    al_confirmar(publicar_respuesta, mensaje.pk)


def _sin_manejo(mensaje: Mensaje, manejo: str, manejador: str = "") -> None:
    campos = {"manejo": manejo, "manejador": manejador, "manejado_en": timezone.now()}
    Mensaje.objects.filter(pk=mensaje.pk).update(**campos)
    for campo, valor in campos.items():
        setattr(mensaje, campo, valor)


def _guardar_mensaje(evento: EventoMensaje, cuenta: str) -> Mensaje | None:
    """Store an inbound message; None when its wamid is already stored."""
    existe = Mensaje.objects.filter(wamid=evento.wamid).exists() if evento.wamid else False
    if existe:
        return None
    try:
        with transaction.atomic():
            return Mensaje.objects.create(**_campos_mensaje(evento, cuenta))
    except IntegrityError:
        if Mensaje.objects.filter(wamid=evento.wamid).exists():
            return None  # a concurrent delivery of the same webhook stored it first
        raise


def _campos_mensaje(evento: EventoMensaje, cuenta: str) -> dict[str, Any]:
    media = evento.media
    campos = {
        "direccion": Direccion.ENTRANTE,
        "cuenta": cuenta,
        "telefono": _telefono(evento.de),
        "wa_id": evento.de,
        "nombre": evento.nombre,
        "user_id": evento.user_id,
        "wamid": evento.wamid or None,
        "tipo": evento.tipo,
        "texto": evento.texto,
        "contenido": evento.raw,
        "contexto_wamid": evento.contexto_wamid,
        "respuesta_id": evento.respuesta_id,
        "media_id": media.id if media else "",
        "media_mime": media.mime if media else "",
        "media_sha256": media.sha256 if media else "",
        "media_nombre": media.nombre if media else "",
        "envio": _envio_respondido(evento.contexto_wamid),
        "fecha": evento.fecha or timezone.now(),
    }
    # Webhook values are not ours to trust in length; PostgreSQL would refuse the row.
    return recortar_campos(Mensaje, campos)


def _telefono(wa_id: str) -> str:
    """E.164 digits of a wa_id, or "" (a username-only user, or a number we cannot read)."""
    if not wa_id:
        return ""
    try:
        return normalizar(f"+{wa_id}")
    except TelefonoInvalido:
        return ""


def _envio_respondido(contexto_wamid: str) -> EnvioWhatsApp | None:
    if not contexto_wamid:
        return None
    return EnvioWhatsApp.objects.filter(wamid=contexto_wamid).first()


# -- consent -----------------------------------------------------------------------------


def decision_de_texto(texto: str) -> bool | None:
    """False when the whole ``texto`` is an opt-out keyword, True for opt-in, else None."""
    settings = get_settings()
    # Listed in both by mistake: stopping is the safe reading.
    if es_una_de(texto, settings.OPT_OUT_KEYWORDS):
        return False
    if es_una_de(texto, settings.OPT_IN_KEYWORDS):
        return True
    return None


def _aplicar_palabra_clave(mensaje: Mensaje) -> bool:
    # Typed text only: a button or list reply titled «Cancelar» (a reminder's cancel button),
    # a place called «Baja» or a shared contact are answers, not a request to stop.
    if mensaje.tipo != "text":
        return False
    otorgado = decision_de_texto(mensaje.texto)
    if otorgado is None:
        return False
    if not mensaje.telefono:
        logger.info("Palabra de consentimiento en el mensaje %s sin teléfono", mensaje.wamid)
        return False
    evidencia = f"Mensaje {mensaje.wamid}: «{mensaje.texto}»"
    origen = OrigenConsentimiento.WHATSAPP
    # A typed keyword is about every message from us: «BAJA» stops service notices too, and
    # «ALTA» (the customer asking to hear from us again) grants every category back.
    return _decidir_consentimiento(
        mensaje.telefono, otorgado, origen, evidencia, mensaje.fecha, CATEGORIAS, mensaje.cuenta
    )


_PREFERENCIAS = {"stop": False, "resume": True}


def _aplicar_preferencia(evento: EventoPreferencia, cuenta: str, parcial: Aplicados) -> None:
    otorgado = _PREFERENCIAS.get(evento.valor.casefold())
    telefono = _telefono(evento.wa_id)
    if otorgado is None or not evento.categoria.startswith("marketing") or not telefono:
        logger.info(
            "Preferencia no aplicada en la cuenta %r: %r = %r (%s)",
            cuenta,
            evento.categoria,
            evento.valor,
            mask(evento.wa_id),
        )
        parcial.desconocidos += 1
        return
    cuando = f" del {evento.fecha.isoformat()}" if evento.fecha else ""
    evidencia = (
        f"Preferencia en WhatsApp (user_preferences){cuando}: {evento.categoria} = {evento.valor}"
    )
    # Meta's stop/resume concerns marketing messages only: service notices keep going.
    origen = OrigenConsentimiento.META
    marketing = (Categoria.MARKETING,)
    fecha = evento.fecha
    if _decidir_consentimiento(telefono, otorgado, origen, evidencia, fecha, marketing, cuenta):
        parcial.consentimientos += 1


def _decidir_consentimiento(
    telefono: str,
    otorgado: bool,
    origen: str,
    evidencia: str,
    fecha: datetime | None,
    categorias: tuple[str, ...],
    cuenta: str,
) -> bool:
    """Record a customer's decision for ``categorias`` on ``cuenta``; True when one changed.

    The decision was made to one business number, so it is that account's. A category is
    left alone when this decision was recorded already or a later one stands.
    """
    estado = EstadoConsentimiento.OTORGADO if otorgado else EstadoConsentimiento.REVOCADO
    # The every-account row ("") counts too: a later decision the ERP recorded there stands.
    filas = ConsentimientoCliente.objects.filter(
        telefono=telefono, categoria__in=categorias, cuenta__in=["", cuenta]
    )
    decididas = {f.categoria for f in filas if _ya_decidido(f, estado, evidencia, fecha)}
    pendientes = [categoria for categoria in categorias if categoria not in decididas]
    if not pendientes:
        logger.info("Consentimiento de %s sin cambios: ya decidido", mask(telefono))
        return False
    registrar = otorgar_consentimiento if otorgado else revocar_consentimiento
    for categoria in pendientes:
        registrar(
            f"+{telefono}",
            categoria=categoria,
            origen=origen,
            evidencia=evidencia,
            fecha=fecha,
            cuenta=cuenta,
        )
    logger.info("Consentimiento de %s %s (%s: %s)", mask(telefono), estado, origen, pendientes)
    return True


def _ya_decidido(
    fila: ConsentimientoCliente, estado: str, evidencia: str, fecha: datetime | None
) -> bool:
    if fila.estado == estado and fila.evidencia == evidencia:
        return True  # this same event again
    ultima = max((marca for marca in (fila.otorgado_en, fila.revocado_en) if marca), default=None)
    if not (fecha and ultima and ultima > fecha):
        return False
    # Webhooks arrive out of order: an «ALTA» processed before the earlier «BAJA» stands.
    # Stopping is the safe side, so a late opt-out yields only to a later decision the
    # customer made in WhatsApp itself, not to one the ERP recorded meanwhile.
    clientes = {
        OrigenConsentimiento.WHATSAPP,
        OrigenConsentimiento.META,
        OrigenConsentimiento.PROVEEDOR,
    }
    return estado == EstadoConsentimiento.OTORGADO or fila.origen in clientes


# -- notices -----------------------------------------------------------------------------


def _aplicar_aviso(evento: EventoError, cuenta: str, parcial: Aplicados) -> None:
    errores = "; ".join(f"#{error.code} {error.title}".strip() for error in evento.errores)
    logger.warning(
        "El proveedor informó errores de la cuenta %r (número %s): %s",
        cuenta,
        evento.numero_id or "?",
        errores or "sin detalle",
    )
    parcial.avisos += 1


def _aplicar_desconocido(evento: Evento, cuenta: str, parcial: Aplicados) -> None:
    campo = getattr(evento, "campo", "") or type(evento).__name__
    motivo = getattr(evento, "motivo", "")
    logger.warning("Evento no reconocido de la cuenta %r: %r %s", cuenta, campo, motivo)
    parcial.desconocidos += 1


def _aplicar_plantilla(evento: EventoPlantilla, cuenta: str, parcial: Aplicados) -> None:
    templates.aplicar_evento(evento, cuenta)
    parcial.plantillas += 1
