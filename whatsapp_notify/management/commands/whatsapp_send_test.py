"""``python manage.py whatsapp_send_test <telefono>``: send one test message, see what happened.

The envío goes through the public API (``enviar_plantilla`` / ``enviar_texto``), so it
meets every rule a real one does (consent, 24-hour window, policy, template catalog).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from ...conf import DEFAULT_ALIAS
from ...exceptions import WhatsAppError
from ...models import EnvioWhatsApp, EstadoEnvio
from ...outbound.outbox import enviar_plantilla, enviar_texto
from ...states import ACEPTADOS
from ..salida import (
    Linea,
    Nivel,
    arreglo,
    escribir,
    estado_legible,
    motivo_legible,
    resumen,
    segundos,
)

TIPO = "prueba"
#: Exit statuses: the provider accepted it; it did not and will not go out (omitido,
#: fallido, still queued after --esperar); not accepted yet (queued, waiting for a retry,
#: unconfirmed). 2 is taken: it is argparse's for a wrong command line.
SALIO, NO_SALIO, SIN_ACEPTAR = 0, 1, 3
# Estados a worker (or a webhook) still has to move.
EN_CURSO = frozenset({EstadoEnvio.PENDIENTE, EstadoEnvio.ENVIANDO})
PAUSA_SONDEO = 0.5


class Command(BaseCommand):
    @property
    def help(self) -> str:  # read when the parser is built, in the active language
        return _(
            "Envía un mensaje de prueba por la API pública (respeta consentimiento, ventana de "
            "24 horas y política, como cualquier envío) y dice qué pasó: enviado, omitido (con "
            "su motivo y cómo arreglarlo) o fallido (con el código de error). Con Celery en "
            "modo eager el resultado se ve al momento; con un worker, espera hasta --esperar "
            "segundos. Códigos de salida: 0 si el proveedor aceptó el mensaje; 1 si no salió ni "
            "saldrá (omitido, fallido) o sigue en cola tras --esperar; 3 si el proveedor aún no "
            "lo aceptó (en cola, esperando un reintento tras un error temporal o sin confirmar "
            'tras un timeout). Ejemplo: whatsapp_send_test "+52 55 1234 5678" --plantilla '
            "hello_world --idioma en_US"
        )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("telefono", help=_("Teléfono del destinatario, con código de país."))
        que = parser.add_mutually_exclusive_group(required=True)
        que.add_argument(
            "--plantilla",
            help=_(
                "Nombre de una plantilla aprobada (Meta crea hello_world, en_US, en cada "
                "cuenta nueva)."
            ),
        )
        que.add_argument(
            "--texto", help=_("Texto libre: solo sale si el cliente escribió en las últimas 24 h.")
        )
        parser.add_argument(
            "--variables",
            default="",
            help=_(
                "Variables del cuerpo separadas por comas: 'Ana,OT-42' para {{1}},{{2}}, o "
                "'nombre=Ana,orden=OT-42' para parámetros con nombre."
            ),
        )
        parser.add_argument(
            "--idioma",
            default=None,
            help=_("Idioma de la plantilla (por omisión DEFAULT_LANGUAGE)."),
        )
        parser.add_argument(
            "--cuenta", default=DEFAULT_ALIAS, help=_("Alias de la cuenta (por omisión default).")
        )
        parser.add_argument(
            "--esperar",
            type=segundos,
            default=0.0,
            metavar=_("SEGUNDOS"),
            help=_("Segundos a esperar a que un worker lo envíe (por omisión 0: no esperar)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        envio = registrar(options)
        self.stdout.write(
            _("Envío %(envio)s registrado: %(estado)s")
            % {"envio": resumen(envio), "estado": envio.get_estado_display()}
        )
        envio = esperar(envio, options["esperar"])
        linea = resultado(envio, options["esperar"])
        escribir(self.stdout, self.style, [linea])
        cifras = {"id": envio.pk, "estado": estado_legible(envio)}
        if (codigo := codigo_de_salida(envio, linea)) == NO_SALIO:
            raise CommandError(_("El envío #%(id)s no salió (%(estado)s).") % cifras)
        if codigo == SIN_ACEPTAR:
            raise CommandError(
                _("El proveedor aún no aceptó el envío #%(id)s (%(estado)s).") % cifras,
                returncode=SIN_ACEPTAR,
            )


def codigo_de_salida(envio: EnvioWhatsApp, linea: Linea) -> int:
    """0 only when the provider accepted the message (see :data:`SALIO`)."""
    if envio.estado in ACEPTADOS:
        return SALIO
    return NO_SALIO if linea.nivel == Nivel.ERROR else SIN_ACEPTAR


def registrar(options: dict[str, Any]) -> EnvioWhatsApp:
    """Record the test envío through the public API.

    Raises:
        CommandError: the API refused it as a programmer error (variables, account...).
    """
    comunes = {"tipo": TIPO, "cuenta": options["cuenta"]}
    try:
        if options["texto"] is not None:
            return enviar_texto(options["telefono"], options["texto"], **comunes)
        return enviar_plantilla(
            options["telefono"],
            options["plantilla"],
            variables=variables(options["variables"]),
            idioma=options["idioma"],
            **comunes,
        )
    except (WhatsAppError, ImproperlyConfigured) as exc:
        raise CommandError(str(exc)) from exc


def variables(texto: str) -> list[str] | dict[str, str] | None:
    """``"Ana,OT-42"`` -> ``["Ana", "OT-42"]``; ``"nombre=Ana"`` -> ``{"nombre": "Ana"}``.

    Raises:
        CommandError: named and positional values mixed.
    """
    if not texto:
        return None
    partes = [parte.strip() for parte in texto.split(",")]
    con_nombre = ["=" in parte for parte in partes]
    if not any(con_nombre):
        return partes
    if not all(con_nombre):
        raise CommandError(
            _(
                "--variables mezcla valores con nombre y sin nombre: %(texto)s. Usa 'Ana,OT-42' "
                "o 'nombre=Ana,orden=OT-42'."
            )
            % {"texto": repr(texto)}
        )
    return dict(parte.split("=", 1) for parte in partes)


def esperar(envio: EnvioWhatsApp, segundos: float) -> EnvioWhatsApp:
    """Re-read the envío until a worker moves it, or ``segundos`` pass."""
    limite = time.monotonic() + segundos
    envio.refresh_from_db()
    while _en_curso(envio) and time.monotonic() < limite:
        time.sleep(PAUSA_SONDEO)
        envio.refresh_from_db()
    return envio


def _en_curso(envio: EnvioWhatsApp) -> bool:
    # A pendiente envío with a proximo_intento already failed once and waits for its retry.
    return envio.estado in EN_CURSO and envio.proximo_intento is None


def resultado(envio: EnvioWhatsApp, esperado: float) -> Linea:
    """What the envío's estado means for the operator."""
    if envio.estado in ACEPTADOS:
        detalle = _("#%(id)s %(estado)s, wamid %(wamid)s") % {
            "id": envio.pk,
            "estado": estado_legible(envio),
            "wamid": envio.wamid,
        }
        return Linea(Nivel.OK, _("envío"), detalle)
    if envio.estado == EstadoEnvio.OMITIDO:
        detalle = _("#%(id)s omitido: %(motivo)s (%(valor)s)") % {
            "id": envio.pk,
            "motivo": motivo_legible(envio.motivo),
            "valor": envio.motivo,
        }
        if envio.error_detalle:  # e.g. the text a POLICY gave
            detalle += f": {envio.error_detalle}"
        return Linea(Nivel.ERROR, _("envío"), detalle, arreglo(envio.motivo))
    if envio.estado == EstadoEnvio.FALLIDO:
        detalle = _("#%(id)s fallido: %(error)s") % {
            "id": envio.pk,
            "error": envio.error_legible() or "?",
        }
        fix = _("corrige la causa y reenvíalo con whatsapp_reintentar o desde el admin.")
        return Linea(Nivel.ERROR, _("envío"), detalle, fix)
    return _sin_resolver(envio, esperado)


def _sin_resolver(envio: EnvioWhatsApp, esperado: float) -> Linea:
    if envio.estado == EstadoEnvio.INCIERTO:
        detalle = _("#%(id)s sin confirmar: el proveedor pudo recibirlo (timeout)") % {
            "id": envio.pk
        }
        return Linea(Nivel.WARN, _("envío"), detalle, _("espera el webhook de estado."))
    if envio.proximo_intento is not None:
        detalle = _("#%(id)s aún no salió, se reintentará: %(error)s") % {
            "id": envio.pk,
            "error": envio.error_legible() or "?",
        }
        return Linea(Nivel.WARN, _("envío"), detalle, _("revisa el error; Beat lo reintenta."))
    if esperado:
        detalle = _("#%(id)s sigue %(estado)s tras %(segundos)s s") % {
            "id": envio.pk,
            "estado": estado_legible(envio),
            "segundos": f"{esperado:g}",
        }
        fix = _("¿hay un worker? manage.py whatsapp_check")
        return Linea(Nivel.ERROR, _("envío"), detalle, fix)
    detalle = _("#%(id)s en cola (%(estado)s), el proveedor aún no lo aceptó") % {
        "id": envio.pk,
        "estado": estado_legible(envio),
    }
    return Linea(Nivel.WARN, _("envío"), detalle, _("--esperar 30 espera el resultado."))
