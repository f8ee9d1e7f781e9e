"""The webhook view end to end: handshake, signature, size, storage, processing, accounts.

Bodies are signed here with the configured ``APP_SECRET`` exactly as Meta does (HMAC-SHA256
of the raw bytes) and go through Django's test client, URLconf and middleware.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.handlers.asgi import ASGIRequest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.celery_app import con_broker
from whatsapp_notify import signals, tasks
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.conf import get_settings
from whatsapp_notify.inbound import apply, store
from whatsapp_notify.inbound.views import WebhookView
from whatsapp_notify.models import (
    Categoria,
    ConsentimientoCliente,
    EnvioWhatsApp,
    EstadoConsentimiento,
    EstadoEnvio,
    EventoWebhook,
    Mensaje,
)
from whatsapp_notify.outbound.outbox import ventana_abierta
from whatsapp_notify.sandbox.schema import webhook_examples

pytestmark = pytest.mark.django_db

META = "whatsapp_notify.backends.meta.MetaBackend"
SECRETO = "secreto"
VERIFICA = "verifica"
SECRETO_SUCURSAL = "secreto-de-la-sucursal"
VERIFICA_SUCURSAL = "verifica-sucursal"
CLIENTE = "5215512345678"  # a wa_id as Meta reports a Mexican mobile
WABA = "102290129340398"
LOGGER = "whatsapp_notify.inbound.views"


def cuenta_meta(app_secret=SECRETO, verify_token=VERIFICA, phone_number_id="123") -> dict:
    opciones = {"PHONE_NUMBER_ID": phone_number_id, "ACCESS_TOKEN": "t"}
    opciones |= {"APP_SECRET": app_secret, "VERIFY_TOKEN": verify_token}
    return {"BACKEND": META, "OPTIONS": opciones}


@pytest.fixture
def meta(wa_settings):
    """The account ``default`` on the Meta backend, with a secret and a verify token."""
    wa_settings(BACKENDS={"default": cuenta_meta()})


@pytest.fixture
def dos_cuentas(wa_settings):
    """``default`` and ``sucursal``: two Meta apps, each with its own secret and token."""
    sucursal = cuenta_meta(SECRETO_SUCURSAL, VERIFICA_SUCURSAL, phone_number_id="456")
    wa_settings(BACKENDS={"default": cuenta_meta(), "sucursal": sucursal})


@pytest.fixture
def senales():
    """What the signals for host code said during the test, in order."""
    recibido: list[tuple] = []

    def mensaje(sender, mensaje, **kwargs):
        recibido.append(("mensaje", mensaje.wamid))

    def estado(sender, envio, estado_anterior, estado, **kwargs):
        recibido.append(("estado", envio.pk, estado_anterior, estado))

    signals.mensaje_recibido.connect(mensaje)
    signals.envio_estado_cambiado.connect(estado)
    yield recibido
    signals.mensaje_recibido.disconnect(mensaje)
    signals.envio_estado_cambiado.disconnect(estado)


# -- building and posting bodies -------------------------------------------------------


def firmar(cuerpo: bytes, secreto: str = SECRETO) -> str:
    return "sha256=" + hmac.new(secreto.encode(), cuerpo, hashlib.sha256).hexdigest()


def a_bytes(cuerpo: bytes | dict) -> bytes:
    if isinstance(cuerpo, bytes):
        return cuerpo
    return json.dumps(cuerpo, ensure_ascii=False).encode("utf-8")


def url(cuenta: str | None = None) -> str:
    return reverse("whatsapp_notify:webhook", kwargs={"cuenta": cuenta} if cuenta else None)


def publicar(client, cuerpo, *, cuenta=None, secreto=SECRETO, cabeceras=None, **extra):
    """POST ``cuerpo`` (bytes as they are, or a dict as UTF-8 JSON) signed with ``secreto``."""
    raw = a_bytes(cuerpo)
    if cabeceras is None:
        cabeceras = {"X-Hub-Signature-256": firmar(raw, secreto)}
    return client.post(
        url(cuenta), raw, content_type="application/json", headers=cabeceras, **extra
    )


def envoltura(*entradas: list[dict]) -> dict:
    """A webhook body with one ``entry`` per list of changes."""
    entry = [{"id": WABA, "changes": cambios} for cambios in entradas]
    return {"object": "whatsapp_business_account", "entry": entry}


def cambio(campo: str = "messages", **valor) -> dict:
    metadata = {"display_phone_number": "15550783881", "phone_number_id": "123"}
    return {
        "field": campo,
        "value": {"messaging_product": "whatsapp", "metadata": metadata, **valor},
    }


def mensajes(*items: dict, nombre: str = "Ana Pérez") -> dict:
    contactos = [{"profile": {"name": nombre}, "wa_id": item["from"]} for item in items]
    return cambio(contacts=contactos, messages=list(items))


def texto(wamid: str, cuerpo: str = "Hola", de: str = CLIENTE, segundos: int = 1750000000):
    return {
        "from": de,
        "id": wamid,
        "timestamp": str(segundos),
        "type": "text",
        "text": {"body": cuerpo},
    }


def estado(wamid: str, status: str, segundos: int) -> dict:
    return {"id": wamid, "status": status, "timestamp": str(segundos), "recipient_id": CLIENTE}


def instante(segundos: int | str) -> datetime:
    return datetime.fromtimestamp(int(segundos), tz=UTC)


def envio_enviado(wamid: str) -> EnvioWhatsApp:
    valores = {"telefono": CLIENTE, "clase": "plantilla", "plantilla": "vehiculo_listo_cliente"}
    valores |= {"estado": EstadoEnvio.ENVIADO, "wamid": wamid, "enviado_en": timezone.now()}
    return EnvioWhatsApp.objects.create(**valores)


def nada_guardado() -> bool:
    return not EventoWebhook.objects.exists() and not Mensaje.objects.exists()


# -- Meta's official examples ------------------------------------------------------------


EJEMPLOS = webhook_examples()

CONTEXTO = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGB"
# What a person would read, and the reply ids, per example (events.EventoMensaje's contract).
DETALLES = {
    "Text Message": {"texto": "Does it come in another color?", "nombre": "Sheena Nelson"},
    "Text Message with Context (Product Inquiry)": {
        "texto": "Is this still available?",
        "contexto_wamid": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA",
    },
    "Text Message from Click to WhatsApp Ad": {"texto": "Hello! Can I get more info on this?"},
    "Reaction Message": {"texto": "👍"},
    "Image Message": {
        "texto": "Taj Mahal",
        "media_id": "1003383421387256",
        "media_mime": "image/jpeg",
        "media_sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
    },
    "Button Message": {
        "texto": "Unsubscribe",
        "respuesta_id": "Unsubscribe",
        "contexto_wamid": f"{CONTEXTO}JFNjk2OTMwNEZCQjhGMzUyQUYA",
    },
    "Interactive List Reply Message": {
        "texto": "Priority Mail Express",
        "respuesta_id": "priority_express",
        "contexto_wamid": f"{CONTEXTO}JGMzEyNzhENTZDMzNGODlDRDgA",
    },
    "Interactive Button Reply Message": {
        "texto": "Cancel",
        "respuesta_id": "cancel-button",
        "contexto_wamid": f"{CONTEXTO}I3MEM2RUJFNkI0RENGQTVDRjUA",
    },
    "System Message": {"nombre": ""},  # system messages come without contacts
}


def items_de_mensaje(cuerpo: dict) -> list[dict]:
    return [
        item
        for entrada in cuerpo["entry"]
        for change in entrada["changes"]
        for item in change["value"].get("messages", [])
    ]


def test_ejemplos_oficiales__estan_todos():
    assert len(EJEMPLOS) >= 16
    assert set(DETALLES) <= set(EJEMPLOS)


@pytest.mark.parametrize("nombre", list(EJEMPLOS))
def test_ejemplo_oficial__se_guarda_se_procesa_y_da_sus_mensajes(client, meta, nombre):
    ejemplo = EJEMPLOS[nombre]

    respuesta = publicar(client, ejemplo)

    assert (respuesta.status_code, respuesta.content) == (200, b"OK")
    evento = EventoWebhook.objects.get()
    assert (evento.cuenta, evento.error) == ("default", "")
    assert evento.procesado_en is not None
    assert json.loads(evento.cuerpo) == ejemplo
    items = items_de_mensaje(ejemplo)
    filas = {fila.wamid: fila for fila in Mensaje.objects.all()}
    assert set(filas) == {item["id"] for item in items}
    for item in items:
        fila = filas[item["id"]]
        assert (fila.direccion, fila.cuenta, fila.tipo) == ("entrante", "default", item["type"])
        assert (fila.wa_id, fila.fecha) == (item["from"], instante(item["timestamp"]))
        assert fila.contenido == item
        for campo, valor in DETALLES.get(nombre, {}).items():
            assert getattr(fila, campo) == valor, campo
    if not items:  # group notices: kept and counted, not understood
        assert evento.eventos == evento.desconocidos >= 1


# -- GET: the subscription handshake ---------------------------------------------------

SUSCRIBIR = {"hub.mode": "subscribe", "hub.verify_token": VERIFICA, "hub.challenge": "1158201444"}


def test_get__token_correcto_devuelve_el_challenge_como_texto(client, meta):
    respuesta = client.get(url(), SUSCRIBIR)

    assert (respuesta.status_code, respuesta.content) == (200, b"1158201444")
    assert respuesta["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "parametros",
    [
        {**SUSCRIBIR, "hub.verify_token": "otro"},
        {**SUSCRIBIR, "hub.verify_token": VERIFICA.upper()},
        {**SUSCRIBIR, "hub.verify_token": ""},
        {**SUSCRIBIR, "hub.mode": "unsubscribe"},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
        {},
    ],
    ids=["otro-token", "token-en-mayusculas", "token-vacio", "otro-modo", "sin-token", "nada"],
)
def test_get__sin_el_token_y_modo_correctos_es_403(client, meta, parametros):
    respuesta = client.get(url(), parametros)

    assert respuesta.status_code == 403
    assert b"1158201444" not in respuesta.content


@pytest.mark.parametrize(
    "token", [VERIFICA, "token-ajeno-7f3a"], ids=["token-correcto", "token-equivocado"]
)
def test_get__el_log_de_la_app_nunca_lleva_el_verify_token(client, meta, caplog, token):
    with caplog.at_level(logging.DEBUG):
        respuesta = client.get(url(), {**SUSCRIBIR, "hub.verify_token": token})

    assert respuesta.status_code == (200 if token == VERIFICA else 403)
    lineas = [registro.getMessage() for registro in caplog.records]
    if token != VERIFICA:  # the refusal is logged (app and Django), without the token
        assert any("Verificación del webhook de WhatsApp rechazada" in li for li in lineas)
        assert any("Forbidden" in linea for linea in lineas)
    assert [linea for linea in lineas if token in linea] == []


def test_get__cuenta_sin_verify_token_rechaza_todo(client, wa_settings):
    wa_settings(BACKENDS={"default": cuenta_meta(verify_token=None)})

    assert client.get(url(), {**SUSCRIBIR, "hub.verify_token": ""}).status_code == 403


def test_get__backend_sin_webhooks_es_403(client):
    # tests.settings: the locmem backend, which receives no webhooks.
    assert client.get(url(), SUSCRIBIR).status_code == 403


# -- POST: signature ---------------------------------------------------------------------

CUERPO = envoltura([mensajes(texto("wamid.firma", "Mi RFC es XAXX010101000"))])
RAW = a_bytes(CUERPO)


@pytest.mark.parametrize(
    "cabeceras",
    [
        {},
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": firmar(RAW, "otro-secreto")},
        {"X-Hub-Signature-256": firmar(RAW).removeprefix("sha256=")},
        {"X-Hub-Signature-256": firmar(RAW)[:-2]},
        {"X-Hub-Signature-256": firmar(b"{}")},
        {"X-Hub-Signature": firmar(RAW).replace("sha256", "sha1")},
    ],
    ids=["sin-cabecera", "vacia", "otro-secreto", "sin-prefijo", "truncada", "otro-cuerpo", "sha1"],
)
def test_post__firma_ausente_o_incorrecta_es_403_sin_guardar_nada(client, meta, caplog, cabeceras):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        respuesta = publicar(client, RAW, cabeceras=cabeceras)

    assert respuesta.status_code == 403
    assert nada_guardado()
    assert [r.levelname for r in caplog.records if r.name == LOGGER] == ["WARNING"]
    assert "XAXX010101000" not in caplog.text  # the body is never logged


def test_post__cuenta_sin_app_secret_rechaza_todo(client, wa_settings):
    wa_settings(BACKENDS={"default": cuenta_meta(app_secret=None)})

    assert publicar(client, RAW).status_code == 403
    assert nada_guardado()


def test_post__backend_sin_webhooks_es_403(client):
    assert publicar(client, RAW).status_code == 403
    assert nada_guardado()


def test_post__acentos_y_emoji_se_firman_sobre_los_bytes_recibidos(client, meta):
    dicho = "¿Ya está lista la camioneta? Ñandú 🚗✨"
    raw = a_bytes(envoltura([mensajes(texto("wamid.emoji", dicho))]))

    respuesta = publicar(client, raw)

    assert respuesta.status_code == 200
    assert Mensaje.objects.get().texto == dicho
    assert EventoWebhook.objects.get().cuerpo.encode("utf-8") == raw


def test_post__firma_de_otro_json_equivalente_no_vale(client, meta):
    raw = a_bytes(envoltura([mensajes(texto("wamid.emoji", "Ñandú 🚗"))]))
    escapado = json.dumps(json.loads(raw)).encode()  # same JSON, \u-escaped: other bytes

    respuesta = publicar(client, raw, cabeceras={"X-Hub-Signature-256": firmar(escapado)})

    assert respuesta.status_code == 403
    assert nada_guardado()


def test_post__no_necesita_token_csrf(meta):
    respuesta = publicar(Client(enforce_csrf_checks=True), CUERPO)

    assert respuesta.status_code == 200
    assert Mensaje.objects.filter(wamid="wamid.firma").exists()


# -- POST: rotation and accounts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("secreto", "status"),
    [("nuevo", 200), ("anterior", 200), ("ajeno", 403)],
    ids=["secreto-nuevo", "secreto-anterior", "secreto-ajeno"],
)
def test_post__app_secret_en_lista_acepta_cada_secreto(client, wa_settings, secreto, status):
    wa_settings(BACKENDS={"default": cuenta_meta(app_secret=["nuevo", "anterior"])})

    respuesta = publicar(client, CUERPO, secreto=secreto)

    assert respuesta.status_code == status
    assert EventoWebhook.objects.count() == (status == 200)


def del_numero(cuerpo: dict, numero_id: str) -> dict:
    """``cuerpo`` with every change's ``metadata.phone_number_id`` set to ``numero_id``."""
    for entrada in cuerpo["entry"]:
        for cambio_ in entrada["changes"]:
            cambio_["value"]["metadata"]["phone_number_id"] = numero_id
    return cuerpo


def test_post__cada_cuenta_usa_su_propio_secreto(client, dos_cuentas):
    raw = a_bytes(del_numero(envoltura([mensajes(texto("wamid.sucursal"))]), "456"))

    ajeno = publicar(client, raw, cuenta="sucursal", secreto=SECRETO)
    propio = publicar(client, raw, cuenta="sucursal", secreto=SECRETO_SUCURSAL)

    assert (ajeno.status_code, propio.status_code) == (403, 200)
    assert EventoWebhook.objects.get().cuenta == "sucursal"
    assert Mensaje.objects.get().cuenta == "sucursal"


def test_post__un_mensaje_a_otro_numero_configurado_es_de_esa_cuenta(client, dos_cuentas):
    # Meta posts every number of an app to one callback URL: metadata says which number.
    raw = a_bytes(del_numero(envoltura([mensajes(texto("wamid.al.456"))]), "456"))

    assert publicar(client, raw).status_code == 200

    assert EventoWebhook.objects.get().cuenta == "default"  # the URL it came through
    assert Mensaje.objects.get().cuenta == "sucursal"  # the number it was written to


def test_post__misma_firma_en_la_url_de_otra_cuenta_es_403(client, dos_cuentas):
    assert publicar(client, CUERPO, secreto=SECRETO_SUCURSAL).status_code == 403
    assert nada_guardado()


def test_get__cada_cuenta_usa_su_propio_token(client, dos_cuentas):
    propio = client.get(url("sucursal"), {**SUSCRIBIR, "hub.verify_token": VERIFICA_SUCURSAL})
    ajeno = client.get(url("sucursal"), SUSCRIBIR)

    assert (propio.status_code, propio.content) == (200, b"1158201444")
    assert ajeno.status_code == 403


@pytest.mark.parametrize("metodo", ["get", "post"])
def test_cuenta_desconocida__404_sin_guardar_nada(client, meta, metodo):
    respuesta = getattr(client, metodo)(url("nadie"))

    assert respuesta.status_code == 404
    assert nada_guardado()


@pytest.mark.parametrize("metodo", ["put", "patch", "delete", "head", "options"])
def test_metodo_no_permitido__405(client, meta, metodo):
    respuesta = getattr(client, metodo)(url())

    assert respuesta.status_code == 405
    assert respuesta["Allow"] == "GET, POST"


def test_urls__default_y_por_cuenta():
    assert url() == "/whatsapp/webhook/"
    assert url("sucursal") == "/whatsapp/webhook/sucursal/"


# -- POST: malformed and oversize ------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{no es json",
        b"",
        b"[]",
        b'"texto"',
        b"\xff\xfe{}",
        a_bytes(CUERPO)[:-1],
        "{}".encode("utf-16"),
    ],
    ids=["no-json", "vacio", "lista", "cadena", "bytes-invalidos", "cortado", "utf-16"],
)
def test_post__json_mal_formado_es_400_sin_guardar_nada(client, meta, raw):
    respuesta = publicar(client, raw)

    assert respuesta.status_code == 400
    assert nada_guardado()


@pytest.mark.parametrize(
    ("sobra", "status"), [(0, 200), (1, 413)], ids=["justo-en-el-limite", "un-byte-de-mas"]
)
def test_post__cuerpo_mayor_que_webhook_max_bytes_es_413(client, meta, wa_settings, sobra, status):
    wa_settings(WEBHOOK_MAX_BYTES=len(RAW) - sobra)

    respuesta = publicar(client, RAW)

    assert respuesta.status_code == status
    assert EventoWebhook.objects.count() == (status == 200)


def test_post__content_length_excesivo_es_413_sin_leer_el_cuerpo(client, meta):
    respuesta = publicar(client, RAW, CONTENT_LENGTH=str(5 * 1024 * 1024))

    assert respuesta.status_code == 413
    assert nada_guardado()


def test_post__cuerpo_mayor_de_lo_que_dice_su_content_length_es_413(meta, wa_settings):
    # Under ASGI a chunked body has no (or an understated) Content-Length.
    wa_settings(WEBHOOK_MAX_BYTES=len(RAW) - 1)
    cabeceras = [(b"x-hub-signature-256", firmar(RAW).encode()), (b"content-length", b"10")]
    scope = {"type": "http", "method": "POST", "path": url(), "query_string": b""}
    request = ASGIRequest({**scope, "headers": cabeceras}, io.BytesIO(RAW))

    respuesta = WebhookView.as_view()(request, cuenta="default")

    assert respuesta.status_code == 413
    assert nada_guardado()


def test_post__no_depende_de_data_upload_max_memory_size(client, meta, settings):
    # Django refuses bodies over 2.5 MB by default; Meta sends up to 3 MB.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(RAW) - 1

    assert publicar(client, RAW).status_code == 200
    assert Mensaje.objects.filter(wamid="wamid.firma").exists()


# -- POST: storage, redelivery, ordering, batches ----------------------------------------


def test_post__cuerpo_repetido_se_guarda_y_aplica_una_vez(client, meta, senales):
    primera, segunda = publicar(client, RAW), publicar(client, RAW)

    assert (primera.status_code, segunda.status_code) == (200, 200)
    evento = EventoWebhook.objects.get()
    assert evento.sha256 == hashlib.sha256(RAW).hexdigest()
    assert Mensaje.objects.count() == 1
    assert senales == [("mensaje", "wamid.firma")]


def test_post__mismo_mensaje_en_otro_cuerpo_no_se_duplica(client, meta, senales):
    otro_raw = json.dumps(CUERPO, indent=1).encode()  # same events, other bytes

    assert publicar(client, RAW).status_code == 200
    assert publicar(client, otro_raw).status_code == 200

    assert EventoWebhook.objects.count() == 2
    assert Mensaje.objects.count() == 1
    assert senales == [("mensaje", "wamid.firma")]


def test_post__estados_fuera_de_orden_no_retroceden(client, meta, senales):
    envio = envio_enviado("wamid.saliente")

    leido = publicar(
        client, envoltura([cambio(statuses=[estado("wamid.saliente", "read", 1750000200)])])
    )
    entregado = publicar(
        client, envoltura([cambio(statuses=[estado("wamid.saliente", "delivered", 1750000100)])])
    )

    assert (leido.status_code, entregado.status_code) == (200, 200)
    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.LEIDO
    assert envio.leido_en == instante(1750000200)
    assert envio.entregado_en is not None
    assert senales == [("estado", envio.pk, EstadoEnvio.ENVIADO, EstadoEnvio.LEIDO)]


def test_post__lote_con_varias_entradas_y_cambios_aplica_todo(client, meta):
    primero, segundo = envio_enviado("wamid.uno"), envio_enviado("wamid.dos")
    cuerpo = envoltura(
        [
            cambio(statuses=[estado("wamid.uno", "delivered", 1750000100)]),
            mensajes(
                texto("wamid.entrante.1", "Gracias"), texto("wamid.entrante.2", "¿A qué hora?")
            ),
        ],
        [cambio(statuses=[estado("wamid.dos", "read", 1750000200)])],
    )

    assert publicar(client, cuerpo).status_code == 200

    evento = EventoWebhook.objects.get()
    assert (evento.eventos, evento.desconocidos, evento.error) == (4, 0, "")
    primero.refresh_from_db()
    segundo.refresh_from_db()
    assert (primero.estado, segundo.estado) == (EstadoEnvio.ENTREGADO, EstadoEnvio.LEIDO)
    assert set(Mensaje.objects.values_list("wamid", flat=True)) == {
        "wamid.entrante.1",
        "wamid.entrante.2",
    }


def test_post__campo_desconocido_se_guarda_y_se_cuenta(client, meta, caplog):
    cuerpo = envoltura(
        [cambio("campo_del_futuro", novedad={"x": 1}), mensajes(texto("wamid.conocido"))]
    )

    respuesta = publicar(client, cuerpo)

    assert respuesta.status_code == 200
    evento = EventoWebhook.objects.get()
    assert (evento.eventos, evento.desconocidos, evento.error) == (2, 1, "")
    assert json.loads(evento.cuerpo) == cuerpo
    assert Mensaje.objects.filter(wamid="wamid.conocido").exists()


# -- POST: processing failures -----------------------------------------------------------


def test_post__si_aplicar_falla_responde_200_y_guarda_el_error(client, meta, monkeypatch, caplog):
    def falla(eventos, cuenta):
        raise RuntimeError("fallo al aplicar")

    monkeypatch.setattr(apply, "aplicar", falla)

    with caplog.at_level(logging.ERROR, logger="whatsapp_notify.inbound.store"):
        respuesta = publicar(client, RAW)

    assert respuesta.status_code == 200
    evento = EventoWebhook.objects.get()
    assert evento.procesado_en is not None
    assert evento.error == "RuntimeError: fallo al aplicar"
    assert not Mensaje.objects.exists()
    assert [r.exc_info is not None for r in caplog.records] == [True]


def test_post__si_el_parser_falla_responde_200_y_guarda_el_error(client, meta, monkeypatch):
    def falla(self, raw):
        raise KeyError("entry")

    monkeypatch.setattr(MetaBackend, "parse_webhook", falla)

    respuesta = publicar(client, RAW)

    assert respuesta.status_code == 200
    assert EventoWebhook.objects.get().error == "KeyError: 'entry'"


def test_post__eventos_que_fallan_se_cuentan_en_el_error(client, meta, monkeypatch):
    aplicar = apply.aplicar

    def con_un_fallo(eventos, cuenta):
        aplicados = aplicar(eventos, cuenta)
        aplicados.errores = 1
        return aplicados

    monkeypatch.setattr(apply, "aplicar", con_un_fallo)

    assert publicar(client, RAW).status_code == 200

    evento = EventoWebhook.objects.get()
    assert evento.error == "1 de 1 eventos no se pudieron aplicar; el detalle está en el registro."
    assert evento.eventos == 1


def test_procesar_evento_webhook__no_repite_uno_procesado_salvo_forzado(client, meta, senales):
    publicar(client, RAW)
    evento = EventoWebhook.objects.get()

    assert store.procesar_evento_webhook(evento.pk) is False
    assert store.procesar_evento_webhook(evento.pk, forzar=True) is True

    assert Mensaje.objects.count() == 1
    assert senales == [("mensaje", "wamid.firma")]


def test_procesar_evento_webhook__evento_inexistente(meta):
    assert store.procesar_evento_webhook(999) is False


# -- WEBHOOK_ASYNC -----------------------------------------------------------------------


def test_async__con_celery_eager_da_el_mismo_resultado(
    client, meta, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(WEBHOOK_ASYNC=True)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        respuesta = publicar(client, RAW)

    assert respuesta.status_code == 200
    assert len(callbacks) == 1
    evento = EventoWebhook.objects.get()
    assert (evento.eventos, evento.error) == (1, "")
    assert Mensaje.objects.get().wamid == "wamid.firma"


def test_async__se_encola_al_confirmar_y_responde_sin_procesar(
    client, meta, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(WEBHOOK_ASYNC=True)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        respuesta = publicar(client, RAW)

    assert respuesta.status_code == 200
    assert len(callbacks) == 1
    assert EventoWebhook.objects.get().procesado_en is None
    assert not Mensaje.objects.exists()


def test_async__broker_caido_deja_el_evento_para_beat(
    client, meta, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(WEBHOOK_ASYNC=True)
    with (
        con_broker("redis://127.0.0.1:1/0"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        respuesta = publicar(client, RAW)

    assert respuesta.status_code == 200
    evento = EventoWebhook.objects.get()
    assert evento.procesado_en is None
    EventoWebhook.objects.update(recibido_en=timezone.now() - timedelta(minutes=2))
    tasks._broker.reiniciar()

    assert tasks.reprocesar_webhooks() == 1
    assert Mensaje.objects.get().wamid == "wamid.firma"


# -- admin -------------------------------------------------------------------------------


def test_admin__lista_y_filtra_los_eventos_con_error(admin_client, meta, monkeypatch, client):
    publicar(client, RAW)
    monkeypatch.setattr(apply, "aplicar", lambda eventos, cuenta: 1 / 0)
    publicar(client, a_bytes(envoltura([mensajes(texto("wamid.otro"))])))
    con_error = EventoWebhook.objects.exclude(error="").get()
    changelist = reverse("admin:whatsapp_notify_eventowebhook_changelist")

    todos = admin_client.get(changelist)
    filtrados = admin_client.get(changelist, {"procesamiento": "con_error"})

    assert todos.status_code == 200
    assert len(todos.context["cl"].result_list) == 2
    assert [e.pk for e in filtrados.context["cl"].result_list] == [con_error.pk]
    assert "ZeroDivisionError" in filtrados.content.decode()


def test_admin__reprocesar_aplica_de_nuevo_un_evento_con_error(
    admin_client, meta, monkeypatch, client
):
    monkeypatch.setattr(apply, "aplicar", lambda eventos, cuenta: 1 / 0)
    publicar(client, RAW)
    monkeypatch.undo()
    evento = EventoWebhook.objects.get()
    datos = {"action": "reprocesar", "_selected_action": [str(evento.pk)]}

    respuesta = admin_client.post(reverse("admin:whatsapp_notify_eventowebhook_changelist"), datos)

    assert respuesta.status_code == 302
    evento.refresh_from_db()
    assert (evento.error, evento.eventos) == ("", 1)
    assert Mensaje.objects.get().wamid == "wamid.firma"


def test_admin__el_detalle_muestra_el_cuerpo_y_no_se_edita(admin_client, meta, client):
    publicar(client, RAW)
    evento = EventoWebhook.objects.get()

    detalle = admin_client.get(
        reverse("admin:whatsapp_notify_eventowebhook_change", args=[evento.pk])
    )
    alta = admin_client.get(reverse("admin:whatsapp_notify_eventowebhook_add"))

    assert detalle.status_code == 200
    assert "wamid.firma" in detalle.content.decode()
    assert alta.status_code == 403


@pytest.mark.parametrize(
    ("permisos", "ofrecida"),
    [(["view_eventowebhook"], False), (["view_eventowebhook", "change_eventowebhook"], True)],
    ids=["solo-ver", "puede-cambiar"],
)
def test_admin__reprocesar_solo_con_permiso_de_cambio(client, meta, permisos, ofrecida):
    publicar(client, RAW)
    usuario = User.objects.create_user("operadora", is_staff=True)
    usuario.user_permissions.add(*Permission.objects.filter(codename__in=permisos))
    client.force_login(usuario)

    respuesta = client.get(reverse("admin:whatsapp_notify_eventowebhook_changelist"))

    formulario = respuesta.context["action_form"]
    # Without any action the changelist has no action form at all.
    opciones = [nombre for nombre, _e in formulario.fields["action"].choices] if formulario else []
    assert respuesta.status_code == 200
    assert ("reprocesar" in opciones) is ofrecida


def test_post__el_cuerpo_sigue_legible_para_quien_lo_lea_despues(client, meta):
    # The view reads the stream itself; middleware or error reports reading request.body
    # afterwards must get the same bytes, not RawPostDataException (a 500).
    raw = a_bytes(EJEMPLOS["Text Message"])

    respuesta = publicar(client, raw)

    assert respuesta.status_code == 200
    assert respuesta.wsgi_request.body == raw


def test_post__un_caracter_nul_no_pierde_el_mensaje(client, meta):
    # PostgreSQL text and jsonb refuse NUL: it is dropped while decoding.
    cuerpo = json.loads(json.dumps(EJEMPLOS["Text Message"]))
    valor = cuerpo["entry"][0]["changes"][0]["value"]
    valor["messages"][0]["text"]["body"] = "Hola\u0000 mundo"

    assert publicar(client, cuerpo).status_code == 200

    mensaje = Mensaje.objects.get()
    assert mensaje.texto == "Hola mundo"
    assert "\x00" not in json.dumps(mensaje.contenido)


def con_escapes(cuerpo: dict) -> bytes:
    """``cuerpo`` as ASCII JSON: a lone surrogate travels as its ``\\udXXX`` escape."""
    return json.dumps(cuerpo).encode("ascii")


def test_post__un_surrogate_suelto_en_el_perfil_no_pierde_el_mensaje_ni_la_baja(client, meta):
    # A valid UTF-8 body may escape half a surrogate pair; PostgreSQL cannot store it.
    cuerpo = envoltura([mensajes(texto("wamid.sur1", "BAJA"), nombre="Ana \ud83d")])

    assert publicar(client, con_escapes(cuerpo)).status_code == 200

    mensaje = Mensaje.objects.get()
    assert (mensaje.nombre, mensaje.texto) == ("Ana \ufffd", "BAJA")
    consentimiento = ConsentimientoCliente.objects.get(categoria=Categoria.UTILITY)
    assert consentimiento.estado == EstadoConsentimiento.REVOCADO
    assert EventoWebhook.objects.get().error == ""


def test_post__un_surrogate_suelto_en_el_texto_queda_como_caracter_de_reemplazo(client, meta):
    cuerpo = envoltura([mensajes(texto("wamid.sur2", "hola \udc00 y \ud83d\ude00"))])

    assert publicar(client, con_escapes(cuerpo)).status_code == 200

    # A whole pair is the emoji it encodes; only the lone half is replaced.
    assert Mensaje.objects.get().texto == "hola \ufffd y \U0001f600"
    assert "\\udc00" not in json.dumps(Mensaje.objects.get().contenido)


def test_post__un_surrogate_suelto_en_el_error_de_un_estado_no_pierde_el_fallo(client, meta):
    envio = envio_enviado("wamid.surst")
    item = estado("wamid.surst", "failed", 1750000000)
    item["errors"] = [{"code": 131026, "title": "x\ud800"}]

    assert publicar(client, con_escapes(envoltura([cambio(statuses=[item])]))).status_code == 200

    envio.refresh_from_db()
    assert (envio.estado, envio.error_codigo) == (EstadoEnvio.FALLIDO, 131026)
    assert envio.error_titulo == "x\ufffd"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(json.dumps(EJEMPLOS["Text Message"]).encode(), id="limpio"),
        pytest.param(json.dumps({"t": "Peña ☕ 😀"}, ensure_ascii=False).encode(), id="utf8"),
        pytest.param(json.dumps({"t": "Peña 😀"}).encode(), id="par-escapado"),
        pytest.param(b'{"t": "a\\\\u0000b"}', id="barra-escapada"),
        pytest.param(rb'{"t": ["x\u0000", {"k\ud800": "\uDC00"}]}', id="sucio"),
        pytest.param('{"t": "\ud83d y \u00f1"}', id="texto-con-surrogate"),
    ],
)
def test_cuerpo__sin_nada_que_limpiar_decodifica_igual_que_limpiando(raw):
    # A body without an escape that could hold NUL or a surrogate skips the cleaning hook.
    from whatsapp_notify.backends.meta import webhooks

    limpiado = json.loads(raw, object_hook=webhooks._texto_almacenable_objeto)

    assert webhooks.cuerpo(raw) == limpiado


def test_error_pasajero_de_la_base__beat_vuelve_a_aplicar_el_cuerpo(client, meta, monkeypatch):
    # A deadlock or a lost connection passes: the body stays unprocessed for Beat.
    original = apply._aplicar_mensaje

    def bloqueado(*args, **kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(apply, "_aplicar_mensaje", bloqueado)
    assert publicar(client, EJEMPLOS["Text Message"]).status_code == 200
    evento = EventoWebhook.objects.get()
    assert (evento.procesado_en, Mensaje.objects.count()) == (None, 0)
    assert "1 de 1" in evento.error

    monkeypatch.setattr(apply, "_aplicar_mensaje", original)
    assert store.eventos_por_reprocesar() == []  # not before REPROCESAR_TRAS
    hace_rato = timezone.now() - store.REPROCESAR_TRAS - timedelta(seconds=1)
    EventoWebhook.objects.filter(pk=evento.pk).update(recibido_en=hace_rato)
    assert tasks.reprocesar_webhooks() == 1

    evento.refresh_from_db()
    assert (evento.procesado_en is not None, evento.error) == (True, "")
    assert Mensaje.objects.count() == 1


def test_post__ids_y_codigos_mas_grandes_que_sus_columnas_no_son_un_error(client, meta, senales):
    # Same behaviour on SQLite and PostgreSQL: nothing raises, a redelivery stays one row.
    largo = "wamid." + "Z" * 250
    envio = envio_enviado("wamid.saliente")
    fallo = estado("wamid.saliente", "failed", 1750000100)
    fallo["errors"] = [{"code": 99_999_999_999, "title": "Nuevo", "error_data": {"details": "?"}}]
    primero = envoltura([mensajes(texto(largo, segundos=1750000000))])
    segundo = envoltura([mensajes(texto(largo, segundos=1750000000)), cambio(statuses=[fallo])])

    respuestas = [publicar(client, primero), publicar(client, segundo)]

    assert [r.status_code for r in respuestas] == [200, 200]
    assert list(EventoWebhook.objects.values_list("error", flat=True)) == ["", ""]
    assert Mensaje.objects.count() == 1
    envio.refresh_from_db()
    assert (envio.estado, envio.error_codigo) == (EstadoEnvio.FALLIDO, None)
    assert envio.error_detalle.startswith("(#99999999999)")


# -- timestamps no clock could have written ---------------------------------------------


def recibido() -> datetime:
    return EventoWebhook.objects.get().recibido_en


@pytest.mark.parametrize(
    "segundos",
    [
        pytest.param(-62135596800, id="anio-1"),
        pytest.param(-2208988800, id="anio-1900"),
        pytest.param(253402300799, id="anio-9999"),
    ],
)
def test_estado__marca_de_tiempo_imposible_usa_la_hora_de_recepcion(
    client, meta, admin_client, segundos
):
    envio = envio_enviado("wamid.t")
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(enviado_en=None)

    cuerpo = envoltura([cambio(statuses=[estado("wamid.t", "delivered", segundos)])])
    assert publicar(client, cuerpo).status_code == 200

    envio.refresh_from_db()
    assert (envio.estado, envio.entregado_en) == (EstadoEnvio.ENTREGADO, recibido())
    pagina = admin_client.get(reverse("admin:whatsapp_notify_enviowhatsapp_changelist"))
    assert pagina.status_code == 200
    assert (
        admin_client.get(f"/admin/whatsapp_notify/enviowhatsapp/{envio.pk}/change/").status_code
        == 200
    )


@pytest.mark.parametrize(
    "segundos",
    [pytest.param(-62135596800, id="anio-1"), pytest.param(253402300799, id="anio-9999")],
)
def test_mensaje__marca_de_tiempo_imposible_usa_la_hora_de_recepcion(
    client, meta, admin_client, segundos
):
    assert (
        publicar(client, envoltura([mensajes(texto("wamid.in", segundos=segundos))])).status_code
        == 200
    )

    mensaje = Mensaje.objects.get()
    assert mensaje.fecha == recibido()
    pagina = admin_client.get(reverse("admin:whatsapp_notify_mensaje_changelist"))
    assert pagina.status_code == 200
    assert (
        admin_client.get(f"/admin/whatsapp_notify/mensaje/{mensaje.pk}/change/").status_code == 200
    )


def test_mensaje__fechado_en_el_futuro_no_alarga_la_ventana_de_24_horas(client, meta):
    # The customer's clock says 2099: the window opens when we received it, not then.
    futuro = int(datetime(2099, 6, 1, tzinfo=UTC).timestamp())
    publicar(client, envoltura([mensajes(texto("wamid.fut", segundos=futuro))]))

    assert Mensaje.objects.get().fecha == recibido()
    despues = recibido() + timedelta(hours=25)
    assert ventana_abierta("+" + CLIENTE, despues) is False


def test_estado__fechado_en_el_futuro_queda_en_la_hora_de_recepcion(client, meta):
    envio = envio_enviado("wamid.fut")
    adelantado = int((timezone.now() + timedelta(hours=3)).timestamp())

    cuerpo = envoltura([cambio(statuses=[estado("wamid.fut", "read", adelantado)])])
    publicar(client, cuerpo)

    envio.refresh_from_db()
    assert (envio.leido_en, envio.entregado_en) == (recibido(), recibido())


def test_async__por_omision_con_broker_el_cuerpo_va_a_un_worker(
    client, meta, django_capture_on_commit_callbacks, redis_url
):
    # The default (None): a worker applies it whenever Celery has a broker; the request
    # only verifies, stores and enqueues.
    assert get_settings().WEBHOOK_ASYNC is None
    with con_broker(redis_url), django_capture_on_commit_callbacks(execute=True):
        respuesta = publicar(client, RAW)

    assert respuesta.status_code == 200
    assert EventoWebhook.objects.get().procesado_en is None
    assert not Mensaje.objects.exists()


def test_async__por_omision_con_celery_eager_se_aplica_en_la_peticion(client, meta):
    assert publicar(client, RAW).status_code == 200

    assert EventoWebhook.objects.get().procesado_en is not None
    assert Mensaje.objects.get().wamid == "wamid.firma"


@pytest.mark.django_db(transaction=True)
def test_guardar_evento__fuera_de_una_transaccion_un_insert_y_el_repetido_devuelve_el_primero(
    meta,
):
    # The view runs in autocommit (no ATOMIC_REQUESTS): a new body is one INSERT, and a
    # redelivered one finds the first after the conflict, with nothing left broken.
    with CaptureQueriesContext(connection) as consultas:
        primero, nuevo = store.guardar_evento("default", RAW)
    assert nuevo is True
    assert [q["sql"].split()[0] for q in consultas.captured_queries] == ["INSERT"]

    repetido, nuevo = store.guardar_evento("default", RAW)

    assert (repetido.pk, nuevo) == (primero.pk, False)
    assert EventoWebhook.objects.count() == 1
