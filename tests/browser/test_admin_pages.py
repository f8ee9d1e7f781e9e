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


# -- the inbox ------------------------------------------------------------------------------


def _conversacion_con_hilo(ventana: bool):
    from whatsapp_notify.models import Conversacion, Direccion, Mensaje

    ahora = timezone.now()
    conversacion = Conversacion.objects.create(
        telefono="525512345678", nombre="Ana Pérez", no_leidos=2,
        ventana_hasta=ahora + timedelta(hours=5) if ventana else ahora - timedelta(hours=2),
    )  # fmt: skip
    hace = timedelta(minutes=30) if ventana else timedelta(days=2)
    enviado = crear_envio(estado=EstadoEnvio.LEIDO, clase="texto", texto="Tu vehículo está listo")
    Mensaje.objects.create(
        direccion=Direccion.SALIENTE, telefono="525512345678", texto="Tu vehículo está listo",
        envio=enviado, conversacion=conversacion, fecha=ahora - hace - timedelta(minutes=5),
    )  # fmt: skip
    Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono="525512345678", wamid="wamid.B1",
        texto="¿Puedo pasar a las 6?", conversacion=conversacion, fecha=ahora - hace,
    )  # fmt: skip
    return conversacion


def test_bandeja__responder_dentro_de_la_ventana(navegador):
    from whatsapp_notify.models import Conversacion, EnvioWhatsApp

    conversacion = _conversacion_con_hilo(ventana=True)
    navegador.abrir(reverse("admin:whatsapp_notify_conversacion_change", args=[conversacion.pk]))
    navegador.esperar("#bandeja")
    antes = navegador.captura("bandeja_ventana_abierta")

    assert "¿Puedo pasar a las 6?" in navegador.texto()
    assert "Tu vehículo está listo" in navegador.texto()
    assert "Leído" in navegador.css("#hilo")[0].text
    navegador.driver.find_element("id", "id_texto").send_keys("Sí, te esperamos a las 6.")
    navegador.driver.find_element("id", "enviar").click()
    navegador.esperar("ul.messagelist")
    despues = navegador.captura("bandeja_respuesta_enviada")

    assert "Respuesta en camino." in navegador.texto()
    assert "Sí, te esperamos a las 6." in navegador.css("#hilo")[0].text
    envio = EnvioWhatsApp.objects.get(tipo="agente")
    assert (envio.texto, envio.estado) == ("Sí, te esperamos a las 6.", EstadoEnvio.ENVIADO)
    assert Conversacion.objects.get().estado == "agente"
    assert antes.stat().st_size > 10_000
    assert despues.stat().st_size > 10_000


def test_bandeja__fuera_de_la_ventana_solo_plantilla(navegador):
    from selenium.webdriver.support.ui import Select

    from whatsapp_notify.models import EnvioWhatsApp, Plantilla

    conversacion = _conversacion_con_hilo(ventana=False)
    Plantilla.objects.create(
        cuenta="default", nombre="seguimiento_cliente", idioma="es_MX", estado="APPROVED",
        parametros_cuerpo=1, cuerpo="Hola {{1}}, ¿pudiste pasar por tu vehículo?",
    )  # fmt: skip
    navegador.abrir(reverse("admin:whatsapp_notify_conversacion_change", args=[conversacion.pk]))
    navegador.esperar("#bandeja")
    captura = navegador.captura("bandeja_ventana_cerrada")

    assert navegador.css("#id_texto") == []
    assert "sólo se le puede escribir con una plantilla" in navegador.texto()
    Select(navegador.driver.find_element("id", "id_plantilla")).select_by_index(0)
    navegador.driver.find_element("id", "id_variables").send_keys("Ana")
    navegador.driver.find_element("id", "enviar-plantilla").click()
    navegador.esperar("ul.messagelist")
    navegador.captura("bandeja_plantilla_enviada")

    envio = EnvioWhatsApp.objects.get(tipo="agente")
    assert (envio.plantilla, envio.variables) == ("seguimiento_cliente", ["Ana"])
    assert captura.stat().st_size > 10_000


def test_bandeja__tomar_y_devolver(navegador):
    from whatsapp_notify.models import Conversacion

    conversacion = _conversacion_con_hilo(ventana=True)
    cambio = reverse("admin:whatsapp_notify_conversacion_change", args=[conversacion.pk])
    navegador.abrir(cambio)
    navegador.esperar("#tomar").click()
    navegador.esperar("#devolver")
    navegador.captura("bandeja_tomada")

    assert navegador.driver.find_element("id", "estado-conversacion").text == "Con un agente"
    assert "la atiende ops" in navegador.texto()
    navegador.driver.find_element("id", "devolver").click()
    navegador.esperar("#tomar")

    assert navegador.driver.find_element("id", "estado-conversacion").text == "Bot"
    assert list(Conversacion.objects.get().pasos.values_list("tipo", "quien")) == [
        ("tomada", "ops"), ("bot", "ops"),
    ]  # fmt: skip
