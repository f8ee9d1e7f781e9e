"""Graph's template objects (``GET /{version}/{WABA}/message_templates``) as PlantillaRemota.

:func:`plantilla_remota` reads one template object (``reference/cloud_api.md`` §4.1) into
the shared shape the catalog stores, counting the body parameters a send needs (§4.2);
:func:`datos_pagina` and :func:`cursor_siguiente` read the listing's pages. Meta's own
``components`` are kept as given. No model is imported here.
"""

from __future__ import annotations

import re
from typing import Any

from ...events import normalizar_idioma
from ..base import PlantillaRemota

POSITIONAL, NAMED = "POSITIONAL", "NAMED"
CAMPOS_PLANTILLA = "id,name,language,status,category,parameter_format,components,rejected_reason"
# A WABA holds at most a few hundred templates; the cap only stops a cursor that never ends.
MAX_PAGINAS_PLANTILLAS = 100
# {{1}}, {{ 2 }}, {{nombre_cliente}}: the placeholders of a template text.
_PARAMETRO = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def plantilla_remota(plantilla: dict[str, Any]) -> PlantillaRemota:
    """The shared description of a Graph template object.

    An object without ``name`` or ``language`` gives them empty: the catalog skips it.
    """
    cuantos, nombres = parametros_cuerpo(plantilla)
    idioma = _texto(plantilla.get("language"))
    return PlantillaRemota(
        nombre=_texto(plantilla.get("name")),
        idioma=normalizar_idioma(idioma) if idioma else "",
        estado=_texto(plantilla.get("status")).upper(),
        categoria=_texto(plantilla.get("category")).upper(),
        proveedor_id=_texto(plantilla.get("id")),
        formato_parametros=formato_parametros(plantilla),
        parametros_cuerpo=cuantos,
        nombres_parametros=tuple(nombres),
        formato_encabezado=formato_encabezado(plantilla),
        cuerpo=_texto(componente(plantilla, "BODY").get("text")),
        componentes=_lista(plantilla.get("components")),
        motivo=_sin_none(plantilla.get("rejected_reason")),
    )


def parametros_en(texto: Any) -> list[str]:
    """The distinct placeholders of ``texto``, in order of first appearance."""
    return list(dict.fromkeys(_PARAMETRO.findall(texto if isinstance(texto, str) else "")))


def componente(plantilla: dict[str, Any], tipo: str) -> dict[str, Any]:
    """The first component of ``tipo`` (``BODY``, ``HEADER``...), or ``{}``."""
    for comp in _lista(plantilla.get("components")):
        if isinstance(comp, dict) and str(comp.get("type", "")).upper() == tipo:
            return comp
    return {}


def formato_parametros(plantilla: dict[str, Any]) -> str:
    """``NAMED`` or ``POSITIONAL`` (Graph's default when ``parameter_format`` is absent)."""
    return NAMED if str(plantilla.get("parameter_format") or "").upper() == NAMED else POSITIONAL


def parametros_cuerpo(plantilla: dict[str, Any]) -> tuple[int, list[str]]:
    """How many body parameters a send needs, and their names for a NAMED template.

    Counted from the body text (each distinct ``{{...}}`` once); a body without text is
    counted from its example instead.
    """
    cuerpo = componente(plantilla, "BODY")
    nombres = parametros_en(cuerpo.get("text")) if "text" in cuerpo else _de_ejemplo(cuerpo)
    if formato_parametros(plantilla) == NAMED:
        return len(nombres), nombres
    return len(nombres), []


def _de_ejemplo(cuerpo: dict[str, Any]) -> list[str]:
    ejemplo = cuerpo.get("example") if isinstance(cuerpo.get("example"), dict) else {}
    con_nombre = _lista(ejemplo.get("body_text_named_params"))
    if con_nombre:
        return [str(p.get("param_name")) for p in con_nombre if isinstance(p, dict)]
    filas = _lista(ejemplo.get("body_text"))
    primera = filas[0] if filas and isinstance(filas[0], list) else []
    return [str(numero) for numero in range(1, len(primera) + 1)]


def formato_encabezado(plantilla: dict[str, Any]) -> str:
    """``TEXT``, ``DOCUMENT``, ``IMAGE``, ``VIDEO``, ``LOCATION``, or "" without header."""
    return str(componente(plantilla, "HEADER").get("format") or "").upper()


# -- the listing's pages -------------------------------------------------------------------


def datos_pagina(pagina: Any) -> list[Any]:
    """The template objects of one page (``data``); ``[]`` for anything else."""
    datos = pagina.get("data") if isinstance(pagina, dict) else None
    return datos if isinstance(datos, list) else []


def cursor_siguiente(pagina: Any) -> str:
    """The ``after`` cursor when Graph announces a next page (``paging.next``), else ""."""
    paging = pagina.get("paging") if isinstance(pagina, dict) else None
    if not isinstance(paging, dict) or not paging.get("next"):
        return ""
    cursores = paging.get("cursors")
    return str((cursores if isinstance(cursores, dict) else {}).get("after") or "")


# -- small readers ---------------------------------------------------------------------------


def _texto(valor: Any) -> str:
    if isinstance(valor, bool) or valor is None:
        return ""
    return str(valor) if isinstance(valor, str | int) else ""


def _sin_none(valor: Any) -> str:
    texto = _texto(valor)
    return "" if texto.upper() == "NONE" else texto


def _lista(valor: Any) -> list[Any]:
    return valor if isinstance(valor, list) else []
