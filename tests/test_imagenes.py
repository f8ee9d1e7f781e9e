"""``enviar_imagen``: an image shown inline with its caption, on Meta, Twilio and WHAPI.

The value object refuses what WhatsApp would (not JPEG/PNG, over 5 MB); the envío is
recorded as ``imagen`` and stored like a document; each provider gets its own shape, sent
to its local sandbox (Meta's validated against Meta's OpenAPI description).
"""

from __future__ import annotations

import struct
import zlib
from urllib.parse import parse_qsl

import pytest
from django.utils import timezone

from tests.backends.test_meta import DictMediaCache
from tests.openapi import validate_message
from tests.test_sandbox import NUMERO, TOKEN
from whatsapp_notify import enviar_imagen
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.backends.whapi import WhapiBackend
from whatsapp_notify.backends.whapi.payloads import archivo
from whatsapp_notify.exceptions import MessageError
from whatsapp_notify.messages import MAX_IMAGEN_BYTES, Imagen, Salida
from whatsapp_notify.models import (
    ClaseEnvio,
    Direccion,
    EnvioWhatsApp,
    EstadoEnvio,
    Mensaje,
    MotivoOmision,
)
from whatsapp_notify.sandbox.twilio import ACCOUNT_SID, TwilioSandbox
from whatsapp_notify.testing import enviados

TELEFONO = "525512345678"
CAPTION = "Monto: 500 / Fecha: 2025-01-15"
TWILIO_TOKEN = "token-de-autenticacion"


def png(ancho: int = 2, alto: int = 2) -> bytes:
    """A real PNG (8-bit RGB), as a phone's screenshot of a receipt would be."""

    def trozo(tipo: bytes, datos: bytes) -> bytes:
        crc = zlib.crc32(tipo + datos) & 0xFFFFFFFF
        return struct.pack(">I", len(datos)) + tipo + datos + struct.pack(">I", crc)

    filas = b"".join(b"\x00" + b"\xff\x00\x00" * ancho for _ in range(alto))
    cabecera = struct.pack(">IIBBBBB", ancho, alto, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + trozo(b"IHDR", cabecera)
        + trozo(b"IDAT", zlib.compress(filas))
        + trozo(b"IEND", b"")
    )


PNG = png()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """This test's own MEDIA_ROOT (the images are stored as documents are)."""
    settings.MEDIA_ROOT = tmp_path / "media"


def abrir_ventana(cuenta: str = "default") -> None:
    """The customer wrote a minute ago: free-form messages may go."""
    Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, cuenta=cuenta, telefono=TELEFONO, texto="Hola",
        fecha=timezone.now() - timezone.timedelta(minutes=1),
    )  # fmt: skip


# -- the value --------------------------------------------------------------------------


def test_imagen__png_o_jpeg_por_su_extension():
    assert Imagen(PNG, "recibo.png").mime == "image/png"
    assert Imagen(b"\xff\xd8\xff\xe0jfif", "foto.JPG").mime == "image/jpeg"


@pytest.mark.parametrize(
    ("nombre", "mime"), [("recibo.pdf", ""), ("foto.webp", ""), ("foto.png", "image/gif")]
)
def test_imagen__otro_tipo_se_rechaza_y_dice_que_vaya_como_documento(nombre, mime):
    with pytest.raises(MessageError, match=r"JPEG o PNG.*enviar_documento"):
        Imagen(PNG, nombre, mime)


def test_imagen__mas_de_5_mb_se_rechaza():
    with pytest.raises(MessageError, match=r"5 MB.*enviar_documento"):
        Imagen(b"\x00" * (MAX_IMAGEN_BYTES + 1), "grande.png")


def test_imagen__caption_de_mas_de_1024_se_rechaza():
    with pytest.raises(MessageError, match="caption"):
        Imagen(PNG, "recibo.png", caption="x" * 1025)


# -- recording ----------------------------------------------------------------------------


def test_enviar_imagen__registra_clase_imagen_y_la_envia_con_su_caption(
    db, outbox, django_capture_on_commit_callbacks
):
    abrir_ventana()

    with django_capture_on_commit_callbacks(execute=True):
        envio = enviar_imagen(f"+{TELEFONO}", PNG, nombre_documento="recibo.png", caption=CAPTION)

    envio.refresh_from_db()
    assert (envio.clase, envio.estado, envio.texto) == (ClaseEnvio.IMAGEN, "enviado", CAPTION)
    assert (envio.nombre_documento, envio.documento_mime) == ("recibo.png", "image/png")
    [enviado] = enviados(clase="imagen")
    assert isinstance(enviado.contenido, Imagen)
    assert (enviado.contenido.contenido, enviado.contenido.caption) == (PNG, CAPTION)


def test_enviar_imagen__fuera_de_la_ventana_queda_omitida(db, outbox):
    envio = enviar_imagen(f"+{TELEFONO}", PNG, nombre_documento="recibo.png")

    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.FUERA_DE_VENTANA)
    assert outbox == []


def test_enviar_imagen__un_pdf_se_rechaza_antes_de_registrar_nada(db):
    with pytest.raises(MessageError, match="enviar_documento"):
        enviar_imagen(f"+{TELEFONO}", b"%PDF-1.4", nombre_documento="recibo.pdf")
    assert not EnvioWhatsApp.objects.exists()


# -- providers ----------------------------------------------------------------------------


def test_meta__image_con_el_id_subido_y_caption_valida_contra_openapi():
    backend = MetaBackend("default", PHONE_NUMBER_ID=NUMERO, ACCESS_TOKEN=TOKEN)
    imagen = Imagen(PNG, "recibo.png", caption=CAPTION)
    media = DictMediaCache({imagen.sha256: "4490709327384033"})

    payload = backend.build_payload(Salida(TELEFONO, imagen, referencia="wn-1"), media)

    assert payload["type"] == "image"
    assert payload["image"] == {"id": "4490709327384033", "caption": CAPTION}
    validate_message(payload)


def test_meta__sin_caption_no_lo_manda():
    backend = MetaBackend("default", PHONE_NUMBER_ID=NUMERO, ACCESS_TOKEN=TOKEN)
    imagen = Imagen(PNG, "recibo.png")

    payload = backend.build_payload(Salida(TELEFONO, imagen), DictMediaCache({imagen.sha256: "9"}))

    assert payload["image"] == {"id": "9"}
    validate_message(payload)


@pytest.mark.django_db(transaction=True)
def test_meta__en_el_sandbox_sube_la_imagen_y_la_envia(sandbox_meta):
    abrir_ventana()

    envio = enviar_imagen(f"+{TELEFONO}", PNG, nombre_documento="recibo.png", caption=CAPTION)

    envio.refresh_from_db()
    [mensaje] = sandbox_meta.mensajes
    [media] = sandbox_meta.media.values()
    assert envio.estado == EstadoEnvio.ENVIADO
    assert (mensaje.status, mensaje.problema) == (200, "")
    assert mensaje.cuerpo["image"] == {"id": media.id, "caption": CAPTION}
    assert (media.contenido, media.mime) == (PNG, "image/png")


@pytest.mark.django_db(transaction=True)
def test_twilio__descarga_la_imagen_de_la_app_y_el_caption_va_en_body(wa_settings, live_server):
    webhook = f"{live_server.url}/whatsapp/webhook/citas/"
    with TwilioSandbox(TWILIO_TOKEN, webhook, delays=(0.01, 0.01, 0.01)) as sandbox:
        opciones = {
            "ACCOUNT_SID": ACCOUNT_SID, "AUTH_TOKEN": TWILIO_TOKEN,
            "FROM": "whatsapp:+14155238886", "WEBHOOK_URL": webhook,
            "BASE_URL": sandbox.base_url,
        }  # fmt: skip
        backend = "whatsapp_notify.backends.twilio.TwilioBackend"
        wa_settings(BACKENDS={"citas": {"BACKEND": backend, "OPTIONS": opciones}})
        abrir_ventana("citas")
        sandbox.retener_webhooks()  # the live server shares this thread's SQLite connection

        envio = enviar_imagen(
            f"+{TELEFONO}", PNG, nombre_documento="recibo.png", caption=CAPTION, cuenta="citas"
        )

        sandbox.soltar_webhooks()
        sandbox.esperar_webhooks(3, timeout=10)
        [mensaje] = sandbox.mensajes
        [(url, status, datos)] = sandbox.documentos
    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.LEIDO
    campos = dict(parse_qsl(mensaje.cuerpo.decode()))
    assert (campos["Body"], campos["MediaUrl"]) == (CAPTION, url)
    assert (status, datos) == (200, PNG)
    assert url.startswith(f"{live_server.url}/whatsapp/documento/")
    assert url.endswith("/recibo.png")


def test_whapi__va_a_messages_image_con_caption():
    pedido = archivo(TELEFONO, Imagen(PNG, "recibo.png", caption=CAPTION))

    assert pedido.ruta == "/messages/image"
    assert pedido.cuerpo["caption"] == CAPTION
    assert pedido.cuerpo["media"].startswith("data:image/png;name=recibo.png;base64,")
    assert "filename" not in pedido.cuerpo


def test_whapi__el_backend_construye_la_imagen():
    backend = WhapiBackend("bot", TOKEN="t")

    pedido = backend.build_payload(Salida(TELEFONO, Imagen(PNG, "r.png")), DictMediaCache())

    assert pedido.ruta == "/messages/image"
