"""``enviar_reaccion``: an emoji on the customer's message, on Meta; a handler may return one.

Twilio and WHAPI refuse it at the call, recording nothing.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.backends.test_meta import DictMediaCache
from tests.openapi import validate_message
from tests.test_sandbox import NUMERO, TOKEN
from whatsapp_notify import enviar_reaccion, respuesta
from whatsapp_notify.backends.base import UnsupportedContent
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.exceptions import MessageError, TipoInvalido
from whatsapp_notify.messages import Reaccion, Salida
from whatsapp_notify.models import ClaseEnvio, Direccion, EnvioWhatsApp, EstadoEnvio, Mensaje
from whatsapp_notify.testing import enviados, recibir

TELEFONO = "525512345678"
TWILIO = {"ACCOUNT_SID": "AC" + "0" * 32, "AUTH_TOKEN": "x", "FROM": "whatsapp:+14155238886"}


def entrante(wamid: str = "wamid.CLIENTE1") -> Mensaje:
    return Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, cuenta="default", telefono=TELEFONO, wamid=wamid,
        texto="Ya pagué", fecha=timezone.now(),
    )  # fmt: skip


@pytest.mark.parametrize("emoji", ["👍", "❤️", "👍🏽", "🇲🇽", "👨‍👩‍👧", "1️⃣", "©️", ""])
def test_reaccion__un_emoji_o_nada(emoji):
    assert Reaccion(emoji).emoji == emoji


@pytest.mark.parametrize(
    ("emoji", "error"),
    [
        ("ok", MessageError),
        ("👍 bien", MessageError),
        ("👍" * 17, MessageError),
        (1, TipoInvalido),
        ("👍👍", MessageError),
        ("👍❤️😂", MessageError),
        ("!", MessageError),
        ("¿", MessageError),
        ("\u200d", MessageError),
        ("\ufe0f", MessageError),
        ("\u202e", MessageError),
        ("\U000e0041", MessageError),
    ],
)
def test_reaccion__texto_o_varios_se_rechazan(emoji, error):
    with pytest.raises(error, match="emoji"):
        Reaccion(emoji)


def test_enviar_reaccion__se_registra_y_sale_sobre_el_mensaje(
    db, outbox, django_capture_on_commit_callbacks
):
    mensaje = entrante()

    with django_capture_on_commit_callbacks(execute=True):
        envio = enviar_reaccion(f"+{TELEFONO}", "👍", responde_a=mensaje)

    envio.refresh_from_db()
    assert (envio.clase, envio.estado, envio.texto, envio.responde_a) == (
        ClaseEnvio.REACCION, EstadoEnvio.ENVIADO, "👍", "wamid.CLIENTE1",
    )  # fmt: skip
    [enviado] = enviados(clase="reaccion")
    assert enviado.contenido == Reaccion("👍")


def test_enviar_reaccion__sin_mensaje_o_fuera_de_la_ventana(db, outbox):
    with pytest.raises(MessageError, match="responde_a"):
        enviar_reaccion(f"+{TELEFONO}", "👍", responde_a="")

    Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono=TELEFONO, wamid="wamid.VIEJO",
        fecha=timezone.now() - timezone.timedelta(days=2),
    )  # fmt: skip
    envio = enviar_reaccion(f"+{TELEFONO}", "👍", responde_a="wamid.VIEJO")
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, "fuera_de_ventana")


@pytest.mark.parametrize(
    ("backend", "opciones", "dice"),
    [
        ("whatsapp_notify.backends.twilio.TwilioBackend", TWILIO, "reacciones"),
        ("whatsapp_notify.backends.whapi.WhapiBackend", {"TOKEN": "t"}, "PUT /messages"),
    ],
)
def test_twilio_y_whapi__la_rechazan_al_llamar(db, wa_settings, backend, opciones, dice):
    wa_settings(BACKENDS={"otra": {"BACKEND": backend, "OPTIONS": opciones}})

    with pytest.raises(UnsupportedContent, match=dice):
        enviar_reaccion(f"+{TELEFONO}", "👍", responde_a="wamid.X", cuenta="otra")
    assert not EnvioWhatsApp.objects.exists()


def test_meta__reaction_sin_context_valida_contra_openapi():
    backend = MetaBackend("default", PHONE_NUMBER_ID=NUMERO, ACCESS_TOKEN=TOKEN)

    payload = backend.build_payload(
        Salida(TELEFONO, Reaccion("👍"), responde_a="wamid.CLIENTE1"), DictMediaCache()
    )

    assert payload["reaction"] == {"message_id": "wamid.CLIENTE1", "emoji": "👍"}
    assert "context" not in payload
    validate_message(payload)


@pytest.mark.django_db(transaction=True)
def test_meta__en_el_sandbox_sale_la_reaccion(sandbox_meta):
    mensaje = entrante()

    envio = enviar_reaccion(f"+{TELEFONO}", "✅", responde_a=mensaje)

    [peticion] = sandbox_meta.mensajes
    envio.refresh_from_db()
    assert (envio.estado, peticion.status, peticion.problema) == (EstadoEnvio.ENVIADO, 200, "")
    assert peticion.cuerpo["reaction"] == {"message_id": "wamid.CLIENTE1", "emoji": "✅"}


def test_un_manejador_reacciona_al_mensaje(db, outbox, django_capture_on_commit_callbacks):
    respuesta(lambda m, c: [Reaccion("👍"), "Recibimos tu comprobante."], tipo="text")

    with django_capture_on_commit_callbacks(execute=True):
        mensaje = recibir(f"+{TELEFONO}", "Ya pagué")

    reaccion = EnvioWhatsApp.objects.get(clase=ClaseEnvio.REACCION)
    assert (reaccion.responde_a, reaccion.estado) == (mensaje.wamid, EstadoEnvio.ENVIADO)
    assert [m.contenido for m in outbox][1].cuerpo == "Recibimos tu comprobante."
