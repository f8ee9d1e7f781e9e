"""Stored webhook bodies (``EventoWebhook``): keep each body once, then apply it.

The view stores a body before anything else is done with it; processing then parses it
with the backend of its account and hands the events to ``apply.aplicar``. The view
(inline), the Celery task (``WEBHOOK_ASYNC``), Beat's catch-up and the admin's
"Reprocesar" all go through :func:`procesar_evento_webhook`, so they give the same result.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import parse_qsl

from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    router,
    transaction,
)
from django.utils import timezone

from ..backends import backends
from ..backends.base import WebhookRequest
from ..models import EventoWebhook
from . import apply

logger = logging.getLogger(__name__)

#: Unprocessed bodies older than this are taken up by Beat (their task was lost).
REPROCESAR_TRAS = timedelta(minutes=1)
#: ...and younger than this (Meta itself gives up redelivering after seven days).
REPROCESAR_HASTA = timedelta(days=7)
#: At most this many bodies per Beat run, oldest first; the next run takes the rest.
REPROCESAR_POR_VUELTA = 500
#: A worker's task applies its body together with up to this many others still waiting.
POR_LOTE = 200


def guardar_evento(cuenta: str, raw: bytes, *, consulta: str = "") -> tuple[EventoWebhook, bool]:
    """Store a request once per account and content; True when it was not stored before.

    ``raw`` must be UTF-8 (JSON and forms are): it is kept decoded, exactly as received, so
    it can be parsed again byte for byte. ``consulta`` is the query string, kept because a
    provider may echo the envío's reference in it (Twilio's status callback URL). A body
    redelivered by the provider returns the stored row.

    Raises:
        UnicodeDecodeError: ``raw`` is not UTF-8.
    """
    cuerpo = raw.decode("utf-8")
    consulta = consulta[: EventoWebhook._meta.get_field("consulta").max_length]
    clave = {"cuenta": cuenta, "sha256": _huella(raw, consulta)}
    try:
        # A new body (nearly every one) costs one INSERT; a savepoint only inside the
        # caller's transaction, where a conflict would otherwise break it.
        with transaction.atomic(savepoint=True) if _en_transaccion() else nullcontext():
            return EventoWebhook.objects.create(**clave, cuerpo=cuerpo, consulta=consulta), True
    except IntegrityError:  # stored before: a redelivery, or a concurrent copy
        return EventoWebhook.objects.get(**clave), False


def _en_transaccion() -> bool:
    return connections[router.db_for_write(EventoWebhook)].in_atomic_block


def _huella(raw: bytes, consulta: str) -> str:
    """SHA-256 of the body, and of the query string when there is one."""
    huella = hashlib.sha256(raw)
    if consulta:
        huella.update(b"?" + consulta.encode("utf-8"))
    return huella.hexdigest()


def peticion_guardada(evento: EventoWebhook) -> WebhookRequest:
    """The stored request, as its backend parses it again (body and query only)."""
    return WebhookRequest(
        body=evento.cuerpo.encode("utf-8"), query=dict(parse_qsl(evento.consulta))
    )


def procesar_evento_webhook(evento_id: int, *, forzar: bool = False) -> bool:
    """Apply a stored body; True when it was processed now.

    An evento already processed is skipped unless ``forzar`` (the admin's "Reprocesar").
    Sets ``procesado_en``, ``eventos``, ``desconocidos`` and ``error``. A body that cannot
    be parsed or applied does not raise: the error is logged and stored on the row, which
    keeps it for "Reprocesar" (``apply.aplicar`` is idempotent, so that is safe).
    """
    _recientes.descartar(evento_id)  # it may go back to pending: a task must look again
    with transaction.atomic():
        # The row lock keeps a Beat run and a late task from applying the same body at once.
        evento = EventoWebhook.objects.select_for_update().filter(pk=evento_id).first()
        if evento is None or (evento.procesado_en and not forzar):
            return False
        _procesar(evento)
    return True


def procesar_lote(primero: int, *, limite: int = POR_LOTE) -> int:
    """Apply the stored body ``primero`` and up to ``limite - 1`` others still waiting,
    together; returns how many were processed (0: ``primero`` was done, or is another
    worker's).

    What a worker's task runs: Meta posts one status per request, so a campaign stores
    thousands of one-status bodies, each with its task. The first task to run takes the
    waiting ones with it (``FOR UPDATE SKIP LOCKED``: two workers take disjoint sets); the
    later tasks find theirs done. Each body gets the result :func:`procesar_evento_webhook`
    would give it; their plain statuses are applied in one step
    (:func:`apply.aplicar_estados_en_bloque`), the rest body by body, and the results are
    written in one statement per distinct result.
    """
    if primero in _recientes:  # this process's earlier batch took it: not even a query
        return 0
    pendientes = EventoWebhook.objects.filter(procesado_en__isnull=True)
    if not pendientes.filter(pk=primero).exists():  # another process's batch took it
        return 0
    with transaction.atomic():
        bloqueables = pendientes.select_for_update(skip_locked=True)
        filas = list(bloqueables.filter(pk=primero))
        if not filas:
            return 0
        filas += bloqueables.exclude(pk=primero).order_by("pk")[: max(0, limite - 1)]
        ahora = timezone.now()
        leidos = [(f, eventos) for f in filas if (eventos := _leer(f, ahora)) is not None]
        pares = [(evento, fila.cuenta) for fila, eventos in leidos for evento in eventos]
        hechos = apply.aplicar_estados_en_bloque(pares)
        posicion = 0
        for fila, eventos in leidos:
            resto = [e for k, e in enumerate(eventos, posicion) if k not in hechos]
            posicion += len(eventos)
            _aplicar(fila, eventos, resto, ahora)
        _guardar_resultados(filas)
    _recientes.agregar(fila.pk for fila in filas if fila.procesado_en is not None)
    return len(filas)


class _Recientes:
    """The last ``tope`` ids this process's batches processed (committed), oldest out."""

    def __init__(self, tope: int):
        self._ids: dict[int, None] = {}
        self._tope = tope
        self._lock = threading.Lock()

    def __contains__(self, evento_id: int) -> bool:
        return evento_id in self._ids

    def vaciar(self) -> None:
        """Forget them all (tests: a rolled-back transaction gives its ids out again)."""
        with self._lock:
            self._ids.clear()

    def descartar(self, evento_id: int) -> None:
        with self._lock:
            self._ids.pop(evento_id, None)

    def agregar(self, ids: Iterable[int]) -> None:
        with self._lock:
            for evento_id in ids:
                self._ids[evento_id] = None
            while len(self._ids) > self._tope:
                del self._ids[next(iter(self._ids))]


_recientes = _Recientes(tope=20 * POR_LOTE)


def _procesar(evento: EventoWebhook) -> None:
    ahora = timezone.now()
    if (eventos := _leer(evento, ahora)) is not None:
        _aplicar(evento, eventos, eventos, ahora)
    evento.save(update_fields=RESULTADO)


def _leer(evento: EventoWebhook, ahora: datetime) -> list | None:
    """The body's events, dated no later than its arrival; None (noted) when unreadable."""
    try:
        eventos = backends[evento.cuenta].parse_webhook(peticion_guardada(evento))
        return [apply.a_tiempo(e, evento.recibido_en) for e in eventos]
    except Exception as exc:
        _fallo(evento, exc, ahora)
        return None


def _aplicar(evento: EventoWebhook, eventos: list, resto: list, ahora: datetime) -> None:
    """Apply ``resto`` of the body's ``eventos`` (the others were applied in bulk) and
    note the result on ``evento`` (the caller writes it)."""
    aplicados = apply.Aplicados()
    try:
        if resto:
            # Its own savepoint: a failure rolls back what it wrote, never the result.
            with transaction.atomic():
                aplicados = apply.aplicar(resto, evento.cuenta)
    except Exception as exc:
        _fallo(evento, exc, ahora)
        return
    _anotar(
        evento,
        ahora,
        eventos=len(eventos),
        desconocidos=aplicados.desconocidos,
        error=_describir_fallidos(aplicados.errores, len(eventos)),
        # A deadlock or a lost connection passes: leave the body for Beat to apply again
        # (applying is idempotent). Any other failure waits for the admin's "Reprocesar".
        procesado=not aplicados.transitorios,
    )


def _fallo(evento: EventoWebhook, exc: Exception, ahora: datetime) -> None:
    logger.error(
        "No se pudo procesar el evento de webhook %s de la cuenta %s",
        evento.pk,
        evento.cuenta,
        exc_info=exc,
    )
    transitorio = isinstance(exc, OperationalError | InterfaceError)
    _anotar(evento, ahora, error=f"{type(exc).__name__}: {exc}", procesado=not transitorio)


def _describir_fallidos(fallidos: int, total: int) -> str:
    if not fallidos:
        return ""
    return f"{fallidos} de {total} eventos no se pudieron aplicar; el detalle está en el registro."


#: The fields a processing writes on a stored body.
RESULTADO = ("procesado_en", "eventos", "desconocidos", "error")


def _anotar(
    evento: EventoWebhook,
    ahora: datetime,
    *,
    error: str,
    eventos: int = 0,
    desconocidos: int = 0,
    procesado: bool = True,
) -> None:
    evento.procesado_en = ahora if procesado else None
    evento.eventos, evento.desconocidos, evento.error = eventos, desconocidos, error


def _guardar_resultados(filas: list[EventoWebhook]) -> None:
    """Write the noted results, one UPDATE per distinct result (most bodies share one)."""
    por_resultado: dict[tuple, list[int]] = {}
    for fila in filas:
        por_resultado.setdefault(tuple(getattr(fila, c) for c in RESULTADO), []).append(fila.pk)
    for valores, pks in por_resultado.items():
        EventoWebhook.objects.filter(pk__in=pks).update(
            **dict(zip(RESULTADO, valores, strict=True))
        )


def eventos_por_reprocesar(ahora: datetime | None = None) -> list[int]:
    """Ids of bodies stored over :data:`REPROCESAR_TRAS` ago and never processed, oldest first.

    Those are bodies whose task was lost (broker down when publishing, worker killed), whose
    inline processing died with the process, or that met a passing database error.
    """
    ahora = ahora or timezone.now()
    pendientes = EventoWebhook.objects.filter(
        procesado_en__isnull=True,
        recibido_en__lte=ahora - REPROCESAR_TRAS,
        recibido_en__gte=ahora - REPROCESAR_HASTA,
    )
    ids = pendientes.order_by("recibido_en", "pk").values_list("pk", flat=True)
    return list(ids[:REPROCESAR_POR_VUELTA])


class Reproceso(NamedTuple):
    """What :func:`reprocesar` did: bodies processed again, and how many still have an error."""

    procesados: int
    con_error: int


def reprocesar(ids: Iterable[int]) -> Reproceso:
    """Process the given bodies again, even those already processed (the admin's action)."""
    ids = list(ids)
    procesados = sum(procesar_evento_webhook(evento_id, forzar=True) for evento_id in ids)
    con_error = EventoWebhook.objects.filter(pk__in=ids).exclude(error="").count()
    return Reproceso(procesados, con_error)
