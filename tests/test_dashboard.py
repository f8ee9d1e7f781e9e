"""The operations dashboard (``dashboard``): who sees it, what it shows, what it costs.

Rows are written with ``bulk_create``, dated relative to now so they fall on the days the
page draws; the figures on the page are read from its context and its HTML.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from whatsapp_notify.dashboard import charts
from whatsapp_notify.models import ClaseEnvio, EnvioWhatsApp, EstadoCuenta, EstadoEnvio
from whatsapp_notify.outbound.reports import Conteo, FallosDia

pytestmark = pytest.mark.django_db

PANEL = reverse("admin:whatsapp_notify_panel")
E = EstadoEnvio
CUENTAS = {
    "default": {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"},
    "citas": {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"},
}


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", password=None)


@pytest.fixture
def dos_cuentas(settings):
    settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, "BACKENDS": CUENTAS}


def envios(n: int = 1, *, hace: timedelta = timedelta(minutes=5), **campos):
    """``n`` envíos created ``hace`` ago (finished then too, if their estado says so)."""
    momento = timezone.now() - hace
    campos.setdefault("clase", ClaseEnvio.PLANTILLA)
    campos.setdefault("creado_en", momento)
    if campos.get("estado") == E.FALLIDO:
        campos.setdefault("fallido_en", momento)
    if campos.get("estado") in (E.ENVIADO, E.ENTREGADO, E.LEIDO):
        campos.setdefault("enviado_en", momento)
    return EnvioWhatsApp.objects.bulk_create(EnvioWhatsApp(**campos) for _ in range(n))


def cifras(response) -> dict[str, str]:
    return {cifra.clave: cifra.valor for cifra in response.context["cifras"]}


# -- who sees it ----------------------------------------------------------------------------


def test_panel__anonimo_va_al_login(client):
    response = client.get(PANEL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_panel__quien_no_es_staff_va_al_login(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("cliente", password=None))

    response = client.get(PANEL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_panel__staff_sin_permiso_de_ver_envios_no_entra(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True, password=None))

    assert client.get(PANEL).status_code == 403


def test_panel__staff_que_ve_envios_entra_y_no_se_le_ofrece_reanudar(client, django_user_model):
    usuario = django_user_model.objects.create_user("ops", is_staff=True, password=None)
    usuario.user_permissions.add(Permission.objects.get(codename="view_enviowhatsapp"))
    client.force_login(usuario)
    EstadoCuenta.objects.create(cuenta="default", pausada=True, pausada_en=timezone.now())

    response = client.get(PANEL)

    assert response.status_code == 200
    assert "reanudar-default" not in response.content.decode()


def test_panel__enlazado_desde_el_indice_de_la_app_y_la_lista_de_envios(admin_client):
    indice = admin_client.get(reverse("admin:app_list", args=["whatsapp_notify"]))
    lista = admin_client.get(reverse("admin:whatsapp_notify_enviowhatsapp_changelist"))

    assert f'href="{PANEL}"' in indice.content.decode()
    assert f'href="{PANEL}"' in lista.content.decode()


# -- what it shows --------------------------------------------------------------------------


def test_panel__base_vacia_se_muestra(admin_client):
    response = admin_client.get(PANEL)

    html = response.content.decode()
    assert response.status_code == 200
    assert cifras(response)["pendientes"] == "0"
    assert cifras(response)["tasa_exito"] == "—"
    assert "Ningún envío falló en el periodo." in html
    assert "Ninguna cuenta en pausa." in html
    assert response.context["por_estado"].vacia
    assert len(response.context["por_estado"].barras) == 30


def test_panel__las_cifras_de_la_cola_son_las_de_las_filas(admin_client):
    envios(3, estado=E.PENDIENTE, hace=timedelta(minutes=30))
    envios(2, estado=E.PENDIENTE, intentos=1, proximo_intento=timezone.now() + timedelta(hours=1))
    envios(1, estado=E.INCIERTO)
    envios(4, estado=E.PROGRAMADO, programado_para=timezone.now() + timedelta(days=1))
    envios(6, estado=E.ENTREGADO, intentos=1)
    envios(2, estado=E.FALLIDO, intentos=4, error_codigo=131026)

    response = admin_client.get(PANEL)

    valores = cifras(response)
    assert (valores["pendientes"], valores["en_reintento"], valores["inciertos"]) == ("5", "2", "1")
    assert valores["programados"] == "4"
    assert valores["tasa_exito"] == "75 %"
    assert valores["intentos_promedio"] == "1,75"  # (6×1 + 2×4) / 8, in the es locale
    assert valores["espera"].startswith("30")  # «30 minutos»


def test_panel__por_estado_y_por_tipo_cuentan_lo_creado_cada_dia(admin_client):
    envios(3, estado=E.ENTREGADO, tipo="vehiculo_listo")
    envios(2, estado=E.FALLIDO, tipo="recordatorio", hace=timedelta(days=2))
    envios(7, estado=E.ENTREGADO, hace=timedelta(days=45))  # outside the 30 days

    response = admin_client.get(PANEL)

    estados = {s.valor: s.total for s in response.context["por_estado"].series}
    tipos = {s.valor: s.total for s in response.context["por_tipo"].series}
    assert estados == {E.ENTREGADO: 3, E.FALLIDO: 2}
    assert tipos == {"vehiculo_listo": 3, "recordatorio": 2}
    hoy = response.context["por_estado"].barras[-1]
    assert (hoy.dia, hoy.total) == (timezone.localdate(), 3)
    html = response.content.decode()
    assert "Entregado</a>" in html  # the legend names each estado in text
    assert "estado__exact=fallido" in html


def test_panel__la_tasa_de_fallos_frente_al_umbral(admin_client, settings):
    settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, "FAILURE_THRESHOLD": 0.3}
    envios(1, estado=E.ENTREGADO)
    envios(1, estado=E.FALLIDO)
    envios(9, estado=E.ENTREGADO, hace=timedelta(days=1))
    envios(1, estado=E.FALLIDO, hace=timedelta(days=1))

    response = admin_client.get(PANEL)

    fallos = response.context["fallos"]
    ayer, hoy = fallos.barras[-2:]
    assert (hoy.tasa, hoy.alerta) == (0.5, True)
    assert (ayer.tasa, ayer.alerta) == (pytest.approx(0.1), False)
    assert fallos.umbral_texto == "umbral 30 %"
    assert "2 de 12 terminados" in fallos.resumen


def test_panel__errores_con_su_causa_y_enlace_a_los_envios(admin_client):
    envios(3, estado=E.FALLIDO, error_codigo=131026)
    envios(1, estado=E.FALLIDO, error_codigo=None)

    response = admin_client.get(PANEL)

    primero, segundo = response.context["errores"]
    assert (primero.error.codigo, primero.error.cuantos) == (131026, 3)
    assert primero.error.causa  # the locmem backend's readable sentence
    assert "error_codigo=131026" in primero.url
    assert "error_codigo__isnull=True" in segundo.url
    listados = admin_client.get(primero.url).context["cl"].result_count
    assert listados == 3


def test_panel__cuentas_en_pausa_con_cuando_y_por_que_y_se_reanudan(admin_client):
    EstadoCuenta.objects.create(
        cuenta="default",
        pausada=True,
        pausada_en=timezone.now(),
        error_codigo=190,
        error_detalle="El token de acceso caducó",
    )

    response = admin_client.get(PANEL)
    html = response.content.decode()

    assert "El token de acceso caducó" in html
    assert 'id="reanudar-default"' in html
    reanudar = admin_client.post(
        reverse("admin:whatsapp_notify_estadocuenta_changelist"),
        {"action": "reanudar", "_selected_action": "default", "index": "0"},
    )
    assert reanudar.status_code == 302
    assert not EstadoCuenta.objects.get(cuenta="default").pausada


@pytest.mark.usefixtures("dos_cuentas")
def test_panel__filtro_de_cuenta(admin_client):
    envios(2, estado=E.ENTREGADO, cuenta="default")
    envios(5, estado=E.PENDIENTE, cuenta="citas")

    todas = admin_client.get(PANEL)
    citas = admin_client.get(PANEL, {"cuenta": "citas"})

    assert cifras(todas)["pendientes"] == "5"
    assert cifras(citas)["pendientes"] == "5"
    assert {s.valor: s.total for s in citas.context["por_estado"].series} == {E.PENDIENTE: 5}
    assert {s.valor: s.total for s in todas.context["por_estado"].series} == {
        E.PENDIENTE: 5,
        E.ENTREGADO: 2,
    }
    assert "cuenta__exact=citas" in citas.context["cifras"][0].url
    assert '<option value="citas" selected>' in citas.content.decode()


@pytest.mark.parametrize(
    ("consulta", "barras"),
    [({"dias": "7"}, 7), ({"dias": "90"}, 90), ({"dias": "12"}, 30), ({}, 30)],
    ids=["7", "90", "no-ofrecido", "sin-elegir"],
)
def test_panel__periodo(admin_client, consulta, barras):
    envios(1, estado=E.ENTREGADO, hace=timedelta(days=20))

    response = admin_client.get(PANEL, consulta)

    assert len(response.context["por_estado"].barras) == barras
    total = sum(s.total for s in response.context["por_estado"].series)
    assert total == (0 if barras == 7 else 1)


def test_panel__una_cuenta_desconocida_muestra_todas(admin_client):
    envios(2, estado=E.PENDIENTE)

    response = admin_client.get(PANEL, {"cuenta": "no-existe"})

    assert response.context["cuenta"] is None
    assert cifras(response)["pendientes"] == "2"


def test_panel__las_fechas_siguen_el_idioma_activo(admin_client):
    envios(1, estado=E.ENTREGADO)

    es = admin_client.get(PANEL, HTTP_ACCEPT_LANGUAGE="es").context["por_estado"].barras[-1]

    hoy = timezone.localdate()
    assert es.fecha == hoy.strftime("%d/%m/%Y")  # es SHORT_DATE_FORMAT
    assert re.fullmatch(r"\d{1,2}", es.etiqueta)


def test_panel__consultas_acotadas_sea_cual_sea_el_volumen(admin_client):
    def consultas() -> int:
        with CaptureQueriesContext(connection) as capturadas:
            assert admin_client.get(PANEL, {"dias": "90"}).status_code == 200
        return len(capturadas)

    envios(1, estado=E.ENTREGADO)
    pocas = consultas()
    for dias in range(0, 80, 8):
        envios(20, estado=E.FALLIDO, error_codigo=131000 + dias, hace=timedelta(days=dias))
        envios(20, estado=E.ENTREGADO, tipo=f"tipo_{dias}", hace=timedelta(days=dias))
    EstadoCuenta.objects.create(cuenta="default", pausada=True, pausada_en=timezone.now())

    assert consultas() == pocas
    assert pocas <= 16


def test_panel__costo_por_mes_por_tipo_y_por_cuenta_sin_mezclar_monedas(admin_client, dos_cuentas):
    from decimal import Decimal

    ahora = timezone.now()
    hace_dos_meses = ahora - timedelta(days=62)
    entregado = {"estado": E.ENTREGADO, "moneda": "USD"}
    envios(3, tipo="vehiculo_listo", cuenta="default", costo=Decimal("0.0085"),
           entregado_en=ahora, **entregado)  # fmt: skip
    envios(2, tipo="recordatorio", cuenta="citas", costo=Decimal("0.0200"),
           entregado_en=ahora, **entregado)  # fmt: skip
    envios(1, tipo="vehiculo_listo", cuenta="default", costo=Decimal("0"),
           entregado_en=ahora, **entregado)  # fmt: skip
    envios(1, tipo="promo", cuenta="default", costo=Decimal("1.5"), moneda="MXN",
           estado=E.ENTREGADO, entregado_en=ahora)  # fmt: skip
    envios(4, tipo="vehiculo_listo", cuenta="default", costo=Decimal("0.01"),
           entregado_en=hace_dos_meses, **entregado)  # fmt: skip
    envios(9, tipo="vehiculo_listo", costo=Decimal("9"), entregado_en=ahora - timedelta(days=400),
           **entregado)  # fmt: skip

    respuesta = admin_client.get(PANEL)
    actual, anterior = respuesta.context["costos"][0], respuesta.context["costos"][-1]

    assert len(respuesta.context["costos"]) == 2  # the year-old month is out of the block
    assert {(f["moneda"], f["total"], f["facturables"]) for f in actual.totales} == {
        ("USD", Decimal("0.0655"), 5), ("MXN", Decimal("1.5"), 1),
    }  # fmt: skip
    assert [(f["grupo"], f["moneda"]) for f in actual.por_tipo][:2] == [
        ("promo", "MXN"), ("recordatorio", "USD"),
    ]  # fmt: skip
    assert {(f["grupo"], f["total"]) for f in actual.por_cuenta if f["moneda"] == "USD"} == {
        ("default", Decimal("0.0255")), ("citas", Decimal("0.0400")),
    }  # fmt: skip
    assert [(f["total"], f["facturables"]) for f in anterior.totales] == [(Decimal("0.04"), 4)]
    contenido = respuesta.content.decode()
    assert "Costo por mes" in contenido
    assert re.search(r"0[,.]0655(&nbsp;|\s)USD", contenido)
    solo_citas = admin_client.get(PANEL, {"cuenta": "citas"}).context["costos"]
    assert [(f["moneda"], f["total"]) for f in solo_citas[0].totales] == [("USD", Decimal("0.04"))]


def test_panel__un_mes_de_centavos_no_se_muestra_como_cero(admin_client):
    from decimal import Decimal

    envios(1, estado=E.ENTREGADO, tipo="aviso", entregado_en=timezone.now(),
           costo=Decimal("0.0034"), moneda="USD")  # fmt: skip

    contenido = admin_client.get(PANEL).content.decode()

    assert re.search(r"0[,.]0034&nbsp;USD", contenido)
    assert not re.search(r"0[,.]00&nbsp;USD", contenido)


def test_panel__sin_costos_lo_dice(admin_client):
    assert "Sin costos conocidos" in admin_client.get(PANEL).content.decode()


# -- the SVG helper -------------------------------------------------------------------------

DIAS = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]
SERIES = [charts.Serie("a", "A", "#000"), charts.Serie("b", "B", "#fff")]


def test_barras__escalan_al_dia_mayor_y_se_apilan():
    grafica = charts.barras_apiladas(
        [Conteo(DIAS[0], "a", 10), Conteo(DIAS[0], "b", 30), Conteo(DIAS[2], "a", 20)],
        DIAS,
        SERIES,
    )

    alto_util = grafica.base - grafica.arriba
    primero, _vacio, tercero = grafica.barras
    a, b = primero.segmentos
    assert grafica.maximo == 40
    assert (a.alto + b.alto) == pytest.approx(alto_util)  # the tallest day fills the axis
    assert tercero.segmentos[0].alto == pytest.approx(alto_util / 2)
    assert a.y == pytest.approx(grafica.base - a.alto)  # the first series at the bottom
    assert b.y == pytest.approx(a.y - b.alto)
    assert [s.total for s in grafica.series] == [30, 30]
    assert a.titulo == "18/11/2026: A 10"


def test_barras__un_dia_sin_envios_guarda_su_lugar_sin_rectangulos():
    grafica = charts.barras_apiladas([Conteo(DIAS[0], "a", 1)], DIAS, SERIES)

    vacio = grafica.barras[1]
    assert (vacio.total, vacio.segmentos) == (0, ())
    assert vacio.x > grafica.barras[0].x
    assert vacio.titulo == "19/11/2026: 0 envíos"
    assert [s.valor for s in grafica.series] == ["a"]  # B had nothing: not in the legend


def test_barras__todo_en_cero_no_divide_entre_cero():
    grafica = charts.barras_apiladas([], DIAS, SERIES)

    assert grafica.vacia
    assert all(barra.segmentos == () for barra in grafica.barras)
    assert [m.texto for m in grafica.marcas] == ["0"]


def test_barras__marcas_del_eje_redondas():
    grafica = charts.barras_apiladas([Conteo(DIAS[0], "a", 1234)], DIAS, SERIES)

    assert [m.texto for m in grafica.marcas] == ["0", "500", "1000", "1500"]


def test_barras__los_tipos_de_mas_se_suman_en_otros():
    conteos = [Conteo(DIAS[0], f"t{i}", 10 - i) for i in range(5)] + [Conteo(DIAS[1], "t4", 3)]

    principales, otros = charts.principales(conteos, 2)
    agrupados = charts.agrupar_otros(conteos, otros)

    assert principales == ["t0", "t1"]
    assert otros == {"t2", "t3", "t4"}
    assert set(agrupados) == {
        Conteo(DIAS[0], "t0", 10),
        Conteo(DIAS[0], "t1", 9),
        Conteo(DIAS[0], charts.OTROS, 8 + 7 + 6),
        Conteo(DIAS[1], charts.OTROS, 3),
    }


def test_barras__un_solo_tipo_de_mas_no_se_llama_otros():
    conteos = [Conteo(DIAS[0], f"t{i}", 1) for i in range(3)]

    assert charts.principales(conteos, 2) == (["t0", "t1", "t2"], set())


def test_tasa__barra_por_dia_y_linea_del_umbral():
    grafica = charts.barras_de_tasa(
        [FallosDia(DIAS[0], 10, 1), FallosDia(DIAS[2], 4, 2)], DIAS, umbral=0.2
    )

    primero, sin_nada, tercero = grafica.barras
    assert (primero.tasa, primero.alerta) == (0.1, False)
    assert (sin_nada.tasa, sin_nada.segmentos) == (None, ())
    assert "ningún envío terminado" in sin_nada.titulo
    assert (tercero.tasa, tercero.alerta) == (0.5, True)
    assert grafica.base > grafica.umbral_y > tercero.segmentos[0].y
    assert primero.segmentos[0].alto == pytest.approx(tercero.segmentos[0].alto / 5, abs=0.01)
    assert grafica.filas[1] == ("19/11/2026", [0, 0, "—"])


def test_porcentaje_en_el_idioma_activo():
    assert charts.porcentaje(0.125) == "12,5 %"
    assert charts.porcentaje(0.2) == "20 %"
    assert charts.porcentaje(None) == "—"


def test_panel__sin_zonas_horarias_use_tz_false_tambien_responde(admin_client, settings):
    """A project on naive datetimes (USE_TZ = False, which the outbox supports) sees the
    dashboard and the envío list with its dates, not a 500."""
    settings.USE_TZ = False
    EnvioWhatsApp.objects.create(
        clase=ClaseEnvio.PLANTILLA, estado=E.FALLIDO, fallido_en=datetime(2026, 12, 6, 10, 0),
        error_codigo=131026, telefono="5215512345678",
    )  # fmt: skip

    panel = admin_client.get(reverse("admin:whatsapp_notify_panel"))
    lista = admin_client.get(reverse("admin:whatsapp_notify_enviowhatsapp_changelist"))

    assert panel.status_code == 200
    assert lista.status_code == 200
    assert "131026" in panel.content.decode()
