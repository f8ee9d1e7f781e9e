"""The operations dashboard: the outbox's figures for a period and an account, in the admin.

Served by the envío admin (``EnvioWhatsAppAdmin.get_urls``), so the admin site's login,
staff check, ``each_context`` and styling apply; viewing it needs the permission to view
envíos. Every figure comes from ``outbound.reports`` (aggregate queries, a fixed number
of them whatever the size of the table); this module only arranges them for the page.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .. import costs
from ..conf import get_settings
from ..models import EnvioWhatsApp, EstadoCuenta, EstadoEnvio
from ..outbound import reports
from . import charts

#: The periods offered, in days; the first view shows PERIODO.
PERIODOS = (7, 30, 90)
PERIODO = 30
#: Tipos drawn one by one in the per-tipo chart; the rest are summed as "otros".
TIPOS_EN_GRAFICA = 6
ERRORES_EN_TABLA = 10
#: Months of the cost block, the current one included (by month of delivery).
MESES_DE_COSTO = 6
PLANTILLA = "admin/whatsapp_notify/dashboard/panel.html"


class FiltroPanel(forms.Form):
    """The period and account the page shows (GET, so a view can be bookmarked)."""

    dias = forms.TypedChoiceField(label=_("Periodo"), coerce=int, required=False)
    cuenta = forms.ChoiceField(label=_("Cuenta"), required=False)

    def __init__(self, *args, cuentas: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dias"].choices = [
            (n, ngettext("Último día", "Últimos %(n)d días", n) % {"n": n}) for n in PERIODOS
        ]
        self.fields["cuenta"].choices = [("", _("Todas")), *((c, c) for c in cuentas)]

    def elegidos(self) -> tuple[int, str | None]:
        """The valid choices, or the defaults for what is missing or not offered."""
        if not self.is_bound:
            return PERIODO, None
        self.is_valid()  # cleaned_data keeps the fields that are
        return self.cleaned_data.get("dias") or PERIODO, self.cleaned_data.get("cuenta") or None


class Cifra(NamedTuple):
    """One number of the queue block: what it is, its value, where to see the envíos."""

    clave: str
    nombre: str
    valor: str
    nota: str = ""
    url: str = ""


class Enlaces:
    """Links to the envío changelist filtered by the page's account and what was clicked."""

    def __init__(self, cuenta: str | None, desde: datetime):
        self.base = reverse("admin:whatsapp_notify_enviowhatsapp_changelist")
        self.cuenta = cuenta
        # As the changelist's own date filter writes it (local midnight, with its offset).
        self.desde = str(timezone.template_localtime(desde))

    def envios(self, **filtros) -> str:
        if self.cuenta is not None:
            filtros.setdefault("cuenta__exact", self.cuenta)
        return f"{self.base}?{urlencode(filtros)}"

    def en_periodo(self, **filtros) -> str:
        return self.envios(creado_en__gte=self.desde, **filtros)

    def del_dia(self, dia: date, **filtros) -> str:
        fecha = {"creado_en__year": dia.year, "creado_en__month": dia.month}
        return self.envios(**fecha, creado_en__day=dia.day, **filtros)


def panel_view(request: HttpRequest, model_admin) -> TemplateResponse:
    """The dashboard page; ``model_admin`` is the envío admin that serves it."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    cuentas = list(get_settings().BACKENDS)
    n_dias, cuenta = FiltroPanel(request.GET or None, cuentas=cuentas).elegidos()
    # The form shows what the page shows, a value not offered replaced by its default.
    filtro = FiltroPanel(cuentas=cuentas, initial={"dias": n_dias, "cuenta": cuenta or ""})
    ahora = timezone.now()
    dias = _dias(timezone.template_localtime(ahora).date(), n_dias)
    desde = datetime.combine(dias[0], time.min)
    if timezone.is_aware(ahora):  # under USE_TZ = False every datetime stays naive
        desde = timezone.make_aware(desde)
    enlaces = Enlaces(cuenta, desde)
    conteos = reports.por_dia_y(desde, ahora, por=("estado", "tipo"), cuenta=cuenta)
    por_estado = conteos["estado"]
    cola = reports.cola(cuenta=cuenta, ahora=ahora, ventana=ahora - desde)
    contexto = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Panel de operaciones"),
        "opts": EnvioWhatsApp._meta,
        "filtro": filtro,
        "cuenta": cuenta,
        "desde": desde,
        "hasta": ahora,
        "cifras": _cifras(cola, enlaces),
        "cola": cola,
        "por_estado": _grafica_estados(por_estado, dias, enlaces),
        "por_tipo": _grafica_tipos(conteos["tipo"], dias, enlaces),
        "fallos": _grafica_fallos(por_estado, dias, cola),
        "errores": _errores(desde, ahora, cuenta, enlaces),
        "pausadas": reports.cuentas_en_pausa(cuenta=cuenta),
        "puede_reanudar": _puede_reanudar(request),
        "envios_url": enlaces.en_periodo(),
        "costos": _costos(cuenta, timezone.template_localtime(ahora).date()),
        "meses_de_costo": MESES_DE_COSTO,
    }
    return TemplateResponse(request, PLANTILLA, contexto)


class CostoMes(NamedTuple):
    """One month of the cost block: its totals per currency and its rows per tipo and account."""

    mes: date
    totales: list[dict]
    por_tipo: list[dict]
    por_cuenta: list[dict]

    @property
    def repartos(self) -> list[tuple[str, dict]]:
        """The rows under the month's totals: each tipo's, then each account's, labelled."""
        return [
            *((_("tipo: %(tipo)s") % {"tipo": fila["grupo"] or _("(sin tipo)")}, fila)
              for fila in self.por_tipo),
            *((_("cuenta: %(cuenta)s") % {"cuenta": fila["grupo"]}, fila)
              for fila in self.por_cuenta),
        ]  # fmt: skip


def _costos(cuenta: str | None, hoy: date) -> list[CostoMes]:
    """The last MESES_DE_COSTO months' known costs, newest first (three grouped queries)."""
    primero = hoy.replace(day=1)
    for _mes in range(MESES_DE_COSTO - 1):
        primero = (primero - timedelta(days=1)).replace(day=1)
    envios = EnvioWhatsApp.objects.filter(cuenta=cuenta) if cuenta else None
    filas = {por: costs.por_mes(envios, por=por, desde=primero) for por in (None, "tipo", "cuenta")}
    meses = sorted({fila["mes"] for fila in filas[None]}, reverse=True)
    return [
        CostoMes(
            mes,
            [fila for fila in filas[None] if fila["mes"] == mes],
            sorted(
                (fila for fila in filas["tipo"] if fila["mes"] == mes),
                key=lambda fila: (-fila["total"], fila["grupo"] or ""),
            ),
            sorted(
                (fila for fila in filas["cuenta"] if fila["mes"] == mes),
                key=lambda fila: (-fila["total"], fila["grupo"] or ""),
            ),
        )
        for mes in meses
    ]


def _dias(hoy: date, n: int) -> list[date]:
    """The ``n`` local days ending today, oldest first."""
    return [hoy - timedelta(days=k) for k in range(n - 1, -1, -1)]


def _cifras(cola: reports.Cola, enlaces: Enlaces) -> list[Cifra]:
    numero = formats.localize
    espera = timesince(cola.mas_antiguo, now=cola.hasta) if cola.mas_antiguo else "—"
    desde_cuando = (
        gettext("en espera desde %(momento)s") % {"momento": _momento(cola.mas_antiguo)}
        if cola.mas_antiguo
        else gettext("nada vencido en espera")
    )
    intentos = cola.intentos_promedio
    return [
        Cifra("pendientes", gettext("En cola"), numero(cola.pendientes),
              gettext("pendientes, vencidos o esperando un reintento"),
              enlaces.envios(estado__exact=EstadoEnvio.PENDIENTE)),
        Cifra("espera", gettext("Espera del más antiguo"), espera, desde_cuando),
        Cifra("en_reintento", gettext("En reintento"), numero(cola.en_reintento),
              gettext("fallaron al menos una vez y esperan otro intento"),
              enlaces.envios(estado__exact=EstadoEnvio.PENDIENTE, intentos__gt=0)),
        Cifra("programados", gettext("Programados"), numero(cola.programados),
              gettext("con fecha futura"), enlaces.envios(estado__exact=EstadoEnvio.PROGRAMADO)),
        Cifra("enviando", gettext("Enviando"), numero(cola.enviando),
              gettext("en manos de un worker"), enlaces.envios(estado__exact=EstadoEnvio.ENVIANDO)),
        Cifra("inciertos", gettext("Sin confirmar"), numero(cola.inciertos),
              gettext("el proveedor no confirmó si salieron"),
              enlaces.envios(estado__exact=EstadoEnvio.INCIERTO)),
        Cifra("tasa_exito", gettext("Tasa de éxito"), charts.porcentaje(cola.tasa_exito),
              ngettext("de %(n)s envío terminado en el periodo",
                       "de %(n)s envíos terminados en el periodo", cola.terminados)
              % {"n": numero(cola.terminados)}),
        Cifra("intentos_promedio", gettext("Intentos promedio"),
              formats.number_format(intentos, 2) if intentos is not None else "—",
              gettext("por envío terminado en el periodo")),
    ]  # fmt: skip


def _grafica_estados(conteos, dias, enlaces: Enlaces) -> charts.Grafica:
    series = [
        charts.Serie(
            estado.value,
            str(estado.label),
            charts.COLORES_ESTADO[estado],
            url=enlaces.en_periodo(estado__exact=estado.value),
        )
        for estado in EstadoEnvio
    ]
    return charts.barras_apiladas(
        conteos,
        dias,
        series,
        url_segmento=lambda dia, serie: enlaces.del_dia(dia, estado__exact=serie.valor),
    )


def _grafica_tipos(conteos, dias, enlaces: Enlaces) -> charts.Grafica:
    principales, otros = charts.principales(conteos, TIPOS_EN_GRAFICA)
    series = [
        charts.Serie(
            tipo,
            tipo or gettext("(sin tipo)"),
            charts.PALETA[i % len(charts.PALETA)],
            url=enlaces.en_periodo(tipo__exact=tipo) if tipo else "",
        )
        for i, tipo in enumerate(principales)
    ]
    if otros:
        etiqueta = ngettext("otros (%(n)d tipo)", "otros (%(n)d tipos)", len(otros)) % {
            "n": len(otros)
        }
        series.append(charts.Serie(charts.OTROS, etiqueta, charts.COLOR_OTROS))

    def url(dia: date, serie: charts.Serie) -> str:
        if serie.valor in (charts.OTROS, ""):
            return ""
        return enlaces.del_dia(dia, tipo__exact=serie.valor)

    return charts.barras_apiladas(
        charts.agrupar_otros(conteos, otros), dias, series, url_segmento=url
    )


def _grafica_fallos(conteos, dias, cola: reports.Cola) -> charts.Grafica:
    umbral = get_settings().FAILURE_THRESHOLD
    grafica = charts.barras_de_tasa(reports.fallos_por_dia(conteos), dias, umbral)
    plantilla = (
        gettext(
            "En el periodo: %(tasa)s de fallos (%(fallidos)s de %(terminados)s terminados); "
            "el umbral de alerta (FAILURE_THRESHOLD) es %(umbral)s."
        )
        if cola.terminados
        else gettext(
            "Ningún envío terminó en el periodo; el umbral de alerta (FAILURE_THRESHOLD) es "
            "%(umbral)s."
        )
    )
    grafica.resumen = plantilla % {
        "tasa": charts.porcentaje(cola.tasa_fallos),
        "fallidos": formats.localize(cola.fallidos),
        "terminados": formats.localize(cola.terminados),
        "umbral": charts.porcentaje(umbral),
    }
    grafica.supera = cola.tasa_fallos is not None and cola.tasa_fallos >= umbral
    return grafica


class FilaError(NamedTuple):
    error: reports.ErrorFrecuente
    url: str


def _errores(desde, hasta, cuenta, enlaces: Enlaces) -> list[FilaError]:
    filas = reports.errores_principales(desde, hasta, cuenta=cuenta, limite=ERRORES_EN_TABLA)
    desde_texto = str(timezone.template_localtime(desde))
    return [
        FilaError(
            error,
            enlaces.envios(
                estado__exact=EstadoEnvio.FALLIDO,
                cuenta__exact=error.cuenta,
                fallido_en__gte=desde_texto,
                **(
                    {"error_codigo": error.codigo}
                    if error.codigo is not None
                    else {"error_codigo__isnull": "True"}
                ),
            ),
        )
        for error in filas
    ]


def _puede_reanudar(request: HttpRequest) -> bool:
    opts = EstadoCuenta._meta
    return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


def _momento(valor: datetime) -> str:
    return formats.date_format(timezone.template_localtime(valor), "SHORT_DATETIME_FORMAT")
