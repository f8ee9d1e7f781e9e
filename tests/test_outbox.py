"""The send API (``outbox``): validate, record the envío in the caller's transaction, enqueue.

Celery is eager and the backend is locmem, so a recorded envío is delivered when the
caller's transaction commits; ``outbox`` holds what reached the provider.
"""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.celery_app import con_broker
from tests.testapp.models import Cliente, Orden
from whatsapp_notify import enviar_documento, enviar_plantilla, enviar_texto, tasks
from whatsapp_notify.conf import get_settings
from whatsapp_notify.consent import otorgar_consentimiento, revocar_consentimiento
from whatsapp_notify.exceptions import (
    MessageError,
    ValorDemasiadoLargo,
    VariablesError,
    WhatsAppError,
)
from whatsapp_notify.messages import Documento, Plantilla, Texto
from whatsapp_notify.models import (
    Categoria,
    ClaseEnvio,
    Direccion,
    EnvioWhatsApp,
    EstadoEnvio,
    Mensaje,
    MotivoOmision,
)
from whatsapp_notify.models import Plantilla as PlantillaCatalogo
from whatsapp_notify.references import referencia_de

TELEFONO = "+52 1 55 1234 5678"
DIGITOS = "525512345678"
PLANTILLA = "vehiculo_listo_cliente"
VARIABLES = ["Ana", "Mazda 3", "OT-42"]
PDF = b"%PDF-1.4\n% cotizacion de prueba\n"
LOCMEM = "whatsapp_notify.backends.locmem.LocmemBackend"

# Real commits: on_commit callbacks run, so eager Celery delivers what was recorded.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """This test's own MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def archivos(raiz) -> list:
    """Every file stored under ``raiz``."""
    return sorted(ruta for ruta in raiz.rglob("*") if ruta.is_file())


@pytest.fixture
def orden():
    cliente = Cliente.objects.create(nombre="Ana Pérez", telefono=TELEFONO)
    return Orden.objects.create(numero="OT-42", cliente=cliente)


@pytest.fixture
def ventana_abierta():
    """The customer wrote an hour ago (stored under the 521 form WhatsApp may report)."""
    return escribio("5215512345678", hace=timedelta(hours=1))


def escribio(telefono: str, *, hace: timedelta, direccion: str = Direccion.ENTRANTE) -> Mensaje:
    return Mensaje.objects.create(
        direccion=direccion, telefono=telefono, texto="Hola", fecha=timezone.now() - hace
    )


def plantilla(telefono=TELEFONO, **opciones) -> EnvioWhatsApp:
    opciones.setdefault("variables", VARIABLES)
    return enviar_plantilla(telefono, PLANTILLA, **opciones)


def leer(envio: EnvioWhatsApp) -> EnvioWhatsApp:
    return EnvioWhatsApp.objects.get(pk=envio.pk)


# -- what gets recorded and sent ---------------------------------------------------------


def test_enviar_plantilla__registra_el_envio_con_sus_campos(orden, outbox):
    envio = enviar_plantilla(
        TELEFONO,
        PLANTILLA,
        variables=VARIABLES,
        referencia=orden,
        tipo="vehiculo_listo",
        clave=f"vehiculo_listo:{orden.pk}",
        nombre="Ana Pérez",
    )

    assert envio.pk is not None
    assert envio.estado == EstadoEnvio.PENDIENTE  # as recorded; the worker takes it from there
    guardado = leer(envio)
    assert guardado.telefono == DIGITOS
    assert guardado.telefono_original == TELEFONO
    assert guardado.nombre == "Ana Pérez"
    assert guardado.tipo == "vehiculo_listo"
    assert guardado.referencia == orden
    assert guardado.content_type == ContentType.objects.get_for_model(Orden)
    assert guardado.object_id == str(orden.pk)
    assert guardado.clave == f"vehiculo_listo:{orden.pk}"
    assert guardado.cuenta == "default"
    assert guardado.clase == ClaseEnvio.PLANTILLA
    assert guardado.plantilla == PLANTILLA
    assert guardado.idioma == "es_MX"
    assert guardado.variables == VARIABLES
    assert guardado.motivo == ""


def test_enviar_plantilla__se_entrega_al_confirmar(outbox):
    envio = plantilla()

    guardado = leer(envio)
    assert guardado.estado == EstadoEnvio.ENVIADO
    assert guardado.wamid == outbox[0].wamid
    assert len(outbox) == 1
    enviado = outbox[0]
    assert (enviado.cuenta, enviado.telefono, enviado.referencia) == (
        "default",
        DIGITOS,
        referencia_de(envio.pk),
    )
    assert enviado.contenido == Plantilla(PLANTILLA, "es_MX", VARIABLES)


def test_enviar_plantilla__variables_con_nombre(outbox):
    envio = plantilla(variables={"nombre_cliente": "Ana", "numero_orden": 42})

    assert leer(envio).variables == {"nombre_cliente": "Ana", "numero_orden": "42"}
    assert outbox[0].contenido.variables == {"nombre_cliente": "Ana", "numero_orden": "42"}


def test_enviar_plantilla__sin_variables_guarda_lista_vacia(outbox):
    envio = enviar_plantilla(TELEFONO, "hello_world")

    assert leer(envio).variables == []
    assert outbox[0].contenido.variables == []


@pytest.mark.parametrize(
    ("idioma", "por_omision", "esperado"),
    [
        pytest.param(None, "es_MX", "es_MX", id="por-omision"),
        pytest.param(None, "es_CO", "es_CO", id="por-omision-desde-settings"),
        pytest.param("en_US", "es_MX", "en_US", id="explicito"),
    ],
)
def test_enviar_plantilla__idioma(wa_settings, outbox, idioma, por_omision, esperado):
    wa_settings(DEFAULT_LANGUAGE=por_omision)

    envio = plantilla(idioma=idioma)

    assert leer(envio).idioma == esperado
    assert outbox[0].contenido.idioma == esperado


@pytest.mark.parametrize("region", ["CO", "co"])
def test_enviar_plantilla__region_de_la_llamada(outbox, region):
    envio = plantilla("300 123 4567", region=region)

    assert leer(envio).telefono == "573001234567"
    assert outbox[0].telefono == "573001234567"


@pytest.mark.parametrize(
    "region",
    [
        pytest.param("XX", id="desconocida"),
        pytest.param("MEX", id="tres-letras"),
        pytest.param("Colombia", id="nombre"),
        pytest.param(57, id="codigo-de-pais"),
    ],
)
@pytest.mark.parametrize(
    "enviar",
    [
        pytest.param(lambda **o: plantilla("300 123 4567", **o), id="plantilla"),
        pytest.param(lambda **o: enviar_texto("300 123 4567", "Hola", **o), id="texto"),
        pytest.param(
            lambda **o: enviar_documento("300 123 4567", PDF, nombre_documento="c.pdf", **o),
            id="documento",
        ),
    ],
)
def test_enviar__region_desconocida_lanza_antes_de_registrar(outbox, media, enviar, region):
    with pytest.raises(ValueError, match="'MX'") as excinfo:
        enviar(region=region)

    assert isinstance(excinfo.value, WhatsAppError)
    assert repr(region) in str(excinfo.value)
    assert not EnvioWhatsApp.objects.exists()
    assert archivos(media) == []
    assert outbox == []


def test_clave__region_desconocida_no_toca_el_envio_existente(outbox):
    primero = plantilla("12345", clave="vehiculo_listo:42")

    with pytest.raises(ValueError, match="region='XX'"):
        plantilla("300 123 4567", clave="vehiculo_listo:42", region="XX")

    guardado = leer(primero)
    assert (guardado.estado, guardado.motivo) == (EstadoEnvio.OMITIDO, "telefono_invalido")
    assert guardado.telefono_original == "12345"
    assert outbox == []


@pytest.mark.parametrize(
    ("telefono", "digitos"),
    [
        pytest.param("+54 9 11 2345 6789", "541123456789", id="ar-sin-el-9"),
        pytest.param("whatsapp:+5215512345678", DIGITOS, id="mx-sin-el-1"),
        pytest.param("0034 612 34 56 78", "34612345678", id="es-prefijo-00"),
    ],
)
def test_enviar_plantilla__guarda_digitos_e164(outbox, telefono, digitos):
    envio = plantilla(telefono)

    assert leer(envio).telefono == digitos
    assert outbox[0].telefono == digitos


def test_enviar_plantilla__con_documento_de_encabezado(outbox):
    envio = plantilla(documento=PDF, nombre_documento="cotizacion.pdf")

    guardado = leer(envio)
    assert guardado.nombre_documento == "cotizacion.pdf"
    assert guardado.documento_mime == "application/pdf"
    assert guardado.documento_sha256 == hashlib.sha256(PDF).hexdigest()
    with guardado.documento.open("rb") as archivo:
        assert archivo.read() == PDF
    enviado = outbox[0].contenido
    assert isinstance(enviado, Plantilla)
    assert enviado.documento == Documento(PDF, "cotizacion.pdf", "application/pdf")


@pytest.mark.parametrize(
    "cuenta",
    [
        pytest.param("default", id="default"),
        pytest.param("sucursal", id="otra-cuenta"),
    ],
)
def test_enviar_plantilla__cuenta(wa_settings, outbox, cuenta):
    wa_settings(BACKENDS={"default": {"BACKEND": LOCMEM}, "sucursal": {"BACKEND": LOCMEM}})

    envio = plantilla(cuenta=cuenta)

    assert leer(envio).cuenta == cuenta
    assert [enviado.cuenta for enviado in outbox] == [cuenta]


def test_enviar_plantilla__cuenta_desconocida_lanza_y_no_registra(outbox):
    with pytest.raises(ImproperlyConfigured, match="'sucursal'"):
        plantilla(cuenta="sucursal")

    assert not EnvioWhatsApp.objects.exists()
    assert outbox == []


# -- the recipient -----------------------------------------------------------------------


def test_destinatario__objeto_con_telefono_y_nombre(orden, outbox):
    envio = plantilla(orden.cliente)

    guardado = leer(envio)
    assert (guardado.telefono, guardado.nombre) == (DIGITOS, "Ana Pérez")
    assert guardado.telefono_original == TELEFONO
    assert outbox[0].telefono == DIGITOS


def test_destinatario__nombre_explicito_gana_al_del_objeto(orden, outbox):
    envio = plantilla(orden.cliente, nombre="Sra. Pérez")

    assert leer(envio).nombre == "Sra. Pérez"


def test_destinatario__objeto_sin_nombre(outbox):
    envio = plantilla(SimpleNamespace(telefono="55 1234 5678"))

    assert (leer(envio).telefono, leer(envio).nombre) == (DIGITOS, "")
    assert len(outbox) == 1


# -- omitido: recipient problems never raise ---------------------------------------------


@pytest.mark.parametrize(
    ("telefono", "motivo"),
    [
        pytest.param("", MotivoOmision.SIN_TELEFONO, id="vacio"),
        pytest.param(None, MotivoOmision.SIN_TELEFONO, id="none"),
        pytest.param("   ", MotivoOmision.SIN_TELEFONO, id="espacios"),
        pytest.param(SimpleNamespace(telefono=""), MotivoOmision.SIN_TELEFONO, id="objeto-vacio"),
        pytest.param(
            SimpleNamespace(telefono=None, nombre="Ana"),
            MotivoOmision.SIN_TELEFONO,
            id="objeto-none",
        ),
        pytest.param("no tengo", MotivoOmision.TELEFONO_INVALIDO, id="letras"),
        pytest.param("12345", MotivoOmision.TELEFONO_INVALIDO, id="demasiado-corto"),
        pytest.param("+52 800 123 4567", MotivoOmision.TELEFONO_INVALIDO, id="numero-gratuito"),
    ],
)
def test_omitido__telefono_ausente_o_invalido(outbox, telefono, motivo):
    envio = plantilla(telefono)

    guardado = leer(envio)
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, motivo)
    assert (guardado.estado, guardado.motivo) == (EstadoEnvio.OMITIDO, motivo)
    assert guardado.telefono == ""
    assert outbox == []


def test_omitido__telefono_invalido_conserva_el_original(outbox):
    envio = plantilla("55-1234", tipo="vehiculo_listo")

    guardado = leer(envio)
    assert guardado.telefono_original == "55-1234"
    assert guardado.tipo == "vehiculo_listo"
    assert guardado.plantilla == PLANTILLA


def test_omitido__whatsapp_deshabilitado(wa_settings, outbox):
    wa_settings(ENABLED=False)

    envio = plantilla()

    guardado = leer(envio)
    assert (guardado.estado, guardado.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.DESHABILITADO)
    assert guardado.telefono == DIGITOS
    assert outbox == []


def test_omitido__deshabilitado_tampoco_envia_texto_en_ventana(
    wa_settings, outbox, ventana_abierta
):
    wa_settings(ENABLED=False)

    envio = enviar_texto(TELEFONO, "Su vehículo está listo")

    assert leer(envio).motivo == MotivoOmision.DESHABILITADO
    assert outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "opciones",
    [
        pytest.param({"telefono": ""}, id="omitido"),
        pytest.param({"programado_para": timezone.now() + timedelta(days=1)}, id="programado"),
    ],
)
def test_encolar__omitidos_y_programados_no_se_encolan(
    django_capture_on_commit_callbacks, outbox, opciones
):
    with django_capture_on_commit_callbacks() as callbacks:
        envio = plantilla(**opciones)

    assert callbacks == []
    assert leer(envio).estado in {EstadoEnvio.OMITIDO, EstadoEnvio.PROGRAMADO}
    assert outbox == []


# -- consent -----------------------------------------------------------------------------


@pytest.fixture
def consentimiento_requerido(wa_settings):
    wa_settings(REQUIRE_CONSENT=True)


@pytest.mark.usefixtures("consentimiento_requerido")
def test_consentimiento__sin_consentimiento_se_omite(outbox):
    envio = plantilla()

    guardado = leer(envio)
    assert (guardado.estado, guardado.motivo) == (
        EstadoEnvio.OMITIDO,
        MotivoOmision.SIN_CONSENTIMIENTO,
    )
    assert outbox == []


@pytest.mark.usefixtures("consentimiento_requerido")
@pytest.mark.parametrize(
    "como_se_otorgo",
    [
        pytest.param("+52 55 1234 5678", id="mismo-formato"),
        pytest.param("044 55 1234 5678", id="formato-antiguo"),
        pytest.param("whatsapp:+5215512345678", id="con-el-1"),
    ],
)
def test_consentimiento__otorgado_se_envia(outbox, como_se_otorgo):
    otorgar_consentimiento(como_se_otorgo)

    envio = plantilla()

    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert [enviado.telefono for enviado in outbox] == [DIGITOS]


@pytest.mark.usefixtures("consentimiento_requerido")
def test_consentimiento__revocado_se_omite(outbox):
    otorgar_consentimiento(TELEFONO)
    revocar_consentimiento(TELEFONO, evidencia="Escribió BAJA")

    envio = plantilla()

    assert leer(envio).motivo == MotivoOmision.BAJA  # an explicit opt-out, not a missing one
    assert outbox == []


def test_consentimiento__no_requerido_envia_sin_registro(outbox):
    assert get_settings().REQUIRE_CONSENT is False

    plantilla()

    assert len(outbox) == 1


# -- the 24-hour window ------------------------------------------------------------------


def test_ventana__texto_sin_mensajes_del_cliente_se_omite(outbox):
    envio = enviar_texto(TELEFONO, "Su vehículo está listo")

    guardado = leer(envio)
    assert (guardado.estado, guardado.motivo) == (
        EstadoEnvio.OMITIDO,
        MotivoOmision.FUERA_DE_VENTANA,
    )
    assert guardado.clase == ClaseEnvio.TEXTO
    assert guardado.texto == "Su vehículo está listo"
    assert outbox == []


@pytest.mark.parametrize(
    ("telefono", "hace", "direccion"),
    [
        pytest.param(DIGITOS, timedelta(hours=25), Direccion.ENTRANTE, id="escribio-hace-25h"),
        pytest.param(DIGITOS, timedelta(hours=1), Direccion.SALIENTE, id="solo-le-escribimos"),
        pytest.param("525598765432", timedelta(hours=1), Direccion.ENTRANTE, id="otro-cliente"),
    ],
)
def test_ventana__cerrada_se_omite(outbox, telefono, hace, direccion):
    escribio(telefono, hace=hace, direccion=direccion)

    texto = enviar_texto(TELEFONO, "Su vehículo está listo")
    documento = enviar_documento(TELEFONO, PDF, nombre_documento="factura.pdf")

    assert leer(texto).motivo == MotivoOmision.FUERA_DE_VENTANA
    assert leer(documento).motivo == MotivoOmision.FUERA_DE_VENTANA
    assert outbox == []


@pytest.mark.parametrize(
    "guardado_como",
    [
        pytest.param(DIGITOS, id="mismo-numero"),
        pytest.param("5215512345678", id="variante-521"),
    ],
)
def test_ventana__abierta_envia_texto(outbox, guardado_como):
    escribio(guardado_como, hace=timedelta(hours=23))

    envio = enviar_texto(TELEFONO, "Su vehículo está listo")

    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert [enviado.contenido for enviado in outbox] == [Texto("Su vehículo está listo")]


def test_ventana__abierta_ar_con_9(outbox):
    escribio("5491123456789", hace=timedelta(hours=2))

    envio = enviar_texto("011 15 2345 6789", "Hola", region="AR")

    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert outbox[0].telefono == "541123456789"


def test_ventana__plantilla_no_la_necesita(outbox):
    envio = plantilla()

    assert leer(envio).estado == EstadoEnvio.ENVIADO


# -- documents ---------------------------------------------------------------------------


@pytest.mark.usefixtures("ventana_abierta")
def test_enviar_documento__bytes_con_caption(outbox):
    envio = enviar_documento(
        TELEFONO, PDF, nombre_documento="cotizacion.pdf", caption="Su cotización", tipo="cotizacion"
    )

    guardado = leer(envio)
    assert guardado.clase == ClaseEnvio.DOCUMENTO
    assert guardado.estado == EstadoEnvio.ENVIADO
    assert guardado.texto == "Su cotización"
    assert guardado.nombre_documento == "cotizacion.pdf"
    assert guardado.documento_mime == "application/pdf"
    assert guardado.documento_sha256 == hashlib.sha256(PDF).hexdigest()
    with guardado.documento.open("rb") as archivo:
        assert archivo.read() == PDF
    assert outbox[0].contenido == Documento(
        PDF, "cotizacion.pdf", "application/pdf", "Su cotización"
    )


@pytest.mark.usefixtures("ventana_abierta")
def test_enviar_documento__path_toma_su_nombre(outbox, tmp_path):
    ruta = tmp_path / "factura-17.pdf"
    ruta.write_bytes(PDF)

    envio = enviar_documento(TELEFONO, ruta)

    assert leer(envio).nombre_documento == "factura-17.pdf"
    assert outbox[0].contenido.contenido == PDF


@pytest.mark.usefixtures("ventana_abierta")
def test_enviar_documento__archivo_abierto_se_lee_desde_el_principio(outbox, tmp_path):
    ruta = tmp_path / "orden.pdf"
    ruta.write_bytes(PDF)

    with ruta.open("rb") as archivo:
        archivo.read()  # already consumed by the caller
        envio = enviar_documento(TELEFONO, archivo)

    assert leer(envio).nombre_documento == "orden.pdf"
    assert outbox[0].contenido.contenido == PDF


SHA_PDF = hashlib.sha256(PDF).hexdigest()


@pytest.mark.parametrize(
    ("nombre", "ruta"),
    [
        pytest.param("cotizacion.pdf", f"{SHA_PDF[:2]}/{SHA_PDF}.pdf", id="simple"),
        pytest.param("Cotizacion.PDF", f"{SHA_PDF[:2]}/{SHA_PDF}.pdf", id="extension-mayuscula"),
        pytest.param("facturas/2024/f.pdf", f"{SHA_PDF[:2]}/{SHA_PDF}.pdf", id="con-carpetas"),
        pytest.param("../../f.pdf", f"{SHA_PDF[:2]}/{SHA_PDF}.pdf", id="con-puntos"),
        pytest.param("/etc/f.pdf", f"{SHA_PDF[:2]}/{SHA_PDF}.pdf", id="ruta-absoluta"),
        pytest.param("cotizacion", f"{SHA_PDF[:2]}/{SHA_PDF}", id="sin-extension"),
        pytest.param("f.p df", f"{SHA_PDF[:2]}/{SHA_PDF}", id="extension-rara"),
    ],
)
def test_documento__el_archivo_guardado_se_nombra_por_su_sha256(outbox, media, nombre, ruta):
    envio = plantilla(documento=PDF, nombre_documento=nombre)

    guardado = leer(envio)
    assert guardado.documento.name == f"whatsapp_notify/documentos/{ruta}"
    assert archivos(media) == [media / "whatsapp_notify" / "documentos" / ruta]
    assert guardado.nombre_documento == nombre  # what the recipient sees
    assert outbox[0].contenido.documento.nombre == nombre
    assert guardado.estado == EstadoEnvio.ENVIADO


def test_documento__mismos_bytes_comparten_un_archivo(outbox, media):
    primero = plantilla(documento=PDF, nombre_documento="cotizacion.pdf")
    segundo = plantilla("+52 55 8765 4321", documento=PDF, nombre_documento="copia.pdf")

    assert leer(primero).documento.name == leer(segundo).documento.name
    assert len(archivos(media)) == 1
    assert [enviado.contenido.documento.nombre for enviado in outbox] == [
        "cotizacion.pdf",
        "copia.pdf",
    ]
    assert {enviado.contenido.documento.contenido for enviado in outbox} == {PDF}


def test_documento__bytes_distintos_archivos_distintos(outbox, media):
    otro_pdf = PDF + b"% otra version\n"

    primero = plantilla(documento=PDF, nombre_documento="cotizacion.pdf")
    segundo = plantilla(documento=otro_pdf, nombre_documento="cotizacion.pdf")

    assert leer(primero).documento.name != leer(segundo).documento.name
    assert len(archivos(media)) == 2
    with leer(segundo).documento.open("rb") as archivo:
        assert archivo.read() == otro_pdf


def test_documento__rollback_y_reintento_dejan_un_solo_archivo(outbox, media):
    with pytest.raises(Rollback):
        _registrar_y_deshacer()

    envio = plantilla(clave="vehiculo_listo:42", documento=PDF, nombre_documento="c.pdf")

    [archivo] = archivos(media)
    assert archivo.read_bytes() == PDF
    assert leer(envio).documento.path == str(archivo)
    assert leer(envio).estado == EstadoEnvio.ENVIADO


def test_documento__archivo_incompleto_se_reescribe(outbox, media):
    # A previous write cut short (the process died): the name is right, the bytes are not.
    incompleto = media / "whatsapp_notify" / "documentos" / SHA_PDF[:2] / f"{SHA_PDF}.pdf"
    incompleto.parent.mkdir(parents=True)
    incompleto.write_bytes(PDF[:5])

    envio = plantilla(documento=PDF, nombre_documento="cotizacion.pdf")

    assert archivos(media) == [incompleto]
    assert incompleto.read_bytes() == PDF
    assert outbox[0].contenido.documento.contenido == PDF
    assert leer(envio).estado == EstadoEnvio.ENVIADO


@pytest.mark.usefixtures("ventana_abierta")
def test_enviar_documento__bytesio_con_nombre_explicito(outbox):
    envio = enviar_documento(TELEFONO, io.BytesIO(PDF), nombre_documento="orden.pdf")

    assert leer(envio).documento_sha256 == hashlib.sha256(PDF).hexdigest()
    assert len(outbox) == 1


# -- idempotency -------------------------------------------------------------------------


def test_clave__la_misma_dos_veces_es_el_mismo_envio(outbox):
    primero = plantilla(clave="vehiculo_listo:42")
    segundo = plantilla(clave="vehiculo_listo:42", variables=["Otro", "Otro", "Otro"])

    assert segundo.pk == primero.pk
    assert EnvioWhatsApp.objects.count() == 1
    assert len(outbox) == 1
    assert outbox[0].contenido.variables == VARIABLES


def test_clave__claves_distintas_son_envios_distintos(outbox):
    plantilla(clave="recordatorio_24h:7")
    plantilla(clave="recordatorio_1h:7")

    assert EnvioWhatsApp.objects.count() == 2
    assert len(outbox) == 2


def test_clave__omitido_por_el_destinatario_se_reconsidera_y_sale_una_sola_vez(outbox):
    primero = plantilla("", clave="vehiculo_listo:42")
    assert outbox == []

    # The ERP fixed the phone and calls again with the same clave: the same envío goes out.
    segundo = plantilla(TELEFONO, nombre="Ana", clave="vehiculo_listo:42")
    tercero = plantilla(TELEFONO, clave="vehiculo_listo:42")

    assert primero.pk == segundo.pk == tercero.pk
    envio = leer(primero)
    assert (envio.estado, envio.motivo, envio.telefono) == (EstadoEnvio.ENVIADO, "", DIGITOS)
    assert envio.nombre == "Ana"
    assert len(outbox) == 1


def test_clave__omitido_que_sigue_sin_poder_salir_actualiza_el_motivo(outbox, wa_settings):
    wa_settings(REQUIRE_CONSENT=True)
    primero = plantilla("", clave="vehiculo_listo:42")
    segundo = plantilla(TELEFONO, clave="vehiculo_listo:42")

    assert segundo.pk == primero.pk
    assert (segundo.estado, segundo.motivo) == (EstadoEnvio.OMITIDO, "sin_consentimiento")
    assert outbox == []


# -- programmer errors raise before anything is written ----------------------------------


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param({"Ana", "Mazda"}, id="set"),
        pytest.param("Ana", id="cadena"),
        pytest.param({"nombre cliente": "Ana"}, id="clave-con-espacio"),
        pytest.param({3: "Ana"}, id="clave-entera"),
        pytest.param(["Ana", ""], id="valor-vacio"),
        pytest.param(["Ana", None], id="valor-none"),
        pytest.param({"nombre": "  \n "}, id="valor-solo-espacios"),
    ],
)
def test_variables__malformadas_lanzan_antes_de_registrar(outbox, variables):
    with pytest.raises(VariablesError) as error:
        plantilla(variables=variables, clave="vehiculo_listo:42")

    assert isinstance(error.value, ValueError)
    assert not EnvioWhatsApp.objects.exists()
    assert outbox == []


@pytest.mark.parametrize(
    "enviar",
    [
        pytest.param(lambda: plantilla(documento=PDF), id="plantilla-documento-sin-nombre"),
        pytest.param(
            lambda: plantilla(documento=b"", nombre_documento="c.pdf"),
            id="plantilla-documento-vacio",
        ),
        pytest.param(
            lambda: enviar_documento(TELEFONO, b"", nombre_documento="c.pdf"), id="documento-vacio"
        ),
        pytest.param(lambda: enviar_documento(TELEFONO, PDF), id="documento-sin-nombre"),
        pytest.param(
            lambda: enviar_documento(TELEFONO, "cotizacion.pdf", nombre_documento="c.pdf"),
            id="documento-ruta-como-texto",
        ),
        pytest.param(lambda: enviar_texto(TELEFONO, ""), id="texto-vacio"),
        pytest.param(lambda: enviar_texto(TELEFONO, "x" * 4097), id="texto-demasiado-largo"),
        pytest.param(lambda: enviar_plantilla(TELEFONO, ""), id="plantilla-sin-nombre"),
    ],
)
def test_contenido__invalido_lanza_message_error_antes_de_registrar(outbox, enviar):
    with pytest.raises(MessageError):
        enviar()

    assert not EnvioWhatsApp.objects.exists()
    assert outbox == []


@pytest.mark.parametrize(
    "valor",
    [
        pytest.param("Ana\nPérez", id="salto-de-linea"),
        pytest.param("Mazda\t3", id="tabulador"),
        pytest.param("OT     42", id="cinco-espacios"),
        pytest.param("x" * 1025, id="mas-de-1024-caracteres"),
        pytest.param(b"\xff", id="bytes"),
        pytest.param({"k": 1}, id="dict"),
        pytest.param(True, id="bool"),
    ],
)
def test_variables__que_meta_rechazaria_lanzan_antes_de_registrar(outbox, valor):
    # Meta answers 132018 for newlines, tabs or more than four spaces in a row; the
    # variable is refused at the call instead of being rewritten behind the caller's back.
    with pytest.raises(VariablesError, match=r"\{\{2\}\}"):
        plantilla(variables=["Ana", valor])

    assert not EnvioWhatsApp.objects.exists()
    assert outbox == []


def test_variables__el_texto_aceptado_llega_tal_cual_a_la_plantilla(outbox):
    variables = ["  Ana  ", "Mazda    3", "x" * 1024, "ñandú 🚗"]

    envio = plantilla(variables=variables)

    assert leer(envio).variables == variables
    assert outbox[0].contenido.variables == variables


@pytest.mark.parametrize(
    ("idioma", "esperado"),
    [
        pytest.param("es_MX", ["15/01/2025", "1234.50", "42", "0.5"], id="es-mx"),
        pytest.param("en_US", ["01/15/2025", "1234.50", "42", "0.5"], id="en-us"),
        pytest.param("es_ES", ["15/01/2025", "1234,50", "42", "0,5"], id="es-es"),
        pytest.param("pt_BR", ["15/01/2025", "1234,50", "42", "0,5"], id="pt-br"),
    ],
)
def test_variables__fechas_y_numeros_en_el_formato_del_idioma(outbox, idioma, esperado):
    variables = [date(2025, 1, 15), Decimal("1234.50"), 42, 0.5]

    envio = plantilla(variables=variables, idioma=idioma)

    assert leer(envio).variables == esperado
    assert outbox[0].contenido.variables == esperado


# -- scheduling --------------------------------------------------------------------------


def test_programado_para__futuro_queda_programado_sin_enviar(outbox):
    cuando = timezone.now() + timedelta(hours=24)

    envio = plantilla(programado_para=cuando)

    guardado = leer(envio)
    assert guardado.estado == EstadoEnvio.PROGRAMADO
    assert guardado.programado_para == cuando
    assert guardado.despachado_en is None
    assert outbox == []


def test_programado_para__pasado_se_envia_ya(outbox):
    envio = plantilla(programado_para=timezone.now() - timedelta(minutes=5))

    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert len(outbox) == 1


def test_programado_para__omitido_gana_a_programado(outbox):
    envio = plantilla("", programado_para=timezone.now() + timedelta(hours=24))

    assert (leer(envio).estado, leer(envio).motivo) == (
        EstadoEnvio.OMITIDO,
        MotivoOmision.SIN_TELEFONO,
    )


@pytest.mark.parametrize(
    ("cuando", "error", "arreglo"),
    [
        pytest.param(datetime(2030, 1, 15, 9, 0), ValueError, "make_aware", id="naive"),
        pytest.param("2030-01-15 09:00", TypeError, "make_aware", id="texto"),
        pytest.param(date(2030, 1, 15), TypeError, "datetime", id="fecha-sin-hora"),
        pytest.param(1893456000, TypeError, "datetime", id="numero"),
    ],
)
def test_programado_para__que_no_es_un_datetime_con_zona_lanza_antes_de_registrar(
    outbox, cuando, error, arreglo
):
    with pytest.raises(error, match=arreglo) as lanzado:
        plantilla(programado_para=cuando)

    assert isinstance(lanzado.value, WhatsAppError)
    assert "programado_para" in str(lanzado.value)
    assert not EnvioWhatsApp.objects.exists()
    assert outbox == []


@pytest.mark.parametrize(
    "enviar",
    [
        pytest.param(
            lambda cuando: enviar_texto(TELEFONO, "Hola", programado_para=cuando), id="texto"
        ),
        pytest.param(
            lambda cuando: enviar_documento(
                TELEFONO, PDF, nombre_documento="c.pdf", programado_para=cuando
            ),
            id="documento",
        ),
    ],
)
def test_programado_para__naive_lanza_en_cada_funcion_de_envio(outbox, enviar):
    with pytest.raises(ValueError, match="make_aware"):
        enviar(datetime(2030, 1, 15, 9, 0))

    assert not EnvioWhatsApp.objects.exists()


# -- values longer than their column ---------------------------------------------------------


@pytest.mark.parametrize(
    ("parametro", "limite", "enviar"),
    [
        pytest.param(
            "plantilla", 512, lambda valor: enviar_plantilla(TELEFONO, valor),
            id="plantilla",
        ),
        pytest.param("tipo", 64, lambda valor: plantilla(tipo=valor), id="tipo"),
        pytest.param("clave", 255, lambda valor: plantilla(clave=valor), id="clave"),
        pytest.param(
            "nombre_documento", 255,
            lambda valor: plantilla(documento=PDF, nombre_documento=valor[:-4] + ".pdf"),
            id="nombre-documento-de-plantilla",
        ),
        pytest.param(
            "nombre_documento", 255,
            lambda valor: enviar_documento(TELEFONO, PDF, nombre_documento=valor[:-4] + ".pdf"),
            id="nombre-documento",
        ),
        pytest.param(
            "tipo", 64, lambda valor: enviar_texto(TELEFONO, "Hola", tipo=valor), id="tipo-texto"
        ),
    ],
)  # fmt: skip
def test_valor_mas_largo_que_su_columna__lanza_antes_de_registrar(
    outbox, media, parametro, limite, enviar
):
    # Same on SQLite (which would store it whole) and PostgreSQL (which would refuse it).
    with pytest.raises(ValorDemasiadoLargo) as error:
        enviar("x" * (limite + 1))

    assert isinstance(error.value, ValueError)
    mensaje = str(error.value)
    assert parametro in mensaje
    assert str(limite) in mensaje
    assert not EnvioWhatsApp.objects.exists()
    assert archivos(media) == []
    assert outbox == []


def test_reglas_de_meta__caben_en_sus_columnas():
    # outbox.exigir_largos leaves the template's name and language to these rules: they
    # must never admit more than the columns hold.
    from whatsapp_notify.limits import limite
    from whatsapp_notify.messages import MAX_NOMBRE_PLANTILLA, es_codigo_de_idioma

    assert limite(EnvioWhatsApp, "plantilla") >= MAX_NOMBRE_PLANTILLA
    mas_largo = "x" * (limite(EnvioWhatsApp, "idioma") + 1)
    assert not es_codigo_de_idioma(mas_largo)
    assert not es_codigo_de_idioma("es_" + "M" * limite(EnvioWhatsApp, "idioma"))


@pytest.mark.parametrize(
    ("parametro", "enviar"),
    [
        pytest.param("clave", lambda: enviar_texto(TELEFONO, "Hola", clave="a\x00"), id="clave"),
        pytest.param("tipo", lambda: enviar_texto(TELEFONO, "Hola", tipo="\x00"), id="tipo"),
        pytest.param("texto", lambda: enviar_texto(TELEFONO, "Hola\x00"), id="texto"),
    ],
)
def test_valor_con_nul__lanza_message_error_antes_de_registrar(outbox, parametro, enviar):
    # PostgreSQL stores NUL in no text column: it would be a DataError, not the caller's fix.
    with pytest.raises(MessageError, match=r"U\+0000") as error:
        enviar()

    assert parametro in str(error.value).lower()
    assert not EnvioWhatsApp.objects.exists()
    assert outbox == []


def test_nombre_del_destinatario_con_nul__se_guarda_sin_el(outbox):
    envio = enviar_texto(TELEFONO, "Hola", nombre="Ana\x00 Pérez")

    envio.refresh_from_db()
    assert envio.nombre == "Ana Pérez"


@pytest.mark.parametrize(
    ("campo", "enviar"),
    [
        pytest.param("plantilla", lambda: enviar_plantilla(TELEFONO, "a" * 512), id="plantilla"),
        pytest.param("tipo", lambda: plantilla(tipo="t" * 64), id="tipo"),
        pytest.param("clave", lambda: plantilla(clave="c" * 255), id="clave"),
        pytest.param(
            "nombre_documento",
            lambda: plantilla(documento=PDF, nombre_documento="n" * 251 + ".pdf"),
            id="nombre-documento",
        ),
    ],
)
def test_valor_en_el_limite_de_su_columna__se_guarda_entero(outbox, campo, enviar):
    envio = enviar()

    limite = EnvioWhatsApp._meta.get_field(campo).max_length
    assert len(getattr(leer(envio), campo)) == limite


# -- the caller's transaction ------------------------------------------------------------


class Rollback(Exception):
    pass


def _registrar_y_deshacer() -> None:
    with transaction.atomic():
        plantilla(clave="vehiculo_listo:42", documento=PDF, nombre_documento="c.pdf")
        assert EnvioWhatsApp.objects.count() == 1
        raise Rollback


def test_transaccion__rollback_no_deja_envio_ni_envia(outbox):
    with pytest.raises(Rollback):
        _registrar_y_deshacer()

    assert not EnvioWhatsApp.objects.exists()
    assert outbox == []
    # The clave is free again: the ERP's retry records and sends it.
    plantilla(clave="vehiculo_listo:42")
    assert len(outbox) == 1


def test_transaccion__nada_sale_antes_del_commit(outbox):
    with transaction.atomic():
        envio = plantilla()
        assert leer(envio).estado == EstadoEnvio.PENDIENTE
        assert outbox == []

    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert len(outbox) == 1


@pytest.mark.django_db
def test_transaccion__encola_solo_al_ejecutar_on_commit(django_capture_on_commit_callbacks, outbox):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        envio = plantilla()

    assert len(callbacks) == 1
    assert outbox == []
    # Stamped when recorded (no UPDATE after the ERP's COMMIT); the task waits for it.
    assert leer(envio).despachado_en is not None

    callbacks[0]()

    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert [enviado.referencia for enviado in outbox] == [referencia_de(envio.pk)]


# -- broker down -------------------------------------------------------------------------


def broker_caido():
    """Celery publishes (not eagerly) to a closed local port inside the block."""
    # Celery's default transport options: the app bounds the publish itself.
    return con_broker("redis://127.0.0.1:1/0")


def test_broker_caido__el_envio_queda_pendiente_y_beat_lo_envia(outbox, caplog):
    caplog.set_level(logging.WARNING, logger="whatsapp_notify")

    with broker_caido():
        envio = plantilla(clave="vehiculo_listo:42")
        assert tasks.esperar_publicaciones()  # the publishing thread tried, and failed

    guardado = leer(envio)
    assert guardado.estado == EstadoEnvio.PENDIENTE
    assert guardado.despachado_en is None  # never enqueued: Beat's next run takes it
    assert guardado.intentos == 0
    assert outbox == []
    assert "Beat lo reintentará" in caplog.text

    # Beat's next run comes after the publish pause that follows a failure, broker back.
    tasks._broker.reiniciar()
    assert tasks.despachar() == 1
    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert [enviado.referencia for enviado in outbox] == [referencia_de(envio.pk)]


# -- logs --------------------------------------------------------------------------------


def test_log__nunca_contiene_el_telefono_completo(caplog, outbox):
    caplog.set_level(logging.DEBUG, logger="whatsapp_notify")

    plantilla()
    plantilla("12345678901234")

    assert caplog.records
    assert DIGITOS not in caplog.text
    assert "12345678901234" not in caplog.text


def test_ventana__es_por_numero_de_negocio(outbox, wa_settings):
    # The customer wrote to the other business number: this one's window is still closed.
    cuentas = {"default": {"BACKEND": LOCMEM}, "sucursal": {"BACKEND": LOCMEM}}
    wa_settings(BACKENDS=cuentas)
    Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, cuenta="sucursal", telefono=DIGITOS, texto="Hola"
    )

    aqui = enviar_texto(TELEFONO, "Su auto está listo")
    alla = enviar_texto(TELEFONO, "Su auto está listo", cuenta="sucursal")

    assert (aqui.estado, aqui.motivo) == (EstadoEnvio.OMITIDO, "fuera_de_ventana")
    assert leer(alla).estado == EstadoEnvio.ENVIADO


# -- opt-outs, per category --------------------------------------------------------------


@pytest.mark.parametrize("requerido", [False, True], ids=["sin-require-consent", "require-consent"])
def test_baja__omite_lo_que_diga_require_consent(wa_settings, outbox, requerido):
    wa_settings(REQUIRE_CONSENT=requerido)
    revocar_consentimiento(TELEFONO, evidencia="Escribió BAJA")

    envios = [plantilla(), plantilla(categoria=Categoria.MARKETING)]

    assert [(leer(e).estado, leer(e).motivo) for e in envios] == [
        (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)
    ] * 2
    assert outbox == []


def test_baja_de_marketing__los_avisos_de_servicio_siguen(outbox):
    revocar_consentimiento(TELEFONO, categoria=Categoria.MARKETING)

    servicio = plantilla()
    promocion = plantilla(categoria=Categoria.MARKETING)

    assert leer(servicio).estado == EstadoEnvio.ENVIADO
    assert (leer(promocion).estado, leer(promocion).motivo) == (
        EstadoEnvio.OMITIDO,
        MotivoOmision.BAJA,
    )
    assert len(outbox) == 1


@pytest.mark.usefixtures("consentimiento_requerido")
def test_consentimiento__requerido_por_categoria(outbox):
    otorgar_consentimiento(TELEFONO, categoria=Categoria.UTILITY)

    servicio = plantilla()
    promocion = plantilla(categoria="marketing")

    assert leer(servicio).estado == EstadoEnvio.ENVIADO
    assert leer(promocion).motivo == MotivoOmision.SIN_CONSENTIMIENTO
    assert len(outbox) == 1


def catalogo(nombre: str, categoria: str) -> None:
    PlantillaCatalogo.objects.create(
        nombre=nombre, idioma="es_MX", categoria=categoria, estado="APPROVED"
    )


@pytest.mark.parametrize(
    ("en_catalogo", "pedida", "esperada"),
    [
        pytest.param(None, None, "utility", id="fuera-del-catalogo"),
        pytest.param("UTILITY", None, "utility", id="utility"),
        pytest.param("AUTHENTICATION", None, "utility", id="authentication"),
        pytest.param("MARKETING", None, "marketing", id="marketing"),
        pytest.param(None, "marketing", "marketing", id="pedida"),
        pytest.param("UTILITY", "marketing", "marketing", id="pedida-mas-estricta"),
        pytest.param("MARKETING", "utility", "marketing", id="meta-decide-marketing"),
    ],
)
def test_categoria__del_catalogo_o_de_la_llamada(outbox, en_catalogo, pedida, esperada):
    if en_catalogo:
        catalogo(PLANTILLA, en_catalogo)

    envio = plantilla(**({"categoria": pedida} if pedida else {}))

    assert leer(envio).categoria == esperada


def test_catalogo__una_sola_consulta_da_categoria_estado_y_variables(outbox):
    catalogo(PLANTILLA, "MARKETING")
    tabla = PlantillaCatalogo._meta.db_table

    # Recording only: the worker's own check at delivery runs after the commit.
    with transaction.atomic(), CaptureQueriesContext(connection) as consultas:
        envio = plantilla()

    assert leer(envio).categoria == "marketing"
    assert len([q["sql"] for q in consultas if tabla in q["sql"]]) == 1


@pytest.mark.usefixtures("ventana_abierta")
def test_categoria__texto_y_documento_son_servicio_salvo_que_se_diga(outbox):
    revocar_consentimiento(TELEFONO, categoria="marketing")

    texto = enviar_texto(TELEFONO, "Su vehículo está listo")
    documento = enviar_documento(TELEFONO, PDF, nombre_documento="f.pdf")
    oferta = enviar_texto(TELEFONO, "¡Oferta!", categoria="marketing")

    assert [leer(e).categoria for e in (texto, documento, oferta)] == [
        "utility",
        "utility",
        "marketing",
    ]
    assert [leer(e).estado for e in (texto, documento, oferta)] == [
        EstadoEnvio.ENVIADO,
        EstadoEnvio.ENVIADO,
        EstadoEnvio.OMITIDO,
    ]


def test_categoria__desconocida_lanza_antes_de_registrar(outbox):
    with pytest.raises(ValueError, match="categoria"):
        plantilla(categoria="promociones")

    assert not EnvioWhatsApp.objects.exists()


def test_consentimiento__una_consulta_por_revision(django_assert_num_queries, wa_settings):
    from whatsapp_notify.outbound.outbox import revisar_destinatario

    for requerido in (False, True):
        wa_settings(REQUIRE_CONSENT=requerido)
        with django_assert_num_queries(1):
            assert revisar_destinatario(TELEFONO, ClaseEnvio.PLANTILLA) == (
                DIGITOS,
                MotivoOmision.SIN_CONSENTIMIENTO if requerido else None,
            )


# -- expiry ------------------------------------------------------------------------------


def test_expira_en__guarda_la_hora(outbox):
    limite = timezone.now() + timedelta(hours=2)

    envio = plantilla(expira_en=limite)

    assert leer(envio).expira_en == limite
    assert leer(envio).estado == EstadoEnvio.ENVIADO


def test_expira_en__timedelta_cuenta_desde_ahora(outbox):
    antes = timezone.now()

    envio = plantilla(expira_en=timedelta(minutes=10))

    assert (
        antes + timedelta(minutes=10)
        <= leer(envio).expira_en
        <= timezone.now() + timedelta(minutes=10)
    )


def test_expira_en__ya_pasada_se_omite_como_vencido(outbox):
    envio = plantilla(expira_en=timezone.now() - timedelta(seconds=1))

    assert (leer(envio).estado, leer(envio).motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.VENCIDO)
    assert outbox == []


@pytest.mark.parametrize(
    ("valor", "error"),
    [
        pytest.param(timezone.datetime(2030, 1, 1, 9, 0), ValueError, id="sin-zona-horaria"),
        pytest.param("2030-01-01T09:00Z", TypeError, id="texto"),
        pytest.param(300, TypeError, id="numero"),
    ],
)
def test_expira_en__invalida_lanza_antes_de_registrar(outbox, valor, error):
    with pytest.raises(error, match="expira_en"):
        plantilla(expira_en=valor)

    assert not EnvioWhatsApp.objects.exists()


def test_registrar__envia_pre_save_y_post_save_del_envio_como_save(outbox):
    # The INSERT … ON CONFLICT is not Model.save(): a host's audit receivers still see it.
    from django.db.models.signals import post_save, pre_save

    vistos = []

    def antes(sender, instance, **kwargs):
        vistos.append(("pre_save", instance.pk, kwargs["raw"]))

    def despues(sender, instance, created, **kwargs):
        vistos.append(("post_save", instance.pk, created))

    pre_save.connect(antes, sender=EnvioWhatsApp, weak=False)
    post_save.connect(despues, sender=EnvioWhatsApp, weak=False)
    try:
        envio = plantilla(clave="senales:1")
        repetido = plantilla(clave="senales:1")  # the clave is taken: nothing is saved
    finally:
        pre_save.disconnect(antes, sender=EnvioWhatsApp)
        post_save.disconnect(despues, sender=EnvioWhatsApp)

    assert repetido.pk == envio.pk
    assert vistos[:2] == [("pre_save", None, False), ("post_save", envio.pk, True)]
    assert [visto for visto in vistos if visto[0] == "post_save" and visto[2]] == [vistos[1]]


def test_registrado_ahora__distingue_el_envio_nuevo_del_que_dio_su_clave(outbox):
    from whatsapp_notify.outbound.outbox import registrado_ahora

    primero = enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", clave="ot-1")
    otra_vez = enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", clave="ot-1")
    sin_clave = enviar_plantilla("123", "vehiculo_listo_cliente")  # omitido, also recorded

    assert otra_vez.pk == primero.pk
    assert (registrado_ahora(primero), registrado_ahora(otra_vez)) == (True, False)
    assert registrado_ahora(sin_clave) is True


# -- prever: the decision without the record ---------------------------------------------


@pytest.mark.parametrize(
    ("revocado", "estado", "motivo"),
    [(False, EstadoEnvio.PENDIENTE, ""), (True, EstadoEnvio.OMITIDO, MotivoOmision.BAJA)],
    ids=["saldria", "baja"],
)
def test_prever__dice_lo_que_registrar_haria_sin_escribir_nada(
    outbox, media, revocado, estado, motivo
):
    from whatsapp_notify.outbound import outbox as modulo

    if revocado:
        revocar_consentimiento(TELEFONO)
    contenido = modulo.plantilla_de(PLANTILLA, None, VARIABLES, PDF, "cotizacion.pdf")

    previsto = modulo.prever(contenido, TELEFONO, tipo="cotizacion")

    assert (previsto.pk, previsto.estado, previsto.motivo) == (None, estado, motivo)
    assert previsto.telefono == DIGITOS
    assert EnvioWhatsApp.objects.count() == 0
    assert archivos(media) == []
    assert outbox == []


def test_prever__lanza_lo_que_registrar_lanza():
    from whatsapp_notify.outbound import outbox as modulo

    with pytest.raises(ImproperlyConfigured):
        modulo.prever(Texto("Hola"), TELEFONO, cuenta="no-existe")
    assert EnvioWhatsApp.objects.count() == 0
