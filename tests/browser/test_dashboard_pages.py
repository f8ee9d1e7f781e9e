"""The operations dashboard in a real browser, at a desktop's width and at a phone's.

Screenshots are taken of the whole page (the window is made as tall as the page) so a
person can look at every block; at 390 px the page itself must not scroll sideways
(only a chart may, inside its own frame).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from whatsapp_notify.models import ClaseEnvio, EnvioWhatsApp, EstadoCuenta, EstadoEnvio

pytestmark = pytest.mark.browser

E = EstadoEnvio
PANEL = reverse("admin:whatsapp_notify_panel")
TIPOS = (
    "vehiculo_listo", "recordatorio_24h", "recordatorio_1h", "cotizacion", "orden_compra",
    "agente", "cancelacion", "encuesta", "bienvenida",
)  # fmt: skip
CUENTAS = {
    "default": {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"},
    "citas": {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"},
}


def _del_dia(momento, tipo: str, cuenta: str, n: int, fallidos: int) -> list[EnvioWhatsApp]:
    comunes = {"clase": ClaseEnvio.PLANTILLA, "tipo": tipo, "creado_en": momento, "cuenta": cuenta}
    codigos = (131026, 131047, 131049, None)
    # Delivered utility templates cost what Meta's Mexican rate says; a quarter are free.
    costo = {"entregado_en": momento, "moneda": "USD"}
    enviados = [
        EnvioWhatsApp(
            estado=E.LEIDO if k % 2 else E.ENTREGADO, enviado_en=momento, intentos=1,
            costo=Decimal("0") if k % 4 == 0 else Decimal("0.0085"), **costo, **comunes,
        )
        for k in range(n - fallidos)
    ]  # fmt: skip
    return enviados + [
        EnvioWhatsApp(
            estado=E.FALLIDO, fallido_en=momento, error_codigo=codigos[k % 4], intentos=3, **comunes
        )
        for k in range(fallidos)
    ]


@pytest.fixture
def un_mes_de_envios(settings):
    """Thirty days of envíos of many tipos and estados, a queue and a paused account."""
    settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, "BACKENDS": CUENTAS}
    ahora = timezone.now()
    filas = []
    for dia in range(30):
        momento = ahora - timedelta(days=dia, minutes=5)
        for i, tipo in enumerate(TIPOS):
            n = (dia * 7 + i * 3) % 11 + (12 if i == 0 else 1)
            fallidos = n // (3 if dia % 6 == 0 else 9)  # every sixth day above the threshold
            cuenta = "citas" if i % 3 == 1 else "default"
            filas += _del_dia(momento, tipo, cuenta, n, fallidos)
    hace = ahora - timedelta(minutes=47)
    filas += [
        EnvioWhatsApp(clase=ClaseEnvio.PLANTILLA, estado=E.PENDIENTE, tipo="recordatorio_24h",
                      creado_en=hace, cuenta="citas", intentos=k % 2)
        for k in range(14)
    ]  # fmt: skip
    filas.append(EnvioWhatsApp(clase=ClaseEnvio.PLANTILLA, estado=E.INCIERTO, creado_en=ahora))
    EnvioWhatsApp.objects.bulk_create(filas)
    EstadoCuenta.objects.create(
        cuenta="citas", pausada=True, pausada_en=ahora - timedelta(hours=2), error_codigo=20003,
        error_detalle="Authenticate: las credenciales de la cuenta fueron rechazadas",
    )  # fmt: skip


def _pagina_entera(navegador, ancho: int) -> None:
    """Make the window ``ancho`` wide and as tall as the page, for a whole-page capture."""
    navegador.driver.set_window_size(ancho, 900)
    alto = navegador.driver.execute_script("return document.documentElement.scrollHeight")
    navegador.driver.set_window_size(ancho, alto + 120)


@pytest.fixture
def ventana(navegador):
    yield navegador
    navegador.driver.set_window_size(1400, 900)  # the session's browser, as the others expect


def _desborda(navegador) -> int:
    """How many pixels the page is wider than the window (0: no sideways scroll)."""
    return navegador.driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.mark.parametrize(("ancho", "nombre"), [(1280, "escritorio"), (390, "telefono")])
def test_panel__se_lee_en_escritorio_y_en_telefono(ventana, un_mes_de_envios, ancho, nombre):
    ventana.driver.set_window_size(ancho, 900)
    ventana.abrir(PANEL)
    ventana.esperar("#grafica-estado")
    _pagina_entera(ventana, ancho)
    captura = ventana.captura(f"panel_{nombre}")

    texto = ventana.texto()
    assert "Panel de operaciones" in texto
    assert "Envíos por día y estado" in texto
    assert "Leído" in texto  # the legend, in words
    assert "Fallido" in texto
    assert "otros (" in texto  # nine tipos: the least frequent summed
    assert "131026" in texto
    assert "citas" in ventana.css("#bloque-pausadas")[0].text
    assert ventana.css("#cifra-pendientes .wn-valor")[0].text == "14"
    assert len(ventana.css("#grafica-estado rect[fill]")) > 30
    assert "USD" in ventana.css("#bloque-costos")[0].text
    assert _desborda(ventana) <= 0
    assert captura.stat().st_size > 20_000


def test_panel__la_leyenda_lleva_a_los_envios_de_ese_estado(ventana, un_mes_de_envios):
    ventana.abrir(PANEL)
    ventana.esperar("#grafica-estado")

    ventana.driver.find_element("link text", "Fallido").click()
    ventana.esperar("#result_list")

    estados = {b.text for b in ventana.css("#result_list td.field-estado_badge span")}
    assert estados == {"Fallido"}


def test_panel__reanudar_una_cuenta_desde_el_panel(ventana, un_mes_de_envios):
    ventana.abrir(f"{PANEL}?dias=7&cuenta=citas")
    ventana.esperar("#reanudar-citas").click()
    ventana.esperar("ul.messagelist")
    ventana.captura("panel_cuenta_reanudada")

    assert "Cuenta reanudada: citas" in ventana.texto()
    assert not EstadoCuenta.objects.get(cuenta="citas").pausada


def test_panel__vacio(ventana):
    ventana.driver.set_window_size(390, 900)
    ventana.abrir(PANEL)
    ventana.esperar("#grafica-estado")
    _pagina_entera(ventana, 390)
    ventana.captura("panel_vacio_telefono")

    assert "Sin envíos en el periodo." in ventana.texto()
    assert _desborda(ventana) <= 0
