"""The WHAPI sandbox: WhapiBackend against it over real local HTTP, and its webhooks.

The end-to-end test runs a real delivery: envíos recorded by the public API, sent by the
worker code to the sandbox, whose authenticated webhooks reach the real webhook view
(``live_server``) and settle each envío up to «leído».
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from whatsapp_notify import enviar_documento, enviar_plantilla, enviar_texto
from whatsapp_notify.backends.whapi import WhapiBackend
from whatsapp_notify.exceptions import AmbiguousError, AuthError, TransientError
from whatsapp_notify.management.commands.whatsapp_sandbox import construir_sandbox
from whatsapp_notify.messages import Boton, Botones, Salida, Texto
from whatsapp_notify.models import Direccion, EnvioWhatsApp, EstadoEnvio, Mensaje
from whatsapp_notify.sandbox import Fallos
from whatsapp_notify.sandbox.whapi import WhapiSandbox

from .test_sandbox import Receptor, esperar

SECRETO = "secreto-del-webhook"
TOKEN = "token-del-canal"
TELEFONO = "525512345678"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
RAPIDO = (0.01, 0.01, 0.01)
WHAPI_BACKEND = "whatsapp_notify.backends.whapi.WhapiBackend"
PLANTILLAS = {"vehiculo_listo_cliente": "Hola {{1}}, tu {{2}} está listo (orden {{3}})."}


@pytest.fixture
def receptor():
    with Receptor() as instancia:
        yield instancia


@pytest.fixture
def sandbox(receptor):
    with WhapiSandbox(receptor.url, SECRETO, delays=RAPIDO, espera_reintento=0.01) as instancia:
        yield instancia


def backend_de(sandbox: WhapiSandbox) -> WhapiBackend:
    return WhapiBackend("bot", TOKEN=TOKEN, BASE_URL=sandbox.base_url, PLANTILLAS=PLANTILLAS)


def salida(contenido) -> Salida:
    return Salida(telefono=TELEFONO, contenido=contenido)


# -- the real pipeline, to «leído» -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pipeline__plantilla_documento_y_texto_llegan_a_leido(wa_settings, live_server):
    webhook = f"{live_server.url}/whatsapp/webhook/bot/"
    with WhapiSandbox(webhook, SECRETO, delays=RAPIDO, token=TOKEN) as sandbox:
        opciones = {
            "TOKEN": TOKEN,
            "WEBHOOK_SECRET": SECRETO,
            "PLANTILLAS": PLANTILLAS,
            "BASE_URL": sandbox.base_url,
            "RATE_LIMIT": "50/s",
        }
        wa_settings(BACKENDS={"bot": {"BACKEND": WHAPI_BACKEND, "OPTIONS": opciones}})
        # The webhooks wait until every send is recorded: on SQLite's in-memory database the
        # live server shares this thread's connection, which takes one user at a time.
        sandbox.retener_webhooks()

        envios = [
            enviar_plantilla(
                f"+{TELEFONO}", "vehiculo_listo_cliente", variables=["Ana", "Mazda 3", "OT-42"],
                documento=PDF, nombre_documento="orden.pdf", cuenta="bot",
            ),
            enviar_documento(f"+{TELEFONO}", PDF, nombre_documento="factura.pdf", cuenta="bot"),
            enviar_texto(f"+{TELEFONO}", "Gracias por su visita", cuenta="bot"),
        ]  # fmt: skip

        sandbox.soltar_webhooks()
        sandbox.esperar_webhooks(4 * len(envios), timeout=10)  # each answered before the next

    estados = EnvioWhatsApp.objects.filter(pk__in=[e.pk for e in envios])
    assert [e.estado for e in estados] == [EstadoEnvio.LEIDO] * len(envios)

    tipos = [mensaje.ruta for mensaje in sandbox.mensajes]
    assert tipos == ["/messages/document", "/messages/document", "/messages/text"]
    assert all(mensaje.valido for mensaje in sandbox.mensajes)
    assert sandbox.mensajes[0].cuerpo["caption"] == "Hola Ana, tu Mazda 3 está listo (orden OT-42)."
    assert all(webhook.entregado for webhook in sandbox.webhooks)
    # The echoes (from_me) were authenticated and stored, never taken for the customer's.
    assert not Mensaje.objects.filter(direccion=Direccion.ENTRANTE).exists()


# -- answers ------------------------------------------------------------------------------


def test_envio__respuesta_sent_y_message_como_whapi(sandbox):
    respuesta = requests.post(
        f"{sandbox.base_url}/messages/text",
        json={"to": TELEFONO, "body": "Hola"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )

    cuerpo = respuesta.json()
    assert (respuesta.status_code, cuerpo["sent"]) == (200, True)
    assert cuerpo["message"]["from_me"] is True
    assert cuerpo["message"]["chat_id"] == f"{TELEFONO}@s.whatsapp.net"


@pytest.mark.parametrize(
    ("ruta", "cuerpo", "problema"),
    [
        ("text", {"to": TELEFONO}, "body: required"),
        ("text", {"to": "+52 55", "body": "x"}, "to: required"),
        ("text", {"to": TELEFONO, "body": "x", "bodyy": "y"}, "bodyy: unknown field"),
        ("document", {"to": TELEFONO, "media": "data:application/pdf;base64,%%%"}, "base64"),
        ("image", {"to": TELEFONO, "media": "data:application/pdf;base64,JVBE"}, "not an image"),
        ("interactive", {"to": TELEFONO, "type": "button", "body": {"text": "x"},
                         "action": {"buttons": []}}, "from 1 to 3"),
        ("interactive", {"to": TELEFONO, "type": "list", "body": {"text": "x"},
                         "action": {"sections": [{"rows": []}], "button": "Ver"}}, "one row"),
    ],
    ids=["sin-body", "to-invalido", "campo-desconocido", "base64", "imagen-no-imagen",
         "sin-botones", "seccion-vacia"],
)  # fmt: skip
def test_cuerpo_invalido__400_con_el_error_de_whapi(sandbox, ruta, cuerpo, problema):
    respuesta = requests.post(
        f"{sandbox.base_url}/messages/{ruta}",
        json=cuerpo,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )

    error = respuesta.json()["error"]
    assert (respuesta.status_code, error["code"]) == (400, 400)
    assert problema in error["details"]
    assert sandbox.webhooks == []


@pytest.mark.parametrize("cabeceras", [{}, {"Authorization": "Bearer otro"}], ids=["sin", "otro"])
def test_sin_token_valido__401(receptor, cabeceras):
    with WhapiSandbox(receptor.url, SECRETO, token=TOKEN) as sandbox:
        url = f"{sandbox.base_url}/messages/text"
        respuesta = requests.post(url, json={"to": TELEFONO, "body": "x"}, headers=cabeceras)

    assert (respuesta.status_code, respuesta.json()["error"]["code"]) == (401, 401)


def test_verify_credentials_y_check_subscription(sandbox):
    backend = WhapiBackend("bot", TOKEN=TOKEN, BASE_URL=sandbox.base_url, WEBHOOK_SECRET=SECRETO)

    assert backend.verify_credentials() == "Sandbox WHAPI (15550001234)"
    assert sandbox.webhook_url in backend.check_subscription(sandbox.webhook_url)


def test_download_media__los_bytes_guardados(sandbox):
    media_id = sandbox.agregar_media(b"\xff\xd8jpeg", "image/jpeg")

    assert backend_de(sandbox).download_media(media_id) == (b"\xff\xd8jpeg", "image/jpeg")


# -- webhooks ---------------------------------------------------------------------------------


def test_webhooks__eco_y_estados_con_la_cabecera_de_whapi(sandbox, receptor):
    resultado = backend_de(sandbox).send(salida(Texto("Hola")))

    esperar(lambda: len(receptor.recibidos) >= 4)
    cabeceras = [c for c, _ in receptor.recibidos]
    assert all(c["Authorization"] == f"Bearer {SECRETO}" for c in cabeceras)
    [eco, *estados] = receptor.cuerpos()
    assert (eco["messages"][0]["from_me"], eco["messages"][0]["id"]) == (True, resultado.id)
    assert [e["statuses"][0]["status"] for e in estados] == ["sent", "delivered", "read"]
    assert {e["statuses"][0]["recipient_id"] for e in estados} == {f"{TELEFONO}@s.whatsapp.net"}
    assert all(e["event"]["type"] == "statuses" for e in estados)


def test_webhooks__botones_validos_y_su_eco(sandbox, receptor):
    botones = Botones("¿Aprueba?", (Boton("si", "Sí"), Boton("no", "No")))

    backend_de(sandbox).send(salida(botones))

    [mensaje] = sandbox.mensajes
    assert (mensaje.status, mensaje.problema) == (200, "")
    esperar(lambda: receptor.cuerpos())
    assert receptor.cuerpos()[0]["messages"][0]["type"] == "interactive"


def test_entrante__texto_de_un_cliente(sandbox, receptor):
    sandbox.entrante(f"+{TELEFONO}", "Hola")

    esperar(lambda: receptor.cuerpos())
    [mensaje] = receptor.cuerpos()[0]["messages"]
    assert (mensaje["from_me"], mensaje["from"], mensaje["text"]) == (
        False,
        TELEFONO,
        {"body": "Hola"},
    )


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paso", "clase"),
    [("5xx", TransientError), (429, TransientError), (401, AuthError)],
    ids=["5xx", "429", "401"],
)
def test_fallos__el_paso_es_una_respuesta_de_whapi(receptor, paso, clase):
    fallos = Fallos(guion=[paso])
    with WhapiSandbox(receptor.url, SECRETO, delays=RAPIDO, fallos=fallos) as sandbox:
        backend = backend_de(sandbox)
        with pytest.raises(clase):
            backend.send(salida(Texto("Hola")))
        resultado = backend.send(salida(Texto("Otra vez")))

    assert resultado.id == sandbox.mensajes[-1].wamid


def test_fallos__timeout_ambiguo_pero_el_mensaje_sale(receptor):
    fallos = Fallos(guion=["timeout"], espera_timeout=2.0)
    with WhapiSandbox(receptor.url, SECRETO, delays=RAPIDO, fallos=fallos) as sandbox:
        backend = WhapiBackend("bot", TOKEN=TOKEN, BASE_URL=sandbox.base_url, TIMEOUT=0.3)
        with pytest.raises(AmbiguousError):
            backend.send(salida(Texto("Hola")))
        esperar(lambda: len(receptor.recibidos) >= 4)


def test_fallos__fallido_sent_y_luego_failed(receptor):
    with WhapiSandbox(receptor.url, SECRETO, delays=RAPIDO, fallos=Fallos(fallidos=1)) as sandbox:
        backend_de(sandbox).send(salida(Texto("Hola")))
        esperar(lambda: len(receptor.recibidos) >= 3)

    estados = [c["statuses"][0]["status"] for c in receptor.cuerpos() if "statuses" in c]
    assert estados == ["sent", "failed"]


def test_webhooks_retenidos__llegan_al_soltarlos(sandbox, receptor):
    sandbox.retener_webhooks()
    backend_de(sandbox).send(salida(Texto("Hola")))
    time.sleep(0.1)
    assert receptor.recibidos == []

    sandbox.soltar_webhooks()

    esperar(lambda: len(receptor.recibidos) >= 4)


# -- the command ------------------------------------------------------------------------------


def test_comando__proveedor_whapi_construye_el_sandbox_de_whapi(receptor):
    opciones = {
        "proveedor": "whapi", "host": "127.0.0.1", "port": 0, "webhook_url": receptor.url,
        "app_secret": "s3cr3to", "token": None, "demoras": "0,0,0", "latencia": 0.0,
        "fallos_5xx": 0.0, "timeouts": 0.0, "espera_timeout": 30.0, "fallidos": 0.0,
        "error": ["429:0.5"], "rafaga": [], "token_caducado": ["viejo"],
        "retener_webhooks": 0.0,
    }  # fmt: skip

    sandbox = construir_sandbox(opciones)

    try:
        assert isinstance(sandbox, WhapiSandbox)
        assert (sandbox.secreto, sandbox.fallos.errores) == ("s3cr3to", {429: 0.5})
        assert sandbox.tokens_caducados == {"viejo"}
    finally:
        sandbox.stop()


def test_eco__se_puede_apagar(receptor):
    with WhapiSandbox(receptor.url, SECRETO, delays=RAPIDO, eco=False) as sandbox:
        backend_de(sandbox).send(salida(Texto("Hola")))
        esperar(lambda: len(receptor.recibidos) >= 3)

    assert all("statuses" in json.loads(cuerpo) for _, cuerpo in receptor.recibidos)
