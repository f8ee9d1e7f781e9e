"""``enviar_ubicacion``: a map pin with its name and address, on Meta and WHAPI; Twilio
refuses it at the call (only a ``twilio/location`` content template can carry one)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.backends.test_meta import DictMediaCache
from tests.openapi import validate_message
from tests.test_sandbox import NUMERO, TOKEN
from whatsapp_notify import enviar_ubicacion
from whatsapp_notify.backends.base import UnsupportedContent
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.backends.whapi import WhapiBackend
from whatsapp_notify.exceptions import MessageError, TipoInvalido
from whatsapp_notify.messages import Salida, Ubicacion
from whatsapp_notify.models import ClaseEnvio, Direccion, EnvioWhatsApp, EstadoEnvio, Mensaje
from whatsapp_notify.sandbox.whapi import WhapiSandbox
from whatsapp_notify.testing import enviados

TELEFONO = "525512345678"
TALLER = {"nombre_lugar": "Taller Centro", "direccion": "Av. Juárez 12, Col. Centro, CDMX"}


def abrir_ventana(cuenta: str = "default") -> None:
    Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, cuenta=cuenta, telefono=TELEFONO, texto="¿Dónde están?",
        fecha=timezone.now(),
    )  # fmt: skip


# -- the value --------------------------------------------------------------------------


def test_ubicacion__acepta_float_int_y_decimal_del_erp():
    assert Ubicacion(Decimal("19.432608"), -99, "Taller").latitud == pytest.approx(19.432608)
    assert Ubicacion(19.4, -99.1).longitud == -99.1


@pytest.mark.parametrize(
    ("latitud", "longitud"),
    [(91, 0), (-90.0001, 0), (0, 180.5), (math.nan, 0), (0, math.inf)],
)
def test_ubicacion__fuera_de_rango_se_rechaza(latitud, longitud):
    with pytest.raises(MessageError, match="grados"):
        Ubicacion(latitud, longitud)


@pytest.mark.parametrize("valor", ["19.4", True, None])
def test_ubicacion__lo_que_no_es_un_numero_se_rechaza(valor):
    with pytest.raises((TipoInvalido, MessageError), match="latitud"):
        Ubicacion(valor, 0)


def test_ubicacion__textos_de_una_linea_y_hasta_1000():
    with pytest.raises(MessageError, match="direccion"):
        Ubicacion(0, 0, direccion="a\nb")
    with pytest.raises(MessageError, match="nombre"):
        Ubicacion(0, 0, nombre="x" * 1001)


# -- recording and the worker -------------------------------------------------------------


def test_enviar_ubicacion__se_registra_y_sale_con_sus_datos(
    db, outbox, django_capture_on_commit_callbacks
):
    abrir_ventana()

    with django_capture_on_commit_callbacks(execute=True):
        envio = enviar_ubicacion(f"+{TELEFONO}", 19.432608, -99.133209, **TALLER)

    envio.refresh_from_db()
    assert (envio.clase, envio.estado, envio.texto) == (
        ClaseEnvio.UBICACION,
        "enviado",
        "Taller Centro",
    )
    [enviado] = enviados(clase="ubicacion")
    assert enviado.contenido == Ubicacion(19.432608, -99.133209, *TALLER.values())


def test_enviar_ubicacion__fuera_de_la_ventana_queda_omitida(db, outbox):
    envio = enviar_ubicacion(f"+{TELEFONO}", 19.4, -99.1)

    assert envio.estado == EstadoEnvio.OMITIDO
    assert outbox == []


def test_enviar_ubicacion__twilio_la_rechaza_al_llamar_y_no_registra(db, wa_settings):
    opciones = {"ACCOUNT_SID": "AC" + "0" * 32, "AUTH_TOKEN": "x", "FROM": "whatsapp:+14155238886"}
    backend = "whatsapp_notify.backends.twilio.TwilioBackend"
    wa_settings(BACKENDS={"citas": {"BACKEND": backend, "OPTIONS": opciones}})

    with pytest.raises(UnsupportedContent, match="twilio/location"):
        enviar_ubicacion(f"+{TELEFONO}", 19.4, -99.1, cuenta="citas")
    assert not EnvioWhatsApp.objects.exists()


# -- providers ----------------------------------------------------------------------------


def test_meta__location_con_grados_como_texto_valida_contra_openapi():
    backend = MetaBackend("default", PHONE_NUMBER_ID=NUMERO, ACCESS_TOKEN=TOKEN)
    lugar = Ubicacion(19.432608, -99.133209, "Taller Centro", "Av. Juárez 12")

    payload = backend.build_payload(Salida(TELEFONO, lugar), DictMediaCache())

    assert payload["location"] == {
        "latitude": "19.432608", "longitude": "-99.133209",
        "name": "Taller Centro", "address": "Av. Juárez 12",
    }  # fmt: skip
    validate_message(payload)


def test_meta__sin_nombre_ni_direccion_solo_el_punto():
    backend = MetaBackend("default", PHONE_NUMBER_ID=NUMERO, ACCESS_TOKEN=TOKEN)

    payload = backend.build_payload(Salida(TELEFONO, Ubicacion(0, 0)), DictMediaCache())

    assert payload["location"] == {"latitude": "0.0", "longitude": "0.0"}
    validate_message(payload)


@pytest.mark.django_db(transaction=True)
def test_meta__en_el_sandbox_sale_la_ubicacion(sandbox_meta):
    abrir_ventana()

    envio = enviar_ubicacion(f"+{TELEFONO}", 19.432608, -99.133209, **TALLER)

    [mensaje] = sandbox_meta.mensajes
    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.ENVIADO
    assert (mensaje.status, mensaje.problema) == (200, "")
    assert mensaje.cuerpo["location"]["name"] == "Taller Centro"


@pytest.mark.django_db(transaction=True)
def test_whapi__en_el_sandbox_va_a_messages_location(wa_settings):
    backend = "whatsapp_notify.backends.whapi.WhapiBackend"
    with WhapiSandbox(None, "secreto", token="t") as sandbox:
        opciones = {"TOKEN": "t", "BASE_URL": sandbox.base_url}
        wa_settings(BACKENDS={"bot": {"BACKEND": backend, "OPTIONS": opciones}})

        envio = enviar_ubicacion(f"+{TELEFONO}", 19.432608, -99.133209, cuenta="bot", **TALLER)

        [mensaje] = sandbox.mensajes
    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.ENVIADO
    assert mensaje.ruta == "/messages/location"
    assert mensaje.valido
    assert mensaje.cuerpo == {
        "to": TELEFONO, "latitude": 19.432608, "longitude": -99.133209,
        "name": "Taller Centro", "address": TALLER["direccion"],
    }  # fmt: skip


def test_whapi__el_backend_construye_la_ubicacion():
    pedido = WhapiBackend("bot", TOKEN="t").build_payload(
        Salida(TELEFONO, Ubicacion(1.5, 2.5)), DictMediaCache()
    )

    assert (pedido.ruta, pedido.cuerpo) == (
        "/messages/location",
        {"to": TELEFONO, "latitude": 1.5, "longitude": 2.5},
    )
