"""Reconciling uncertain sends with the status webhooks: when to re-send, and duplicates.

An ``incierto`` envío may have reached the customer: the request left and its answer was
lost (a timeout, a worker that died). Meta has no idempotency key, so only a status webhook
(it echoes the envío id) can tell. :func:`liberar_inciertos` re-sends such an envío only
once the account's status webhooks are demonstrably current;
:func:`whatsapp_notify.duplicates.registrar_duplicado`
records the copies a status proves were sent twice anyway.

A quiet account (no other send after the uncertain one) can never prove its webhooks
current, and an envío out of attempts is never re-sent by itself: both would wait in
silence, and if the request never reached Meta the message is lost. Other evidence that
the receiver is up (any webhook body, an inbound message) is not used to re-send: it
proves the URL answers, not that Meta's retries of the statuses it failed to deliver
have drained, so a re-send on it could duplicate. Instead :func:`avisar_retenidos`
e-mails ``ADMINS`` once per envío still ``incierto`` ``RECONCILE_AFTER`` +
:data:`AVISAR_TRAS` after its claim, and marks it :data:`AVISADO` (``whatsapp_check`` and
the admin show it waiting for a decision: «Reenviar» asks for confirmation first). A late
message is preferred to a duplicate; a held one is never silent.

Every time that decides a re-send comes from the database's clock
(:func:`hora_de_la_base`): hosts' clocks drift apart, and a worker running behind would
otherwise make its in-flight request look abandoned to Beat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, router
from django.db.models import Case, F, Max, Min, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from ..conf import get_settings
from ..error_text import AVISADO, RETENIDO
from ..models import EnvioWhatsApp, EstadoEnvio
from .admin_mail import avisar_admins

logger = logging.getLogger(__name__)

# Meta's first status normally comes back within seconds of the API's answer: a message
# accepted this recently may still be waiting for it without the webhooks being behind.
ESPERA_ESTADO = timedelta(seconds=60)
# A held envío is looked at again after this (Beat's ``despachar`` runs every minute).
REVISAR_CADA = timedelta(seconds=60)
# An incierto envío still unsettled this long after RECONCILE_AFTER (from its claim, on
# the database's clock) is put to the admins: a message held in silence may be lost.
AVISAR_TRAS = timedelta(hours=1)


@dataclass(frozen=True)
class Corte:
    """What an account's status webhooks prove, from its sends accepted after some time.

    Attributes:
        confirmado: acceptance time of the latest send whose first status came back.
        sin_estado: acceptance time of the latest send (older than ``ESPERA_ESTADO``)
            still waiting for its first status; None when none is.
    """

    confirmado: datetime | None
    sin_estado: datetime | None

    def al_dia_desde(self, reclamado: datetime) -> bool:
        """True when the webhooks are current for a send claimed at ``reclamado``."""
        if self.confirmado is None or self.confirmado <= reclamado:
            return False
        return self.sin_estado is None or self.sin_estado <= reclamado


def corte_de_webhooks(cuenta: str, desde: datetime, ahora: datetime) -> Corte:
    """Read, in one query on the (cuenta, enviado_en) index, what the webhooks of
    ``cuenta`` prove about its sends accepted after ``desde``."""
    valores = EnvioWhatsApp.objects.filter(cuenta=cuenta, enviado_en__gt=desde).aggregate(
        confirmado=Max("enviado_en", filter=Q(confirmado_en__isnull=False)),
        sin_estado=Max(
            "enviado_en",
            filter=Q(
                confirmado_en__isnull=True,
                wamid__isnull=False,
                enviado_en__lte=ahora - ESPERA_ESTADO,
            ),
        ),
    )
    return Corte(valores["confirmado"], valores["sin_estado"])


def liberar_inciertos(ahora: datetime) -> int:
    """Send back to ``pendiente`` the due ``incierto`` envíos whose account is current.

    An envío claimed at T (``reclamado_en``) goes back only when a status came back for
    one of its account's sends accepted after T and none accepted between T and
    ``ahora - ESPERA_ESTADO`` still waits for its first one. The others stay ``incierto``,
    due again in ``REVISAR_CADA``, logged once. Returns how many went back.
    """
    # proximo_intento was computed on the worker's clock; the claim time is the
    # database's, like ``ahora``: a worker whose clock runs behind cannot shorten the wait.
    espera = get_settings().seconds("RECONCILE_AFTER")
    vencidos = EnvioWhatsApp.objects.filter(
        _reclamado("lte", ahora - espera),
        estado=EstadoEnvio.INCIERTO,
        proximo_intento__lte=ahora,
    )
    por_cuenta = (
        vencidos.values("cuenta")
        .annotate(desde=Min(Coalesce("reclamado_en", "creado_en")))
        .order_by()
        .values_list("cuenta", "desde")
    )
    liberados = 0
    for cuenta, desde in list(por_cuenta):
        corte = corte_de_webhooks(cuenta, desde, ahora)
        de_la_cuenta = vencidos.filter(cuenta=cuenta)
        liberados += _liberar(de_la_cuenta, corte, ahora)
        _retener(de_la_cuenta, cuenta, ahora)
    return liberados


def hora_de_la_base() -> datetime:
    """The database's current time: the clock Beat and the workers share.

    Workers stamp ``reclamado_en`` and ``enviado_en`` with it (``Now()`` in their UPDATE),
    so Beat's decisions to send again compare times read from one clock whatever the
    hosts' clocks say. SQLite runs inside each process, on the one host its file lives
    on: there it is this process's clock.
    """
    conexion = connections[router.db_for_read(EnvioWhatsApp)]
    if conexion.vendor != "postgresql":
        return timezone.now()
    with conexion.cursor() as cursor:
        # STATEMENT_TIMESTAMP, like Django's Now(): CURRENT_TIMESTAMP stops at the start
        # of the transaction.
        cursor.execute("SELECT STATEMENT_TIMESTAMP()")
        return cursor.fetchone()[0]


def _reclamado(operador: str, cuando: datetime) -> Q:
    # An envío without a claim time (rows older than the claim) counts from its creation.
    return Q(**{f"reclamado_en__{operador}": cuando}) | Q(
        reclamado_en__isnull=True, **{f"creado_en__{operador}": cuando}
    )


def _liberar(vencidos: QuerySet[EnvioWhatsApp], corte: Corte, ahora: datetime) -> int:
    if corte.confirmado is None:
        return 0
    liberables = vencidos.filter(_reclamado("lt", corte.confirmado))
    if corte.sin_estado is not None:
        liberables = liberables.filter(_reclamado("gte", corte.sin_estado))
    # No task is queued for a released envío: the dispatch that follows takes it at once.
    return liberables.update(
        estado=EstadoEnvio.PENDIENTE, proximo_intento=None, despachado_en=None, actualizado_en=ahora
    )


def _retener(retenidos: QuerySet[EnvioWhatsApp], cuenta: str, ahora: datetime) -> None:
    nuevos = list(retenidos.exclude(error_detalle__contains=RETENIDO).values_list("pk", flat=True))
    if nuevos:
        logger.warning(
            "Cuenta %r: webhooks de estado atrasados; %s envío(s) sin confirmar esperan "
            "antes de reenviarse: %s",
            cuenta,
            len(nuevos),
            _algunos(nuevos),
        )
        EnvioWhatsApp.objects.filter(pk__in=nuevos).update(error_detalle=_con_nota(RETENIDO))
    retenidos.update(proximo_intento=ahora + REVISAR_CADA, actualizado_en=ahora)


def _algunos(ids: list[int], cuantos: int = 20) -> str:
    """The first ``cuantos`` ids, and "…" when there are more: one log line, never thousands."""
    return ", ".join(map(str, ids[:cuantos])) + (" …" if len(ids) > cuantos else "")


def _con_nota(nota: str) -> Case:
    return Case(
        When(error_detalle="", then=Value(nota)),
        default=Concat(F("error_detalle"), Value(f" {nota}"), output_field=TextField()),
        output_field=TextField(),
    )


def avisar_retenidos(ahora: datetime) -> int:
    """E-mail ``ADMINS`` about the incierto envíos left unsettled for too long.

    An envío claimed more than ``RECONCILE_AFTER`` + :data:`AVISAR_TRAS` before ``ahora``
    that is still ``incierto`` (held because its account cannot prove its webhooks are
    current, a quiet account above all, or out of attempts) gets :data:`AVISADO` in its
    error detail and is named in one e-mail: each envío once, so a new one alerts at once
    and an old one never again. Nothing is re-sent: whether to is the operator's call.
    Returns how many envíos the e-mail named.
    """
    limite = ahora - get_settings().seconds("RECONCILE_AFTER") - AVISAR_TRAS
    sin_aviso = EnvioWhatsApp.objects.filter(
        _reclamado("lte", limite), estado=EstadoEnvio.INCIERTO
    ).exclude(error_detalle__contains=AVISADO)
    ids = list(sin_aviso.order_by("pk").values_list("pk", flat=True)[:1000])
    # Conditional on the note still missing: of two Beats at once, one marks and mails each.
    if not ids or not sin_aviso.filter(pk__in=ids).update(error_detalle=_con_nota(AVISADO)):
        return 0
    avisados = EnvioWhatsApp.objects.filter(pk__in=ids, error_detalle__contains=AVISADO)
    desde = avisados.aggregate(desde=Min(Coalesce("reclamado_en", "creado_en")))["desde"]
    _enviar_aviso(len(ids), desde, ids)
    return len(ids)


def _enviar_aviso(cuantos: int, desde: datetime | None, ids: list[int]) -> None:
    cuando = desde.isoformat(timespec="minutes") if desde else "?"
    lista = _algunos(ids)
    logger.error(
        "%s envío(s) de WhatsApp sin confirmar esperan una decisión (desde %s): %s",
        cuantos,
        cuando,
        lista,
    )
    cifras = {"n": cuantos, "cuando": cuando, "lista": lista}
    cuerpo = _(
        "%(n)s envío(s) de WhatsApp siguen sin confirmar (el más antiguo se intentó el "
        "%(cuando)s UTC): la petición a Meta expiró o el worker murió, y no se sabe si el "
        "mensaje llegó. No se reenvían solos: su cuenta no demuestra que reciba al día los "
        "webhooks de estado (una cuenta sin más envíos no puede demostrarlo) o se agotaron "
        "los intentos, y reenviarlos podría duplicar el mensaje."
    )
    # The estado under the admin's name for it, so the reader finds it in the filter.
    donde = _(
        "Están en el admin (Envíos de WhatsApp, estado «%(estado)s»; su detalle dice "
        "«Avisado»). Comprueba si el cliente lo recibió y, si no, usa la acción «Reenviar» "
        "(pide confirmación). Si llega su webhook de estado, el envío se asienta solo. No se "
        "volverá a avisar de estos envíos."
    ) % {"estado": EstadoEnvio.INCIERTO.label}
    avisar_admins(
        _("WhatsApp: %(n)s envío(s) sin confirmar esperan tu decisión") % cifras,
        f"{cuerpo % cifras}\n\n" + _("Envíos: %(lista)s") % cifras + f"\n\n{donde}",
    )
