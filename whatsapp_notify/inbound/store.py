"""Stored webhook bodies (``EventoWebhook``): keep each body once, then apply it.

The view stores a body before anything else is done with it; processing then parses it
with the backend of its account and hands the events to ``apply.aplicar``. The view
(inline), the Celery task (``WEBHOOK_ASYNC``), Beat's catch-up and the admin's
"Reprocesar" all go through :func:`procesar_evento_webhook`, so they give the same result.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import parse_qsl

from django.db import InterfaceError, OperationalError, transaction
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
    with transaction.atomic():
        return EventoWebhook.objects.get_or_create(
            cuenta=cuenta,
            sha256=_huella(raw, consulta),
            defaults={"cuerpo": cuerpo, "consulta": consulta},
        )


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
    with transaction.atomic():
        # The row lock keeps a Beat run and a late task from applying the same body at once.
        evento = EventoWebhook.objects.select_for_update().filter(pk=evento_id).first()
        if evento is None or (evento.procesado_en and not forzar):
            return False
        _procesar(evento)
    return True


def _procesar(evento: EventoWebhook) -> None:
    try:
        # Its own savepoint: a failure rolls back what it wrote, never the result below.
        with transaction.atomic():
            eventos = backends[evento.cuenta].parse_webhook(peticion_guardada(evento))
            eventos = [apply.a_tiempo(e, evento.recibido_en) for e in eventos]
            aplicados = apply.aplicar(eventos, evento.cuenta)
    except Exception as exc:
        logger.exception(
            "No se pudo procesar el evento de webhook %s de la cuenta %s", evento.pk, evento.cuenta
        )
        transitorio = isinstance(exc, OperationalError | InterfaceError)
        _guardar_resultado(evento, error=f"{type(exc).__name__}: {exc}", procesado=not transitorio)
        return
    _guardar_resultado(
        evento,
        eventos=len(eventos),
        desconocidos=aplicados.desconocidos,
        error=_describir_fallidos(aplicados.errores, len(eventos)),
        # A deadlock or a lost connection passes: leave the body for Beat to apply again
        # (applying is idempotent). Any other failure waits for the admin's "Reprocesar".
        procesado=not aplicados.transitorios,
    )


def _describir_fallidos(fallidos: int, total: int) -> str:
    if not fallidos:
        return ""
    return f"{fallidos} de {total} eventos no se pudieron aplicar; el detalle está en el registro."


def _guardar_resultado(
    evento: EventoWebhook,
    *,
    error: str,
    eventos: int = 0,
    desconocidos: int = 0,
    procesado: bool = True,
) -> None:
    evento.procesado_en = timezone.now() if procesado else None
    evento.eventos, evento.desconocidos, evento.error = eventos, desconocidos, error
    evento.save(update_fields=["procesado_en", "eventos", "desconocidos", "error"])


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
