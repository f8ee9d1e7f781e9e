"""The sandbox's template listing: ``GET /{version}/{waba_id}/message_templates``.

Answers like the WhatsApp Business Management API (``reference/cloud_api.md`` §4): a page
of ``data`` with only the requested ``fields`` (and ``id``), ``limit`` per page (25 by
default, as Graph), and ``paging.cursors`` with ``paging.next`` while more remain.
Cursors are opaque to the client; here they encode the position in the list.
"""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any
from urllib.parse import parse_qs, urlencode

from .fallos import error_graph

LIMITE = 25
MAX_LIMITE = 1000

# What a fresh sandbox lists: the templates of the example project, one of each kind.
PLANTILLAS: tuple[dict[str, Any], ...] = (
    {
        "id": "920070352646140",
        "name": "vehiculo_listo_cliente",
        "language": "es_MX",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hola {{1}}, tu {{2}} está listo (orden {{3}}).",
                "example": {"body_text": [["Ana", "Mazda 3", "OT-42"]]},
            }
        ],
    },
    {
        "id": "920070352646141",
        "name": "cotizacion_lista_cliente",
        "language": "es_MX",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "NAMED",
        "components": [
            {"type": "HEADER", "format": "DOCUMENT"},
            {
                "type": "BODY",
                "text": "Hola {{nombre}}, te enviamos tu cotización.",
                "example": {"body_text_named_params": [{"param_name": "nombre", "example": "Ana"}]},
            },
        ],
    },
    {
        "id": "920070352646142",
        "name": "hello_world",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [{"type": "BODY", "text": "Hello World"}],
    },
)


def ejemplos() -> list[dict[str, Any]]:
    """A fresh copy of :data:`PLANTILLAS`, for one sandbox to change at will."""
    return copy.deepcopy(list(PLANTILLAS))


def pagina(plantillas: list[dict[str, Any]], query: str, url: str) -> tuple[int, Any]:
    """``(HTTP status, body)`` of one page of ``plantillas`` for the request's ``query``.

    ``url`` (without query) is where ``paging.next`` points.
    """
    params = {clave: valores[-1] for clave, valores in parse_qs(query).items()}
    limite, inicio = _limite(params.get("limit")), _posicion(params.get("after"))
    if limite is None or inicio is None:
        return error_graph(100, "Invalid parameter: limit or after")
    campos = _campos(params.get("fields"))
    datos = [_solo(plantilla, campos) for plantilla in plantillas[inicio : inicio + limite]]
    cuerpo: dict[str, Any] = {"data": datos}
    if datos:
        cuerpo["paging"] = _paging(inicio, inicio + len(datos), len(plantillas), params, url)
    return 200, cuerpo


def _paging(inicio: int, fin: int, total: int, params: dict[str, str], url: str) -> dict[str, Any]:
    paging: dict[str, Any] = {"cursors": {"before": _cursor(inicio), "after": _cursor(fin)}}
    if fin < total:
        paging["next"] = f"{url}?{urlencode({**params, 'after': _cursor(fin)})}"
    return paging


def _campos(fields: str | None) -> set[str] | None:
    # Graph answers only the fields asked for, and always the id.
    if not fields:
        return None
    return {campo.strip() for campo in fields.split(",") if campo.strip()} | {"id"}


def _solo(plantilla: dict[str, Any], campos: set[str] | None) -> dict[str, Any]:
    if campos is None:
        return dict(plantilla)
    return {clave: valor for clave, valor in plantilla.items() if clave in campos}


def _limite(valor: str | None) -> int | None:
    if valor is None:
        return LIMITE
    return int(valor) if valor.isdigit() and 0 < int(valor) <= MAX_LIMITE else None


def _cursor(posicion: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{posicion}".encode()).decode()


def _posicion(cursor: str | None) -> int | None:
    if not cursor:
        return 0
    try:
        texto = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    numero = texto.removeprefix("pos:")
    return int(numero) if texto.startswith("pos:") and numero.isdigit() else None
