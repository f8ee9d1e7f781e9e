"""Bad input at the send API: refused at the call, with the parameter and the fix named.

A value that would garble the customer's message or break the row (NUL, half a surrogate
pair, control characters, the wrong type, a date out of range) raises before anything is
written, the same on SQLite and PostgreSQL. Recipient data (the phone, ``nombre``) is
cleaned instead: a bad recipient never raises into the ERP.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from whatsapp_notify import enviar_documento, enviar_plantilla, enviar_texto
from whatsapp_notify.exceptions import (
    FechaInvalida,
    MessageError,
    TipoInvalido,
    VariablesError,
    WhatsAppError,
)
from whatsapp_notify.models import Direccion, EnvioWhatsApp, EstadoEnvio, Mensaje
from whatsapp_notify.outbound.outbox import registrar

TELEFONO = "+52 1 55 1234 5678"
PLANTILLA = "vehiculo_listo_cliente"
PDF = b"%PDF-1.4\n% cotizacion de prueba\n"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def ventana_abierta():
    # Free text and documents are checked with the window open: only the input decides.
    Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono="5215512345678", texto="Hola", fecha=timezone.now()
    )


def plantilla(**opciones):
    return enviar_plantilla(TELEFONO, PLANTILLA, **opciones)


def documento(**opciones):
    opciones.setdefault("nombre_documento", "cotizacion.pdf")
    return enviar_documento(TELEFONO, PDF, **opciones)


def nada_registrado(outbox, media) -> bool:
    archivos = [ruta for ruta in media.rglob("*") if ruta.is_file()] if media.exists() else []
    return not EnvioWhatsApp.objects.exists() and outbox == [] and archivos == []


# -- characters that would garble the message or break the row ------------------------------

CARACTERES = [
    pytest.param(lambda: plantilla(tipo="aviso\x00"), "tipo", id="tipo-nul"),
    pytest.param(lambda: plantilla(tipo="aviso\ud800"), "tipo", id="tipo-surrogate"),
    pytest.param(lambda: plantilla(clave="k\x00"), "clave", id="clave-nul"),
    pytest.param(lambda: plantilla(clave="k\ud800"), "clave", id="clave-surrogate"),
    pytest.param(lambda: plantilla(clave="k\n1"), "clave", id="clave-salto"),
    pytest.param(lambda: plantilla(idioma="es\x00MX"), "idioma", id="idioma-nul"),
    pytest.param(lambda: plantilla(idioma="es_\ud800"), "idioma", id="idioma-surrogate"),
    pytest.param(
        lambda: plantilla(documento=PDF, nombre_documento="c\x00.pdf"),
        "nombre_documento",
        id="nombre-documento-nul",
    ),
    pytest.param(
        lambda: documento(nombre_documento="c\ud800.pdf"),
        "nombre_documento",
        id="nombre-documento-surrogate",
    ),
    pytest.param(
        lambda: documento(nombre_documento="c\n.pdf"), "nombre_documento", id="nombre-doc-salto"
    ),
    pytest.param(lambda: enviar_texto(TELEFONO, "hola\x00"), "texto", id="texto-nul"),
    pytest.param(lambda: enviar_texto(TELEFONO, "hola \ud83d"), "texto", id="texto-surrogate"),
    pytest.param(lambda: enviar_texto(TELEFONO, "hola\x1b[2J"), "texto", id="texto-control"),
    pytest.param(lambda: documento(caption="ver\x00"), "caption", id="caption-nul"),
    pytest.param(lambda: documento(caption="ver \udc00"), "caption", id="caption-surrogate"),
    pytest.param(lambda: plantilla(variables=["a\ud800b"]), "{{1}}", id="variable-surrogate"),
    pytest.param(lambda: plantilla(variables={"n": "\udfff"}), "{{n}}", id="variable-con-nombre"),
]


@pytest.mark.parametrize(("enviar", "parametro"), CARACTERES)
def test_caracteres__nul_surrogate_o_control_lanzan_antes_de_registrar(
    outbox, media, enviar, parametro
):
    with pytest.raises((MessageError, VariablesError)) as error:
        enviar()

    assert isinstance(error.value, ValueError)
    assert parametro in str(error.value)
    assert nada_registrado(outbox, media)


@pytest.mark.parametrize(
    "texto",
    [
        pytest.param("Hola,\nsu vehículo está listo.\tGracias", id="saltos-y-tabulador"),
        pytest.param("Listo 👍🏽 \U0001f697", id="emoji"),
    ],
)
def test_caracteres__saltos_de_linea_y_emoji_siguen_valiendo_en_el_texto(outbox, texto):
    envio = enviar_texto(TELEFONO, texto)

    assert EnvioWhatsApp.objects.get(pk=envio.pk).texto == texto
    assert outbox[0].contenido.cuerpo == texto


def test_nombre__nul_y_surrogates_del_destinatario_se_limpian_y_el_envio_sale(outbox):
    # Recipient data, not the message: cleaned like the phone, never a reason to raise.
    envio = plantilla(nombre="Ana\x00 Pérez \udc80")

    assert EnvioWhatsApp.objects.get(pk=envio.pk).nombre == "Ana Pérez \ufffd"
    assert len(outbox) == 1


def test_nombre__el_del_objeto_destinatario_tambien_se_limpia(outbox):
    cliente = SimpleNamespace(telefono=TELEFONO, nombre="Ana\x00\ud83d")

    envio = enviar_plantilla(cliente, PLANTILLA)

    assert EnvioWhatsApp.objects.get(pk=envio.pk).nombre == "Ana\ufffd"


@pytest.mark.parametrize(
    "telefono",
    [
        pytest.param("+52 55\x00 1234 5678", id="nul"),
        pytest.param("+52 55 1234 5678\ud800", id="surrogate"),
    ],
)
def test_telefono__nul_o_surrogate_se_limpian_y_el_envio_sale(outbox, telefono):
    envio = enviar_plantilla(telefono, PLANTILLA)

    guardado = EnvioWhatsApp.objects.get(pk=envio.pk)
    assert (guardado.estado, guardado.telefono) == (EstadoEnvio.ENVIADO, "525512345678")
    assert "\x00" not in guardado.telefono_original
    assert "\ud800" not in guardado.telefono_original
    assert [salida.telefono for salida in outbox] == ["525512345678"]


# -- wrong types ------------------------------------------------------------------------------

TIPOS = [
    pytest.param(lambda: enviar_texto(TELEFONO, 5), "texto", "int", id="texto-int"),
    pytest.param(lambda: documento(caption=5), "caption", "int", id="caption-int"),
    pytest.param(
        lambda: documento(nombre_documento=5), "nombre_documento", "int", id="nombre-documento-int"
    ),
    pytest.param(lambda: plantilla(idioma=5), "idioma", "int", id="idioma-int"),
    pytest.param(lambda: plantilla(nombre={"a": 1}), "nombre", "dict", id="nombre-dict"),
    pytest.param(lambda: plantilla(nombre=5), "nombre", "int", id="nombre-int"),
    pytest.param(lambda: plantilla(tipo=None), "tipo", "NoneType", id="tipo-none"),
    pytest.param(lambda: plantilla(tipo=123), "tipo", "int", id="tipo-int"),
    pytest.param(lambda: plantilla(referencia="OT-42"), "referencia", "str", id="referencia-str"),
    pytest.param(lambda: plantilla(clave=123), "clave", "int", id="clave-int"),
    pytest.param(lambda: plantilla(clave=["a"]), "clave", "list", id="clave-lista"),
    pytest.param(lambda: plantilla(clave=0), "clave", "int", id="clave-cero"),
    pytest.param(lambda: plantilla(clave=0.0), "clave", "float", id="clave-cero-float"),
    pytest.param(lambda: plantilla(clave=False), "clave", "bool", id="clave-false"),
]


@pytest.mark.parametrize(("enviar", "parametro", "recibido"), TIPOS)
def test_tipos__un_tipo_equivocado_lanza_type_error_que_nombra_el_arreglo(
    outbox, media, enviar, parametro, recibido
):
    with pytest.raises(TipoInvalido) as error:
        enviar()

    assert isinstance(error.value, TypeError)
    assert isinstance(error.value, WhatsAppError)
    mensaje = str(error.value)
    assert parametro in mensaje
    assert recibido in mensaje
    assert "usa" in mensaje  # names what to pass
    assert nada_registrado(outbox, media)


@pytest.mark.parametrize(
    "idioma",
    [
        pytest.param("es_" + "MX" * 10, id="mas-largo-que-su-columna"),
        pytest.param("español", id="nombre"),
        pytest.param("es MX", id="espacio"),
        pytest.param("es_MX_norte", id="tres-partes"),
    ],
)
def test_idioma__que_no_es_un_codigo_de_idioma_lanza_antes_de_registrar(outbox, media, idioma):
    with pytest.raises(MessageError, match="es_MX"):
        plantilla(idioma=idioma)

    assert nada_registrado(outbox, media)


@pytest.mark.parametrize(
    ("idioma", "enviado"),
    [
        ("es", "es"),
        ("es_MX", "es_MX"),
        ("en_US", "en_US"),
        ("es_419", "es_419"),
        ("fil", "fil"),
        pytest.param("es-MX", "es_MX", id="guion-como-en-los-webhooks"),
        pytest.param("pt_br", "pt_BR", id="minusculas"),
    ],
)
def test_idioma__codigos_de_whatsapp_valen_y_salen_en_su_forma(outbox, idioma, enviado):
    envio = plantilla(idioma=idioma)

    assert EnvioWhatsApp.objects.get(pk=envio.pk).idioma == enviado
    assert outbox[0].contenido.idioma == enviado


@pytest.mark.parametrize("clave", [pytest.param("", id="vacia"), pytest.param("   ", id="blanca")])
def test_clave__vacia_lanza_en_vez_de_perder_la_idempotencia(outbox, media, clave):
    with pytest.raises(MessageError, match=r"vehiculo_listo:\{orden.pk\}"):
        plantilla(clave=clave)

    assert nada_registrado(outbox, media)


def test_clave__se_guarda_tal_cual_y_la_segunda_llamada_es_el_mismo_envio(outbox):
    primero = plantilla(clave=" vehiculo_listo:42")
    segundo = plantilla(clave=" vehiculo_listo:42")

    assert primero.pk == segundo.pk
    assert EnvioWhatsApp.objects.get().clave == " vehiculo_listo:42"
    assert len(outbox) == 1


@pytest.mark.parametrize("funcion", [enviar_plantilla, enviar_documento, enviar_texto, registrar])
def test_firmas__palabras_clave_explicitas_y_tipadas(funcion):
    parametros = inspect.signature(funcion).parameters.values()

    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parametros)
    assert all(p.annotation is not inspect.Parameter.empty for p in parametros)
    nombres = {p.name for p in parametros if p.kind is inspect.Parameter.KEYWORD_ONLY}
    comunes = {"referencia", "tipo", "clave", "nombre", "programado_para", "cuenta", "region"}
    assert comunes | {"categoria", "expira_en"} <= nombres


# -- dates out of range ------------------------------------------------------------------------


def test_variables__fecha_que_no_cabe_en_la_hora_local_lanza_variables_error(outbox, media):
    # Midnight of year 1 in UTC is still year 0 in Mexico City: no date can hold it.
    with pytest.raises(VariablesError, match=r"\{\{1\}\}"):
        plantilla(variables=[datetime(1, 1, 1, tzinfo=UTC)])

    assert nada_registrado(outbox, media)


@pytest.mark.parametrize(
    "expira_en",
    [
        pytest.param(timedelta(days=999_999_999), id="futuro"),
        pytest.param(timedelta(days=-999_999_999), id="pasado"),
    ],
)
def test_expira_en__timedelta_fuera_de_rango_lanza_fecha_invalida(outbox, media, expira_en):
    with pytest.raises(FechaInvalida, match="expira_en"):
        plantilla(expira_en=expira_en)

    assert nada_registrado(outbox, media)


def test_referencia__sin_guardar_lanza_antes_de_registrar(outbox):
    from tests.testapp.models import Cliente

    with pytest.raises(MessageError, match="guárdala antes") as error:
        enviar_texto(TELEFONO, "Hola", referencia=Cliente(nombre="Ana"))

    assert "referencia" in str(error.value)
    assert not EnvioWhatsApp.objects.exists()


def test_expira_en__antes_de_programado_para_lanza_porque_nunca_saldria(outbox):
    manana = timezone.now() + timedelta(days=1)

    with pytest.raises(FechaInvalida, match="nunca saldría"):
        enviar_plantilla(
            TELEFONO, "recordatorio", programado_para=manana, expira_en=timedelta(hours=1)
        )

    assert not EnvioWhatsApp.objects.exists()


def test_categoria__desconocida_es_un_error_de_la_app_que_nombra_las_validas(outbox):
    with pytest.raises(MessageError, match=r"'utility'.*'marketing'") as error:
        enviar_texto(TELEFONO, "Hola", categoria="promo")

    assert isinstance(error.value, ValueError)
    assert not EnvioWhatsApp.objects.exists()
