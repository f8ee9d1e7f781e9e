"""What the reference page renders from the code: every setting and every check id described.

The docs build reads ``conf.DESCRIPCIONES`` and ``checks.CATALOGO``; these tests keep them in
step with ``conf.DEFAULTS`` and with the ids the package emits, and make sure each sentence
has its English translation, so neither site shows a gap or a stale row.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.utils import translation

import whatsapp_notify
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.backends.twilio import TwilioBackend
from whatsapp_notify.backends.whapi import WhapiBackend
from whatsapp_notify.checks import CATALOGO
from whatsapp_notify.conf import DEFAULTS, DESCRIPCIONES, SETTING_NAME

PAQUETE = Path(whatsapp_notify.__file__).resolve().parent
# Upper-case names in backticks that are not settings of ours: Django's settings, the keys
# of a BACKENDS entry, the providers' OPTIONS, the check ids themselves.
AJENOS = {
    "BACKEND",
    "OPTIONS",
    "CACHES",
    "ADMINS",
    "REST_FRAMEWORK",
    "MEDIA_ROOT",
    SETTING_NAME,
    *MetaBackend.OPTIONS,
    *TwilioBackend.OPTIONS,
    *WhapiBackend.OPTIONS,
    *CATALOGO,
}
NOMBRE_EN_CODIGO = re.compile(r"`([A-Z][A-Z0-9_]*[A-Z0-9*])`")
ID_DE_CHECK = re.compile(r"^(?:whatsapp_notify\.)?([EW]\d{3})$")


def nombres_de_ajustes(texto: str) -> set[str]:
    """The setting-like names a sentence puts in backticks (``FAILURE_*`` as a prefix)."""
    return {nombre for nombre in NOMBRE_EN_CODIGO.findall(texto) if nombre not in AJENOS}


def existe(nombre: str) -> bool:
    if nombre.endswith("*"):
        return any(ajuste.startswith(nombre[:-1]) for ajuste in DEFAULTS)
    return nombre in DEFAULTS


def en_espanol(texto) -> str:
    with translation.override("es"):
        return str(texto)


def en_ingles(texto) -> str:
    with translation.override("en"):
        return str(texto)


def ids_emitidos() -> dict[str, str]:
    """Every check id a string literal of the package spells (``"E004"`` or the full
    ``"whatsapp_notify.W001"``), with the first module that uses it."""
    ids: dict[str, str] = {}
    for modulo in sorted(PAQUETE.rglob("*.py")):
        if "migrations" in modulo.parts:
            continue
        for nodo in ast.walk(ast.parse(modulo.read_text(encoding="utf-8"))):
            if isinstance(nodo, ast.Constant) and isinstance(nodo.value, str):
                encontrado = ID_DE_CHECK.match(nodo.value)
                if encontrado and not _es_clave_del_catalogo(modulo, nodo):
                    ids.setdefault(encontrado[1], str(modulo.relative_to(PAQUETE)))
    return ids


def _es_clave_del_catalogo(modulo: Path, nodo: ast.Constant) -> bool:
    # CATALOGO's own keys say nothing about what is emitted.
    return modulo.name == "checks.py" and nodo.value in CATALOGO and _en_catalogo(modulo, nodo)


def _en_catalogo(modulo: Path, nodo: ast.Constant) -> bool:
    arbol = ast.parse(modulo.read_text(encoding="utf-8"))
    for asignacion in ast.walk(arbol):
        if (
            isinstance(asignacion, ast.AnnAssign)
            and isinstance(asignacion.target, ast.Name)
            and asignacion.target.id == "CATALOGO"
            and isinstance(asignacion.value, ast.Dict)
        ):
            return any(
                isinstance(clave, ast.Constant) and clave.lineno == nodo.lineno
                for clave in asignacion.value.keys
            )
    return False


# -- settings ------------------------------------------------------------------------------


def test_ajustes__cada_uno_de_defaults_tiene_su_descripcion():
    sin_descripcion = sorted(set(DEFAULTS) - set(DESCRIPCIONES))

    assert not sin_descripcion, f"ajustes sin descripción en conf.DESCRIPCIONES: {sin_descripcion}"


def test_ajustes__ninguna_descripcion_es_de_un_ajuste_que_no_existe():
    sobrantes = sorted(set(DESCRIPCIONES) - set(DEFAULTS))

    assert not sobrantes, f"conf.DESCRIPCIONES describe ajustes que no existen: {sobrantes}"


@pytest.mark.parametrize("ajuste", sorted(DESCRIPCIONES))
def test_ajustes__la_descripcion_solo_nombra_ajustes_que_existen(ajuste):
    nombrados = nombres_de_ajustes(en_espanol(DESCRIPCIONES[ajuste]))

    inexistentes = sorted(nombre for nombre in nombrados if not existe(nombre))

    assert not inexistentes, f"la descripción de {ajuste} nombra {inexistentes}"


@pytest.mark.parametrize("ajuste", sorted(DESCRIPCIONES))
def test_ajustes__la_descripcion_tiene_su_traduccion_al_ingles(ajuste):
    espanol, ingles = en_espanol(DESCRIPCIONES[ajuste]), en_ingles(DESCRIPCIONES[ajuste])

    assert ingles != espanol, f"{ajuste}: falta el msgstr inglés en locale/en"
    # The names in code stay the same in both languages.
    assert nombres_de_ajustes(ingles) == nombres_de_ajustes(espanol)


# -- system checks -------------------------------------------------------------------------


def test_comprobaciones__cada_id_que_emite_el_codigo_esta_en_el_catalogo():
    faltan = {ident: modulo for ident, modulo in ids_emitidos().items() if ident not in CATALOGO}

    assert not faltan, f"ids emitidos sin entrada en checks.CATALOGO: {faltan}"


def test_comprobaciones__cada_id_del_catalogo_lo_emite_el_codigo():
    sobrantes = sorted(set(CATALOGO) - set(ids_emitidos()))

    assert not sobrantes, f"checks.CATALOGO describe ids que nada emite: {sobrantes}"


def test_comprobaciones__el_catalogo_va_en_orden():
    assert list(CATALOGO) == sorted(CATALOGO)


@pytest.mark.parametrize("ident", sorted(CATALOGO))
def test_comprobaciones__cada_entrada_tiene_su_traduccion_y_nombra_ajustes_que_existen(ident):
    espanol, ingles = en_espanol(CATALOGO[ident]), en_ingles(CATALOGO[ident])

    inexistentes = sorted(n for n in nombres_de_ajustes(espanol) if not existe(n))

    assert ingles != espanol, f"{ident}: falta el msgstr inglés en locale/en"
    assert not inexistentes, f"{ident} nombra {inexistentes}"
