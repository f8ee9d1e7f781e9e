"""What a person reads follows the active language: dates, field names, state labels."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import translation

from whatsapp_notify.models import Conversacion, EnvioWhatsApp, EstadoEnvio, Mensaje

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


# -- a failed envío's error: the provider's words stored, the explanation read in each language


ES_131026 = "(#131026) No se pudo entregar: el número no usa WhatsApp o su aplicación es antigua."
EN_131026 = "(#131026) Could not deliver: the number does not use WhatsApp or its app is outdated."
EN_SIN_DETALLE = "The provider reported that the message could not be delivered."
IDIOMAS = [pytest.param("es", ES_131026, id="es"), pytest.param("en", EN_131026, id="en")]


@pytest.fixture
def cuenta_meta(wa_settings):
    """A Meta account, ``meta``: its backend explains Graph's codes."""
    meta = {
        "BACKEND": "whatsapp_notify.backends.meta.MetaBackend",
        "OPTIONS": {"PHONE_NUMBER_ID": "1234567890", "ACCESS_TOKEN": "token-de-prueba"},
    }
    default = {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"}
    wa_settings(BACKENDS={"default": default, "meta": meta})
    return "meta"


def fallido_en_meta(**campos) -> EnvioWhatsApp:
    valores = {
        "cuenta": "meta",
        "estado": EstadoEnvio.FALLIDO,
        "error_codigo": 131026,
        "error_titulo": "Message undeliverable.",
        "error_detalle": "Unable to deliver the message.",
    }
    return crear_envio(**{**valores, **campos})


@pytest.mark.parametrize(("idioma", "explicacion"), IDIOMAS)
def test_error__se_explica_al_leerlo_y_guarda_las_palabras_del_proveedor(
    cuenta_meta, idioma, explicacion
):
    envio = fallido_en_meta()

    with translation.override(idioma):
        texto = envio.error_legible()

    assert texto.startswith(explicacion)
    assert texto.endswith("Unable to deliver the message.")
    assert envio.error_detalle == "Unable to deliver the message."


def test_error__una_fila_antigua_con_solo_su_texto_lo_muestra_tal_cual(cuenta_meta):
    antiguo = "(#131026) No se pudo entregar: el número no usa WhatsApp. Detalle: x"
    envio = fallido_en_meta(error_detalle=antiguo)
    sin_codigo = fallido_en_meta(error_codigo=None, error_detalle="Read timed out")

    with translation.override("en"):
        assert envio.error_legible() == antiguo
        assert sin_codigo.error_legible() == "Read timed out"


def test_error__las_notas_de_la_app_se_traducen_al_leerlas(cuenta_meta):
    from whatsapp_notify.error_text import AVISADO, SIN_DETALLE

    envio = fallido_en_meta(error_codigo=None, error_detalle=SIN_DETALLE)
    incierto = fallido_en_meta(
        estado=EstadoEnvio.INCIERTO, error_codigo=None, error_detalle=f"Read timed out {AVISADO}"
    )

    with translation.override("en"):
        assert envio.error_legible() == EN_SIN_DETALLE
        assert incierto.error_legible().startswith("Read timed out Admins were told")
    with translation.override("es"):
        assert envio.error_legible() == SIN_DETALLE


def test_error__un_webhook_de_fallo_guarda_el_codigo_y_las_palabras_del_proveedor(cuenta_meta):
    from whatsapp_notify.events import ErrorProveedor, EventoEstado
    from whatsapp_notify.inbound.apply import _error

    evento = EventoEstado(
        wamid="wamid.X",
        estado="failed",
        errores=(
            ErrorProveedor(
                code=131026,
                title="Message undeliverable.",
                message="(#131026) Message undeliverable.",
            ),
        ),
    )

    campos = _error(evento)

    assert campos == {
        "error_codigo": 131026,
        "error_titulo": "Message undeliverable.",
        "error_detalle": "Message undeliverable.",
    }


@pytest.mark.parametrize(("idioma", "explicacion"), IDIOMAS)
def test_admin__lista_y_detalle_explican_el_error_en_el_idioma(
    admin_client, settings, cuenta_meta, idioma, explicacion
):
    envio = fallido_en_meta()
    settings.LANGUAGE_CODE = idioma

    lista = admin_client.get(reverse("admin:whatsapp_notify_enviowhatsapp_changelist"))
    detalle = admin_client.get(
        reverse("admin:whatsapp_notify_enviowhatsapp_change", args=[envio.pk])
    )

    assert explicacion[:40] in lista.content.decode()
    contenido = detalle.content.decode()
    assert explicacion in contenido
    assert "Unable to deliver the message." in contenido  # the provider's own words too


@pytest.mark.parametrize(("idioma", "explicacion"), IDIOMAS)
def test_panel__errores_principales_y_cuentas_en_pausa_en_el_idioma(
    admin_client, settings, cuenta_meta, idioma, explicacion
):
    from django.utils import timezone

    from whatsapp_notify.models import EstadoCuenta

    fallido_en_meta(fallido_en=timezone.now())
    EstadoCuenta.objects.create(
        cuenta="meta", pausada=True, pausada_en=timezone.now(), error_codigo=131026
    )
    settings.LANGUAGE_CODE = idioma

    contenido = admin_client.get(reverse("admin:whatsapp_notify_panel")).content.decode()

    # Once in the top errors, once as the paused account's reason.
    assert contenido.count(explicacion.removeprefix("(#131026) ")) == 2


@pytest.mark.parametrize(("idioma", "explicacion"), IDIOMAS)
def test_api__el_detalle_de_un_envio_explica_su_error_en_el_idioma(
    settings, django_user_model, cuenta_meta, idioma, explicacion
):
    from tests.clientes_api import cliente, url

    envio = fallido_en_meta()
    settings.LANGUAGE_CODE = idioma
    api = cliente(django_user_model, "lector", "view_enviowhatsapp")

    error = api.get(url("api-envio-detail", envio.pk)).json()["error"]

    assert error == {
        "codigo": 131026,
        "titulo": "Message undeliverable.",
        "detalle": "Unable to deliver the message.",
        "causa": f"{explicacion} {'Detalle' if idioma == 'es' else 'Detail'}: "
        "Unable to deliver the message.",
    }


@pytest.mark.parametrize(("idioma", "explicacion"), IDIOMAS)
def test_insignia__dice_el_error_en_el_idioma(cuenta_meta, idioma, explicacion):
    from django.template import Context, Template

    from tests.testapp.models import Cliente

    cliente = Cliente.objects.create(nombre="Ana", telefono=TELEFONO)
    fallido_en_meta(content_type=ContentType.objects.get_for_model(Cliente), object_id=cliente.pk,
                    tipo="aviso")  # fmt: skip
    plantilla = Template('{% load whatsapp_notify %}{% insignia_whatsapp cliente "aviso" %}')

    with translation.override(idioma):
        html = plantilla.render(Context({"cliente": cliente}))

    assert explicacion in html


# -- Brazilian Portuguese ------------------------------------------------------------------


def test_pt_br__la_lista_de_envios_del_admin(admin_client, settings):
    crear_envio(estado=EstadoEnvio.INCIERTO, creado_en=MOMENTO)

    contenido = lista_de_envios(admin_client, settings, "pt-br")

    assert "envios de WhatsApp" in contenido
    assert "Não confirmado" in contenido
    assert "Reenviar" in contenido
    assert "04/03/2026" in contenido  # Brazil reads the day first


def test_pt_br__un_error_de_la_api(settings, django_user_model):
    from tests.clientes_api import cliente, url

    settings.LANGUAGE_CODE = "pt-br"
    api = cliente(django_user_model, "lector", "view_enviowhatsapp")

    respuesta = api.get(url("api-envio-list"), {"estado": "perdido"})

    assert respuesta.status_code == 400
    assert respuesta.json()["estado"] == ["Status desconhecido: ['perdido']"]


@pytest.mark.parametrize(
    ("idioma", "frase"),
    [
        pytest.param("es", "no es una región conocida", id="es"),
        pytest.param("en", "is not a known region", id="en"),
        pytest.param("pt-br", "não é uma região conhecida", id="pt-br"),
    ],
)
def test_checks__el_mensaje_sigue_el_idioma(wa_settings, idioma, frase):
    from whatsapp_notify.checks import check_settings

    wa_settings(DEFAULT_REGION="XX")

    with translation.override(idioma):
        mensajes = [str(m.msg) for m in check_settings() if m.id == "whatsapp_notify.E005"]

    assert len(mensajes) == 1
    assert frase in mensajes[0]


@pytest.mark.parametrize(
    ("idioma", "esperado"),
    [
        pytest.param("es", "WARN  sin confirmar: el proveedor pudo recibirlos", id="es"),
        pytest.param("en", "WARN  unconfirmed: the provider may have received them", id="en"),
    ],
)
def test_reintentar__nombra_el_estado_como_el_admin(settings, idioma, esperado):
    from io import StringIO

    from django.core.management import call_command

    crear_envio(estado=EstadoEnvio.INCIERTO)
    settings.LANGUAGE_CODE = idioma
    salida = StringIO()

    with translation.override(idioma):
        call_command("whatsapp_reintentar", "--estado", "incierto", "--dry-run", stdout=salida)

    assert esperado in salida.getvalue()
    assert "incierto -" not in salida.getvalue()  # the listing names it too


@pytest.mark.parametrize(
    ("idioma", "asunto", "motivo"),
    [
        pytest.param("es", "WhatsApp: cuenta 'meta' pausada", "Motivo: (#131026) No se", id="es"),
        pytest.param("en", "WhatsApp: account 'meta' paused", "Reason: (#131026) Could", id="en"),
    ],
)
def test_alerta__la_cuenta_pausada_se_avisa_en_el_idioma(
    cuenta_meta, mailoutbox, idioma, asunto, motivo
):
    from whatsapp_notify.exceptions import AuthError
    from whatsapp_notify.outbound.delivery import pausar_cuenta

    with translation.override(idioma):
        pausar_cuenta("meta", AuthError("Unable to deliver", code=131026))

    assert [correo.subject for correo in mailoutbox] == [f"[Django] {asunto}"]
    assert motivo in mailoutbox[0].body


@pytest.mark.parametrize(
    ("idioma", "frase"),
    [
        pytest.param("es", "debe ser un número de segundos mayor que cero", id="es"),
        pytest.param("en", "must be a number of seconds greater than zero", id="en"),
        pytest.param("pt-br", "deve ser um número de segundos maior que zero", id="pt-br"),
    ],
)
def test_checks__una_opcion_invalida_del_backend_en_el_idioma(wa_settings, idioma, frase):
    from whatsapp_notify.checks import check_settings

    meta = {"PHONE_NUMBER_ID": "1234567890", "ACCESS_TOKEN": "token", "TIMEOUT": "pronto"}
    wa_settings(BACKENDS={"default": {"BACKEND": "whatsapp_notify.backends.meta.MetaBackend",
                                      "OPTIONS": meta}})  # fmt: skip

    with translation.override(idioma):
        mensajes = [str(m.msg) for m in check_settings() if m.id == "whatsapp_notify.E004"]

    assert len(mensajes) == 1
    assert frase in mensajes[0]
