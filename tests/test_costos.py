"""Costs: the rate table and its overrides, the cost recorded from status webhooks (Meta's
pricing, Twilio's price), the monthly totals, and where the admin shows them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from tests.test_indices import plan
from tests.test_webhooks import cambio, envoltura, estado, meta, publicar  # noqa: F401
from whatsapp_notify import costs, tasks
from whatsapp_notify.checks import check_settings
from whatsapp_notify.events import DELIVERED, FAILED, READ, SENT, EventoEstado
from whatsapp_notify.inbound.apply import aplicar
from whatsapp_notify.messages import Plantilla, Salida
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.sandbox.twilio import ACCOUNT_SID, TwilioSandbox

pytestmark = pytest.mark.django_db

MX = "525512345678"
CLIENTE = "5215512345678"  # the same customer as Meta reports a Mexican mobile (wa_id)
TWILIO = "whatsapp_notify.backends.twilio.TwilioBackend"
TOKEN = "token-de-autenticacion"
UTILIDAD = {"facturable": True, "precio_modelo": "PMP", "precio_tipo": "regular"}


def enviado(wamid: str, telefono: str = MX, **campos) -> EnvioWhatsApp:
    valores = {"telefono": telefono, "clase": "plantilla", "plantilla": "vehiculo_listo_cliente"}
    valores |= {"estado": EstadoEnvio.ENVIADO, "wamid": wamid, "intentos": 1}
    return EnvioWhatsApp.objects.create(**valores | campos)


def status(wamid: str, estado_: str, segundo: int = 0, **precio) -> EventoEstado:
    fecha = datetime(2026, 11, 3, 12, 0, segundo, tzinfo=UTC)
    return EventoEstado(wamid=wamid, estado=estado_, fecha=fecha, **precio)


def precio(categoria: str, **otros) -> dict:
    return {**UTILIDAD, "precio_categoria": categoria, **otros}


# -- the table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("telefono", "categoria", "esperada"),
    [
        pytest.param(MX, "marketing", "0.0305", id="mexico-marketing"),
        pytest.param(CLIENTE, "utility", "0.0085", id="mexico-con-el-1-movil"),
        pytest.param("573001234567", "authentication", "0.0008", id="colombia"),
        pytest.param("18095551234", "utility", "0.0113", id="dominicana-resto-de-latam"),
        pytest.param("14155238886", "marketing", "0.025", id="estados-unidos-norteamerica"),
        pytest.param("6281234567890", "authentication-international", "0.136", id="indonesia-ai"),
        pytest.param("6281234567890", "authentication_international", "0.136", id="guion-bajo"),
        pytest.param("3726123456", "utility", "0.0077", id="estonia-otros"),
        pytest.param("447911123456", "utility", "0.022", id="guernsey-+44-reino-unido"),
    ],
)
def test_tarifa__por_pais_del_telefono_y_categoria(telefono, categoria, esperada):
    vigentes = costs.tarifas()

    assert vigentes.moneda == "USD"
    assert vigentes.tarifa(costs.region_de(telefono), categoria) == Decimal(esperada)


@pytest.mark.parametrize(
    ("telefono", "categoria"),
    [
        pytest.param("85291234567", "utility", id="hong-kong-sin-tarifa-publicada"),
        pytest.param("380501234567", "marketing", id="ucrania-salio-de-su-region"),
        pytest.param("447400123456", "marketing", id="marketing-subio-despues-de-la-tabla"),
        pytest.param("12425551234", "utility", id="bahamas-+1-sin-mercado-listado"),
        pytest.param("212528123456", "utility", id="sahara-occidental-comparte-+212"),
        pytest.param(MX, "marketing_lite", id="categoria-sin-tarifa"),
        pytest.param(MX, "service", id="servicio-sin-tarifa"),
        pytest.param("999", "utility", id="telefono-sin-pais"),
    ],
)
def test_tarifa__desconocida_es_none(telefono, categoria):
    assert costs.tarifas().tarifa(costs.region_de(telefono), categoria) is None


def test_tabla_meta__fecha_y_moneda_declaradas():
    assert (date(2026, 1, 1), "USD") == (costs.FECHA_TARIFAS_META, costs.MONEDA_META)
    assert date(2026, 10, 1) == costs.REVISADAS_HASTA


def test_override__cambia_una_tarifa_y_deja_las_demas(wa_settings):
    wa_settings(COST_RATES={"MX": {"marketing": "0.05", "utility": None}})

    vigentes = costs.tarifas()

    assert vigentes.tarifa("MX", "marketing") == Decimal("0.05")
    assert vigentes.tarifa("MX", "utility") is None  # None removes it: cost unknown
    assert vigentes.tarifa("MX", "authentication") == Decimal("0.0085")
    assert vigentes.tarifa("CO", "marketing") == Decimal("0.0125")


def test_override__otra_moneda_usa_solo_sus_tarifas(wa_settings):
    wa_settings(COST_CURRENCY="MXN", COST_RATES={"MX": {"utility": 0.16}})

    vigentes = costs.tarifas()

    assert vigentes.moneda == "MXN"
    assert vigentes.tarifa("MX", "utility") == Decimal("0.16")
    assert vigentes.tarifa("MX", "marketing") is None  # never the USD figure
    assert vigentes.tarifa("CO", "utility") is None


TARIFAS_DEL_HOST = {"CO": {"utility": "0.001"}}


def test_override__autenticacion_internacional_con_guion_bajo(wa_settings):
    wa_settings(COST_RATES={"IN": {"authentication_international": "0.0304"}})

    assert costs.tarifas().tarifa("IN", "authentication-international") == Decimal("0.0304")


def test_override__ruta_a_un_dict(wa_settings):
    wa_settings(COST_RATES="tests.test_costos.TARIFAS_DEL_HOST")

    assert costs.tarifas().tarifa("CO", "utility") == Decimal("0.001")


@pytest.mark.parametrize(
    ("claves", "en_el_mensaje"),
    [
        pytest.param({"COST_CURRENCY": "usd"}, "COST_CURRENCY", id="moneda-en-minusculas"),
        pytest.param({"COST_CURRENCY": "DOLAR"}, "COST_CURRENCY", id="moneda-larga"),
        pytest.param({"COST_RATES": ["MX"]}, "dict", id="no-es-dict"),
        pytest.param({"COST_RATES": {"Mexico": {}}}, "'Mexico'", id="pais-no-iso"),
        pytest.param({"COST_RATES": {"MX": {"promo": "1"}}}, "'promo'", id="categoria"),
        pytest.param({"COST_RATES": {"MX": {"utility": "-1"}}}, "no negativo", id="negativa"),
        pytest.param({"COST_RATES": {"MX": {"utility": "caro"}}}, "'caro'", id="texto"),
        pytest.param({"COST_RATES": {"MX": {"utility": True}}}, "True", id="booleano"),
        pytest.param({"COST_RATES": {"MX": "0.01"}}, "{categoría: tarifa}", id="sin-categorias"),
        pytest.param({"COST_RATES": "no.existe.TARIFAS"}, "no se puede importar", id="ruta"),
    ],
)
def test_check__ajustes_de_costo_malos_son_e015(wa_settings, claves, en_el_mensaje):
    wa_settings(**claves)

    errores = [e for e in check_settings() if e.id == "whatsapp_notify.E015"]

    assert len(errores) == 1
    assert en_el_mensaje in errores[0].msg
    with pytest.raises(ImproperlyConfigured):
        costs.tarifas()


def test_check__ajustes_de_costo_validos_no_dan_error(wa_settings):
    wa_settings(COST_CURRENCY="USD", COST_RATES={"MX": {"marketing": 0.04, "service": "0"}})

    assert not [e for e in check_settings() if e.id == "whatsapp_notify.E015"]


# -- the cost of one message ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pricing", "esperado"),
    [
        pytest.param({"facturable": False, "tipo": "", "categoria": "service"}, "0", id="no-fact"),
        pytest.param(
            {"facturable": True, "tipo": "free_customer_service", "categoria": "utility"},
            "0",
            id="ventana-de-servicio",
        ),
        pytest.param(
            {"facturable": None, "tipo": "free_entry_point", "categoria": "marketing"},
            "0",
            id="punto-de-entrada",
        ),
        pytest.param(
            {"facturable": None, "tipo": "regular", "categoria": "marketing"}, "0.0305", id="reg"
        ),
        pytest.param(
            {"facturable": True, "tipo": "", "categoria": "utility"}, "0.0085", id="solo-billable"
        ),
    ],
)
def test_costo_meta__gratuito_es_cero_y_regular_es_la_tarifa(pricing, esperado):
    assert costs.costo_meta(MX, modelo="PMP", **pricing) == costs.Costo(Decimal(esperado), "USD")


@pytest.mark.parametrize(
    "pricing",
    [
        pytest.param({"facturable": True, "tipo": "", "categoria": "utility", "modelo": "CBP"}),
        pytest.param({"facturable": None, "tipo": "", "categoria": "utility", "modelo": ""}),
        pytest.param({"facturable": True, "tipo": "regular", "categoria": "", "modelo": "PMP"}),
    ],
    ids=["por-conversacion", "sin-tipo-ni-billable", "sin-categoria"],
)
def test_costo_meta__sin_base_para_el_precio_es_none(pricing):
    assert costs.costo_meta(MX, **pricing) is None


@pytest.mark.parametrize(
    ("monto", "moneda", "esperado"),
    [
        pytest.param("-0.0085", "USD", costs.Costo(Decimal("0.0085"), "USD"), id="cargo-negativo"),
        pytest.param("0.00", "usd", costs.Costo(Decimal("0.00"), "USD"), id="gratis"),
        pytest.param(None, "USD", None, id="sin-precio-aun"),
        pytest.param("x", "USD", None, id="ilegible"),
        pytest.param("-0.01", "", None, id="sin-moneda"),
    ],
)
def test_precio_reportado(monto, moneda, esperado):
    assert costs.precio_reportado(monto, moneda) == esperado


# -- recorded from status webhooks ---------------------------------------------------------


@pytest.mark.parametrize("en_bloque", [False, True], ids=["uno-a-uno", "en-bloque"])
def test_estado__el_costo_se_registra_al_entregarse(en_bloque):
    envio = enviado("wamid.a")
    otro = enviado("wamid.b", telefono="573001234567")
    eventos = [
        status("wamid.a", SENT, 1, **precio("marketing")),
        status("wamid.b", SENT, 1, **precio("utility")),
        status("wamid.a", DELIVERED, 2),
        status("wamid.b", READ, 3, **precio("utility")),
    ]

    for grupo in [eventos] if en_bloque else [[e] for e in eventos]:
        aplicar(grupo, "default")

    envio.refresh_from_db()
    otro.refresh_from_db()
    assert (envio.costo, envio.moneda) == (Decimal("0.0305"), "USD")
    assert (otro.costo, otro.moneda) == (Decimal("0.0008"), "USD")


def test_estado__enviado_sin_entrega_aun_no_cuesta():
    envio = enviado("wamid.a")

    aplicar([status("wamid.a", SENT, **precio("marketing"))], "default")

    envio.refresh_from_db()
    assert envio.precio_categoria == "marketing"
    assert (envio.costo, envio.moneda) == (None, "")


def test_estado__fallido_no_cuesta():
    envio = enviado("wamid.a")

    aplicar([status("wamid.a", SENT, 1, **precio("marketing"))], "default")
    aplicar([status("wamid.a", FAILED, 2)], "default")

    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.FALLIDO
    assert envio.costo is None


def test_estado__entregado_antes_que_el_enviado_con_el_precio():
    envio = enviado("wamid.a")

    aplicar([status("wamid.a", DELIVERED, 2)], "default")
    aplicar([status("wamid.a", SENT, 1, **precio("utility"))], "default")

    envio.refresh_from_db()
    assert (envio.estado, envio.costo) == (EstadoEnvio.ENTREGADO, Decimal("0.0085"))


def test_estado__no_facturable_cuesta_cero():
    envio = enviado("wamid.a")

    gratis = precio("utility", facturable=False, precio_tipo="free_customer_service")
    aplicar([status("wamid.a", DELIVERED, **gratis)], "default")

    envio.refresh_from_db()
    assert (envio.costo, envio.moneda) == (Decimal("0"), "USD")


def test_estado__pais_sin_tarifa_queda_desconocido():
    envio = enviado("wamid.a", telefono="85291234567")

    aplicar([status("wamid.a", DELIVERED, **precio("utility"))], "default")

    envio.refresh_from_db()
    assert (envio.estado, envio.costo, envio.moneda) == (EstadoEnvio.ENTREGADO, None, "")


def test_estado__uno_posterior_no_suma_ni_cambia_la_tarifa_registrada(wa_settings):
    envio = enviado("wamid.a")
    aplicar([status("wamid.a", DELIVERED, 1, **precio("utility"))], "default")
    wa_settings(COST_RATES={"MX": {"utility": "0.5"}})  # the table changes afterwards

    aplicar([status("wamid.a", READ, 2, **precio("utility"))], "default")
    aplicar([status("wamid.a", DELIVERED, 1, **precio("utility"))], "default")  # redelivered

    envio.refresh_from_db()
    assert (envio.estado, envio.costo) == (EstadoEnvio.LEIDO, Decimal("0.0085"))
    assert costs.totales() == {"USD": Decimal("0.0085")}


@pytest.mark.parametrize("cuantos", [1, 2], ids=["un-estado", "varios-en-bloque"])
def test_webhook_meta__el_pricing_real_da_el_costo(client, meta, cuantos):  # noqa: F811
    envios = [enviado(f"wamid.{i}", telefono=CLIENTE) for i in range(cuantos)]
    pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
    items = [
        {**estado(f"wamid.{i}", "delivered", 1767301203), "pricing": pricing}
        for i in range(cuantos)
    ]

    respuesta = publicar(client, envoltura([cambio(statuses=items)]))

    assert respuesta.status_code == 200
    for envio in envios:
        envio.refresh_from_db()
        assert (envio.costo, envio.moneda) == (Decimal("0.0085"), "USD")


# -- Twilio: the price of the Message resource ------------------------------------------------


@pytest.fixture
def twilio(wa_settings):
    def con(**opciones_sandbox):
        sandbox = TwilioSandbox(TOKEN, delays=(60, 60, 60), **opciones_sandbox)
        opciones = {
            "ACCOUNT_SID": ACCOUNT_SID,
            "AUTH_TOKEN": TOKEN,
            "FROM": "whatsapp:+14155238886",
            "BASE_URL": sandbox.base_url,
            "CONTENT_SIDS": {"recordatorio_cita": "HX" + "a" * 32},
        }
        wa_settings(BACKENDS={"citas": {"BACKEND": TWILIO, "OPTIONS": opciones}})
        return sandbox

    return con


def enviado_por_twilio(sandbox) -> EnvioWhatsApp:
    from whatsapp_notify.backends import backends

    plantilla = Plantilla("recordatorio_cita", "es_MX", ("Ana",))
    sid = backends["citas"].send(Salida(MX, plantilla)).id
    return enviado(sid, cuenta="citas")


def test_twilio__al_entregarse_se_pide_y_registra_su_precio(
    twilio, django_capture_on_commit_callbacks
):
    with twilio(precio="-0.0085") as sandbox:
        envio = enviado_por_twilio(sandbox)
        with django_capture_on_commit_callbacks(execute=True) as tareas:
            aplicar([status(envio.wamid, DELIVERED)], "citas")
        with django_capture_on_commit_callbacks(execute=True) as despues:
            aplicar([status(envio.wamid, READ)], "citas")  # already asked: not again
        pedidos = [p for p in sandbox.requests if p.metodo == "GET"]

    envio.refresh_from_db()
    assert (envio.costo, envio.moneda) == (Decimal("0.0085"), "USD")
    assert len(tareas) == 1
    assert despues == []
    assert [p.ruta for p in pedidos] == [
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{envio.wamid}.json"
    ]


def test_twilio__sin_precio_aun_se_reintenta_y_queda_desconocido(twilio):
    with twilio(precio=None) as sandbox:
        envio = enviado_por_twilio(sandbox)
        EnvioWhatsApp.objects.filter(pk=envio.pk).update(entregado_en=envio.creado_en)

        resultado = tasks.consultar_precio(envio.pk)
        pedidos = [p for p in sandbox.requests if p.metodo == "GET"]

    envio.refresh_from_db()
    assert resultado == costs.PENDIENTE
    assert len(pedidos) == costs.INTENTOS_PRECIO  # eager Celery: the retries ran here
    assert envio.costo is None


def test_twilio__no_entregado_no_se_consulta(twilio):
    with twilio() as sandbox:
        envio = enviado_por_twilio(sandbox)

        resultado = tasks.consultar_precio(envio.pk)
        pedidos = [p for p in sandbox.requests if p.metodo == "GET"]

    assert (resultado, pedidos) == (costs.NO_APLICA, [])


def test_meta__no_pide_precio_al_proveedor():
    envio = enviado("wamid.a", entregado_en=datetime(2026, 11, 3, tzinfo=UTC))

    assert costs.pide_precio(envio) is False


# -- totals ---------------------------------------------------------------------------------------


def con_costo(costo: str | None, moneda: str, entregado: datetime, **campos) -> EnvioWhatsApp:
    valores = {"telefono": MX, "estado": EstadoEnvio.ENTREGADO, "entregado_en": entregado}
    valores |= {"costo": None if costo is None else Decimal(costo), "moneda": moneda}
    return EnvioWhatsApp.objects.create(**valores | campos)


@pytest.fixture
def historial():
    oct_, nov = datetime(2026, 10, 15, 12, tzinfo=UTC), datetime(2026, 11, 2, 12, tzinfo=UTC)
    con_costo("0.0305", "USD", oct_, tipo="promo", cuenta="default")
    con_costo("0.0085", "USD", oct_, tipo="vehiculo_listo", cuenta="default")
    con_costo("0", "USD", oct_, tipo="vehiculo_listo", cuenta="default")
    con_costo("0.0085", "USD", nov, tipo="vehiculo_listo", cuenta="default")
    con_costo("0.0100", "EUR", nov, tipo="recordatorio", cuenta="citas")
    con_costo("0.0200", "EUR", nov, tipo="recordatorio", cuenta="citas")
    con_costo(None, "", nov, tipo="recordatorio", cuenta="citas")  # unknown: not counted


def filas(resultado):
    return [(f["mes"], f["grupo"], f["moneda"], f["total"], f["facturables"]) for f in resultado]


def test_por_mes__sin_grupo_separa_monedas(historial, django_assert_num_queries):
    with django_assert_num_queries(1):
        resultado = costs.por_mes()

    assert filas(resultado) == [
        (date(2026, 10, 1), None, "USD", Decimal("0.0390"), 2),
        (date(2026, 11, 1), None, "EUR", Decimal("0.0300"), 2),
        (date(2026, 11, 1), None, "USD", Decimal("0.0085"), 1),
    ]


def test_por_mes__por_tipo(historial):
    assert filas(costs.por_mes(por="tipo")) == [
        (date(2026, 10, 1), "promo", "USD", Decimal("0.0305"), 1),
        (date(2026, 10, 1), "vehiculo_listo", "USD", Decimal("0.0085"), 1),
        (date(2026, 11, 1), "recordatorio", "EUR", Decimal("0.0300"), 2),
        (date(2026, 11, 1), "vehiculo_listo", "USD", Decimal("0.0085"), 1),
    ]


def test_por_mes__por_cuenta_con_rango_y_queryset(historial):
    noviembre = costs.por_mes(por="cuenta", desde=date(2026, 11, 1), hasta=date(2026, 12, 1))
    de_citas = costs.por_mes(EnvioWhatsApp.objects.filter(cuenta="citas"), por="cuenta")

    assert filas(noviembre) == [
        (date(2026, 11, 1), "citas", "EUR", Decimal("0.0300"), 2),
        (date(2026, 11, 1), "default", "USD", Decimal("0.0085"), 1),
    ]
    assert filas(de_citas) == [(date(2026, 11, 1), "citas", "EUR", Decimal("0.0300"), 2)]


def test_por_mes__agrupacion_desconocida():
    with pytest.raises(ValueError, match="por="):
        costs.por_mes(por="plantilla")


def test_totales__por_moneda(historial):
    assert costs.totales() == {"USD": Decimal("0.0475"), "EUR": Decimal("0.0300")}


def test_por_mes__el_rango_usa_el_indice_parcial():
    consulta = costs._con_costo(None, date(2026, 11, 1), date(2026, 12, 1))

    assert "wn_envio_costo_entregado" in plan(consulta)


# -- admin ---------------------------------------------------------------------------------


def test_admin__columna_y_detalle_con_moneda(admin_client):
    envio = con_costo(
        "0.0085", "USD", datetime(2026, 11, 2, tzinfo=UTC), precio_categoria="utility"
    )
    con_costo(None, "", datetime(2026, 11, 2, tzinfo=UTC))

    lista = admin_client.get(reverse("admin:whatsapp_notify_enviowhatsapp_changelist"))
    detalle = admin_client.get(
        reverse("admin:whatsapp_notify_enviowhatsapp_change", args=[envio.pk])
    )

    assert lista.status_code == detalle.status_code == 200
    assert "column-costo_con_moneda" in lista.content.decode()
    assert "0.0085 USD" in lista.content.decode()
    texto = detalle.content.decode()
    assert "0.0085 USD" in texto
    assert "utility" in texto  # the pricing it came from


# -- what the cost column holds ------------------------------------------------------------


def _e015() -> list[str]:
    return [e.msg for e in check_settings() if e.id == "whatsapp_notify.E015"]


@pytest.mark.parametrize("tarifa", ["1000000", "0.0000004", 1e-07, "12345678.5"])
def test_una_tarifa_que_la_columna_no_guarda_es_e015(wa_settings, tarifa):
    """Too large for the column (the status would be lost) or too fine (stored as 0)."""
    wa_settings(COST_RATES={"MX": {"utility": tarifa}})

    (mensaje,) = _e015()
    assert "6 decimales" in mensaje


def test_la_tarifa_mas_grande_que_cabe_se_registra(wa_settings):
    wa_settings(COST_RATES={"MX": {"utility": "999999.999999"}})
    assert _e015() == []
    envio = enviado("wamid.caro")

    aplicar([status("wamid.caro", DELIVERED, **precio("utility"))], "default")

    envio.refresh_from_db()
    assert (envio.estado, envio.costo) == (EstadoEnvio.ENTREGADO, Decimal("999999.999999"))


@pytest.mark.parametrize(
    ("monto", "moneda"),
    [("-12345678.5", "USD"), ("-0.00000001", "USD"), ("-0.0085", "US$"), ("-0.0085", "123"),
     ("-0.0085", "€€€"), ("NaN", "USD")],
)  # fmt: skip
def test_un_precio_del_proveedor_que_no_cabe_queda_desconocido(monto, moneda):
    assert costs.precio_reportado(monto, moneda) is None


def test_un_precio_del_proveedor_que_cabe():
    assert costs.precio_reportado("-0.0085", "usd") == costs.Costo(Decimal("0.0085"), "USD")
