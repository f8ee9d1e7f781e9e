"""WhapiBackend against a mocked WHAPI (``responses``: only the transport is replaced).

Payloads sent are compared with WHAPI's documented shapes (the sandbox's checker); webhook
bodies are real-shaped fixtures under ``tests/payloads/whapi``. The sandbox round trip is
in ``tests/test_sandbox_whapi.py``.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from django.utils import timezone

from whatsapp_notify import enviar_plantilla, enviar_texto
from whatsapp_notify.backends import backends
from whatsapp_notify.backends.base import UnsupportedContent, WebhookRequest
from whatsapp_notify.backends.whapi import WhapiBackend
from whatsapp_notify.backends.whapi.templates import VariablesPlantilla
from whatsapp_notify.events import (
    DELIVERED,
    FAILED,
    PLAYED,
    READ,
    SENT,
    EventoDesconocido,
    EventoEstado,
    EventoMensaje,
)
from whatsapp_notify.exceptions import (
    AmbiguousError,
    AuthError,
    ConfigurationError,
    MessageError,
    PermanentError,
    SuscripcionError,
    ThroughputLimitError,
    TransientError,
    VariablesError,
    WebhookMalformado,
    WebhookRechazado,
)
from whatsapp_notify.messages import (
    Boton,
    Botones,
    Documento,
    Fila,
    Lista,
    Plantilla,
    Salida,
    Seccion,
    Texto,
)
from whatsapp_notify.models import (
    Direccion,
    EstadoEnvio,
    Mensaje,
    MotivoOmision,
)
from whatsapp_notify.models import Plantilla as CatalogoPlantilla
from whatsapp_notify.outbound import ratelimit
from whatsapp_notify.sandbox.whapi_esquema import problema

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "whapi"
WHAPI = "https://gate.whapi.cloud"
TOKEN = "whapiTOKENnever-in-logs-0123456789"
SECRETO = "secreto-del-webhook-de-whapi"
TELEFONO = "5215512345678"
E164 = "525512345678"  # what the app stores and dials for +52 1 55 1234 5678
WAMID = "Uh6z8-rjKFQ6.HOkdO2mSm0seeqym"
CANAL = "MANTIS-M72HC"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
WHAPI_BACKEND = "whatsapp_notify.backends.whapi.WhapiBackend"
PLANTILLAS = {
    "vehiculo_listo_cliente": "Hola {{1}}, tu {{2}} está listo (orden {{3}}).",
    "cita_confirmada": {
        "es_MX": "Hola {{nombre}}, tu cita es el {{fecha}}.",
        "en": "Hi {{nombre}}",
    },
}


def cargar(nombre: str) -> dict:
    return json.loads((PAYLOADS / nombre).read_text())


def crudo(nombre: str) -> bytes:
    return (PAYLOADS / nombre).read_bytes()


def whapi(**opciones) -> WhapiBackend:
    return WhapiBackend("bot", **{"TOKEN": TOKEN, "PLANTILLAS": PLANTILLAS, **opciones})


def salida(contenido) -> Salida:
    return Salida(telefono=TELEFONO, contenido=contenido, referencia="wn:1:abc")


def cuenta_whapi(wa_settings, **opciones) -> None:
    opciones = {"TOKEN": TOKEN, "WEBHOOK_SECRET": SECRETO, "PLANTILLAS": PLANTILLAS, **opciones}
    opciones.setdefault("RATE_LIMIT", "100/s")
    bot = {"BACKEND": WHAPI_BACKEND, "OPTIONS": opciones}
    wa_settings(BACKENDS={"default": {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"},
                          "bot": bot})  # fmt: skip


@pytest.fixture
def api():
    """WHAPI's send endpoints mocked, answering ``send_ok.json``; each body must be valid."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for tipo in ("text", "document", "image", "interactive"):
            mock.add(responses.POST, f"{WHAPI}/messages/{tipo}", json=cargar("send_ok.json"))
        yield mock


def enviado(api) -> tuple[str, dict]:
    """The one request made: its endpoint type and its JSON body (checked against WHAPI's)."""
    [llamada] = api.calls
    tipo = llamada.request.url.rsplit("/", 1)[-1]
    cuerpo = json.loads(llamada.request.body)
    assert problema(tipo, cuerpo) == ""
    assert llamada.request.headers["Authorization"] == f"Bearer {TOKEN}"
    return tipo, cuerpo


# -- sends ----------------------------------------------------------------------------------


def test_texto__post_messages_text_con_to_y_body(api):
    resultado = whapi().send(salida(Texto("Hola Ana")))

    assert enviado(api) == ("text", {"to": TELEFONO, "body": "Hola Ana"})
    assert (resultado.id, resultado.wa_id) == (WAMID, TELEFONO)


def test_documento__media_en_data_url_con_nombre_mime_y_caption(api):
    whapi().send(salida(Documento(PDF, "cotización 42.pdf", caption="Su cotización")))

    tipo, cuerpo = enviado(api)
    assert tipo == "document"
    assert cuerpo["filename"] == "cotización 42.pdf"
    assert (cuerpo["mime_type"], cuerpo["caption"]) == ("application/pdf", "Su cotización")
    cabecera, datos = cuerpo["media"].split(",", 1)
    assert cabecera == "data:application/pdf;name=cotizaci%C3%B3n%2042.pdf;base64"
    assert base64.b64decode(datos) == PDF


def test_documento_imagen__va_a_messages_image_sin_filename(api):
    whapi().send(salida(Documento(PNG, "recibo.png", caption="Recibo")))

    tipo, cuerpo = enviado(api)
    assert tipo == "image"
    assert "filename" not in cuerpo
    assert (cuerpo["mime_type"], cuerpo["caption"]) == ("image/png", "Recibo")


def test_botones__interactive_button_con_quick_replies(api):
    botones = Botones(
        "¿Aprueba la cotización?",
        (Boton("aprobar", "Aprobar"), Boton("rechazar", "Rechazar")),
        encabezado="COT-2001",
        pie="Taller Centro",
    )

    whapi().send(salida(botones))

    assert enviado(api) == (
        "interactive",
        {
            "to": TELEFONO,
            "type": "button",
            "header": {"text": "COT-2001"},
            "body": {"text": "¿Aprueba la cotización?"},
            "footer": {"text": "Taller Centro"},
            "action": {
                "buttons": [
                    {"type": "quick_reply", "title": "Aprobar", "id": "aprobar"},
                    {"type": "quick_reply", "title": "Rechazar", "id": "rechazar"},
                ]
            },
        },
    )


def test_lista__interactive_list_con_secciones_y_boton(api):
    filas = (Fila("9", "9:00", "Temprano"), Fila("12", "12:00"))
    lista = Lista("Elige horario", "Ver horarios", (Seccion("Mañana", filas),))

    whapi().send(salida(lista))

    tipo, cuerpo = enviado(api)
    assert (tipo, cuerpo["type"], cuerpo["body"]) == (
        "interactive",
        "list",
        {"text": "Elige horario"},
    )
    assert cuerpo["action"] == {
        "sections": [
            {
                "title": "Mañana",
                "rows": [
                    {"id": "9", "title": "9:00", "description": "Temprano"},
                    {"id": "12", "title": "12:00"},
                ],
            }
        ],
        "button": "Ver horarios",
    }


# -- templates, rendered ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plantilla", "esperado"),
    [
        (
            Plantilla("vehiculo_listo_cliente", "es_MX", ["Ana", "Mazda 3", "OT-42"]),
            "Hola Ana, tu Mazda 3 está listo (orden OT-42).",
        ),
        (
            Plantilla("cita_confirmada", "es_MX", {"nombre": "Ana", "fecha": "15/01/2025"}),
            "Hola Ana, tu cita es el 15/01/2025.",
        ),
        (Plantilla("cita_confirmada", "en_US", {"nombre": "Ana"}), "Hi Ana"),
        (
            Plantilla("orden_compra", "es_MX", ["OC-1"], cuerpo="Orden {{ 1 }} recibida."),
            "Orden OC-1 recibida.",
        ),
    ],
    ids=["posicional", "con-nombre-por-idioma", "idioma-base", "cuerpo-del-catalogo"],
)
def test_plantilla__se_envia_el_texto_del_cuerpo_con_sus_variables(api, plantilla, esperado):
    whapi().send(salida(plantilla))

    assert enviado(api) == ("text", {"to": TELEFONO, "body": esperado})


def test_plantilla__plantillas_de_la_cuenta_ganan_al_catalogo(api):
    plantilla = Plantilla("vehiculo_listo_cliente", "es_MX", ["Ana", "X", "1"], cuerpo="Otro {{1}}")

    whapi().send(salida(plantilla))

    assert enviado(api)[1]["body"].startswith("Hola Ana, tu X")


def test_plantilla_con_documento__el_documento_con_el_texto_como_caption(api):
    pdf = Documento(PDF, "cotizacion.pdf")
    plantilla = Plantilla("vehiculo_listo_cliente", "es_MX", ["Ana", "Mazda", "OT-1"], pdf)

    whapi().send(salida(plantilla))

    tipo, cuerpo = enviado(api)
    assert (tipo, cuerpo["filename"]) == ("document", "cotizacion.pdf")
    assert cuerpo["caption"] == "Hola Ana, tu Mazda está listo (orden OT-1)."


@pytest.mark.parametrize(
    "variables",
    [["Ana", "Mazda"], ["Ana", "Mazda", "OT-1", "sobra"], {"nombre": "Ana"}],
    ids=["faltan", "sobran", "con-nombre-en-posicional"],
)
def test_plantilla__variables_que_no_cuadran_lanzan_con_las_esperadas(variables):
    plantilla = Plantilla("vehiculo_listo_cliente", "es_MX", variables)

    with pytest.raises(VariablesPlantilla, match=r"espera \{\{1\}\}, \{\{2\}\}, \{\{3\}\}") as exc:
        whapi().send(salida(plantilla))

    # Both: callers catch VariablesError; delivery fails a MessageError instead of retrying.
    assert isinstance(exc.value, VariablesError)
    assert isinstance(exc.value, MessageError)


def test_plantilla_sin_texto__unsupported_content_que_nombra_el_arreglo():
    with pytest.raises(UnsupportedContent, match=r"OPTIONS\['PLANTILLAS'\].*catálogo"):
        whapi().send(salida(Plantilla("desconocida", "es_MX", ["Ana"])))


# -- answers and errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "clase"),
    [("send_sin_id.json", AmbiguousError), ("send_no_enviado.json", PermanentError)],
    ids=["200-sin-id", "sent-false"],
)
def test_respuesta_sin_id__clasificada(fixture, clase):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{WHAPI}/messages/text", json=cargar(fixture))
        with pytest.raises(clase):
            whapi().send(salida(Texto("Hola")))


@pytest.mark.parametrize(
    ("status", "fixture", "clase", "frase"),
    [
        (401, "error_401.json", AuthError, "token de WHAPI no es válido"),
        (402, "error_402.json", AuthError, "plan activo"),
        (404, "error_404.json", PermanentError, "no encontró el destinatario"),
        (429, "error_429.json", ThroughputLimitError, "Demasiadas solicitudes"),
        (400, "error_400.json", PermanentError, "rechazó la solicitud"),
        (503, None, TransientError, "no está disponible"),
    ],
    ids=["401", "402", "404", "429", "400", "503-sin-cuerpo"],
)
def test_errores__clase_compartida_y_frase_legible(status, fixture, clase, frase):
    with responses.RequestsMock() as mock:
        cuerpo = {"json": cargar(fixture)} if fixture else {"body": "upstream down"}
        mock.add(responses.POST, f"{WHAPI}/messages/text", status=status, **cuerpo)
        backend = whapi()
        with pytest.raises(clase) as exc:
            backend.send(salida(Texto("Hola")))

    assert type(exc.value) is clase
    assert exc.value.code == status
    assert frase in backend.describe_error(exc.value.code, exc.value.detail)
    assert backend.describe_error(exc.value.code).startswith(f"(WHAPI {status}) ")


def test_errores__el_token_nunca_aparece_en_el_mensaje():
    with responses.RequestsMock() as mock:
        cuerpo = {"error": {"code": 401, "message": f"Token {TOKEN} invalid"}}
        mock.add(responses.POST, f"{WHAPI}/messages/text", status=401, json=cuerpo)
        with pytest.raises(AuthError) as exc:
            whapi().send(salida(Texto("Hola")))

    assert TOKEN not in str(exc.value)


# -- operations ---------------------------------------------------------------------------------


def test_verify_credentials__nombre_y_numero_si_el_canal_esta_vinculado():
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{WHAPI}/health", json=cargar("health_auth.json"))
        assert whapi().verify_credentials() == "Taller Centro (15550001234)"


def test_verify_credentials__canal_sin_vincular_es_auth_error_que_pide_el_qr():
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{WHAPI}/health", json=cargar("health_qr.json"))
        with pytest.raises(AuthError, match="escanea su QR"):
            whapi().verify_credentials()


@pytest.mark.parametrize(
    ("cabeceras", "url", "vale"),
    [
        ({"Authorization": f"Bearer {SECRETO}"}, "", True),
        ({"Authorization": f"Bearer {SECRETO}"}, "https://erp.example/wh/bot", True),
        ({"Authorization": f"Bearer {SECRETO}"}, "https://otro.example/wh/", False),
        ({"X-Otra": "1"}, "", False),
        ({}, "", False),
    ],
    ids=["con-nuestra-cabecera", "misma-url", "otra-url", "otra-cabecera", "sin-cabeceras"],
)
def test_check_subscription__exige_el_webhook_con_nuestro_secreto(cabeceras, url, vale):
    eventos = [{"type": "messages", "method": "post"}, {"type": "statuses", "method": "post"}]
    gancho = {"url": "https://erp.example/wh/bot/", "events": eventos, "headers": cabeceras}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{WHAPI}/settings", json={"webhooks": [gancho]})
        backend = whapi(WEBHOOK_SECRET=SECRETO)
        if vale:
            assert "https://erp.example/wh/bot/" in backend.check_subscription(url)
        else:
            with pytest.raises(SuscripcionError) as exc:
                backend.check_subscription(url)
            assert "PATCH https://gate.whapi.cloud/settings" in exc.value.arreglo
            assert SECRETO not in exc.value.arreglo


def test_check_subscription__sin_secreto_no_pregunta_y_dice_que_falta():
    with pytest.raises(SuscripcionError, match="sin WEBHOOK_SECRET") as exc:
        whapi().check_subscription()

    assert "WEBHOOK_SECRET" in exc.value.arreglo


def test_download_media__bytes_y_mime():
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{WHAPI}/media/jpeg-1", body=PNG, content_type="image/png")
        assert whapi().download_media("jpeg-1") == (PNG, "image/png")


def test_capacidades_declaradas():
    backend = whapi()
    assert backend.supports("download_media")
    assert backend.supports("check_subscription")
    assert not backend.supports("list_templates")


@pytest.mark.parametrize(
    ("opciones", "clave"),
    [
        ({"PLANTILLAS": ["no", "es", "dict"]}, "PLANTILLAS"),
        ({"PLANTILLAS": {"x": ""}}, "PLANTILLAS"),
        ({"RATE_LIMIT": "10/15m"}, "RATE_LIMIT"),
        ({"WEBHOOK_SECRET": ["bueno", "con espacio"]}, "WEBHOOK_SECRET"),
        ({"TOKEN": "tok\n"}, "TOKEN"),
    ],
    ids=["plantillas-no-dict", "plantilla-vacia", "ritmo", "secreto-con-espacio", "token"],
)
def test_opciones_invalidas__configuration_error_que_nombra_la_clave(opciones, clave):
    with pytest.raises(ConfigurationError, match=rf'\["{clave}"\]'):
        whapi(**opciones)


def test_sin_token__no_se_envia_nada():
    backend = WhapiBackend("bot")
    with pytest.raises(ConfigurationError, match="TOKEN"):
        backend.send(salida(Texto("Hola")))


def test_ventana_y_ritmo__sin_ventana_y_el_ritmo_de_whapi_por_omision():
    assert whapi().ventana is None
    assert whapi().rate_limit() == "40/h"
    assert whapi(RATE_LIMIT="1/m").rate_limit() == "1/m"


# -- webhook authentication ----------------------------------------------------------------------


def peticion(nombre: str = "mensaje_texto.json", **cabeceras) -> WebhookRequest:
    return WebhookRequest(body=crudo(nombre), headers=cabeceras)


@pytest.mark.parametrize(
    "secretos", [SECRETO, ["anterior", SECRETO], [SECRETO, "nuevo"]], ids=["uno", "nuevo", "viejo"]
)
def test_verify_request__acepta_el_bearer_de_cualquier_secreto(secretos):
    whapi(WEBHOOK_SECRET=secretos).verify_request(peticion(authorization=f"Bearer {SECRETO}"))


@pytest.mark.parametrize(
    ("cabeceras", "motivo"),
    [
        ({}, "falta la cabecera"),
        ({"Authorization": "Bearer otro"}, "no coincide"),
        ({"Authorization": SECRETO}, "falta la cabecera"),
        ({"Authorization": f"Basic {SECRETO}"}, "falta la cabecera"),
        ({"Authorization": f"Bearer {SECRETO}x"}, "no coincide"),
    ],
    ids=["sin-cabecera", "otro-secreto", "sin-bearer", "basic", "secreto-con-sufijo"],
)
def test_verify_request__rechaza(cabeceras, motivo):
    with pytest.raises(WebhookRechazado, match=motivo):
        whapi(WEBHOOK_SECRET=SECRETO).verify_request(peticion(**cabeceras))


def test_verify_request__sin_secreto_configurado_rechaza_todo():
    with pytest.raises(WebhookRechazado, match="no hay WEBHOOK_SECRET"):
        whapi().verify_request(peticion(Authorization="Bearer cualquiera"))


# -- webhook parsing ---------------------------------------------------------------------------


def eventos(nombre: str) -> list:
    return whapi().parse_webhook(peticion(nombre))


def test_parse__texto_con_digitos_nombre_fecha_y_canal():
    [evento] = eventos("mensaje_texto.json")

    assert isinstance(evento, EventoMensaje)
    assert (evento.wamid, evento.de, evento.tipo) == (
        "PsobWy36679._7w-wKmB9tMeGQ",
        TELEFONO,
        "text",
    )
    assert (evento.texto, evento.nombre, evento.numero_id) == (
        "Hola, ¿ya está mi coche?",
        "Ana Pérez",
        CANAL,
    )
    assert evento.fecha.timestamp() == 1712995245


def test_parse__imagen_con_caption_como_texto_y_media():
    [evento] = eventos("mensaje_imagen.json")

    assert (evento.tipo, evento.texto) == ("image", "Comprobante de pago OT-42")
    assert (evento.media.id, evento.media.mime) == ("jpeg-4d7ca1c93e8f5a2b", "image/jpeg")
    assert evento.media.caption == "Comprobante de pago OT-42"


def test_parse__documento_con_nombre_de_archivo():
    [evento] = eventos("mensaje_documento.json")

    assert (evento.tipo, evento.texto, evento.media.nombre) == (
        "document",
        "Mi factura",
        "factura-0042.pdf",
    )


@pytest.mark.parametrize(
    ("fixture", "respuesta_id", "texto", "contexto"),
    [
        ("respuesta_botones.json", "aprobar", "Aprobar", WAMID),
        ("respuesta_lista.json", "9", "9:00", "24jqhXM5uPnz.Cnljnk6vontdfmzU"),
    ],
    ids=["boton", "lista"],
)
def test_parse__respuesta_interactiva_sin_el_prefijo_de_whapi(
    fixture, respuesta_id, texto, contexto
):
    [evento] = eventos(fixture)

    assert (evento.tipo, evento.respuesta_id, evento.texto) == ("interactive", respuesta_id, texto)
    assert evento.contexto_wamid == contexto


def test_parse__reaccion_y_ubicacion():
    [reaccion] = eventos("reaccion.json")
    [ubicacion] = eventos("ubicacion.json")

    assert (reaccion.tipo, reaccion.texto, reaccion.contexto_wamid) == ("reaction", "👍", WAMID)
    assert (ubicacion.tipo, ubicacion.texto) == ("location", "Taller Centro — Av. Juárez 10, CDMX")


def test_parse__el_eco_de_nuestro_mensaje_se_ignora():
    assert eventos("eco_from_me.json") == []


def cuerpo_con(nombre: str, cambio) -> WebhookRequest:
    datos = json.loads(crudo(nombre))
    cambio(datos)
    return WebhookRequest(body=json.dumps(datos).encode())


@pytest.mark.parametrize("valor", ["true", "TRUE", 1, "1"], ids=repr)
def test_parse__from_me_como_texto_o_numero_tambien_es_eco(valor):
    def marcar(datos):
        datos["messages"][0]["from_me"] = valor

    assert whapi().parse_webhook(cuerpo_con("eco_from_me.json", marcar)) == []


@pytest.mark.parametrize("valor", [False, "false", 0, None], ids=repr)
def test_parse__from_me_falso_es_un_mensaje_del_cliente(valor):
    def marcar(datos):
        datos["messages"][0]["from_me"] = valor

    [evento] = whapi().parse_webhook(cuerpo_con("eco_from_me.json", marcar))

    assert isinstance(evento, EventoMensaje)


@pytest.mark.parametrize(
    ("fixture", "motivo"),
    [
        ("mensaje_grupo.json", "grupo"),
        ("mensaje_desconocido.json", "poll"),
        ("evento_chats.json", "no es de mensajes"),
    ],
    ids=["grupo", "tipo-desconocido", "otro-evento"],
)
def test_parse__lo_que_no_es_un_cliente_es_evento_desconocido(fixture, motivo):
    [evento] = eventos(fixture)

    assert isinstance(evento, EventoDesconocido)
    assert motivo in evento.motivo
    assert evento.raw


@pytest.mark.parametrize(
    ("nombre", "estado"),
    [
        ("pending", None),
        ("sent", SENT),
        ("delivered", DELIVERED),
        ("read", READ),
        ("played", PLAYED),
        ("failed", FAILED),
        ("deleted", None),
    ],
    ids=lambda valor: str(valor),
)
def test_parse__estados_por_nombre(nombre, estado):
    leidos = eventos(f"estado_{nombre}.json")

    if estado is None:
        assert leidos == []
        return
    [evento] = leidos
    assert isinstance(evento, EventoEstado)
    assert (evento.wamid, evento.estado, evento.destinatario) == (WAMID, estado, TELEFONO)
    assert evento.fecha.timestamp() == 1712995378
    assert bool(evento.errores) == (estado == FAILED)


def test_parse__failed_con_errores_los_lee_legibles():
    [evento] = eventos("estado_failed_con_errores.json")

    [error] = evento.errores
    assert (error.code, error.details) == (404, "The number is not on WhatsApp")
    assert error.legible.startswith("(WHAPI 404) ")


@pytest.mark.parametrize(
    "errores", ["timeout", 42, {"code": 404, "details": "The number is not on WhatsApp"}], ids=repr
)
def test_parse__failed_con_errors_que_no_es_lista_no_falla(errores):
    def poner(datos):
        datos["statuses"][0]["errors"] = errores

    [evento] = whapi().parse_webhook(cuerpo_con("estado_failed.json", poner))

    assert evento.estado == FAILED
    [error] = evento.errores
    assert error.legible
    if isinstance(errores, dict):
        assert error.code == 404


@pytest.mark.parametrize("cuerpo", [b"no es json", b"[1, 2]"], ids=["no-json", "no-objeto"])
def test_parse__cuerpo_ilegible_es_malformado(cuerpo):
    with pytest.raises(WebhookMalformado):
        whapi().parse_webhook(WebhookRequest(body=cuerpo))


def test_account_key__el_channel_id():
    [evento] = eventos("estado_read.json")
    backend = whapi(CHANNEL_ID=CANAL)

    assert backend.account_key(evento) == CANAL
    assert backend.account_keys() == frozenset({CANAL})


# -- through the webhook view and the delivery ------------------------------------------


def publicar(client, nombre: str, secreto: str = SECRETO):
    return client.post(
        "/whatsapp/webhook/bot/",
        crudo(nombre),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secreto}"},
    )


@pytest.mark.django_db(transaction=True)
def test_vista__estados_llevan_el_envio_a_leido_y_el_eco_no_se_guarda(client, wa_settings, api):
    cuenta_whapi(wa_settings)
    envio = enviar_texto(f"+{TELEFONO}", "Hola Ana", cuenta="bot")
    envio.refresh_from_db()
    assert (envio.estado, envio.wamid) == (EstadoEnvio.ENVIADO, WAMID)

    respuestas = [publicar(client, f) for f in ("eco_from_me.json", "estado_read.json")]

    envio.refresh_from_db()
    assert [r.status_code for r in respuestas] == [200, 200]
    assert envio.estado == EstadoEnvio.LEIDO
    assert not Mensaje.objects.filter(direccion=Direccion.ENTRANTE).exists()


@pytest.mark.django_db
def test_vista__mensaje_entrante_se_guarda_con_el_telefono_en_digitos(client, wa_settings):
    cuenta_whapi(wa_settings)

    assert publicar(client, "mensaje_texto.json").status_code == 200

    mensaje = Mensaje.objects.get(direccion=Direccion.ENTRANTE)
    # The chat id's digits are the wa_id; the phone is stored in its E.164 form (MX 52…).
    assert (mensaje.wa_id, mensaje.telefono, mensaje.cuenta) == (TELEFONO, E164, "bot")


@pytest.mark.django_db
def test_vista__secreto_equivocado_403_y_nada_guardado(client, wa_settings):
    cuenta_whapi(wa_settings)

    assert publicar(client, "mensaje_texto.json", secreto="otro").status_code == 403
    assert not Mensaje.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_texto_libre__sin_ventana_en_whapi_y_con_ventana_en_meta(wa_settings, api):
    cuenta_whapi(wa_settings)

    en_whapi = enviar_texto(f"+{TELEFONO}", "Hola", cuenta="bot")
    en_otra = enviar_texto(f"+{TELEFONO}", "Hola", cuenta="default")

    en_whapi.refresh_from_db()
    assert en_whapi.estado == EstadoEnvio.ENVIADO
    assert (en_otra.estado, en_otra.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.FUERA_DE_VENTANA)


@pytest.mark.django_db(transaction=True)
def test_ritmo__sin_rate_limit_propio_la_cuenta_va_al_ritmo_de_whapi(wa_settings, api):
    cuenta_whapi(wa_settings, RATE_LIMIT=None)  # the global RATE_LIMIT is None in tests
    backends.reset()

    primero = enviar_texto(f"+{TELEFONO}", "Uno", cuenta="bot")
    segundo = enviar_texto(f"+{TELEFONO}", "Dos", cuenta="bot")

    primero.refresh_from_db()
    segundo.refresh_from_db()
    assert primero.estado == EstadoEnvio.ENVIADO
    assert segundo.estado == EstadoEnvio.PENDIENTE
    espera = segundo.proximo_intento - timezone.now()
    # 40/h: one turn per 90 s, and the margin between turns (ratelimit.ritmo).
    assert timedelta(seconds=80) < espera <= timedelta(seconds=90 + ratelimit.HOLGURA)
    assert len(api.calls) == 1


@pytest.mark.django_db(transaction=True)
def test_plantilla__delivery_entrega_el_cuerpo_del_catalogo(wa_settings, api):
    cuenta_whapi(wa_settings, PLANTILLAS=None)
    CatalogoPlantilla.objects.create(
        cuenta="bot", nombre="orden_lista", idioma="es_MX", estado="APPROVED",
        parametros_cuerpo=2, cuerpo="Hola {{1}}, tu orden {{2}} llegó.",
    )  # fmt: skip

    envio = enviar_plantilla(f"+{TELEFONO}", "orden_lista", variables=["Ana", "OT-9"], cuenta="bot")

    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.ENVIADO
    assert enviado(api) == ("text", {"to": E164, "body": "Hola Ana, tu orden OT-9 llegó."})


@pytest.mark.django_db(transaction=True)
def test_plantilla__sin_texto_el_envio_falla_con_el_arreglo(wa_settings, api):
    cuenta_whapi(wa_settings, PLANTILLAS=None)

    envio = enviar_plantilla(f"+{TELEFONO}", "sin_texto", variables=["Ana"], cuenta="bot")

    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.FALLIDO
    assert "PLANTILLAS" in envio.error_detalle
    assert not api.calls
