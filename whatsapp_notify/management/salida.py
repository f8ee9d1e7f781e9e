"""What the operator commands share: result lines, dates, envío summaries, readable reasons.

Every line starts with its level (``OK``, ``WARN``, ``ERROR``) so a log is easy to grep;
a problem ends with ``→ fix:`` and what to do about it.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from django.core.management.base import CommandError, OutputWrapper
from django.core.management.color import Style
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import EnvioWhatsApp, MotivoOmision
from ..phones import mask

#: The longest wait or delay a command takes: a day (inf, nan or a year would hang it).
MAX_SEGUNDOS = 86400


def segundos(texto: str) -> float:
    """An ``argparse`` type: a finite number of seconds from 0 to :data:`MAX_SEGUNDOS`."""
    try:
        valor = float(texto)
    except ValueError:
        valor = math.nan
    if not math.isfinite(valor) or not 0 <= valor <= MAX_SEGUNDOS:
        raise argparse.ArgumentTypeError(
            _("%(valor)s no es un número de segundos de 0 a %(maximo)s.")
            % {"valor": texto, "maximo": MAX_SEGUNDOS}
        )
    return valor


def proporcion(texto: str) -> float:
    """An ``argparse`` type: a share from 0 to 1 (``0.1``: one in ten)."""
    try:
        valor = float(texto)
    except ValueError:
        valor = math.nan
    if not 0 <= valor <= 1:  # nan compares false, inf is out of range
        raise argparse.ArgumentTypeError(
            _("%(valor)s no es una proporción de 0 a 1.") % {"valor": texto}
        )
    return valor


def puerto(texto: str) -> int:
    """An ``argparse`` type: a TCP port, 0 to 65535 (0: the system picks a free one)."""
    try:
        valor = int(texto)
    except ValueError:
        valor = -1
    if not 0 <= valor <= 65535:
        raise argparse.ArgumentTypeError(
            _("%(valor)s no es un puerto de 0 a 65535.") % {"valor": texto}
        )
    return valor


class Nivel(StrEnum):
    OK = "OK"
    WARN = "WARN"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Linea:
    """One result: ``nombre`` is what was checked, ``fix`` what to do when it is wrong."""

    nivel: Nivel
    nombre: str
    detalle: str
    fix: str = ""

    def texto(self) -> str:
        linea = f"{self.nivel}  {self.nombre}: {self.detalle}"
        if not self.fix:
            return linea
        return _("%(linea)s → fix: %(fix)s") % {"linea": linea, "fix": self.fix}


def escribir(salida: OutputWrapper, style: Style, lineas: list[Linea]) -> None:
    """Write ``lineas`` to ``salida``, the level coloured when it is a terminal."""
    colores = {Nivel.OK: style.SUCCESS, Nivel.WARN: style.WARNING, Nivel.ERROR: style.ERROR}
    for linea in lineas:
        salida.write(linea.texto(), style_func=colores[linea.nivel])


def errores(lineas: list[Linea]) -> int:
    return sum(linea.nivel == Nivel.ERROR for linea in lineas)


def fecha(texto: str, *, opcion: str, fin: bool = False) -> datetime:
    """``2025-03-01`` (a whole day) or ``2025-03-01T14:30`` as an aware datetime.

    A bare date means the start of that day in the current time zone; with ``fin``, the
    start of the next day, so ``--hasta 2025-03-01`` includes all of the 1st.

    Raises:
        CommandError: ``texto`` is neither, naming ``opcion``.
    """
    try:
        # The date first: parse_datetime() also reads a bare date, as midnight.
        if dia := parse_date(texto):
            inicio = timezone.make_aware(datetime.combine(dia, time.min))
            return inicio + timedelta(days=1) if fin else inicio
        if momento := parse_datetime(texto):
            return momento if timezone.is_aware(momento) else timezone.make_aware(momento)
    except ValueError:  # well formed, but no such day or hour (2025-02-30)
        pass
    raise CommandError(
        _("%(opcion)s debe ser una fecha AAAA-MM-DD o fecha y hora AAAA-MM-DDTHH:MM, no %(texto)s.")
        % {"opcion": opcion, "texto": repr(texto)}
    )


def local(momento: datetime | None) -> str:
    """``2025-03-01 14:30`` in the current time zone; ``-`` for None.

    ISO order on purpose: a command's output is read in any locale and grepped, and
    year-month-day is never taken for another day.
    """
    return timezone.localtime(momento).strftime("%Y-%m-%d %H:%M") if momento else "-"


def resumen(envio: EnvioWhatsApp) -> str:
    """``#12 recordatorio_24h recordatorio_cita → 52******5678``: never the full phone."""
    que = envio.plantilla or envio.nombre_documento or envio.clase
    return f"#{envio.pk} {envio.tipo or '-'} {que} → {mask(envio.telefono or envio.wa_id)}"


def estado_legible(envio: EnvioWhatsApp) -> str:
    """The envío's estado as the admin names it, in lower case for the middle of a sentence
    (``sin confirmar`` for ``incierto``)."""
    return str(envio.get_estado_display()).lower()


def motivo_legible(motivo: str) -> str:
    """The Spanish label of a :class:`MotivoOmision` value (the value itself if unknown)."""
    try:
        return str(MotivoOmision(motivo).label)
    except ValueError:
        return motivo


# What the operator can do about each reason an envío did not go out.
ARREGLOS = {
    MotivoOmision.DESHABILITADO: gettext_lazy(
        'WHATSAPP_NOTIFY["ENABLED"] está en False; ponlo en True.'
    ),
    MotivoOmision.SIN_TELEFONO: gettext_lazy(
        "da un teléfono con código de país, como +52 55 1234 5678."
    ),
    MotivoOmision.TELEFONO_INVALIDO: gettext_lazy(
        "escribe el teléfono con código de país, como +52 55 1234 5678 (o ajusta "
        'WHATSAPP_NOTIFY["DEFAULT_REGION"]).'
    ),
    MotivoOmision.SIN_CONSENTIMIENTO: gettext_lazy(
        "registra el consentimiento del cliente (whatsapp_notify.otorgar_consentimiento o el "
        "admin «Consentimientos»)."
    ),
    MotivoOmision.FUERA_DE_VENTANA: gettext_lazy(
        "el cliente no escribió en las últimas 24 horas: usa una plantilla aprobada (--plantilla)."
    ),
    MotivoOmision.ERROR_DISPARADOR: gettext_lazy(
        "corrige el disparador y guarda de nuevo el objeto."
    ),
    MotivoOmision.POLITICA: gettext_lazy(
        'lo decide la política del ERP (WHATSAPP_NOTIFY["POLICY"]).'
    ),
    MotivoOmision.PLANTILLA_NO_APROBADA: gettext_lazy(
        "usa una plantilla aprobada en WhatsApp Manager y sincroniza el catálogo (manage.py "
        "whatsapp_sync_plantillas)."
    ),
    MotivoOmision.BAJA: gettext_lazy(
        "el cliente pidió la baja de esta categoría; vuelve a salir cuando escriba «ALTA» o "
        "registres su nuevo consentimiento (otorgar_consentimiento)."
    ),
    MotivoOmision.VENCIDO: gettext_lazy(
        "pasó su momento (expira_en) antes de salir; registra uno nuevo si aún hace falta."
    ),
}


def arreglo(motivo: str) -> str:
    return str(ARREGLOS.get(motivo, _("revisa el envío en el admin.")))


def sin_credenciales(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for broker and Redis URLs)."""
    partes = urlsplit(url)
    if not partes.password:
        return url
    usuario = f"{partes.username}:" if partes.username else ":"
    host = partes.netloc.rpartition("@")[2]
    return urlunsplit(partes._replace(netloc=f"{usuario}***@{host}"))
