"""Bar charts computed on the server and drawn as inline SVG: no JavaScript, no CDN.

The functions here turn the outbox's per-day counts (``outbound.reports``) into
geometry (a rectangle per day and series, axis ticks, labels); the template only writes
it out. Every bar carries a ``<title>`` and every series a text label, so a chart reads
without colour, and the page adds the same figures as a table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from django.utils import formats
from django.utils.translation import gettext_lazy as _

from ..models import EstadoEnvio
from ..outbound.reports import Conteo, FallosDia

#: One colour per estado, shared with the envío changelist's badges.
COLORES_ESTADO = {
    EstadoEnvio.PROGRAMADO: "#6f42c1",
    EstadoEnvio.PENDIENTE: "#6c757d",
    EstadoEnvio.ENVIANDO: "#0d6efd",
    EstadoEnvio.INCIERTO: "#fd7e14",
    EstadoEnvio.ENVIADO: "#0b7285",
    EstadoEnvio.ENTREGADO: "#198754",
    EstadoEnvio.LEIDO: "#0f5132",
    EstadoEnvio.FALLIDO: "#dc3545",
    EstadoEnvio.OMITIDO: "#868e96",
    EstadoEnvio.CANCELADO: "#495057",
}
#: Colours of the tipos, in order of volume (told apart by their labels too).
PALETA = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442")
COLOR_OTROS = "#999999"
#: The series value that gathers the tipos beyond the chart's limit.
OTROS = "__otros__"

# Geometry of the drawing area, in SVG user units (pixels at scale 1).
# Narrow enough that, fitted to a phone's width, the labels stay readable (the page sets
# their size per screen width; the geometry leaves room for the larger one).
ANCHO = 560
ALTO = 240
IZQUIERDA = 50  # room for the y-axis numbers
DERECHA = 8
ARRIBA = 14
ABAJO = 44  # day numbers, and the month under the first day of each
#: Baselines of the day number and of the month's name, below the x axis.
DIA_Y = 18
MES_Y = 38


@dataclass(frozen=True)
class Serie:
    """One stacked series: a value of the grouped column, its label, colour and total."""

    valor: str
    etiqueta: str
    color: str
    total: int = 0
    url: str = ""


@dataclass(frozen=True)
class Segmento:
    serie: Serie
    cuantos: int
    y: float
    alto: float
    titulo: str
    url: str = ""


@dataclass(frozen=True)
class Barra:
    dia: date
    x: float
    ancho: float
    total: int
    fecha: str  # the localized date, for titles and tables
    etiqueta: str  # the day number under the bar ("" when skipped to avoid overlap)
    mes: str  # the month's name under the first day of each month shown
    segmentos: tuple[Segmento, ...] = ()
    # Rate charts: the bar's share (None: nothing finished that day) and whether it
    # reached the threshold.
    tasa: float | None = None
    alerta: bool = False
    titulo: str = ""  # the whole bar's (a day without a bar still tells why)

    @property
    def centro(self) -> float:
        return round(self.x + self.ancho / 2, 2)


@dataclass(frozen=True)
class Marca:
    """A tick of the y axis: its height and its label."""

    y: float
    texto: str


@dataclass
class Grafica:
    ancho: int
    alto: int
    base: float  # y of the x axis
    barras: list[Barra]
    series: list[Serie]
    marcas: list[Marca]
    maximo: float
    vacia: bool
    umbral_y: float | None = None
    umbral_texto: str = ""
    resumen: str = ""
    supera: bool = False
    #: The same figures as a table: a column per series, a row per day.
    columnas: list[str] = field(default_factory=list)
    filas: list[tuple[str, list]] = field(default_factory=list)

    @property
    def izquierda(self) -> int:
        return IZQUIERDA

    @property
    def arriba(self) -> int:
        return ARRIBA

    @property
    def alto_area(self) -> float:
        return self.base - ARRIBA

    @property
    def derecha(self) -> int:
        return self.ancho - DERECHA

    @property
    def dia_y(self) -> float:
        return self.base + DIA_Y

    @property
    def mes_y(self) -> float:
        return self.base + MES_Y


def principales(conteos: Iterable[Conteo], limite: int) -> tuple[list[str], set[str]]:
    """The ``limite`` values with most envíos (most first) and the set gathered as otros.

    When one value more than the limit would be all the rest, it is shown itself: an
    "otros" of one is only a worse name.
    """
    totales: dict[str, int] = {}
    for conteo in conteos:
        totales[conteo.valor] = totales.get(conteo.valor, 0) + conteo.cuantos
    orden = sorted(totales, key=lambda valor: (-totales[valor], valor))
    if len(orden) <= limite + 1:
        return orden, set()
    return orden[:limite], set(orden[limite:])


def agrupar_otros(conteos: Iterable[Conteo], otros: set[str]) -> list[Conteo]:
    """The rows with every value of ``otros`` summed per day under :data:`OTROS`."""
    resultado: dict[tuple[date, str], int] = {}
    for dia, valor, cuantos in conteos:
        clave = (dia, OTROS if valor in otros else valor)
        resultado[clave] = resultado.get(clave, 0) + cuantos
    return [Conteo(dia, valor, cuantos) for (dia, valor), cuantos in resultado.items()]


def barras_apiladas(
    conteos: Iterable[Conteo],
    dias: Sequence[date],
    series: Sequence[Serie],
    *,
    url_segmento: Callable[[date, Serie], str] | None = None,
) -> Grafica:
    """One stacked bar per day of ``dias``, a segment per series with envíos that day.

    ``series`` fixes the stacking order (the first at the bottom) and the legend; a count
    whose value is not among them is ignored. Days without envíos keep their slot, empty.
    The series come back with their totals over the period, those without envíos left out.
    """
    por_dia: dict[date, dict[str, int]] = {dia: {} for dia in dias}
    for dia, valor, cuantos in conteos:
        if dia in por_dia:
            por_dia[dia][valor] = por_dia[dia].get(valor, 0) + cuantos
    totales = {s.valor: sum(d.get(s.valor, 0) for d in por_dia.values()) for s in series}
    # The legend and the table list only the series with envíos in the period.
    series = [
        Serie(s.valor, s.etiqueta, s.color, totales[s.valor], s.url)
        for s in series
        if totales[s.valor]
    ]
    maximo = max((sum(d.get(s.valor, 0) for s in series) for d in por_dia.values()), default=0)
    tope, marcas = _eje(maximo)
    escala = _escala(tope)
    barras = []
    for i, (dia, valores, x, ancho) in enumerate(_ranuras(por_dia, dias)):
        fecha = _fecha(dia)
        segmentos, arriba = [], _base()
        for serie in series:
            cuantos = valores.get(serie.valor, 0)
            if not cuantos:
                continue
            alto = cuantos * escala
            arriba -= alto
            titulo = f"{fecha}: {serie.etiqueta} {formats.localize(cuantos)}"
            url = url_segmento(dia, serie) if url_segmento else ""
            segmentos.append(
                Segmento(serie, cuantos, round(arriba, 2), round(alto, 2), titulo, url)
            )
        total = sum(valores.get(s.valor, 0) for s in series)
        barra = _barra(dia, x, ancho, total, fecha, i, len(dias), tuple(segmentos))
        titulo = _("%(fecha)s: %(total)s envíos") % {
            "fecha": fecha,
            "total": formats.localize(total),
        }
        barras.append(replace(barra, titulo=str(titulo)))
    grafica = Grafica(ANCHO, ALTO, _base(), barras, series, marcas, tope, maximo == 0)
    grafica.columnas = [s.etiqueta for s in series] + [str(_("Total"))]
    grafica.filas = [
        (barra.fecha, [por_dia[barra.dia].get(s.valor, 0) for s in series] + [barra.total])
        for barra in barras
    ]
    return grafica


def barras_de_tasa(fallos: Iterable[FallosDia], dias: Sequence[date], umbral: float) -> Grafica:
    """The failure rate of each day as a bar, against a horizontal line at ``umbral``.

    A day with nothing finished has no bar (its title says so), which is not a rate of 0.
    The axis reaches at least a little above the threshold, so the line is always drawn.
    """
    por_dia = {fila.dia: fila for fila in fallos}
    tasas = [fila.tasa for fila in por_dia.values() if fila.tasa is not None]
    tope, marcas = _eje_porcentual(max([umbral * 1.25, *tasas]))
    escala = _escala(tope)
    barras = []
    for i, (dia, fila, x, ancho) in enumerate(_ranuras(por_dia, dias)):
        fecha = _fecha(dia)
        tasa = fila.tasa if fila else None
        if tasa is None:
            titulo = _("%(fecha)s: ningún envío terminado") % {"fecha": fecha}
            segmentos: tuple[Segmento, ...] = ()
        else:
            titulo = _("%(fecha)s: %(tasa)s fallidos (%(fallidos)s de %(terminados)s)") % {
                "fecha": fecha,
                "tasa": porcentaje(tasa),
                "fallidos": formats.localize(fila.fallidos),
                "terminados": formats.localize(fila.terminados),
            }
            alto = tasa * escala
            color = COLORES_ESTADO[EstadoEnvio.FALLIDO] if tasa >= umbral else "#6c8ebf"
            serie = Serie(EstadoEnvio.FALLIDO, str(_("fallidos")), color)
            segmentos = (
                Segmento(serie, fila.fallidos, round(_base() - alto, 2), round(alto, 2), titulo),
            )
        barra = _barra(
            dia, x, ancho, fila.terminados if fila else 0, fecha, i, len(dias), segmentos
        )
        alerta = tasa is not None and tasa >= umbral
        barras.append(replace(barra, tasa=tasa, alerta=alerta, titulo=str(titulo)))
    grafica = Grafica(ANCHO, ALTO, _base(), barras, [], marcas, tope, not tasas)
    grafica.columnas = [str(_("Terminados")), str(_("Fallidos")), str(_("Tasa de fallos"))]
    grafica.filas = [
        (
            barra.fecha,
            [por_dia[barra.dia].terminados, por_dia[barra.dia].fallidos, porcentaje(barra.tasa)]
            if barra.dia in por_dia
            else [0, 0, "—"],
        )
        for barra in barras
    ]
    grafica.umbral_y = round(_base() - umbral * escala, 2)
    grafica.umbral_texto = _("umbral %(umbral)s") % {"umbral": porcentaje(umbral)}
    return grafica


def porcentaje(valor: float | None) -> str:
    """``0.125`` as ``12,5 %`` in the active locale (``—`` for None)."""
    if valor is None:
        return "—"
    decimales = 0 if valor * 100 == round(valor * 100) else 1
    return f"{formats.number_format(valor * 100, decimales)} %"


def _ranuras(por_dia: dict, dias: Sequence[date]):
    """Each day's slot: its data, its x and the width of its bar (a gap between bars)."""
    paso = (ANCHO - IZQUIERDA - DERECHA) / max(len(dias), 1)
    ancho = max(paso * 0.72, 1.0)
    for i, dia in enumerate(dias):
        yield dia, por_dia.get(dia), IZQUIERDA + i * paso + (paso - ancho) / 2, ancho


def _barra(dia, x, ancho, total, fecha, i, n, segmentos) -> Barra:
    cada = math.ceil(n / 12)  # at most ~12 day numbers on the axis
    etiqueta = str(dia.day) if (n - 1 - i) % cada == 0 else ""
    mes = formats.date_format(dia, "N") if i == 0 or dia.day == 1 else ""
    return Barra(dia, round(x, 2), round(ancho, 2), total, fecha, etiqueta, mes, segmentos)


def _fecha(dia: date) -> str:
    return formats.date_format(dia, "SHORT_DATE_FORMAT")


def _base() -> float:
    return ALTO - ABAJO


def _escala(tope: float) -> float:
    return (ALTO - ABAJO - ARRIBA) / tope if tope else 0.0


def _paso_redondo(maximo: float, marcas: int = 4) -> float:
    """A 1, 2 or 5 times a power of ten that splits ``maximo`` in about ``marcas`` steps."""
    bruto = maximo / marcas
    potencia = 10 ** math.floor(math.log10(bruto))
    return next(m * potencia for m in (1, 2, 5, 10) if m * potencia >= bruto)


def _eje(maximo: int) -> tuple[float, list[Marca]]:
    """The top of a count axis (a round number ≥ ``maximo``) and its ticks."""
    if maximo <= 0:
        return 1, [Marca(_base(), "0")]
    paso = max(_paso_redondo(maximo), 1)
    tope = math.ceil(maximo / paso) * paso
    escala = _escala(tope)
    n = round(tope / paso)
    return tope, [
        Marca(round(_base() - k * paso * escala, 2), formats.localize(int(k * paso)))
        for k in range(n + 1)
    ]


def _eje_porcentual(maximo: float) -> tuple[float, list[Marca]]:
    paso = _paso_redondo(min(maximo, 1.0))
    tope = min(math.ceil(maximo / paso - 1e-9) * paso, 1.0)
    escala = _escala(tope)
    n = round(tope / paso)
    return tope, [
        Marca(round(_base() - k * paso * escala, 2), porcentaje(round(k * paso, 4)))
        for k in range(n + 1)
    ]
