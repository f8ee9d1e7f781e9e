"""whatsapp_notify.testing: the helpers host projects use in their own tests."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import TestCase, override_settings
from django.utils import timezone

from tests.testapp.models import Cliente
from whatsapp_notify import enviar_documento, enviar_plantilla, enviar_texto
from whatsapp_notify.backends import backends, locmem
from whatsapp_notify.backends.locmem import LocmemBackend
from whatsapp_notify.conf import get_settings
from whatsapp_notify.models import Direccion, EnvioWhatsApp, EstadoEnvio, Mensaje
from whatsapp_notify.phones import TelefonoInvalido
from whatsapp_notify.references import referencia_de
from whatsapp_notify.testing import (
    LOCMEM_BACKEND,
    assert_enviado,
    assert_no_enviado,
    entregar_pendientes,
    enviados,
    limpiar,
    recibir,
    usar_locmem,
)
from whatsapp_notify.testing import whatsapp_outbox as _whatsapp_outbox

# The fixture, enabled the way a host's conftest.py does (there, a bare import is enough).
whatsapp_outbox = _whatsapp_outbox

ANA = "+52 55 1234 5678"
BRUNO = "+52 55 8765 4321"
CONSOLE = "whatsapp_notify.backends.console.ConsoleBackend"
ACCOUNTS_ON_CONSOLE = {
    "BACKENDS": {
        "default": {"BACKEND": CONSOLE, "OPTIONS": {"STREAM": None}},
        "ventas": {"BACKEND": CONSOLE},
    },
    "DEFAULT_REGION": "AR",
    "REQUIRE_CONSENT": False,
    "RATE_LIMIT": None,
}


@pytest.fixture
def enviar(django_capture_on_commit_callbacks):
    """Send through the whole pipeline (on_commit + eager Celery), as in production."""

    def hacer(funcion, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return funcion(*args, **kwargs)

    return hacer


@pytest.fixture
def tres_enviados(enviar):
    cliente = Cliente.objects.create(nombre="Ana", telefono=ANA)
    enviar(
        enviar_plantilla,
        cliente,
        "vehiculo_listo_cliente",
        variables=["Ana", "Mazda 3", 42],
        tipo="vehiculo_listo",
        clave="vehiculo_listo:1",
        referencia=cliente,
    )
    enviar(enviar_plantilla, BRUNO, "recordatorio_cita", variables=["Bruno"], cuenta="default")
    Mensaje.objects.create(direccion=Direccion.ENTRANTE, telefono="525512345678")
    enviar(enviar_documento, ANA, b"%PDF-1.4", nombre_documento="cotizacion.pdf", caption="Hola")
    return cliente


# -- enviados ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filtros", "esperados"),
    [
        ({}, 3),
        ({"telefono": "+52 55 1234 5678"}, 2),
        ({"telefono": "5512345678"}, 2),
        ({"telefono": "+521 55 1234 5678"}, 2),
        ({"telefono": "525512345678"}, 2),
        ({"plantilla": "vehiculo_listo_cliente"}, 1),
        ({"variables": ["Ana", "Mazda 3", "42"]}, 1),
        ({"variables": ("Ana", "Mazda 3", 42)}, 1),
        ({"variables": ["Ana"]}, 0),
        ({"idioma": "es_MX"}, 2),
        ({"clase": "documento"}, 1),
        ({"texto": "Hola"}, 1),
        ({"nombre_documento": "cotizacion.pdf"}, 1),
        ({"cuenta": "default"}, 3),
        ({"tipo": "vehiculo_listo"}, 1),
        ({"clave": "vehiculo_listo:1"}, 1),
        ({"nombre": "Ana"}, 1),
        ({"telefono": BRUNO, "plantilla": "vehiculo_listo_cliente"}, 0),
    ],
    ids=[
        "todos",
        "telefono-e164",
        "telefono-nacional",
        "telefono-con-uno",
        "telefono-digitos",
        "plantilla",
        "variables",
        "variables-tupla-con-int",
        "variables-distintas",
        "idioma",
        "clase",
        "texto-caption",
        "nombre-documento",
        "cuenta",
        "tipo",
        "clave",
        "nombre",
        "filtros-combinados",
    ],
)
def test_enviados__filters_what_went_through_locmem(tres_enviados, filtros, esperados):
    assert len(enviados(**filtros)) == esperados


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("idioma", "filtro"),
    [
        pytest.param("en_US", {"idioma": "en_US"}, id="idioma-de-la-plantilla"),
        pytest.param(None, {}, id="idioma-por-omision"),
    ],
)
def test_enviados__variables_no_textuales_se_comparan_en_el_formato_del_idioma(
    enviar, idioma, filtro
):
    cuando = date(2025, 1, 15)
    enviar(enviar_plantilla, ANA, "cita", variables=[cuando, Decimal("9.5")], idioma=idioma)

    assert len(enviados(variables=[cuando, Decimal("9.5")], **filtro)) == 1


@pytest.mark.django_db
def test_enviados__filters_by_referencia(tres_enviados):
    otro = Cliente.objects.create(nombre="Bruno")

    assert [m.contenido.nombre for m in enviados(referencia=tres_enviados)] == [
        "vehiculo_listo_cliente"
    ]
    assert enviados(referencia=otro) == []


@pytest.mark.django_db
def test_enviados__leaves_out_envios_recorded_but_not_sent(enviar, wa_settings):
    wa_settings(REQUIRE_CONSENT=True)

    envio = enviar(enviar_plantilla, ANA, "vehiculo_listo_cliente", variables=["Ana"])

    assert envio.estado == EstadoEnvio.OMITIDO
    assert enviados() == []


@pytest.mark.django_db
def test_enviados__an_invalid_phone_filter_raises():
    with pytest.raises(TelefonoInvalido):
        enviados(telefono="12")


# -- assert_enviado / assert_no_enviado ----------------------------------------------------


@pytest.mark.django_db
def test_assert_enviado__returns_the_last_matching_message(tres_enviados):
    mensaje = assert_enviado(ANA, "vehiculo_listo_cliente", ["Ana", "Mazda 3", "42"], veces=1)

    envio = EnvioWhatsApp.objects.get(clave="vehiculo_listo:1")
    assert (mensaje.telefono, mensaje.referencia) == ("525512345678", referencia_de(envio.pk))


@pytest.mark.django_db
def test_assert_enviado__failure_lists_what_was_sent_and_what_was_not(enviar, wa_settings):
    enviar(enviar_plantilla, BRUNO, "recordatorio_cita", variables=["Bruno"])
    wa_settings(REQUIRE_CONSENT=True)
    omitido = enviar(enviar_plantilla, ANA, "vehiculo_listo_cliente", variables=["Ana"])

    with pytest.raises(AssertionError) as error:
        assert_enviado(ANA, "vehiculo_listo_cliente")

    mensaje = str(error.value)
    assert "telefono='+52 55 1234 5678', plantilla='vehiculo_listo_cliente'" in mensaje
    assert "coincidieron 0" in mensaje
    assert "525587654321: plantilla 'recordatorio_cita' (es_MX) ['Bruno']" in mensaje
    assert f"envío {omitido.pk} 525512345678: vehiculo_listo_cliente → omitido" in mensaje
    assert "(sin_consentimiento)" in mensaje


@pytest.mark.django_db
def test_assert_enviado__veces_counts_exactly(enviar):
    for numero in (1, 2):
        enviar(enviar_plantilla, ANA, "recordatorio_cita", variables=[f"{numero}"])

    assert_enviado(ANA, "recordatorio_cita", veces=2)
    with pytest.raises(AssertionError, match=r"1 vez .*coincidieron 2"):
        assert_enviado(ANA, "recordatorio_cita", veces=1)
    with pytest.raises(ValueError, match="assert_no_enviado"):
        assert_enviado(ANA, veces=0)


@pytest.mark.django_db
def test_assert_enviado__warns_when_an_account_is_not_on_locmem(settings):
    settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, **ACCOUNTS_ON_CONSOLE}
    settings.WHATSAPP_NOTIFY["BACKENDS"]["ventas"] = {"BACKEND": "no.existe.Backend"}

    with pytest.raises(AssertionError, match="usar_locmem"):
        assert_enviado(ANA)


def test_assert_enviado__works_without_database_access():
    with pytest.raises(AssertionError, match=r"Enviados \(0\):\n  \(ninguno\)"):
        assert_enviado(plantilla="vehiculo_listo_cliente")


@pytest.mark.django_db
def test_assert_no_enviado__passes_when_nothing_matches(tres_enviados):
    assert_no_enviado(BRUNO, plantilla="vehiculo_listo_cliente")
    assert_no_enviado(tipo="recordatorio")


@pytest.mark.django_db
def test_assert_no_enviado__failure_lists_the_matches(tres_enviados):
    with pytest.raises(AssertionError) as error:
        assert_no_enviado(ANA)

    mensaje = str(error.value)
    assert "pero se enviaron 2" in mensaje
    assert "plantilla 'vehiculo_listo_cliente'" in mensaje
    assert "documento 'cotizacion.pdf' caption='Hola'" in mensaje


@pytest.mark.django_db
def test_limpiar__empties_the_outbox(tres_enviados):
    limpiar()

    assert enviados() == []
    assert locmem.outbox == []


# -- entregar_pendientes -------------------------------------------------------------------


@pytest.mark.django_db
def test_entregar_pendientes__sends_envios_whose_on_commit_never_ran(outbox):
    # A transactional test without captured callbacks: the task is never enqueued.
    envio = enviar_plantilla(ANA, "vehiculo_listo_cliente", variables=["Ana"])
    assert enviados() == []

    assert entregar_pendientes() == 1

    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.ENVIADO
    assert_enviado(ANA, "vehiculo_listo_cliente", veces=1)
    assert entregar_pendientes() == 0


@pytest.mark.django_db
def test_entregar_pendientes__sends_scheduled_envios_only_when_due(outbox):
    futuro = enviar_plantilla(ANA, "recordatorio_cita", programado_para=_en(hours=1))
    vencido = enviar_plantilla(BRUNO, "recordatorio_cita")
    EnvioWhatsApp.objects.filter(pk=vencido.pk).update(
        estado=EstadoEnvio.PROGRAMADO, programado_para=_en(minutes=-1)
    )

    assert entregar_pendientes() == 1

    assert_enviado(BRUNO, "recordatorio_cita")
    assert EnvioWhatsApp.objects.get(pk=futuro.pk).estado == EstadoEnvio.PROGRAMADO


def _en(**delta) -> timezone.datetime:
    return timezone.now() + timedelta(**delta)


# -- usar_locmem ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_usar_locmem__puts_every_account_on_locmem_and_keeps_the_other_keys(enviar):
    with override_settings(WHATSAPP_NOTIFY=ACCOUNTS_ON_CONSOLE):
        locmem.outbox.append("de una prueba anterior")
        with usar_locmem() as outbox:
            assert outbox == []
            resuelto = get_settings()
            assert {alias: c["BACKEND"] for alias, c in resuelto.BACKENDS.items()} == {
                "default": LOCMEM_BACKEND,
                "ventas": LOCMEM_BACKEND,
            }
            assert resuelto.DEFAULT_REGION == "AR"
            assert type(backends["ventas"]) is LocmemBackend
            enviar(enviar_plantilla, "+54 9 11 1234 5678", "aviso", cuenta="ventas")
        assert get_settings().BACKENDS["default"]["BACKEND"] == CONSOLE

    # The outbox is kept after the block, for the assertions that follow it.
    assert_enviado("+54 9 11 1234 5678", "aviso", cuenta="ventas")


def test_usar_locmem__restores_the_settings_on_exit():
    antes = settings.WHATSAPP_NOTIFY

    with usar_locmem(), usar_locmem():
        assert settings.WHATSAPP_NOTIFY is not antes

    assert settings.WHATSAPP_NOTIFY is antes


@override_settings(WHATSAPP_NOTIFY=ACCOUNTS_ON_CONSOLE)
@usar_locmem()
@pytest.mark.django_db
def test_usar_locmem__as_a_function_decorator(enviar):
    assert type(backends["default"]) is LocmemBackend

    enviar(enviar_plantilla, "11 1234 5678", "aviso")

    assert_enviado("+54 9 11 1234 5678", "aviso", clase="plantilla")


@pytest.mark.django_db
def test_whatsapp_outbox_fixture__starts_empty_on_locmem(whatsapp_outbox, enviar):
    assert whatsapp_outbox == []

    enviar(enviar_plantilla, ANA, "vehiculo_listo_cliente")

    assert [m.contenido.nombre for m in whatsapp_outbox] == ["vehiculo_listo_cliente"]


@usar_locmem()
class UsarLocmemEnUnTestCase(TestCase):
    """A host project's Django TestCase decorated at class level."""

    def test_each_test_starts_on_locmem_with_an_empty_outbox(self):
        assert locmem.outbox == []
        with self.captureOnCommitCallbacks(execute=True):
            enviar_plantilla(ANA, "vehiculo_listo_cliente", variables=["Ana"])
        assert_enviado(ANA, "vehiculo_listo_cliente", ["Ana"], veces=1)

    def test_free_text_inside_the_window_is_sent(self):
        Mensaje.objects.create(direccion=Direccion.ENTRANTE, telefono="525512345678")
        with self.captureOnCommitCallbacks(execute=True):
            enviar_texto(ANA, "Tu auto está listo")
        assert_enviado(ANA, texto="Tu auto está listo", clase="texto")


# -- recibir: the customer writes -----------------------------------------------------------


def test_recibir__el_manejador_responde_y_queda_en_la_conversacion(db, enviar):
    from whatsapp_notify import respuesta
    from whatsapp_notify.models import Conversacion, Manejo

    respuesta(lambda m, c: f"Aprobada ({m.respuesta_id})", boton="cotizacion:aprobar:7")

    mensaje = enviar(recibir, ANA, "Aprobar", boton="cotizacion:aprobar:7", nombre="Ana")

    mensaje.refresh_from_db()
    assert (mensaje.direccion, mensaje.telefono, mensaje.manejo) == (
        Direccion.ENTRANTE, "525512345678", Manejo.ATENDIDO,
    )  # fmt: skip
    assert_enviado(ANA, texto="Aprobada (cotizacion:aprobar:7)")
    assert Conversacion.objects.get().nombre == "Ana"


def test_recibir__abre_la_ventana_para_el_texto_libre(db, enviar):
    enviar(recibir, ANA, "Hola")

    envio = enviar(enviar_texto, ANA, "¿En qué te ayudamos?")

    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.ENVIADO


def test_recibir__responde_a_un_envio(db, enviar):
    envio = enviar(enviar_plantilla, ANA, "vehiculo_listo_cliente", variables=["Ana", "x", "y"])
    envio.refresh_from_db()

    mensaje = recibir(ANA, "Gracias", responde_a=envio)

    assert mensaje.contexto_wamid == envio.wamid
    assert mensaje.envio == envio


def test_recibir__sin_texto_ni_boton_lanza(db):
    with pytest.raises(ValueError, match="texto"):
        recibir(ANA)


@pytest.mark.parametrize(
    ("kwargs", "error", "dice"),
    [
        ({"texto": 5}, TypeError, "texto es un texto"),
        ({"texto": "x", "boton": 5}, TypeError, "boton"),
        ({"texto": "x", "cuenta": "nadie"}, Exception, "nadie"),
    ],
)
def test_recibir__argumentos_malos_lo_dicen(db, kwargs, error, dice):
    with pytest.raises(error, match=dice):
        recibir(ANA, **kwargs)
    assert not Mensaje.objects.exists()


def test_recibir__el_boton_de_una_plantilla_es_tipo_button(db):
    mensaje = recibir(ANA, "Aprobar", boton="cotizacion:aprobar:1", tipo="button")

    assert (mensaje.tipo, mensaje.respuesta_id) == ("button", "cotizacion:aprobar:1")
