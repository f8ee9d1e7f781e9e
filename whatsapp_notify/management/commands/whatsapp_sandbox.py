"""``python manage.py whatsapp_sandbox``: a local stand-in for the Cloud API, until Ctrl-C."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from ...conf import DEFAULT_ALIAS, get_settings
from ...exceptions import MissingDependencyError
from ...sandbox import APP_SECRET, Fallos, Sandbox
from ...sandbox.fallos import revisar_proporcion
from ...sandbox.schema import importar
from ...sandbox.server import APP_ID, PHONE_NUMBER_ID, WABA_ID
from ...sandbox.twilio import ACCOUNT_SID as SID_TWILIO
from ...sandbox.twilio import AUTH_TOKEN as TOKEN_TWILIO
from ...sandbox.twilio import TwilioSandbox
from ...sandbox.whapi import SECRETO as SECRETO_WHAPI
from ...sandbox.whapi import WhapiSandbox
from ..salida import proporcion, puerto, segundos

WEBHOOK_URL = "http://127.0.0.1:8000/whatsapp/webhook/"
PUERTO = 8001
# Shown as the token to paste when any is accepted (no --token): the sandbox's own value.
TOKEN_CUALQUIERA = "token-del-sandbox"


class Command(BaseCommand):
    @property
    def help(self) -> str:  # read when the parser is built, in the active language
        return _(
            "Arranca un sustituto local de la Cloud API de Meta: valida cada envío con el esquema "
            "OpenAPI de Meta, responde como Meta (wamid, subida y descarga de archivos) y envía "
            "al webhook los estados sent, delivered y read firmados con X-Hub-Signature-256. "
            "Puede inyectar latencia, errores 5xx, timeouts y errores de Graph. Apunta "
            'OPTIONS["BASE_URL"] de la cuenta a la URL que muestra. Se detiene con Ctrl-C.'
        )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--proveedor",
            choices=sorted(PROVEEDORES),
            default="meta",
            help=_(
                "A quién sustituye: meta (la Cloud API, por omisión), twilio (la Messages "
                "API: --app-secret es el Auth Token, que autentica y firma los callbacks; "
                "--error CODIGO es un código de Twilio, como 63018) o whapi (WHAPI.Cloud: "
                "webhooks con Authorization: Bearer <--app-secret>; --error CODIGO es un código "
                "HTTP de WHAPI, como 401 o 429)."
            ),
        )
        parser.add_argument("--host", default="127.0.0.1", help=_("Dirección donde escuchar."))
        parser.add_argument(
            "--port", type=puerto, default=PUERTO, help=_("Puerto donde escuchar (0: uno libre).")
        )
        parser.add_argument(
            "--webhook-url",
            default=WEBHOOK_URL,
            help=_("URL del webhook que recibe los estados (vacía: no se envían webhooks)."),
        )
        parser.add_argument(
            "--app-secret",
            default=None,
            help=_(
                "Secreto con que se firman los webhooks. Por omisión, el APP_SECRET de la "
                "cuenta 'default' si está configurado."
            ),
        )
        parser.add_argument(
            "--token", default=None, help=_("Único token aceptado (por omisión, cualquiera).")
        )
        parser.add_argument(
            "--phone-number-id",
            default=PHONE_NUMBER_ID,
            help=_(
                "Id del número (PHONE_NUMBER_ID) que atiende; otro recibe el error 100 de "
                "Graph, como en Meta (por omisión %(id)s)."
            )
            % {"id": PHONE_NUMBER_ID},
        )
        parser.add_argument(
            "--waba-id",
            default=WABA_ID,
            help=_(
                "Id de la cuenta de WhatsApp Business (BUSINESS_ACCOUNT_ID) de sus plantillas "
                "y de subscribed_apps (por omisión %(id)s)."
            )
            % {"id": WABA_ID},
        )
        parser.add_argument(
            "--demoras",
            default="1,2,3",
            help=_(
                "Segundos antes de sent, delivered y read, cada uno tras el anterior "
                "(por omisión 1,2,3)."
            ),
        )
        parser.add_argument(
            "--latencia", type=segundos, default=0.0, help=_("Segundos añadidos a cada respuesta.")
        )
        parser.add_argument(
            "--fallos-5xx",
            type=proporcion,
            default=0.0,
            help=_("Proporción de envíos respondidos con HTTP 503 (p. ej. 0.1)."),
        )
        parser.add_argument(
            "--timeouts",
            type=proporcion,
            default=0.0,
            help=_(
                "Proporción de envíos aceptados cuya respuesta llega tarde (tras --espera-timeout)."
            ),
        )
        parser.add_argument(
            "--espera-timeout",
            type=segundos,
            default=30.0,
            help=_("Segundos de retraso de una respuesta con timeout (por omisión 30)."),
        )
        parser.add_argument(
            "--fallidos",
            type=proporcion,
            default=0.0,
            help=_("Proporción de envíos aceptados que terminan en estado failed (p. ej. 0.05)."),
        )
        parser.add_argument(
            "--error",
            action="append",
            default=[],
            metavar=_("CODIGO[:PROPORCION]"),
            help=_(
                "Error de Graph que devuelven los envíos, p. ej. 130429:0.1 o 190 (sin "
                "proporción: todos). Se puede repetir: 131026, 131047, 190..."
            ),
        )
        parser.add_argument(
            "--rafaga",
            action="append",
            default=[],
            metavar=_("PASO:N"),
            help=_(
                "Los N primeros envíos reciben PASO (un código de Graph, 5xx, timeout, "
                "fallido u ok), p. ej. 130429:20 para una ráfaga de límite de velocidad. "
                "Se puede repetir; se aplican en orden."
            ),
        )
        parser.add_argument(
            "--token-caducado",
            action="append",
            default=[],
            metavar="TOKEN",
            help=_(
                "Token que responde el error 190 (sesión expirada) hasta que se rote a otro. "
                "Se puede repetir."
            ),
        )
        parser.add_argument(
            "--retener-webhooks",
            type=segundos,
            default=0.0,
            metavar=_("SEGUNDOS"),
            help=_(
                "Retiene los webhooks durante los primeros SEGUNDOS y luego los entrega "
                "tarde, como Meta cuando el receptor estuvo caído."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        revisar_dependencias()
        try:
            sandbox = construir_sandbox(options)
        except OSError as exc:  # the port is taken, or the host is not this machine's
            donde = f"{options['host']}:{options['port']}"
            raise CommandError(
                _("No se pudo escuchar en %(donde)s: %(error)s") % {"donde": donde, "error": exc}
            ) from exc
        self._mostrar_logs(options["verbosity"])
        sandbox.start()
        if options.get("retener_webhooks"):
            sandbox.retener_webhooks()
            liberar = threading.Timer(options["retener_webhooks"], sandbox.soltar_webhooks)
            liberar.daemon = True
            liberar.start()
        self._presentar(sandbox)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("\n" + _("Deteniendo el sandbox..."))
        finally:
            sandbox.stop()

    def _presentar(self, sandbox: Sandbox | WhapiSandbox | TwilioSandbox) -> None:
        # One whole sentence per provider: «de la» does not compose into other languages.
        if isinstance(sandbox, WhapiSandbox):
            titulo = _("Sandbox de WHAPI en %(url)s")
        elif isinstance(sandbox, TwilioSandbox):
            titulo = _("Sandbox de Twilio en %(url)s")
        else:
            titulo = _("Sandbox de la Cloud API en %(url)s")
        titulo %= {"url": sandbox.base_url}
        self.stdout.write(self.style.SUCCESS(titulo))
        self.stdout.write(
            _("Apunta la cuenta a él: %(ajuste)s")
            % {
                "ajuste": 'WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]'
                f'["BASE_URL"] = "{sandbox.base_url}"'
            }
        )
        if isinstance(sandbox, TwilioSandbox):
            self.stdout.write(
                _(
                    "Cuenta %(sid)s; los callbacks van a la StatusCallback de cada mensaje (la "
                    "WEBHOOK_URL de la cuenta), firmados con X-Twilio-Signature."
                )
                % {"sid": sandbox.account_sid}
            )
            if sandbox.auth_token == TOKEN_TWILIO:
                self.stdout.write(
                    _("Auth Token %(token)s: usa el mismo en AUTH_TOKEN (o pasa --app-secret).")
                    % {"token": repr(TOKEN_TWILIO)}
                )
        elif sandbox.webhook_url and isinstance(sandbox, WhapiSandbox):
            self.stdout.write(
                _("Webhooks de WHAPI (mensajes y estados) a %(url)s") % {"url": sandbox.webhook_url}
            )
            if sandbox.secreto == SECRETO_WHAPI:
                self.stdout.write(
                    _(
                        "Con Authorization: Bearer %(secreto)s: usa el mismo en WEBHOOK_SECRET "
                        "(o pasa --app-secret)."
                    )
                    % {"secreto": SECRETO_WHAPI}
                )
        else:
            self._cuenta_meta(sandbox)
        self.stdout.write(_("Ctrl-C para terminar."))
        self.stdout.flush()

    def _cuenta_meta(self, sandbox: Sandbox) -> None:
        """The account's ids, ready to paste into settings.py, and where webhooks go."""
        self.stdout.write(
            _('Su cuenta, para pegar en WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]:')
        )
        for linea in opciones_meta(sandbox):
            self.stdout.write(f"    {linea}")
        if sandbox.webhook_url:
            self.stdout.write(
                _(
                    "Webhooks de estado a %(url)s (la app %(app)s está suscrita a la WABA con "
                    "esa URL)."
                )
                % {"url": sandbox.webhook_url, "app": sandbox.app_id}
            )
        else:
            self.stdout.write(_("Sin --webhook-url: no se envían webhooks (ninguna app suscrita)."))

    def _mostrar_logs(self, verbosity: int) -> None:
        if verbosity < 1:
            return
        registro = logging.getLogger("whatsapp_notify.sandbox")
        manejador = logging.StreamHandler(sys.stdout)
        manejador.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        registro.addHandler(manejador)
        registro.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


def opciones_meta(sandbox: Sandbox) -> list[str]:
    """The ``OPTIONS`` lines of a MetaBackend account that uses ``sandbox``.

    A token or secret the user chose (``--token``, ``--app-secret``, settings) is never
    printed: a placeholder names where it comes from.
    """
    token = TOKEN_CUALQUIERA if sandbox.token is None else _("<el de --token>")
    secreto = sandbox.app_secret if sandbox.app_secret == APP_SECRET else _("<tu APP_SECRET>")
    valores = {
        "BASE_URL": sandbox.base_url,
        "PHONE_NUMBER_ID": sandbox.phone_number_id or PHONE_NUMBER_ID,
        "BUSINESS_ACCOUNT_ID": sandbox.waba_id,
        "ACCESS_TOKEN": token,
        "APP_SECRET": secreto,
    }
    nota = _("acepta cualquier token no vacío")
    notas = {"ACCESS_TOKEN": f"  # {nota}"} if sandbox.token is None else {}
    lineas = [f'"{clave}": "{valor}",{notas.get(clave, "")}' for clave, valor in valores.items()]
    if sandbox.webhook_url:  # without webhooks no app is subscribed (subscribed_apps is empty)
        lineas.append("# " + _("app de Meta suscrita a la WABA: %(app)s") % {"app": sandbox.app_id})
    return lineas


def revisar_dependencias() -> None:
    """Fail now, with the pip command, rather than on the first request.

    Raises:
        CommandError: ``jsonschema`` or ``PyYAML`` (extra ``sandbox``) is not installed; one
            line naming ``pip install "django-whatsapp-notify[sandbox]"``, no traceback.
    """
    try:
        importar("jsonschema", "jsonschema")
        importar("yaml", "PyYAML")
    except MissingDependencyError as exc:
        raise CommandError(str(exc)) from None


def construir_sandbox(options: dict[str, Any]) -> Sandbox | WhapiSandbox | TwilioSandbox:
    """A :class:`Sandbox` (not started) from the command's options.

    Raises:
        CommandError: an option value is wrong, naming the option.
    """
    try:
        fallos = Fallos(
            latencia=options["latencia"],
            errores_5xx=options["fallos_5xx"],
            timeouts=options["timeouts"],
            espera_timeout=options["espera_timeout"],
            errores=errores(options["error"]),
            fallidos=options["fallidos"],
        )
        for rafaga in options.get("rafaga") or []:
            fallos.rafaga(*paso_y_veces(rafaga))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    sandbox = PROVEEDORES[options.get("proveedor") or "meta"](options, fallos)
    for token in options.get("token_caducado") or []:
        sandbox.caducar_token(token)
    return sandbox


def sandbox_meta(options: dict[str, Any], fallos: Fallos) -> Sandbox:
    """A Cloud API :class:`Sandbox` (not started), signing with ``--app-secret``."""
    return Sandbox(
        webhook_url=options["webhook_url"] or None,
        app_secret=options["app_secret"] or app_secret_configurado() or APP_SECRET,
        delays=demoras(options["demoras"]),
        fallos=fallos,
        token=options["token"],
        host=options["host"],
        port=options["port"],
        phone_number_id=options.get("phone_number_id") or PHONE_NUMBER_ID,
        waba_id=options.get("waba_id") or WABA_ID,
        app_id=APP_ID,
    )


def sandbox_whapi(options: dict[str, Any], fallos: Fallos) -> WhapiSandbox:
    """A :class:`WhapiSandbox` (not started); ``--app-secret`` is its webhook's secret."""
    return WhapiSandbox(
        webhook_url=options["webhook_url"] or None,
        secreto=options["app_secret"] or SECRETO_WHAPI,
        delays=demoras(options["demoras"]),
        fallos=fallos,
        token=options["token"],
        host=options["host"],
        port=options["port"],
    )


def sandbox_twilio(options: dict[str, Any], fallos: Fallos) -> TwilioSandbox:
    """A :class:`TwilioSandbox` (not started); ``--app-secret`` is the account's Auth Token."""
    return TwilioSandbox(
        auth_token=options["app_secret"] or TOKEN_TWILIO,
        webhook_url=options["webhook_url"] or None,
        account_sid=SID_TWILIO,
        delays=demoras(options["demoras"]),
        fallos=fallos,
        host=options["host"],
        port=options["port"],
    )


#: The stand-in each ``--proveedor`` starts.
PROVEEDORES = {"meta": sandbox_meta, "twilio": sandbox_twilio, "whapi": sandbox_whapi}


def paso_y_veces(valor: str) -> tuple[str | int, int]:
    """``"130429:20"`` -> ``(130429, 20)``; ``"5xx:3"`` -> ``("5xx", 3)``.

    Raises:
        ValueError: not ``PASO:N`` with a whole N.
    """
    paso, _sep, veces = valor.rpartition(":")
    if not paso or not veces.isdigit():
        raise ValueError(
            _("--rafaga debe ser PASO:N, como 130429:20; no %(valor)s.") % {"valor": repr(valor)}
        )
    return (int(paso) if paso.isdigit() else paso), int(veces)


def demoras(texto: str) -> tuple[float, float, float]:
    """``"1,2,3"`` -> ``(1.0, 2.0, 3.0)``.

    Raises:
        CommandError: not three non-negative numbers.
    """
    try:
        valores = tuple(float(parte) for parte in texto.split(","))
    except ValueError:
        valores = ()
    if len(valores) != 3 or any(valor < 0 for valor in valores):
        raise CommandError(
            _(
                "--demoras debe ser tres segundos separados por comas (sent,delivered,read), "
                "como 1,2,3; no %(texto)s."
            )
            % {"texto": repr(texto)}
        )
    return valores[0], valores[1], valores[2]


def errores(valores: list[str]) -> dict[int, float]:
    """``["130429:0.1", "190"]`` -> ``{130429: 0.1, 190: 1.0}``.

    Raises:
        CommandError: a value is not ``CODIGO`` or ``CODIGO:PROPORCION``.
    """
    resultado = {}
    for valor in valores:
        codigo, _sep, proporcion = valor.partition(":")
        try:
            resultado[int(codigo)] = float(proporcion) if proporcion else 1.0
            revisar_proporcion(f"--error {valor}", resultado[int(codigo)])
        except ValueError:
            raise CommandError(
                _(
                    "--error debe ser CODIGO o CODIGO:PROPORCION (una proporción de 0 a 1), "
                    "como 130429:0.1; no %(valor)s."
                )
                % {"valor": repr(valor)}
            ) from None
    return resultado


def app_secret_configurado() -> str | None:
    """The ``APP_SECRET`` of the default account (the first one, if a list), if set."""
    cuenta = get_settings().BACKENDS.get(DEFAULT_ALIAS) or {}
    secreto = (cuenta.get("OPTIONS") or {}).get("APP_SECRET")
    if isinstance(secreto, list | tuple):
        secreto = secreto[0] if secreto else None
    return str(secreto) if secreto else None
