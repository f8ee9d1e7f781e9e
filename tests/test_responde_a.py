"""``responde_a``: a reply shown with the customer's message quoted above it.

Every send function takes it; the envío keeps the wamid; Meta gets ``context`` (validated
against its OpenAPI description and taken by its sandbox), WHAPI ``quoted`` (its sandbox
checks the shape), Twilio, which has no quoting, the message alone.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.backends.test_meta import DictMediaCache
from tests.openapi import validate_message
from tests.test_sandbox import NUMERO, TOKEN
from whatsapp_notify import enviar_botones, enviar_plantilla, enviar_texto
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.backends.twilio import TwilioBackend
from whatsapp_notify.backends.whapi import WhapiBackend
from whatsapp_notify.exceptions import MessageError, TipoInvalido
from whatsapp_notify.messages import Boton, Botones, Salida, Texto
from whatsapp_notify.models import Direccion, EnvioWhatsApp, EstadoEnvio, Mensaje
from whatsapp_notify.sandbox.whapi_esquema import problema as problema_whapi

TELEFONO = "525512345678"
WAMID = "wamid.HBgMNTI1NTEyMzQ1Njc4FQIAEhggQUJDMTIz"


def entrante(**campos) -> Mensaje:
    datos = {"direccion": Direccion.ENTRANTE, "cuenta": "default", "telefono": TELEFONO}
    return Mensaje.objects.create(
        **{**datos, "wamid": WAMID, "texto": "¿Tienen horario el sábado?", **campos},
        fecha=timezone.now(),
    )


def test_enviar__guarda_el_wamid_del_mensaje_o_el_dado(db):
    mensaje = entrante()

    texto = enviar_texto(f"+{TELEFONO}", "Sí, de 9 a 13", responde_a=mensaje)
    botones = enviar_botones(f"+{TELEFONO}", "¿Reservo?", botones=["Sí", "No"], responde_a=WAMID)
    plantilla = enviar_plantilla(f"+{TELEFONO}", "vehiculo_listo_cliente", variables=["Ana"])

    assert (texto.responde_a, botones.responde_a, plantilla.responde_a) == (WAMID, WAMID, "")
    assert texto.estado == EstadoEnvio.PENDIENTE  # the customer's message opened the window


@pytest.mark.parametrize(
    ("valor", "error"),
    [
        (lambda: entrante(direccion=Direccion.SALIENTE), MessageError),
        (lambda: entrante(wamid=None), MessageError),
        (lambda: "  ", MessageError),
        (lambda: "w" * 129, MessageError),
        (lambda: "wamid.ABC~0123abcd", MessageError),  # stored shortened: not Meta's id
        (lambda: "wamid.\x00ABC", MessageError),
        (lambda: 42, TipoInvalido),
    ],
    ids=["saliente", "sin-wamid", "vacio", "largo", "recortado", "nul", "numero"],
)
def test_enviar__un_responde_a_que_no_se_puede_citar_se_rechaza_sin_registrar(db, valor, error):
    with pytest.raises(error, match="responde_a"):
        enviar_texto(f"+{TELEFONO}", "Hola", responde_a=valor())
    assert not EnvioWhatsApp.objects.exists()


def salida(contenido, responde_a: str = WAMID) -> Salida:
    return Salida(TELEFONO, contenido, referencia="wn-1", responde_a=responde_a)


@pytest.mark.parametrize(
    "contenido", [Texto("Sí, de 9 a 13"), Botones("¿Reservo?", (Boton("si", "Sí"),))]
)
def test_meta__context_con_el_wamid_valida_contra_openapi(contenido):
    backend = MetaBackend("default", PHONE_NUMBER_ID=NUMERO, ACCESS_TOKEN=TOKEN)

    payload = backend.build_payload(salida(contenido), DictMediaCache())

    assert payload["context"] == {"message_id": WAMID}
    validate_message(payload)


def test_meta__sin_responde_a_no_hay_context():
    backend = MetaBackend("default", PHONE_NUMBER_ID=NUMERO, ACCESS_TOKEN=TOKEN)

    payload = backend.build_payload(salida(Texto("Hola"), responde_a=""), DictMediaCache())

    assert "context" not in payload


@pytest.mark.django_db(transaction=True)
def test_meta__en_el_sandbox_la_respuesta_sale_citada(sandbox_meta):
    mensaje = entrante()

    envio = enviar_texto(f"+{TELEFONO}", "Sí, de 9 a 13", responde_a=mensaje)

    [enviado] = sandbox_meta.mensajes
    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.ENVIADO
    assert (enviado.status, enviado.problema) == (200, "")
    assert enviado.cuerpo["context"] == {"message_id": WAMID}


def test_whapi__quoted_en_el_cuerpo_con_la_forma_de_whapi():
    backend = WhapiBackend("bot", TOKEN="t")

    pedido = backend.build_payload(salida(Texto("Sí, de 9 a 13")), DictMediaCache())

    assert pedido.cuerpo["quoted"] == WAMID
    assert problema_whapi("text", pedido.cuerpo) == ""


def test_twilio__sin_cita_el_mensaje_sale_solo():
    backend = TwilioBackend(
        "citas", ACCOUNT_SID="AC" + "0" * 32, AUTH_TOKEN="x", FROM="whatsapp:+14155238886"
    )

    formulario = backend.build_payload(salida(Texto("Sí, de 9 a 13")), DictMediaCache())

    assert dict(formulario)["Body"] == "Sí, de 9 a 13"
    assert WAMID not in str(formulario)
