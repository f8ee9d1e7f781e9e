"""Validate ``/messages`` bodies against Meta's own OpenAPI description of the Cloud API.

The description ships with this package (``sandbox/data/``, MIT, see its LICENSE file) and
is read as data. Taken literally, its JSON Schema rejects Meta's own examples; ``_mend``
applies six readings before anything is validated:

1. ``additionalProperties: false`` inside ``allOf`` members is dropped (it would forbid
   the base properties such as ``to``).
2. Schemas with a ``discriminator`` mapping are dispatched on it instead of trying every
   ``oneOf`` branch (``Message``, ``TemplateComponent``, template ``ParameterObject``).
3. ``recipient_type`` is optional (Meta defaults it to ``individual``).
4. ``LanguageObject.policy`` is optional (deprecated).
5. ``TemplateComponent.index`` keeps neither its malformed ``pattern`` nor its type.
6. A message without ``type`` is a text message.

``jsonschema`` and ``PyYAML`` are optional dependencies (extra ``sandbox``), imported the
first time a payload is validated.
"""

from __future__ import annotations

import copy
import importlib
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..exceptions import MissingDependencyError, WhatsAppError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SPEC_NAME = "meta-business-messaging-api_v23.0.yaml"
SEND_PATH = "/{Version}/{Phone-Number-ID}/messages"
SCHEMAS = "#/components/schemas/"
EXTRA = "sandbox"

# Dispatched on their discriminator. ButtonParameterObject keeps its plain (type-only)
# reading: we send no button parameters, and Meta's own "Sample Issue Resolution" example
# puts booleans where ButtonTextParameter says string.
DISPATCHED = ("Message", "TemplateComponent", "ParameterObject")
# Components whose ``index`` is described wrongly (pattern "^[2-6, 11-14]$", type string).
INDEXED = ("TemplateComponent", "ButtonComponent")


class PayloadInvalido(WhatsAppError, AssertionError):
    """A payload Meta's description rejects; the message lists each path and problem.

    It is also an ``AssertionError``: in a test, an invalid payload fails the test that
    built it instead of erroring it.
    """


def spec_path() -> Traversable:
    """Where the shipped OpenAPI description is (a file inside the installed package)."""
    return resources.files(__package__).joinpath("data", SPEC_NAME)


def validate_message(payload: dict[str, Any]) -> None:
    """Check ``payload`` against ``components.schemas.Message`` (mended).

    Raises:
        PayloadInvalido: one line per problem, each with its JSON path (``$.template.name``).
        MissingDependencyError: ``jsonschema`` or ``PyYAML`` is not installed.
    """
    instance = dict(payload)
    instance.setdefault("type", "text")  # reading 6: a missing type means text on the wire
    errors = sorted(_validator().iter_errors(instance), key=lambda error: list(error.path))
    if errors:
        raise PayloadInvalido("\n".join(_describe(error) for error in errors))


def problema(payload: Any) -> str:
    """What Meta's description rejects in ``payload`` (``""`` when it is valid)."""
    if not isinstance(payload, dict):
        return f"$: el cuerpo debe ser un objeto JSON, no {type(payload).__name__}"
    try:
        validate_message(payload)
    except PayloadInvalido as error:
        return str(error)
    return ""


def message_examples() -> dict[str, dict[str, Any]]:
    """Meta's request examples for the send endpoint, by example name."""
    examples = spec()["paths"][SEND_PATH]["post"]["requestBody"]["content"]["application/json"]
    return {name: example["value"] for name, example in examples["examples"].items()}


def webhook_examples() -> dict[str, dict[str, Any]]:
    """Meta's examples of webhook bodies (``paths./whatsapp/webhooks.post``), by name."""
    examples = spec()["paths"]["/whatsapp/webhooks"]["post"]["requestBody"]["content"]
    return {
        name: example["value"] for name, example in examples["application/json"]["examples"].items()
    }


@cache
def spec() -> dict[str, Any]:
    """The whole OpenAPI description, parsed once per process (do not modify it)."""
    yaml = importar("yaml", "PyYAML")
    # The description is 1 MB: libyaml's loader reads it ten times faster when present.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with spec_path().open(encoding="utf-8") as archivo:
        return yaml.load(archivo, Loader=loader)


def importar(modulo: str, paquete: str) -> Any:
    """Import an optional dependency of the sandbox.

    Raises:
        MissingDependencyError: not installed; the message names the ``sandbox`` extra.
    """
    try:
        return importlib.import_module(modulo)
    except ImportError:
        raise MissingDependencyError(paquete, EXTRA) from None


def _describe(error: ValidationError) -> str:
    """``$.path: problem``; a failed oneOf/anyOf says what each of its branches missed."""
    if not error.context:
        return f"{error.json_path}: {error.message}"
    # The branch that got furthest into the payload is the one the author meant.
    deepest = max(error.context, key=lambda branch: len(branch.absolute_path))
    if deepest.relative_path:
        return _describe(deepest)
    ramas = sorted({branch.message for branch in error.context})
    return f"{error.json_path}: ninguna alternativa aplica ({'; '.join(ramas)})"


@cache
def _validator() -> Draft202012Validator:
    jsonschema = importar("jsonschema", "jsonschema")
    root = {
        "$ref": f"{SCHEMAS}Message",
        "components": {"schemas": _mend(spec()["components"]["schemas"])},
    }
    return jsonschema.Draft202012Validator(root)


def _mend(original: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``components.schemas`` with the known defects read as intended."""
    schemas = copy.deepcopy(original)
    for schema in schemas.values():
        _drop_closed_allof_members(schema)
    _drop_required(schemas["BaseMessageProperties"], "recipient_type")
    _drop_required(schemas["LanguageObject"], "policy")
    for name in INDEXED:
        _loosen_index(schemas[name])
    for name in DISPATCHED:
        _dispatch(schemas, name)
    return schemas


def _drop_closed_allof_members(schema: dict[str, Any]) -> None:
    for member in schema.get("allOf", []):
        if member.get("additionalProperties") is False:
            del member["additionalProperties"]


def _drop_required(schema: dict[str, Any], field: str) -> None:
    schema["required"] = [name for name in schema.get("required", []) if name != field]


def _loosen_index(schema: dict[str, Any]) -> None:
    for part in [schema, *schema.get("allOf", [])]:
        if "index" in part.get("properties", {}):
            part["properties"]["index"] = {"description": "0-based button position."}


def _dispatch(schemas: dict[str, Any], name: str) -> None:
    """Replace ``name`` by a dispatcher on its discriminator; keep the rest as ``name__base``.

    Mapped schemas extend the base with ``allOf: [{$ref: name}, ...]``; those references
    point at ``name__base`` so dispatch does not recurse.
    """
    base = schemas[name]
    discriminator = base.pop("discriminator")
    base.pop("oneOf", None)
    schemas[f"{name}__base"] = base
    for target in discriminator["mapping"].values():
        _repoint(schemas[target.removeprefix(SCHEMAS)], name)
    schemas[name] = _dispatcher(discriminator["propertyName"], discriminator["mapping"])


def _repoint(schema: dict[str, Any], name: str) -> None:
    for member in schema.get("allOf", []):
        if member.get("$ref") == f"{SCHEMAS}{name}":
            member["$ref"] = f"{SCHEMAS}{name}__base"


def _dispatcher(field: str, mapping: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [field],
        "properties": {field: {"enum": sorted(mapping)}},
        "allOf": [
            {
                "if": {"required": [field], "properties": {field: {"const": value}}},
                "then": {"$ref": target},
            }
            for value, target in mapping.items()
        ],
    }
