"""MetaBackend against a mocked Graph API (``responses``: only the transport is replaced).

Every payload the backend builds is checked against Meta's OpenAPI description: the built
ones directly, the sent ones by the ``/messages`` mock itself (``mock_messages``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

import whatsapp_notify
from tests.openapi import validate_message, validating_callback
from whatsapp_notify.backends import backends
from whatsapp_notify.backends.base import Option
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.exceptions import (
    AmbiguousError,
    AuthError,
    ConfigurationError,
    PairRateLimitError,
    PermanentError,
    ThroughputLimitError,
    TransientError,
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
from whatsapp_notify.models import EnvioWhatsApp, EstadoCuenta, EstadoEnvio, MediaSubido
from whatsapp_notify.references import referencia_de

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "meta"
PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAGtestTOKENnever-in-logs-0123456789"
GRAPH = "https://graph.facebook.com/v25.0"
MESSAGES_URL = f"{GRAPH}/{PHONE_NUMBER_ID}/messages"
MEDIA_URL = f"{GRAPH}/{PHONE_NUMBER_ID}/media"
PHONE_URL = f"{GRAPH}/{PHONE_NUMBER_ID}"
TELEFONO = "525512345678"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
META_BACKEND = "whatsapp_notify.backends.meta.MetaBackend"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def graph_error(code: int, **extra) -> dict:
    """A Graph error body shaped like the real 131056 one, with another code."""
    body = load("error_131056.json")
    body["error"].update({"code": code, "message": f"(#{code}) error de prueba", **extra})
    return body


def mock_messages(graph, answer, status: int = 200, url: str = MESSAGES_URL):
    """Mock ``POST /messages``: each body is validated against Meta's schema, then answered."""
    return graph.add_callback(responses.POST, url, callback=validating_callback(answer, status))


class DictMediaCache:
    """MediaCache in memory; ``ids`` maps sha256 -> media id."""

    def __init__(self, ids: dict[str, str] | None = None):
        self.ids = dict(ids or {})

    def get(self, sha256: str) -> str | None:
        return self.ids.get(sha256)

    def put(self, sha256: str, media_id: str) -> None:
        self.ids[sha256] = media_id


@pytest.fixture
def graph():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def backend():
    instance = MetaBackend("default", PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN)
    yield instance
    instance.close()


def salida(contenido, referencia: str = "42") -> Salida:
    return Salida(telefono=TELEFONO, contenido=contenido, referencia=referencia)


def sent_json(call) -> dict:
    return json.loads(call.request.body)


def multipart_fields(request) -> dict[str, tuple[str | None, str, bytes]]:
    """name -> (filename, content type, bytes) of a multipart/form-data request."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    return {
        part.get_param("name", header="content-disposition"): (
            part.get_filename(),
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    }


LISTA = Lista(
    cuerpo="¿Qué horario prefieres?",
    boton="Ver horarios",
    secciones=(
        Seccion("Mañana", (Fila("am-9", "9:00", "Recepción abierta"), Fila("am-11", "11:00"))),
        Seccion("Tarde", (Fila("pm-4", "16:00"),)),
    ),
    encabezado="Cita de servicio",
    pie="Taller Los Pinos",
)
BOTONES = Botones(
    cuerpo="Tu vehículo está listo. ¿Cuándo pasas?",
    botones=(Boton("hoy", "Hoy"), Boton("manana", "Mañana")),
    encabezado="Mazda 3",
    pie="Taller Los Pinos",
)
CONTENIDOS = [
    pytest.param(Plantilla("vehiculo_listo_cliente", "es_MX", ["Ana", "Mazda 3"]), id="plantilla"),
    pytest.param(
        Plantilla("cotizacion_lista_cliente", "es_MX", {"nombre": "Ana"}, Documento(PDF, "c.pdf")),
        id="plantilla-documento-nombrada",
    ),
    pytest.param(Plantilla("hello_world", "en_US"), id="plantilla-sin-variables"),
    pytest.param(Documento(PDF, "cotizacion.pdf", caption="Tu cotización"), id="documento"),
    pytest.param(Texto("Hola, https://example.com", preview_url=True), id="texto"),
    pytest.param(BOTONES, id="botones"),
    pytest.param(LISTA, id="lista"),
]


# -- payloads ------------------------------------------------------------------------


@pytest.mark.parametrize("contenido", CONTENIDOS)
def test_build_payload__validates_against_meta_openapi(backend, contenido):
    media = DictMediaCache({hashlib.sha256(PDF).hexdigest(): "1037543291543636"})

    payload = backend.build_payload(salida(contenido), media)

    validate_message(payload)
    assert payload["to"] == f"+{TELEFONO}"
    assert payload["recipient_type"] == "individual"


def test_build_plantilla__positional_variables_in_order(backend):
    plantilla = Plantilla("vehiculo_listo_cliente", "es_MX", ["Ana", "Mazda 3", "OT-42"])

    payload = backend.build_payload(salida(plantilla), DictMediaCache())

    assert payload["template"] == {
        "name": "vehiculo_listo_cliente",
        "language": {"code": "es_MX"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Ana"},
                    {"type": "text", "text": "Mazda 3"},
                    {"type": "text", "text": "OT-42"},
                ],
            }
        ],
    }


def test_build_plantilla__named_variables_carry_parameter_name(backend):
    plantilla = Plantilla(
        "orden_compra_proveedor", "es_MX", {"proveedor": "Refacciones Sur", "orden": "OC-7"}
    )

    payload = backend.build_payload(salida(plantilla), DictMediaCache())

    assert payload["template"]["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "proveedor", "text": "Refacciones Sur"},
                {"type": "text", "parameter_name": "orden", "text": "OC-7"},
            ],
        }
    ]


def test_build_plantilla__without_variables_omits_components(backend):
    payload = backend.build_payload(salida(Plantilla("hello_world", "en_US")), DictMediaCache())

    assert payload["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


def test_build_plantilla__header_document_uploaded_then_sent_by_id(backend, graph):
    upload = graph.add(responses.POST, MEDIA_URL, json=load("media_upload_ok.json"))
    plantilla = Plantilla("cotizacion_lista_cliente", "es_MX", [], Documento(PDF, "cotizacion.pdf"))

    payload = backend.build_payload(salida(plantilla), DictMediaCache())

    assert upload.call_count == 1
    assert payload["template"]["components"] == [
        {
            "type": "header",
            "parameters": [
                {
                    "type": "document",
                    "document": {"id": "1037543291543636", "filename": "cotizacion.pdf"},
                }
            ],
        }
    ]


def test_build_plantilla__same_document_uploaded_once_and_reused(backend, graph):
    upload = graph.add(responses.POST, MEDIA_URL, json=load("media_upload_ok.json"))
    mock_messages(graph, load("send_ok.json"))
    media = DictMediaCache()
    plantilla = Plantilla("cotizacion_lista_cliente", "es_MX", ["Ana"], Documento(PDF, "c.pdf"))

    backend.send(salida(plantilla), media=media)
    backend.send(salida(plantilla, referencia="43"), media=media)

    assert upload.call_count == 1
    assert media.ids == {hashlib.sha256(PDF).hexdigest(): "1037543291543636"}
    sent = [sent_json(call) for call in graph.calls if call.request.url == MESSAGES_URL]
    headers = [payload["template"]["components"][0]["parameters"][0] for payload in sent]
    assert [header["document"]["id"] for header in headers] == ["1037543291543636"] * 2


def test_upload__is_multipart_with_product_type_and_file(backend, graph):
    upload = graph.add(responses.POST, MEDIA_URL, json=load("media_upload_ok.json"))

    backend.subir(Documento(PDF, "cotizacion.pdf"))

    fields = multipart_fields(upload.calls[0].request)
    assert fields["messaging_product"][2] == b"whatsapp"
    assert fields["type"][2] == b"application/pdf"
    assert fields["file"] == ("cotizacion.pdf", "application/pdf", PDF)
    assert upload.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_upload__read_timeout_is_retryable_not_ambiguous(backend, graph):
    # An upload alone sends nothing to the customer: repeating it is harmless.
    graph.add(responses.POST, MEDIA_URL, body=requests.ReadTimeout("lento"))
    plantilla = Plantilla("cotizacion_lista_cliente", "es_MX", [], Documento(PDF, "c.pdf"))
    media = DictMediaCache()

    with pytest.raises(TransientError) as excinfo:
        backend.send(salida(plantilla), media=media)

    assert not isinstance(excinfo.value, AmbiguousError)
    assert media.ids == {}
    assert len(graph.calls) == 1


def test_build_documento__id_filename_and_caption(backend, graph):
    graph.add(responses.POST, MEDIA_URL, json=load("media_upload_ok.json"))
    documento = Documento(PDF, "cotizacion.pdf", caption="Tu cotización COT-7")

    payload = backend.build_payload(salida(documento), DictMediaCache())

    assert payload["type"] == "document"
    assert payload["document"] == {
        "id": "1037543291543636",
        "filename": "cotizacion.pdf",
        "caption": "Tu cotización COT-7",
    }


def test_build_documento__without_caption_omits_it(backend):
    media = DictMediaCache({hashlib.sha256(PDF).hexdigest(): "998877"})

    payload = backend.build_payload(salida(Documento(PDF, "cotizacion.pdf")), media)

    assert payload["document"] == {"id": "998877", "filename": "cotizacion.pdf"}


@pytest.mark.parametrize(
    ("preview_url", "expected"),
    [
        pytest.param(True, {"body": "Mira https://example.com", "preview_url": True}, id="preview"),
        pytest.param(False, {"body": "Mira https://example.com"}, id="sin-preview"),
    ],
)
def test_build_texto__preview_url_only_when_true(backend, preview_url, expected):
    texto = Texto("Mira https://example.com", preview_url=preview_url)

    payload = backend.build_payload(salida(texto), DictMediaCache())

    assert payload["type"] == "text"
    assert payload["text"] == expected


def test_build_botones__reply_buttons(backend):
    payload = backend.build_payload(salida(BOTONES), DictMediaCache())

    assert payload["interactive"] == {
        "type": "button",
        "header": {"type": "text", "text": "Mazda 3"},
        "body": {"text": "Tu vehículo está listo. ¿Cuándo pasas?"},
        "footer": {"text": "Taller Los Pinos"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "hoy", "title": "Hoy"}},
                {"type": "reply", "reply": {"id": "manana", "title": "Mañana"}},
            ]
        },
    }


def test_build_lista__sections_and_rows(backend):
    payload = backend.build_payload(salida(LISTA), DictMediaCache())

    interactive = payload["interactive"]
    assert interactive["type"] == "list"
    assert interactive["action"] == {
        "button": "Ver horarios",
        "sections": [
            {
                "title": "Mañana",
                "rows": [
                    {"id": "am-9", "title": "9:00", "description": "Recepción abierta"},
                    {"id": "am-11", "title": "11:00"},
                ],
            },
            {"title": "Tarde", "rows": [{"id": "pm-4", "title": "16:00"}]},
        ],
    }


def test_build_botones__without_header_or_footer_omits_them(backend):
    botones = Botones("¿Confirmas la cita?", (Boton("si", "Sí"), Boton("no", "No")))

    payload = backend.build_payload(salida(botones), DictMediaCache())

    assert set(payload["interactive"]) == {"type", "body", "action"}


@pytest.mark.parametrize(
    ("referencia", "expected"),
    [
        pytest.param("4711", "4711", id="con-referencia"),
        pytest.param("", None, id="sin-referencia"),
    ],
)
def test_payload__biz_opaque_callback_data_carries_referencia(backend, referencia, expected):
    payload = backend.build_payload(salida(Texto("Hola"), referencia), DictMediaCache())

    assert payload.get("biz_opaque_callback_data") == expected


# -- the request ---------------------------------------------------------------------


def test_deliver__returns_wamid_wa_id_and_raw_answer(backend, graph):
    mock_messages(graph, load("send_ok.json"))

    resultado = backend.send(salida(Texto("Hola")))

    assert resultado.id == load("send_ok.json")["messages"][0]["id"]
    assert resultado.wa_id == "5215512345678"
    assert resultado.raw == load("send_ok.json")


def test_deliver__posts_the_payload_as_json(backend, graph):
    send = mock_messages(graph, load("send_ok.json"))

    backend.send(salida(Texto("Hola")))

    assert send.calls[0].request.headers["Content-Type"] == "application/json"
    assert sent_json(send.calls[0]) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": f"+{TELEFONO}",
        "type": "text",
        "text": {"body": "Hola"},
        "biz_opaque_callback_data": "42",
    }


def test_deliver__bearer_token_and_user_agent_with_version(backend, graph):
    send = mock_messages(graph, load("send_ok.json"))

    backend.send(salida(Texto("Hola")))

    headers = send.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"].startswith(
        f"django-whatsapp-notify/{whatsapp_notify.__version__} python-requests/"
    )


@pytest.mark.parametrize(
    ("options", "timeout"),
    [
        pytest.param({}, (5.0, 10.0), id="por-defecto"),
        pytest.param({"TIMEOUT": 30}, (5.0, 30.0), id="lectura-larga"),
        pytest.param({"TIMEOUT": 2.5}, (2.5, 2.5), id="corto"),
    ],
)
def test_request__always_passes_connect_and_read_timeout(graph, options, timeout):
    backend = MetaBackend(PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN, **options)
    send = mock_messages(graph, load("send_ok.json"))
    graph.add(responses.GET, PHONE_URL, json=load("phone_number.json"))

    backend.send(salida(Texto("Hola")))
    backend.verify_credentials()

    assert send.calls[0].request.req_kwargs["timeout"] == timeout
    assert graph.calls[1].request.req_kwargs["timeout"] == timeout


def test_request__one_session_per_backend_reused_until_closed(backend, graph):
    mock_messages(graph, load("send_ok.json"))
    first = backend.session

    backend.send(salida(Texto("Hola")))
    backend.send(salida(Texto("Hola otra vez")))
    reused = backend.session
    backend.close()

    assert reused is first
    assert backend.session is not first


@pytest.mark.parametrize(
    ("api_version", "base_url", "url"),
    [
        pytest.param(
            "v23.0",
            "https://graph.facebook.com",
            f"https://graph.facebook.com/v23.0/{PHONE_NUMBER_ID}/messages",
            id="version",
        ),
        pytest.param(
            "24.0",
            "http://127.0.0.1:8765/",
            f"http://127.0.0.1:8765/v24.0/{PHONE_NUMBER_ID}/messages",
            id="sandbox",
        ),
    ],
)
def test_deliver__url_from_api_version_and_base_url(graph, api_version, base_url, url):
    backend = MetaBackend(
        PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        ACCESS_TOKEN=TOKEN,
        API_VERSION=api_version,
        BASE_URL=base_url,
    )
    send = mock_messages(graph, load("send_ok.json"), url=url)

    backend.send(salida(Texto("Hola")))

    assert send.call_count == 1


# -- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        pytest.param(131000, 500, TransientError, id="131000-desconocido"),
        pytest.param(131016, 503, TransientError, id="131016-no-disponible"),
        pytest.param(130429, 400, ThroughputLimitError, id="130429-throughput"),
        pytest.param(131056, 400, PairRateLimitError, id="131056-par"),
        pytest.param(132000, 400, PermanentError, id="132000-variables"),
        pytest.param(131026, 400, PermanentError, id="131026-no-entregable"),
        pytest.param(100, 400, PermanentError, id="100-parametro"),
        pytest.param(190, 401, AuthError, id="190-token-expirado"),
        pytest.param(0, 401, AuthError, id="0-auth"),
        pytest.param(10, 403, AuthError, id="10-permiso"),
        pytest.param(200, 403, AuthError, id="200-permiso"),
    ],
)
def test_graph_error__maps_to_its_class(backend, graph, code, status, expected):
    mock_messages(graph, graph_error(code), status)

    with pytest.raises(expected) as excinfo:
        backend.send(salida(Texto("Hola")))

    error = excinfo.value
    assert type(error) is expected
    assert (error.code, error.http_status) == (code, status)
    assert error.trace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert error.detail.startswith("Message failed to send")


def test_graph_error__reads_message_detail_and_trace(backend, graph):
    mock_messages(graph, load("error_131056.json"), 400)

    with pytest.raises(PairRateLimitError) as excinfo:
        backend.send(salida(Texto("Hola")))

    assert (
        str(excinfo.value) == "(#131056) (Business Account, Consumer Account) pair rate limit hit"
    )
    assert "too many messages" in excinfo.value.detail
    assert excinfo.value.readable.startswith("(#131056) Demasiados mensajes seguidos")


def test_graph_error__error_data_as_plain_string(backend, graph):
    mock_messages(graph, load("error_data_texto.json"), 400)

    with pytest.raises(PermanentError) as excinfo:
        backend.send(salida(Texto("Hola")))

    assert excinfo.value.detail == "Param name must be unique within the WhatsApp Business Account."
    assert excinfo.value.trace_id == "A3hJrAfD1qOeS4b5Vx9K2mP"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param(999001, TransientError, id="codigo-desconocido-reintenta"),
        pytest.param(132000, PermanentError, id="codigo-conocido-manda-la-tabla"),
    ],
)
def test_graph_error__is_transient_hint_only_for_unknown_codes(backend, graph, code, expected):
    mock_messages(graph, graph_error(code, is_transient=True), 400)

    with pytest.raises(expected) as excinfo:
        backend.send(salida(Texto("Hola")))

    assert type(excinfo.value) is expected


@pytest.mark.parametrize(
    ("response", "expected", "status"),
    [
        pytest.param(("<html>Bad Gateway</html>", 502), TransientError, 502, id="502-html"),
        pytest.param(("Internal Server Error", 500), TransientError, 500, id="500-sin-json"),
        pytest.param(("Forbidden", 403), AuthError, 403, id="403-sin-json"),
        pytest.param(("<html>ok</html>", 200), AmbiguousError, 200, id="200-sin-json"),
        pytest.param((load("send_ok_sin_id.json"), 200), AmbiguousError, 200, id="200-sin-wamid"),
    ],
)
def test_unreadable_answer__is_classified_by_status(backend, graph, response, expected, status):
    mock_messages(graph, *response)

    with pytest.raises(expected) as excinfo:
        backend.send(salida(Texto("Hola")))

    assert type(excinfo.value) is expected
    assert excinfo.value.http_status == status
    assert excinfo.value.code is None


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        pytest.param(requests.ConnectionError("refused"), TransientError, id="conexion"),
        pytest.param(requests.ConnectTimeout("connect"), TransientError, id="connect-timeout"),
        pytest.param(requests.ReadTimeout("read"), AmbiguousError, id="read-timeout"),
        pytest.param(requests.exceptions.ChunkedEncodingError("cut"), AmbiguousError, id="cortada"),
    ],
)
def test_transport_failure__maps_to_its_class(backend, graph, failure, expected):
    mock_messages(graph, failure)

    with pytest.raises(expected) as excinfo:
        backend.send(salida(Texto("Hola")))

    assert type(excinfo.value) is expected
    assert excinfo.value.http_status is None
    assert "graph.facebook.com" in str(excinfo.value)


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(
            (graph_error(190, message=f"Malformed access token {TOKEN}"), 401),
            id="token-en-message",
        ),
        pytest.param(
            (graph_error(100, error_data={"details": f"token={TOKEN}"}), 400),
            id="token-en-details",
        ),
        pytest.param((f"bad token {TOKEN}", 500), id="sin-json"),
        pytest.param((requests.ReadTimeout("read"),), id="timeout"),
    ],
)
def test_errors__never_contain_the_token(backend, graph, caplog, response):
    caplog.set_level(logging.DEBUG)
    mock_messages(graph, *response)

    with pytest.raises(Exception) as excinfo:  # noqa: PT011  (any class: the text matters)
        backend.send(salida(Texto("Hola")))

    error = excinfo.value
    texts = [str(error), repr(error), getattr(error, "detail", ""), getattr(error, "readable", "")]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records
    assert all(TOKEN not in text for text in texts)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(f"{TOKEN}\n", id="salto-al-final"),
        pytest.param(f" {TOKEN}", id="espacio-al-principio"),
        pytest.param(f"{TOKEN[:8]}\n{TOKEN[8:]}", id="salto-en-medio"),
    ],
)
def test_token_with_whitespace__is_a_configuration_error_without_the_token(graph, token):
    with pytest.raises(ConfigurationError) as excinfo:
        MetaBackend(PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=token)

    assert 'WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]["ACCESS_TOKEN"]' in str(excinfo.value)
    assert "salto de línea" in str(excinfo.value)
    assert TOKEN[8:] not in str(excinfo.value)
    assert len(graph.calls) == 0


def test_token_with_line_break__still_refused_without_the_token_by_the_transport(graph):
    # A subclass without the option check: the invalid header is still reported safely.
    class SinCheck(MetaBackend):
        OPTIONS = {**MetaBackend.OPTIONS, "ACCESS_TOKEN": Option(required=True, secret=True)}

    backend = SinCheck(PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=f"{TOKEN}\n")

    with pytest.raises(ConfigurationError) as excinfo:
        backend.send(salida(Texto("Hola")))

    assert "token" in str(excinfo.value)
    assert TOKEN not in str(excinfo.value)
    assert excinfo.value.__cause__ is None
    assert len(graph.calls) == 0


def test_errors__log_trace_id_without_payload(backend, graph, caplog):
    caplog.set_level(logging.WARNING, logger="whatsapp_notify")
    mock_messages(graph, load("error_131056.json"), 400)

    with pytest.raises(PairRateLimitError):
        backend.send(salida(Texto("Tu clave es ZAFIRO")))

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Az8or2yhqkZfEZ-_4Qn_Bam" in logged
    assert "131056" in logged
    assert "ZAFIRO" not in logged
    assert TELEFONO not in logged


# -- operations ----------------------------------------------------------------------


def test_verify_credentials__returns_name_and_number(backend, graph):
    graph.add(
        responses.GET,
        PHONE_URL,
        json=load("phone_number.json"),
        match=[matchers.query_param_matcher({"fields": "display_phone_number,verified_name"})],
    )

    assert backend.verify_credentials() == "Taller Los Pinos (+52 55 8765 4321)"


def test_verify_credentials__expired_token_raises_auth_error(backend, graph):
    graph.add(responses.GET, PHONE_URL, json=load("error_190.json"), status=401)

    with pytest.raises(AuthError) as excinfo:
        backend.verify_credentials()

    assert excinfo.value.code == 190
    assert excinfo.value.trace_id == "AMq6xPL0Hdz3dQRhjW5rN1c"


# -- configuration -------------------------------------------------------------------


def test_options__unknown_option_raises_naming_the_key():
    with pytest.raises(ConfigurationError) as excinfo:
        MetaBackend("default", PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN, TOKEN="x")

    assert "'TOKEN'" in str(excinfo.value)
    assert 'WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]' in str(excinfo.value)


def test_options__missing_access_token_refuses_to_send_naming_the_key(wa_settings, graph):
    # The backend is built (its webhook works without the token); sending is what waits.
    wa_settings(BACKENDS={"ventas": {"BACKEND": META_BACKEND, "OPTIONS": {"PHONE_NUMBER_ID": "1"}}})

    with pytest.raises(ConfigurationError) as excinfo:
        backends["ventas"].send(salida(Texto("Hola")))

    assert len(graph.calls) == 0

    assert 'WHATSAPP_NOTIFY["BACKENDS"]["ventas"]["OPTIONS"]["ACCESS_TOKEN"]' in str(excinfo.value)
    assert "Usuarios del sistema" in str(excinfo.value)


@pytest.mark.parametrize("timeout", [0, -3, "diez", True, float("nan")])
def test_options__invalid_timeout_raises_naming_the_key(timeout):
    with pytest.raises(ConfigurationError, match=r'\["TIMEOUT"\]'):
        MetaBackend(PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN, TIMEOUT=timeout)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        pytest.param("BASE_URL", "graph.facebook.com", id="url-sin-esquema"),
        pytest.param("BASE_URL", "https:///v25.0", id="url-sin-host"),
        pytest.param("BASE_URL", "http://127.0.0.1:puerto", id="url-puerto-invalido"),
        pytest.param("API_VERSION", "v25", id="version-sin-menor"),
        pytest.param("API_VERSION", "25.0/", id="version-con-barra"),
        pytest.param("API_VERSION", 25.0, id="version-numero"),
    ],
)
def test_options__invalid_value_raises_naming_the_key(graph, option, value):
    options = {"PHONE_NUMBER_ID": PHONE_NUMBER_ID, "ACCESS_TOKEN": TOKEN, option: value}

    with pytest.raises(ConfigurationError) as excinfo:
        MetaBackend("ventas", **options)

    where = f'WHATSAPP_NOTIFY["BACKENDS"]["ventas"]["OPTIONS"]["{option}"]'
    assert str(excinfo.value).startswith(f"{where} debe ser")
    assert repr(value) in str(excinfo.value)
    assert len(graph.calls) == 0


def test_options__none_means_the_default(graph):
    mock_messages(graph, load("send_ok.json"))
    backend = MetaBackend(
        PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        ACCESS_TOKEN=TOKEN,
        API_VERSION=None,
        BASE_URL=None,
        TIMEOUT=None,
    )

    backend.send(salida(Texto("Hola")))

    assert graph.calls[0].request.url == MESSAGES_URL
    assert graph.calls[0].request.req_kwargs["timeout"] == (5.0, 10.0)


def test_options__every_option_explains_where_to_find_it():
    assert set(MetaBackend.OPTIONS) == {
        "PHONE_NUMBER_ID",
        "ACCESS_TOKEN",
        "APP_SECRET",
        "VERIFY_TOKEN",
        "BUSINESS_ACCOUNT_ID",
        "API_VERSION",
        "BASE_URL",
        "TIMEOUT",
        "RATE_LIMIT",
    }
    assert all(option.help for option in MetaBackend.OPTIONS.values())
    secret = {name for name, option in MetaBackend.OPTIONS.items() if option.secret}
    assert secret == {"ACCESS_TOKEN", "APP_SECRET", "VERIFY_TOKEN"}


# -- through the whole pipeline ------------------------------------------------------


@pytest.fixture
def meta_account(wa_settings):
    options = {"PHONE_NUMBER_ID": PHONE_NUMBER_ID, "ACCESS_TOKEN": TOKEN}
    wa_settings(BACKENDS={"default": {"BACKEND": META_BACKEND, "OPTIONS": options}})


@pytest.mark.django_db(transaction=True)
def test_pipeline__template_with_document_header_ends_enviado(meta_account, graph):
    upload = graph.add(responses.POST, MEDIA_URL, json=load("media_upload_ok.json"))
    send = mock_messages(graph, load("send_ok.json"))

    envio = whatsapp_notify.enviar_plantilla(
        "+52 55 1234 5678",
        "cotizacion_lista_cliente",
        variables=["Ana", "COT-7"],
        documento=PDF,
        nombre_documento="cotizacion.pdf",
    )

    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.ENVIADO, envio.error_detalle
    assert envio.wamid == load("send_ok.json")["messages"][0]["id"]
    assert envio.wa_id == "5215512345678"
    assert upload.call_count == 1
    assert MediaSubido.objects.filter(
        cuenta="default", sha256=hashlib.sha256(PDF).hexdigest(), media_id="1037543291543636"
    ).exists()
    payload = sent_json(send.calls[0])
    validate_message(payload)
    assert payload["biz_opaque_callback_data"] == referencia_de(envio.pk)
    assert payload["template"]["components"][0]["parameters"][0]["document"] == {
        "id": "1037543291543636",
        "filename": "cotizacion.pdf",
    }


@pytest.mark.django_db(transaction=True)
def test_pipeline__same_document_again_reuses_media_subido(meta_account, graph):
    upload = graph.add(responses.POST, MEDIA_URL, json=load("media_upload_ok.json"))
    mock_messages(graph, load("send_ok.json"))
    second = copy.deepcopy(load("send_ok.json"))
    second["messages"][0]["id"] = "wamid.segundo"
    mock_messages(graph, second)

    for telefono in ("+52 55 1234 5678", "+52 55 8765 1111"):
        whatsapp_notify.enviar_plantilla(
            telefono, "cotizacion_lista_cliente", documento=PDF, nombre_documento="c.pdf"
        )

    assert upload.call_count == 1
    assert MediaSubido.objects.count() == 1
    assert set(EnvioWhatsApp.objects.values_list("estado", flat=True)) == {EstadoEnvio.ENVIADO}


@pytest.mark.django_db(transaction=True)
def test_pipeline__expired_token_pauses_the_account_and_keeps_the_envio(meta_account, graph):
    mock_messages(graph, load("error_190.json"), 401)

    envio = whatsapp_notify.enviar_plantilla("+52 55 1234 5678", "vehiculo_listo_cliente")

    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.PENDIENTE
    assert envio.error_codigo == 190
    assert EstadoCuenta.objects.get(cuenta="default").pausada


def test_ritmo__la_opcion_de_la_cuenta_gana_al_global_y_se_comprueba():
    # A number on a higher tier keeps its own pace; the others share the global one.
    propio = MetaBackend("masivo", PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN,
                         RATE_LIMIT="1000/s")  # fmt: skip
    comun = MetaBackend("default", PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN)

    assert (propio.rate_limit(), comun.rate_limit()) == ("1000/s", None)
    with pytest.raises(ConfigurationError, match=r'\["RATE_LIMIT"\]'):
        MetaBackend("mal", PHONE_NUMBER_ID=PHONE_NUMBER_ID, ACCESS_TOKEN=TOKEN, RATE_LIMIT="80")
