"""``python manage.py whatsapp_reintentar``: send failed envíos again, chosen by filter.

Uses :func:`whatsapp_notify.outbound.actions.reenviar`, as the admin action does: each envío is
checked again as a new send would be, and one that moved meanwhile is left alone.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ...conf import get_settings
from ...models import EnvioWhatsApp, EstadoEnvio
from ...outbound.actions import EN_CURSO, SUPERADO, YA_ENVIADO, por_reintentar, reenviar
from ..salida import Linea, Nivel, escribir, estado_legible, fecha, motivo_legible, resumen

ESTADOS = (EstadoEnvio.FALLIDO, EstadoEnvio.INCIERTO)
RAZONES = {
    YA_ENVIADO: gettext_lazy("ya lo aceptó el proveedor"),
    EN_CURSO: gettext_lazy("cambió de estado mientras tanto"),
    SUPERADO: gettext_lazy("un envío posterior del mismo aviso ya salió o está en camino"),
}


def aviso_incierto() -> Linea:
    """Said when the selection holds an ``incierto`` envío, under the admin's name for it."""
    return Linea(
        Nivel.WARN,
        str(EstadoEnvio.INCIERTO.label).lower(),
        _("el proveedor pudo recibirlos: reenviarlos puede duplicar el mensaje"),
    )


class Command(BaseCommand):
    @property
    def help(self) -> str:  # read when the parser is built, in the active language
        return _(
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
            help=_(
                "Estado de los envíos (se puede repetir; por omisión fallido). Un envío "
                "incierto (sin confirmar) pudo llegar al cliente: reenviarlo puede duplicarlo."
            ),
        )
        parser.add_argument(
            "--codigo",
            action="append",
            type=int,
            default=[],
            help=_("Código de error del proveedor, como 131026 (se puede repetir)."),
        )
        parser.add_argument("--tipo", action="append", default=[], help=_("Tipo del envío."))
        parser.add_argument(
            "--desde", help=_("Creados desde esta fecha (AAAA-MM-DD o AAAA-MM-DDTHH:MM).")
        )
        parser.add_argument("--hasta", help=_("Creados hasta esta fecha, incluida."))
        parser.add_argument("--cuenta", help=_("Alias de la cuenta."))
        parser.add_argument(
            "--dry-run", action="store_true", help=_("Solo lista los envíos; no reenvía nada.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        envios = list(seleccionar(options).order_by("pk"))
        if not envios:
            self.stdout.write(_("Ningún envío coincide con los filtros."))
            return
        for envio in envios:
            self.stdout.write(f"{resumen(envio)} {estado_legible(envio)} {_error(envio)}")
        if EstadoEnvio.INCIERTO in {envio.estado for envio in envios}:
            escribir(self.stdout, self.style, [aviso_incierto()])
        if options["dry_run"]:
            mensaje = _("%(n)s envío(s) se reenviarían (--dry-run: nada cambió).")
            self.stdout.write(mensaje % {"n": len(envios)})
            return
        self._reenviar(envios)

    def _reenviar(self, envios: list[EnvioWhatsApp]) -> None:
        hecho = reenviar(envios)
        reenviados = _("Reenviados: %(n)s") % {"n": hecho.reenviados}
        self.stdout.write(self.style.SUCCESS(reenviados))
        for razon, cantidad in sorted(hecho.omitidos.items()):
            no = _("No reenviados (%(razon)s): %(n)s")
            self.stdout.write(no % {"razon": razon_legible(razon), "n": cantidad})
        self.stdout.write(_("Estado ahora: %(estados)s") % {"estados": estados_ahora(envios)})


def estados_ahora(envios: list[EnvioWhatsApp]) -> str:
    """``enviado 2, fallido 1``: with eager Celery (or a fast worker) the new attempts
    may already have an outcome. Each estado under the admin's name for it."""
    estados = EnvioWhatsApp.objects.filter(pk__in=[envio.pk for envio in envios])
    cuenta = Counter(estados.values_list("estado", flat=True))
    return ", ".join(
        f"{str(EstadoEnvio(estado).label).lower()} {cantidad}"
        for estado, cantidad in sorted(cuenta.items())
    )


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
            _("--cuenta %(cuenta)s no existe; cuentas: %(cuentas)s.")
            % {"cuenta": repr(cuenta), "cuentas": ", ".join(get_settings().BACKENDS)}
        )


def razon_legible(razon: str) -> str:
    """Why :func:`reenviar` kept an envío back, in words."""
    return str(RAZONES.get(razon) or motivo_legible(razon))


def _error(envio: EnvioWhatsApp) -> str:
    return f"#{envio.error_codigo}" if envio.error_codigo is not None else "-"
