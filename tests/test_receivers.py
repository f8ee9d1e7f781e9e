"""Applying inbound events (``receivers``): statuses, customer messages, consent, media.

Events are built here directly, as a backend's ``parse_webhook`` would return them; the
database is real. The window tests send through the real pipeline (eager Celery, locmem).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import timedelta

import pytest
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from whatsapp_notify import enviar_plantilla, enviar_texto, signals
from whatsapp_notify.backends.base import PassThroughBackend
from whatsapp_notify.conf import get_settings
from whatsapp_notify.consent import (
    otorgar_consentimiento,
    revocar_consentimiento,
    tiene_consentimiento,
)
from whatsapp_notify.events import (
    BAJA,
    BAJA_MARKETING,
    DELIVERED,
    FAILED,
    PLAYED,
    READ,
    SENT,
    ErrorProveedor,
    EventoDesconocido,
    EventoError,
    EventoEstado,
    EventoMensaje,
    EventoPreferencia,
    Media,
)
from whatsapp_notify.exceptions import describe_error
from whatsapp_notify.inbound.apply import Aplicados, aplicar, palabra_clave
from whatsapp_notify.inbound.media import MediaInvalido, descargar_media
from whatsapp_notify.messages import Texto
from whatsapp_notify.models import (
    CambioConsentimiento,
    ClaseEnvio,
    ConsentimientoCliente,
    Direccion,
    EnvioWhatsApp,
    EstadoConsentimiento,
    EstadoEnvio,
    Mensaje,
    MotivoOmision,
    OrigenConsentimiento,
)
from whatsapp_notify.references import referencia_de
from whatsapp_notify.states import puede_pasar

DIGITOS = "525512345678"
WA_ID = "5215512345678"  # how WhatsApp reports the same Mexican mobile
WAMID = "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEjQ1"
DESCARGA = "tests.test_receivers.DescargaBackend"

pytestmark = pytest.mark.django_db


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def t0():
    """A recent instant the events of a test are dated from (inside the 24-hour window)."""
    return timezone.now() - timedelta(hours=1)


@pytest.fixture
def cambios():
    """Every ``envio_estado_cambiado`` during the test, as (envío id, anterior, estado)."""
    recibidos = []

    def receptor(sender, envio, estado_anterior, estado, **kwargs):
        recibidos.append((envio.pk, estado_anterior, estado))

    signals.envio_estado_cambiado.connect(receptor)
    yield recibidos
    signals.envio_estado_cambiado.disconnect(receptor)


@pytest.fixture
def recibidos():
    """Every ``mensaje_recibido`` during the test (the Mensaje instances)."""
    mensajes = []

    def receptor(sender, mensaje, **kwargs):
        mensajes.append(mensaje)

    signals.mensaje_recibido.connect(receptor)
    yield mensajes
    signals.mensaje_recibido.disconnect(receptor)


@pytest.fixture
def consentimientos():
    """Each ``consentimiento_cambiado`` of the test: (telefono, anterior, estado, origen)."""
    cambiados = []

    def receptor(sender, consentimiento, anterior, origen, **kwargs):
        cambiados.append((consentimiento.telefono, anterior, consentimiento.estado, origen))

    signals.consentimiento_cambiado.connect(receptor)
    yield cambiados
    signals.consentimiento_cambiado.disconnect(receptor)


def envio_en(estado: str, *, wamid: str | None = WAMID, **campos) -> EnvioWhatsApp:
    """An envío of a template already attempted once, in ``estado``."""
    campos = {
        "telefono": DIGITOS,
        "clase": ClaseEnvio.PLANTILLA,
        "plantilla": "vehiculo_listo_cliente",
        "intentos": 1,
        **campos,
    }
    return EnvioWhatsApp.objects.create(estado=estado, wamid=wamid, **campos)


def estado(status: str, fecha=None, *, wamid: str = WAMID, **campos) -> EventoEstado:
    return EventoEstado(wamid=wamid, estado=status, fecha=fecha, **campos)


def mensaje(texto: str = "Hola", fecha=None, *, wamid: str = "wamid.entrante.1", **campos):
    campos.setdefault("de", WA_ID)
    campos.setdefault("tipo", "text")
    return EventoMensaje(wamid=wamid, texto=texto, fecha=fecha, **campos)


def leer(envio: EnvioWhatsApp) -> EnvioWhatsApp:
    return EnvioWhatsApp.objects.get(pk=envio.pk)


def consentimiento(categoria: str = "utility", cuenta: str = "default") -> ConsentimientoCliente:
    """The decision that holds for ``cuenta``: its own row, else the every-account row."""
    filas = ConsentimientoCliente.objects.filter(telefono=DIGITOS, categoria=categoria)
    return filas.filter(cuenta__in=[cuenta, ""]).order_by("-cuenta").first() or filas.get()


def por_categoria() -> dict[str, str]:
    """The estado that holds for account ``default``, by category."""
    categorias = ConsentimientoCliente.objects.filter(telefono=DIGITOS).values_list(
        "categoria", flat=True
    )
    return {categoria: consentimiento(categoria).estado for categoria in set(categorias)}


# -- statuses: forward transitions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("anterior", "status", "esperado", "marcas"),
    [
        pytest.param("enviado", SENT, None, ["enviado_en"], id="enviado-sent-repite"),
        pytest.param("enviando", SENT, "enviado", ["enviado_en"], id="enviando-sent"),
        pytest.param("incierto", SENT, "enviado", ["enviado_en"], id="incierto-sent"),
        pytest.param("pendiente", SENT, "enviado", ["enviado_en"], id="reencolado-sent"),
        pytest.param("enviado", DELIVERED, "entregado", ["entregado_en"], id="enviado-delivered"),
        pytest.param("incierto", DELIVERED, "entregado", ["entregado_en"], id="incierto-delivered"),
        pytest.param(
            "enviado", READ, "leido", ["leido_en", "entregado_en"], id="enviado-read-entrega"
        ),
        pytest.param("entregado", READ, "leido", ["leido_en"], id="entregado-read"),
        pytest.param("entregado", PLAYED, "leido", ["leido_en"], id="entregado-played"),
        pytest.param("enviado", FAILED, "fallido", ["fallido_en"], id="enviado-failed"),
        pytest.param("enviando", FAILED, "fallido", ["fallido_en"], id="enviando-failed"),
    ],
)
def test_estado__avanza_guarda_la_fecha_y_avisa(cambios, t0, anterior, status, esperado, marcas):
    envio = envio_en(anterior)

    aplicados = aplicar([estado(status, t0)], "default")

    guardado = leer(envio)
    assert guardado.estado == (esperado or anterior)
    assert [getattr(guardado, marca) for marca in marcas] == [t0] * len(marcas)
    assert cambios == ([(envio.pk, anterior, esperado)] if esperado else [])
    assert (aplicados.estados, aplicados.desconocidos, aplicados.errores) == (1, 0, 0)


@pytest.mark.parametrize(
    ("anterior", "status"),
    [
        pytest.param("leido", DELIVERED, id="leido-delivered"),
        pytest.param("leido", SENT, id="leido-sent"),
        pytest.param("entregado", SENT, id="entregado-sent"),
        pytest.param("entregado", FAILED, id="entregado-failed"),
        pytest.param("fallido", SENT, id="fallido-sent"),
        pytest.param("fallido", READ, id="fallido-read"),
        pytest.param("omitido", SENT, id="omitido-sent"),
        pytest.param("cancelado", DELIVERED, id="cancelado-delivered"),
    ],
)
def test_estado__nunca_retrocede_ni_sale_de_un_terminal(cambios, t0, anterior, status):
    envio = envio_en(anterior)

    aplicar([estado(status, t0)], "default")

    assert leer(envio).estado == anterior
    assert cambios == []


@pytest.mark.parametrize(
    ("anterior", "destino", "puede"),
    [
        ("incierto", "leido", True),
        ("enviado", "fallido", True),
        ("entregado", "fallido", False),
        ("leido", "entregado", False),
        ("programado", "enviado", False),
    ],
    ids=lambda valor: str(valor),
)
def test_puede_pasar__solo_hacia_adelante(anterior, destino, puede):
    assert puede_pasar(anterior, destino) is puede


def test_estado__fuera_de_orden_read_antes_que_delivered_y_sent(cambios, t0):
    envio = envio_en("enviando")
    sent, delivered, read = t0, t0 + timedelta(seconds=5), t0 + timedelta(seconds=9)

    aplicar([estado(READ, read), estado(DELIVERED, delivered), estado(SENT, sent)], "default")

    guardado = leer(envio)
    assert guardado.estado == EstadoEnvio.LEIDO
    # The read filled the delivery; the late delivered does not overwrite it.
    assert (guardado.leido_en, guardado.entregado_en, guardado.enviado_en) == (read, read, sent)
    assert cambios == [(envio.pk, "enviando", "leido")]


def test_estado__repetido_no_cambia_nada_ni_avisa_dos_veces(cambios, t0):
    envio = envio_en("enviado")
    primero = estado(DELIVERED, t0)
    repetido = estado(DELIVERED, t0 + timedelta(minutes=3))  # a retry, dated later

    aplicar([primero], "default")
    aplicados = aplicar([repetido], "default")

    guardado = leer(envio)
    assert (guardado.estado, guardado.entregado_en) == (EstadoEnvio.ENTREGADO, t0)
    assert cambios == [(envio.pk, "enviado", "entregado")]
    assert aplicados.estados == 1


def test_estado__sin_fecha_usa_la_hora_de_llegada(t0):
    envio = envio_en("enviado")
    antes = timezone.now()

    aplicar([estado(DELIVERED)], "default")

    assert antes <= leer(envio).entregado_en <= timezone.now()


def test_estado__el_receptor_recibe_el_envio_ya_actualizado(t0):
    vistos = []

    def receptor(sender, envio, **kwargs):
        vistos.append((envio.estado, envio.entregado_en, envio.precio_categoria))

    envio_en("enviado")
    signals.envio_estado_cambiado.connect(receptor)
    try:
        aplicar([estado(DELIVERED, t0, precio_categoria="utility")], "default")
    finally:
        signals.envio_estado_cambiado.disconnect(receptor)

    assert vistos == [(EstadoEnvio.ENTREGADO, t0, "utility")]


# -- statuses: failures ----------------------------------------------------------------------


def test_estado__failed_guarda_codigo_titulo_y_las_palabras_del_proveedor(cambios, t0):
    envio = envio_en("enviado")
    legible = "(#131026) No se pudo entregar. Detalle: Recipient cannot be reached."
    error = ErrorProveedor(
        131026,
        "Message undeliverable",
        "Message undeliverable",
        "Recipient cannot be reached.",
        legible=legible,
    )

    aplicar([estado(FAILED, t0, errores=(error,))], "default")

    guardado = leer(envio)
    assert guardado.estado == EstadoEnvio.FALLIDO
    assert guardado.fallido_en == t0
    assert guardado.error_codigo == 131026
    assert guardado.error_titulo == "Message undeliverable"
    # The provider's words are the evidence; the explanation is written when read.
    assert guardado.error_detalle == "Recipient cannot be reached."
    assert guardado.error_legible() == "(#131026) Recipient cannot be reached."
    assert cambios == [(envio.pk, "enviado", "fallido")]


def test_estado__failed_sin_texto_legible_guarda_codigo_y_detalle_sin_leer_el_codigo(t0):
    # The provider that parsed the event explains its codes; receivers never look them up.
    envio = envio_en("enviado")
    error = ErrorProveedor(131026, "Message undeliverable", details="Recipient cannot be reached.")

    aplicar([estado(FAILED, t0, errores=(error,))], "default")

    assert leer(envio).error_detalle == "Recipient cannot be reached."


def test_estado__failed_sin_errores_dice_que_fallo(t0):
    envio = envio_en("enviado")

    aplicar([estado(FAILED, t0)], "default")

    guardado = leer(envio)
    assert guardado.estado == EstadoEnvio.FALLIDO
    assert guardado.error_codigo is None
    assert "no se pudo entregar" in guardado.error_detalle


def test_estado__fallido_es_terminal_pero_guarda_la_evidencia_posterior(cambios, t0):
    envio = envio_en("enviado")
    error = ErrorProveedor(131049, "Not delivered", details="Ecosystem")

    aplicar([estado(FAILED, t0, errores=(error,))], "default")
    tarde = t0 + timedelta(minutes=1)
    aplicar([estado(READ, tarde, precio_categoria="marketing", facturable=True)], "default")

    guardado = leer(envio)
    assert guardado.estado == EstadoEnvio.FALLIDO
    assert (guardado.leido_en, guardado.entregado_en) == (tarde, tarde)
    assert (guardado.precio_categoria, guardado.facturable) == ("marketing", True)
    assert guardado.error_codigo == 131049
    assert cambios == [(envio.pk, "enviado", "fallido")]


def test_estado__failed_tras_entregado_guarda_el_error_sin_cambiar_el_estado(cambios, t0):
    envio = envio_en("entregado")
    error = ErrorProveedor(131049, "Not delivered")

    aplicar([estado(FAILED, t0, errores=(error,))], "default")

    guardado = leer(envio)
    assert (guardado.estado, guardado.fallido_en, guardado.error_codigo) == (
        EstadoEnvio.ENTREGADO,
        t0,
        131049,
    )
    assert cambios == []


def test_estado__131050_revoca_el_consentimiento_y_omite_los_siguientes(
    wa_settings, consentimientos, t0
):
    wa_settings(REQUIRE_CONSENT=True)
    otorgar_consentimiento("+52 55 1234 5678")
    envio = envio_en("enviado")
    detenido = ErrorProveedor(
        131050, "User stopped marketing", details="Stopped", significado=BAJA_MARKETING
    )

    aplicados = aplicar([estado(FAILED, errores=(detenido,))], "default")

    fila = consentimiento("marketing")
    assert fila.estado == EstadoConsentimiento.REVOCADO
    assert fila.origen == OrigenConsentimiento.PROVEEDOR
    assert fila.evidencia == f"Error 131050 en el envío {envio.pk} ({WAMID})"
    assert aplicados.consentimientos == 1
    assert consentimientos[-1] == (
        DIGITOS,
        "otorgado",
        "revocado",
        OrigenConsentimiento.PROVEEDOR,
    )
    assert leer(envio).estado == EstadoEnvio.FALLIDO
    siguiente = enviar_plantilla(
        "+52 55 1234 5678", "promocion", variables=[], categoria="marketing"
    )
    assert (siguiente.estado, siguiente.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)
    # A marketing stop: the next service notice still goes.
    assert consentimiento("utility").estado == EstadoConsentimiento.OTORGADO
    aviso = enviar_plantilla("+52 55 1234 5678", "vehiculo_listo_cliente", variables=[])
    assert (aviso.estado, aviso.motivo) == (EstadoEnvio.PENDIENTE, "")


def test_estado__error_de_bloqueo_revoca_todas_las_categorias(wa_settings, consentimientos, t0):
    # A provider that reads a block (Twilio 63014) marks the error BAJA: no category is sent.
    otorgar_consentimiento("+52 55 1234 5678")
    envio = envio_en("enviado")
    bloqueo = ErrorProveedor(63014, "Blocked", significado=BAJA)

    aplicados = aplicar([estado(FAILED, t0, errores=(bloqueo,))], "default")

    assert aplicados.consentimientos == 1
    assert consentimiento("utility").estado == EstadoConsentimiento.REVOCADO
    assert consentimiento("marketing").estado == EstadoConsentimiento.REVOCADO
    assert consentimiento("utility").evidencia == f"Error 63014 en el envío {envio.pk} ({WAMID})"
    assert consentimiento("utility").origen == OrigenConsentimiento.PROVEEDOR
    aviso = enviar_plantilla("+52 55 1234 5678", "vehiculo_listo_cliente", variables=[])
    assert (aviso.estado, aviso.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)


def test_estado__error_sin_significado_no_toca_el_consentimiento(consentimientos, t0):
    envio_en("enviado")
    # The code alone means nothing here: only what the backend read into significado.
    aplicados = aplicar([estado(FAILED, t0, errores=(ErrorProveedor(131050, "x"),))], "default")

    assert aplicados.consentimientos == 0
    assert consentimientos == []


def test_estado__131050_repetido_no_vuelve_a_revocar(consentimientos, t0):
    envio_en("enviado")
    detenido = estado(
        FAILED, t0, errores=(ErrorProveedor(131050, "Stopped", significado=BAJA_MARKETING),)
    )

    aplicar([detenido], "default")
    aplicados = aplicar([detenido], "default")

    assert aplicados.consentimientos == 0
    assert len(consentimientos) == 1


# -- statuses: reconciliation by referencia --------------------------------------------------


@pytest.mark.parametrize(
    ("anterior", "status", "esperado"),
    [
        pytest.param("enviando", SENT, "enviado", id="worker-muerto-sent"),
        pytest.param("incierto", SENT, "enviado", id="timeout-sent"),
        pytest.param("incierto", READ, "leido", id="timeout-read"),
        pytest.param("enviando", FAILED, "fallido", id="worker-muerto-failed"),
    ],
)
def test_estado__referencia_asienta_un_envio_sin_wamid(cambios, t0, anterior, status, esperado):
    envio = envio_en(
        anterior,
        wamid=None,
        proximo_intento=t0 + timedelta(minutes=15),
        error_codigo=None if anterior == "enviando" else 1,
        error_detalle="" if anterior == "enviando" else "Tiempo de espera agotado",
    )
    evento = estado(status, t0, referencia=referencia_de(envio.pk), destinatario=WA_ID)

    aplicados = aplicar([evento], "default")

    guardado = leer(envio)
    assert (guardado.estado, guardado.wamid, guardado.wa_id) == (esperado, WAMID, WA_ID)
    assert guardado.proximo_intento is None
    if esperado != "fallido":
        assert (guardado.error_codigo, guardado.error_detalle) == (None, "")
    assert cambios == [(envio.pk, anterior, esperado)]
    assert aplicados.estados == 1


def test_estado__tras_asentar_por_referencia_lo_siguiente_llega_por_wamid(cambios, t0):
    envio = envio_en("incierto", wamid=None)

    aplicar([estado(SENT, t0, referencia=referencia_de(envio.pk), destinatario=WA_ID)], "default")
    aplicar([estado(DELIVERED, t0 + timedelta(seconds=2))], "default")

    assert leer(envio).estado == EstadoEnvio.ENTREGADO
    assert [cambio[2] for cambio in cambios] == ["enviado", "entregado"]


def test_estado__wamid_de_otra_cuenta_no_toca_el_envio(cambios, t0):
    """A message id is the provider's: the same id under another account is another message."""
    de_twilio = envio_en("enviado", cuenta="twilio")
    propio = envio_en("enviado", wamid="wamid.propio", cuenta="default")

    aplicados = aplicar([estado(READ, t0)], "default")

    assert leer(de_twilio).estado == EstadoEnvio.ENVIADO
    assert leer(propio).estado == EstadoEnvio.ENVIADO
    assert cambios == []
    assert aplicados.estados == 0


@pytest.mark.parametrize(
    ("campos", "referencia", "cuenta", "destinatario"),
    [
        pytest.param({}, "pedido:{pk}", "default", WA_ID, id="referencia-de-otra-app"),
        pytest.param({}, "{pk}", "default", WA_ID, id="numero-de-otra-app-igual-al-id"),
        pytest.param({}, "wn:{pk}:0123456789abcdef", "default", WA_ID, id="etiqueta-falsa"),
        pytest.param({}, None, "otra", WA_ID, id="otra-cuenta"),
        pytest.param({"intentos": 0}, None, "default", WA_ID, id="nunca-intentado"),
        pytest.param({}, None, "default", "5213398765432", id="otro-destinatario"),
    ],
)
def test_estado__referencia_que_no_concuerda_no_toca_el_envio(
    cambios, t0, campos, referencia, cuenta, destinatario
):
    campos = {"wamid": None, **campos}
    envio = envio_en("incierto", **campos)
    referencia = referencia.format(pk=envio.pk) if referencia else referencia_de(envio.pk)
    evento = estado(SENT, t0, referencia=referencia, destinatario=destinatario)

    aplicados = aplicar([evento], cuenta)

    guardado = leer(envio)
    assert (guardado.estado, guardado.wamid, guardado.enviado_en) == (
        EstadoEnvio.INCIERTO,
        campos["wamid"],
        None,
    )
    assert (aplicados.estados, aplicados.desconocidos) == (0, 1)
    assert cambios == []


@pytest.mark.parametrize(
    ("status", "duplicado"),
    [
        pytest.param(SENT, True, id="sent"),
        pytest.param(READ, True, id="read"),
        pytest.param(FAILED, False, id="failed-no-prueba-nada"),
    ],
)
def test_estado__de_otra_copia_registra_el_duplicado_sin_tocar_el_estado(
    cambios, t0, status, duplicado
):
    envio = envio_en("enviado", wamid="wamid.reenviado", intentos=2, enviado_en=t0)
    evento = estado(status, t0, referencia=referencia_de(envio.pk), destinatario=WA_ID)

    aplicados = aplicar([evento, evento], "default")

    guardado = leer(envio)
    assert (guardado.estado, guardado.wamid) == (EstadoEnvio.ENVIADO, "wamid.reenviado")
    assert (guardado.leido_en, guardado.fallido_en, guardado.error_codigo) == (None, None, None)
    assert guardado.duplicado is duplicado
    assert guardado.wamids_duplicados == ([WAMID] if duplicado else [])
    assert (aplicados.estados, aplicados.desconocidos) == (2, 0)
    assert aplicados.duplicados == (2 if duplicado else 0)
    assert cambios == []


def test_estado__de_un_mensaje_sin_envio_se_cuenta_desconocido(caplog, t0):
    envio = envio_en("enviado")
    caplog.set_level(logging.INFO, logger="whatsapp_notify.inbound.apply")

    aplicados = aplicar([estado(DELIVERED, t0, wamid="wamid.de.otro.sistema")], "default")

    assert (aplicados.estados, aplicados.desconocidos, aplicados.errores) == (0, 1, 0)
    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert "wamid.de.otro.sistema" in caplog.text


def test_estado__nombre_desconocido_deja_el_envio_como_esta(caplog, cambios, t0):
    envio = envio_en("enviado")
    caplog.set_level(logging.INFO, logger="whatsapp_notify.inbound.apply")

    aplicados = aplicar([estado("deleted", t0, precio_categoria="utility")], "default")

    guardado = leer(envio)
    assert (guardado.estado, guardado.precio_categoria) == (EstadoEnvio.ENVIADO, "")
    assert guardado.actualizado_en == envio.actualizado_en
    assert (aplicados.estados, aplicados.desconocidos) == (0, 1)
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "'deleted'" in caplog.text
    assert cambios == []


def test_estado__guarda_precio_y_conversacion_y_los_conserva(t0):
    envio = envio_en("enviando")
    expira = t0 + timedelta(hours=24)
    sent = estado(
        SENT,
        t0,
        conversacion_id="CONV-1",
        conversacion_expira=expira,
        conversacion_origen="utility",
        facturable=True,
        precio_modelo="PMP",
        precio_tipo="regular",
        precio_categoria="utility",
    )

    aplicar([sent, estado(DELIVERED, t0 + timedelta(seconds=4))], "default")

    guardado = leer(envio)
    assert (
        guardado.conversacion_id,
        guardado.conversacion_expira_en,
        guardado.conversacion_origen,
    ) == ("CONV-1", expira, "utility")
    assert (
        guardado.facturable,
        guardado.precio_modelo,
        guardado.precio_tipo,
        guardado.precio_categoria,
    ) == (True, "PMP", "regular", "utility")


def test_estado__precio_gratuito_en_la_ventana(t0):
    envio = envio_en("enviado")

    aplicar([estado(READ, t0, facturable=False, precio_tipo="free_customer_service")], "default")

    guardado = leer(envio)
    assert (guardado.facturable, guardado.precio_tipo) == (False, "free_customer_service")


# -- inbound messages ------------------------------------------------------------------------


MEDIA_PDF = Media(
    id="1013859600285441",
    mime="application/pdf",
    sha256="SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
    nombre="factura.pdf",
    caption="Mi factura",
)


@pytest.mark.parametrize(
    ("campos", "esperado"),
    [
        pytest.param(
            {"tipo": "text", "texto": "¿Ya está mi coche? 🚗", "raw": {"text": {"body": "…"}}},
            {"tipo": "text", "texto": "¿Ya está mi coche? 🚗"},
            id="texto",
        ),
        pytest.param(
            {
                "tipo": "image",
                "texto": "El golpe",
                "media": Media(id="777", mime="image/jpeg", sha256="abc", caption="El golpe"),
            },
            {"tipo": "image", "texto": "El golpe", "media_id": "777", "media_mime": "image/jpeg"},
            id="imagen",
        ),
        pytest.param(
            {"tipo": "document", "texto": "Mi factura", "media": MEDIA_PDF},
            {
                "media_id": "1013859600285441",
                "media_sha256": MEDIA_PDF.sha256,
                "media_nombre": "factura.pdf",
            },
            id="documento",
        ),
        pytest.param(
            {"tipo": "audio", "texto": "", "media": Media(id="888", mime="audio/ogg")},
            {"tipo": "audio", "texto": "", "media_id": "888"},
            id="audio",
        ),
        pytest.param(
            {"tipo": "location", "texto": "Taller Centro", "raw": {"location": {"latitude": 19.4}}},
            {"tipo": "location", "texto": "Taller Centro"},
            id="ubicacion",
        ),
        pytest.param(
            {"tipo": "contacts", "texto": "Ana Pérez"},
            {"tipo": "contacts", "texto": "Ana Pérez", "media_id": ""},
            id="contactos",
        ),
        pytest.param(
            {"tipo": "interactive", "texto": "Confirmar", "respuesta_id": "cita:42:si"},
            {"tipo": "interactive", "texto": "Confirmar", "respuesta_id": "cita:42:si"},
            id="boton-interactivo",
        ),
        pytest.param(
            {"tipo": "interactive", "texto": "Mañana 10:00", "respuesta_id": "hora-10"},
            {"texto": "Mañana 10:00", "respuesta_id": "hora-10"},
            id="fila-de-lista",
        ),
        pytest.param(
            {"tipo": "button", "texto": "Ver cotización", "respuesta_id": "COT-17"},
            {"tipo": "button", "respuesta_id": "COT-17"},
            id="respuesta-rapida-de-plantilla",
        ),
        pytest.param(
            {"tipo": "reaction", "texto": "👍", "contexto_wamid": "wamid.reaccionado"},
            {"tipo": "reaction", "texto": "👍", "contexto_wamid": "wamid.reaccionado"},
            id="reaccion",
        ),
        pytest.param(
            {"tipo": "order", "texto": "", "raw": {"order": {"catalog_id": "9"}}},
            {"tipo": "order"},
            id="pedido",
        ),
        pytest.param(
            {"tipo": "system", "texto": "User changed number", "nombre": ""},
            {"tipo": "system", "nombre": ""},
            id="sistema",
        ),
        pytest.param(
            {"tipo": "unsupported", "texto": "", "errores": (ErrorProveedor(131051, "x"),)},
            {"tipo": "unsupported"},
            id="no-soportado",
        ),
    ],
)
def test_mensaje__se_guarda_entrante_con_sus_campos(t0, campos, esperado):
    raw = campos.pop("raw", {"type": campos["tipo"]})
    campos.setdefault("nombre", "Ana Pérez")
    evento = mensaje(fecha=t0, wamid="wamid.IN.1", raw=raw, user_id="MX.123", **campos)

    aplicados = aplicar([evento], "default")

    fila = Mensaje.objects.get()
    assert (fila.direccion, fila.cuenta, fila.wamid, fila.fecha) == (
        Direccion.ENTRANTE,
        "default",
        "wamid.IN.1",
        t0,
    )
    assert (fila.telefono, fila.wa_id, fila.user_id) == (DIGITOS, WA_ID, "MX.123")
    assert fila.nombre == campos["nombre"]
    assert fila.contenido == raw
    assert {campo: getattr(fila, campo) for campo in esperado} == esperado
    assert (aplicados.mensajes, aplicados.errores) == (1, 0)


def test_mensaje__avisa_con_la_senal(recibidos, t0):
    aplicar([mensaje("Hola", t0, wamid="wamid.IN.2")], "default")

    assert [m.wamid for m in recibidos] == ["wamid.IN.2"]
    assert recibidos[0].pk == Mensaje.objects.get().pk


def test_mensaje__reentregado_no_crea_nada_ni_avisa(recibidos, t0):
    evento = mensaje("Hola", t0)

    aplicar([evento], "default")
    aplicados = aplicar([evento, evento], "default")

    assert Mensaje.objects.count() == 1
    assert len(recibidos) == 1
    assert (aplicados.eventos, aplicados.mensajes, aplicados.errores) == (2, 0, 0)


def test_mensaje__respuesta_enlaza_el_envio_que_contesta(t0):
    envio = envio_en("leido")

    aplicar([mensaje("Sí, paso a las 5", t0, contexto_wamid=WAMID)], "default")

    fila = Mensaje.objects.get()
    assert (fila.envio, fila.contexto_wamid) == (envio, WAMID)
    assert list(envio.mensajes.all()) == [fila]


def test_mensaje__contexto_desconocido_no_enlaza(t0):
    aplicar([mensaje("Hola", t0, contexto_wamid="wamid.ajeno")], "default")

    fila = Mensaje.objects.get()
    assert (fila.envio, fila.contexto_wamid) == (None, "wamid.ajeno")


@pytest.mark.parametrize(
    ("de", "telefono"),
    [
        pytest.param("5215512345678", DIGITOS, id="mx-con-1"),
        pytest.param("5491123456789", "541123456789", id="ar-con-9"),
        pytest.param("", "", id="usuario-sin-numero"),
        pytest.param("123", "", id="no-es-un-telefono"),
    ],
)
def test_mensaje__telefono_normalizado_y_wa_id_tal_cual(t0, de, telefono):
    aplicar([mensaje("Hola", t0, de=de, user_id="MX.1")], "default")

    fila = Mensaje.objects.get()
    assert (fila.telefono, fila.wa_id, fila.user_id) == (telefono, de, "MX.1")


def test_mensaje__valores_largos_se_recortan_al_campo(t0):
    aplicar([mensaje("Hola", t0, nombre="A" * 500, respuesta_id="r" * 900)], "default")

    fila = Mensaje.objects.get()
    assert (len(fila.nombre), len(fila.respuesta_id)) == (200, 256)


# -- consent keywords ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "texto",
    [
        pytest.param("BAJA", id="baja"),
        pytest.param("  baja \n", id="espacios"),
        pytest.param("Bajá", id="acento"),
        pytest.param("stop", id="stop"),
        pytest.param("Stop!", id="exclamacion"),
        pytest.param("¡BAJA!", id="exclamaciones-espanolas"),
        pytest.param("Cancelar.", id="punto-final"),
        pytest.param("CANCELAR", id="cancelar"),
    ],
)
def test_palabra_clave__revoca_el_consentimiento(consentimientos, t0, texto):
    otorgar_consentimiento("+52 55 1234 5678")

    aplicados = aplicar([mensaje(texto, t0, wamid="wamid.IN.baja")], "default")

    fila = consentimiento()
    assert fila.estado == EstadoConsentimiento.REVOCADO
    assert fila.origen == OrigenConsentimiento.WHATSAPP
    assert fila.evidencia == f"Mensaje wamid.IN.baja: «{texto}»"
    ultimo = CambioConsentimiento.objects.filter(categoria=fila.categoria).first()
    assert (ultimo.anterior, ultimo.estado, ultimo.origen) == (
        EstadoConsentimiento.OTORGADO, EstadoConsentimiento.REVOCADO, OrigenConsentimiento.WHATSAPP,
    )  # fmt: skip
    assert fila.revocado_en == t0
    assert aplicados.consentimientos == 1
    assert consentimientos[-1] == (DIGITOS, "otorgado", "revocado", OrigenConsentimiento.WHATSAPP)
    assert Mensaje.objects.get().texto == texto


@pytest.mark.parametrize(
    "texto",
    [
        pytest.param("Quiero darme de baja", id="frase-con-baja"),
        pytest.param("Please STOP sending", id="frase-con-stop"),
        pytest.param("¿Baja?", id="pregunta"),
        pytest.param("bajar", id="otra-palabra"),
        pytest.param("", id="vacio"),
    ],
)
def test_palabra_clave__solo_el_mensaje_entero_cuenta(consentimientos, t0, texto):
    otorgar_consentimiento("+52 55 1234 5678")
    consentimientos.clear()

    aplicados = aplicar([mensaje(texto, t0)], "default")

    assert consentimiento().estado == EstadoConsentimiento.OTORGADO
    assert (aplicados.mensajes, aplicados.consentimientos) == (1, 0)
    assert consentimientos == []


@pytest.mark.parametrize(
    ("tipo", "respuesta_id"),
    [
        pytest.param("button", "OPT_OUT", id="respuesta-rapida"),
        pytest.param("interactive", "baja", id="boton-interactivo"),
    ],
)
def test_palabra_clave__el_titulo_de_un_boton_no_cambia_el_consentimiento(t0, tipo, respuesta_id):
    # «Cancelar» on a reminder's button cancels the appointment, not the customer's consent.
    otorgar_consentimiento("+52 55 1234 5678")
    for numero, texto in enumerate(("STOP", "Cancelar")):
        wamid = f"wamid.boton.{numero}"
        aplicar([mensaje(texto, t0, wamid=wamid, tipo=tipo, respuesta_id=respuesta_id)], "default")
    assert Mensaje.objects.filter(direccion="entrante").count() == 2

    assert consentimiento().estado == EstadoConsentimiento.OTORGADO


def test_palabra_clave__alta_vuelve_a_otorgar(consentimientos, t0):
    baja = mensaje("BAJA", t0, wamid="wamid.IN.1")
    alta = mensaje("Alta", t0 + timedelta(minutes=5), wamid="wamid.IN.2")

    aplicar([baja], "default")
    aplicar([alta], "default")

    fila = consentimiento()
    assert fila.estado == EstadoConsentimiento.OTORGADO
    assert fila.evidencia == "Mensaje wamid.IN.2: «Alta»"
    assert (fila.revocado_en, fila.otorgado_en) == (t0, t0 + timedelta(minutes=5))
    # One change per category: the keywords cover every category.
    assert [(anterior, estado) for _, anterior, estado, _ in consentimientos] == [
        (None, "revocado"),
        (None, "revocado"),
        ("revocado", "otorgado"),
        ("revocado", "otorgado"),
    ]


def test_palabra_clave__fuera_de_orden_gana_la_ultima_decision(t0):
    baja = mensaje("BAJA", t0, wamid="wamid.IN.1")
    alta = mensaje("START", t0 + timedelta(seconds=30), wamid="wamid.IN.2")

    aplicados = aplicar([alta, baja], "default")

    assert consentimiento().estado == EstadoConsentimiento.OTORGADO
    assert (aplicados.mensajes, aplicados.consentimientos) == (2, 1)


def test_palabra_clave__baja_tardia_gana_a_un_alta_posterior_del_erp(t0):
    otorgar_consentimiento("+52 55 1234 5678")  # now, after the customer wrote BAJA at t0

    aplicar([mensaje("BAJA", t0)], "default")

    assert consentimiento().estado == EstadoConsentimiento.REVOCADO


def test_palabra_clave__alta_tardia_no_gana_a_una_baja_posterior_del_erp(t0):
    revocar_consentimiento("+52 55 1234 5678", evidencia="Lo pidió por teléfono")

    aplicados = aplicar([mensaje("ALTA", t0)], "default")

    fila = consentimiento()
    assert (fila.estado, fila.evidencia) == (EstadoConsentimiento.REVOCADO, "Lo pidió por teléfono")
    assert aplicados.consentimientos == 0


def test_palabra_clave__reentregada_no_se_reaplica(t0):
    baja = mensaje("BAJA", t0)
    aplicar([baja], "default")
    otorgar_consentimiento("+52 55 1234 5678", evidencia="Lo pidió en mostrador")

    aplicar([baja], "default")

    fila = consentimiento()
    assert (fila.estado, fila.evidencia) == (EstadoConsentimiento.OTORGADO, "Lo pidió en mostrador")


def test_palabra_clave__configurable(wa_settings, t0):
    wa_settings(OPT_OUT_KEYWORDS=("NO MÁS",), OPT_IN_KEYWORDS=("SÍ",))

    aplicar([mensaje("BAJA", t0, wamid="wamid.IN.1")], "default")
    assert not ConsentimientoCliente.objects.exists()

    aplicar([mensaje("no mas", t0, wamid="wamid.IN.2")], "default")
    assert consentimiento().estado == EstadoConsentimiento.REVOCADO

    aplicar([mensaje("Si", t0 + timedelta(seconds=1), wamid="wamid.IN.3")], "default")
    assert consentimiento().estado == EstadoConsentimiento.OTORGADO


def test_palabra_clave__sin_telefono_no_falla(t0):
    aplicados = aplicar([mensaje("BAJA", t0, de="", user_id="MX.1")], "default")

    assert not ConsentimientoCliente.objects.exists()
    assert (aplicados.mensajes, aplicados.errores) == (1, 0)


def test_palabra_clave__revocado_por_mensaje_omite_los_envios(wa_settings, t0):
    wa_settings(REQUIRE_CONSENT=True)
    otorgar_consentimiento("+52 55 1234 5678")

    aplicar([mensaje("BAJA", t0)], "default")

    assert tiene_consentimiento(DIGITOS, cuenta="default") is False
    envio = enviar_plantilla("+52 55 1234 5678", "vehiculo_listo_cliente", variables=[])
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)


@pytest.mark.parametrize(
    "texto",
    [
        pytest.param("BAJA", id="baja"),
        pytest.param("Parar", id="parar"),
        pytest.param("SAIR", id="sair"),
        pytest.param("stop", id="stop"),
    ],
)
def test_palabra_clave__revoca_cada_categoria_aunque_no_se_exija_consentimiento(t0, texto):
    assert get_settings().REQUIRE_CONSENT is False

    aplicar([mensaje(texto, t0)], "default")

    assert por_categoria() == {"utility": "revocado", "marketing": "revocado"}
    for categoria in ("utility", "marketing"):
        envio = enviar_plantilla(
            "+52 55 1234 5678", "vehiculo_listo_cliente", variables=[], categoria=categoria
        )
        assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)


def test_palabra_clave__alta_otorga_cada_categoria(consentimientos, t0):
    aplicar([mensaje("BAJA", t0, wamid="wamid.IN.1")], "default")
    aplicar([mensaje("ALTA", t0 + timedelta(minutes=1), wamid="wamid.IN.2")], "default")

    assert por_categoria() == {"utility": "otorgado", "marketing": "otorgado"}
    assert len(consentimientos) == 4


@pytest.mark.parametrize(
    ("texto", "normal"),
    [("  Bajá!! ", "baja"), ("ÁLTA", "alta"), ("¿Baja?", "¿baja?"), ("STOP", "stop")],
    ids=str,
)
def test_palabra_clave__normalizacion(texto, normal):
    assert palabra_clave(texto) == normal


# -- preferences -----------------------------------------------------------------------------


def preferencia(valor: str, fecha=None, categoria: str = "marketing_messages"):
    return EventoPreferencia(wa_id=WA_ID, categoria=categoria, valor=valor, fecha=fecha)


def test_preferencia__stop_revoca_y_resume_otorga(consentimientos, t0):
    luego = t0 + timedelta(minutes=1)

    aplicados = aplicar([preferencia("stop", t0), preferencia("resume", luego)], "default")

    fila = consentimiento("marketing")
    assert (fila.estado, fila.origen) == (EstadoConsentimiento.OTORGADO, OrigenConsentimiento.META)
    assert fila.evidencia == (
        f"Preferencia en WhatsApp (user_preferences) del {luego.isoformat()}: "
        "marketing_messages = resume"
    )
    assert fila.revocado_en == t0
    assert aplicados.consentimientos == 2
    assert [(anterior, estado, origen) for _, anterior, estado, origen in consentimientos] == [
        (None, "revocado", "meta"),
        ("revocado", "otorgado", "meta"),
    ]


def test_preferencia__stop_guarda_la_evidencia(t0):
    aplicar([preferencia("stop", t0)], "default")

    fila = consentimiento("marketing")
    assert fila.estado == EstadoConsentimiento.REVOCADO
    assert fila.evidencia.endswith("marketing_messages = stop")
    assert t0.isoformat() in fila.evidencia


def test_preferencia__repetida_no_cuenta_dos_veces(consentimientos, t0):
    aplicar([preferencia("stop", t0)], "default")
    aplicados = aplicar([preferencia("stop", t0)], "default")

    assert aplicados.consentimientos == 0
    assert len(consentimientos) == 1


@pytest.mark.parametrize(
    ("valor", "categoria"),
    [("pause", "marketing_messages"), ("stop", "calls")],
    ids=["valor-desconocido", "categoria-desconocida"],
)
def test_preferencia__desconocida_no_toca_el_consentimiento(t0, valor, categoria):
    aplicados = aplicar([preferencia(valor, t0, categoria)], "default")

    assert not ConsentimientoCliente.objects.exists()
    assert (aplicados.desconocidos, aplicados.consentimientos) == (1, 0)


# -- notices and unknown events --------------------------------------------------------------


def test_aviso__se_registra_sin_telefonos(caplog):
    error = ErrorProveedor(130429, "Rate limit hit", details="Too many messages to 5215512345678")

    aplicados = aplicar([EventoError(numero_id="106540352242922", errores=(error,))], "default")

    assert (aplicados.avisos, aplicados.errores) == (1, 0)
    [registro] = [r for r in caplog.records if r.name == "whatsapp_notify.inbound.apply"]
    assert registro.levelname == "WARNING"
    assert "#130429" in registro.getMessage()
    assert "5512345678" not in caplog.text


def test_desconocido__se_registra_y_se_cuenta(caplog):
    evento = EventoDesconocido(campo="account_alerts", motivo="campo no soportado", raw={"a": 1})

    aplicados = aplicar([evento], "default")

    assert (aplicados.desconocidos, aplicados.errores) == (1, 0)
    assert "account_alerts" in caplog.text
    assert [r.levelname for r in caplog.records] == ["WARNING"]


# -- one event at a time ---------------------------------------------------------------------


def test_aplicar__un_receptor_que_falla_no_es_un_error(t0):
    def receptor_roto(sender, **kwargs):
        raise RuntimeError("receptor roto")

    envio = envio_en("enviado")
    signals.envio_estado_cambiado.connect(receptor_roto)
    signals.mensaje_recibido.connect(receptor_roto)
    try:
        aplicados = aplicar([estado(DELIVERED, t0), mensaje("Hola", t0)], "default")
    finally:
        signals.envio_estado_cambiado.disconnect(receptor_roto)
        signals.mensaje_recibido.disconnect(receptor_roto)

    assert leer(envio).estado == EstadoEnvio.ENTREGADO
    assert Mensaje.objects.count() == 1
    assert (aplicados.estados, aplicados.mensajes, aplicados.errores) == (1, 1, 0)


def test_aplicar__un_evento_que_falla_no_detiene_los_demas(caplog, t0):
    envio = envio_en("enviado")
    # A parser bug: texto None violates NOT NULL when the row is written.
    roto = EventoMensaje(wamid="wamid.IN.roto", de=WA_ID, tipo="text", texto=None, fecha=t0)
    eventos = [
        mensaje("Hola", t0, wamid="wamid.IN.1"),
        roto,
        estado(DELIVERED, t0),
        preferencia("stop", t0),
    ]

    aplicados = aplicar(eventos, "default")

    assert list(Mensaje.objects.values_list("wamid", flat=True)) == ["wamid.IN.1"]
    assert leer(envio).estado == EstadoEnvio.ENTREGADO
    assert consentimiento("marketing").estado == EstadoConsentimiento.REVOCADO
    assert aplicados == Aplicados(eventos=4, estados=1, mensajes=1, consentimientos=1, errores=1)
    assert "EventoMensaje" in caplog.text


def test_aplicar__lista_vacia():
    assert aplicar([], "default") == Aplicados()


# -- the 24-hour window ----------------------------------------------------------------------


def test_ventana__un_mensaje_entrante_la_abre(django_capture_on_commit_callbacks, outbox):
    aplicar([mensaje("Hola", timezone.now() - timedelta(hours=23))], "default")

    with django_capture_on_commit_callbacks(execute=True):
        envio = enviar_texto("+52 55 1234 5678", "Su vehículo está listo")

    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert [(m.telefono, m.contenido) for m in outbox] == [
        (DIGITOS, Texto("Su vehículo está listo"))
    ]


def test_ventana__pasadas_24_horas_se_omite(django_capture_on_commit_callbacks, outbox):
    aplicar([mensaje("Hola", timezone.now() - timedelta(hours=24, minutes=1))], "default")

    with django_capture_on_commit_callbacks(execute=True):
        envio = enviar_texto("+52 55 1234 5678", "Su vehículo está listo")

    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.FUERA_DE_VENTANA)
    assert outbox == []


# -- downloading media -----------------------------------------------------------------------

#: media id -> (bytes, mime) that DescargaBackend serves.
MEDIOS: dict[str, tuple[bytes, str]] = {}
#: media ids DescargaBackend was asked for.
DESCARGAS: list[str] = []


class DescargaBackend(PassThroughBackend):
    """A backend that serves inbound media from :data:`MEDIOS`."""

    capabilities = frozenset({"download_media"})

    def download_media(self, media_id: str, *, max_bytes=None) -> tuple[bytes, str]:
        DESCARGAS.append(media_id)
        return MEDIOS[media_id]


PDF = b"%PDF-1.4\n% factura del cliente\n"
PDF_HEX = hashlib.sha256(PDF).hexdigest()
PDF_B64 = base64.b64encode(hashlib.sha256(PDF).digest()).decode()


@pytest.fixture
def descarga(wa_settings, settings, tmp_path):
    """Account ``default`` on DescargaBackend, MEDIA_ROOT in this test's tmp_path."""
    settings.MEDIA_ROOT = tmp_path / "media"
    wa_settings(BACKENDS={"default": {"BACKEND": DESCARGA}})
    MEDIOS.clear()
    DESCARGAS.clear()
    MEDIOS["1013859600285441"] = (PDF, "application/pdf")
    yield tmp_path / "media"
    MEDIOS.clear()
    DESCARGAS.clear()


def recibido(sha256: str = "", nombre: str = "factura.pdf", **campos) -> Mensaje:
    campos = {"media_id": "1013859600285441", "media_mime": "application/pdf", **campos}
    return Mensaje.objects.create(
        direccion=Direccion.ENTRANTE,
        wa_id=WA_ID,
        tipo="document",
        wamid="wamid.IN.doc",
        media_sha256=sha256,
        media_nombre=nombre,
        **campos,
    )


@pytest.mark.parametrize(
    "sha256",
    [
        pytest.param(PDF_HEX, id="hex"),
        pytest.param(PDF_HEX.upper(), id="hex-mayusculas"),
        pytest.param(PDF_B64, id="base64"),
        pytest.param("", id="sin-sha256"),
        pytest.param("SfInY0gGKTsJlUWbwxC1k+FAD0FZHv", id="ilegible-no-se-verifica"),
    ],
)
def test_descargar_media__guarda_los_bytes_en_archivo(descarga, sha256):
    fila = recibido(sha256)

    nombre = descargar_media(fila)

    assert nombre.startswith("whatsapp_notify/recibidos/")
    assert nombre.endswith("/1013859600285441.pdf")
    assert (descarga / nombre).read_bytes() == PDF
    guardado = Mensaje.objects.get(pk=fila.pk)
    assert guardado.archivo.name == nombre
    assert guardado.archivo.read() == PDF
    assert DESCARGAS == ["1013859600285441"]


@pytest.mark.parametrize(
    "sha256",
    [
        pytest.param(hashlib.sha256(b"otro").hexdigest(), id="hex"),
        pytest.param(base64.b64encode(hashlib.sha256(b"otro").digest()).decode(), id="base64"),
    ],
)
def test_descargar_media__sha256_distinto_lanza_y_no_guarda(descarga, sha256):
    fila = recibido(sha256)

    with pytest.raises(MediaInvalido):
        descargar_media(fila)

    assert Mensaje.objects.get(pk=fila.pk).archivo.name == ""
    assert not descarga.exists() or not any(p.is_file() for p in descarga.rglob("*"))


@pytest.mark.parametrize(
    ("nombre", "mime", "extension"),
    [
        pytest.param("../../etc/passwd.pdf", "application/pdf", ".pdf", id="ruta-maliciosa"),
        pytest.param("sin extension", "image/jpeg", ".jpg", id="extension-del-mime"),
        pytest.param("", "audio/ogg; codecs=opus", ".ogg", id="mime-con-parametros"),
        # The customer's name never picks the extension: served from the site, an .html or
        # .svg would be stored XSS against the staff.
        pytest.param("factura.html", "application/pdf", ".pdf", id="nombre-html"),
        pytest.param("a.jpg.exe", "image/jpeg", ".jpg", id="doble-extension"),
        pytest.param("x.svg", "image/svg+xml", ".bin", id="tipo-no-listado"),
        pytest.param("x.PDF", "application/pdf", ".pdf", id="mayusculas"),
    ],
)
def test_descargar_media__nombre_seguro(descarga, nombre, mime, extension):
    MEDIOS["1013859600285441"] = (PDF, mime)
    fila = recibido(nombre=nombre, media_mime="")

    guardado = descargar_media(fila)

    assert guardado.rsplit("/", 1)[1] == f"1013859600285441{extension}"
    assert ".." not in guardado
    assert Mensaje.objects.get(pk=fila.pk).media_mime == mime


def test_descargar_media__ya_descargado_no_vuelve_a_pedir(descarga):
    fila = recibido(PDF_HEX)
    primero = descargar_media(fila)

    segundo = descargar_media(Mensaje.objects.get(pk=fila.pk))

    assert segundo == primero
    assert DESCARGAS == ["1013859600285441"]


def test_descargar_media__en_otro_storage(descarga, tmp_path):
    otro = FileSystemStorage(location=tmp_path / "otro")
    fila = recibido(PDF_HEX)

    nombre = descargar_media(fila, storage=otro)

    assert otro.open(nombre).read() == PDF
    assert Mensaje.objects.get(pk=fila.pk).archivo.name == nombre


def test_descargar_media__sin_media_lanza(descarga):
    fila = recibido(media_id="")

    with pytest.raises(ValueError, match="no tiene media"):
        descargar_media(fila)

    assert DESCARGAS == []


def test_descargar_media__backend_sin_descargas_lo_dice(wa_settings):
    fila = recibido()

    with pytest.raises(NotImplementedError, match="LocmemBackend"):
        descargar_media(fila)


# -- review findings pinned ----------------------------------------------------------------


def test_referencia__no_se_aplica_a_un_envio_que_ya_tiene_su_desenlace(t0):
    envio = envio_en(EstadoEnvio.FALLIDO, wamid=None)

    aplicar(
        [estado(DELIVERED, t0, referencia=referencia_de(envio.pk), destinatario=WA_ID)], "default"
    )

    envio.refresh_from_db()
    assert (envio.estado, envio.wamid, envio.entregado_en) == (EstadoEnvio.FALLIDO, None, None)


def test_referencia__otro_telefono_con_los_mismos_ultimos_digitos_no_coincide(t0):
    envio = envio_en(EstadoEnvio.ENVIANDO, wamid=None)
    otro = "52" + "33" + DIGITOS[-8:]  # same last 8 digits, another city

    aplicar([estado(SENT, t0, referencia=referencia_de(envio.pk), destinatario=otro)], "default")

    envio.refresh_from_db()
    assert (envio.estado, envio.wamid) == (EstadoEnvio.ENVIANDO, None)


@pytest.mark.django_db(transaction=True)
def test_receptor_con_error_de_base_de_datos__no_pierde_el_evento(t0):
    def receptor(sender, mensaje, **kwargs):
        Mensaje.objects.create(direccion="entrante", wamid=mensaje.wamid)  # IntegrityError

    signals.mensaje_recibido.connect(receptor)
    try:
        aplicados = aplicar([mensaje("Hola", t0)], "default")
    finally:
        signals.mensaje_recibido.disconnect(receptor)

    assert (aplicados.mensajes, aplicados.errores) == (1, 0)
    assert Mensaje.objects.filter(wamid="wamid.entrante.1").count() == 1


def test_preferencia__stop_de_marketing_no_detiene_los_avisos_de_servicio(wa_settings, t0):
    wa_settings(REQUIRE_CONSENT=True)
    otorgar_consentimiento("+52 55 1234 5678")

    aplicar([preferencia("stop", t0)], "default")

    assert por_categoria() == {"utility": "otorgado", "marketing": "revocado"}
    aviso = enviar_plantilla("+52 55 1234 5678", "vehiculo_listo_cliente", variables=[])
    assert (aviso.estado, aviso.motivo) == (EstadoEnvio.PENDIENTE, "")
    oferta = enviar_plantilla("+52 55 1234 5678", "promocion", variables=[], categoria="marketing")
    assert (oferta.estado, oferta.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)


def test_preferencia__resume_no_otorga_el_servicio(t0):
    revocar_consentimiento("+52 55 1234 5678", evidencia="Lo pidió por teléfono", fecha=t0)

    aplicar([preferencia("resume", t0 + timedelta(minutes=1))], "default")

    assert por_categoria() == {"utility": "revocado", "marketing": "otorgado"}


# -- values longer (or larger) than their column -----------------------------------------

LARGO = "wamid." + "A" * 194  # 200 characters: more than the 128 of the wamid columns


@pytest.mark.parametrize(
    "wamid",
    [
        pytest.param(LARGO, id="200-caracteres"),
        pytest.param("wamid." + "ñ" * 300, id="306-caracteres-no-ascii"),
    ],
)
def test_mensaje__wamid_mas_largo_que_la_columna_reentregado_no_se_duplica(recibidos, t0, wamid):
    primera = aplicar([mensaje("Hola", t0, wamid=wamid)], "default")
    segunda = aplicar([mensaje("Hola", t0, wamid=wamid)], "default")

    fila = Mensaje.objects.get()
    assert len(fila.wamid) <= Mensaje._meta.get_field("wamid").max_length
    assert (primera.mensajes, primera.errores) == (1, 0)
    assert (segunda.mensajes, segunda.errores) == (0, 0)
    assert len(recibidos) == 1


def test_mensaje__wamids_largos_con_el_mismo_principio_son_dos_mensajes(t0):
    comun = "wamid." + "B" * 150  # equal beyond the column's 128 characters

    aplicados = aplicar(
        [mensaje("uno", t0, wamid=comun + "1"), mensaje("dos", t0, wamid=comun + "2")], "default"
    )

    assert (aplicados.mensajes, aplicados.errores) == (2, 0)
    assert sorted(Mensaje.objects.values_list("texto", flat=True)) == ["dos", "uno"]


def test_mensaje__contexto_largo_enlaza_el_envio_guardado_con_el_mismo_wamid(t0):
    # The envío's wamid went through the same rule when the worker stored it.
    from whatsapp_notify.limits import id_a_la_medida

    envio = envio_en("leido", wamid=id_a_la_medida(EnvioWhatsApp, "wamid", LARGO))

    aplicar([mensaje("Sí", t0, contexto_wamid=LARGO)], "default")

    fila = Mensaje.objects.get()
    assert fila.envio == envio
    assert fila.contexto_wamid == envio.wamid


def test_estado__wamid_largo_asienta_el_envio_y_se_repite_sin_cambios(cambios, t0):
    envio = envio_en("enviando", wamid=None)
    evento = estado(SENT, t0, wamid=LARGO, referencia=referencia_de(envio.pk), destinatario=WA_ID)

    primera = aplicar([evento], "default")
    segunda = aplicar([estado(DELIVERED, t0, wamid=LARGO)], "default")

    guardado = leer(envio)
    assert (primera.errores, segunda.errores) == (0, 0)
    assert (primera.estados, segunda.estados) == (1, 1)
    assert guardado.estado == EstadoEnvio.ENTREGADO
    assert len(guardado.wamid) <= EnvioWhatsApp._meta.get_field("wamid").max_length
    assert cambios == [
        (envio.pk, "enviando", "enviado"),
        (envio.pk, "enviado", "entregado"),
    ]


@pytest.mark.parametrize(
    ("codigo", "guardado"),
    [
        pytest.param(2**31 - 1, 2**31 - 1, id="maximo-entero-se-guarda"),
        pytest.param(-(2**31), -(2**31), id="minimo-entero-se-guarda"),
        pytest.param(2**31, None, id="uno-mas-que-el-maximo"),
        pytest.param(99_999_999_999, None, id="once-digitos"),
        pytest.param(-(2**31) - 1, None, id="uno-menos-que-el-minimo"),
        pytest.param(2**70, None, id="mas-que-64-bits"),
    ],
)
def test_estado__codigo_de_error_fuera_del_rango_queda_legible_en_el_detalle(t0, codigo, guardado):
    envio = envio_en("enviado")
    error = ErrorProveedor(codigo, "T" * 400, "", "Algo pasó.")

    aplicados = aplicar([estado(FAILED, t0, errores=(error,))], "default")

    fila = leer(envio)
    assert (aplicados.estados, aplicados.errores) == (1, 0)
    assert fila.estado == EstadoEnvio.FALLIDO
    assert fila.error_codigo == guardado
    if guardado is None:  # no column for the code: the text carries it
        assert fila.error_detalle == describe_error(codigo, "Algo pasó.")
    else:
        assert fila.error_detalle == "Algo pasó."
    assert f"(#{codigo})" in fila.error_legible()
    assert len(fila.error_titulo) == EnvioWhatsApp._meta.get_field("error_titulo").max_length


def test_descargar_media__la_ruta_de_antes_sigue_funcionando():
    # whatsapp_notify.receivers.descargar_media was the documented path before inbound/.
    from whatsapp_notify import receivers
    from whatsapp_notify.inbound import media

    assert receivers.descargar_media is media.descargar_media
    assert receivers.MediaInvalido is media.MediaInvalido
