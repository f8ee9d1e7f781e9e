"""What the outbox says about itself: queue status, sends per day, failure rate, top errors.

The admin dashboard, the REST API and the health endpoint read the same figures from
here. Every function is a handful of aggregate queries (``COUNT … GROUP BY`` on indexed
columns); none loads envíos into Python, so they stay fast on a table of millions.

Days are counted in the current time zone (``TIME_ZONE``, or the one activated for the
request), so "today" is the ERP's day, not UTC's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from ..error_text import causa
from ..models import EnvioWhatsApp, EstadoCuenta, EstadoEnvio, debido
from ..states import ACEPTADOS
from .maintenance import medir_fallos

#: Window of the queue's success rate and average attempts when none is given.
VENTANA = timedelta(hours=24)
#: Columns the per-day and total breakdowns may group by.
AGRUPABLES = ("estado", "tipo", "cuenta")


class Cola(NamedTuple):
    """The queue at one moment, and how the envíos that finished in the window went.

    ``pendientes`` wait for a worker (due now or later); of those, ``en_reintento`` failed
    at least once and wait for their next attempt. ``mas_antiguo`` is when the oldest
    due pendiente became due: a queue that drains keeps it recent. ``terminados`` counts
    the envíos sent or failed in ``(desde, hasta]`` (as the failure alert counts them);
    ``intentos_promedio`` is their mean number of attempts.
    """

    pendientes: int
    en_reintento: int
    programados: int
    enviando: int
    inciertos: int
    mas_antiguo: datetime | None
    desde: datetime
    hasta: datetime
    terminados: int
    fallidos: int
    intentos_promedio: float | None
    pausadas: tuple[str, ...]

    @property
    def exitosos(self) -> int:
        return self.terminados - self.fallidos

    @property
    def tasa_exito(self) -> float | None:
        """Share of the finished envíos that were sent; None when none finished."""
        return self.exitosos / self.terminados if self.terminados else None

    @property
    def tasa_fallos(self) -> float | None:
        return self.fallidos / self.terminados if self.terminados else None

    @property
    def espera(self) -> timedelta | None:
        """How long the oldest due pendiente has waited, at ``hasta``."""
        return max(self.hasta - self.mas_antiguo, timedelta(0)) if self.mas_antiguo else None


class ErrorFrecuente(NamedTuple):
    """A provider error code of failed envíos, how often, and its readable cause."""

    cuenta: str
    codigo: int | None
    cuantos: int
    causa: str


class Conteo(NamedTuple):
    """Envíos created on one day (``dia``) with one value of the grouped column."""

    dia: date
    valor: str
    cuantos: int


class FallosDia(NamedTuple):
    """Of the envíos created on ``dia``, those already finished and those that failed."""

    dia: date
    terminados: int
    fallidos: int

    @property
    def tasa(self) -> float | None:
        return self.fallidos / self.terminados if self.terminados else None


def cola(
    *, cuenta: str | None = None, ahora: datetime | None = None, ventana: timedelta = VENTANA
) -> Cola:
    """The queue status: what waits, how old it is, and how the last ``ventana`` went."""
    ahora = ahora or timezone.now()
    desde = ahora - ventana
    envios = _de_cuenta(cuenta)
    pendiente = Q(estado=EstadoEnvio.PENDIENTE)
    espera = envios.filter(
        estado__in=(
            EstadoEnvio.PENDIENTE,
            EstadoEnvio.PROGRAMADO,
            EstadoEnvio.ENVIANDO,
            EstadoEnvio.INCIERTO,
        )
    ).aggregate(
        pendientes=Count("pk", filter=pendiente),
        en_reintento=Count("pk", filter=pendiente & Q(intentos__gt=0)),
        programados=Count("pk", filter=Q(estado=EstadoEnvio.PROGRAMADO)),
        enviando=Count("pk", filter=Q(estado=EstadoEnvio.ENVIANDO)),
        inciertos=Count("pk", filter=Q(estado=EstadoEnvio.INCIERTO)),
        mas_antiguo=Min(_VENCIO, filter=debido(ahora)),
    )
    fallos = medir_fallos(desde, ahora, cuenta=cuenta)
    pausadas = _pausadas(cuenta)
    return Cola(
        **espera,
        desde=desde,
        hasta=ahora,
        terminados=fallos.terminados,
        fallidos=fallos.fallidos,
        intentos_promedio=fallos.intentos / fallos.terminados if fallos.terminados else None,
        pausadas=tuple(pausadas.values_list("cuenta", flat=True)),
    )


def mas_antiguo(cuentas: Iterable[str], *, ahora: datetime | None = None) -> datetime | None:
    """When the oldest due pendiente of ``cuentas`` became due (:attr:`Cola.mas_antiguo`
    over several accounts, in one query); None when none waits."""
    ahora = ahora or timezone.now()
    return (
        EnvioWhatsApp.objects.order_by()
        .filter(debido(ahora), cuenta__in=list(cuentas))
        .aggregate(mas_antiguo=Min(_VENCIO))["mas_antiguo"]
    )


#: When a pendiente became due: its retry's time, else its scheduled time, else its creation.
_VENCIO = Coalesce("proximo_intento", "programado_para", "creado_en")


def cuentas_en_pausa(*, cuenta: str | None = None) -> list[EstadoCuenta]:
    """The paused accounts with when and why (``pausada_en``, ``error_codigo``, detail)."""
    return list(_pausadas(cuenta))


def por_dia(
    desde: datetime, hasta: datetime, *, por: str = "estado", cuenta: str | None = None
) -> list[Conteo]:
    """Envíos created in ``[desde, hasta)`` per local day and per ``por``, oldest day first."""
    return por_dia_y(desde, hasta, por=(por,), cuenta=cuenta)[por]


def por_dia_y(
    desde: datetime, hasta: datetime, *, por: tuple[str, ...], cuenta: str | None = None
) -> dict[str, list[Conteo]]:
    """:func:`por_dia` for each column of ``por``, read in one query.

    The envíos in range are grouped once by day and every column together; each
    column's counts are then summed from those groups (at most days × values of each
    column, never the envíos themselves). A long period over a large table is one scan
    instead of one per chart.
    """
    campos = [_agrupable(campo) for campo in por]
    filas = (
        _creados(_de_cuenta(cuenta), desde, hasta)
        .annotate(dia=TruncDate("creado_en", tzinfo=timezone.get_current_timezone()))
        .values_list("dia", *campos)
        .annotate(cuantos=Count("pk"))
        .order_by()
    )
    sumas: dict[str, dict[tuple[date, str], int]] = {campo: {} for campo in campos}
    for dia, *valores, cuantos in filas:
        for campo, valor in zip(campos, valores, strict=True):
            sumas[campo][dia, valor] = sumas[campo].get((dia, valor), 0) + cuantos
    return {
        campo: [Conteo(dia, valor, n) for (dia, valor), n in sorted(conteos.items())]
        for campo, conteos in sumas.items()
    }


def totales(
    desde: datetime, hasta: datetime, *, por: str = "estado", cuenta: str | None = None
) -> dict[str, int]:
    """Envíos created in ``[desde, hasta)`` per value of ``por``, most frequent first."""
    campo = _agrupable(por)
    filas = (
        _creados(_de_cuenta(cuenta), desde, hasta)
        .values_list(campo)
        .annotate(cuantos=Count("pk"))
        .order_by("-cuantos", campo)
    )
    return dict(filas)


def fallos_por_dia(conteos: list[Conteo]) -> list[FallosDia]:
    """The failure rate per day, read from :func:`por_dia` ``por="estado"`` rows.

    Of the envíos created each day, ``terminados`` were sent (enviado, entregado, leído)
    or failed; the rest (waiting, omitido, cancelado) are not counted, as in
    ``medir_fallos``. No query: the rows the per-day chart already read. Days without
    rows are left out.
    """
    dias: dict[date, list[int]] = {}
    for dia, estado, cuantos in conteos:
        fila = dias.setdefault(dia, [0, 0])
        if estado in ACEPTADOS or estado == EstadoEnvio.FALLIDO:
            fila[0] += cuantos
        if estado == EstadoEnvio.FALLIDO:
            fila[1] += cuantos
    return [FallosDia(dia, terminados, fallidos) for dia, (terminados, fallidos) in dias.items()]


def errores_principales(
    desde: datetime, hasta: datetime, *, cuenta: str | None = None, limite: int = 10
) -> list[ErrorFrecuente]:
    """The most frequent error codes of the envíos that failed in ``(desde, hasta]``.

    Codes are per provider, so they are counted per account and explained by that
    account's backend (``None`` gathers failures without a provider code: a network
    error, a rejected document).
    """
    filas = (
        _de_cuenta(cuenta)
        .filter(estado=EstadoEnvio.FALLIDO, fallido_en__gt=desde, fallido_en__lte=hasta)
        .values_list("cuenta", "error_codigo")
        .annotate(cuantos=Count("pk"))
        .order_by("-cuantos", "cuenta", "error_codigo")[:limite]
    )
    return [
        ErrorFrecuente(alias, codigo, cuantos, causa(alias, codigo))
        for alias, codigo, cuantos in filas
    ]


def _de_cuenta(cuenta: str | None) -> QuerySet[EnvioWhatsApp]:
    envios = EnvioWhatsApp.objects.order_by()
    return envios if cuenta is None else envios.filter(cuenta=cuenta)


def _pausadas(cuenta: str | None) -> QuerySet[EstadoCuenta]:
    pausadas = EstadoCuenta.objects.filter(pausada=True).order_by("cuenta")
    return pausadas if cuenta is None else pausadas.filter(cuenta=cuenta)


def _creados(envios: QuerySet, desde: datetime, hasta: datetime) -> QuerySet:
    return envios.filter(creado_en__gte=desde, creado_en__lt=hasta)


def _agrupable(por: str) -> str:
    if por not in AGRUPABLES:
        raise ValueError(f"por={por!r}: se agrupa por {', '.join(AGRUPABLES)}")
    return por
