"""``marcar_leido``: blue ticks and «escribiendo…» on the customer's message, through a worker.

Each provider's local sandbox takes the real request: Meta's ``status: read`` body (with
``typing_indicator``), WHAPI's ``PUT /messages/{id}``; Twilio has neither, and nothing is
sent. Meta's OpenAPI description has no schema for the read receipt (its ``messages``
schema asks for ``to``), so the shape is pinned here as the reference gives it (§2.8).
"""

from __future__ import annotations

import logging

import pytest

from tests.test_sandbox import META_BACKEND, NUMERO, TOKEN
from whatsapp_notify import marcar_leido
from whatsapp_notify.exceptions import MessageError, TipoInvalido
from whatsapp_notify.inbound import leidos
from whatsapp_notify.models import Direccion, EnvioWhatsApp, Mensaje
from whatsapp_notify.sandbox import Sandbox
from whatsapp_notify.sandbox.whapi import WhapiSandbox

TELEFONO = "525512345678"
WAMID = "wamid.HBgMNTI1NTEyMzQ1Njc4FQIAEhggQUJDMTIz"


def entrante(cuenta: str = "default", wamid: str = WAMID) -> Mensaje:
    return Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, cuenta=cuenta, telefono=TELEFONO, wamid=wamid, texto="Hola"
    )


def recibos(sandbox: Sandbox) -> list[dict]:
    return [
        p.cuerpo for p in sandbox.requests if p.metodo == "POST" and p.ruta.endswith("/messages")
    ]


@pytest.mark.parametrize(
    ("escribiendo", "extra"), [(False, {}), (True, {"typing_indicator": {"type": "text"}})]
)
def test_meta__el_worker_manda_el_recibo_al_confirmar(
    db, sandbox_meta, django_capture_on_commit_callbacks, escribiendo, extra
):
    mensaje = entrante()

    with django_capture_on_commit_callbacks(execute=True) as al_confirmar:
        marcar_leido(mensaje, escribiendo=escribiendo)
        assert recibos(sandbox_meta) == []  # nothing reaches Meta before the commit

    assert len(al_confirmar) == 1
    leido = {"messaging_product": "whatsapp", "status": "read", "message_id": WAMID}
    assert recibos(sandbox_meta) == [{**leido, **extra}]


@pytest.mark.parametrize("escribiendo", [False, True])
def test_con_broker_el_hilo_publica_la_tarea_y_no_la_corre_en_la_web(
    db, monkeypatch, django_capture_on_commit_callbacks, escribiendo
):
    from whatsapp_notify import tasks

    puestos = []
    monkeypatch.setattr(tasks, "en_el_acto", lambda: False)
    monkeypatch.setattr(tasks._publicador, "poner", lambda app, f, args: puestos.append((f, args)))
    mensaje = entrante()

    with django_capture_on_commit_callbacks(execute=True):
        marcar_leido(mensaje, escribiendo=escribiendo)

    # The publishing thread publishes: handed the task itself, it would run its body (an
    # HTTP call to the provider) in the web process.
    esperado = tasks.publicar_escribiendo if escribiendo else tasks.publicar_leido
    assert puestos == [(esperado, (mensaje.pk,))]


def test_meta__un_error_del_proveedor_se_registra_y_no_sube(db, wa_settings, caplog):
    with Sandbox(None, token=TOKEN) as sandbox:
        opciones = {
            "PHONE_NUMBER_ID": NUMERO, "ACCESS_TOKEN": "otro-token", "BASE_URL": sandbox.base_url
        }  # fmt: skip
        wa_settings(BACKENDS={"default": {"BACKEND": META_BACKEND, "OPTIONS": opciones}})
        mensaje = entrante()

        with caplog.at_level(logging.WARNING, logger="whatsapp_notify"):
            assert leidos.aplicar(mensaje.pk) is False

    assert "No se marcó leído" in caplog.text
    assert TELEFONO not in caplog.text  # the phone is masked


def test_whapi__put_messages_id_y_sin_indicador_solo_lo_marca(db, wa_settings):
    backend = "whatsapp_notify.backends.whapi.WhapiBackend"
    with WhapiSandbox(None, "secreto", token="t") as sandbox:
        opciones = {"TOKEN": "t", "BASE_URL": sandbox.base_url}
        wa_settings(BACKENDS={"bot": {"BACKEND": backend, "OPTIONS": opciones}})
        mensaje = entrante("bot", wamid="PsqXn5SAD5v7HRA-wHqB9tMeGQ")

        assert leidos.aplicar(mensaje.pk) is True
        assert leidos.aplicar(mensaje.pk, escribiendo=True) is True  # WHAPI: read only

        assert sandbox.leidos == ["PsqXn5SAD5v7HRA-wHqB9tMeGQ"] * 2
        [put, _] = [p for p in sandbox.requests if p.metodo == "PUT"]
    assert put.ruta == "/messages/PsqXn5SAD5v7HRA-wHqB9tMeGQ"


def test_sin_token_se_registra_y_no_sube(db, wa_settings, caplog):
    opciones = {"PHONE_NUMBER_ID": NUMERO, "ACCESS_TOKEN": "", "BASE_URL": "http://127.0.0.1:9"}
    wa_settings(BACKENDS={"default": {"BACKEND": META_BACKEND, "OPTIONS": opciones}})
    mensaje = entrante()

    with caplog.at_level(logging.WARNING, logger="whatsapp_notify"):
        assert leidos.aplicar(mensaje.pk, escribiendo=True) is False

    assert "No se marcó leído" in caplog.text


def test_twilio__no_puede_y_no_manda_nada(db, wa_settings, caplog):
    opciones = {
        "ACCOUNT_SID": "AC" + "0" * 32, "AUTH_TOKEN": "x", "FROM": "whatsapp:+14155238886",
        "BASE_URL": "http://127.0.0.1:9",  # nothing listens: a request would fail loudly
    }  # fmt: skip
    backend = "whatsapp_notify.backends.twilio.TwilioBackend"
    wa_settings(BACKENDS={"citas": {"BACKEND": backend, "OPTIONS": opciones}})
    mensaje = entrante("citas")

    with caplog.at_level(logging.INFO, logger="whatsapp_notify"):
        assert leidos.aplicar(mensaje.pk, escribiendo=True) is False

    assert "no marca mensajes como leídos" in caplog.text


def test_un_mensaje_borrado_entre_tanto_no_hace_nada(db, sandbox_meta):
    mensaje = entrante()
    mensaje.delete()

    assert leidos.aplicar(mensaje.pk or 0) is False
    assert recibos(sandbox_meta) == []


@pytest.mark.parametrize(
    "campos",
    [
        {"direccion": Direccion.SALIENTE, "wamid": WAMID},
        {"direccion": Direccion.ENTRANTE, "wamid": None},
    ],
    ids=["saliente", "sin-wamid"],
)
def test_marcar_leido__solo_un_entrante_con_wamid(db, campos):
    mensaje = Mensaje.objects.create(cuenta="default", telefono=TELEFONO, **campos)

    with pytest.raises(MessageError, match="entrante"):
        marcar_leido(mensaje)


def test_marcar_leido__otra_cosa_que_un_mensaje_se_rechaza(db):
    with pytest.raises(TipoInvalido, match="mensaje"):
        marcar_leido(EnvioWhatsApp(telefono=TELEFONO))
