"""Phone normalisation: human formats to E.164 digits, the MX/AR mobile variants, masking."""

from __future__ import annotations

import re

import pytest

from whatsapp_notify.phones import TelefonoInvalido, es_valido, mask, normalizar, variantes

CDMX = "525512345678"
BUENOS_AIRES = "541123456789"
CORDOBA = "543514123456"


@pytest.mark.parametrize(
    ("texto", "region", "esperado"),
    [
        pytest.param("+52 55 1234 5678", None, CDMX, id="mx-internacional"),
        pytest.param("+52 1 55 1234 5678", None, CDMX, id="mx-uno-movil-separado"),
        pytest.param("+5215512345678", None, CDMX, id="mx-uno-movil-pegado"),
        pytest.param("5512345678", None, CDMX, id="mx-10-digitos-region-por-omision"),
        pytest.param("(55) 1234-5678", None, CDMX, id="mx-parentesis-y-guion"),
        pytest.param("55.1234.5678", None, CDMX, id="mx-puntos"),
        pytest.param(5512345678, None, CDMX, id="mx-entero"),
        pytest.param("044 55 1234 5678", None, CDMX, id="mx-044-movil-local"),
        pytest.param("045 55 1234 5678", None, CDMX, id="mx-045-movil-larga-distancia"),
        pytest.param("01 55 1234 5678", None, CDMX, id="mx-01-larga-distancia"),
        pytest.param("+52 044 55 1234 5678", None, CDMX, id="mx-044-tras-codigo-de-pais"),
        pytest.param("+52 33 1234 5678", None, "523312345678", id="mx-guadalajara"),
        pytest.param("0052 55 1234 5678", None, CDMX, id="mx-prefijo-00"),
        pytest.param("00 52 1 55 1234 5678", None, CDMX, id="mx-prefijo-00-con-uno"),
        pytest.param("whatsapp:+5215512345678", None, CDMX, id="mx-prefijo-whatsapp"),
        pytest.param("WhatsApp:+52 55 1234 5678", None, CDMX, id="mx-prefijo-whatsapp-mayusculas"),
        pytest.param("  +52 55 1234 5678  ", None, CDMX, id="mx-espacios-alrededor"),
        pytest.param("+54 9 11 2345 6789", None, BUENOS_AIRES, id="ar-movil-con-9"),
        pytest.param("+5491123456789", None, BUENOS_AIRES, id="ar-movil-pegado"),
        pytest.param("+54 11 2345 6789", None, BUENOS_AIRES, id="ar-sin-9"),
        pytest.param("011 15 2345 6789", "AR", BUENOS_AIRES, id="ar-nacional-011-15"),
        pytest.param("11 15 2345 6789", "AR", BUENOS_AIRES, id="ar-nacional-15-sin-0"),
        pytest.param("+54 9 351 412 3456", None, CORDOBA, id="ar-cordoba-internacional"),
        pytest.param("0351 15 412 3456", "AR", CORDOBA, id="ar-cordoba-nacional"),
        pytest.param("whatsapp:+5491123456789", None, BUENOS_AIRES, id="ar-prefijo-whatsapp"),
        pytest.param("+57 300 123 4567", None, "573001234567", id="co-movil-internacional"),
        pytest.param("300 123 4567", "CO", "573001234567", id="co-movil-nacional"),
        pytest.param("601 234 5678", "CO", "576012345678", id="co-fijo-bogota"),
        pytest.param("+51 912 345 678", None, "51912345678", id="pe-movil-internacional"),
        pytest.param("912 345 678", "PE", "51912345678", id="pe-movil-nacional"),
        pytest.param("+51 1 234 5678", None, "5112345678", id="pe-fijo-lima"),
        pytest.param("+34 612 34 56 78", None, "34612345678", id="es-movil-internacional"),
        pytest.param("612 34 56 78", "ES", "34612345678", id="es-movil-nacional"),
        pytest.param("0034 612345678", None, "34612345678", id="es-prefijo-00"),
        pytest.param("+1 (415) 555-2671", None, "14155552671", id="us-internacional"),
        pytest.param("415-555-2671", "US", "14155552671", id="us-nacional"),
        pytest.param("1 415 555 2671", "US", "14155552671", id="us-nacional-con-1"),
    ],
)
def test_normalizar__formatos_humanos_a_digitos_e164(texto, region, esperado):
    assert normalizar(texto, region) == esperado


@pytest.mark.parametrize(
    ("region", "esperado"),
    [
        pytest.param("CO", "573001234567", id="mayusculas"),
        pytest.param("co", "573001234567", id="minusculas"),
    ],
)
def test_normalizar__region_de_la_llamada_manda_sobre_la_de_settings(region, esperado):
    assert normalizar("300 123 4567", region) == esperado


def test_normalizar__region_por_omision_sale_de_settings(wa_settings):
    wa_settings(DEFAULT_REGION="CO")

    assert normalizar("300 123 4567") == "573001234567"
    assert normalizar("+52 55 1234 5678") == CDMX  # an international number ignores it


def test_normalizar__region_explicita_gana_a_settings(wa_settings):
    wa_settings(DEFAULT_REGION="CO")

    assert normalizar("55 1234 5678", "MX") == CDMX


@pytest.mark.parametrize(
    ("texto", "region"),
    [
        pytest.param("", None, id="vacio"),
        pytest.param(None, None, id="none"),
        pytest.param("   ", None, id="solo-espacios"),
        pytest.param("whatsapp:", None, id="solo-prefijo-whatsapp"),
        pytest.param("llámame", None, id="letras"),
        pytest.param("55-ABC-5678", None, id="letras-y-digitos"),
        pytest.param("+", None, id="solo-mas"),
        pytest.param("123", None, id="demasiado-corto"),
        pytest.param("+52 55 1234", None, id="mx-incompleto"),
        pytest.param("+52 55 1234 567890", None, id="mx-demasiado-largo"),
        pytest.param("+54 9 11 2345 678", None, id="ar-incompleto"),
        pytest.param("5512345678", "PE", id="invalido-para-la-region"),
        pytest.param("300 123 4567", "XX", id="region-desconocida"),
        pytest.param("+52 800 123 4567", None, id="mx-numero-gratuito"),
        pytest.param("+1 800 555 0199", None, id="us-numero-gratuito"),
    ],
)
def test_normalizar__invalido_lanza_telefono_invalido(texto, region):
    with pytest.raises(TelefonoInvalido):
        normalizar(texto, region)
    assert es_valido(texto, region) is False


def test_telefono_invalido__es_un_value_error():
    with pytest.raises(ValueError, match="vacío"):
        normalizar("")


@pytest.mark.parametrize(
    ("texto", "region"),
    [
        pytest.param("+52 55 1234 567890", None, id="demasiado-largo"),
        pytest.param("5512345678", "PE", id="invalido-para-la-region"),
        pytest.param("+52 800 123 4567", None, id="tipo-no-admitido"),
        pytest.param("+54 9 11 2345 678", None, id="incompleto"),
        pytest.param("99 9999 9999 9999", None, id="sin-sentido"),
    ],
)
def test_telefono_invalido__mensaje_nunca_contiene_el_numero_completo(texto, region):
    with pytest.raises(TelefonoInvalido) as error:
        normalizar(texto, region)

    mensaje = str(error.value)
    digitos = re.sub(r"\D", "", texto)
    assert digitos not in re.sub(r"\D", "", mensaje)
    assert texto not in mensaje


def test_es_valido__acepta_lo_que_normalizar_acepta():
    assert es_valido("+52 55 1234 5678") is True
    assert es_valido("300 123 4567", "CO") is True


@pytest.mark.parametrize(
    ("digitos", "esperado"),
    [
        pytest.param(CDMX, {CDMX, "5215512345678"}, id="mx-sin-uno"),
        pytest.param("5215512345678", {CDMX, "5215512345678"}, id="mx-con-uno"),
        pytest.param(BUENOS_AIRES, {BUENOS_AIRES, "5491123456789"}, id="ar-sin-9"),
        pytest.param("5491123456789", {BUENOS_AIRES, "5491123456789"}, id="ar-con-9"),
        pytest.param("+52 1 55 1234 5678", {CDMX, "5215512345678"}, id="mx-con-formato"),
        pytest.param("573001234567", {"573001234567"}, id="co-una-sola-forma"),
        pytest.param("14155552671", {"14155552671"}, id="us-una-sola-forma"),
        pytest.param("34612345678", {"34612345678"}, id="es-una-sola-forma"),
    ],
)
def test_variantes__ambas_formas_del_movil_mx_ar(digitos, esperado):
    assert variantes(digitos) == esperado


@pytest.mark.parametrize(
    "texto",
    [
        pytest.param("+54 9 11 2345 6789", id="ar-con-9"),
        pytest.param("011 15 2345 6789", id="ar-nacional"),
    ],
)
def test_variantes__del_numero_guardado_ar_incluyen_el_9(texto):
    guardado = normalizar(texto, "AR")

    assert guardado == BUENOS_AIRES
    assert variantes(guardado) == {"541123456789", "5491123456789"}


@pytest.mark.parametrize(
    ("texto", "esperado"),
    [
        pytest.param(CDMX, "52******5678", id="digitos"),
        pytest.param("+52 55 1234 5678", "52******5678", id="con-formato"),
        pytest.param("5215512345678", "52*******5678", id="mx-con-uno"),
        pytest.param("1234567", "12*4567", id="siete-digitos"),
        pytest.param("123456", "******", id="seis-digitos-todo-oculto"),
        pytest.param("", "", id="vacio"),
        pytest.param(None, "", id="none"),
    ],
)
def test_mask__deja_ver_solo_el_inicio_y_los_ultimos_cuatro(texto, esperado):
    assert mask(texto) == esperado


# -- international numbers stored without «+» ----------------------------------------------


@pytest.mark.parametrize(
    ("texto", "region", "esperado"),
    [
        pytest.param("5491135722871", "MX", "541135722871", id="ar-movil-con-region-mx"),
        pytest.param("51902376744", "MX", "51902376744", id="pe-movil-con-region-mx"),
        pytest.param("54 9 11 3572-2871", "MX", "541135722871", id="ar-con-espacios-y-guion"),
        pytest.param("525512345678", "AR", CDMX, id="mx-con-region-ar"),
        pytest.param("5215512345678", "ES", CDMX, id="mx-con-uno-movil-region-es"),
        pytest.param("14155552671", "PE", "14155552671", id="us-con-region-pe"),
        pytest.param("34612345678", "CO", "34612345678", id="es-con-region-co"),
        pytest.param("573001234567", "US", "573001234567", id="co-con-region-us"),
        pytest.param("51902376744", None, "51902376744", id="pe-con-region-por-omision"),
    ],
)
def test_normalizar__internacional_sin_mas_que_no_es_nacional_se_acepta(texto, region, esperado):
    assert normalizar(texto, region) == esperado


@pytest.mark.parametrize(
    ("texto", "region", "esperado"),
    [
        # Each is also a valid international number (+65, +36, +95, +32, +687, +51):
        # the national reading of the region wins.
        pytest.param("6597925149", "MX", "526597925149", id="mx-no-singapur"),
        pytest.param("3624293540", "AR", "543624293540", id="ar-no-hungria"),
        pytest.param("957158169", "PE", "51957158169", id="pe-no-myanmar"),
        pytest.param("3237426923", "CO", "573237426923", id="co-no-belgica"),
        pytest.param("687724227", "ES", "34687724227", id="es-no-nueva-caledonia"),
        pytest.param("5183113650", "US", "15183113650", id="us-no-peru"),
    ],
)
def test_normalizar__numero_nacional_valido_gana_al_internacional(texto, region, esperado):
    assert normalizar(texto, region) == esperado


@pytest.mark.parametrize(
    ("texto", "region"),
    [
        pytest.param("99999999999", "MX", id="ni-nacional-ni-internacional"),
        pytest.param("5291135722871", "MX", id="mx-de-mas-digitos"),
        pytest.param("+5291135722871", "AR", id="con-mas-no-se-reinterpreta"),
        pytest.param("55-ABC-5678", "MX", id="con-letras"),
    ],
)
def test_normalizar__ni_nacional_ni_internacional_sigue_invalido(texto, region):
    with pytest.raises(TelefonoInvalido):
        normalizar(texto, region)
