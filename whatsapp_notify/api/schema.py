"""What the API says about itself in OpenAPI, read only when drf-spectacular is installed.

The committed description (``openapi.yaml`` beside this module, served at
``api/esquema/``) is written by drf-spectacular; the API itself does not need it, so
without it these decorators change nothing and :func:`parametro` gives nothing.
"""

from __future__ import annotations

from typing import Any

try:
    from drf_spectacular.utils import (
        OpenApiParameter,
        extend_schema,
        extend_schema_field,
        extend_schema_view,
    )
except ImportError:  # the API works without it; only the description generator uses it
    OpenApiParameter = None

    def extend_schema(*args, **kwargs):
        return lambda objeto: objeto

    extend_schema_field = extend_schema_view = extend_schema

__all__ = ["extend_schema", "extend_schema_field", "extend_schema_view", "parametro"]


def parametro(
    nombre: str,
    descripcion: str,
    *,
    tipo: type = str,
    requerido: bool = False,
    opciones: list[str] | None = None,
) -> Any:
    """A query-string parameter of a view, for the description (None without the generator)."""
    if OpenApiParameter is None:
        return None
    return OpenApiParameter(
        nombre, tipo, OpenApiParameter.QUERY, required=requerido, description=descripcion,
        enum=opciones,
    )  # fmt: skip


#: The shape of every error that is not a field's (``{"detail": …, "code": …}``).
ERROR = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Estable: ver docs/es/api.md"},
    },
    "required": ["detail", "code"],
}
#: Field errors: DRF's ``{"campo": ["mensaje", ...]}`` (``non_field_errors`` for the whole).
ERRORES_DE_CAMPO = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
#: Operations that answer 409 (a conflict the request cannot fix by itself), by operationId.
CON_CONFLICTO = (
    "envios_create", "envios_reenviar_create", "envios_cancelar_create",
    "conversaciones_responder_create", "avisos_reenviar_create",
)  # fmt: skip


def respuestas_de_error(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: the errors every operation may answer.

    400 (with the field errors' shape), 401/403, 404 on a path with an id, 409 where the
    operation has conflicts, 429 (the throttle); each one with DRF's error shape.
    """
    esquemas = result.setdefault("components", {}).setdefault("schemas", {})
    esquemas["Error"] = ERROR
    esquemas["ErroresDeCampo"] = ERRORES_DE_CAMPO
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    de_campo = {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/ErroresDeCampo"},
                    {"$ref": "#/components/schemas/Error"},
                ]
            }
        }
    }
    for ruta, operaciones in result.get("paths", {}).items():
        for operacion in operaciones.values():
            respuestas = operacion.setdefault("responses", {})
            respuestas.setdefault("400", {"description": "Petición inválida", "content": de_campo})
            respuestas.setdefault("401", {"description": "Sin autenticar", "content": error})
            respuestas.setdefault("403", {"description": "Sin permiso", "content": error})
            if "{" in ruta:
                respuestas.setdefault("404", {"description": "No existe", "content": error})
            if operacion.get("operationId") in CON_CONFLICTO:
                respuestas.setdefault("409", {"description": "Conflicto", "content": error})
            respuestas.setdefault("429", {"description": "Demasiadas peticiones", "content": error})
    return result
