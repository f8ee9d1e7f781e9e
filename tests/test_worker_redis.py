"""A real Celery worker process, Redis as broker, PostgreSQL, and a local Graph API stand-in.

The test process records the envío and publishes its task; the worker (``celery worker``,
solo pool, its own queue) claims it and sends it through ``MetaBackend`` to ``GraphStub``,
or, for the whole loop, to the Cloud API sandbox, whose signed status webhooks come back to
the test's live server. Run with ``WHATSAPP_TEST_DB=postgres``.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager

import pytest
from django.urls import reverse

from tests.celery_app import con_broker
from tests.graph_stub import GraphStub, error_graph
from tests.workers import Worker, entorno_worker
from whatsapp_notify import enviar_plantilla
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.messages import Plantilla, Salida
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio, EventoWebhook
from whatsapp_notify.references import referencia_de
from whatsapp_notify.sandbox import Sandbox

META = "whatsapp_notify.backends.meta.MetaBackend"
ESPERA = 30  # seconds for an envío to be settled


@pytest.fixture
def graph():
    with GraphStub() as stub:
        yield stub


@pytest.fixture
def worker(postgres, redis_url, graph, wa_settings):
    """A ``celery worker`` subprocess on a queue of its own, sending to ``GraphStub``."""
    with celery_worker(redis_url, graph.url, wa_settings) as log:
        yield log


@contextmanager
def celery_worker(redis_url: str, graph_url: str, wa_settings):
    """Run a worker whose MetaBackend talks to ``graph_url``; the test publishes to it."""
    cola = f"whatsapp-test-{uuid.uuid4().hex[:8]}"
    entorno = entorno_worker(redis_url, graph_url, cola, RETRY_BACKOFF=0.2)
    worker = Worker(cola, entorno, nombre=f"{cola}@%h")
    try:
        worker.esperar_arranque()
        wa_settings(TASK_QUEUE=cola)
        with con_broker(redis_url):
            yield worker.log
    finally:
        worker.parar()  # cold shutdown: nothing is running by now


def esperar_estado(envio: EnvioWhatsApp, estado: str, log) -> EnvioWhatsApp:
    """Poll the row until it reaches ``estado``; fail with the worker's log after ESPERA s."""
    limite = time.monotonic() + ESPERA
    while time.monotonic() < limite:
        envio.refresh_from_db()
        if envio.estado == estado:
            return envio
        time.sleep(0.1)
    pytest.fail(
        f"El envío quedó en {envio.estado!r} ({envio.error_detalle}); log del worker:\n{log()}",
        pytrace=False,
    )


def nuevo_envio() -> EnvioWhatsApp:
    return enviar_plantilla(
        "+52 55 1234 5678", "vehiculo_listo_cliente", variables=["Ana", "Mazda 3", "OT-42"]
    )


# -- the stub itself -----------------------------------------------------------------------


def test_graph_stub__contesta_como_la_cloud_api(graph):
    backend = MetaBackend(PHONE_NUMBER_ID="1234567890", ACCESS_TOKEN="t", BASE_URL=graph.url)
    salida = Salida("525512345678", Plantilla("vehiculo_listo_cliente", "es_MX", ["Ana"]), "7")

    resultado = backend.send(salida)

    [peticion] = graph.mensajes()
    assert resultado.id == peticion.respuesta["messages"][0]["id"]
    assert resultado.wa_id == "525512345678"
    assert peticion.ruta == "/v25.0/1234567890/messages"
    assert peticion.cuerpo["biz_opaque_callback_data"] == "7"
    assert peticion.cabeceras["Authorization"] == "Bearer t"


# -- the real worker -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_worker__envia_el_envio_una_vez_con_su_id(worker, graph):
    envio = nuevo_envio()

    envio = esperar_estado(envio, EstadoEnvio.ENVIADO, worker)

    [peticion] = graph.mensajes()
    assert peticion.cuerpo["biz_opaque_callback_data"] == referencia_de(envio.pk)
    assert peticion.cuerpo["to"] == "+525512345678"
    assert envio.wamid == peticion.respuesta["messages"][0]["id"]
    assert (envio.intentos, envio.wa_id) == (1, "525512345678")


@pytest.mark.django_db(transaction=True)
def test_worker__un_500_se_reintenta_y_termina_enviado(worker, graph):
    graph.responder(500, error_graph(131000, "Something went wrong"))
    envio = nuevo_envio()

    envio = esperar_estado(envio, EstadoEnvio.ENVIADO, worker)

    peticiones = graph.mensajes()
    assert [p.status for p in peticiones] == [500, 200]
    assert {p.cuerpo["biz_opaque_callback_data"] for p in peticiones} == {referencia_de(envio.pk)}
    assert envio.wamid == peticiones[1].respuesta["messages"][0]["id"]
    assert (envio.intentos, envio.error_codigo, envio.error_detalle) == (2, None, "")


@pytest.mark.django_db(transaction=True)
def test_worker__una_campana_sale_en_lotes_una_vez_cada_envio(worker, graph):
    from django.db import transaction

    with transaction.atomic():  # one task per envío is published on commit
        envios = [
            enviar_plantilla(f"+52 55 1000 {i:04d}", "vehiculo_listo_cliente",
                             variables=["Ana", "Mazda 3", f"OT-{i}"])
            for i in range(60)
        ]  # fmt: skip

    for envio in envios:
        esperar_estado(envio, EstadoEnvio.ENVIADO, worker)
    mensajes = graph.mensajes()
    assert len(mensajes) == 60  # each once, though 60 tasks ran
    assert sorted(m.cuerpo["biz_opaque_callback_data"] for m in mensajes) == sorted(
        referencia_de(envio.pk) for envio in envios
    )
    wamids = set(EnvioWhatsApp.objects.values_list("wamid", flat=True))
    assert wamids == {m.respuesta["messages"][0]["id"] for m in mensajes}


def conexiones_de_otros() -> set[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return {fila[0] for fila in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_worker__conserva_su_conexion_entre_tareas(worker, graph):
    primero = esperar_estado(nuevo_envio(), EstadoEnvio.ENVIADO, worker)
    tras_la_primera = conexiones_de_otros()
    EnvioWhatsApp.objects.filter(pk=primero.pk).update(clave="otra")
    esperar_estado(nuevo_envio(), EstadoEnvio.ENVIADO, worker)

    # Celery's Django fixup would have closed it after each task (CELERY_DB_REUSE_MAX unset).
    assert tras_la_primera, "el worker cerró su conexión al terminar la tarea"
    assert tras_la_primera & conexiones_de_otros()


# -- the whole loop: worker -> sandbox -> signed webhooks -> live server ---------------------

SECRETO = "secreto-del-ciclo"


@pytest.fixture
def sandbox(live_server, wa_settings):
    """The Cloud API sandbox posting its webhooks to this test's live server."""
    webhook = f"{live_server.url}{reverse('whatsapp_notify:webhook')}"
    with Sandbox(webhook_url=webhook, app_secret=SECRETO, delays=(0.05, 0.1, 0.15)) as local:
        opciones = {
            "PHONE_NUMBER_ID": "1234567890",
            "ACCESS_TOKEN": "token-de-prueba",
            "BASE_URL": local.base_url,
            "APP_SECRET": SECRETO,
        }
        wa_settings(BACKENDS={"default": {"BACKEND": META, "OPTIONS": opciones}})
        yield local


@pytest.fixture
def worker_sandbox(postgres, redis_url, sandbox, wa_settings):
    with celery_worker(redis_url, sandbox.base_url, wa_settings) as log:
        yield log


@pytest.mark.django_db(transaction=True)
def test_ciclo_completo__worker_sandbox_y_webhooks_dejan_el_envio_leido(worker_sandbox, sandbox):
    envio = nuevo_envio()

    envio = esperar_estado(envio, EstadoEnvio.LEIDO, worker_sandbox)

    [mensaje] = sandbox.mensajes
    assert mensaje.valido  # the worker's payload passed Meta's schema
    assert mensaje.cuerpo["biz_opaque_callback_data"] == referencia_de(envio.pk)
    propios = [webhook for webhook in sandbox.webhooks if webhook.wamid == envio.wamid]
    assert [webhook.status for webhook in propios] == ["sent", "delivered", "read"]
    assert all(webhook.respuesta == 200 for webhook in propios)
    # Meta's status timestamps have one-second resolution; the worker's own is exact.
    assert envio.enviado_en.replace(microsecond=0) <= envio.entregado_en <= envio.leido_en
    assert (envio.intentos, envio.precio_categoria) == (1, "utility")
    eventos = EventoWebhook.objects.all()
    assert len(eventos) == 3
    assert all(evento.procesado_en and not evento.error for evento in eventos)


# -- three providers, one worker ---------------------------------------------------------------

CLIENTE = "573001234567"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
DEMORAS = (0.05, 0.1, 0.15)


@contextmanager
def tres_sandboxes(live_server):
    """The sandbox of each provider, each calling back its own account's webhook."""
    from whatsapp_notify.sandbox.twilio import ACCOUNT_SID, TwilioSandbox
    from whatsapp_notify.sandbox.whapi import WhapiSandbox

    def webhook(cuenta: str) -> str:
        return f"{live_server.url}{reverse('whatsapp_notify:webhook', args=[cuenta])}"

    with (
        Sandbox(webhook_url=webhook("default"), app_secret=SECRETO, delays=DEMORAS) as meta,
        TwilioSandbox("token-twilio", webhook("citas"), delays=DEMORAS) as twilio,
        WhapiSandbox(webhook_url=webhook("bot"), secreto="secreto-whapi", delays=DEMORAS) as whapi,
    ):
        backends = {
            "default": {"BACKEND": META, "OPTIONS": {
                "PHONE_NUMBER_ID": "1234567890", "ACCESS_TOKEN": "token-de-prueba",
                "APP_SECRET": SECRETO, "BASE_URL": meta.base_url}},
            "citas": {"BACKEND": "whatsapp_notify.backends.twilio.TwilioBackend", "OPTIONS": {
                "ACCOUNT_SID": ACCOUNT_SID, "AUTH_TOKEN": "token-twilio",
                "FROM": "whatsapp:+14155238886", "WEBHOOK_URL": webhook("citas"),
                "BASE_URL": twilio.base_url, "RATE_LIMIT": "50/s",
                "CONTENT_SIDS": {"recordatorio_cita": "HX" + "a" * 32}}},
            "bot": {"BACKEND": "whatsapp_notify.backends.whapi.WhapiBackend", "OPTIONS": {
                "TOKEN": "token-whapi", "WEBHOOK_SECRET": "secreto-whapi",
                "BASE_URL": whapi.base_url, "RATE_LIMIT": "50/s",
                "PLANTILLAS": {"recordatorio_cita": "Hola {{1}}, su cita es a las {{2}}."}}},
        }  # fmt: skip
        yield {"default": meta, "citas": twilio, "bot": whapi}, backends


@pytest.mark.django_db(transaction=True)
def test_tres_proveedores__un_worker_lleva_plantilla_documento_y_texto_a_leido(
    postgres, redis_url, live_server, wa_settings
):
    """Meta, Twilio and WHAPI beside each other, as a host configures them: a real worker
    sends each account's template, document and text to that provider's sandbox, whose
    signed (or secret-authenticated) callbacks settle every envío at «leído»."""
    import json

    from whatsapp_notify import enviar_documento, enviar_texto
    from whatsapp_notify.models import Direccion, Mensaje

    with tres_sandboxes(live_server) as (sandboxes, backends):
        wa_settings(BACKENDS=backends)
        cola = f"whatsapp-test-{uuid.uuid4().hex[:8]}"
        entorno = entorno_worker(redis_url, "", cola, BACKENDS_JSON=json.dumps(backends))
        worker = Worker(cola, entorno, nombre=f"{cola}@%h")
        try:
            worker.esperar_arranque()
            wa_settings(TASK_QUEUE=cola)
            with con_broker(redis_url):
                envios = []
                for cuenta in backends:
                    # The customer wrote to each number: free-form messages may go.
                    Mensaje.objects.create(
                        direccion=Direccion.ENTRANTE, telefono=CLIENTE, wa_id=CLIENTE, cuenta=cuenta
                    )
                    envios += [
                        enviar_plantilla(f"+{CLIENTE}", "recordatorio_cita",
                                         variables=["Ana", "10:30"], cuenta=cuenta),
                        enviar_documento(f"+{CLIENTE}", PDF, nombre_documento="factura.pdf",
                                         cuenta=cuenta),
                        enviar_texto(f"+{CLIENTE}", "Gracias por su visita", cuenta=cuenta),
                    ]  # fmt: skip
                leidos = [esperar_estado(envio, EstadoEnvio.LEIDO, worker.log) for envio in envios]
        finally:
            worker.parar()

    assert [(e.cuenta, e.intentos) for e in leidos] == [
        (cuenta, 1) for cuenta in backends for _ in range(3)
    ]
    for cuenta, sandbox in sandboxes.items():
        assert len(sandbox.mensajes) == 3, cuenta
        assert all(mensaje.valido for mensaje in sandbox.mensajes), cuenta
        assert all(webhook.respuesta == 200 for webhook in sandbox.webhooks), cuenta
    # Twilio fetched the PDF from the app's own signed URL, as it does from a public one.
    ((url, status, datos),) = sandboxes["citas"].documentos
    assert (status, datos) == (200, PDF)
    assert url.startswith(f"{live_server.url}/whatsapp/documento/")
    eventos = EventoWebhook.objects.all()
    assert len(eventos) == sum(len(sandbox.webhooks) for sandbox in sandboxes.values())
    assert all(evento.procesado_en and not evento.error for evento in eventos)
