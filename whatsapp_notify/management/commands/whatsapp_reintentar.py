"""``python manage.py whatsapp_reintentar``: send failed envíos again, chosen by filter.

Uses :func:`whatsapp_notify.outbound.actions.reenviar`, as the admin action does: each envío is
checked again as a new send would be, and one that moved meanwhile is left alone.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from ...conf import get_settings
from ...models import EnvioWhatsApp, EstadoEnvio
from ...outbound.actions import EN_CURSO, SUPERADO, YA_ENVIADO, por_reintentar, reenviar
from ..salida import Linea, Nivel, escribir, fecha, motivo_legible, resumen

ESTADOS = (EstadoEnvio.FALLIDO, EstadoEnvio.INCIERTO)
RAZONES = {
    YA_ENVIADO: "ya lo aceptó el proveedor",
    EN_CURSO: "cambió de estado mientras tanto",
    SUPERADO: "un envío posterior del mismo aviso ya salió o está en camino",
}

AVISO_INCIERTO = Linea(
    Nivel.WARN, "incierto", "el proveedor pudo recibirlos: reenviarlos puede duplicar el mensaje"
)


class Command(BaseCommand):
    help = (
        "Vuelve a poner en cola envíos fallidos (o sin confirmar, con --estado incierto) "
        "que cumplan los filtros. Cada uno se revisa como un envío nuevo (teléfono, "
        "consentimiento, ventana de 24 horas); dice cuántos se reenviaron y por qué no el "
        "resto. Con --dry-run solo los lista."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--estado",
            action="append",
            choices=[str(estado) for estado in ESTADOS],
            help="Estado de los envíos (se puede repetir; por omisión fallido). Un envío "
            "incierto pudo llegar al cliente: reenviarlo puede duplicarlo.",
        )
        parser.add_argument(
            "--codigo",
            action="append",
            type=int,
            default=[],
            help="Código de error del proveedor, como 131026 (se puede repetir).",
        )
        parser.add_argument("--tipo", action="append", default=[], help="Tipo del envío.")
        parser.add_argument(
            "--desde", help="Creados desde esta fecha (AAAA-MM-DD o AAAA-MM-DDTHH:MM)."
        )
        parser.add_argument("--hasta", help="Creados hasta esta fecha, incluida.")
        parser.add_argument("--cuenta", help="Alias de la cuenta.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Solo lista los envíos; no reenvía nada."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        envios = list(seleccionar(options).order_by("pk"))
        if not envios:
            self.stdout.write("Ningún envío coincide con los filtros.")
            return
        for envio in envios:
            self.stdout.write(f"{resumen(envio)} {envio.estado} {_error(envio)}")
        if EstadoEnvio.INCIERTO in {envio.estado for envio in envios}:
            escribir(self.stdout, self.style, [AVISO_INCIERTO])
        if options["dry_run"]:
            self.stdout.write(f"{len(envios)} envío(s) se reenviarían (--dry-run: nada cambió).")
            return
        self._reenviar(envios)

    def _reenviar(self, envios: list[EnvioWhatsApp]) -> None:
        hecho = reenviar(envios)
        self.stdout.write(self.style.SUCCESS(f"Reenviados: {hecho.reenviados}"))
        for razon, cantidad in sorted(hecho.omitidos.items()):
            self.stdout.write(f"No reenviados ({razon_legible(razon)}): {cantidad}")
        self.stdout.write(f"Estado ahora: {estados_ahora(envios)}")


def estados_ahora(envios: list[EnvioWhatsApp]) -> str:
    """``enviado 2, fallido 1``: with eager Celery (or a fast worker) the new attempts
    may already have an outcome."""
    estados = EnvioWhatsApp.objects.filter(pk__in=[envio.pk for envio in envios])
    cuenta = Counter(estados.values_list("estado", flat=True))
    return ", ".join(f"{estado} {cantidad}" for estado, cantidad in sorted(cuenta.items()))


def seleccionar(options: dict[str, Any]) -> QuerySet[EnvioWhatsApp]:
    """The envíos the filters describe.

    Raises:
        CommandError: a malformed date or an unknown account.
    """
    if options["cuenta"]:
        _exigir_cuenta(options["cuenta"])
    return por_reintentar(
        estados=options["estado"] or [EstadoEnvio.FALLIDO],
        codigos=options["codigo"],
        tipos=options["tipo"],
        desde=fecha(options["desde"], opcion="--desde") if options["desde"] else None,
        hasta=fecha(options["hasta"], opcion="--hasta", fin=True) if options["hasta"] else None,
        cuenta=options["cuenta"],
    )


def _exigir_cuenta(cuenta: str) -> None:
    if cuenta not in get_settings().BACKENDS:
        raise CommandError(
            f"--cuenta {cuenta!r} no existe; cuentas: {', '.join(get_settings().BACKENDS)}."
        )


def razon_legible(razon: str) -> str:
    """Why :func:`reenviar` kept an envío back, in words."""
    return RAZONES.get(razon) or motivo_legible(razon)


def _error(envio: EnvioWhatsApp) -> str:
    return f"#{envio.error_codigo}" if envio.error_codigo is not None else "-"
