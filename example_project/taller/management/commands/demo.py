"""``python manage.py demo``: the three WhatsApp flows of the workshop, end to end, offline.

By default the whole loop runs for real on this machine: the ERP is served over HTTP in a
thread, MetaBackend talks to the local Cloud API sandbox, and the sandbox posts signed
status webhooks (sent, delivered, read) back to the ERP's webhook view. ``--consola``
prints the messages with the console backend instead (no HTTP, no webhooks).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from io import StringIO
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.phones import mask

from ...models import Cliente, Cotizacion, OrdenCompra, OrdenTrabajo, Proveedor, Vehiculo
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
# Seconds after a send when the sandbox reports it sent, delivered and read.
DEMORAS = (0.3, 0.8, 1.3)
ESPERA_MAXIMA = 20.0


@dataclass
class Datos:
    """The sample records the flows run on."""

    orden_compra: OrdenCompra
    cotizacion: Cotizacion
    ordenes: list[OrdenTrabajo]
    creados: int


class Command(BaseCommand):
    help = (
        "Demostración del ERP de taller: aplica las migraciones, crea datos de ejemplo "
        "(idempotente) y recorre los tres flujos de WhatsApp (orden de compra al proveedor, "
        "cotización con PDF al cliente y vehículo listo) a través de las vistas reales. "
        "Siempre usa el backend de consola y guarda los correos en memoria: no envía nada "
        "de verdad. Muestra la tabla de envíos y lo que imprimió el backend."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--consola",
            action="store_true",
            help="Imprime los mensajes con el backend de consola, sin sandbox ni webhooks.",
        )

    def handle(self, *args, **options) -> None:
        call_command("migrate", verbosity=0, interactive=False)
        datos = crear_datos()
        self._titulo("Demo del taller con django-whatsapp-notify")
        self.stdout.write(
            f"Base de datos lista. Datos de ejemplo: {datos.creados} registros nuevos "
            "(los existentes se reutilizan)."
        )
        correos = len(getattr(mail, "outbox", []))
        silenciar = options["verbosity"] < 2
        if options["consola"]:
            self._demo_consola(datos, silenciar)
        else:
            self._demo_sandbox(datos, silenciar)
        self._correos(mail.outbox[correos:])
        python = interprete()
        self.stdout.write(
            f"\nSiguiente paso: {python} manage.py createsuperuser && {python} manage.py "
            "runserver, luego abre /admin/ y /envios/."
        )

    def _demo_consola(self, datos: Datos, silenciar: bool) -> None:
        consola = StringIO()
        backend = {"BACKEND": CONSOLE_BACKEND, "OPTIONS": {"STREAM": consola}}
        with modo_demo(backend, silenciar_logs=silenciar):
            self._flujos(datos)
        self._tabla_envios(desde=0)
        self._titulo("Salida del backend de consola (WhatsApp)")
        self.stdout.write(consola.getvalue().rstrip() or NADA_NUEVO)

    def _demo_sandbox(self, datos: Datos, silenciar: bool) -> None:
        from whatsapp_notify.sandbox import Sandbox

        ultimo = EnvioWhatsApp.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with ServidorLocal() as erp:
            webhook = f"{erp.url}{reverse('whatsapp_notify:webhook')}"
            secreto = SANDBOX_OPTIONS["APP_SECRET"]
            with Sandbox(webhook_url=webhook, app_secret=secreto, delays=DEMORAS) as sandbox:
                backend = {"BACKEND": META_BACKEND, "OPTIONS": {**SANDBOX_OPTIONS}}
                backend["OPTIONS"]["BASE_URL"] = sandbox.base_url
                with modo_demo(backend, silenciar_logs=silenciar):
                    self.stdout.write(
                        f"ERP en {erp.url}; sandbox de la Cloud API en {sandbox.base_url}; "
                        f"webhook en {webhook}"
                    )
                    self._flujos(datos)
                    self._esperar_leidos(ultimo)
                self._resumen_sandbox(sandbox)
        self._tabla_envios(desde=ultimo)

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

    def _resumen_sandbox(self, sandbox) -> None:
        # The envío may read «leído» a moment before the sandbox records the 200 of its
        # last webhook: wait for those answers (bounded) before counting them.
        sandbox.esperar_webhooks(len(DEMORAS) * len(sandbox.mensajes), timeout=5)
        validos = sum(peticion.valido for peticion in sandbox.mensajes)
        firmados = sum(webhook.entregado for webhook in sandbox.webhooks)
        self._titulo("Sandbox de la Cloud API")
        self.stdout.write(
            f"   {validos} de {len(sandbox.mensajes)} mensajes válidos según el esquema de Meta; "
            f"{firmados} webhooks firmados entregados al ERP (HTTP 200)."
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


@contextmanager
def modo_demo(backend: dict, *, silenciar_logs: bool) -> Iterator[None]:
    """The given WhatsApp backend (console or the local sandbox), e-mails in memory, tasks
    in-process.

    Whatever ``.env`` configures (Meta, SMTP, a Celery broker), the demo's fictitious
    phone numbers and addresses never reach a real provider.
    """
    whatsapp = {**settings.WHATSAPP_NOTIFY, "BACKENDS": {"default": backend}}
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
    carla = contador.cliente("Carla Ruiz", "12345", "", True)  # teléfono inválido
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
    return Datos(orden_compra, cotizacion, ordenes, contador.creados)


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
