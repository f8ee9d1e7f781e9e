"""``python manage.py whatsapp_sync_plantillas [--cuenta ALIAS]``: refresh the template catalog."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from ...backends import backend_class
from ...conf import get_settings
from ...exceptions import ProviderError
from ...models import Plantilla
from ...templates import Sincronizacion, sincronizar


class Command(BaseCommand):
    @property
    def help(self) -> str:  # read when the parser is built, in the active language
        return _(
            "Sincroniza el catálogo de plantillas con la cuenta de WhatsApp Business (WABA): "
            "lee todas las plantillas de Meta (nombre, idioma, categoría, estado, encabezado y "
            "parámetros del cuerpo) y las guarda. Las que Meta ya no lista quedan como "
            "DELETED. Con el catálogo al día, enviar_plantilla rechaza variables que no "
            "coinciden y omite las plantillas no aprobadas. Necesita BUSINESS_ACCOUNT_ID en "
            "las OPTIONS de la cuenta."
        )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cuenta",
            action="append",
            default=None,
            help=_(
                "Alias de la cuenta en WHATSAPP_NOTIFY['BACKENDS'] (se puede repetir). Por "
                "omisión, todas las cuentas cuyo backend puede listar plantillas."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cuentas = options["cuenta"] or self._cuentas_con_catalogo()
        fallidas = [cuenta for cuenta in cuentas if not self._sincronizar(cuenta, options)]
        if fallidas:
            raise CommandError(
                _("No se sincronizaron las cuentas: %(cuentas)s.")
                % {"cuentas": ", ".join(fallidas)}
            )

    def _cuentas_con_catalogo(self) -> list[str]:
        cuentas = [alias for alias in get_settings().BACKENDS if _puede_listar(alias)]
        if not cuentas:
            raise CommandError(
                _(
                    "Ninguna cuenta puede listar plantillas: configura una cuenta con "
                    "whatsapp_notify.backends.meta.MetaBackend y su BUSINESS_ACCOUNT_ID."
                )
            )
        return cuentas

    def _sincronizar(self, cuenta: str, options: dict[str, Any]) -> bool:
        try:
            resumen = sincronizar(cuenta)
        except (ImproperlyConfigured, NotImplementedError, ProviderError) as exc:
            self.stderr.write(
                _("Cuenta %(cuenta)s: %(error)s") % {"cuenta": repr(cuenta), "error": exc}
            )
            return False
        self.stdout.write(describir(resumen))
        if options["verbosity"] >= 2:
            for plantilla in Plantilla.objects.filter(cuenta=cuenta):
                self.stdout.write(f"  {linea(plantilla)}")
        return True


def _puede_listar(alias: str) -> bool:
    # By class, without building the backend: a misconfigured account is reported when
    # it is synced, not skipped here.
    config = get_settings().backend_config(alias)
    try:
        return (
            "list_templates" in backend_class(str(config.get("BACKEND") or ""), alias).capabilities
        )
    except ImproperlyConfigured:
        return False


def describir(resumen: Sincronizacion) -> str:
    """``Cuenta 'default': 3 plantillas (2 nuevas, 1 actualizada, 0 retiradas). APPROVED: 2.``"""
    estados = ", ".join(f"{estado}: {n}" for estado, n in sorted(resumen.por_estado.items()))
    texto = _(
        "Cuenta %(cuenta)s: %(total)s plantillas (%(creadas)s nuevas, %(actualizadas)s "
        "actualizadas, %(retiradas)s retiradas)."
    ) % {
        "cuenta": repr(resumen.cuenta),
        "total": resumen.total,
        "creadas": resumen.creadas,
        "actualizadas": resumen.actualizadas,
        "retiradas": resumen.retiradas,
    }
    return f"{texto} {estados}." if estados else texto


def linea(plantilla: Plantilla) -> str:
    """One template as the verbose listing shows it."""
    if plantilla.formato_parametros == "NAMED":
        parametros = ", ".join(plantilla.nombres_parametros) or _("sin parámetros")
    else:
        parametros = _("%(n)s parámetro(s)") % {"n": plantilla.parametros_cuerpo}
    encabezado = (
        _(", encabezado %(formato)s") % {"formato": plantilla.formato_encabezado}
        if plantilla.formato_encabezado
        else ""
    )
    return (
        f"{plantilla.nombre} ({plantilla.idioma}) {plantilla.estado or '?'} "
        f"{plantilla.categoria}{encabezado}: {parametros}"
    )
