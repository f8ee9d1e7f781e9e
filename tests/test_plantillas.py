"""The template catalog: reading Graph templates, syncing them, the status webhook, the check
before a send, the sandbox's listing, the sync command and the admin.

Graph is reached either through ``responses`` (only the transport is replaced) or through the
sandbox, a real local HTTP server.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError
from django.urls import reverse
from responses import matchers

from whatsapp_notify import enviar_plantilla, templates
from whatsapp_notify.backends.base import PlantillaRemota
from whatsapp_notify.backends.locmem import LocmemBackend
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.backends.meta import templates as meta_templates
from whatsapp_notify.backends.meta import webhooks as meta_webhooks
from whatsapp_notify.events import EventoDesconocido, EventoPlantilla, normalizar_idioma
from whatsapp_notify.exceptions import (
    AuthError,
    ConfigurationError,
    PermanentError,
    TransientError,
    VariablesError,
)
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio, EventoWebhook, MotivoOmision
from whatsapp_notify.models import Plantilla as PlantillaCatalogo
from whatsapp_notify.sandbox import Sandbox
from whatsapp_notify.sandbox.plantillas import PLANTILLAS

pytestmark = pytest.mark.django_db

META = "whatsapp_notify.backends.meta.MetaBackend"
GRAPH = "https://graph.facebook.com"
WABA = "102290129340398"
OTRA_WABA = "990000000000001"
TOKEN = "EAAGplantillasTOKEN"
SECRETO = "secreto-de-la-app"
TELEFONO = "+52 55 1234 5678"
PAYLOADS = Path(__file__).resolve().parent / "payloads" / "meta" / "webhooks"
LISTADO = f"{GRAPH}/v25.0/{WABA}/message_templates"


# -- Graph template objects ------------------------------------------------------------------


def plantilla_graph(
    nombre: str = "vehiculo_listo_cliente",
    idioma: str = "es_MX",
    *,
    estado: str = "APPROVED",
    cuerpo: str = "Hola {{1}}, tu {{2}} está listo (orden {{3}}).",
    formato: str | None = "POSITIONAL",
    encabezado: str | None = None,
    **extra,
) -> dict:
    componentes = [{"type": "HEADER", "format": encabezado}] if encabezado else []
    componentes.append({"type": "BODY", "text": cuerpo})
    plantilla = {
        "id": f"id-{nombre}-{idioma}",
        "name": nombre,
        "language": idioma,
        "status": estado,
        "category": "UTILITY",
        "components": componentes,
        **extra,
    }
    if formato:
        plantilla["parameter_format"] = formato
    return plantilla


COTIZACION = plantilla_graph(
    "cotizacion_lista_cliente",
    cuerpo="Hola {{nombre}}, tu cotización {{folio}} vence el {{vence}}. Gracias, {{nombre}}.",
    formato="NAMED",
    encabezado="DOCUMENT",
)


def cuenta_meta(waba: str | None = WABA, base_url: str = GRAPH, numero: str = "123") -> dict:
    opciones = {"PHONE_NUMBER_ID": numero, "ACCESS_TOKEN": TOKEN, "BASE_URL": base_url}
    opciones |= {"APP_SECRET": SECRETO, "VERIFY_TOKEN": "verifica"}
    if waba:
        opciones["BUSINESS_ACCOUNT_ID"] = waba
    return {"BACKEND": META, "OPTIONS": opciones}


@pytest.fixture
def meta(wa_settings):
    """The account ``default`` on Meta (Graph itself, mocked with ``responses``)."""
    wa_settings(BACKENDS={"default": cuenta_meta()})


@pytest.fixture
def graph():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def sandbox():
    with Sandbox(webhook_url=None, token=TOKEN, waba_id=WABA) as servidor:
        yield servidor


@pytest.fixture
def meta_sandbox(wa_settings, sandbox):
    """The account ``default`` on Meta, pointed at the sandbox."""
    wa_settings(BACKENDS={"default": cuenta_meta(base_url=sandbox.base_url)})
    return sandbox


def en_catalogo(nombre="vehiculo_listo_cliente", idioma="es_MX", cuenta="default", **campos):
    """A catalog row as a sync stores it (``campos`` override)."""
    remota = meta_templates.plantilla_remota(plantilla_graph(nombre, idioma))
    valores = templates.campos_de_plantilla(remota)
    valores.update(cuenta=cuenta, **campos)
    return PlantillaCatalogo.objects.create(**valores)


def pagina(*plantillas: dict, despues: str | None = None) -> dict:
    cuerpo = {"data": list(plantillas), "paging": {"cursors": {"before": "QVFI", "after": "FIN"}}}
    if despues:
        cuerpo["paging"] = {
            "cursors": {"before": "QVFI", "after": despues},
            "next": f"{LISTADO}?after={despues}",
        }
    return cuerpo


def dos_paginas(graph) -> None:
    """Graph answering the listing in two pages, the second one by the ``after`` cursor."""
    primera = pagina(plantilla_graph(), COTIZACION, despues="QVFIUmJ1")
    segunda = pagina(plantilla_graph("hello_world", "en_US", cuerpo="Hello World", formato=None))
    con_cursor = matchers.query_param_matcher({"after": "QVFIUmJ1"}, strict_match=False)
    graph.get(LISTADO, json=segunda, match=[con_cursor])
    graph.get(LISTADO, json=primera)


def parametros_de(llamada) -> dict[str, str]:
    return {
        clave: valores[-1]
        for clave, valores in parse_qs(urlsplit(llamada.request.url).query).items()
    }


# -- reading a template (cloud_api.md §4.2) ---------------------------------------------------


@pytest.mark.parametrize(
    ("plantilla", "esperado"),
    [
        pytest.param(plantilla_graph(), (3, []), id="posicional"),
        pytest.param(
            plantilla_graph(cuerpo="{{1}} y {{ 2 }}, otra vez {{1}}"), (2, []), id="repetido"
        ),
        pytest.param(plantilla_graph(cuerpo="{{2}} antes que {{1}}"), (2, []), id="desordenado"),
        pytest.param(COTIZACION, (3, ["nombre", "folio", "vence"]), id="con-nombre"),
        pytest.param(
            plantilla_graph(cuerpo="Hello World", formato=None), (0, []), id="sin-variables"
        ),
        pytest.param(
            {
                "name": "x",
                "language": "es",
                "components": [{"type": "BODY", "example": {"body_text": [["Ana", "OT-1"]]}}],
            },
            (2, []),
            id="solo-ejemplo-posicional",
        ),
        pytest.param(
            {
                "name": "x",
                "language": "es",
                "parameter_format": "NAMED",
                "components": [
                    {
                        "type": "body",
                        "example": {
                            "body_text_named_params": [{"param_name": "cliente", "example": "Ana"}]
                        },
                    }
                ],
            },
            (1, ["cliente"]),
            id="solo-ejemplo-con-nombre",
        ),
        pytest.param({"name": "x", "language": "es"}, (0, []), id="sin-componentes"),
    ],
)
def test_parametros_cuerpo__counts_each_placeholder_once(plantilla, esperado):
    assert meta_templates.parametros_cuerpo(plantilla) == esperado


@pytest.mark.parametrize(
    ("encabezado", "esperado"),
    [("DOCUMENT", "DOCUMENT"), ("TEXT", "TEXT"), ("image", "IMAGE"), (None, "")],
    ids=["documento", "texto", "minusculas", "sin-encabezado"],
)
def test_formato_encabezado__reads_the_header_component(encabezado, esperado):
    assert meta_templates.formato_encabezado(plantilla_graph(encabezado=encabezado)) == esperado


@pytest.mark.parametrize(
    ("codigo", "esperado"),
    [
        ("en-US", "en_US"),
        ("es_mx", "es_MX"),
        ("es", "es"),
        (" pt-br ", "pt_BR"),
        ("es_419", "es_419"),
    ],
    ids=["guion", "minusculas", "solo-idioma", "espacios", "region-numerica"],
)
def test_normalizar_idioma__hyphen_and_underscore_are_one(codigo, esperado):
    assert normalizar_idioma(codigo) == esperado


@pytest.mark.parametrize("faltante", ["name", "language"])
def test_campos_de_plantilla__without_name_or_language_is_none(faltante):
    plantilla = plantilla_graph()
    del plantilla[faltante]

    remota = meta_templates.plantilla_remota(plantilla)

    assert templates.campos_de_plantilla(remota) is None


def test_plantilla_remota__rejected_reason_none_is_no_motivo():
    rechazada = plantilla_graph(estado="REJECTED", rejected_reason="INVALID_FORMAT")
    aprobada = plantilla_graph(rejected_reason="NONE")

    assert meta_templates.plantilla_remota(rechazada).motivo == "INVALID_FORMAT"
    assert meta_templates.plantilla_remota(aprobada).motivo == ""


# -- MetaBackend.list_templates ---------------------------------------------------------------


def test_list_templates__follows_the_after_cursor_through_two_pages(graph):
    dos_paginas(graph)
    backend = MetaBackend(
        "default", PHONE_NUMBER_ID="123", ACCESS_TOKEN=TOKEN, BUSINESS_ACCOUNT_ID=WABA
    )

    plantillas = backend.list_templates()

    assert [p.nombre for p in plantillas] == [
        "vehiculo_listo_cliente",
        "cotizacion_lista_cliente",
        "hello_world",
    ]
    primera, segunda = (parametros_de(llamada) for llamada in graph.calls)
    assert "after" not in primera
    assert segunda["after"] == "QVFIUmJ1"
    assert set(primera["fields"].split(",")) >= {"name", "language", "status", "components"}
    assert primera["limit"] == "100"
    assert graph.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_list_templates__a_cursor_that_repeats_ends_the_listing(graph):
    graph.get(LISTADO, json=pagina(plantilla_graph(), despues="MISMO"))
    backend = MetaBackend(
        "default", PHONE_NUMBER_ID="123", ACCESS_TOKEN=TOKEN, BUSINESS_ACCOUNT_ID=WABA
    )

    plantillas = backend.list_templates()

    assert len(graph.calls) == 2
    assert len(plantillas) == 2


def test_list_templates__without_business_account_id_raises_before_any_request(graph):
    backend = MetaBackend("default", PHONE_NUMBER_ID="123", ACCESS_TOKEN=TOKEN)

    with pytest.raises(ConfigurationError, match="BUSINESS_ACCOUNT_ID"):
        backend.list_templates()

    assert len(graph.calls) == 0


def test_list_templates__graph_error_is_classified_without_the_token(graph):
    error = {
        "error": {"message": "Invalid OAuth access token", "code": 190, "type": "OAuthException"}
    }
    graph.get(LISTADO, json=error, status=401)
    backend = MetaBackend(
        "default", PHONE_NUMBER_ID="123", ACCESS_TOKEN=TOKEN, BUSINESS_ACCOUNT_ID=WABA
    )

    with pytest.raises(AuthError) as info:
        backend.list_templates()

    assert info.value.code == 190
    assert TOKEN not in str(info.value)


# -- sync --------------------------------------------------------------------------------------


def test_sincronizar__two_pages_store_every_template_with_its_parameters(meta, graph):
    dos_paginas(graph)

    resumen = templates.sincronizar("default")

    assert (resumen.creadas, resumen.actualizadas, resumen.retiradas) == (3, 0, 0)
    assert resumen.por_estado == {"APPROVED": 3}
    filas = {(f.nombre, f.idioma): f for f in PlantillaCatalogo.objects.all()}
    assert set(filas) == {
        ("vehiculo_listo_cliente", "es_MX"),
        ("cotizacion_lista_cliente", "es_MX"),
        ("hello_world", "en_US"),
    }
    vehiculo = filas["vehiculo_listo_cliente", "es_MX"]
    assert (vehiculo.cuenta, vehiculo.estado, vehiculo.categoria) == (
        "default",
        "APPROVED",
        "UTILITY",
    )
    assert (vehiculo.formato_parametros, vehiculo.parametros_cuerpo) == ("POSITIONAL", 3)
    assert vehiculo.meta_id == "id-vehiculo_listo_cliente-es_MX"
    cotizacion = filas["cotizacion_lista_cliente", "es_MX"]
    assert (cotizacion.formato_parametros, cotizacion.formato_encabezado) == ("NAMED", "DOCUMENT")
    assert cotizacion.nombres_parametros == ["nombre", "folio", "vence"]
    assert cotizacion.componentes == COTIZACION["components"]
    assert filas["hello_world", "en_US"].parametros_cuerpo == 0


def test_sincronizar__stores_the_body_text_of_each_template(meta, graph):
    dos_paginas(graph)

    templates.sincronizar("default")

    cuerpos = dict(PlantillaCatalogo.objects.values_list("nombre", "cuerpo"))
    assert cuerpos == {
        "vehiculo_listo_cliente": "Hola {{1}}, tu {{2}} está listo (orden {{3}}).",
        "cotizacion_lista_cliente": COTIZACION["components"][1]["text"],
        "hello_world": "Hello World",
    }


class CatalogoPropio(LocmemBackend):
    """A provider that lists its templates in the shared shape, with no Graph components."""

    capabilities = frozenset({"list_templates"})

    def list_templates(self, *, limite: int = 100) -> list[PlantillaRemota]:
        return [
            PlantillaRemota(
                nombre="recordatorio_cita",
                idioma="es-MX",
                estado="approved",
                categoria="utility",
                proveedor_id="HX0123456789abcdef",
                parametros_cuerpo=2,
                cuerpo="Hola {{1}}, tu cita es el {{2}}.",
            )
        ]


def test_sincronizar__stores_a_plantilla_remota_of_any_provider_and_checks_its_variables(
    wa_settings, enviar, outbox
):
    wa_settings(BACKENDS={"default": {"BACKEND": "tests.test_plantillas.CatalogoPropio"}})

    resumen = templates.sincronizar("default")

    assert resumen.creadas == 1
    fila = PlantillaCatalogo.objects.get()
    assert (fila.nombre, fila.idioma, fila.estado, fila.categoria) == (
        "recordatorio_cita",
        "es_MX",
        "APPROVED",
        "UTILITY",
    )
    assert (fila.meta_id, fila.parametros_cuerpo, fila.componentes) == ("HX0123456789abcdef", 2, [])
    assert fila.cuerpo == "Hola {{1}}, tu cita es el {{2}}."
    # Synced without components: the body's parameters are still known and checked.
    with pytest.raises(VariablesError, match="espera 2 variable"):
        enviar(TELEFONO, "recordatorio_cita", variables=["Ana"])
    assert enviar(TELEFONO, "recordatorio_cita", variables=["Ana", "lunes"]).estado == "pendiente"
    assert len(outbox) == 1


def test_sincronizar__again_updates_rows_and_marks_the_missing_ones_deleted(meta, graph):
    en_catalogo("vehiculo_listo_cliente", estado="PENDING")
    en_catalogo("promocion_vieja")
    en_catalogo("promocion_vieja", cuenta="otra")  # another account's catalog is its own
    graph.get(LISTADO, json=pagina(plantilla_graph(estado="PAUSED")))

    resumen = templates.sincronizar("default")

    assert (resumen.creadas, resumen.actualizadas, resumen.retiradas) == (0, 1, 1)
    estados = dict(
        PlantillaCatalogo.objects.filter(cuenta="default").values_list("nombre", "estado")
    )
    assert estados == {"vehiculo_listo_cliente": "PAUSED", "promocion_vieja": "DELETED"}
    vieja = PlantillaCatalogo.objects.get(cuenta="default", nombre="promocion_vieja")
    assert vieja.motivo == templates.RETIRADA
    assert PlantillaCatalogo.objects.get(cuenta="otra").estado == "APPROVED"


def test_sincronizar__a_failed_page_writes_nothing(meta, graph):
    en_catalogo("vehiculo_listo_cliente", estado="PENDING")
    con_cursor = matchers.query_param_matcher({"after": "SIGUE"}, strict_match=False)
    graph.get(LISTADO, status=503, body="Service Unavailable", match=[con_cursor])
    graph.get(LISTADO, json=pagina(plantilla_graph(estado="APPROVED"), despues="SIGUE"))

    with pytest.raises(TransientError):
        templates.sincronizar("default")

    assert list(PlantillaCatalogo.objects.values_list("nombre", "estado")) == [
        ("vehiculo_listo_cliente", "PENDING")
    ]


def test_sincronizar__items_without_name_are_counted_and_skipped(meta, graph):
    sin_nombre = plantilla_graph()
    del sin_nombre["name"]
    graph.get(LISTADO, json=pagina(sin_nombre, "no es un objeto", plantilla_graph("hello_world")))

    resumen = templates.sincronizar("default")

    # The backend drops what is not an object; the catalog skips what has no name.
    assert (resumen.creadas, resumen.ignoradas) == (1, 1)
    assert list(PlantillaCatalogo.objects.values_list("nombre", flat=True)) == ["hello_world"]


def test_sincronizar__backend_that_cannot_list_raises_not_implemented():
    with pytest.raises(NotImplementedError, match="no puede listar plantillas"):
        templates.sincronizar("default")  # the test settings' locmem backend

    assert not PlantillaCatalogo.objects.exists()


def test_sincronizar__against_the_sandbox(meta_sandbox):
    meta_sandbox.plantillas = [plantilla_graph(), copy.deepcopy(COTIZACION)]

    resumen = templates.sincronizar("default")

    assert resumen.creadas == 2
    fila = PlantillaCatalogo.objects.get(nombre="cotizacion_lista_cliente")
    assert fila.nombres_parametros == ["nombre", "folio", "vence"]
    listados = [
        p for p in meta_sandbox.requests if p.ruta.startswith(f"/v25.0/{WABA}/message_templates")
    ]
    assert [p.status for p in listados] == [200]


def test_sincronizar__against_the_sandbox_reads_every_page(meta_sandbox):
    meta_sandbox.plantillas = [plantilla_graph(f"plantilla_{n:03d}") for n in range(130)]

    resumen = templates.sincronizar("default")

    assert resumen.creadas == 130
    assert PlantillaCatalogo.objects.count() == 130
    assert len(meta_sandbox.requests) == 2  # 100 per page


# -- the sandbox's listing ---------------------------------------------------------------------


def test_sandbox_listing__pages_by_limit_with_cursors_and_next(sandbox):
    sandbox.plantillas = [plantilla_graph(f"p{n}") for n in range(5)]
    backend = MetaBackend(
        "default",
        PHONE_NUMBER_ID="123",
        ACCESS_TOKEN=TOKEN,
        BUSINESS_ACCOUNT_ID=WABA,
        BASE_URL=sandbox.base_url,
    )

    plantillas = backend.list_templates(limite=2)

    assert [p.nombre for p in plantillas] == [f"p{n}" for n in range(5)]
    paginas = [p.respuesta for p in sandbox.requests]
    assert [len(p["data"]) for p in paginas] == [2, 2, 1]
    assert ["next" in p["paging"] for p in paginas] == [True, True, False]
    siguiente = requests.get(
        paginas[0]["paging"]["next"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert [p["name"] for p in siguiente.json()["data"]] == ["p2", "p3"]


def test_sandbox_listing__answers_only_the_fields_asked_and_the_id(sandbox):
    respuesta = requests.get(
        f"{sandbox.base_url}/v25.0/{WABA}/message_templates",
        params={"fields": "name,status"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )

    assert respuesta.status_code == 200
    assert {frozenset(p) for p in respuesta.json()["data"]} == {frozenset({"id", "name", "status"})}
    assert [p["name"] for p in respuesta.json()["data"]] == [p["name"] for p in PLANTILLAS]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": "0"}, 400),
        ({"limit": "diez"}, 400),
        ({"after": "no-es-un-cursor"}, 400),
        ({}, 200),
    ],
    ids=["limite-cero", "limite-texto", "cursor-ajeno", "sin-parametros"],
)
def test_sandbox_listing__rejects_a_bad_limit_or_cursor(sandbox, params, status):
    respuesta = requests.get(
        f"{sandbox.base_url}/v25.0/{WABA}/message_templates",
        params=params,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )

    assert respuesta.status_code == status


def test_sandbox_listing__another_waba_is_graph_error_100(sandbox):
    backend = MetaBackend(
        "default",
        PHONE_NUMBER_ID="123",
        ACCESS_TOKEN=TOKEN,
        BUSINESS_ACCOUNT_ID=OTRA_WABA,
        BASE_URL=sandbox.base_url,
    )

    with pytest.raises(PermanentError) as info:
        backend.list_templates()

    assert info.value.code == 100


def test_sandbox_listing__needs_the_token(sandbox):
    respuesta = requests.get(f"{sandbox.base_url}/v25.0/{WABA}/message_templates", timeout=5)

    assert respuesta.status_code == 401
    assert respuesta.json()["error"]["code"] == 190


# -- the status webhook --------------------------------------------------------------------------


def cambio_plantilla(**valor) -> dict:
    base = {
        "event": "APPROVED",
        "message_template_id": 1689556908129835,
        "message_template_name": "vehiculo_listo_cliente",
        "message_template_language": "es_MX",
        "reason": "NONE",
        "message_template_category": "UTILITY",
    }
    return {"field": "message_template_status_update", "value": {**base, **valor}}


def cuerpo_plantilla(*cambios: dict, waba: str = WABA) -> dict:
    entrada = {"id": waba, "time": 1751247548, "changes": list(cambios)}
    return {"object": "whatsapp_business_account", "entry": [entrada]}


def publicar(client, cuerpo: dict | bytes, cuenta: str | None = None):
    raw = cuerpo if isinstance(cuerpo, bytes) else json.dumps(cuerpo).encode()
    firma = "sha256=" + hmac.new(SECRETO.encode(), raw, hashlib.sha256).hexdigest()
    url = reverse("whatsapp_notify:webhook", kwargs={"cuenta": cuenta} if cuenta else None)
    return client.post(
        url, raw, content_type="application/json", headers={"X-Hub-Signature-256": firma}
    )


def test_parse__template_status_becomes_evento_plantilla():
    (evento,) = meta_webhooks.parse((PAYLOADS / "plantilla_rechazada.json").read_bytes())

    assert isinstance(evento, EventoPlantilla)
    assert (evento.waba_id, evento.plantilla_id) == (WABA, "1689556908129835")
    assert (evento.nombre, evento.idioma, evento.estado) == (
        "vehiculo_listo_cliente",
        "es_MX",
        "REJECTED",
    )
    assert (evento.categoria, evento.motivo) == ("UTILITY", "INVALID_FORMAT")
    assert "Añade texto antes de {{1}}." in evento.detalle


@pytest.mark.parametrize(
    ("extra", "motivo", "detalle"),
    [
        pytest.param({"event": "APPROVED", "reason": "NONE"}, "", "", id="aprobada"),
        pytest.param({"event": "PENDING_DELETION", "reason": None}, "", "", id="razon-nula"),
        pytest.param(
            {
                "event": "PAUSED",
                "other_info": {"title": "FIRST_PAUSE", "description": "Baja calidad"},
            },
            "",
            "FIRST_PAUSE — Baja calidad",
            id="pausada",
        ),
        pytest.param(
            {"event": "DISABLED", "disable_info": {"disable_date": "1751234563"}},
            "",
            "deshabilitada el 2025-06-29",
            id="deshabilitada",
        ),
    ],
)
def test_parse__template_status_reason_and_detail(extra, motivo, detalle):
    raw = json.dumps(cuerpo_plantilla(cambio_plantilla(**extra))).encode()

    (evento,) = meta_webhooks.parse(raw)

    assert (evento.estado, evento.motivo, evento.detalle) == (extra["event"], motivo, detalle)


@pytest.mark.parametrize("falta", ["message_template_name", "message_template_language", "event"])
def test_parse__template_status_without_name_language_or_event_is_unknown(falta):
    cambio = cambio_plantilla()
    del cambio["value"][falta]

    (evento,) = meta_webhooks.parse(json.dumps(cuerpo_plantilla(cambio)).encode())

    assert isinstance(evento, EventoDesconocido)
    assert evento.campo == "message_template_status_update"


def test_webhook__updates_the_known_template_estado_and_motivo(client, meta):
    fila = en_catalogo()

    respuesta = publicar(client, (PAYLOADS / "plantilla_rechazada.json").read_bytes())

    assert respuesta.status_code == 200
    fila.refresh_from_db()
    assert fila.estado == "REJECTED"
    assert fila.motivo.startswith("INVALID_FORMAT — Las variables no pueden ir al principio")
    assert fila.parametros_cuerpo == 3  # what the sync learnt stays
    evento = EventoWebhook.objects.get()
    assert (evento.eventos, evento.desconocidos, evento.error) == (1, 0, "")


def test_webhook__unknown_template_gets_a_minimal_row(client, meta):
    cuerpo = cuerpo_plantilla(cambio_plantilla(event="PENDING", message_template_language="en-US"))

    publicar(client, cuerpo)

    fila = PlantillaCatalogo.objects.get()
    assert (fila.cuenta, fila.nombre, fila.idioma, fila.estado) == (
        "default",
        "vehiculo_listo_cliente",
        "en_US",
        "PENDING",
    )
    assert (fila.meta_id, fila.categoria, fila.componentes) == ("1689556908129835", "UTILITY", [])


def test_webhook__delivered_twice_leaves_one_row_in_the_same_state(client, meta):
    cuerpo = cuerpo_plantilla(cambio_plantilla(event="PAUSED"))

    publicar(client, cuerpo)
    publicar(client, cuerpo)

    assert list(PlantillaCatalogo.objects.values_list("nombre", "estado")) == [
        ("vehiculo_listo_cliente", "PAUSED")
    ]


def test_webhook__belongs_to_the_account_of_its_waba(client, wa_settings):
    sucursal = cuenta_meta(waba=OTRA_WABA, numero="456")
    wa_settings(BACKENDS={"default": cuenta_meta(), "sucursal": sucursal})

    publicar(client, cuerpo_plantilla(cambio_plantilla(event="REJECTED"), waba=OTRA_WABA))

    assert list(PlantillaCatalogo.objects.values_list("cuenta", "estado")) == [
        ("sucursal", "REJECTED")
    ]


# -- the check before a send --------------------------------------------------------------------


@pytest.fixture
def enviar(django_capture_on_commit_callbacks):
    """``enviar_plantilla`` with its on-commit enqueue run at once (the eager task sends)."""

    def enviar(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return enviar_plantilla(*args, **kwargs)

    return enviar


def test_enviar_plantilla__unknown_template_is_not_refused(enviar, outbox):
    envio = enviar(TELEFONO, "sin_catalogo", variables=["uno", "dos"])

    assert envio.estado == EstadoEnvio.PENDIENTE
    assert len(outbox) == 1


def test_enviar_plantilla__approved_with_matching_variables_goes_out(enviar, outbox):
    en_catalogo()

    envio = enviar(TELEFONO, "vehiculo_listo_cliente", variables=["Ana", "Mazda 3", "OT-42"])

    assert envio.estado == EstadoEnvio.PENDIENTE
    assert len(outbox) == 1


@pytest.mark.parametrize(
    ("variables", "mensaje"),
    [
        pytest.param(
            ["Ana", "Mazda 3"], "espera 3 variable\\(s\\) en el cuerpo y recibió 2", id="faltan"
        ),
        pytest.param(["Ana", "Mazda 3", "OT-42", "extra"], "recibió 4", id="sobran"),
        pytest.param(None, "recibió 0", id="ninguna"),
        pytest.param({"nombre": "Ana"}, "pasa variables como una lista de 3", id="dict"),
    ],
)
def test_enviar_plantilla__positional_count_mismatch_raises_before_writing(
    enviar, outbox, variables, mensaje
):
    en_catalogo()

    with pytest.raises(VariablesError, match=mensaje):
        enviar(TELEFONO, "vehiculo_listo_cliente", variables=variables)

    assert not EnvioWhatsApp.objects.exists()
    assert outbox == []


@pytest.mark.parametrize(
    ("variables", "mensaje"),
    [
        pytest.param({"nombre": "Ana", "folio": "C-1"}, "faltan vence; sobran ninguna", id="falta"),
        pytest.param(
            {"nombre": "Ana", "folio": "C-1", "vence": "1/7", "total": "9"},
            "faltan ninguna; sobran total",
            id="sobra",
        ),
        pytest.param(
            ["Ana", "C-1", "1/7"],
            "usa parámetros con nombre \\(nombre, folio, vence\\)",
            id="lista",
        ),
    ],
)
def test_enviar_plantilla__named_mismatch_raises_naming_the_parameters(
    enviar, outbox, variables, mensaje
):
    PlantillaCatalogo.objects.create(
        cuenta="default",
        **templates.campos_de_plantilla(meta_templates.plantilla_remota(COTIZACION)),
    )

    with pytest.raises(VariablesError, match=mensaje):
        enviar(TELEFONO, "cotizacion_lista_cliente", variables=variables)

    assert not EnvioWhatsApp.objects.exists()
    assert outbox == []


def test_enviar_plantilla__named_in_any_order_goes_out(enviar, outbox):
    PlantillaCatalogo.objects.create(
        cuenta="default",
        **templates.campos_de_plantilla(meta_templates.plantilla_remota(COTIZACION)),
    )

    envio = enviar(
        TELEFONO,
        "cotizacion_lista_cliente",
        variables={"vence": "1/7", "nombre": "Ana", "folio": "C-1"},
    )

    assert envio.estado == EstadoEnvio.PENDIENTE
    assert len(outbox) == 1


@pytest.mark.parametrize("estado", ["PAUSED", "REJECTED", "PENDING", "DISABLED", "DELETED"])
def test_enviar_plantilla__not_approved_is_omitido_and_never_sent(enviar, outbox, estado):
    en_catalogo(estado=estado)

    envio = enviar(TELEFONO, "vehiculo_listo_cliente", variables=["Ana", "Mazda 3", "OT-42"])

    assert (envio.estado, envio.motivo) == (
        EstadoEnvio.OMITIDO,
        MotivoOmision.PLANTILLA_NO_APROBADA,
    )
    assert envio.telefono == "525512345678"
    assert outbox == []


@pytest.mark.parametrize("estado", ["FLAGGED", "REINSTATED", "UNARCHIVED", "LOCKED", "UNLOCKED"])
def test_enviar_plantilla__estados_de_meta_que_aun_envian_no_se_omiten(enviar, outbox, estado):
    # A quality flag or an edit lock (webhook events) does not stop Meta from sending it.
    en_catalogo(estado=estado)

    envio = enviar(TELEFONO, "vehiculo_listo_cliente", variables=["Ana", "Mazda 3", "OT-42"])

    assert envio.motivo == ""
    assert len(outbox) == 1


@pytest.mark.parametrize(
    "idioma", ["es-MX", "es_mx", "es_MX"], ids=["guion", "minusculas", "igual"]
)
def test_enviar_plantilla__language_code_forms_find_the_same_template(enviar, outbox, idioma):
    en_catalogo(estado="PAUSED")

    envio = enviar(TELEFONO, "vehiculo_listo_cliente", variables=["a", "b", "c"], idioma=idioma)

    assert envio.motivo == MotivoOmision.PLANTILLA_NO_APROBADA


@pytest.mark.parametrize(
    ("idioma", "cuenta"),
    [("en_US", "default"), ("es_MX", "otra")],
    ids=["otro-idioma", "otra-cuenta"],
)
def test_enviar_plantilla__catalog_is_per_language_and_account(
    wa_settings, enviar, outbox, idioma, cuenta
):
    locmem = {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"}
    wa_settings(BACKENDS={"default": locmem, "otra": locmem})
    en_catalogo(idioma=idioma, cuenta=cuenta, estado="REJECTED")

    envio = enviar(TELEFONO, "vehiculo_listo_cliente", variables=["Ana"], cuenta="default")

    assert envio.estado == EstadoEnvio.PENDIENTE


def test_enviar_plantilla__row_known_from_webhook_only_checks_status_not_variables(enviar, outbox):
    evento = EventoPlantilla(nombre="vehiculo_listo_cliente", idioma="es_MX", estado="APPROVED")
    templates.aplicar_evento(evento, "default")

    envio = enviar(TELEFONO, "vehiculo_listo_cliente", variables=["solo una"])

    assert envio.estado == EstadoEnvio.PENDIENTE


def test_enviar_plantilla__recipient_reason_comes_first(wa_settings, enviar, outbox):
    wa_settings(REQUIRE_CONSENT=True)
    en_catalogo(estado="PAUSED")

    envio = enviar(TELEFONO, "vehiculo_listo_cliente", variables=["a", "b", "c"])

    assert envio.motivo == MotivoOmision.SIN_CONSENTIMIENTO


def test_enviar_plantilla__same_clave_goes_out_once_the_template_is_approved(enviar, outbox):
    fila = en_catalogo(estado="PAUSED")
    variables = ["Ana", "Mazda 3", "OT-42"]
    primero = enviar(TELEFONO, "vehiculo_listo_cliente", variables=variables, clave="ot-42")

    repetido = enviar(TELEFONO, "vehiculo_listo_cliente", variables=variables, clave="ot-42")
    assert (repetido.pk, repetido.estado) == (primero.pk, EstadoEnvio.OMITIDO)
    PlantillaCatalogo.objects.filter(pk=fila.pk).update(estado="APPROVED")
    aprobado = enviar(TELEFONO, "vehiculo_listo_cliente", variables=variables, clave="ot-42")

    assert (aprobado.pk, aprobado.estado) == (primero.pk, EstadoEnvio.PENDIENTE)
    assert EnvioWhatsApp.objects.count() == 1
    assert len(outbox) == 1


# -- the catalog cache of the ERP's saves ----------------------------------------------------------


def test_cache__una_aprobada_se_reusa_y_el_worker_ve_la_pausa(
    django_capture_on_commit_callbacks, outbox, monkeypatch
):
    fila = en_catalogo(estado="APPROVED")
    variables = ["Ana", "Mazda 3", "OT-1"]
    enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", variables=variables)  # reads the row
    # Paused by another process (an UPDATE sends no signal here): the save does not see it
    # for CACHE_SEGUNDOS, so the envío is queued, and the worker's fresh read omits it.
    PlantillaCatalogo.objects.filter(pk=fila.pk).update(estado="PAUSED")

    with django_capture_on_commit_callbacks(execute=True):
        envio = enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", variables=variables)

    envio.refresh_from_db()
    assert (envio.estado, envio.motivo) == (
        EstadoEnvio.OMITIDO,
        MotivoOmision.PLANTILLA_NO_APROBADA,
    )
    assert outbox == []
    reloj = templates.time.monotonic() + templates.CACHE_SEGUNDOS + 1
    monkeypatch.setattr(templates.time, "monotonic", lambda: reloj)
    tarde = enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", variables=variables)
    assert (tarde.estado, tarde.motivo) == (
        EstadoEnvio.OMITIDO,
        MotivoOmision.PLANTILLA_NO_APROBADA,
    )


def test_cache__un_cambio_guardado_en_este_proceso_cuenta_en_seguida():
    fila = en_catalogo(estado="APPROVED", categoria="UTILITY")
    assert templates.buscar_en_cache("vehiculo_listo_cliente", "es_MX").categoria == "UTILITY"

    fila.categoria = "MARKETING"
    fila.save()  # the admin, the sync

    assert templates.buscar_en_cache("vehiculo_listo_cliente", "es-MX").categoria == "MARKETING"


# -- the command -----------------------------------------------------------------------------------


def test_command__help_is_spanish():
    comando = load_command_class(
        get_commands()["whatsapp_sync_plantillas"], "whatsapp_sync_plantillas"
    )

    ayuda = comando.create_parser("manage.py", "whatsapp_sync_plantillas").format_help()

    assert "Sincroniza el catálogo de plantillas" in ayuda
    assert "--cuenta" in ayuda
    assert "Alias de la cuenta" in ayuda


def test_command__syncs_from_the_sandbox_and_prints_a_summary(meta_sandbox):
    salida = StringIO()

    call_command("whatsapp_sync_plantillas", stdout=salida)

    assert salida.getvalue().strip() == (
        "Cuenta 'default': 3 plantillas (3 nuevas, 0 actualizadas, 0 retiradas). APPROVED: 3."
    )
    assert PlantillaCatalogo.objects.count() == len(PLANTILLAS)


def test_command__verbose_lists_each_template(meta_sandbox):
    salida = StringIO()

    call_command("whatsapp_sync_plantillas", "--cuenta", "default", verbosity=2, stdout=salida)

    lineas = salida.getvalue().splitlines()[1:]
    assert (
        "  cotizacion_lista_cliente (es_MX) APPROVED UTILITY, encabezado DOCUMENT: nombre" in lineas
    )
    assert "  vehiculo_listo_cliente (es_MX) APPROVED UTILITY: 3 parámetro(s)" in lineas


def test_command__skips_accounts_that_cannot_list(wa_settings, sandbox):
    locmem = {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"}
    wa_settings(BACKENDS={"local": locmem, "default": cuenta_meta(base_url=sandbox.base_url)})
    salida = StringIO()

    call_command("whatsapp_sync_plantillas", stdout=salida)

    assert salida.getvalue().startswith("Cuenta 'default':")
    assert set(PlantillaCatalogo.objects.values_list("cuenta", flat=True)) == {"default"}


def test_command__no_account_can_list_is_an_error():
    with pytest.raises(CommandError, match="Ninguna cuenta puede listar plantillas"):
        call_command("whatsapp_sync_plantillas", stdout=StringIO())


@pytest.mark.parametrize(
    ("cuenta", "mensaje"),
    [("inexistente", "no existe"), ("default", "BUSINESS_ACCOUNT_ID")],
    ids=["cuenta-desconocida", "sin-waba"],
)
def test_command__failing_account_is_reported_and_exits_with_error(wa_settings, cuenta, mensaje):
    wa_settings(BACKENDS={"default": cuenta_meta(waba=None)})
    errores = StringIO()

    with pytest.raises(CommandError, match=f"No se sincronizaron las cuentas: {cuenta}"):
        call_command(
            "whatsapp_sync_plantillas", "--cuenta", cuenta, stdout=StringIO(), stderr=errores
        )

    assert mensaje in errores.getvalue()
    assert TOKEN not in errores.getvalue()


# -- admin -------------------------------------------------------------------------------------


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", password=None)


def test_admin__lists_the_catalog_with_its_filters(client, admin_user):
    en_catalogo()
    en_catalogo("hello_world", "en_US", estado="REJECTED")
    client.force_login(admin_user)

    respuesta = client.get(
        reverse("admin:whatsapp_notify_plantilla_changelist"), {"estado": "REJECTED"}
    )

    assert respuesta.status_code == 200
    assert [f.nombre for f in respuesta.context["cl"].result_list] == ["hello_world"]
    filtros = {str(filtro.title) for filtro in respuesta.context["cl"].filter_specs}
    assert filtros == {"estado", "categoría", "idioma"}


def test_admin__catalog_is_read_only(client, admin_user):
    fila = en_catalogo()
    client.force_login(admin_user)

    alta = client.get(reverse("admin:whatsapp_notify_plantilla_add"))
    cambio = client.post(
        reverse("admin:whatsapp_notify_plantilla_change", args=[fila.pk]), {"estado": "REJECTED"}
    )

    assert alta.status_code == 403
    assert cambio.status_code == 403
    fila.refresh_from_db()
    assert fila.estado == "APPROVED"
