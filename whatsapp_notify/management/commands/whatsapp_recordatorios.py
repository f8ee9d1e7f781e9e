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

from ... import tasks
from ...models import EnvioWhatsApp, EstadoEnvio
from ..salida import local, resumen

HORAS = 48.0


class Command(BaseCommand):
    help = (
        "Lista los envíos programados (recordatorios) que salen en las próximas --horas "
        "(por omisión 48): id, tipo, plantilla, teléfono enmascarado y cuándo. Sin --dry-run "
        "despacha ya los vencidos, como hace Celery Beat cada minuto."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--horas",
            type=float,
            default=HORAS,
            help=f"Ventana hacia adelante, en horas (por omisión {HORAS:g}).",
        )
        parser.add_argument("--cuenta", help="Solo los envíos de esta cuenta.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Solo lista; no despacha ningún envío."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["horas"] < 0:
            raise CommandError(f"--horas debe ser cero o más, no {options['horas']:g}.")
        ahora = timezone.now()
        envios = programados(ahora + timedelta(hours=options["horas"]), options["cuenta"])
        self._listar(list(envios), ahora, options["horas"])
        if options["dry_run"]:
            self.stdout.write("--dry-run: no se despachó nada.")
            return
        despachados = tasks.despachar()
        self.stdout.write(self.style.SUCCESS(f"Despachados ahora: {despachados} envío(s)."))

    def _listar(self, envios: list[EnvioWhatsApp], ahora: datetime, horas: float) -> None:
        if not envios:
            self.stdout.write(f"Ningún envío programado en las próximas {horas:g} h.")
            return
        vencidos = sum(envio.programado_para <= ahora for envio in envios)
        self.stdout.write(
            f"{len(envios)} envío(s) programado(s) en las próximas {horas:g} h "
            f"({vencidos} vencido(s), salen en el próximo despacho); "
            f"horas de {timezone.get_current_timezone_name()}:"
        )
        for envio in envios:
            marca = "  vencido" if envio.programado_para <= ahora else ""
            self.stdout.write(f"{local(envio.programado_para)}  {resumen(envio)}{marca}")


def programados(hasta: datetime, cuenta: str | None = None) -> QuerySet[EnvioWhatsApp]:
    """``programado`` envíos due by ``hasta`` (already due ones included), soonest first."""
    envios = EnvioWhatsApp.objects.filter(
        estado=EstadoEnvio.PROGRAMADO, programado_para__lte=hasta
    ).order_by("programado_para", "pk")
    return envios.filter(cuenta=cuenta) if cuenta else envios
