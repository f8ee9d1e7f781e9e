"""Templates on WHAPI: there are none, so the template's body text is rendered here.

WHAPI sends whatever text it is given; a template name means nothing to it. The text comes
from the account's ``PLANTILLAS`` option (``{"nombre": "Hola {{1}}"}`` or, per language,
``{"nombre": {"es_MX": "Hola {{1}}"}}``), else from the catalog's body text that delivery
hands in (``Plantilla.cuerpo``). Placeholders are Meta's: positional ``{{1}}..{{n}}`` or
named ``{{nombre}}``; every placeholder must get a value and every value a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...events import normalizar_idioma
from ...exceptions import MessageError, VariablesError
from ...messages import Plantilla, Variables
from ..base import UnsupportedContent

# {{1}}, {{ 2 }}, {{nombre_cliente}}: as the catalog reads them (whatsapp_notify.templates).
_PARAMETRO = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class VariablesPlantilla(VariablesError, MessageError):
    """The variables do not fit the body text: a programmer error, the envío fails.

    A :class:`VariablesError` for whoever catches those, and a :class:`MessageError` so
    delivery fails the envío with the message instead of retrying it.
    """


def cuerpo_de(plantilla: Plantilla, registradas: Mapping[str, Any] | None) -> str:
    """The body text of ``plantilla``: the account's ``PLANTILLAS``, else the catalog's.

    Raises:
        UnsupportedContent: neither has a text for that name and language; the message
            names both fixes.
    """
    texto = _registrada(registradas or {}, plantilla.nombre, plantilla.idioma) or plantilla.cuerpo
    if not texto.strip():
        raise UnsupportedContent(
            f"WHAPI no tiene plantillas y no hay texto para {plantilla.nombre!r} "
            f"({plantilla.idioma}): regístralo en OPTIONS['PLANTILLAS'] de la cuenta "
            f"({{{plantilla.nombre!r}: 'Hola {{{{1}}}}…'}}) o en el cuerpo de la plantilla "
            "del catálogo (admin › Plantillas)."
        )
    return texto


def _registrada(registradas: Mapping[str, Any], nombre: str, idioma: str) -> str:
    valor = registradas.get(nombre)
    if isinstance(valor, str):
        return valor
    if isinstance(valor, Mapping):
        por_idioma = {normalizar_idioma(str(clave)): texto for clave, texto in valor.items()}
        texto = por_idioma.get(idioma) or por_idioma.get(idioma.split("_")[0])
        return texto if isinstance(texto, str) else ""
    return ""


def renderizar(texto: str, variables: Variables, nombre: str = "") -> str:
    """``texto`` with each placeholder replaced by its variable.

    Raises:
        VariablesPlantilla: a placeholder without a value, a value without a placeholder,
            positional variables for a named text or the other way round.
    """
    marcas = list(dict.fromkeys(_PARAMETRO.findall(texto)))
    valores = _valores(marcas, variables, nombre)
    return _PARAMETRO.sub(lambda match: valores[match[1]], texto)


def _valores(marcas: list[str], variables: Variables, nombre: str) -> dict[str, str]:
    donde = f"La plantilla {nombre!r}" if nombre else "La plantilla"
    if isinstance(variables, dict):
        valores = dict(variables)
    else:
        valores = {str(posicion): valor for posicion, valor in enumerate(variables, start=1)}
    faltan = [marca for marca in marcas if marca not in valores]
    sobran = [clave for clave in valores if clave not in marcas]
    if faltan or sobran:
        raise VariablesPlantilla(
            f"{donde} espera {_lista(marcas)} y recibió {_lista(list(valores))}: "
            "envía exactamente una variable por cada {{…}} de su texto."
        )
    return valores


def _lista(claves: list[str]) -> str:
    if not claves:
        return "ninguna variable"
    return ", ".join(f"{{{{{clave}}}}}" for clave in claves)


def revisar_plantillas(valor: Any) -> str | None:
    """Check of the ``PLANTILLAS`` option: ``{nombre: texto}`` or ``{nombre: {idioma: texto}}``."""
    ejemplo = "como {'vehiculo_listo_cliente': 'Hola {{1}}, tu {{2}} está listo.'}"
    if not isinstance(valor, Mapping):
        tipo = type(valor).__name__
        return f"debe ser un dict de nombre de plantilla a texto, {ejemplo}; no {tipo}."
    for nombre, texto in valor.items():
        textos = texto.values() if isinstance(texto, Mapping) else [texto]
        if not isinstance(nombre, str) or not all(isinstance(t, str) and t.strip() for t in textos):
            return (
                f"[{nombre!r}] debe ser el texto del cuerpo, o un dict de idioma a texto "
                f"({{'es_MX': 'Hola {{{{1}}}}'}}), {ejemplo}."
            )
    return None
