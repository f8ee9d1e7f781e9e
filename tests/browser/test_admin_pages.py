"""The admin pages operators use, rendered and read in a real browser (headless Chromium)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.test_admin import crear_envio
from whatsapp_notify.models import EstadoEnvio, MotivoOmision

pytestmark = pytest.mark.browser


def test_envios_changelist__shows_each_journey_masked_with_its_badge(navegador):
    ahora = timezone.now()
    crear_envio(
        estado=EstadoEnvio.LEIDO,
        enviado_en=ahora - timedelta(minutes=3),
        entregado_en=ahora - timedelta(minutes=2),
        leido_en=ahora - timedelta(minutes=1),
    )
    crear_envio(estado=EstadoEnvio.FALLIDO, telefono="525587654321", error_codigo=131026)
    crear_envio(estado=EstadoEnvio.OMITIDO, motivo=MotivoOmision.SIN_CONSENTIMIENTO, nombre="Luis")

    navegador.abrir(reverse("admin:whatsapp_notify_enviowhatsapp_changelist"))
    navegador.esperar("#result_list")
    captura = navegador.captura("envios_changelist")

    filas = navegador.css("#result_list tbody tr")
    texto = navegador.texto()
    assert len(filas) == 3
    assert {"Leído", "Fallido", "Omitido"} <= {
        badge.text for badge in navegador.css("#result_list tbody td.field-estado_badge span")
    }
    assert "525512345678" not in texto  # phones are masked in the list
    assert "52******5678" in texto
    assert "131026" in texto
    assert captura.stat().st_size > 10_000  # a rendered page, not a blank one


def _elegir_accion(navegador, accion: str, *ids: int) -> None:
    from selenium.webdriver.support.ui import Select

    for envio_id in ids:
        navegador.driver.find_element(
            "css selector", f"input.action-select[value='{envio_id}']"
        ).click()
    Select(navegador.driver.find_element("name", "action")).select_by_value(accion)
    navegador.driver.find_element("css selector", "button[name='index']").click()


def test_reenviar_incierto__the_page_warns_and_sends_only_after_yes(navegador):
    incierto = crear_envio(estado=EstadoEnvio.INCIERTO, intentos=5, error_codigo=None)
    navegador.abrir(reverse("admin:whatsapp_notify_enviowhatsapp_changelist"))

    _elegir_accion(navegador, "reenviar", incierto.pk)
    navegador.esperar("input[name='confirmar']")
    navegador.captura("reenviar_incierto_confirmacion")

    assert "puede recibirlo dos veces" in navegador.texto()
    incierto.refresh_from_db()
    assert incierto.estado == EstadoEnvio.INCIERTO  # nothing happened yet

    navegador.driver.find_element("css selector", "input[type='submit']").click()
    navegador.esperar("ul.messagelist")
    navegador.captura("reenviar_incierto_confirmado")

    incierto.refresh_from_db()
    assert incierto.estado != EstadoEnvio.INCIERTO
    assert "vuelve a la cola" in navegador.texto()


def test_reenviar_incierto__no_goes_back_and_changes_nothing(navegador):
    incierto = crear_envio(estado=EstadoEnvio.INCIERTO, intentos=5)
    navegador.abrir(reverse("admin:whatsapp_notify_enviowhatsapp_changelist"))

    _elegir_accion(navegador, "reenviar", incierto.pk)
    navegador.esperar("a.cancel-link").click()
    navegador.esperar("#result_list")

    incierto.refresh_from_db()
    assert incierto.estado == EstadoEnvio.INCIERTO
    assert navegador.driver.current_url.endswith(
        reverse("admin:whatsapp_notify_enviowhatsapp_changelist")
    )
