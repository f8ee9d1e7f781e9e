"""MetaBackend's webhook side: handshake, signature on the raw bytes, bodies read into events.

Bodies are Meta's own examples (``paths./whatsapp/webhooks`` of the reference OpenAPI
description) and realistic payloads under ``tests/payloads/meta/webhooks``. Media downloads
run against a mocked Graph API (``responses``: only the transport is replaced).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from django.core.exceptions import PermissionDenied
from django.http import QueryDict

from whatsapp_notify.backends.base import BaseBackend, WebhookRequest
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.backends.meta import webhooks as meta_webhooks
from whatsapp_notify.backends.meta.errors import describe_error
from whatsapp_notify.events import (
    BAJA_MARKETING,
    FAILED,
    SENT,
    ErrorProveedor,
    EventoDesconocido,
    EventoError,
    EventoEstado,
    EventoMensaje,
    EventoPreferencia,
    Media,
)
from whatsapp_notify.exceptions import (
    AuthError,
    ConfigurationError,
    PermanentError,
    TransientError,
    WebhookMalformado,
    WebhookRechazado,
    WhatsAppError,
)
from whatsapp_notify.sandbox.schema import webhook_examples

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "meta" / "webhooks"
PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAGtestTOKENnever-in-logs-0123456789"
APP_SECRET = "7f3c9a0e5b2d4c6e8a1f3b5d7c9e0a2b"
SECRETO_NUEVO = "c0ffee00c0ffee00c0ffee00c0ffee00"
VERIFY_TOKEN = "taller-verifica-2026"
GRAPH = "https://graph.facebook.com/v25.0"
LOOKASIDE = "https://lookaside.fbsbx.com/whatsapp_business/attachments/"
ANA = "5215512345678"
LUIS = "5491123456789"
W1 = "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEjdBQkQ0RjYyQzlGRTNBMEYzMwA="
W2 = "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEkIxQzk4NDE1RUE2RjBFNzlEOQA="
W3 = "wamid.HBgNNTQ5MTEyMzQ1Njc4ORUCABEYEjNGMkE5QjgxQzA3RDRFNjVBMQA="
# Prefixes of the inbound wamids in lote.json (Ana's, then Luis's).
WAMID_LOTE = "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQj"
WAMID_LOTE_AR = "wamid.HBgNNTQ5MTEyMzQ1Njc4ORUCABIYFjNFQj"


def raw(nombre: str) -> bytes:
    """A payload file's bytes exactly as stored (UTF-8, accents and emoji unescaped)."""
    return (PAYLOADS / nombre).read_bytes()


def firmar(cuerpo: bytes, secreto: str = APP_SECRET) -> dict[str, str]:
    firma = hmac.new(secreto.encode(), cuerpo, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={firma}", "Content-Type": "application/json"}


def ts(segundos: int) -> datetime:
    return datetime.fromtimestamp(segundos, tz=UTC)


def campos(evento: Any, esperado: dict[str, Any]) -> dict[str, Any]:
    return {clave: getattr(evento, clave) for clave in esperado}


@pytest.fixture
def backend():
    instance = MetaBackend(
        "default",
        PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        ACCESS_TOKEN=TOKEN,
        APP_SECRET=APP_SECRET,
        VERIFY_TOKEN=VERIFY_TOKEN,
    )
    yield instance
    instance.close()


@pytest.fixture
def graph():
    with responses.RequestsMock() as mock:
        yield mock


# -- Meta's official examples ------------------------------------------------------------

SHEENA = {"de": "16505551234", "nombre": "Sheena Nelson", "user_id": ""}
VACIO = {"texto": "", "respuesta_id": "", "contexto_wamid": "", "media": None, "errores": ()}
MENSAJES_OFICIALES = {
    "Text Message": {"tipo": "text", "texto": "Does it come in another color?"},
    "Text Message with Context (Product Inquiry)": {
        "tipo": "text",
        "texto": "Is this still available?",
        "contexto_wamid": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA",
    },
    "Text Message from Click to WhatsApp Ad": {
        "tipo": "text",
        "texto": "Hello! Can I get more info on this?",
    },
    "Reaction Message": {
        "tipo": "reaction",
        "texto": "👍",
        "contexto_wamid": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA",
    },
    "Image Message": {
        "tipo": "image",
        "texto": "Taj Mahal",
        "media": Media(
            id="1003383421387256",
            mime="image/jpeg",
            sha256="SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
            caption="Taj Mahal",
        ),
    },
    "Location Message": {
        "tipo": "location",
        "texto": "Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301",
    },
    "Contact Sharing Message": {"tipo": "contacts", "texto": "Lucía Gómez"},
    "Unsupported Message": {
        "tipo": "unsupported",
        "errores": (
            ErrorProveedor(
                code=131051,
                title="Message type unknown",
                message="Message type unknown",
                details="Message type is currently not supported.",
                legible=describe_error(131051, "Message type is currently not supported."),
            ),
        ),
    },
    "Button Message": {
        "tipo": "button",
        "texto": "Unsubscribe",
        "respuesta_id": "Unsubscribe",
        "contexto_wamid": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA",
    },
    "Interactive List Reply Message": {
        "tipo": "interactive",
        "texto": "Priority Mail Express",
        "respuesta_id": "priority_express",
        "contexto_wamid": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGMzEyNzhENTZDMzNGODlDRDgA",
    },
    "Interactive Button Reply Message": {
        "tipo": "interactive",
        "texto": "Cancel",
        "respuesta_id": "cancel-button",
        "contexto_wamid": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA",
    },
    "Order Message": {
        "tipo": "order",
        "texto": "2 × di9ozbzfi4 (30 USD); 1 × nqryix03ez (25 USD)",
    },
    # System messages come without contacts: no profile name.
    "System Message": {
        "tipo": "system",
        "nombre": "",
        "texto": "User Sheena Nelson changed from 16505551234 to 12195555358",
    },
}
GRUPOS_OFICIALES = {
    "Group Create Message": "group_lifecycle_update",
    "Group Settings Update": "group_settings_update",
    "Group Remove Participants": "group_participants_update",
}


def test_official_examples__every_one_has_an_expectation():
    assert set(webhook_examples()) == set(MENSAJES_OFICIALES) | set(GRUPOS_OFICIALES)
    assert len(webhook_examples()) == 16


@pytest.mark.parametrize("nombre", list(MENSAJES_OFICIALES), ids=list(MENSAJES_OFICIALES))
def test_parse_webhook__official_message_example_gives_one_evento_mensaje(backend, nombre):
    cuerpo = webhook_examples()[nombre]
    mensaje = cuerpo["entry"][0]["changes"][0]["value"]["messages"][0]
    esperado = {**SHEENA, **VACIO, **MENSAJES_OFICIALES[nombre]}

    eventos = backend.parse_webhook(WebhookRequest(json.dumps(cuerpo, ensure_ascii=False).encode()))

    assert [type(evento) for evento in eventos] == [EventoMensaje]
    assert campos(eventos[0], esperado) == esperado
    assert eventos[0].wamid == mensaje["id"]
    assert eventos[0].fecha == ts(int(mensaje["timestamp"]))
    assert eventos[0].numero_id == PHONE_NUMBER_ID
    assert eventos[0].raw == mensaje


@pytest.mark.parametrize("nombre", list(GRUPOS_OFICIALES), ids=list(GRUPOS_OFICIALES))
def test_parse_webhook__official_group_example_is_kept_as_unknown_field(backend, nombre):
    cuerpo = webhook_examples()[nombre]

    eventos = backend.parse_webhook(WebhookRequest(json.dumps(cuerpo).encode()))

    assert [type(evento) for evento in eventos] == [EventoDesconocido]
    assert eventos[0].campo == GRUPOS_OFICIALES[nombre]
    assert eventos[0].motivo
    assert eventos[0].raw == cuerpo["entry"][0]["changes"][0]
    assert eventos[0].numero_id == PHONE_NUMBER_ID


# -- statuses ------------------------------------------------------------------------------

SIN_PRECIO = {
    "conversacion_id": "",
    "conversacion_expira": None,
    "conversacion_origen": "",
    "facturable": None,
    "precio_modelo": "",
    "precio_tipo": "",
    "precio_categoria": "",
}
PRECIO_UTILIDAD = {
    "facturable": True,
    "precio_modelo": "PMP",
    "precio_tipo": "regular",
    "precio_categoria": "utility",
}
CONVERSACION = "0f2b4c6d8e1a3b5c7d9e0f1a2b3c4d5e"
ESTADOS = {
    "estado_sent.json": {
        "wamid": W1,
        "estado": SENT,
        "fecha": ts(1767301200),
        "referencia": "42",
        "errores": (),
        "conversacion_id": CONVERSACION,
        "conversacion_expira": ts(1767387600),
        "conversacion_origen": "utility",
        **PRECIO_UTILIDAD,
    },
    "estado_delivered.json": {
        "estado": "delivered",
        "fecha": ts(1767301203),
        "referencia": "42",
        "conversacion_id": CONVERSACION,
        "conversacion_expira": None,  # only the sent status carries the expiry
        "conversacion_origen": "utility",
        **PRECIO_UTILIDAD,
    },
    "estado_read.json": {"estado": "read", "fecha": ts(1767301290), **SIN_PRECIO},
    "estado_failed_131026.json": {
        "wamid": W2,
        "estado": FAILED,
        "errores": (
            ErrorProveedor(
                code=131026,
                title="Message undeliverable",
                message="Message undeliverable",
                details="Message Undeliverable.",
                legible=describe_error(131026, "Message Undeliverable."),
            ),
        ),
        **SIN_PRECIO,
    },
    "estado_sin_referencia.json": {
        "estado": "delivered",
        "referencia": "",
        "facturable": False,
        "precio_tipo": "free_customer_service",
        "precio_categoria": "service",
    },
}


@pytest.mark.parametrize("archivo", list(ESTADOS), ids=list(ESTADOS))
def test_parse_webhook__status_keeps_every_field(backend, archivo):
    cuerpo = raw(archivo)
    item = json.loads(cuerpo)["entry"][0]["changes"][0]["value"]["statuses"][0]

    eventos = backend.parse_webhook(WebhookRequest(cuerpo))

    assert [type(evento) for evento in eventos] == [EventoEstado]
    assert campos(eventos[0], ESTADOS[archivo]) == ESTADOS[archivo]
    assert eventos[0].destinatario == ANA
    assert eventos[0].numero_id == PHONE_NUMBER_ID
    assert eventos[0].raw == item


def test_parse_webhook__failed_131050_marketing_stop_keeps_code_and_details(backend):
    (evento,) = backend.parse_webhook(WebhookRequest(raw("estado_failed_131050.json")))

    assert evento.estado == FAILED
    assert evento.referencia == "77"
    assert [error.code for error in evento.errores] == [131050]
    assert "stop receiving marketing messages" in evento.errores[0].details
    assert evento.errores[0].significado == BAJA_MARKETING
    assert evento.errores[0].legible.startswith("(#131050) El cliente dejó de recibir")


def test_parse_webhook__status_with_odd_types_degrades_field_by_field(backend):
    cuerpo = json.loads(raw("estado_sent.json"))
    status = cuerpo["entry"][0]["changes"][0]["value"]["statuses"][0]
    status.update(timestamp="ayer", pricing="gratis", conversation=["x"], errors={"code": 1})

    (evento,) = backend.parse_webhook(WebhookRequest(json.dumps(cuerpo).encode()))

    assert isinstance(evento, EventoEstado)
    assert (evento.wamid, evento.estado, evento.referencia) == (W1, SENT, "42")
    assert campos(evento, SIN_PRECIO) == SIN_PRECIO
    assert (evento.fecha, evento.errores) == (None, ())


@pytest.mark.parametrize(
    ("timestamp", "fecha"),
    [
        pytest.param("-62135596800", None, id="year-1"),
        pytest.param("1230767999", None, id="before-2009"),
        pytest.param("1230768000", ts(1230768000), id="2009"),
        pytest.param("4102444799", ts(4102444799), id="end-of-2099"),
        pytest.param("4102444800", None, id="2100"),
        pytest.param("253402300799", None, id="year-9999"),
    ],
)
def test_parse_webhook__timestamp_no_clock_could_write_is_absent(backend, timestamp, fecha):
    cuerpo = json.loads(raw("estado_sent.json"))
    status = cuerpo["entry"][0]["changes"][0]["value"]["statuses"][0]
    status.update(timestamp=timestamp)

    (evento,) = backend.parse_webhook(WebhookRequest(json.dumps(cuerpo).encode()))

    assert evento.fecha == fecha


def test_parse_webhook__status_of_a_future_kind_is_kept_as_given(backend):
    cuerpo = json.loads(raw("estado_read.json"))
    cuerpo["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "played"

    (evento,) = backend.parse_webhook(WebhookRequest(json.dumps(cuerpo).encode()))

    assert (type(evento), evento.estado) == (EventoEstado, "played")


# -- inbound messages ------------------------------------------------------------------------

MENSAJES = {
    "mensaje_respuesta.json": {
        "tipo": "text",
        "texto": "¿A qué hora paso por él? 🙏",
        "contexto_wamid": W1,
    },
    "mensaje_documento.json": {
        "tipo": "document",
        "texto": "Factura de marzo",
        "media": Media(
            id="1204578932145678",
            mime="application/pdf",
            sha256="qZ1mPz2y0o3X6hFjBqM9sT8bKc4d1vQm3eA7nL5wR0Y=",
            nombre="factura_marzo.pdf",
            caption="Factura de marzo",
            url=f"{LOOKASIDE}?mid=1204578932145678&ext=1767302200&hash=ARlq3x",
        ),
    },
    "mensaje_boton_plantilla.json": {
        "tipo": "button",
        "texto": "Confirmar",
        "respuesta_id": "CONFIRMAR_CITA:17",
        "contexto_wamid": W2,
    },
    "mensaje_audio_voz.json": {
        "tipo": "audio",
        "media": Media(
            id="1887345519023311",
            mime="audio/ogg; codecs=opus",
            sha256="b0Ud3xN4nqX7tZ2oK8yP1wE6rL9mC5sJ3hF0aV7gT4I=",
        ),
    },
    "mensaje_sticker.json": {
        "tipo": "sticker",
        "media": Media(
            id="730984512267301",
            mime="image/webp",
            sha256="T7n2wK9pQ4xZ1cV8mB3sL6dF0hJ5gR2yU9oE4aI7tN0=",
        ),
    },
    "mensaje_video.json": {
        "tipo": "video",
        "texto": "Así suena el motor",
        "media": Media(
            id="998877665544332",
            mime="video/mp4",
            sha256="mN4bV7cX1zL8kJ2hG5fD9sA3qW6eR0tY4uI7oP1aS2E=",
            caption="Así suena el motor",
        ),
    },
    # A Flow's answer: the text the user saw, and the flow_token chosen when sending it.
    "mensaje_flow.json": {
        "tipo": "interactive",
        "texto": "Sent",
        "respuesta_id": "cita:17",
        "contexto_wamid": W2,
    },
    "mensaje_unknown.json": {
        "tipo": "unknown",
        "errores": (
            ErrorProveedor(
                code=131051,
                title="Message type unknown",
                message="Message type unknown",
                details="Message type is currently not supported.",
                legible=describe_error(131051, "Message type is currently not supported."),
            ),
        ),
    },
    # A type this version does not know is still a message from the customer: kept whole.
    "mensaje_tipo_nuevo.json": {"tipo": "request_welcome"},
}


@pytest.mark.parametrize("archivo", list(MENSAJES), ids=list(MENSAJES))
def test_parse_webhook__message_gives_its_fields(backend, archivo):
    cuerpo = raw(archivo)
    item = json.loads(cuerpo)["entry"][0]["changes"][0]["value"]["messages"][0]
    esperado = {"de": ANA, "nombre": "Ana Pérez", **VACIO, **MENSAJES[archivo]}

    eventos = backend.parse_webhook(WebhookRequest(cuerpo))

    assert [type(evento) for evento in eventos] == [EventoMensaje]
    assert campos(eventos[0], esperado) == esperado
    assert (eventos[0].wamid, eventos[0].fecha) == (item["id"], ts(int(item["timestamp"])))
    assert eventos[0].raw == item


def test_parse_webhook__location_without_a_place_reads_as_coordinates(backend):
    cuerpo = copy.deepcopy(webhook_examples()["Location Message"])
    ubicacion = {"latitude": 19.4326077, "longitude": -99.133208}
    cuerpo["entry"][0]["changes"][0]["value"]["messages"][0]["location"] = ubicacion

    (evento,) = backend.parse_webhook(WebhookRequest(json.dumps(cuerpo).encode()))

    assert evento.texto == "19.4326077,-99.133208"
    assert evento.raw["location"] == ubicacion


def test_parse_webhook__sender_matched_to_its_own_contact_in_a_batch(backend):
    eventos = backend.parse_webhook(WebhookRequest(raw("lote.json")))

    remitentes = {e.de: (e.nombre, e.user_id) for e in eventos if isinstance(e, EventoMensaje)}
    assert remitentes == {
        ANA: ("Ana Pérez", ""),
        LUIS: ("Luis Ñúñez 🚗", "AR.1502576394655843"),
    }


def test_parse_webhook__username_user_without_from_takes_the_lone_contact(backend):
    cuerpo = json.loads(raw("mensaje_respuesta.json"))
    valor = cuerpo["entry"][0]["changes"][0]["value"]
    valor["contacts"] = [{"profile": {"name": "ana.taller"}, "user_id": "MX.998877665544"}]
    del valor["messages"][0]["from"]

    (evento,) = backend.parse_webhook(WebhookRequest(json.dumps(cuerpo).encode()))

    assert (evento.de, evento.nombre, evento.user_id) == ("", "ana.taller", "MX.998877665544")


# -- preferences, account errors, unknown fields --------------------------------------------


def test_parse_webhook__user_preferences_give_one_event_per_item(backend):
    eventos = backend.parse_webhook(WebhookRequest(raw("user_preferences.json")))

    assert [type(evento) for evento in eventos] == [EventoPreferencia, EventoPreferencia]
    leidos = [(e.wa_id, e.categoria, e.valor, e.fecha, e.numero_id) for e in eventos]
    assert leidos == [
        (ANA, "marketing_messages", "stop", ts(1767301500), PHONE_NUMBER_ID),
        (LUIS, "marketing_messages", "resume", ts(1767301560), PHONE_NUMBER_ID),
    ]
    assert eventos[0].raw["detail"] == "User requested to stop marketing messages"


def test_parse_webhook__account_level_errors_give_evento_error(backend):
    (evento,) = backend.parse_webhook(WebhookRequest(raw("errores_cuenta.json")))

    assert isinstance(evento, EventoError)
    assert evento.numero_id == PHONE_NUMBER_ID
    assert [(e.code, e.title) for e in evento.errores] == [(130429, "Rate limit hit")]
    assert evento.errores[0].details.startswith("Message failed to send")


def test_parse_webhook__unknown_field_is_kept_whole(backend):
    cuerpo = json.loads(raw("account_update.json"))

    (evento,) = backend.parse_webhook(WebhookRequest(raw("account_update.json")))

    assert isinstance(evento, EventoDesconocido)
    assert (evento.campo, evento.motivo) == ("account_update", "campo no soportado")
    assert evento.raw == cuerpo["entry"][0]["changes"][0]


def test_parse_webhook__batch_yields_every_event_in_body_order(backend):
    eventos = backend.parse_webhook(WebhookRequest(raw("lote.json")))

    resumen = [
        (type(e).__name__, getattr(e, "wamid", "") or getattr(e, "campo", ""), e.numero_id)
        for e in eventos
    ]
    otro = "118273645501928"
    assert resumen == [
        ("EventoEstado", W1, PHONE_NUMBER_ID),
        ("EventoEstado", W2, PHONE_NUMBER_ID),
        ("EventoMensaje", f"{WAMID_LOTE}AwMUFBQUFBQUFBQUFBQUFBQUEA", PHONE_NUMBER_ID),
        ("EventoMensaje", f"{WAMID_LOTE_AR}AwMkJCQkJCQkJCQkJCQkJCQkIA", PHONE_NUMBER_ID),
        ("EventoEstado", W3, otro),
        ("EventoMensaje", f"{WAMID_LOTE_AR}AwM0NDQ0NDQ0NDQ0NDQ0NDQ0MA", otro),
        ("EventoPreferencia", "", otro),
        ("EventoDesconocido", "account_update", ""),
    ]
    assert [e.referencia for e in eventos if isinstance(e, EventoEstado)] == ["42", "43", ""]
    assert eventos[5].respuesta_id == "SI"


# -- odd shapes: never raise, degrade to EventoDesconocido -----------------------------------


def envolver(valor: Any, field: str = "messages") -> dict[str, Any]:
    cambio = {"value": valor, "field": field}
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [cambio]}]}


METADATA = {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID}
FORMAS_RARAS = {
    "otro_objeto": ({"object": "page", "entry": []}, "object"),
    "sin_entry": ({"object": "whatsapp_business_account"}, "entry"),
    "entry_no_lista": ({"object": "whatsapp_business_account", "entry": {"id": "1"}}, "entry"),
    "entrada_texto": ({"object": "whatsapp_business_account", "entry": ["x"]}, "entry"),
    "changes_no_lista": (
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": "x"}]},
        "entry",
    ),
    "value_lista": (envolver([1, 2]), "changes"),
    "field_no_texto": (envolver({"metadata": METADATA}, field=["messages"]), ""),
    "solo_metadata": (envolver({"metadata": METADATA}), "messages"),
    "statuses_texto": (envolver({"metadata": METADATA, "statuses": "sent"}), "statuses"),
    "status_numero": (envolver({"metadata": METADATA, "statuses": [5]}), "statuses"),
    "status_sin_id": (envolver({"statuses": [{"status": "sent"}]}), "statuses"),
    "mensaje_sin_id": (envolver({"messages": [{"type": "text", "from": ANA}]}), "messages"),
    "text_no_objeto": (
        envolver({"messages": [{"id": "wamid.1", "from": ANA, "type": "text", "text": "hola"}]}),
        "messages",
    ),
    "contacts_no_lista": (
        envolver({"messages": [{"id": "wamid.2", "type": "contacts", "contacts": {}}]}),
        "messages",
    ),
    "clave_nueva": (envolver({"metadata": METADATA, "calls": [{"id": "c1"}]}), "calls"),
    "preferencia_sin_valor": (
        envolver({"user_preferences": [{"wa_id": ANA}]}, field="user_preferences"),
        "user_preferences",
    ),
    "preferencias_no_lista": (
        envolver({"user_preferences": {"wa_id": ANA}}, field="user_preferences"),
        "user_preferences",
    ),
    "errors_sin_objetos": (envolver({"errors": ["rate limit"]}), "errors"),
}


@pytest.mark.parametrize(("cuerpo", "campo"), list(FORMAS_RARAS.values()), ids=list(FORMAS_RARAS))
def test_parse_webhook__odd_shape_becomes_evento_desconocido(backend, cuerpo, campo):
    eventos = backend.parse_webhook(WebhookRequest(json.dumps(cuerpo).encode()))

    assert [type(evento) for evento in eventos] == [EventoDesconocido]
    assert (eventos[0].campo, bool(eventos[0].motivo)) == (campo, True)
    assert isinstance(eventos[0].raw, dict)
    assert eventos[0].raw


def test_parse_webhook__one_odd_item_does_not_lose_its_neighbours(backend):
    estado = {"id": W1, "status": "sent", "timestamp": "1767301200", "recipient_id": ANA}
    valor = {"metadata": METADATA, "statuses": [estado, 5, {**estado, "id": W2}]}

    eventos = backend.parse_webhook(WebhookRequest(json.dumps(envolver(valor)).encode()))

    assert [type(evento) for evento in eventos] == [EventoEstado, EventoDesconocido, EventoEstado]
    assert [eventos[0].wamid, eventos[2].wamid] == [W1, W2]
    assert eventos[1].raw == {"statuses": 5}


def test_parse_webhook__a_reader_that_fails_degrades_that_item_only(backend, monkeypatch):
    def falla(datos):
        raise KeyError("body")

    monkeypatch.setitem(meta_webhooks.TIPOS, "text", (dict, falla))
    cuerpo = json.loads(raw("lote.json"))

    eventos = backend.parse_webhook(WebhookRequest(json.dumps(cuerpo).encode()))

    texto = cuerpo["entry"][0]["changes"][1]["value"]["messages"][0]
    assert len(eventos) == 8
    assert (type(eventos[2]), eventos[2].campo, eventos[2].raw) == (
        EventoDesconocido,
        "messages",
        texto,
    )
    assert eventos[2].motivo == "forma no reconocida (KeyError)"
    assert isinstance(eventos[3], EventoMensaje)


def test_parse_webhook__empty_lists_give_no_events(backend):
    valor = {"metadata": METADATA, "statuses": [], "messages": [], "errors": []}

    assert backend.parse_webhook(WebhookRequest(json.dumps(envolver(valor)).encode())) == []


@pytest.mark.parametrize(
    "cuerpo",
    [b"", b"no es json", b"[1, 2]", b'"texto"', b"42", b"null", b"\xff\xfe{\x00", b'{"entry": ['],
    ids=["vacio", "texto", "lista", "cadena", "numero", "null", "bytes_invalidos", "truncado"],
)
def test_parse_webhook__body_not_a_json_object_is_malformed(backend, cuerpo):
    with pytest.raises(WebhookMalformado) as error:
        backend.parse_webhook(WebhookRequest(cuerpo))

    assert isinstance(error.value, ValueError)
    assert isinstance(error.value, WhatsAppError)


# -- signature -------------------------------------------------------------------------------


def test_verify_request__known_vector_is_accepted(backend):
    cuerpo = b'{"object":"whatsapp_business_account","entry":[]}'
    firma = "sha256=b69ec028e1495cf6958fd852d716767256f11c62e54a9a581821a6c269fb51a4"

    assert backend.verify_request(WebhookRequest(cuerpo, {"X-Hub-Signature-256": firma})) is None


def test_verify_request__valid_body_with_accents_and_emoji_then_parses(backend):
    cuerpo = raw("mensaje_respuesta.json")
    assert "🙏".encode() in cuerpo

    backend.verify_request(WebhookRequest(cuerpo, firmar(cuerpo)))

    assert backend.parse_webhook(WebhookRequest(cuerpo))[0].texto == "¿A qué hora paso por él? 🙏"


COMPACTO = {"separators": (",", ":")}


@pytest.mark.parametrize(
    ("como_llega", "como_se_reescribe"),
    [
        ({**COMPACTO, "ensure_ascii": True}, {**COMPACTO, "ensure_ascii": False}),
        ({**COMPACTO, "ensure_ascii": False}, {**COMPACTO, "ensure_ascii": True}),
        ({**COMPACTO, "ensure_ascii": False}, {"ensure_ascii": False}),
    ],
    ids=["escapado_a_utf8", "utf8_a_escapado", "compacto_a_espaciado"],
)
def test_verify_request__reserialised_json_does_not_validate(
    backend, como_llega, como_se_reescribe
):
    datos = json.loads(raw("mensaje_respuesta.json"))
    cuerpo = json.dumps(datos, **como_llega).encode()
    reescrito = json.dumps(json.loads(cuerpo), **como_se_reescribe).encode()
    assert reescrito != cuerpo
    backend.verify_request(
        WebhookRequest(cuerpo, firmar(cuerpo))
    )  # the bytes as they arrived are valid

    with pytest.raises(WebhookRechazado, match="no coincide"):
        backend.verify_request(WebhookRequest(reescrito, firmar(cuerpo)))


def test_verify_request__wrong_secret_is_refused(backend):
    cuerpo = raw("estado_sent.json")

    with pytest.raises(WebhookRechazado) as error:
        backend.verify_request(WebhookRequest(cuerpo, firmar(cuerpo, "otra-clave")))

    assert isinstance(error.value, PermissionDenied)
    assert APP_SECRET not in str(error.value)


def test_verify_request__missing_header_is_refused(backend):
    with pytest.raises(WebhookRechazado, match="Falta la cabecera"):
        backend.verify_request(
            WebhookRequest(raw("estado_sent.json"), {"Content-Type": "application/json"})
        )


@pytest.mark.parametrize(
    "cabecera",
    ["", "sha256=", "sha1={hex40}", "{hex64}", "sha256={hex63}", "sha256={hex64}00", "md5={hex64}"],
    ids=["vacia", "sin_hex", "sha1", "sin_prefijo", "corta", "larga", "otro_algoritmo"],
)
def test_verify_request__malformed_header_is_refused(backend, cabecera):
    cuerpo = raw("estado_sent.json")
    hex64 = firmar(cuerpo)["X-Hub-Signature-256"].removeprefix("sha256=")
    valor = cabecera.format(hex64=hex64, hex63=hex64[:63], hex40=hex64[:40])

    with pytest.raises(WebhookRechazado):
        backend.verify_request(WebhookRequest(cuerpo, {"X-Hub-Signature-256": valor}))


def test_verify_request__header_name_in_any_case_and_uppercase_hex(backend):
    cuerpo = raw("estado_sent.json")
    firma = firmar(cuerpo)["X-Hub-Signature-256"]
    cabeceras = {"x-hub-signature-256": "sha256=" + firma.removeprefix("sha256=").upper()}

    assert backend.verify_request(WebhookRequest(cuerpo, cabeceras)) is None


@pytest.mark.parametrize("secreto", [APP_SECRET, SECRETO_NUEVO], ids=["anterior", "nueva"])
def test_verify_request__rotation_list_accepts_each_secret(secreto):
    backend = MetaBackend(
        PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN, APP_SECRET=[APP_SECRET, SECRETO_NUEVO]
    )
    cuerpo = raw("lote.json")

    assert backend.verify_request(WebhookRequest(cuerpo, firmar(cuerpo, secreto))) is None
    with pytest.raises(WebhookRechazado):
        backend.verify_request(WebhookRequest(cuerpo, firmar(cuerpo, "ninguna-de-las-dos")))


@pytest.mark.parametrize("secreto", ["", None, [], ("",)], ids=["vacio", "none", "lista", "tupla"])
def test_verify_request__without_app_secret_everything_is_refused(secreto):
    backend = MetaBackend(PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN, APP_SECRET=secreto)
    cuerpo = raw("estado_sent.json")

    with pytest.raises(WebhookRechazado, match="APP_SECRET"):
        backend.verify_request(WebhookRequest(cuerpo, firmar(cuerpo, "")))


def test_app_secret_option__wrong_type_names_the_key_without_the_value():
    with pytest.raises(ConfigurationError) as error:
        MetaBackend(PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN, APP_SECRET=[APP_SECRET, 7])

    assert '["APP_SECRET"]' in str(error.value)
    assert APP_SECRET not in str(error.value)


def test_scrub__hides_each_secret_of_a_rotation_list():
    backend = MetaBackend(
        PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN, APP_SECRET=[APP_SECRET, SECRETO_NUEVO]
    )

    assert backend.scrub(f"a {APP_SECRET} b {SECRETO_NUEVO} c {TOKEN}") == "a *** b *** c ***"


# -- handshake -------------------------------------------------------------------------------


def handshake(**cambios: str | None) -> QueryDict:
    """The query of Meta's verification GET; ``mode=None`` leaves ``hub.mode`` out."""
    params = {"mode": "subscribe", "challenge": "1158201444", "verify_token": VERIFY_TOKEN}
    consulta = QueryDict(mutable=True)
    for clave, valor in {**params, **cambios}.items():
        if valor is not None:
            consulta[f"hub.{clave}"] = valor
    return consulta


def test_verify_challenge__right_token_echoes_the_challenge(backend):
    assert backend.verify_challenge(handshake()) == "1158201444"


@pytest.mark.parametrize(
    "cambios",
    [
        {"verify_token": "otro-token"},
        {"verify_token": VERIFY_TOKEN + " "},
        {"verify_token": ""},
        {"mode": "unsubscribe"},
        {"mode": "SUBSCRIBE"},
        {"mode": None},
        {"verify_token": None},
        {"challenge": None},
        {"challenge": ""},
    ],
    ids=[
        "token_distinto",
        "token_con_espacio",
        "token_vacio",
        "otro_modo",
        "modo_en_mayusculas",
        "sin_modo",
        "sin_token",
        "sin_challenge",
        "challenge_vacio",
    ],
)
def test_verify_challenge__anything_else_is_refused(backend, cambios):
    with pytest.raises(WebhookRechazado) as error:
        backend.verify_challenge(handshake(**cambios))

    assert VERIFY_TOKEN not in str(error.value)


def test_verify_challenge__without_verify_token_configured_is_refused():
    backend = MetaBackend(PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN)

    with pytest.raises(WebhookRechazado, match="VERIFY_TOKEN"):
        backend.verify_challenge(handshake(verify_token=""))


# -- the contract's defaults -----------------------------------------------------------------


def test_base_backend__receives_no_webhooks_by_default():
    base = BaseBackend()

    with pytest.raises(WebhookRechazado):
        base.verify_challenge(handshake())
    with pytest.raises(WebhookRechazado):
        base.verify_request(WebhookRequest(b"{}", firmar(b"{}")))
    with pytest.raises(NotImplementedError):
        base.parse_webhook(WebhookRequest(b"{}"))


# -- media download ------------------------------------------------------------------------

MEDIA_ID = "1204578932145678"
MEDIA_URL = f"{LOOKASIDE}?mid={MEDIA_ID}&ext=1767302200&hash=ARlq3x"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def media_info(**cambios: Any) -> dict[str, Any]:
    info = {
        "messaging_product": "whatsapp",
        "url": MEDIA_URL,
        "mime_type": "application/pdf",
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "file_size": str(len(PDF)),
        "id": MEDIA_ID,
    }
    return {**info, **cambios}


def test_download_media__asks_the_url_then_downloads_it_with_the_token(backend, graph):
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=media_info())
    graph.add(responses.GET, MEDIA_URL, body=PDF, content_type="application/pdf")

    contenido, mime = backend.download_media(MEDIA_ID)

    assert (contenido, mime) == (PDF, "application/pdf")
    assert [call.request.url for call in graph.calls] == [f"{GRAPH}/{MEDIA_ID}", MEDIA_URL]
    assert [call.request.method for call in graph.calls] == ["GET", "GET"]
    assert {call.request.headers["Authorization"] for call in graph.calls} == {f"Bearer {TOKEN}"}


def test_download_media__mime_from_the_download_when_meta_omits_it(backend, graph):
    info = media_info()
    del info["mime_type"]
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=info)
    graph.add(responses.GET, MEDIA_URL, body=b"\x89PNG", content_type="image/png")

    assert backend.download_media(MEDIA_ID) == (b"\x89PNG", "image/png")


def test_download_media__media_id_cannot_leave_its_path_segment(backend, graph):
    graph.add(responses.GET, f"{GRAPH}/..%2Fme%3Ffields%3Did", json=media_info())
    graph.add(responses.GET, MEDIA_URL, body=PDF)

    backend.download_media("../me?fields=id")

    assert graph.calls[0].request.url == f"{GRAPH}/..%2Fme%3Ffields%3Did"


@pytest.mark.parametrize(
    ("status", "clase"),
    [(404, PermanentError), (401, AuthError), (403, AuthError), (500, TransientError)],
    ids=["404_url_caducada", "401", "403", "500"],
)
def test_download_media__failed_download_is_classified_without_secrets(
    backend, graph, status, clase
):
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=media_info())
    graph.add(responses.GET, MEDIA_URL, status=status, body=f"token {TOKEN}")

    with pytest.raises(clase) as error:
        backend.download_media(MEDIA_ID)

    assert error.value.http_status == status
    assert TOKEN not in str(error.value)
    assert "hash=" not in str(error.value)  # the short-lived URL is a credential too


def test_download_media__unknown_media_id_is_a_graph_error(backend, graph):
    error_graph = {
        "error": {
            "message": "Unsupported get request. Object with ID does not exist",
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
            "fbtrace_id": "AbCdEf123",
        }
    }
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=error_graph, status=400)

    with pytest.raises(PermanentError) as error:
        backend.download_media(MEDIA_ID)

    assert (error.value.code, error.value.trace_id) == (100, "AbCdEf123")
    assert TOKEN not in str(error.value)
    assert len(graph.calls) == 1


def test_download_media__connection_lost_while_downloading_is_transient(backend, graph):
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=media_info())
    graph.add(responses.GET, MEDIA_URL, body=requests.ConnectionError("reset"))

    with pytest.raises(TransientError) as error:
        backend.download_media(MEDIA_ID)

    assert TOKEN not in str(error.value)


def test_download_media__answer_without_url_is_transient(backend, graph):
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=media_info(url=None))

    with pytest.raises(TransientError):
        backend.download_media(MEDIA_ID)

    assert len(graph.calls) == 1
