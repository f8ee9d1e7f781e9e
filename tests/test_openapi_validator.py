"""The payload validator reads Meta's OpenAPI description as its README says.

Meta's own request examples must pass, broken payloads must fail with a readable path.
Examples that still disagree with their schemas are listed one by one, with the reason, and
a test pins that each of them is still rejected (so none is excluded by mistake).
"""

from __future__ import annotations

import copy

import pytest

from tests.openapi import PayloadInvalido, message_examples, validate_message

DISAGREE = {
    "Send Catalog Template Message": "catalog: button sub_type 'CATALOG' and an 'action' "
    "parameter are outside TemplateComponent/ButtonParameterObject",
    "Send Flow Template Message": "flow: button sub_type 'flow' and an 'action' parameter "
    "are outside TemplateComponent/ButtonParameterObject",
    "Send Multi-Product Message": "catalog: the header type is a placeholder '<HEADER_TYPE>'",
    "Send Order Details Message": "order: interactive type 'order_details' is not in "
    "InteractiveObject",
    "Send Order Status Message": "order: interactive type 'order_status' is not in "
    "InteractiveObject",
    "Send Location Message": "location: latitude/longitude are numbers, the schema says string",
    "Send Reply to Location Message": "location: latitude/longitude are numbers, the schema "
    "says string",
    "Send Reply to List Message": "the example omits type 'interactive'; a missing type means "
    "text (reading 6), and it has no text",
    "Send typing indicator and read receipt": "not a message: a mark-as-read body "
    "(MarkMessageRequestPayload), sent to the same endpoint",
}

# The message types this project sends, as (type, interactive.type).
SENT_TYPES = {
    ("text", None),
    ("template", None),
    ("document", None),
    ("image", None),
    ("interactive", "button"),
    ("interactive", "list"),
}


def _example_params():
    for name, payload in message_examples().items():
        if name not in DISAGREE:
            yield pytest.param(payload, id=name)


def _kind(payload: dict) -> tuple[str, str | None]:
    tipo = payload.get("type", "text")
    return tipo, payload["interactive"].get("type") if tipo == "interactive" else None


@pytest.mark.parametrize("payload", list(_example_params()))
def test_meta_example__validates(payload):
    validate_message(payload)

    assert payload["messaging_product"] == "whatsapp"


def test_meta_examples__cover_every_type_we_send():
    passing = {
        _kind(payload) for name, payload in message_examples().items() if name not in DISAGREE
    }

    assert SENT_TYPES - passing == set()


def test_disagreeing_examples__name_real_examples():
    assert set(DISAGREE) - set(message_examples()) == set()


@pytest.mark.parametrize("name", sorted(DISAGREE))
def test_disagreeing_example__still_fails(name):
    # The list must never hide an example that passes: drop it from DISAGREE when it does.
    with pytest.raises(PayloadInvalido):
        validate_message(message_examples()[name])


BASE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+525512345678"}
TEMPLATE = {
    **BASE,
    "type": "template",
    "template": {
        "name": "cotizacion_lista_cliente",
        "language": {"code": "es_MX"},
        "components": [
            {
                "type": "header",
                "parameters": [{"type": "document", "document": {"id": "1", "filename": "c.pdf"}}],
            },
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
        ],
    },
}


def _without(payload: dict, *path) -> dict:
    broken = copy.deepcopy(payload)
    target = broken
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return broken


@pytest.mark.parametrize(
    ("payload", "where", "problem"),
    [
        pytest.param(
            _without(TEMPLATE, "template", "name"),
            "$.template",
            "'name'",
            id="template-without-name",
        ),
        pytest.param(
            _without(TEMPLATE, "template", "components", 0, "parameters", 0, "document", "id"),
            "$.template.components[0].parameters[0].document",
            "'link'",
            id="header-document-without-id-or-link",
        ),
        pytest.param(
            {**BASE, "type": "document", "document": {"filename": "c.pdf", "caption": "Hola"}},
            "$.document",
            "'id'",
            id="document-without-id-or-link",
        ),
        pytest.param(
            {**BASE, "to": 525512345678, "type": "text", "text": {"body": "Hola"}},
            "$.to",
            "not of type 'string'",
            id="to-not-a-string",
        ),
        pytest.param(
            {**BASE, "type": "fax", "fax": {"body": "Hola"}},
            "$.type",
            "'fax' is not one of",
            id="unknown-message-type",
        ),
    ],
)
def test_broken_payload__is_rejected_with_its_path(payload, where, problem):
    with pytest.raises(PayloadInvalido) as excinfo:
        validate_message(payload)

    line = next(line for line in str(excinfo.value).splitlines() if line.startswith(f"{where}:"))
    assert problem in line


def test_payload_without_type__is_read_as_text():
    validate_message({**BASE, "text": {"body": "Hola"}})

    with pytest.raises(PayloadInvalido, match=r"\$: 'text' is a required property"):
        validate_message({**BASE, "document": {"id": "1"}})


def test_payload_without_recipient_type_or_policy__validates():
    payload = _without(TEMPLATE, "recipient_type")
    payload["template"]["language"] = {"code": "es_MX"}

    validate_message(payload)

    assert "recipient_type" not in payload


def test_validate_message__does_not_modify_the_payload():
    payload = {**BASE, "text": {"body": "Hola"}}

    validate_message(payload)

    assert "type" not in payload


def test_extra_envelope_fields__are_allowed():
    validate_message({**TEMPLATE, "biz_opaque_callback_data": "42"})

    assert TEMPLATE["type"] == "template"
