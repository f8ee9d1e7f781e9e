"""``python manage.py demo``: the three WhatsApp flows of the workshop, end to end, offline.

By default the whole loop runs for real on this machine: the ERP is served over HTTP in a
thread, MetaBackend talks to the local Cloud API sandbox, and the sandbox posts signed
status webhooks (sent, delivered, read) back to the ERP's webhook view. ``--proveedor
whapi`` runs the same flows on WhapiBackend against the WHAPI sandbox (templates rendered
as text, a free text with no 24-hour window, webhooks authenticated by a secret header);
``--proveedor twilio`` on TwilioBackend against the Twilio sandbox (templates by Content
SID, the customer writes first and a free text answers inside the 24-hour window,
callbacks signed with X-Twilio-Signature).
``--consola`` prints the messages with the console backend instead (no HTTP, no webhooks).
``--puerto-erp``, ``--puerto-sandbox`` and ``--latencia-ms`` (``make demo ERP_PUERTO=...
SANDBOX_PUERTO=... LATENCIA_MS=...``) fix the two ports and slow every sandbox answer.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from io import StringIO
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from whatsapp_notify import enviar_texto
from whatsapp_notify.models import Conversacion, EnvioWhatsApp, EstadoEnvio, Mensaje
from whatsapp_notify.phones import mask

from ... import models
from ...models import Cliente, Cotizacion, OrdenCompra, OrdenTrabajo, Pago, Proveedor, Vehiculo
from ...servicios import botones_de_cotizacion, envio_de
from ...servidor import ServidorLocal


def interprete() -> str:
    """The Python running the demo, as the user would type it: ``.venv/bin/python`` after
    ``make demo`` (relative to the current directory when inside it, absolute otherwise)."""
    ejecutable = Path(sys.executable)
    try:
        return ejecutable.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(ejecutable)


CONSOLE_BACKEND = "whatsapp_notify.backends.console.ConsoleBackend"
META_BACKEND = "whatsapp_notify.backends.meta.MetaBackend"
WHAPI_BACKEND = "whatsapp_notify.backends.whapi.WhapiBackend"
TWILIO_BACKEND = "whatsapp_notify.backends.twilio.TwilioBackend"
CABECERA = ("id", "tipo", "plantilla", "teléfono", "estado", "motivo")
CABECERA += ("enviado", "entregado", "leído")
NADA_NUEVO = "(nada nuevo: cada aviso ya estaba registrado y no se envía dos veces)"
# Fictitious credentials: the sandbox accepts any token; the secret signs its webhooks.
SANDBOX_OPTIONS = {
    "PHONE_NUMBER_ID": "100000000000001",
    "ACCESS_TOKEN": "token-de-la-demo",
    "APP_SECRET": "secreto-de-la-demo",
    "VERIFY_TOKEN": "verifica-la-demo",
}
# WHAPI has no templates: the account registers the body text of each one it sends.
# RATE_LIMIT: the sandbox is no linked phone; a real WHAPI account keeps WHAPI's 40/h.
WHAPI_OPTIONS = {
    "TOKEN": "token-de-la-demo",
    "WEBHOOK_SECRET": "secreto-de-la-demo",
    "RATE_LIMIT": "20/s",
    "PLANTILLAS": {
        "orden_compra_proveedor": "Hola {{1}}, le enviamos la orden de compra {{2}}: {{3}}.",
        "cotizacion_lista_cliente": "Hola {{1}}, su cotización {{2}} por {{3}} está lista.",
        "vehiculo_listo_cliente": "Hola {{1}}, su {{2}} está listo (orden {{3}}).",
    },
}
# Twilio sends templates by Content SID: each name the ERP uses maps to its HX… id.
TWILIO_OPTIONS = {
    "AUTH_TOKEN": "token-de-la-demo",
    "FROM": "whatsapp:+14155238886",
    "RATE_LIMIT": "20/s",
    "CONTENT_SIDS": {
        "orden_compra_proveedor": "HX" + "1" * 32,
        "cotizacion_lista_cliente": "HX" + "2" * 32,
        "vehiculo_listo_cliente": "HX" + "3" * 32,
    },
}
PREGUNTA = "Hola, ¿mi cotización incluye la mano de obra?"
# The receipt photo the demo's customer sends: a tiny JPEG (one grey pixel).
RECIBO_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b"
    "0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ff"
    "c0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708090a0b"
    "ffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a108"
    "2342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a53545556"
    "5758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9"
    "aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7"
    "f8f9faffda0008010100003f00fbd3ffd9"
)
TEXTO_LIBRE = "Gracias por su visita. Cualquier duda, escríbanos por aquí."
# Seconds after a send when the sandbox reports it sent, delivered and read.
DEMORAS = (0.3, 0.8, 1.3)
ESPERA_MAXIMA = 20.0


@dataclass(frozen=True)
class Red:
    """Where the demo listens and how slow its sandbox answers (0: a free port)."""

    puerto_erp: int = 0
    puerto_sandbox: int = 0
    latencia_ms: float = 0.0


# A minute per answer is already more than any client waits; inf or nan would hang the demo.
MAX_LATENCIA_MS = 60_000


def red_de(options: dict) -> Red:
    """The :class:`Red` of the command's options.

    Raises:
        CommandError: a port outside 0-65535 or a negative latency, naming the option.
    """
    for opcion in ("puerto_erp", "puerto_sandbox"):
        if not 0 <= options.get(opcion, 0) <= 65535:
            nombre = "--" + opcion.replace("_", "-")
            raise CommandError(f"{nombre} es un puerto de 0 a 65535, no {options[opcion]}.")
    latencia = options.get("latencia_ms", 0)
    if not math.isfinite(latencia) or not 0 <= latencia <= MAX_LATENCIA_MS:
        raise CommandError(
            f"--latencia-ms son milisegundos de 0 a {MAX_LATENCIA_MS}, no {latencia:g}."
        )
    return Red(
        options.get("puerto_erp", 0),
        options.get("puerto_sandbox", 0),
        options.get("latencia_ms", 0),
    )


@dataclass
class Datos:
    """The sample records the flows run on."""

    orden_compra: OrdenCompra
    cotizacion: Cotizacion
    ordenes: list[OrdenTrabajo]
    creados: int
    notas: list[str] = field(default_factory=list)


class Command(BaseCommand):
    help = (
        "Demostración del ERP de taller: aplica las migraciones, crea datos de ejemplo "
        "(idempotente) y recorre los avisos de WhatsApp (orden de compra al proveedor, "
        "cotización con PDF al cliente y vehículo listo) y la conversación que sigue a través "
        "de las vistas reales. Por "
        "omisión todo corre de verdad en esta máquina: el ERP se sirve por HTTP, MetaBackend "
        "envía al sandbox local de la Cloud API, que valida cada mensaje con el esquema de "
        "Meta y devuelve al webhook del ERP los estados firmados, y el sandbox hace de cliente "
        "y de agente en la conversación. --proveedor whapi o twilio usa el backend y el "
        "sandbox de ese proveedor; sólo --consola usa el backend de consola (sin HTTP ni "
        "webhooks). Nunca usa las credenciales de .env y guarda los correos en memoria: no "
        "envía nada de verdad. Muestra la tabla de envíos y lo que recibió el sandbox."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--consola",
            action="store_true",
            help="Imprime los mensajes con el backend de consola, sin sandbox ni webhooks.",
        )
        parser.add_argument(
            "--proveedor",
            choices=["meta", "whapi", "twilio"],
            default="meta",
            help="Proveedor del sandbox: meta (la Cloud API, por omisión), whapi (WHAPI.Cloud: "
            "plantillas como texto, sin ventana de 24 horas, webhooks con cabecera secreta) o "
            "twilio (plantillas por Content SID, texto libre dentro de la ventana, "
            "callbacks firmados).",
        )
        parser.add_argument(
            "--puerto-erp",
            type=int,
            default=0,
            help="Puerto donde se sirve el ERP (y su webhook); 0, por omisión, toma uno libre. "
            "make demo ERP_PUERTO=8000.",
        )
        parser.add_argument(
            "--puerto-sandbox",
            type=int,
            default=0,
            help="Puerto del sandbox del proveedor; 0, por omisión, toma uno libre. "
            "make demo SANDBOX_PUERTO=8001.",
        )
        parser.add_argument(
            "--latencia-ms",
            type=float,
            default=0.0,
            help="Milisegundos que el sandbox tarda en cada respuesta, como la red hasta el "
            "proveedor (por omisión 0). make demo LATENCIA_MS=300.",
        )

    _entrantes = 0  # messages the sandbox posted as the customer

    def handle(self, *args, **options) -> None:
        red = red_de(options)
        call_command("migrate", verbosity=0, interactive=False)
        datos = crear_datos()
        self._titulo("Demo del taller con django-whatsapp-notify")
        self.stdout.write(
            f"Base de datos lista. Datos de ejemplo: {datos.creados} registros nuevos "
            "(los existentes se reutilizan)."
        )
        for nota in datos.notas:
            self.stdout.write(f"   {nota}")
        correos = len(getattr(mail, "outbox", []))
        silenciar = options["verbosity"] < 2
        if options["consola"]:
            self._demo_consola(datos, silenciar)
        else:
            self._demo_sandbox(datos, silenciar, options["proveedor"], red)
        self._correos(mail.outbox[correos:])
        python = interprete()
        self.stdout.write(
            f"\nSiguiente paso: {python} manage.py createsuperuser && {python} manage.py "
            "runserver, luego abre /admin/, /ordenes/ y /envios/."
        )

    def _demo_consola(self, datos: Datos, silenciar: bool) -> None:
        consola = StringIO()
        backend = {"BACKEND": CONSOLE_BACKEND, "OPTIONS": {"STREAM": consola}}
        with modo_demo(backend, silenciar_logs=silenciar):
            self._flujos(datos)
        self._tabla_envios(desde=0)
        self._titulo("Salida del backend de consola (WhatsApp)")
        self.stdout.write(consola.getvalue().rstrip() or NADA_NUEVO)

    def _demo_sandbox(
        self, datos: Datos, silenciar: bool, proveedor: str = "meta", red: Red = Red()
    ) -> None:
        ultimo = EnvioWhatsApp.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with escuchar("--puerto-erp", red.puerto_erp, ServidorLocal, puerto=red.puerto_erp) as erp:
            webhook = f"{erp.url}{reverse('whatsapp_notify:webhook')}"
            with sandbox_de(proveedor, webhook, red) as (sandbox, backend):
                with modo_demo(backend, silenciar_logs=silenciar):
                    self.stdout.write(
                        f"ERP en {erp.url}; sandbox de {NOMBRES[proveedor]} en "
                        f"{sandbox.base_url}; webhook en {webhook}"
                    )
                    if red.latencia_ms:
                        self.stdout.write(
                            f"El sandbox tarda {red.latencia_ms:g} ms en cada respuesta."
                        )
                    self._flujos(datos)
                    if proveedor == "meta":
                        self._conversacion(datos, sandbox)
                    if proveedor == "whapi":
                        self._texto_libre(datos)
                    if proveedor == "twilio":
                        self._respuesta_en_ventana(datos, sandbox)
                    self._esperar_leidos(ultimo)
                self._resumen_sandbox(sandbox, proveedor)
        self._tabla_envios(desde=ultimo)

    def _conversacion(self, datos: Datos, sandbox) -> None:
        """The customer answers on WhatsApp; the handlers of taller/whatsapp.py reply."""
        cot = datos.cotizacion
        cliente = cot.cliente
        self._titulo(f"4) {cliente.nombre} toca «Aprobar» bajo la cotización {cot.numero}")
        envio = envio_de(cot, "cotizacion")
        payload = (botones_de_cotizacion(cot)[0].payload, "Aprobar")
        self._cliente_escribe(sandbox, cliente, payload=payload, responde_a=envio.wamid)
        cot.refresh_from_db()
        self.stdout.write(f"   cotización {cot.numero}: {cot.estado}")
        self._titulo(f"5) {cliente.nombre} pregunta por los horarios y elige uno")
        self._cliente_escribe(sandbox, cliente, "¿Qué horarios tienen?")
        self._cliente_escribe(sandbox, cliente, fila=("hora:lv:9", "9:00"))
        self._titulo(f"6) {cliente.nombre} pide una persona; {AGENTE['nombre']} le responde")
        self._cliente_escribe(sandbox, cliente, "Quiero hablar con un humano")
        aviso = EnvioWhatsApp.objects.filter(tipo="aviso_agente").order_by("-pk").first()
        agente = _Persona(AGENTE["nombre"], AGENTE["telefono"])
        wamid = aviso.wamid if aviso else ""
        self._cliente_escribe(
            sandbox, agente, "Hola Ana, soy Luis. ¿En qué te ayudo?", responde_a=wamid
        )
        self._cliente_escribe(sandbox, cliente, "¿La alineación incluye balanceo?")
        self._cliente_escribe(sandbox, agente, "Cerrar")
        conversacion = Conversacion.objects.get(telefono=envio.telefono)
        self.stdout.write(
            f"   conversación de {cliente.nombre}: {conversacion.get_estado_display()}"
        )
        self._titulo(f"7) {cliente.nombre} manda la foto de su comprobante de pago")
        pie = "Monto: 4925.00 / Fecha: 2025-01-15"
        self._cliente_escribe(sandbox, cliente, pie, imagen=RECIBO_JPEG)
        recibo = (
            Mensaje.objects.filter(tipo="image", telefono=envio.telefono).order_by("-pk").first()
        )
        if recibo is not None:
            guardado = recibo.archivo.name or "(sin archivo)"
            self.stdout.write(f"   archivo ({recibo.get_descarga_display()}): {guardado}")
        pago = Pago.objects.filter(comprobante=recibo).first() if recibo else None
        self.stdout.write(
            f"   pago registrado: {pago.monto} del {pago.fecha}" if pago else "   sin pago"
        )

    def _cliente_escribe(self, sandbox, cliente, texto: str = "", **como) -> None:
        """Post one inbound message from the sandbox (``cliente``: who writes, a customer
        or the agent) and show what the ERP sent because of it."""
        antes = len(sandbox.mensajes)
        if como.get("imagen"):
            lo_que = f"manda una foto con el pie «{texto}»"
        elif texto:
            lo_que = f"«{texto}»"
        else:
            lo_que = f"toca «{(como.get('payload') or como['fila'])[1]}»"
        self.stdout.write(f"   {cliente.nombre} {lo_que}")
        ultimo = EnvioWhatsApp.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        wamid = sandbox.entrante(cliente.telefono, texto, nombre=cliente.nombre, **como)
        self._entrantes += 1
        # Handled (the handlers ran in the worker) and what they recorded has left.
        limite = time.monotonic() + ESPERA_MAXIMA
        atendido = Mensaje.objects.filter(wamid=wamid, manejado_en__isnull=False).exclude(
            descarga__in=["pendiente", "descargando"]
        )
        en_cola = EnvioWhatsApp.objects.filter(
            pk__gt=ultimo, estado__in=[EstadoEnvio.PENDIENTE, EstadoEnvio.ENVIANDO]
        )
        while (not atendido.exists() or en_cola.exists()) and time.monotonic() < limite:
            time.sleep(0.1)
        for peticion in sandbox.mensajes[antes:]:
            para = _nombre_de(peticion.cuerpo.get("to", "").lstrip("+"))
            self.stdout.write(f"   → {para}: {_resumen_de(peticion.cuerpo)}")
        if len(sandbox.mensajes) == antes:
            self.stdout.write(f"   (sin respuesta tras {ESPERA_MAXIMA:g} s)")

    def _texto_libre(self, datos: Datos) -> None:
        """WHAPI has no 24-hour window: a free text goes to a customer who never wrote."""
        cliente = datos.cotizacion.cliente
        self._titulo(f"4) Texto libre para {cliente.nombre} (WHAPI no tiene ventana de 24 horas)")
        envio = enviar_texto(cliente, TEXTO_LIBRE, clave=f"demo:gracias:{cliente.pk}")
        self.stdout.write(f"   envío {envio.pk}: {envio.estado}")

    def _respuesta_en_ventana(self, datos: Datos, sandbox) -> None:
        """On Twilio free text needs the window: the customer writes, the ERP answers."""
        cliente = datos.cotizacion.cliente
        self._titulo(f"4) {cliente.nombre} escribe; la respuesta va dentro de la ventana de 24 h")
        self.stdout.write(f"   «{PREGUNTA}»")
        sid = sandbox.entrante(cliente.telefono, PREGUNTA, nombre=cliente.nombre)
        recibido = _webhook_de(sandbox, sid)
        respuesta = recibido.respuesta if recibido else f"sin respuesta tras {ESPERA_MAXIMA:g} s"
        self.stdout.write(f"   webhook del mensaje entrante: HTTP {respuesta}")
        envio = enviar_texto(cliente, TEXTO_LIBRE, clave=f"demo:gracias:{cliente.pk}")
        self.stdout.write(f"   envío {envio.pk}: {envio.estado}")

    def _esperar_leidos(self, ultimo: int) -> None:
        """Wait (bounded) until every envío sent in this run is read, as the webhooks say."""
        self._titulo("Esperando los webhooks de estado (enviado → entregado → leído)...")
        limite = time.monotonic() + ESPERA_MAXIMA
        pendientes = EnvioWhatsApp.objects.filter(pk__gt=ultimo).exclude(
            estado__in=[EstadoEnvio.LEIDO, EstadoEnvio.OMITIDO, EstadoEnvio.FALLIDO]
        )
        while pendientes.exists() and time.monotonic() < limite:
            time.sleep(0.2)
        if faltan := pendientes.count():
            self.stdout.write(f"   {faltan} envío(s) sin leer tras {ESPERA_MAXIMA:g} s.")

    def _resumen_sandbox(self, sandbox, proveedor: str = "meta") -> None:
        # The envío may read «leído» a moment before the sandbox records the 200 of its
        # last webhook: wait for those answers (bounded) before counting them. WHAPI also
        # posts the echo (from_me) of each message.
        por_mensaje = len(DEMORAS) + (proveedor == "whapi")
        entrantes = self._entrantes + (1 if proveedor == "twilio" else 0)
        sandbox.esperar_webhooks(por_mensaje * len(sandbox.mensajes) + entrantes, timeout=5)
        validos = sum(peticion.valido for peticion in sandbox.mensajes)
        entregados = sum(webhook.entregado for webhook in sandbox.webhooks)
        self._titulo(f"Sandbox de {NOMBRES[proveedor]}")
        como = COMO[proveedor]
        self.stdout.write(
            f"   {validos} de {len(sandbox.mensajes)} mensajes válidos según {FORMAS[proveedor]}; "
            f"{entregados} webhooks {como} entregados al ERP (HTTP 200)."
        )

    # -- the three flows, through the real views -------------------------------------------

    def _flujos(self, datos: Datos) -> None:
        cliente = Client()
        oc = datos.orden_compra
        self._titulo(f"1) Orden de compra {oc.numero} para {oc.proveedor.nombre}")
        self._respuesta(cliente.post(reverse("taller:enviar_orden_compra", args=[oc.pk])))
        cot = datos.cotizacion
        self._titulo(f"2) Cotización {cot.numero} (PDF) para {cot.cliente.nombre}")
        self._respuesta(cliente.post(reverse("taller:enviar_cotizacion", args=[cot.pk])))
        self._titulo("3) Vehículo listo: se completan las órdenes de trabajo")
        for orden in datos.ordenes:
            self.stdout.write(f"   {orden.numero} ({orden.cliente.nombre}, {orden.vehiculo})")
            self._respuesta(cliente.post(reverse("taller:completar_orden", args=[orden.pk])))

    def _respuesta(self, respuesta) -> None:
        datos = respuesta.json()
        banderas = "  ".join(
            f"{clave}={'sí' if datos[clave] else 'no'}"
            for clave in ("email_enviado", "whatsapp_enviado", "cambiada")
            if clave in datos
        )
        self.stdout.write(f"   HTTP {respuesta.status_code}  {banderas}")
        self.stdout.write(f"   {datos['mensaje']}")

    # -- report -----------------------------------------------------------------------------

    def _tabla_envios(self, desde: int) -> None:
        self._titulo("Envíos de WhatsApp registrados")
        envios = list(EnvioWhatsApp.objects.order_by("-pk")[:20])[::-1]
        if not any(envio.pk > desde for envio in envios):
            self.stdout.write(NADA_NUEVO)
        filas = [CABECERA, *(_fila(envio) for envio in envios)]
        anchos = [max(len(fila[i]) for fila in filas) for i in range(len(CABECERA))]
        for numero, fila in enumerate(filas):
            linea = "  ".join(valor.ljust(ancho) for valor, ancho in zip(fila, anchos, strict=True))
            self.stdout.write(linea.rstrip())
            if numero == 0:
                self.stdout.write("  ".join("-" * ancho for ancho in anchos))

    def _correos(self, correos: list) -> None:
        self._titulo("Correos (guardados en memoria, no enviados)")
        for correo in correos:
            adjuntos = ", ".join(nombre for nombre, *_ in correo.attachments)
            extra = f"  [adjunto: {adjuntos}]" if adjuntos else ""
            self.stdout.write(f"→ {', '.join(correo.to)}: {correo.subject}{extra}")
        if not correos:
            self.stdout.write("(ninguno)")

    def _titulo(self, texto: str) -> None:
        self.stdout.write(f"\n{texto}", self.style.MIGRATE_HEADING)


@dataclass(frozen=True)
class _Persona:
    nombre: str
    telefono: str


# The workshop's agent in the demo: notified by the aviso_agente template when a customer
# asks for a person, and relayed to the customer when he answers from his WhatsApp.
AGENTE = {"telefono": "+52 55 8765 4321", "nombre": "Luis"}


def _webhook_de(sandbox, sid: str):
    """The webhook the sandbox posted for message ``sid``, once posted (bounded wait).

    The status callbacks of earlier sends may be posted before it, more so on a busy
    machine: it is found by its sid, not by its place.
    """
    limite = time.monotonic() + ESPERA_MAXIMA
    while time.monotonic() < limite:
        if hecho := next((w for w in sandbox.webhooks if w.wamid == sid), None):
            return hecho
        time.sleep(0.05)
    return None


def _nombre_de(telefono: str) -> str:
    """Who a message went to: the agent, or the customer of that phone's conversation."""
    if telefono == "525587654321":
        return AGENTE["nombre"]
    nombre = Conversacion.objects.filter(telefono=telefono).values_list("nombre", flat=True)
    return nombre.first() or f"+{telefono}"


def _resumen_de(cuerpo: dict) -> str:
    """One line for a message the ERP sent to the sandbox: its text, or a list's rows."""
    if cuerpo.get("type") == "text":
        return cuerpo["text"]["body"]
    if cuerpo.get("type") == "reaction":
        return f"{cuerpo['reaction']['emoji']} (reacción a su mensaje)"
    if cuerpo.get("type") == "template":
        parametros = [
            p.get("text", "") for c in cuerpo["template"].get("components", [])
            for p in c.get("parameters", []) if p.get("type") == "text"
        ]  # fmt: skip
        return f"plantilla {cuerpo['template']['name']} ({' / '.join(parametros)})"
    if cuerpo.get("type") == "interactive":
        interactivo = cuerpo["interactive"]
        filas = [f["title"] for s in interactivo["action"].get("sections", []) for f in s["rows"]]
        opciones = f" [{', '.join(filas)}]" if filas else ""
        return f"{interactivo['body']['text']}{opciones}"
    return str(cuerpo.get("type"))


def _fila(envio: EnvioWhatsApp) -> tuple[str, ...]:
    return (
        str(envio.pk),
        envio.tipo or "-",
        envio.plantilla or "-",
        mask(envio.telefono) or "-",
        envio.estado,
        envio.motivo or "-",
        *(_hora(momento) for momento in (envio.enviado_en, envio.entregado_en, envio.leido_en)),
    )


def _hora(momento) -> str:
    return timezone.localtime(momento).strftime("%H:%M:%S.%f")[:10] if momento else "-"


NOMBRES = {"meta": "la Cloud API", "whapi": "WHAPI", "twilio": "Twilio"}
FORMAS = {
    "meta": "el esquema de Meta",
    "whapi": "la forma documentada de WHAPI",
    "twilio": "la forma documentada de Twilio",
}
COMO = {
    "meta": "firmados",
    "whapi": "autenticados con su cabecera secreta",
    "twilio": "firmados con X-Twilio-Signature",
}


@contextmanager
def escuchar(opcion: str, puerto: int, clase, /, **argumentos):
    """``clase(**argumentos)`` started; a port already taken is a CommandError naming
    ``opcion`` (the option, or the make variable, that chose it)."""
    try:
        servidor = clase(**argumentos)
    except OSError as exc:
        raise CommandError(
            f"No se pudo escuchar en el puerto {puerto} ({opcion}): {exc.strerror or exc}. "
            "Elige otro, o 0 para uno libre."
        ) from None
    with servidor:
        yield servidor


@contextmanager
def sandbox_de(proveedor: str, webhook: str, red: Red = Red()) -> Iterator[tuple[object, dict]]:
    """The provider's local sandbox, started, and the account settings that point at it."""
    from whatsapp_notify.sandbox import Fallos

    comunes = {
        "port": red.puerto_sandbox,
        "delays": DEMORAS,
        "fallos": Fallos(latencia=red.latencia_ms / 1000),
    }
    if proveedor == "whapi":
        from whatsapp_notify.sandbox.whapi import WhapiSandbox

        secreto = WHAPI_OPTIONS["WEBHOOK_SECRET"]
        clase, argumentos = WhapiSandbox, {"webhook_url": webhook, "secreto": secreto}
        with escuchar(
            "--puerto-sandbox", red.puerto_sandbox, clase, **argumentos, **comunes
        ) as sandbox:
            opciones = {**WHAPI_OPTIONS, "BASE_URL": sandbox.base_url}
            yield sandbox, {"BACKEND": WHAPI_BACKEND, "OPTIONS": opciones}
        return
    if proveedor == "twilio":
        from whatsapp_notify.sandbox.twilio import TwilioSandbox

        token = TWILIO_OPTIONS["AUTH_TOKEN"]
        argumentos = {"auth_token": token, "webhook_url": webhook}
        with escuchar(
            "--puerto-sandbox", red.puerto_sandbox, TwilioSandbox, **argumentos, **comunes
        ) as sandbox:
            opciones = {
                **TWILIO_OPTIONS,
                "ACCOUNT_SID": sandbox.account_sid,
                "BASE_URL": sandbox.base_url,
                "WEBHOOK_URL": webhook,
            }
            yield sandbox, {"BACKEND": TWILIO_BACKEND, "OPTIONS": opciones}
        return
    from whatsapp_notify.sandbox import Sandbox

    argumentos = {
        "webhook_url": webhook,
        "app_secret": SANDBOX_OPTIONS["APP_SECRET"],
        "phone_number_id": SANDBOX_OPTIONS["PHONE_NUMBER_ID"],
    }
    with escuchar(
        "--puerto-sandbox", red.puerto_sandbox, Sandbox, **argumentos, **comunes
    ) as sandbox:
        opciones = {**SANDBOX_OPTIONS, "BASE_URL": sandbox.base_url}
        yield sandbox, {"BACKEND": META_BACKEND, "OPTIONS": opciones}


@contextmanager
def modo_demo(backend: dict, *, silenciar_logs: bool) -> Iterator[None]:
    """The given WhatsApp backend (console or the local sandbox), e-mails in memory, tasks
    in-process.

    Whatever ``.env`` configures (Meta, SMTP, a Celery broker), the demo's fictitious
    phone numbers and addresses never reach a real provider.
    """
    whatsapp = {
        **settings.WHATSAPP_NOTIFY,
        "BACKENDS": {"default": backend},
        "AGENTS": [AGENTE],
        "HANDOFF_TEMPLATE": "aviso_agente",
    }
    registro = logging.getLogger("whatsapp_notify")
    nivel, eager = registro.level, current_app.conf.task_always_eager
    try:
        if silenciar_logs:
            registro.setLevel(logging.WARNING)
        current_app.conf.task_always_eager = True
        with override_settings(
            WHATSAPP_NOTIFY=whatsapp,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
        ):
            yield
    finally:
        registro.setLevel(nivel)
        current_app.conf.task_always_eager = eager


# -- sample data (idempotent) ----------------------------------------------------------------


def crear_datos() -> Datos:
    """Create (or reuse) the sample customers, supplier, vehicles, orders and quote."""
    contador = _Contador()
    ana = contador.cliente("Ana Pérez", "+52 55 1234 5678", "ana@example.com", True)
    bruno = contador.cliente("Bruno Díaz", "+52 33 1234 5678", "bruno@example.com", False)
    # Carla's phone is invalid on purpose (her aviso is omitido): the model's warning for it
    # is the case the demo shows, so it reads as a note, not as a problem of the run.
    with aviso_esperado(models.logger, models.SIN_CONSENTIMIENTO) as retenidos:
        carla = contador.cliente("Carla Ruiz", "12345", "", True)
    notas = [TELEFONO_A_PROPOSITO.format(nombre=carla.nombre)] if retenidos else []
    proveedor = contador.crear(
        Proveedor,
        {"nombre": "Refacciones del Norte"},
        telefono="+52 81 1234 5678",
        email="ventas@refacciones.example.com",
        acepta_whatsapp=True,
    )
    mazda = contador.vehiculo(ana, "Mazda", "3", 2019, "ABC-123")
    versa = contador.vehiculo(bruno, "Nissan", "Versa", 2021, "XYZ-987")
    jetta = contador.vehiculo(carla, "Volkswagen", "Jetta", 2017, "JKL-456")
    ordenes = [
        contador.orden("OT-1001", ana, mazda, "Servicio de 40,000 km", "2450.00"),
        contador.orden("OT-1002", bruno, versa, "Cambio de balatas delanteras", "1800.00"),
        contador.orden("OT-1003", carla, jetta, "Diagnóstico de suspensión", "650.00"),
    ]
    cotizacion = contador.crear(
        Cotizacion,
        {"numero": "COT-2001"},
        cliente=ana,
        vehiculo=mazda,
        conceptos=[
            {"descripcion": "Amortiguadores delanteros (par)", "cantidad": 1, "precio": "3200.00"},
            {"descripcion": "Mano de obra", "cantidad": 2.5, "precio": "450.00"},
            {"descripcion": "Alineación y balanceo", "cantidad": 1, "precio": "600.00"},
        ],
    )
    orden_compra = contador.crear(
        OrdenCompra,
        {"numero": "OC-3001"},
        proveedor=proveedor,
        resumen="4 balatas cerámicas, 2 discos de freno ventilados",
        total=Decimal("3890.00"),
    )
    return Datos(orden_compra, cotizacion, ordenes, contador.creados, notas)


TELEFONO_A_PROPOSITO = (
    "{nombre} tiene a propósito un teléfono inválido: su consentimiento no se registra y su "
    "aviso quedará omitido (telefono_invalido)."
)


class _Retener(logging.Filter):
    """Holds back the warnings whose message is ``mensaje``; every other record passes."""

    def __init__(self, mensaje: str) -> None:
        super().__init__()
        self.mensaje = mensaje
        self.retenidos: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and record.msg == self.mensaje:
            self.retenidos.append(record)
            return False
        return True


@contextmanager
def aviso_esperado(registro: logging.Logger, mensaje: str) -> Iterator[list[logging.LogRecord]]:
    """Inside the block, ``registro``'s warnings with the text ``mensaje`` (the intended case)
    are held back and listed instead of logged; any other record is logged as usual."""
    retener = _Retener(mensaje)
    registro.addFilter(retener)
    try:
        yield retener.retenidos
    finally:
        registro.removeFilter(retener)


class _Contador:
    """``get_or_create`` helpers that count what was new."""

    def __init__(self) -> None:
        self.creados = 0

    def crear(self, clase, clave: dict, /, **defaults):
        objeto, creado = clase.objects.get_or_create(**clave, defaults=defaults)
        self.creados += creado
        return objeto

    def cliente(self, nombre: str, telefono: str, email: str, acepta: bool) -> Cliente:
        datos = {"telefono": telefono, "email": email, "acepta_whatsapp": acepta}
        return self.crear(Cliente, {"nombre": nombre}, **datos)

    def vehiculo(self, cliente, marca: str, modelo: str, anio: int, placas: str) -> Vehiculo:
        datos = {"cliente": cliente, "marca": marca, "modelo": modelo, "anio": anio}
        return self.crear(Vehiculo, {"placas": placas}, **datos)

    def orden(self, numero, cliente, vehiculo, descripcion, total) -> OrdenTrabajo:
        return self.crear(
            OrdenTrabajo,
            {"numero": numero},
            cliente=cliente,
            vehiculo=vehiculo,
            descripcion=descripcion,
            total=Decimal(total),
            estado=OrdenTrabajo.Estado.EN_PROCESO,
        )
