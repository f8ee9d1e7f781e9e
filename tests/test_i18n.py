"""What a person reads follows the active language: dates, field names, state labels."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import translation

from whatsapp_notify.models import Conversacion, EnvioWhatsApp, Mensaje

pytestmark = pytest.mark.django_db

TELEFONO = "525512345678"
# The 4th of March: a day-first and a month-first reading give different days.
MOMENTO = datetime(2026, 3, 4, 13, 5, tzinfo=ZoneInfo("America/Mexico_City"))


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", password=None)


def crear_envio(**campos) -> EnvioWhatsApp:
    valores = {"telefono": TELEFONO, "clase": "plantilla", "plantilla": "vehiculo_listo_cliente"}
    return EnvioWhatsApp.objects.create(**{**valores, **campos})


def lista_de_envios(admin_client, settings, idioma: str) -> str:
    settings.LANGUAGE_CODE = idioma
    respuesta = admin_client.get(reverse("admin:whatsapp_notify_enviowhatsapp_changelist"))
    assert respuesta.status_code == 200
    return respuesta.content.decode()


@pytest.mark.parametrize(
    ("idioma", "fecha", "no"),
    [
        pytest.param("en-us", "03/04/2026", "04/03/2026", id="en-us-mes-primero"),
        pytest.param("es", "04/03/2026", "03/04/2026", id="es-dia-primero"),
    ],
)
def test_admin__la_fecha_de_la_lista_sigue_el_idioma(admin_client, settings, idioma, fecha, no):
    crear_envio(creado_en=MOMENTO)

    contenido = lista_de_envios(admin_client, settings, idioma)

    assert fecha in contenido
    assert no not in contenido


@pytest.mark.parametrize(
    ("modelo", "campo", "es", "en"),
    [
        pytest.param(EnvioWhatsApp, "wa_id", "ID de WhatsApp", "WhatsApp ID", id="envio-wa_id"),
        pytest.param(Mensaje, "wa_id", "ID de WhatsApp", "WhatsApp ID", id="mensaje-wa_id"),
        pytest.param(Conversacion, "wa_id", "ID de WhatsApp", "WhatsApp ID", id="conv-wa_id"),
        pytest.param(
            EnvioWhatsApp, "wamid", "ID del mensaje (wamid)", "Message ID (wamid)", id="wamid"
        ),
        pytest.param(
            Conversacion,
            "ultimo_mensaje_en",
            "fecha del último mensaje",
            "last message date",
            id="fecha-del-ultimo-mensaje",
        ),
    ],
)
def test_modelos__los_campos_tienen_un_nombre_legible(modelo, campo, es, en):
    nombre = modelo._meta.get_field(campo).verbose_name

    with translation.override("es"):
        assert str(nombre) == es
    with translation.override("en"):
        assert str(nombre) == en


def test_modelos__ningun_campo_muestra_su_nombre_en_crudo():
    from django.apps import apps

    crudos = [
        f"{modelo.__name__}.{campo.name}"
        for modelo in apps.get_app_config("whatsapp_notify").get_models()
        for campo in modelo._meta.fields
        if "_" in str(campo.verbose_name) or str(campo.verbose_name) == "wamid"
    ]

    assert crudos == []


def test_modelos__dos_campos_de_un_modelo_no_comparten_nombre():
    from django.apps import apps

    repetidos = []
    for modelo in apps.get_app_config("whatsapp_notify").get_models():
        nombres = [str(campo.verbose_name) for campo in modelo._meta.fields]
        repetidos += [f"{modelo.__name__}: {n}" for n in set(nombres) if nombres.count(n) > 1]

    assert repetidos == []
