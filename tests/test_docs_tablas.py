"""The tables the docs build renders from the code (``docs/_ext/whatsapp_docs.py``).

Each provider's codes appear with what the app does about them, in the page's language;
consecutive codes treated alike fold into one row, and nothing the tables know is lost.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from django.utils import translation

from whatsapp_notify.backends.meta import errors as meta
from whatsapp_notify.backends.twilio import errors as twilio
from whatsapp_notify.backends.whapi import errors as whapi
from whatsapp_notify.conf import DEFAULTS
from whatsapp_notify.models import MotivoOmision

RUTA = Path(__file__).resolve().parent.parent / "docs" / "_ext" / "whatsapp_docs.py"
_spec = importlib.util.spec_from_file_location("whatsapp_docs", RUTA)
whatsapp_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(whatsapp_docs)

EN, ES = whatsapp_docs.TEXTOS["en"], whatsapp_docs.TEXTOS["es"]


def filas(funcion, idioma: str):
    with translation.override(idioma):
        return funcion(whatsapp_docs.TEXTOS[idioma])


def codigos_de(nombre: str) -> set[int]:
    """The codes one row names: ``"`200`–`299`"``, ``"`1`, `2`"`` or ``"`190`"``."""
    numeros = [int(n) for n in re.findall(r"`(\d+)`", nombre)]
    if "–" in nombre:
        return set(range(numeros[0], numeros[-1] + 1))
    return set(numeros)


def fila_de(tabla, codigo: int):
    [fila] = [fila for fila in tabla if codigo in codigos_de(fila[0])]
    return fila


@pytest.mark.parametrize(
    ("funcion", "conocidos"),
    [
        pytest.param(
            whatsapp_docs.filas_de_meta,
            meta.TRANSIENT_CODES | meta.AUTH_CODES | meta.ACCOUNT_CODES | set(meta.ERROR_MESSAGES),
            id="meta",
        ),
        pytest.param(
            whatsapp_docs.filas_de_twilio,
            twilio.TRANSIENT_CODES | twilio.AUTH_CODES | set(twilio.ERROR_MESSAGES),
            id="twilio",
        ),
        pytest.param(
            whatsapp_docs.filas_de_whapi,
            whapi.TRANSITORIOS | whapi.DE_CUENTA | set(whapi.MENSAJES),
            id="whapi",
        ),
    ],
)
def test_codigos__cada_codigo_conocido_sale_una_sola_vez(funcion, conocidos):
    nombrados = [codigo for fila in filas(funcion, "en") for codigo in codigos_de(fila[0])]

    assert sorted(nombrados) == sorted(conocidos)


def test_codigos__los_permisos_de_graph_son_una_fila_y_pausan_la_cuenta():
    tabla = filas(whatsapp_docs.filas_de_meta, "en")

    assert fila_de(tabla, 250) == ("`200`–`299`", EN["cuenta"], "Provider error.")
    assert fila_de(tabla, 131056)[1] == EN["par"]
    assert fila_de(tabla, 130429)[1] == EN["ritmo"]
    assert fila_de(tabla, 131050)[1] == EN["permanente"] + EN["baja_marketing"]


def test_codigos__el_texto_es_el_del_idioma_de_la_pagina():
    ingles = fila_de(filas(whatsapp_docs.filas_de_meta, "en"), 131047)
    espanol = fila_de(filas(whatsapp_docs.filas_de_meta, "es"), 131047)

    assert ingles[1:] != espanol[1:]
    assert espanol == ("`131047`", ES["permanente"], str(meta.ERROR_MESSAGES[131047]))
    assert "24 hours" in ingles[2]


def test_codigos__twilio_registra_la_baja_y_whapi_frena_con_429():
    assert fila_de(filas(whatsapp_docs.filas_de_twilio, "en"), 63014)[1].endswith(EN["baja"])
    assert fila_de(filas(whatsapp_docs.filas_de_whapi, "en"), 429)[1] == EN["ritmo"]
    assert fila_de(filas(whatsapp_docs.filas_de_whapi, "en"), 404)[1] == EN["permanente"]


def test_ajustes__una_fila_por_ajuste_en_el_orden_de_defaults():
    tabla = filas(whatsapp_docs.filas_de_ajustes, "en")

    assert [nombre.strip("`") for nombre, _, _ in tabla] == list(DEFAULTS)
    assert {n: d for n, d, _ in tabla}["`RATE_LIMIT`"] == "`'80/s'`"


def test_motivos__cada_uno_con_su_etiqueta_traducida():
    tabla = filas(whatsapp_docs.filas_de_motivos, "en")

    assert [valor.strip("`") for valor, _ in tabla] == list(MotivoOmision.values)
    assert ("`sin_telefono`", "No phone number") in tabla


def test_en_linea__lo_que_va_entre_comillas_invertidas_es_codigo():
    nodos = whatsapp_docs.en_linea("usa `RATE_LIMIT` o `None`.")

    assert [(type(n).__name__, n.astext()) for n in nodos] == [
        ("Text", "usa "),
        ("literal", "RATE_LIMIT"),
        ("Text", " o "),
        ("literal", "None"),
        ("Text", "."),
    ]
