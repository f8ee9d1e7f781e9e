"""The settings resolver (``conf``) and the system checks (``checks``)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from whatsapp_notify.backends import backends
from whatsapp_notify.checks import NUMEROS, check_settings
from whatsapp_notify.conf import get_settings, parse_rate

LOCMEM = "whatsapp_notify.backends.locmem.LocmemBackend"
META = "whatsapp_notify.backends.meta.MetaBackend"


@pytest.fixture
def configurar(settings):
    """Replace ``WHATSAPP_NOTIFY`` whole for one test (the locmem account unless given)."""

    def configurar(valor=None, **claves):
        if valor is None:
            valor = {"BACKENDS": {"default": {"BACKEND": LOCMEM}}, **claves}
        settings.WHATSAPP_NOTIFY = valor

    return configurar


@pytest.fixture
def sin_setting(settings):
    """``WHATSAPP_NOTIFY`` absent from the settings module."""
    del settings.WHATSAPP_NOTIFY
    # Deleting a setting (and restoring it) sends no setting_changed: drop the cache by hand.
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _errores(id_: str) -> list[str]:
    """Messages of the errors ``check_settings`` reports with ``whatsapp_notify.<id_>``."""
    return [error.msg for error in check_settings() if error.id == f"whatsapp_notify.{id_}"]


# -- conf.get_settings -------------------------------------------------------------------


@pytest.mark.usefixtures("sin_setting")
def test_get_settings__sin_setting_usa_los_valores_por_omision():
    resueltos = get_settings()

    assert resueltos.ENABLED is True
    assert resueltos.BACKENDS == {"default": {"BACKEND": META, "OPTIONS": {}}}
    assert resueltos.DEFAULT_REGION == "MX"
    assert resueltos.DEFAULT_LANGUAGE == "es_MX"
    assert resueltos.REQUIRE_CONSENT is True
    assert resueltos.MAX_ATTEMPTS == 5
    assert resueltos.RATE_LIMIT == "80/s"
    assert resueltos.REDIS_URL is None


def test_get_settings__setting_none_equivale_a_no_definirlo(settings):
    settings.WHATSAPP_NOTIFY = {}
    vacio = get_settings()

    settings.WHATSAPP_NOTIFY = None

    assert get_settings() == vacio
    assert get_settings().BACKENDS["default"]["BACKEND"] == META


def test_get_settings__mezcla_lo_del_host_sobre_los_valores_por_omision():
    resueltos = get_settings()

    assert resueltos.BACKENDS == {"default": {"BACKEND": LOCMEM}}
    assert resueltos.REQUIRE_CONSENT is False
    assert resueltos.RATE_LIMIT is None
    assert resueltos.DEFAULT_LANGUAGE == "es_MX"  # not in the test settings: the default


def test_get_settings__override_settings_la_renueva_y_la_restaura():
    assert get_settings().DEFAULT_LANGUAGE == "es_MX"
    original = get_settings()

    with override_settings(WHATSAPP_NOTIFY={"DEFAULT_LANGUAGE": "es_AR", "MAX_ATTEMPTS": 2}):
        assert get_settings().DEFAULT_LANGUAGE == "es_AR"
        assert get_settings().MAX_ATTEMPTS == 2

    assert get_settings() == original
    assert get_settings().DEFAULT_LANGUAGE == "es_MX"


def test_get_settings__fixture_settings_la_renueva(wa_settings):
    assert get_settings().DEFAULT_REGION == "MX"

    wa_settings(DEFAULT_REGION="CO")

    assert get_settings().DEFAULT_REGION == "CO"


def test_get_settings__cambiar_el_setting_renueva_los_backends(wa_settings):
    antes = backends["default"]

    wa_settings(DEFAULT_REGION="CO")

    assert backends["default"] is not antes


def test_get_settings__claves_desconocidas_no_rompen_la_lectura(configurar):
    configurar(ENABLE=False)

    assert get_settings().ENABLED is True


@pytest.mark.parametrize(
    "valor",
    [
        pytest.param("texto", id="cadena"),
        pytest.param([], id="lista-vacia"),
        pytest.param(("BACKENDS",), id="tupla"),
    ],
)
def test_get_settings__setting_que_no_es_dict_lanza(configurar, valor):
    configurar(valor)

    with pytest.raises(ImproperlyConfigured, match="WHATSAPP_NOTIFY debe ser un dict"):
        get_settings()


def test_settings__seconds_y_rate_per_second(configurar):
    configurar(RATE_LIMIT="600/m", REDISPATCH_AFTER=120)

    assert get_settings().rate_per_second == 10.0
    assert get_settings().seconds("REDISPATCH_AFTER") == timedelta(minutes=2)


def test_settings__backend_config_de_cuenta_desconocida_nombra_la_clave(configurar):
    configurar()

    with pytest.raises(ImproperlyConfigured) as error:
        get_settings().backend_config("sucursal")

    assert "'sucursal'" in str(error.value)
    assert 'WHATSAPP_NOTIFY["BACKENDS"]' in str(error.value)
    assert "default" in str(error.value)


# -- conf.parse_rate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texto", "por_segundo"),
    [
        pytest.param("80/s", 80.0, id="por-segundo"),
        pytest.param("600/m", 10.0, id="por-minuto"),
        pytest.param("1800/h", 0.5, id="por-hora"),
        pytest.param("2.5/s", 2.5, id="decimal"),
        pytest.param(" 10 / s ", 10.0, id="con-espacios"),
        pytest.param(None, None, id="none-sin-limite"),
        pytest.param("", None, id="vacio-sin-limite"),
    ],
)
def test_parse_rate__mensajes_por_segundo(texto, por_segundo):
    assert parse_rate(texto) == por_segundo


@pytest.mark.parametrize(
    "texto",
    [
        pytest.param("80", id="sin-unidad"),
        pytest.param(80, id="entero"),
        pytest.param("80/d", id="unidad-desconocida"),
        pytest.param("80 por segundo", id="texto-libre"),
        pytest.param("/s", id="sin-numero"),
        pytest.param("-5/s", id="negativo"),
        pytest.param("0/s", id="cero"),
    ],
)
def test_parse_rate__formato_invalido_lanza_value_error(texto):
    with pytest.raises(ValueError, match="RATE_LIMIT"):
        parse_rate(texto)


# -- checks ------------------------------------------------------------------------------


def test_checks__configuracion_de_pruebas_no_da_errores():
    assert check_settings() == []


def test_checks__configuracion_completa_valida_no_da_errores(configurar):
    configurar(
        {
            "ENABLED": True,
            "BACKENDS": {
                "default": {
                    "BACKEND": META,
                    "OPTIONS": {"PHONE_NUMBER_ID": "1234567890", "ACCESS_TOKEN": "EAAG-prueba"},
                },
                "sucursal": {"BACKEND": LOCMEM, "OPTIONS": {"WA_ID_PREFIX": "x"}},
            },
            "DEFAULT_REGION": "co",
            "DEFAULT_LANGUAGE": "es_CO",
            "REQUIRE_CONSENT": True,
            "MAX_ATTEMPTS": 3,
            "RETRY_BACKOFF": 0.5,
            "RATE_LIMIT": "600/m",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        }
    )

    assert check_settings() == []


@pytest.mark.usefixtures("sin_setting")
def test_checks__sin_setting_no_da_error_de_forma():
    # The default account is Meta's: only its required options are reported.
    assert {error.id for error in check_settings()} == {"whatsapp_notify.E004"}


def test_checks__e001_clave_desconocida(configurar):
    configurar(ENABLE=False, RATE="80/s")

    errores = _errores("E001")

    assert len(errores) == 2
    assert "WHATSAPP_NOTIFY['ENABLE']" in errores[0]
    assert "WHATSAPP_NOTIFY['RATE']" in errores[1]


@pytest.mark.parametrize(
    "valor",
    [
        pytest.param("texto", id="cadena"),
        pytest.param([], id="lista-vacia"),
        pytest.param(("BACKENDS",), id="tupla"),
    ],
)
def test_checks__e001_setting_que_no_es_dict(configurar, valor):
    configurar(valor)

    errores = check_settings()

    assert [error.id for error in errores] == ["whatsapp_notify.E001"]
    assert "WHATSAPP_NOTIFY debe ser un dict" in errores[0].msg


@pytest.mark.parametrize(
    "backends_",
    [
        pytest.param({}, id="vacio"),
        pytest.param({"sucursal": {"BACKEND": LOCMEM}}, id="sin-default"),
        pytest.param(LOCMEM, id="cadena"),
        pytest.param(None, id="none"),
    ],
)
def test_checks__e002_falta_la_cuenta_default(configurar, backends_):
    configurar({"BACKENDS": backends_})

    errores = _errores("E002")

    assert len(errores) == 1
    assert 'WHATSAPP_NOTIFY["BACKENDS"]' in errores[0]
    assert '"default"' in errores[0]


@pytest.mark.parametrize(
    ("entrada", "nombrado"),
    [
        pytest.param(
            {"BACKEND": "whatsapp_notify.backends.noexiste.Backend"},
            "whatsapp_notify.backends.noexiste.Backend",
            id="modulo-inexistente",
        ),
        pytest.param(
            {"BACKEND": "whatsapp_notify.backends.locmem.Inexistente"},
            "whatsapp_notify.backends.locmem.Inexistente",
            id="clase-inexistente",
        ),
        pytest.param({"BACKEND": "locmem"}, "locmem", id="sin-puntos"),
        pytest.param({"BACKEND": "collections.OrderedDict"}, "OrderedDict", id="no-es-backend"),
        pytest.param(
            {"BACKEND": "whatsapp_notify.backends.locmem.outbox"}, "outbox", id="no-es-clase"
        ),
        pytest.param({"OPTIONS": {}}, "Falta", id="sin-backend"),
        pytest.param(LOCMEM, "Falta", id="entrada-que-no-es-dict"),
    ],
)
def test_checks__e003_backend_que_no_importa(configurar, entrada, nombrado):
    configurar({"BACKENDS": {"default": {"BACKEND": LOCMEM}, "sucursal": entrada}})

    errores = _errores("E003")

    assert len(errores) == 1
    assert 'WHATSAPP_NOTIFY["BACKENDS"]["sucursal"]["BACKEND"]' in errores[0]
    assert nombrado in errores[0]


def test_checks__e004_opcion_desconocida(configurar):
    configurar({"BACKENDS": {"default": {"BACKEND": LOCMEM, "OPTIONS": {"WA_ID_PREFIJO": "x"}}}})

    errores = _errores("E004")

    assert len(errores) == 1
    assert 'WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]' in errores[0]
    assert "'WA_ID_PREFIJO'" in errores[0]
    assert "WA_ID_PREFIX" in errores[0]  # the valid options are listed


@pytest.mark.parametrize(
    "opciones",
    [
        pytest.param({"ACCESS_TOKEN": "EAAG-prueba"}, id="ausente"),
        pytest.param({"ACCESS_TOKEN": "EAAG-prueba", "PHONE_NUMBER_ID": ""}, id="vacia"),
        pytest.param({"ACCESS_TOKEN": "EAAG-prueba", "PHONE_NUMBER_ID": None}, id="none"),
    ],
)
def test_checks__e004_falta_opcion_obligatoria(configurar, opciones):
    configurar({"BACKENDS": {"default": {"BACKEND": META, "OPTIONS": opciones}}})

    errores = _errores("E004")

    assert len(errores) == 1
    assert 'WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]["PHONE_NUMBER_ID"]' in errores[0]


def test_checks__e004_nunca_muestra_el_valor_de_un_secreto(configurar):
    configurar({"BACKENDS": {"default": {"BACKEND": META, "OPTIONS": {"TOKEN": "EAAG-secreto"}}}})

    errores = check_settings()

    assert errores
    assert all("EAAG-secreto" not in f"{error.msg} {error.hint}" for error in errores)


def test_checks__e004_options_que_no_es_dict(configurar):
    configurar({"BACKENDS": {"default": {"BACKEND": META, "OPTIONS": ["ACCESS_TOKEN"]}}})

    errores = _errores("E004")

    assert len(errores) == 1
    assert 'WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"] debe ser un dict' in errores[0]


@pytest.mark.parametrize(
    "region",
    [
        pytest.param("XX", id="desconocida"),
        pytest.param("MEX", id="tres-letras"),
        pytest.param("", id="vacia"),
        pytest.param(None, id="none"),
        pytest.param(52, id="codigo-de-pais"),
    ],
)
def test_checks__e005_region_desconocida(configurar, region):
    configurar(DEFAULT_REGION=region)

    errores = _errores("E005")

    assert len(errores) == 1
    assert "WHATSAPP_NOTIFY['DEFAULT_REGION']" in errores[0]


@pytest.mark.parametrize(
    "rate",
    [
        pytest.param("80", id="sin-unidad"),
        pytest.param("80/d", id="unidad-desconocida"),
        pytest.param(80, id="entero"),
        pytest.param("0/s", id="cero"),
    ],
)
def test_checks__e006_rate_limit_mal_formado(configurar, rate):
    configurar(RATE_LIMIT=rate)

    errores = _errores("E006")

    assert len(errores) == 1
    assert "RATE_LIMIT" in errores[0]
    assert repr(rate) in errores[0]


@pytest.mark.parametrize("nombre", NUMEROS)
@pytest.mark.parametrize(
    "valor",
    [
        pytest.param(0, id="cero"),
        pytest.param(-1, id="negativo"),
        pytest.param("5", id="texto"),
        pytest.param(None, id="none"),
        pytest.param(True, id="booleano"),
    ],
)
def test_checks__e007_numero_no_positivo(configurar, nombre, valor):
    configurar(**{nombre: valor})

    errores = _errores("E007")

    assert len(errores) == 1
    assert f"WHATSAPP_NOTIFY[{nombre!r}]" in errores[0]


def test_checks__call_command_check_lanza_system_check_error(configurar):
    configurar(DEFAULT_REGION="XX")

    with pytest.raises(SystemCheckError) as error:
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())

    assert "whatsapp_notify.E005" in str(error.value)
    assert "DEFAULT_REGION" in str(error.value)


def test_checks__call_command_check_sin_problemas(configurar):
    configurar()
    salida = io.StringIO()

    call_command("check", stdout=salida, stderr=io.StringIO())

    assert "no issues" in salida.getvalue()
