"""The settings resolver (``conf``) and the system checks (``checks``)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from whatsapp_notify.backends import backends
from whatsapp_notify.checks import NUMEROS, check_settings
from whatsapp_notify.conf import get_settings, parse_rate

LOCMEM = "whatsapp_notify.backends.locmem.LocmemBackend"
META = "whatsapp_notify.backends.meta.MetaBackend"
# For the tests that run the whole check framework: since Django 6.1 its model checks run
# on every database (a JSONField asks SQLite whether it has JSON), so they open it.
todos_los_checks = pytest.mark.django_db


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
def test_checks__sin_setting_solo_avisa_de_las_credenciales():
    # The default account is Meta's: only its missing credentials are reported, as warnings.
    avisos = check_settings()

    assert {(type(aviso), aviso.id) for aviso in avisos} == {
        (checks.Warning, "whatsapp_notify.W001")
    }
    assert {_opcion_nombrada(aviso.msg) for aviso in avisos} == {"PHONE_NUMBER_ID", "ACCESS_TOKEN"}


def _opcion_nombrada(mensaje: str) -> str:
    """``ACCESS_TOKEN`` from ``Falta WHATSAPP_NOTIFY[...]["OPTIONS"]["ACCESS_TOKEN"]: ...``."""
    return mensaje.split('["OPTIONS"]["', 1)[1].split('"]', 1)[0]


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


@pytest.mark.parametrize("alias", ["s" * 65, ""], ids=["largo", "vacio"])
def test_checks__e002_alias_de_cuenta_que_no_cabe(configurar, alias):
    # Every envío stores its account's alias: one longer than the column fails every send.
    configurar({"BACKENDS": {"default": {"BACKEND": LOCMEM}, alias: {"BACKEND": LOCMEM}}})

    [error] = _errores("E002")

    assert "de 1 a 64 caracteres" in error


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
    ],
)
def test_checks__e003_backend_que_no_importa(configurar, entrada, nombrado):
    configurar({"BACKENDS": {"default": {"BACKEND": LOCMEM}, "sucursal": entrada}})

    errores = _errores("E003")

    assert len(errores) == 1
    assert 'WHATSAPP_NOTIFY["BACKENDS"]["sucursal"]["BACKEND"]' in errores[0]
    assert nombrado in errores[0]


@pytest.mark.parametrize(
    "entrada",
    [
        pytest.param(LOCMEM, id="cadena"),
        pytest.param([LOCMEM], id="lista"),
        pytest.param(None, id="none"),
    ],
)
def test_checks__e003_entrada_que_no_es_dict_pide_backend_y_options(configurar, entrada):
    configurar({"BACKENDS": {"default": {"BACKEND": LOCMEM}, "sucursal": entrada}})

    [error] = [error for error in check_settings() if error.id == "whatsapp_notify.E003"]

    assert error.msg.startswith('WHATSAPP_NOTIFY["BACKENDS"]["sucursal"] debe ser un dict')
    assert '"BACKEND"' in error.msg
    assert '"OPTIONS"' in error.msg
    assert type(entrada).__name__ in error.msg
    assert "Falta" not in error.msg
    assert '"BACKEND":' in error.hint


def test_checks__e003_entrada_cadena_sugiere_su_ruta_en_el_dict(configurar):
    configurar({"BACKENDS": {"default": LOCMEM}})

    [error] = [error for error in check_settings() if error.id == "whatsapp_notify.E003"]

    assert f'"BACKEND": {LOCMEM!r}' in error.hint


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
def test_checks__w001_falta_credencial__aviso_que_no_impide_migrate(configurar, opciones):
    configurar({"BACKENDS": {"default": {"BACKEND": META, "OPTIONS": opciones}}})

    [aviso] = check_settings()

    assert (type(aviso), aviso.id) == (checks.Warning, "whatsapp_notify.W001")
    assert not aviso.is_serious()  # migrate and makemigrations run
    assert 'WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]["PHONE_NUMBER_ID"]' in aviso.msg
    assert "Identificador del número de teléfono" in aviso.msg  # where to find it
    assert "check --deploy" in aviso.hint


@todos_los_checks
@pytest.mark.parametrize("opcion", ["PHONE_NUMBER_ID", "ACCESS_TOKEN"])
def test_checks__w001_y_e004__la_pista_nombra_la_variable_de_esa_opcion(configurar, opcion):
    otra = {"PHONE_NUMBER_ID": "ACCESS_TOKEN", "ACCESS_TOKEN": "PHONE_NUMBER_ID"}[opcion]
    configurar({"BACKENDS": {"default": {"BACKEND": META, "OPTIONS": {otra: "1234567890"}}}})

    mensajes = checks.run_checks(include_deployment_checks=True)

    [aviso] = [m for m in mensajes if m.id == "whatsapp_notify.W001"]
    [error] = [m for m in mensajes if m.id == "whatsapp_notify.E004"]
    for mensaje in (aviso, error):
        assert f'env("META_{opcion}", default=None)' in mensaje.hint
        assert f"META_{otra}" not in mensaje.hint
    # Both lines are the same missing option under --deploy: each says so, neither denies it.
    assert "también como error (whatsapp_notify.E004)" in aviso.hint
    assert "la misma opción que avisa whatsapp_notify.W001" in error.hint


@todos_los_checks
@pytest.mark.parametrize(
    "opciones",
    [
        pytest.param({}, id="ninguna"),
        pytest.param({"PHONE_NUMBER_ID": "1234567890", "ACCESS_TOKEN": ""}, id="token-vacio"),
        pytest.param({"PHONE_NUMBER_ID": None, "ACCESS_TOKEN": None}, id="env-sin-definir"),
    ],
)
def test_checks__deploy_falta_credencial__error_e004(configurar, opciones):
    configurar({"BACKENDS": {"default": {"BACKEND": META, "OPTIONS": opciones}}})
    faltan = {nombre for nombre in ("PHONE_NUMBER_ID", "ACCESS_TOKEN") if not opciones.get(nombre)}

    mensajes = checks.run_checks(include_deployment_checks=True)

    errores = [m for m in mensajes if m.id == "whatsapp_notify.E004"]
    assert all(error.is_serious() for error in errores)
    assert {_opcion_nombrada(error.msg) for error in errores} == faltan


@todos_los_checks
def test_checks__deploy_con_credenciales_no_da_error(configurar):
    configurar(_meta())

    mensajes = checks.run_checks(include_deployment_checks=True)

    assert [m for m in mensajes if (m.id or "").startswith("whatsapp_notify.")] == []


@todos_los_checks
def test_checks__deploy_no_repite_errores_de_forma(configurar):
    # A BACKEND that does not import is E003 once; the deploy check adds nothing to it.
    configurar({"BACKENDS": {"default": {"BACKEND": "no.existe.Backend"}}})

    mensajes = checks.run_checks(include_deployment_checks=True)

    ids = [m.id for m in mensajes if (m.id or "").startswith("whatsapp_notify.")]
    assert ids == ["whatsapp_notify.E003"]


@pytest.mark.parametrize(
    ("opciones", "opcion"),
    [
        pytest.param({"ACCESS_TOKEN": "EAAG za"}, "ACCESS_TOKEN", id="token-con-espacio"),
        pytest.param({"BASE_URL": "graph.facebook.com"}, "BASE_URL", id="url-sin-esquema"),
        pytest.param({"TIMEOUT": "diez"}, "TIMEOUT", id="timeout-texto"),
    ],
)
def test_checks__valor_mal_formado_sigue_siendo_error_sin_deploy(configurar, opciones, opcion):
    configurar({"BACKENDS": {"default": {"BACKEND": META, "OPTIONS": opciones}}})

    mensajes = check_settings()

    [error] = [m for m in mensajes if m.is_serious()]
    assert error.id == "whatsapp_notify.E004"
    assert f'["OPTIONS"]["{opcion}"] ' in error.msg
    assert {m.id for m in mensajes if not m.is_serious()} <= {"whatsapp_notify.W001"}


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


def _meta(**opciones) -> dict:
    """A ``WHATSAPP_NOTIFY`` whose default account is Meta's with ``opciones`` on top."""
    base = {"PHONE_NUMBER_ID": "1234567890", "ACCESS_TOKEN": "EAAG-prueba"}
    return {"BACKENDS": {"default": {"BACKEND": META, "OPTIONS": {**base, **opciones}}}}


@pytest.mark.parametrize(
    ("opcion", "valor", "explica"),
    [
        pytest.param("TIMEOUT", 0, "mayor que cero", id="timeout-cero"),
        pytest.param("TIMEOUT", -3, "mayor que cero", id="timeout-negativo"),
        pytest.param("TIMEOUT", "diez", "mayor que cero", id="timeout-texto"),
        pytest.param("TIMEOUT", True, "mayor que cero", id="timeout-booleano"),
        pytest.param("TIMEOUT", float("inf"), "mayor que cero", id="timeout-infinito"),
        pytest.param("BASE_URL", "graph.facebook.com", "http", id="url-sin-esquema"),
        pytest.param("BASE_URL", "ftp://graph.facebook.com", "http", id="url-ftp"),
        pytest.param("BASE_URL", "https://", "http", id="url-sin-host"),
        pytest.param("BASE_URL", "", "http", id="url-vacia"),
        pytest.param("BASE_URL", 8000, "http", id="url-numero"),
        pytest.param("API_VERSION", "25", "v25.0", id="version-sin-punto"),
        pytest.param("API_VERSION", "latest", "v25.0", id="version-texto"),
        pytest.param("API_VERSION", 25.0, "v25.0", id="version-float"),
        pytest.param("API_VERSION", "", "v25.0", id="version-vacia"),
    ],
)
def test_checks__e004_valor_de_opcion_invalido_nombra_la_clave(configurar, opcion, valor, explica):
    configurar(_meta(**{opcion: valor}))

    errores = _errores("E004")

    assert len(errores) == 1
    assert errores[0].startswith(f'WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]["{opcion}"] ')
    assert explica in errores[0]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("EAAG-zafiro\n", id="salto-al-final"),
        pytest.param(" EAAG-zafiro", id="espacio-al-principio"),
        pytest.param("EAAG-zafiro\r\n", id="crlf"),
        pytest.param("EAAG-za firo", id="espacio-en-medio"),
    ],
)
def test_checks__e004_token_con_espacios_sin_mostrarlo(configurar, token):
    configurar(_meta(ACCESS_TOKEN=token))

    errores = check_settings()

    assert [error.id for error in errores] == ["whatsapp_notify.E004"]
    assert 'WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]["ACCESS_TOKEN"]' in errores[0].msg
    assert "salto" in errores[0].msg
    texto = f"{errores[0].msg} {errores[0].hint}"
    assert "zafiro" not in texto
    assert token.strip() not in texto


@pytest.mark.parametrize(
    "opciones",
    [
        pytest.param({"TIMEOUT": 2.5, "API_VERSION": "v23.0"}, id="decimal-y-version"),
        pytest.param({"TIMEOUT": "30", "API_VERSION": "24.0"}, id="de-variables-de-entorno"),
        pytest.param({"BASE_URL": "http://127.0.0.1:8765/"}, id="sandbox-local"),
        pytest.param({"TIMEOUT": None, "BASE_URL": None}, id="none-usa-el-valor-por-omision"),
    ],
)
def test_checks__e004_valores_de_opcion_validos(configurar, opciones):
    configurar(_meta(**opciones))

    assert check_settings() == []


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


@pytest.mark.parametrize(
    "valor",
    [
        pytest.param(2.5, id="decimal"),
        pytest.param(3.0, id="float-entero"),
    ],
)
def test_checks__e007_max_attempts_debe_ser_entero(configurar, valor):
    configurar(MAX_ATTEMPTS=valor)

    errores = _errores("E007")

    assert len(errores) == 1
    assert "WHATSAPP_NOTIFY['MAX_ATTEMPTS']" in errores[0]
    assert "entero" in errores[0]


@pytest.mark.parametrize("nombre", ["ENABLED", "REQUIRE_CONSENT"])
@pytest.mark.parametrize(
    "valor",
    [
        pytest.param("False", id="texto-false"),
        pytest.param("0", id="texto-cero"),
        pytest.param("", id="texto-vacio"),
        pytest.param(0, id="entero"),
        pytest.param(None, id="none"),
    ],
)
def test_checks__e008_booleano_que_no_es_bool(configurar, nombre, valor):
    configurar(**{nombre: valor})

    errores = [error for error in check_settings() if error.id == "whatsapp_notify.E008"]

    assert len(errores) == 1
    assert errores[0].msg.startswith(f"WHATSAPP_NOTIFY[{nombre!r}] = {valor!r}")
    assert "env.bool" in errores[0].hint


@pytest.mark.parametrize("valor", [True, False])
def test_checks__e008_booleanos_reales_no_dan_error(configurar, valor):
    configurar(ENABLED=valor, REQUIRE_CONSENT=valor)

    assert check_settings() == []


@pytest.mark.parametrize(
    "idioma",
    [
        pytest.param("", id="vacio"),
        pytest.param(None, id="none"),
        pytest.param("es-MX", id="con-guion"),
        pytest.param("ES_mx", id="mayusculas-al-reves"),
        pytest.param("español", id="nombre"),
        pytest.param(["es_MX"], id="lista"),
    ],
)
def test_checks__e009_idioma_por_omision_invalido(configurar, idioma):
    configurar(DEFAULT_LANGUAGE=idioma)

    errores = _errores("E009")

    assert len(errores) == 1
    assert f"WHATSAPP_NOTIFY['DEFAULT_LANGUAGE'] = {idioma!r}" in errores[0]


@pytest.mark.parametrize("idioma", ["es_MX", "es", "en_US", "pt_BR", "fil", "es_419"])
def test_checks__e009_idiomas_de_meta_validos(configurar, idioma):
    configurar(DEFAULT_LANGUAGE=idioma)

    assert check_settings() == []


@pytest.fixture
def disparador_en(db):
    """Declare a disparador on ``testapp.Orden`` for one test, with the given ``cuenta``."""
    from whatsapp_notify.scheduling.triggers import disparador

    declarados = []

    def declarar(cuenta: str, tipo: str = "orden_completada"):
        declarado = disparador(
            "testapp.Orden",
            campo="estado",
            valor="COMPLETADA",
            plantilla="aviso",
            tipo=tipo,
            destinatario=lambda orden: orden.cliente,
            cuenta=cuenta,
        )
        declarados.append(declarado)

    yield declarar
    for declarado in declarados:
        declarado.desconectar()


def test_checks__e010_disparador_con_cuenta_inexistente(configurar, disparador_en):
    configurar()
    disparador_en("sucusal")

    errores = [error for error in check_settings() if error.id == "whatsapp_notify.E010"]

    assert len(errores) == 1
    assert "'orden_completada'" in errores[0].msg
    assert "testapp.Orden" in errores[0].msg
    assert "cuenta='sucusal'" in errores[0].msg
    assert 'WHATSAPP_NOTIFY["BACKENDS"]' in errores[0].msg
    assert "default" in errores[0].hint


def test_checks__e010_disparador_con_cuenta_configurada_no_da_error(configurar, disparador_en):
    configurar({"BACKENDS": {"default": {"BACKEND": LOCMEM}, "sucursal": {"BACKEND": LOCMEM}}})
    disparador_en("sucursal")
    disparador_en("default", tipo="orden_lista")

    assert check_settings() == []


@todos_los_checks
def test_checks__call_command_check_lanza_system_check_error(configurar):
    configurar(DEFAULT_REGION="XX")

    with pytest.raises(SystemCheckError) as error:
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())

    assert "whatsapp_notify.E005" in str(error.value)
    assert "DEFAULT_REGION" in str(error.value)


@todos_los_checks
def test_checks__call_command_check_sin_problemas(configurar):
    configurar()
    salida = io.StringIO()

    call_command("check", stdout=salida, stderr=io.StringIO())

    assert "no issues" in salida.getvalue()


@pytest.mark.parametrize(
    ("clave", "valor", "id_"),
    [
        pytest.param("WEBHOOK_MAX_BYTES", "4194304", "E007", id="tamano-como-texto"),
        pytest.param("WEBHOOK_MAX_BYTES", 0, "E007", id="tamano-cero"),
        pytest.param("WEBHOOK_ASYNC", "False", "E008", id="async-como-texto"),
        pytest.param("OPT_OUT_KEYWORDS", "BAJA", "E011", id="bajas-como-texto"),
        pytest.param("OPT_IN_KEYWORDS", ["ALTA", ""], "E011", id="alta-vacia"),
    ],
)
def test_check__ajustes_del_webhook_y_palabras(settings, clave, valor, id_):
    settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, clave: valor}

    errores = check_settings()

    assert [(error.id, clave in error.msg) for error in errores] == [
        (f"whatsapp_notify.{id_}", True)
    ]


@pytest.mark.parametrize(
    ("clave", "valor"),
    [
        pytest.param("RETENTION_DAYS", 0, id="retencion-cero"),
        pytest.param("RETENTION_DAYS", "180", id="retencion-texto"),
        pytest.param("FAILURE_MIN_SENDS", 2.5, id="minimo-no-entero"),
        pytest.param("FAILURE_WINDOW", -1, id="ventana-negativa"),
        pytest.param("FAILURE_THRESHOLD", 20, id="umbral-en-porcentaje"),
        pytest.param("FAILURE_THRESHOLD", 0, id="umbral-cero"),
        pytest.param("REMINDER_TOLERANCE", -5, id="tolerancia-negativa"),
    ],
)
def test_check__ajustes_de_operacion(settings, clave, valor):
    settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, clave: valor}

    errores = check_settings()

    assert [(error.id, clave in error.msg) for error in errores] == [("whatsapp_notify.E007", True)]


def test_check__tolerancia_cero_es_valida(settings):
    settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, "REMINDER_TOLERANCE": 0}

    assert check_settings() == []


def test_checks__e010_recordatorio_con_cuenta_inexistente(configurar):
    from datetime import timedelta

    from whatsapp_notify import recordatorio

    configurar()
    declarado = recordatorio(
        "testapp.Cita",
        campo_fecha="fecha",
        antes=[timedelta(hours=1)],
        plantilla="recordatorio_cita",
        tipo="recordatorio_prueba",
        destinatario=lambda cita: cita.cliente,
        cuenta="sucusal",
    )
    try:
        errores = [error for error in check_settings() if error.id == "whatsapp_notify.E010"]
    finally:
        declarado.desconectar()

    assert len(errores) == 1
    assert "recordatorio" in errores[0].msg
    assert "cuenta='sucusal'" in errores[0].msg


@pytest.mark.parametrize(
    ("claves", "dice"),
    [
        ({"API_PERMISSION_CLASSES": "rest_framework.permissions.IsAdminUser"}, "una lista"),
        ({"API_PERMISSION_CLASSES": ["nada.de.esto.Clase"]}, "no se importa"),
        ({"API_THROTTLE_RATE": "muchas"}, "una tasa como"),
    ],
)
def test_api__permisos_y_tasa_mal_escritos_son_e020(wa_settings, claves, dice):
    wa_settings(**claves)

    (mensaje,) = _errores("E020")
    assert dice in mensaje


def test_api__lo_de_fabrica_y_lo_bien_escrito_pasan(wa_settings):
    wa_settings(
        API_PERMISSION_CLASSES=["rest_framework.permissions.IsAdminUser"], API_THROTTLE_RATE=None
    )

    assert _errores("E020") == []


@pytest.mark.parametrize(
    "valor",
    [
        pytest.param("", id="vacio"),
        pytest.param(12345, id="numero"),
        pytest.param([], id="lista-vacia"),
        pytest.param(["bueno", ""], id="un-token-vacio"),
    ],
)
def test_checks__e030_health_token_mal_formado_sin_mostrar_el_valor(configurar, valor):
    configurar(HEALTH_TOKEN=valor)

    errores = _errores("E030")

    assert len(errores) == 1
    assert "HEALTH_TOKEN" in errores[0]
    assert "bueno" not in errores[0]


@pytest.mark.parametrize(
    "valor", [None, "secreto", ["viejo", "nuevo"]], ids=["none", "texto", "lista"]
)
def test_checks__health_token_valido(configurar, valor):
    configurar(HEALTH_TOKEN=valor)

    assert _errores("E030") == []


# -- W003: where the app's files are stored ------------------------------------------------


def _w003() -> list[checks.CheckMessage]:
    from whatsapp_notify.checks import check_media_root

    return [m for m in check_media_root() if m.id == "whatsapp_notify.W003"]


@pytest.mark.parametrize("media_root", ["", "."], ids=["vacio", "punto"])
def test_w003__sin_media_root__avisa_que_los_archivos_irian_al_directorio_de_trabajo(
    settings, media_root
):
    settings.MEDIA_ROOT = media_root

    [aviso] = _w003()

    assert isinstance(aviso, checks.Warning)
    assert "EnvioWhatsApp.documento y Mensaje.archivo" in aviso.msg
    assert "ocultar el paquete whatsapp_notify" in aviso.msg
    assert "Define MEDIA_ROOT" in aviso.hint
    assert "ruta absoluta fuera del código" in aviso.hint


def test_w003__con_media_root__no_avisa(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")

    assert _w003() == []


def test_w003__la_ubicacion_del_almacenamiento_manda_sobre_media_root(settings, tmp_path):
    settings.MEDIA_ROOT = ""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "archivos")},
        },
    }

    assert _w003() == []


def test_w003__un_almacenamiento_que_no_es_local__no_avisa(settings):
    settings.MEDIA_ROOT = ""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }

    assert _w003() == []


@todos_los_checks
def test_w003__lo_dice_manage_py_check(settings):
    settings.MEDIA_ROOT = ""
    salida = io.StringIO()

    call_command("check", stdout=salida, stderr=salida)

    assert "whatsapp_notify.W003" in salida.getvalue()
