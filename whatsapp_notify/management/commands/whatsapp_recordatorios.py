"""``python manage.py whatsapp_recordatorios``: scheduled envíos coming due, and send the due ones.

Reads ``programado`` envíos (recordatorios and any send with ``programado_para``); without
``--dry-run`` it runs the Beat task ``despachar`` once, as Beat does every minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from ... import tasks
from ...models import EnvioWhatsApp, EstadoEnvio
from ..salida import local, resumen

HORAS = 48.0


class Command(BaseCommand):
    @property
    def help(self) -> str:  # read when the parser is built, in the active language
        return _(
            "Lista los envíos programados (recordatorios) que salen en las próximas --horas "
            "(por omisión 48): id, tipo, plantilla, teléfono enmascarado y cuándo. Sin --dry-run "
            "despacha ya los vencidos, como hace Celery Beat cada minuto."
        )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--horas",
            type=float,
            default=HORAS,
            help=_("Ventana hacia adelante, en horas (por omisión %(horas)s).")
            % {"horas": f"{HORAS:g}"},
        )
        parser.add_argument("--cuenta", help=_("Solo los envíos de esta cuenta."))
        parser.add_argument(
            "--dry-run", action="store_true", help=_("Solo lista; no despacha ningún envío.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["horas"] < 0:
            raise CommandError(
                _("--horas debe ser cero o más, no %(horas)s.") % {"horas": f"{options['horas']:g}"}
            )
        ahora = timezone.now()
        envios = programados(ahora + timedelta(hours=options["horas"]), options["cuenta"])
        self._listar(list(envios), ahora, options["horas"])
        if options["dry_run"]:
            self.stdout.write(_("--dry-run: no se despachó nada."))
            return
        despachados = tasks.despachar()
        mensaje = _("Despachados ahora: %(n)s envío(s).") % {"n": despachados}
        self.stdout.write(self.style.SUCCESS(mensaje))

    def _listar(self, envios: list[EnvioWhatsApp], ahora: datetime, horas: float) -> None:
        if not envios:
            mensaje = _("Ningún envío programado en las próximas %(horas)s h.")
            self.stdout.write(mensaje % {"horas": f"{horas:g}"})
            return
        vencidos = sum(envio.programado_para <= ahora for envio in envios)
        self.stdout.write(
            _(
                "%(n)s envío(s) programado(s) en las próximas %(horas)s h (%(vencidos)s "
                "vencido(s), salen en el próximo despacho); horas de %(zona)s:"
            )
            % {
                "n": len(envios),
                "horas": f"{horas:g}",
                "vencidos": vencidos,
                "zona": timezone.get_current_timezone_name(),
            }
        )
        for envio in envios:
            marca = "  " + _("vencido") if envio.programado_para <= ahora else ""
            self.stdout.write(f"{local(envio.programado_para)}  {resumen(envio)}{marca}")


def programados(hasta: datetime, cuenta: str | None = None) -> QuerySet[EnvioWhatsApp]:
    """``programado`` envíos due by ``hasta`` (already due ones included), soonest first."""
    envios = EnvioWhatsApp.objects.filter(
        estado=EstadoEnvio.PROGRAMADO, programado_para__lte=hasta
    ).order_by("programado_para", "pk")
    return envios.filter(cuenta=cuenta) if cuenta else envios
