"""The Graph API stand-ins of the tests refuse what Meta's schema refuses.

``GraphStub`` (a local HTTP server) and ``validating_callback`` (for ``responses``) validate
every ``/messages`` body, so a payload that only passes because a mock accepts anything
fails the test that produced it.
"""

from __future__ import annotations

import json

import pytest
import requests
import responses

from tests.graph_stub import GraphStub
from tests.openapi import PayloadInvalido, validating_callback
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.exceptions import PermanentError
from whatsapp_notify.messages import Plantilla, Salida

VALIDO = {
    "messaging_product": "whatsapp",
    "to": "+525512345678",
    "type": "template",
    "template": {"name": "vehiculo_listo_cliente", "language": {"code": "es_MX"}},
}
SIN_IDIOMA = {**VALIDO, "template": {"name": "vehiculo_listo_cliente"}}
URL = "https://graph.facebook.com/v25.0/1234567890/messages"
OK = {"messaging_product": "whatsapp", "messages": [{"id": "wamid.prueba"}]}


@pytest.fixture
def graph():
    with GraphStub() as stub:
        yield stub


def mensajes_url(graph: GraphStub) -> str:
    return f"{graph.url}/v25.0/1234567890/messages"


# -- GraphStub -----------------------------------------------------------------------------


def test_graph_stub__cuerpo_invalido_recibe_el_error_100_de_meta(graph):
    respuesta = requests.post(mensajes_url(graph), json=SIN_IDIOMA, timeout=5)

    assert respuesta.status_code == 400
    error = respuesta.json()["error"]
    assert (error["code"], error["type"]) == (100, "OAuthException")
    assert error["message"] == "(#100) Invalid parameter"
    assert error["fbtrace_id"]
    assert "$.template" in error["error_data"]["details"]
    assert "language" in error["error_data"]["details"]


def test_graph_stub__registra_el_problema_de_cada_cuerpo_invalido(graph):
    requests.post(mensajes_url(graph), json=SIN_IDIOMA, timeout=5)
    requests.post(mensajes_url(graph), json=VALIDO, timeout=5)
    requests.post(mensajes_url(graph), data=b"no es json", timeout=5)

    [invalido, valido, crudo] = graph.mensajes()
    assert [p.status for p in graph.mensajes()] == [400, 200, 400]
    assert "language" in invalido.problema
    assert valido.problema == ""
    assert "objeto JSON" in crudo.problema
    assert graph.problemas() == [invalido.problema, crudo.problema]


def test_graph_stub__valida_antes_de_la_respuesta_encolada(graph):
    graph.responder(500, {"error": {"code": 131000, "message": "Something went wrong"}})

    invalido = requests.post(mensajes_url(graph), json=SIN_IDIOMA, timeout=5)
    valido = requests.post(mensajes_url(graph), json=VALIDO, timeout=5)

    assert (invalido.status_code, valido.status_code) == (400, 500)


def test_graph_stub__el_backend_lo_lee_como_error_permanente_con_el_detalle(graph):
    backend = MetaBackend(PHONE_NUMBER_ID="1234567890", ACCESS_TOKEN="t", BASE_URL=graph.url)
    # A payload Meta rejects: the language code is missing from the template.
    backend.build_plantilla = lambda salida, plantilla, media: SIN_IDIOMA
    salida = Salida("525512345678", Plantilla("vehiculo_listo_cliente", "es_MX"), "7")

    with pytest.raises(PermanentError) as excinfo:
        backend.send(salida)

    assert excinfo.value.code == 100
    assert "language" in excinfo.value.detail
    assert graph.problemas()


# -- validating_callback (responses) -------------------------------------------------------


@pytest.fixture
def mock():
    with responses.RequestsMock() as simulado:
        yield simulado


def test_validating_callback__cuerpo_valido_recibe_la_respuesta(mock):
    mock.add_callback(responses.POST, URL, callback=validating_callback(OK))

    respuesta = requests.post(URL, json=VALIDO, timeout=5)

    assert respuesta.status_code == 200
    assert respuesta.json() == OK
    assert json.loads(mock.calls[0].request.body) == VALIDO


def test_validating_callback__cuerpo_invalido_lanza_assertion_error_con_la_ruta(mock):
    mock.add_callback(responses.POST, URL, callback=validating_callback(OK))

    with pytest.raises(AssertionError) as excinfo:
        requests.post(URL, json=SIN_IDIOMA, timeout=5)

    assert isinstance(excinfo.value, PayloadInvalido)
    assert URL in str(excinfo.value)
    assert "$.template" in str(excinfo.value)


@pytest.mark.parametrize(
    ("answer", "status", "esperado"),
    [
        pytest.param({"error": {"code": 131000}}, 500, '{"error": {"code": 131000}}', id="error"),
        pytest.param("<html>Bad Gateway</html>", 502, "<html>Bad Gateway</html>", id="texto"),
    ],
)
def test_validating_callback__devuelve_status_y_cuerpo_dados(mock, answer, status, esperado):
    mock.add_callback(responses.POST, URL, callback=validating_callback(answer, status))

    respuesta = requests.post(URL, json=VALIDO, timeout=5)

    assert (respuesta.status_code, respuesta.text) == (status, esperado)


def test_validating_callback__excepcion_de_transporte_tras_validar(mock):
    mock.add_callback(
        responses.POST, URL, callback=validating_callback(requests.ReadTimeout("lento"))
    )

    with pytest.raises(requests.ReadTimeout):
        requests.post(URL, json=VALIDO, timeout=5)
    with pytest.raises(PayloadInvalido):
        requests.post(URL, json=SIN_IDIOMA, timeout=5)
