"""TwilioBackend's own behaviour, on real-shaped callbacks under ``tests/payloads/twilio``.

The shared contract is in ``test_twilio_contract.py`` and the sandbox round trip in
``tests/test_sandbox_twilio.py``; this file reads each recorded callback and error body,
checks the signature over the public URL, and the routing between two Twilio accounts.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from whatsapp_notify.backends.base import UnsupportedContent, WebhookRequest
from whatsapp_notify.backends.twilio import TwilioBackend
from whatsapp_notify.backends.twilio.payloads import variables_de_contenido
from whatsapp_notify.events import (
    BAJA,
    DELIVERED,
    FAILED,
    READ,
    SENT,
    EventoEstado,
    EventoMensaje,
)
from whatsapp_notify.exceptions import (
    AuthError,
    PermanentError,
    TransientError,
    WebhookRechazado,
)
from whatsapp_notify.models import EventoWebhook, Mensaje
from whatsapp_notify.sandbox.twilio import firma_twilio

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "twilio"
SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "token-de-autenticacion"
URL = "https://erp.example.mx/whatsapp/webhook/citas/"


def twilio(alias="citas", **opciones) -> TwilioBackend:
    base = {"ACCOUNT_SID": SID, "AUTH_TOKEN": TOKEN, "FROM": "whatsapp:+14155238886"}
    return TwilioBackend(alias, **{**base, "WEBHOOK_URL": URL, **opciones})


def campos(nombre: str) -> list[tuple[str, str]]:
    return parse_qsl((PAYLOADS / nombre).read_text().strip(), keep_blank_values=True)


def peticion(
    nombre: str, *, token: str = TOKEN, url: str = URL, firmada_para: str = ""
) -> WebhookRequest:
    form = campos(nombre)
    firma = firma_twilio(token, firmada_para or url, form)
    return WebhookRequest(
        body=urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": firma,
        },
        url=url,
    )


def evento(nombre: str):
    [leido] = twilio().parse_webhook(peticion(nombre))
    return leido


# -- statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "estado"),
    [
        ("estado_sent.txt", SENT),
        ("estado_delivered.txt", DELIVERED),
        ("estado_read.txt", READ),
        ("estado_undelivered_63003.txt", FAILED),
        ("estado_failed_63016.txt", FAILED),
    ],
    ids=lambda valor: str(valor),
)
def test_parse__estados_de_twilio_a_los_nuestros(fixture, estado):
    leido = evento(fixture)

    assert isinstance(leido, EventoEstado)
    assert leido.estado == estado
    assert leido.wamid.startswith("SM")
    assert leido.destinatario == "5215512345678"
    assert bool(leido.errores) == (estado == FAILED)


@pytest.mark.parametrize("fixture", ["estado_queued.txt", "estado_sending.txt"])
def test_parse__queued_y_sending_pasan_con_su_nombre_sin_ser_un_estado_nuestro(fixture):
    # Our envío is already "aceptado" when Twilio answers 201: these move nothing forward.
    leido = evento(fixture)

    assert leido.estado == fixture.removeprefix("estado_").removesuffix(".txt")
    assert leido.estado not in {SENT, DELIVERED, READ, FAILED}


@pytest.mark.parametrize(
    ("fixture", "codigo", "significado"),
    [
        ("estado_failed_63016.txt", 63016, ""),
        ("estado_undelivered_63003.txt", 63003, ""),
        ("estado_undelivered_63014.txt", 63014, BAJA),
    ],
)
def test_parse__el_error_del_estado_se_lee_y_clasifica(fixture, codigo, significado):
    [error] = evento(fixture).errores

    assert error.code == codigo
    assert error.legible.startswith(f"(#{codigo}) ")
    assert error.significado == significado
    assert isinstance(twilio().classify(codigo), PermanentError)


# -- inbound messages ----------------------------------------------------------------------


def test_parse__texto_entrante_con_nombre_y_wa_id():
    leido = evento("entrante_texto.txt")

    assert isinstance(leido, EventoMensaje)
    assert (leido.de, leido.tipo, leido.nombre) == ("5215512345678", "text", "Ana Pérez")
    assert leido.texto == "Hola, ¿ya está mi coche?"
    assert leido.numero_id == "14155238886"


def test_parse__boton_entrante_con_su_payload():
    leido = evento("entrante_boton.txt")

    assert leido.tipo in {"button", "interactive"}
    assert leido.respuesta_id
    assert leido.texto


def test_parse__media_entrante_con_su_url_como_id():
    leido = evento("entrante_media.txt")

    assert leido.media is not None
    assert leido.media.id.startswith("Messages/")
    assert leido.media.mime


# -- signatures ----------------------------------------------------------------------------


def test_firma__la_de_twilio_sobre_la_url_publica_se_acepta():
    twilio().verify_request(peticion("estado_read.txt"))


@pytest.mark.parametrize(
    "cambio",
    ["otro-token", "otra-url", "campo-cambiado", "sin-firma"],
)
def test_firma__cualquier_cambio_se_rechaza(cambio):
    if cambio == "otro-token":
        request = peticion("estado_read.txt", token="token-ajeno")
    elif cambio == "otra-url":
        request = peticion("estado_read.txt", firmada_para=URL.replace("citas", "otra"))
    else:
        original = peticion("estado_read.txt")
        form = campos("estado_read.txt")
        cabeceras = dict(original.headers)
        if cambio == "campo-cambiado":
            form = [(k, "failed" if k == "MessageStatus" else v) for k, v in form]
        else:
            del cabeceras["X-Twilio-Signature"]
        request = WebhookRequest(body=urlencode(form).encode(), headers=cabeceras, url=URL)

    with pytest.raises(WebhookRechazado):
        twilio().verify_request(request)


# -- error bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "clase"),
    [
        ("error_20003.json", AuthError),
        ("error_21211.json", PermanentError),
        ("error_63018.json", TransientError),
    ],
)
def test_classify__cuerpos_de_error_reales(fixture, clase):
    cuerpo = json.loads((PAYLOADS / fixture).read_text())

    error = twilio().classify(
        cuerpo["code"], http_status=cuerpo["status"], message=cuerpo["message"]
    )

    assert isinstance(error, clase)
    assert error.legible.strip()


# -- sends ---------------------------------------------------------------------------------


def test_variables__el_documento_va_en_su_variable_con_nombre():
    assert variables_de_contenido({"nombre": "Ana"}, "/wa/doc/abc/") == {
        "nombre": "Ana",
        "documento": "/wa/doc/abc/",
    }


def test_variables__una_variable_documento_no_se_pisa_con_la_url():
    # Replacing the host's value with the URL would send something it never wrote.
    with pytest.raises(UnsupportedContent, match="documento"):
        variables_de_contenido({"documento": "COT-17"}, "/wa/doc/abc/")


# -- two Twilio accounts ---------------------------------------------------------------------


@pytest.fixture
def dos_twilio(wa_settings):
    clase = "whatsapp_notify.backends.twilio.TwilioBackend"
    comun = {"ACCOUNT_SID": SID, "WEBHOOK_URL": "http://testserver/whatsapp/webhook/"}
    wa_settings(
        BACKENDS={
            "default": {
                "BACKEND": clase,
                "OPTIONS": {**comun, "AUTH_TOKEN": TOKEN, "FROM": "whatsapp:+14155238886"},
            },
            "sucursal": {
                "BACKEND": clase,
                "OPTIONS": {**comun, "AUTH_TOKEN": "otro-token", "FROM": "whatsapp:+15005550006"},
            },
        }
    )


@pytest.mark.django_db
def test_cuentas__un_cuerpo_firmado_por_una_cuenta_no_habla_por_otra(client, dos_twilio):
    # Signed with default's token, but naming sucursal's number: it stays default's, for
    # default's secret proves nothing about sucursal.
    form = [
        (k, "whatsapp:+15005550006" if k == "To" else v) for k, v in campos("entrante_texto.txt")
    ]
    url = "http://testserver/whatsapp/webhook/"

    respuesta = client.post(
        "/whatsapp/webhook/",
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=firma_twilio(TOKEN, url, form),
    )

    assert respuesta.status_code == 200
    assert EventoWebhook.objects.get().cuenta == "default"
    assert Mensaje.objects.get().cuenta == "default"
