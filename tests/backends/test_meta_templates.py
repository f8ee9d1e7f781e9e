"""Graph's template listing read into PlantillaRemota, the shape the catalog stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from whatsapp_notify.backends.base import PlantillaRemota
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.backends.meta.templates import plantilla_remota

PAGINA = json.loads(
    (
        Path(__file__).resolve().parent.parent / "payloads" / "meta" / "message_templates.json"
    ).read_text()
)
WABA = "102290129340398"
LISTADO = f"https://graph.facebook.com/v25.0/{WABA}/message_templates"


@pytest.fixture
def backend():
    return MetaBackend(
        "default", PHONE_NUMBER_ID="123", ACCESS_TOKEN="token", BUSINESS_ACCOUNT_ID=WABA
    )


def test_list_templates__returns_plantilla_remota_with_metas_components_kept(backend):
    with responses.RequestsMock() as graph:
        graph.get(LISTADO, json=PAGINA)
        factura, cita = backend.list_templates()

    assert factura == PlantillaRemota(
        nombre="invoice_ready",
        idioma="en_US",
        estado="APPROVED",
        categoria="UTILITY",
        proveedor_id="920070352646140",
        formato_parametros="POSITIONAL",
        parametros_cuerpo=2,
        nombres_parametros=(),
        formato_encabezado="DOCUMENT",
        cuerpo="Hi {{1}}, invoice {{2}} is ready.",
        componentes=PAGINA["data"][0]["components"],
        motivo="",
    )
    assert (cita.formato_parametros, cita.nombres_parametros) == (
        "NAMED",
        ("customer_name", "fecha"),
    )
    assert (cita.estado, cita.categoria, cita.motivo) == ("REJECTED", "MARKETING", "INVALID_FORMAT")
    assert cita.cuerpo == "Hola {{customer_name}}, tu cita es el {{fecha}}."


@pytest.mark.parametrize(
    ("objeto", "esperado"),
    [
        pytest.param({"language": "es"}, ("", "es"), id="sin-nombre"),
        pytest.param({"name": "x"}, ("x", ""), id="sin-idioma"),
        pytest.param({"name": "x", "language": "es-mx"}, ("x", "es_MX"), id="idioma-normalizado"),
        pytest.param({"name": 5, "language": ["es"]}, ("5", ""), id="tipos-raros"),
    ],
)
def test_plantilla_remota__name_and_language_as_text_or_empty(objeto, esperado):
    remota = plantilla_remota(objeto)

    assert (remota.nombre, remota.idioma) == esperado
    assert (remota.cuerpo, remota.componentes, remota.parametros_cuerpo) == ("", [], 0)
