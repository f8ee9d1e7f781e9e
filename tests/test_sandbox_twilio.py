"""The Twilio sandbox: TwilioBackend against it over real local HTTP, and its callbacks.

The end-to-end test runs a real delivery: envíos recorded by the public API, sent by the
worker code to the sandbox, which fetches the document from the app's own signed URL and
posts signed status callbacks to the real webhook view (``live_server``), settling each
envío up to «leído».
"""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
import requests
from django.core.exceptions import PermissionDenied

from whatsapp_notify import enviar_documento, enviar_plantilla, enviar_texto
from whatsapp_notify.backends.base import PrecioReportado
from whatsapp_notify.backends.twilio import TwilioBackend
from whatsapp_notify.exceptions import (
    AuthError,
    PermanentError,
    ThroughputLimitError,
    TransientError,
)
from whatsapp_notify.messages import Salida, Texto
from whatsapp_notify.models import Direccion, EnvioWhatsApp, EstadoEnvio, Mensaje
from whatsapp_notify.sandbox import Fallos
from whatsapp_notify.sandbox.twilio import ACCOUNT_SID, TwilioSandbox, firma_twilio

TOKEN = "token-de-autenticacion"
TELEFONO = "573001234567"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
RAPIDO = (0.01, 0.01, 0.01)
CONTENT_SID = "HX" + "a" * 32


@pytest.fixture
def sandbox():
    with TwilioSandbox(TOKEN, delays=RAPIDO, espera_reintento=0.01) as instancia:
        yield instancia


def backend_de(sandbox: TwilioSandbox, **opciones) -> TwilioBackend:
    return TwilioBackend(
        "citas",
        ACCOUNT_SID=ACCOUNT_SID,
        AUTH_TOKEN=opciones.pop("AUTH_TOKEN", TOKEN),
        FROM="whatsapp:+14155238886",
        BASE_URL=sandbox.base_url,
        **opciones,
    )


# -- the real pipeline, to «leído» -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pipeline__plantilla_documento_y_texto_llegan_a_leido(wa_settings, live_server):
    webhook = f"{live_server.url}/whatsapp/webhook/citas/"
    with TwilioSandbox(TOKEN, webhook, delays=RAPIDO, espera_reintento=0.01) as sandbox:
        opciones = {
            "ACCOUNT_SID": ACCOUNT_SID,
            "AUTH_TOKEN": TOKEN,
            "FROM": "whatsapp:+14155238886",
            "WEBHOOK_URL": webhook,
            "BASE_URL": sandbox.base_url,
            "CONTENT_SIDS": {"recordatorio_cita": CONTENT_SID},
            "RATE_LIMIT": "50/s",
        }
        backend = "whatsapp_notify.backends.twilio.TwilioBackend"
        wa_settings(BACKENDS={"citas": {"BACKEND": backend, "OPTIONS": opciones}})
        # The customer writes first: free text goes only inside the 24-hour window.
        sandbox.entrante(f"+{TELEFONO}", "Hola, ¿a qué hora es mi cita?")
        # Waited on the sandbox, not the database, which the live server is using now.
        (recibido,) = sandbox.esperar_webhooks(1)
        assert recibido.respuesta == 200
        # Callbacks wait until every send is recorded: on SQLite's in-memory database the
        # live server shares this thread's connection, which takes one user at a time.
        sandbox.retener_webhooks()

        envios = [
            enviar_plantilla(
                f"+{TELEFONO}", "recordatorio_cita", variables=["Ana", "10:30"], cuenta="citas"
            ),
            enviar_documento(f"+{TELEFONO}", PDF, nombre_documento="factura.pdf", cuenta="citas"),
            enviar_texto(f"+{TELEFONO}", "Gracias por su visita", cuenta="citas"),
        ]

        sandbox.soltar_webhooks()
        sandbox.esperar_webhooks(1 + 3 * len(envios), timeout=10)

    estados = EnvioWhatsApp.objects.filter(pk__in=[e.pk for e in envios]).order_by("pk")
    assert [e.estado for e in estados] == [EstadoEnvio.LEIDO] * len(envios)
    # Priced from the Message resource once delivered: the callbacks carry no price.
    assert [(e.costo, e.moneda) for e in estados] == [(Decimal("0.0085"), "USD")] * len(envios)
    assert [mensaje.status for mensaje in sandbox.mensajes] == [201, 201, 201]
    # Twilio fetched the document from the app's signed URL and got the PDF.
    ((url, status, datos),) = sandbox.documentos
    assert (status, datos) == (200, PDF)
    assert url.startswith(f"{live_server.url}/whatsapp/documento/")
    assert all(webhook.respuesta == 200 for webhook in sandbox.webhooks)
    assert Mensaje.objects.filter(direccion=Direccion.ENTRANTE, cuenta="citas").count() == 1


# -- answers and refusals ---------------------------------------------------------------------


def test_envio__respuesta_201_como_twilio(sandbox):
    resultado = backend_de(sandbox).send(Salida(TELEFONO, Texto("Hola")))

    (mensaje,) = sandbox.mensajes
    assert resultado.id.startswith("SM")
    assert len(resultado.id) == 34
    assert mensaje.status == 201
    assert mensaje.respuesta["status"] == "queued"
    assert mensaje.respuesta["to"] == f"whatsapp:+{TELEFONO}"


def test_precio__el_recurso_del_mensaje_lo_trae_y_el_callback_no(sandbox):
    backend = backend_de(sandbox)
    sid = backend.send(Salida(TELEFONO, Texto("Hola"))).id

    assert backend.fetch_price(sid) == PrecioReportado(monto="-0.0085", moneda="USD")
    (mensaje,) = sandbox.mensajes
    assert mensaje.respuesta["price"] is None  # Twilio prices it later, not at the 201


def test_precio__aun_sin_precio_es_none_y_un_sid_ajeno_es_20404():
    with TwilioSandbox(TOKEN, delays=RAPIDO, precio=None) as sandbox:
        backend = backend_de(sandbox)
        sid = backend.send(Salida(TELEFONO, Texto("Hola"))).id

        assert backend.fetch_price(sid) is None
        with pytest.raises(PermanentError) as error:
            backend.fetch_price("SM" + "0" * 32)

    assert error.value.code == 20404


def test_credenciales__auth_token_equivocado_es_20003(sandbox):
    with pytest.raises(AuthError) as error:
        backend_de(sandbox, AUTH_TOKEN="otro").send(Salida(TELEFONO, Texto("Hola")))

    assert error.value.code == 20003
    assert backend_de(sandbox).verify_credentials()


@pytest.mark.parametrize(
    ("campos", "codigo"),
    [
        pytest.param({"To": "+573001234567", "Body": "x"}, 21211, id="to-sin-whatsapp"),
        pytest.param({"To": "whatsapp:+573001234567"}, 21602, id="sin-cuerpo"),
        pytest.param(
            {"To": "whatsapp:+573001234567", "ContentSid": CONTENT_SID, "ContentVariables": "[1]"},
            21656,
            id="variables-que-no-son-objeto",
        ),
        pytest.param(
            {"To": "whatsapp:+573001234567", "ContentSid": "HX1", "ContentVariables": "{}"},
            21656,
            id="content-sid-mal-formado",
        ),
        pytest.param({"To": "whatsapp:+573001234567", "Body": "x" * 1601}, 21617, id="largo"),
    ],
)
def test_forma__lo_que_twilio_rechaza_recibe_su_error(sandbox, campos, codigo):
    credenciales = base64.b64encode(f"{ACCOUNT_SID}:{TOKEN}".encode()).decode()
    respuesta = requests.post(
        f"{sandbox.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"From": "whatsapp:+14155238886", **campos},
        headers={"Authorization": f"Basic {credenciales}"},
        timeout=5,
    )

    assert respuesta.status_code == 400
    assert respuesta.json()["code"] == codigo
    assert sandbox.mensajes[0].problema


@pytest.mark.parametrize(
    ("paso", "clase", "codigo"),
    [
        pytest.param("5xx", TransientError, 20500, id="5xx"),
        pytest.param(63018, ThroughputLimitError, 63018, id="limite-del-remitente"),
        pytest.param(21211, PermanentError, 21211, id="destinatario-invalido"),
    ],
)
def test_fallos__el_backend_clasifica_lo_inyectado(paso, clase, codigo):
    fallos = Fallos()
    fallos.rafaga(paso, 1)
    with (
        TwilioSandbox(TOKEN, delays=RAPIDO, fallos=fallos) as sandbox,
        pytest.raises(clase) as error,
    ):
        backend_de(sandbox).send(Salida(TELEFONO, Texto("Hola")))

    assert type(error.value) is clase
    assert error.value.code == codigo


def test_firma__la_del_sandbox_la_acepta_el_backend_y_otra_url_no(sandbox):
    # Two implementations written apart (the sandbox's and the backend's) must agree.
    from whatsapp_notify.backends.base import WebhookRequest

    url = "https://erp.example.com/whatsapp/webhook/citas/?ref=wn%3A7%3Aabc"
    cuerpo = b"MessageSid=SM1&MessageStatus=read&To=whatsapp%3A%2B573001234567&Body="
    parametros = [
        ("MessageSid", "SM1"),
        ("MessageStatus", "read"),
        ("To", "whatsapp:+573001234567"),
        ("Body", ""),
    ]
    firma = firma_twilio(TOKEN, url, parametros)
    backend = backend_de(sandbox)

    backend.verify_request(WebhookRequest(cuerpo, {"X-Twilio-Signature": firma}, url))
    otra = WebhookRequest(cuerpo, {"X-Twilio-Signature": firma}, url.replace("citas", "otra"))
    with pytest.raises(PermissionDenied):
        backend.verify_request(otra)


# -- the command ------------------------------------------------------------------------------


def test_comando__proveedor_twilio_construye_el_sandbox_de_twilio():
    from whatsapp_notify.management.commands.whatsapp_sandbox import construir_sandbox

    opciones = {
        "proveedor": "twilio", "host": "127.0.0.1", "port": 0, "webhook_url": None,
        "app_secret": "token-propio", "token": None, "demoras": "0,0,0", "latencia": 0.0,
        "fallos_5xx": 0.0, "timeouts": 0.0, "espera_timeout": 30.0, "fallidos": 0.0,
        "error": ["63018:0.5"], "rafaga": [], "token_caducado": ["viejo"],
        "retener_webhooks": 0.0,
    }  # fmt: skip

    sandbox = construir_sandbox(opciones)

    try:
        assert isinstance(sandbox, TwilioSandbox)
        assert (sandbox.auth_token, sandbox.fallos.errores) == ("token-propio", {63018: 0.5})
        assert sandbox.tokens_caducados == {"viejo"}
    finally:
        sandbox.stop()


@pytest.mark.parametrize(
    ("como", "tipo", "respuesta_id", "texto"),
    [
        ({"payload": ("cita:confirmar:7", "Confirmar")}, "button", "cita:confirmar:7", "Confirmar"),
        ({"fila": ("hora:9", "9:00")}, "interactive", "hora:9", "9:00"),
    ],
)
def test_entrante__el_cliente_toca_un_boton_o_una_fila(como, tipo, respuesta_id, texto):
    from tests.test_sandbox import Receptor, esperar
    from whatsapp_notify.backends.base import WebhookRequest
    from whatsapp_notify.backends.twilio import webhooks

    with Receptor() as receptor, TwilioSandbox(TOKEN, receptor.url) as sandbox:
        sid = sandbox.entrante(f"+{TELEFONO}", responde_a="SM" + "1" * 32, **como)
        esperar(lambda: receptor.recibidos)
        cabeceras, crudo = receptor.recibidos[0]

    peticion = WebhookRequest(body=crudo, headers=cabeceras, url=receptor.url)
    webhooks.verificar(peticion, TOKEN)  # signed as Twilio signs
    [evento] = webhooks.parse(peticion)
    assert (evento.wamid, evento.tipo, evento.respuesta_id, evento.texto) == (
        sid, tipo, respuesta_id, texto,
    )  # fmt: skip
    assert evento.contexto_wamid == "SM" + "1" * 32


def test_entrante__un_par_malo_lo_dice():
    with (
        TwilioSandbox(TOKEN, "http://127.0.0.1:9/") as sandbox,
        pytest.raises(ValueError, match="par"),
    ):
        sandbox.entrante(TELEFONO, payload="confirmar")
