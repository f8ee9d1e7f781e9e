"""Bounded fuzzing of what enters the app: signed webhook bodies and the send API.

Webhook bodies keep Meta's envelope (``entry`` / ``changes`` / ``value``) with ``statuses``
and ``messages`` items whose fields take random types, lengths, unicode, huge integers,
nulls or go missing: the signed POST through the real view never answers 500, and a body
of statuses for envíos that do not exist creates nothing but its ``EventoWebhook``.

The send API gets random template names, variables, phones and keywords: the call either
raises a ``ValueError`` / ``TypeError`` (nothing recorded), or records an envío; one that
goes out carries exactly the expected text, in the locmem outbox and in the Meta payload
(valid against Meta's schema). The examples are derandomized, so CI runs the same ones.
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatsapp_notify import enviar_plantilla, enviar_texto
from whatsapp_notify.backends import locmem
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.messages import Plantilla, Texto
from whatsapp_notify.models import (
    ConsentimientoCliente,
    EnvioWhatsApp,
    EstadoEnvio,
    EventoWebhook,
    Mensaje,
)
from whatsapp_notify.outbound.delivery import construir_salida
from whatsapp_notify.references import referencia_de
from whatsapp_notify.sandbox import firmar, schema

SECRETO = "secreto-fuzz"
NUMERO = "1234567890"
META = "whatsapp_notify.backends.meta.MetaBackend"
LOCMEM = "whatsapp_notify.backends.locmem.LocmemBackend"
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

pytestmark = pytest.mark.django_db

# -- values of every kind ------------------------------------------------------------------

textos = st.text(max_size=40) | st.text(min_size=200, max_size=2000)
enteros = st.integers() | st.integers(min_value=2**31, max_value=2**70) | st.just(-(2**63))
escalares = st.none() | st.booleans() | enteros | st.floats() | textos
valores = st.recursive(
    escalares,
    lambda hijos: st.lists(hijos, max_size=3) | st.dictionaries(textos, hijos, max_size=3),
    max_leaves=6,
)


def campos(fijos: dict) -> st.SearchStrategy[dict]:
    """A dict whose keys may each be missing, hold a likely value, or any value at all."""
    return st.fixed_dictionaries(
        {}, optional={clave: probable | valores for clave, probable in fijos.items()}
    )


ESTADOS = st.sampled_from(["sent", "delivered", "read", "failed", "deleted", "", "SENT"])
estados_item = campos(
    {
        "id": st.just("wamid.NOEXISTE") | textos,
        "status": ESTADOS,
        "timestamp": st.integers(min_value=-(2**40), max_value=2**40).map(str) | textos,
        "recipient_id": st.text(alphabet="0123456789", max_size=40),
        "biz_opaque_callback_data": st.integers(min_value=-(2**70), max_value=2**70).map(str),
        "errors": st.lists(campos({"code": enteros, "title": textos, "message": textos})),
        "conversation": campos({"id": textos, "expiration_timestamp": textos}),
        "pricing": campos({"billable": st.booleans(), "category": textos}),
    }
)
mensajes_item = campos(
    {
        "from": st.text(alphabet="0123456789+", max_size=40),
        "id": textos,
        "timestamp": st.integers(min_value=-(2**40), max_value=2**40).map(str),
        "type": st.sampled_from(["text", "image", "button", "interactive", "reaction", "x"]),
        "text": campos({"body": textos}),
        "context": campos({"id": textos, "from": textos}),
        "errors": st.lists(campos({"code": enteros, "title": textos})),
    }
)


def sobre(value: dict) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def valor_con(clave: str, items: st.SearchStrategy) -> st.SearchStrategy[dict]:
    meta = campos({"phone_number_id": st.just(NUMERO), "display_phone_number": textos})
    lista = st.lists(items, max_size=3) | valores
    opcionales = {"metadata": meta, "contacts": valores, "messaging_product": textos}
    return st.fixed_dictionaries({clave: lista}, optional=opcionales)


# -- webhooks ------------------------------------------------------------------------------


@pytest.fixture
def cuenta_meta(wa_settings):
    opciones = {"PHONE_NUMBER_ID": NUMERO, "ACCESS_TOKEN": "t", "APP_SECRET": SECRETO}
    wa_settings(BACKENDS={"default": {"BACKEND": META, "OPTIONS": opciones}})


def publicar(client, cuerpo: dict):
    raw = json.dumps(cuerpo, ensure_ascii=False).encode()
    return client.post(
        reverse("whatsapp_notify:webhook"),
        data=raw,
        content_type="application/json",
        headers={"X-Hub-Signature-256": firmar(SECRETO, raw)},
    )


def filas() -> tuple[int, int, int]:
    return (
        EnvioWhatsApp.objects.count(),
        Mensaje.objects.count(),
        ConsentimientoCliente.objects.count(),
    )


@FUZZ
@given(value=valor_con("statuses", estados_item))
def test_fuzz_webhook_de_estados__nunca_500_y_solo_guarda_el_evento(client, cuenta_meta, value):
    antes, eventos = filas(), EventoWebhook.objects.count()

    respuesta = publicar(client, sobre(value))

    assert respuesta.status_code in (200, 400), respuesta.status_code
    assert filas() == antes
    assert EventoWebhook.objects.count() <= eventos + 1


@FUZZ
@given(value=valor_con("messages", mensajes_item), envio=st.booleans())
def test_fuzz_webhook_de_mensajes__nunca_500_ni_crea_envios(client, cuenta_meta, value, envio):
    antes = EnvioWhatsApp.objects.count()

    respuesta = publicar(client, sobre(value))

    assert respuesta.status_code in (200, 400), respuesta.status_code
    assert EnvioWhatsApp.objects.count() == antes
    for mensaje in Mensaje.objects.all():  # what was stored fits its columns
        for campo in ("wamid", "telefono", "wa_id", "tipo", "contexto_wamid", "respuesta_id"):
            maximo = Mensaje._meta.get_field(campo).max_length
            assert len(getattr(mensaje, campo) or "") <= maximo, campo


# -- the send API --------------------------------------------------------------------------

nombres = st.from_regex(r"[a-z0-9_]{1,30}", fullmatch=True) | textos
telefonos = (
    st.from_regex(r"\+52 ?55 ?[0-9]{4} ?[0-9]{4}", fullmatch=True)
    | st.text(alphabet="0123456789 +-()", max_size=25)
    | textos
    | enteros
)
variable = textos | enteros | st.none() | st.lists(textos, max_size=2) | st.binary(max_size=5)
variables = (
    st.none() | st.lists(variable, max_size=4) | st.dictionaries(textos, variable, max_size=2)
)
claves = st.none() | textos
tipos = textos


def esperado(valor) -> str:
    """The text Meta must get for one variable: its ``str``, whitespace runs made one space."""
    return " ".join(str(valor).split())


def payload_meta(envio: EnvioWhatsApp) -> dict:
    backend = MetaBackend("default", PHONE_NUMBER_ID=NUMERO, ACCESS_TOKEN="t")
    salida = construir_salida(envio)
    contenido = salida.contenido
    if isinstance(contenido, Plantilla):
        return backend.build_plantilla(salida, contenido, None)
    return backend.build_texto(salida, contenido, None)


def llamar(funcion, *args, **kwargs):
    """Call the send API in the ERP's transaction; ``(envío, None)`` or ``(None, error)``."""
    antes = EnvioWhatsApp.objects.count()
    try:
        with transaction.atomic():
            return funcion(*args, **kwargs), None
    except (ValueError, TypeError) as exc:
        assert EnvioWhatsApp.objects.count() == antes, "an error must record nothing"
        return None, exc


@FUZZ
@given(nombre=nombres, vars_=variables, telefono=telefonos, clave=claves, tipo=tipos)
def test_fuzz_enviar_plantilla__error_de_programador_o_payload_exacto(
    wa_settings, django_capture_on_commit_callbacks, nombre, vars_, telefono, clave, tipo
):
    wa_settings(BACKENDS={"default": {"BACKEND": LOCMEM}})
    locmem.clear()

    with django_capture_on_commit_callbacks(execute=True):
        envio, error = llamar(
            enviar_plantilla, telefono, nombre, variables=vars_, clave=clave, tipo=tipo
        )

    if error is not None:
        return
    envio.refresh_from_db()
    if envio.estado == EstadoEnvio.OMITIDO:
        assert envio.motivo
        return
    contenedores = (list, tuple, dict, bytes, bytearray, type(None))
    valores_ = list(vars_.values()) if isinstance(vars_, dict) else list(vars_ or [])
    assert not any(isinstance(v, contenedores) for v in valores_), "a repr would go out"
    [enviado] = [m for m in locmem.outbox if m.referencia == referencia_de(envio.pk)]
    assert enviado.contenido.nombre == nombre
    textos_ = list(enviado.contenido.variables.values()) if isinstance(vars_, dict) else (
        list(enviado.contenido.variables)
    )  # fmt: skip
    assert textos_ == [esperado(v) for v in valores_]
    payload = payload_meta(envio)
    assert schema.problema(payload) == ""
    cuerpo = payload["template"].get("components", [{"parameters": []}])[-1]["parameters"]
    assert [p["text"] for p in cuerpo] == [esperado(v) for v in valores_]


@FUZZ
@given(texto=textos | enteros | st.none(), telefono=telefonos, clave=claves)
def test_fuzz_enviar_texto__error_de_programador_o_payload_exacto(
    wa_settings, django_capture_on_commit_callbacks, texto, telefono, clave
):
    wa_settings(BACKENDS={"default": {"BACKEND": LOCMEM}})
    locmem.clear()

    with django_capture_on_commit_callbacks(execute=True):
        envio, error = llamar(enviar_texto, telefono, texto, clave=clave)

    if error is not None:
        return
    envio.refresh_from_db()
    if envio.estado == EstadoEnvio.OMITIDO:
        assert envio.motivo
        return
    assert isinstance(texto, str)
    [enviado] = [m for m in locmem.outbox if m.referencia == referencia_de(envio.pk)]
    assert isinstance(enviado.contenido, Texto)
    assert enviado.contenido.cuerpo == texto
    payload = payload_meta(envio)
    assert schema.problema(payload) == ""
    assert payload["text"]["body"] == texto
