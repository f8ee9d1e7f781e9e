"""Template headers: a text header's parameter, an image or a video, besides the document.

Meta gets a ``header`` component (validated against its OpenAPI description, in the
sandbox); WHAPI renders the text header as a bold first line and sends image and video
headers to their own endpoints; Twilio refuses a separate text header at the call.
"""

from __future__ import annotations

import pytest

from tests.backends.test_meta import DictMediaCache
from tests.openapi import validate_message
from tests.test_sandbox import NUMERO, TOKEN
from whatsapp_notify import enviar_plantilla
from whatsapp_notify.backends.base import UnsupportedContent
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.exceptions import MessageError, VariablesError
from whatsapp_notify.messages import Imagen, Plantilla, Salida, Video
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.outbound.delivery import construir_salida
from whatsapp_notify.sandbox.whapi import WhapiSandbox

TELEFONO = "525512345678"
JPEG = b"\xff\xd8\xff\xe0" + b"foto del auto" * 50
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"video del auto" * 50
TWILIO = {"ACCOUNT_SID": "AC" + "0" * 32, "AUTH_TOKEN": "x", "FROM": "whatsapp:+14155238886"}


def meta() -> MetaBackend:
    return MetaBackend("default", PHONE_NUMBER_ID=NUMERO, ACCESS_TOKEN=TOKEN)


def test_meta__encabezado_de_texto_como_componente_header():
    plantilla = Plantilla("cotizacion_lista", "es_MX", ["Ana"], encabezado="COT-12")

    payload = meta().build_payload(Salida(TELEFONO, plantilla), DictMediaCache())

    assert payload["template"]["components"][0] == {
        "type": "header", "parameters": [{"type": "text", "text": "COT-12"}],
    }  # fmt: skip
    validate_message(payload)


@pytest.mark.parametrize(
    ("clase", "contenido", "nombre", "tipo"),
    [(Imagen, JPEG, "auto.jpg", "image"), (Video, MP4, "auto.mp4", "video")],
)
def test_meta__imagen_o_video_por_su_id(clase, contenido, nombre, tipo):
    cache = DictMediaCache()
    archivo = clase(contenido, nombre)
    cache.put(archivo.sha256, "1234567890")
    plantilla = Plantilla("vehiculo_listo_con_foto", "es_MX", ["Ana"], documento=archivo)

    payload = meta().build_payload(Salida(TELEFONO, plantilla), cache)

    assert payload["template"]["components"][0] == {
        "type": "header", "parameters": [{"type": tipo, tipo: {"id": "1234567890"}}],
    }  # fmt: skip
    validate_message(payload)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("argumentos", "tipo"), [({"imagen": JPEG}, "image"), ({"video": MP4}, "video")]
)
def test_meta__en_el_sandbox_se_sube_y_sale(sandbox_meta, argumentos, tipo):
    envio = enviar_plantilla(
        f"+{TELEFONO}", "vehiculo_listo_con_foto", variables=["Ana"], **argumentos
    )

    envio.refresh_from_db()
    [peticion] = sandbox_meta.mensajes
    assert (envio.estado, peticion.status, peticion.problema) == (EstadoEnvio.ENVIADO, 200, "")
    assert peticion.cuerpo["template"]["components"][0]["parameters"][0]["type"] == tipo
    assert envio.nombre_documento == f"encabezado.{'jpg' if tipo == 'image' else 'mp4'}"
    assert isinstance(
        construir_salida(envio).contenido.documento, Imagen if tipo == "image" else Video
    )


def test_enviar_plantilla__el_encabezado_de_texto_se_guarda(
    db, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        envio = enviar_plantilla(
            f"+{TELEFONO}", "cotizacion_lista", variables=["Ana"], encabezado="COT-12"
        )

    envio.refresh_from_db()
    assert envio.interactivo == {"encabezado": "COT-12"}
    assert outbox[0].contenido.encabezado == "COT-12"


@pytest.mark.parametrize(
    ("argumentos", "error", "dice"),
    [
        ({"imagen": JPEG, "video": MP4}, MessageError, "un solo encabezado"),
        ({"imagen": JPEG, "encabezado": "COT-12"}, MessageError, "un solo encabezado"),
        ({"encabezado": "x" * 61}, MessageError, "60"),
        ({"encabezado": "COT\n12"}, VariablesError, "salto de línea"),
        ({"imagen": b"GIF89a..."}, MessageError, "JPEG o PNG"),
        ({"video": JPEG, "nombre_documento": "x.avi"}, MessageError, "MP4 o 3GPP"),
    ],
)
def test_enviar_plantilla__encabezados_malos_se_rechazan_al_llamar(db, argumentos, error, dice):
    with pytest.raises(error, match=dice):
        enviar_plantilla(f"+{TELEFONO}", "cotizacion_lista", variables=["Ana"], **argumentos)
    assert not EnvioWhatsApp.objects.exists()


def test_twilio__el_encabezado_de_texto_se_rechaza_al_llamar(db, wa_settings):
    wa_settings(
        BACKENDS={
            "t": {"BACKEND": "whatsapp_notify.backends.twilio.TwilioBackend", "OPTIONS": TWILIO}
        }
    )

    with pytest.raises(UnsupportedContent, match="variables"):
        enviar_plantilla(f"+{TELEFONO}", "cotizacion_lista", encabezado="COT-12", cuenta="t")
    assert not EnvioWhatsApp.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_whapi__texto_en_negrita_y_video_por_su_ruta(wa_settings):
    plantillas = {"cotizacion_lista": "Hola {{1}}, tu cotización está lista."}
    with WhapiSandbox(None, "secreto", token="t") as sandbox:
        opciones = {"TOKEN": "t", "BASE_URL": sandbox.base_url, "PLANTILLAS": plantillas}
        opciones["RATE_LIMIT"] = "20/s"  # WHAPI's own 40/h would hold the second one
        wa_settings(
            BACKENDS={
                "bot": {
                    "BACKEND": "whatsapp_notify.backends.whapi.WhapiBackend",
                    "OPTIONS": opciones,
                }
            }
        )

        enviar_plantilla(
            f"+{TELEFONO}", "cotizacion_lista", variables=["Ana"], encabezado="COT-12", cuenta="bot"
        )
        enviar_plantilla(
            f"+{TELEFONO}", "cotizacion_lista", variables=["Ana"], video=MP4, cuenta="bot"
        )

        texto, video = sandbox.mensajes
    assert texto.cuerpo["body"] == "*COT-12*\nHola Ana, tu cotización está lista."
    assert (video.ruta, video.valido, video.cuerpo["caption"]) == (
        "/messages/video", True, "Hola Ana, tu cotización está lista.",
    )  # fmt: skip


# -- reply buttons with a media header ---------------------------------------------------------


def test_botones__con_imagen_de_encabezado_en_meta():
    from whatsapp_notify.messages import Boton, Botones

    cache = DictMediaCache()
    foto = Imagen(JPEG, "auto.jpg")
    cache.put(foto.sha256, "555")
    mensaje = Botones(
        "¿Aprueba la reparación?", (Boton("si", "Sí"), Boton("no", "No")), adjunto=foto
    )

    payload = meta().build_payload(Salida(TELEFONO, mensaje), cache)

    assert payload["interactive"]["header"] == {"type": "image", "image": {"id": "555"}}
    validate_message(payload)


@pytest.mark.django_db(transaction=True)
def test_botones__en_el_sandbox_se_sube_y_sale(sandbox_meta):
    from django.utils import timezone

    from whatsapp_notify import enviar_botones
    from whatsapp_notify.models import Direccion, Mensaje

    Mensaje.objects.create(direccion=Direccion.ENTRANTE, telefono=TELEFONO, fecha=timezone.now())

    envio = enviar_botones(
        f"+{TELEFONO}", "¿Aprueba la reparación?", botones=["Sí", "No"], imagen=JPEG
    )

    envio.refresh_from_db()
    [peticion] = sandbox_meta.mensajes  # the image uploaded once by content, then its id
    assert (envio.estado, peticion.problema) == (EstadoEnvio.ENVIADO, "")
    assert peticion.cuerpo["interactive"]["header"]["type"] == "image"
    assert isinstance(construir_salida(envio).contenido.adjunto, Imagen)


def test_botones__un_solo_encabezado_y_whapi_los_rechaza(db, wa_settings):
    from whatsapp_notify import enviar_botones

    with pytest.raises(MessageError, match="un solo encabezado"):
        enviar_botones(f"+{TELEFONO}", "¿Sí?", botones=["Sí"], encabezado="COT", imagen=JPEG)
    wa_settings(BACKENDS={"bot": {"BACKEND": "whatsapp_notify.backends.whapi.WhapiBackend",
                                  "OPTIONS": {"TOKEN": "t"}}})  # fmt: skip
    with pytest.raises(UnsupportedContent, match="encabezado"):
        enviar_botones(f"+{TELEFONO}", "¿Sí?", botones=["Sí"], imagen=JPEG, cuenta="bot")
    assert not EnvioWhatsApp.objects.exists()


def test_una_imagen_en_un_archivo_sin_nombre_toma_el_del_contenido(db, outbox):
    import io

    envio = enviar_plantilla(f"+{TELEFONO}", "vehiculo_listo_con_foto", imagen=io.BytesIO(JPEG))

    assert (envio.nombre_documento, envio.documento_mime) == ("encabezado.jpg", "image/jpeg")
