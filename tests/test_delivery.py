"""The worker side (``delivery``): claim, call the backend, classify the outcome, record it.

Most tests script the provider's answers with ``tests.backends_scripted``; the last
section runs the same pipeline through the Meta backend with HTTP mocked by ``responses``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
import responses
from django.core import mail
from django.utils import timezone

from tests.openapi import validating_callback
from whatsapp_notify import (
    enviar_plantilla,
    enviar_texto,
    otorgar_consentimiento,
    revocar_consentimiento,
    signals,
    tasks,
)
from whatsapp_notify.backends.meta import errors as meta_errors
from whatsapp_notify.backends.meta.errors import classify
from whatsapp_notify.exceptions import (
    AmbiguousError,
    ConfigurationError,
    MessageError,
    TransientError,
)
from whatsapp_notify.models import (
    Direccion,
    EnvioWhatsApp,
    EstadoCuenta,
    EstadoEnvio,
    MediaSubido,
    Mensaje,
)
from whatsapp_notify.outbound import delivery
from whatsapp_notify.outbound.delivery import Resultado
from whatsapp_notify.references import referencia_de

SCRIPTED = "tests.backends_scripted.ScriptedBackend"
TELEFONO = "+52 55 1234 5678"
OTRO_TELEFONO = "+52 33 1234 5678"

pytestmark = pytest.mark.django_db


@pytest.fixture
def cambios():
    """Every ``envio_estado_cambiado`` sent during the test, as (envío id, anterior, estado)."""
    recibidos = []

    def receptor(sender, envio, estado_anterior, estado, **kwargs):
        recibidos.append((envio.pk, estado_anterior, estado, envio.intentos))

    signals.envio_estado_cambiado.connect(receptor)
    yield recibidos
    signals.envio_estado_cambiado.disconnect(receptor)


@pytest.fixture
def pausas():
    """Every ``cuenta_pausada`` signal sent during the test, as (cuenta, error)."""
    recibidas = []

    def receptor(sender, cuenta, error, **kwargs):
        recibidas.append((cuenta, error))

    signals.cuenta_pausada.connect(receptor)
    yield recibidas
    signals.cuenta_pausada.disconnect(receptor)


def nuevo_envio(telefono: str = TELEFONO, **opciones) -> EnvioWhatsApp:
    return enviar_plantilla(
        telefono, "vehiculo_listo_cliente", variables=["Ana", "Mazda 3", "OT-42"], **opciones
    )


def hacer_debido(envio: EnvioWhatsApp) -> None:
    """Move the next attempt of ``envio`` to the past (instead of waiting for it)."""
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(
        proximo_intento=timezone.now() - timedelta(seconds=1)
    )


def leer(envio: EnvioWhatsApp) -> EnvioWhatsApp:
    return EnvioWhatsApp.objects.get(pk=envio.pk)


def webhooks_al_dia(cuenta: str = "default") -> EnvioWhatsApp:
    """A send of ``cuenta`` accepted now whose status came back: its webhooks are current."""
    ahora = timezone.now()
    return EnvioWhatsApp.objects.create(
        telefono="525599999999",
        clase="texto",
        cuenta=cuenta,
        estado=EstadoEnvio.ENVIADO,
        wamid=f"wamid.al-dia.{cuenta}.{ahora.timestamp()}",
        enviado_en=ahora,
        confirmado_en=ahora,
    )


# -- success -------------------------------------------------------------------------------


def test_entregar__exito_marca_enviado_con_wamid(guion):
    envio = nuevo_envio()
    antes = timezone.now()

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.ENVIADO
    assert envio.estado == EstadoEnvio.ENVIADO
    assert envio.wamid.startswith("wamid.scripted.")
    assert envio.wa_id == "525512345678"
    assert envio.enviado_en >= antes
    assert envio.intentos == 1
    assert envio.proximo_intento is None
    assert (envio.error_codigo, envio.error_detalle) == (None, "")


def test_entregar__la_referencia_del_proveedor_es_el_id_del_envio(guion):
    envio = nuevo_envio()

    delivery.entregar(envio.pk)

    [llamada] = guion.llamadas
    assert llamada.referencia == referencia_de(envio.pk)
    assert llamada.telefono == "525512345678"
    assert llamada.contenido.nombre == "vehiculo_listo_cliente"
    assert llamada.contenido.variables == ["Ana", "Mazda 3", "OT-42"]


def test_entregar__reconstruye_el_documento_desde_la_fila(guion):
    pdf = b"%PDF-1.4 cotizacion"
    envio = nuevo_envio(documento=pdf, nombre_documento="cotizacion.pdf")

    delivery.entregar(envio.pk)

    documento = guion.llamadas[0].contenido.documento
    assert (documento.contenido, documento.nombre, documento.mime) == (
        pdf,
        "cotizacion.pdf",
        "application/pdf",
    )


def test_entregar__exito_emite_senal_de_cambio_de_estado(guion, cambios):
    envio = nuevo_envio()

    delivery.entregar(envio.pk)

    assert cambios == [(envio.pk, EstadoEnvio.ENVIANDO, EstadoEnvio.ENVIADO, 1)]


def test_entregar__un_receptor_que_falla_no_rompe_la_entrega(guion):
    def receptor_roto(sender, **kwargs):
        raise RuntimeError("receptor roto")

    signals.envio_estado_cambiado.connect(receptor_roto)
    try:
        envio = nuevo_envio()
        intento = delivery.entregar(envio.pk)
    finally:
        signals.envio_estado_cambiado.disconnect(receptor_roto)

    assert intento.resultado == Resultado.ENVIADO
    assert leer(envio).estado == EstadoEnvio.ENVIADO


# -- claim ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "estado",
    [
        EstadoEnvio.PROGRAMADO,
        EstadoEnvio.ENVIANDO,
        EstadoEnvio.INCIERTO,
        EstadoEnvio.ENVIADO,
        EstadoEnvio.ENTREGADO,
        EstadoEnvio.FALLIDO,
        EstadoEnvio.OMITIDO,
        EstadoEnvio.CANCELADO,
    ],
    ids=str,
)
def test_entregar__envio_no_pendiente_no_hace_nada(guion, estado):
    envio = nuevo_envio()
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(estado=estado)

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.IGNORADO
    assert (envio.estado, envio.intentos) == (estado, 0)
    assert guion.llamadas == []


def test_entregar__envio_aun_no_debido_no_hace_nada(guion):
    envio = nuevo_envio()
    futuro = timezone.now() + timedelta(minutes=5)
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(proximo_intento=futuro)

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.IGNORADO
    assert (envio.estado, envio.intentos, envio.proximo_intento) == (
        EstadoEnvio.PENDIENTE,
        0,
        futuro,
    )
    assert guion.llamadas == []


def test_entregar__envio_inexistente_no_hace_nada(guion):
    assert delivery.entregar(987654).resultado == Resultado.IGNORADO
    assert guion.llamadas == []


def test_entregar__segunda_llamada_tras_el_exito_no_reenvia(guion):
    envio = nuevo_envio()
    delivery.entregar(envio.pk)
    wamid = leer(envio).wamid

    segundo = delivery.entregar(envio.pk)

    assert segundo.resultado == Resultado.IGNORADO
    assert len(guion.llamadas) == 1
    assert (leer(envio).wamid, leer(envio).intentos) == (wamid, 1)


def test_reclamar__solo_el_primero_gana(guion):
    envio = nuevo_envio()

    assert delivery.reclamar(envio.pk) is True
    assert delivery.reclamar(envio.pk) is False
    envio = leer(envio)
    assert (envio.estado, envio.intentos) == (EstadoEnvio.ENVIANDO, 1)
    assert envio.reclamado_en is not None


# -- a status webhook that settled the envío first (statuses only move forward) -----------


def test_entregar__no_retrocede_un_envio_que_el_webhook_ya_entrego(guion):
    envio = nuevo_envio()

    def webhook_llega_antes(salida):
        EnvioWhatsApp.objects.filter(pk=envio.pk).update(
            estado=EstadoEnvio.ENTREGADO, wamid="wamid.webhook", entregado_en=timezone.now()
        )
        return "ok"

    guion.guion.append(webhook_llega_antes)

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.ENVIADO
    assert (envio.estado, envio.wamid) == (EstadoEnvio.ENTREGADO, "wamid.webhook")


def test_entregar__completa_el_wamid_que_el_webhook_no_guardo(guion):
    envio = nuevo_envio()

    def webhook_sin_wamid(salida):
        EnvioWhatsApp.objects.filter(pk=envio.pk).update(estado=EstadoEnvio.ENTREGADO)
        return "ok"

    guion.guion.append(webhook_sin_wamid)

    delivery.entregar(envio.pk)

    envio = leer(envio)
    assert envio.estado == EstadoEnvio.ENTREGADO
    assert envio.wamid.startswith("wamid.scripted.")


def test_entregar__la_copia_anterior_asienta_el_envio_en_pleno_reenvio_y_queda_duplicado(guion):
    from whatsapp_notify.events import SENT, EventoEstado
    from whatsapp_notify.inbound.apply import aplicar

    envio = nuevo_envio()
    duplicados = []
    signals.envio_duplicado.connect(
        receptor := lambda sender, envio, wamid, **kw: duplicados.append(wamid)
    )

    def llega_el_estado_de_la_primera_copia(salida):
        # The first attempt's copy reached the customer; its status lands mid-request.
        evento = EventoEstado(
            wamid="wamid.primera",
            estado=SENT,
            referencia=salida.referencia,
            destinatario="5215512345678",
        )
        aplicar([evento], "default")
        return "ok"

    guion.guion.append(llega_el_estado_de_la_primera_copia)
    try:
        delivery.entregar(envio.pk)
    finally:
        signals.envio_duplicado.disconnect(receptor)

    envio = leer(envio)
    assert len(guion.llamadas) == 1
    assert (envio.estado, envio.wamid) == (EstadoEnvio.ENVIADO, "wamid.primera")
    assert envio.duplicado is True
    assert envio.wamids_duplicados == duplicados
    assert [wamid.startswith("wamid.scripted.") for wamid in duplicados] == [True]


# -- transient errors and backoff ----------------------------------------------------------


def test_entregar__error_transitorio_vuelve_a_pendiente_con_backoff(guion, wa_settings):
    wa_settings(RETRY_BACKOFF=30, RETRY_BACKOFF_MAX=3600)
    guion.guion.append(classify(131000, http_status=500, detail="Something went wrong"))
    envio = nuevo_envio()
    antes = timezone.now()

    intento = delivery.entregar(envio.pk)

    despues = timezone.now()
    envio = leer(envio)
    assert intento.resultado == Resultado.REINTENTO
    assert intento.proximo_intento == envio.proximo_intento
    assert envio.estado == EstadoEnvio.PENDIENTE
    assert envio.intentos == 1
    assert antes + timedelta(seconds=15) <= envio.proximo_intento <= despues + timedelta(seconds=30)
    assert envio.error_codigo == 131000
    assert envio.error_legible().startswith("(#131000) ")
    assert envio.reclamado_en is None


def test_entregar__reintento_debido_se_envia_y_limpia_el_error(guion):
    guion.guion.extend([TransientError(detail="HTTP 503"), "ok"])
    envio = nuevo_envio()
    delivery.entregar(envio.pk)
    hacer_debido(envio)

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.ENVIADO
    assert (envio.estado, envio.intentos) == (EstadoEnvio.ENVIADO, 2)
    assert (envio.error_codigo, envio.error_detalle, envio.proximo_intento) == (None, "", None)
    assert len(guion.llamadas) == 2


@pytest.mark.parametrize(
    "error",
    [
        classify(1, http_status=500),
        classify(2, http_status=503),
        classify(4, http_status=400),
        classify(130429, http_status=400),
        classify(131016, http_status=500),
        classify(133004, http_status=503),
        classify(None, http_status=502),
        classify(None, http_status=429),
        TransientError("Connection refused"),
    ],
    ids=["1", "2", "4", "130429", "131016", "133004", "http502", "http429", "conexion"],
)
def test_entregar__errores_transitorios_se_reintentan(guion, error):
    guion.guion.append(error)
    envio = nuevo_envio()

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.REINTENTO
    assert (envio.estado, envio.intentos) == (EstadoEnvio.PENDIENTE, 1)
    assert envio.proximo_intento > timezone.now()
    assert envio.error_codigo == error.code


def test_entregar__error_inesperado_se_reintenta_como_transitorio(guion):
    guion.guion.append(RuntimeError("fallo del backend"))
    envio = nuevo_envio()

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.REINTENTO
    assert envio.estado == EstadoEnvio.PENDIENTE
    assert (envio.error_codigo, envio.error_detalle) == (None, "fallo del backend")


@pytest.mark.parametrize(
    ("intento", "minimo", "maximo"),
    [(1, 15, 30), (2, 30, 60), (3, 60, 120), (7, 960, 1920), (8, 1800, 3600), (40, 1800, 3600)],
    ids=["1", "2", "3", "7", "8-tope", "40-tope"],
)
def test_backoff__exponencial_con_jitter_y_tope(wa_settings, intento, minimo, maximo):
    wa_settings(RETRY_BACKOFF=30, RETRY_BACKOFF_MAX=3600)

    esperas = [delivery.backoff(intento) for _ in range(200)]

    assert all(minimo <= espera <= maximo for espera in esperas)
    assert len(set(esperas)) > 1  # jitter: workers retrying together spread out


def test_backoff__nunca_decrece_con_los_intentos(wa_settings):
    wa_settings(RETRY_BACKOFF=30, RETRY_BACKOFF_MAX=3600)

    # Below the cap, attempt n+1 waits at least what attempt n waited at most.
    esperas = [delivery.backoff(intento) for intento in range(1, 8)]

    assert esperas == sorted(esperas)


def test_entregar__al_llegar_a_max_attempts_falla_con_el_codigo(guion, wa_settings):
    wa_settings(MAX_ATTEMPTS=3)
    guion.guion.extend([classify(131000, http_status=500)] * 3)
    envio = nuevo_envio()

    resultados = [delivery.entregar(envio.pk).resultado]
    for _ in range(2):
        hacer_debido(envio)
        resultados.append(delivery.entregar(envio.pk).resultado)

    envio = leer(envio)
    assert resultados == [Resultado.REINTENTO, Resultado.REINTENTO, Resultado.FALLIDO]
    assert (envio.estado, envio.intentos, envio.error_codigo) == (EstadoEnvio.FALLIDO, 3, 131000)
    assert envio.error_legible().startswith("(#131000) ")
    assert envio.fallido_en is not None
    assert envio.proximo_intento is None
    assert delivery.entregar(envio.pk).resultado == Resultado.IGNORADO
    assert len(guion.llamadas) == 3


# -- permanent errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codigo", "frase"),
    [
        (132000, "El número de variables no coincide con la plantilla."),
        (132001, "La plantilla no existe en ese idioma o no está aprobada."),
        (131026, "No se pudo entregar: el número no usa WhatsApp"),
        (131047, "Pasaron más de 24 horas"),
        (100, "Parámetro inválido en la solicitud."),
    ],
    ids=["132000", "132001", "131026", "131047", "100"],
)
def test_entregar__error_permanente_falla_al_primer_intento(guion, cambios, codigo, frase):
    guion.guion.append(classify(codigo, http_status=400, detail="detalle de Meta"))
    envio = nuevo_envio()

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.FALLIDO
    assert (envio.estado, envio.intentos, envio.error_codigo) == (EstadoEnvio.FALLIDO, 1, codigo)
    assert envio.error_detalle == "detalle de Meta"  # the provider's words, as evidence
    # Explained when read, by a Meta account's table (this account's backend is scripted).
    assert meta_errors.describe_error(codigo, envio.error_detalle).startswith(
        f"(#{codigo}) {frase}"
    )
    assert envio.error_legible() == f"(#{codigo}) detalle de Meta"
    assert envio.fallido_en is not None
    assert len(guion.llamadas) == 1
    assert cambios == [(envio.pk, EstadoEnvio.ENVIANDO, EstadoEnvio.FALLIDO, 1)]


def test_entregar__mensaje_imposible_de_construir_falla(guion):
    guion.guion.append(MessageError("Tipo de contenido no soportado."))
    envio = nuevo_envio()

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.FALLIDO
    assert (envio.estado, envio.error_codigo) == (EstadoEnvio.FALLIDO, None)
    assert envio.error_detalle == "Tipo de contenido no soportado."


# -- pair rate (131056) --------------------------------------------------------------------


def test_entregar__limite_por_destinatario_espera_4_a_la_n(guion):
    guion.guion.extend([classify(131056, http_status=400), classify(131056, http_status=400)])
    envio = nuevo_envio()

    esperas = []
    for _ in range(2):
        antes = timezone.now()
        intento = delivery.entregar(envio.pk)
        despues = timezone.now()
        assert intento.resultado == Resultado.REINTENTO
        proximo = leer(envio).proximo_intento
        esperas.append((proximo - despues, proximo - antes))
        hacer_debido(envio)

    envio = leer(envio)
    assert envio.estado == EstadoEnvio.PENDIENTE
    assert envio.error_codigo == 131056
    for n, (minima, maxima) in enumerate(esperas, start=1):
        assert minima <= timedelta(seconds=4**n) <= maxima


def test_entregar__limite_por_destinatario_no_frena_a_otros(guion):
    guion.guion.append(classify(131056, http_status=400))
    a_ana = nuevo_envio(TELEFONO)
    a_luis = nuevo_envio(OTRO_TELEFONO)

    assert delivery.entregar(a_ana.pk).resultado == Resultado.REINTENTO
    assert delivery.entregar(a_luis.pk).resultado == Resultado.ENVIADO

    assert leer(a_ana).estado == EstadoEnvio.PENDIENTE
    assert leer(a_luis).estado == EstadoEnvio.ENVIADO


# -- auth / configuration errors: pause the account ---------------------------------------


def test_entregar__token_expirado_pausa_la_cuenta_sin_gastar_intentos(guion, pausas, cambios):
    guion.guion.append(classify(190, http_status=401, detail="Session has expired"))
    envio = nuevo_envio()

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    estado = EstadoCuenta.objects.get(cuenta="default")
    assert intento.resultado == Resultado.PAUSADA
    assert (envio.estado, envio.intentos, envio.error_codigo) == (EstadoEnvio.PENDIENTE, 0, 190)
    assert envio.proximo_intento is None
    assert (estado.pausada, estado.error_codigo) == (True, 190)
    assert estado.error_legible().startswith("(#190) ")
    assert meta_errors.describe_error(190).startswith("(#190) El token de acceso expiró")
    assert [cuenta for cuenta, _ in pausas] == ["default"]
    assert cambios == [(envio.pk, EstadoEnvio.ENVIANDO, EstadoEnvio.PENDIENTE, 0)]


def test_entregar__el_correo_de_la_pausa_que_no_sale_no_detiene_al_worker(
    guion, pausas, settings, caplog
):
    settings.EMAIL_BACKEND = "tests.test_admin_mail.CorreoCaido"
    guion.guion.append(classify(190, http_status=401))
    envio = nuevo_envio()

    assert delivery.entregar(envio.pk).resultado == Resultado.PAUSADA

    assert EstadoCuenta.objects.get(cuenta="default").pausada is True
    assert leer(envio).estado == EstadoEnvio.PENDIENTE
    assert [cuenta for cuenta, _ in pausas] == ["default"]
    assert "No se pudo enviar a ADMINS" in caplog.text


def test_entregar__varios_envios_con_190_alertan_una_sola_vez(guion, pausas):
    primero, segundo, tercero = nuevo_envio(), nuevo_envio(OTRO_TELEFONO), nuevo_envio()
    token_expirado = classify(190, http_status=401)

    def otro_worker_tambien_recibe_190(salida):
        # A second worker took its envío before the account was paused.
        delivery.entregar(segundo.pk)
        return token_expirado

    guion.guion.extend([otro_worker_tambien_recibe_190, token_expirado])

    assert delivery.entregar(primero.pk).resultado == Resultado.PAUSADA
    assert delivery.entregar(tercero.pk).resultado == Resultado.PAUSADA

    assert len(guion.llamadas) == 2  # the third envío never reached the provider
    assert len(mail.outbox) == 1
    assert "'default'" in mail.outbox[0].subject
    assert "(#190)" in mail.outbox[0].body
    assert len(pausas) == 1
    for envio in (primero, segundo, tercero):
        envio = leer(envio)
        assert (envio.estado, envio.intentos) == (EstadoEnvio.PENDIENTE, 0)


def test_entregar__cuenta_pausada_no_afecta_a_otra_cuenta(guion):
    guion.guion.append(classify(190, http_status=401))
    delivery.entregar(nuevo_envio().pk)
    de_otra = nuevo_envio(cuenta="otra")

    intento = delivery.entregar(de_otra.pk)

    assert intento.resultado == Resultado.ENVIADO
    assert leer(de_otra).estado == EstadoEnvio.ENVIADO
    assert [llamada.cuenta for llamada in guion.llamadas] == ["default", "otra"]


def test_entregar__error_de_configuracion_del_backend_pausa_la_cuenta(guion, wa_settings, pausas):
    wa_settings(BACKENDS={"default": {"BACKEND": SCRIPTED, "OPTIONS": {"NO_EXISTE": 1}}})
    envio = nuevo_envio()

    intento = delivery.entregar(envio.pk)
    segundo = delivery.entregar(nuevo_envio(OTRO_TELEFONO).pk)

    envio = leer(envio)
    assert (intento.resultado, segundo.resultado) == (Resultado.PAUSADA, Resultado.PAUSADA)
    assert (envio.estado, envio.intentos) == (EstadoEnvio.PENDIENTE, 0)
    assert "NO_EXISTE" in envio.error_detalle
    assert EstadoCuenta.objects.get(cuenta="default").pausada
    assert len(mail.outbox) == 1
    assert [type(error) for _, error in pausas] == [ConfigurationError]


def test_entregar__configuration_error_en_deliver_pausa_la_cuenta(guion):
    guion.guion.append(ConfigurationError('Falta WHATSAPP_NOTIFY["BACKENDS"]["default"]...'))
    envio = nuevo_envio()

    assert delivery.entregar(envio.pk).resultado == Resultado.PAUSADA
    assert leer(envio).intentos == 0
    assert delivery.cuenta_pausada("default")


def test_comprobar_cuentas_pausadas__sigue_en_pausa_si_las_credenciales_fallan(guion, wa_settings):
    wa_settings(PAUSE_PROBE_EVERY=0)
    guion.guion.append(classify(190, http_status=401))
    guion.verificaciones.append(classify(190, http_status=401))
    envio = nuevo_envio()
    delivery.entregar(envio.pk)

    assert delivery.comprobar_cuentas_pausadas() == []

    assert EstadoCuenta.objects.get(cuenta="default").pausada
    assert delivery.entregar(envio.pk).resultado == Resultado.PAUSADA
    assert len(guion.llamadas) == 1
    assert len(mail.outbox) == 1


def test_comprobar_cuentas_pausadas__no_comprueba_antes_de_pause_probe_every(guion, wa_settings):
    wa_settings(PAUSE_PROBE_EVERY=300)
    guion.guion.append(classify(190, http_status=401))
    delivery.entregar(nuevo_envio().pk)

    assert delivery.comprobar_cuentas_pausadas() == []
    assert EstadoCuenta.objects.get(cuenta="default").pausada


def test_comprobar_cuentas_pausadas__reanuda_cuando_las_credenciales_funcionan(guion, wa_settings):
    wa_settings(PAUSE_PROBE_EVERY=0)
    guion.guion.append(classify(190, http_status=401))
    envio = nuevo_envio()
    delivery.entregar(envio.pk)
    reanudadas = []

    def receptor(sender, cuenta, **kwargs):
        reanudadas.append(cuenta)

    signals.cuenta_reanudada.connect(receptor)
    try:
        assert delivery.comprobar_cuentas_pausadas() == ["default"]
    finally:
        signals.cuenta_reanudada.disconnect(receptor)

    estado = EstadoCuenta.objects.get(cuenta="default")
    assert (estado.pausada, estado.error_codigo) == (False, None)
    assert estado.reanudada_en is not None
    assert estado.alertado_en is not None  # an automatic resume keeps the alert throttle
    assert reanudadas == ["default"]
    assert delivery.entregar(envio.pk).resultado == Resultado.ENVIADO
    assert leer(envio).intentos == 1


def test_pausar_cuenta__tras_reanudar_a_mano_una_nueva_pausa_vuelve_a_alertar(guion):
    delivery.pausar_cuenta("default", classify(190, http_status=401))
    delivery.reanudar_cuenta("default", manual=True)

    delivery.pausar_cuenta("default", classify(190, http_status=401))

    assert len(mail.outbox) == 2


def test_pausar_cuenta__una_cuenta_que_oscila_alerta_una_vez_por_dia(guion):
    # The probe passes (it cannot prove sending works), sending fails again: no mail storm.
    for _ in range(3):
        delivery.pausar_cuenta("default", classify(10, http_status=403))
        delivery.reanudar_cuenta("default")
    assert len(mail.outbox) == 1

    ayer = timezone.now() - delivery.ALERTA_CADA - timedelta(seconds=1)
    EstadoCuenta.objects.filter(cuenta="default").update(alertado_en=ayer)
    delivery.pausar_cuenta("default", classify(10, http_status=403))
    assert len(mail.outbox) == 2


# -- checked again when delivering ---------------------------------------------------------


def test_entregar__whatsapp_desactivado_tras_encolar_omite_sin_llamar(guion, wa_settings):
    envio = nuevo_envio()
    wa_settings(ENABLED=False)

    assert delivery.entregar(envio.pk).resultado == Resultado.OMITIDO

    envio = leer(envio)
    assert (envio.estado, envio.motivo, envio.intentos) == (EstadoEnvio.OMITIDO, "deshabilitado", 0)
    assert guion.llamadas == []


def test_entregar__texto_cuya_ventana_cerro_tras_encolar_omite_sin_llamar(guion):
    entrante = Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono="525512345678", tipo="text", texto="Hola"
    )
    envio = enviar_texto(TELEFONO, "Su vehículo está listo")
    assert envio.estado == EstadoEnvio.PENDIENTE
    Mensaje.objects.filter(pk=entrante.pk).update(fecha=timezone.now() - timedelta(hours=25))

    assert delivery.entregar(envio.pk).resultado == Resultado.OMITIDO

    assert (leer(envio).estado, leer(envio).motivo) == (EstadoEnvio.OMITIDO, "fuera_de_ventana")
    assert guion.llamadas == []


def test_entregar__consentimiento_revocado_tras_encolar_omite_sin_llamar(guion, wa_settings):
    wa_settings(REQUIRE_CONSENT=True)
    otorgar_consentimiento(TELEFONO)
    envio = nuevo_envio()
    revocar_consentimiento(TELEFONO, origen="whatsapp", evidencia="BAJA")

    assert delivery.entregar(envio.pk).resultado == Resultado.OMITIDO

    envio = leer(envio)
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, "baja")
    assert guion.llamadas == []


def test_entregar__baja_tras_encolar_omite_aunque_no_se_exija_consentimiento(guion):
    envio = nuevo_envio()
    revocar_consentimiento(TELEFONO, origen="whatsapp", evidencia="BAJA")

    assert delivery.entregar(envio.pk).resultado == Resultado.OMITIDO

    assert (leer(envio).estado, leer(envio).motivo) == (EstadoEnvio.OMITIDO, "baja")
    assert guion.llamadas == []


def test_entregar__baja_de_marketing_solo_detiene_los_envios_de_marketing(guion):
    servicio = nuevo_envio()
    promocion = nuevo_envio(categoria="marketing")
    revocar_consentimiento(TELEFONO, categoria="marketing", origen="meta")

    resultados = [delivery.entregar(e.pk).resultado for e in (servicio, promocion)]

    assert resultados == [Resultado.ENVIADO, Resultado.OMITIDO]
    assert (leer(promocion).estado, leer(promocion).motivo) == (EstadoEnvio.OMITIDO, "baja")
    assert len(guion.llamadas) == 1


# -- expiry --------------------------------------------------------------------------------


def test_entregar__vencido_se_omite_sin_llamar(guion, cambios):
    envio = nuevo_envio(expira_en=timedelta(minutes=5))
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(
        expira_en=timezone.now() - timedelta(seconds=1)
    )

    assert delivery.entregar(envio.pk).resultado == Resultado.OMITIDO

    envio = leer(envio)
    assert (envio.estado, envio.motivo, envio.intentos) == (EstadoEnvio.OMITIDO, "vencido", 0)
    assert guion.llamadas == []
    assert cambios == [(envio.pk, EstadoEnvio.PENDIENTE, EstadoEnvio.OMITIDO, 0)]


def test_entregar__antes_de_vencer_se_envia(guion):
    envio = nuevo_envio(expira_en=timedelta(minutes=5))

    assert delivery.entregar(envio.pk).resultado == Resultado.ENVIADO
    assert len(guion.llamadas) == 1


def test_envios_por_despachar__vencidos_en_espera_quedan_omitidos(guion, cambios):
    ahora = timezone.now()
    programado = nuevo_envio(
        programado_para=ahora + timedelta(hours=1), expira_en=ahora + timedelta(hours=1, minutes=5)
    )
    pendiente = nuevo_envio(expira_en=ahora + timedelta(minutes=5))
    vigente = nuevo_envio(expira_en=ahora + timedelta(hours=6))
    sin_caducidad = nuevo_envio()

    ids = delivery.envios_por_despachar(ahora + timedelta(hours=3))

    assert sorted(ids) == sorted([vigente.pk, sin_caducidad.pk])
    for envio in (programado, pendiente):
        assert (leer(envio).estado, leer(envio).motivo) == (EstadoEnvio.OMITIDO, "vencido")
    assert sorted(c[:3] for c in cambios) == sorted(
        [
            (programado.pk, EstadoEnvio.PROGRAMADO, EstadoEnvio.OMITIDO),
            (pendiente.pk, EstadoEnvio.PENDIENTE, EstadoEnvio.OMITIDO),
        ]
    )
    assert guion.llamadas == []


# -- ambiguous timeouts --------------------------------------------------------------------


def test_entregar__timeout_ambiguo_deja_el_envio_incierto(guion, wa_settings):
    wa_settings(RECONCILE_AFTER=900)
    guion.guion.append(AmbiguousError(detail="Read timed out"))
    envio = nuevo_envio()
    antes = timezone.now()

    intento = delivery.entregar(envio.pk)

    despues = timezone.now()
    envio = leer(envio)
    assert intento.resultado == Resultado.INCIERTO
    assert (envio.estado, envio.intentos) == (EstadoEnvio.INCIERTO, 1)
    reconciliar = timedelta(seconds=900)
    assert antes + reconciliar <= envio.proximo_intento <= despues + reconciliar
    assert "Read timed out" in envio.error_detalle


def test_envios_por_despachar__incierto_espera_al_webhook_y_luego_se_reenvia_una_vez(
    guion, wa_settings
):
    wa_settings(RECONCILE_AFTER=900)
    guion.guion.append(AmbiguousError(detail="Read timed out"))
    envio = nuevo_envio()
    delivery.entregar(envio.pk)
    webhooks_al_dia()
    ahora = timezone.now()

    assert delivery.envios_por_despachar(ahora + timedelta(seconds=899)) == []
    assert leer(envio).estado == EstadoEnvio.INCIERTO

    assert delivery.envios_por_despachar(ahora + timedelta(seconds=901)) == [envio.pk]
    assert leer(envio).estado == EstadoEnvio.PENDIENTE
    assert delivery.entregar(envio.pk).resultado == Resultado.ENVIADO
    assert delivery.entregar(envio.pk).resultado == Resultado.IGNORADO

    envio = leer(envio)
    assert (envio.estado, envio.intentos) == (EstadoEnvio.ENVIADO, 2)
    assert len(guion.llamadas) == 2


def test_envios_por_despachar__incierto_sin_intentos_restantes_no_se_reenvia_solo(
    guion, wa_settings
):
    wa_settings(RECONCILE_AFTER=900, MAX_ATTEMPTS=2)
    guion.guion.extend([AmbiguousError(detail="Read timed out")] * 5)
    envio = nuevo_envio()
    delivery.entregar(envio.pk)
    webhooks_al_dia()
    delivery.envios_por_despachar(timezone.now() + timedelta(seconds=901))
    assert delivery.entregar(envio.pk).resultado == Resultado.INCIERTO

    # Attempts spent: it may have gone out twice already; only an operator resends it now.
    envio = leer(envio)
    assert (envio.estado, envio.intentos, envio.proximo_intento) == (EstadoEnvio.INCIERTO, 2, None)
    assert delivery.envios_por_despachar(timezone.now() + timedelta(days=30)) == []
    assert len(guion.llamadas) == 2


@pytest.mark.parametrize(
    ("intentos", "reenviado"),
    [pytest.param(1, True, id="quedan-intentos"), pytest.param(5, False, id="sin-intentos")],
)
def test_envios_por_despachar__worker_muerto_enviando(guion, wa_settings, intentos, reenviado):
    wa_settings(RECONCILE_AFTER=900, MAX_ATTEMPTS=5)
    envio = nuevo_envio()
    hace_rato = timezone.now() - timedelta(seconds=901)
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(
        estado=EstadoEnvio.ENVIANDO, reclamado_en=hace_rato, intentos=intentos
    )
    webhooks_al_dia()

    ids = delivery.envios_por_despachar()

    envio = leer(envio)
    if reenviado:
        assert (ids, envio.estado) == ([envio.pk], EstadoEnvio.PENDIENTE)
    else:
        assert (ids, envio.estado, envio.proximo_intento) == ([], EstadoEnvio.INCIERTO, None)


# -- media cache ---------------------------------------------------------------------------


def test_db_media_cache__guarda_y_reutiliza_por_cuenta_y_hash():
    cache = delivery.DbMediaCache("default")

    cache.put("a" * 64, "media-1")
    cache.put("a" * 64, "media-2")

    assert cache.get("a" * 64) == "media-2"
    assert delivery.DbMediaCache("otra").get("a" * 64) is None
    assert MediaSubido.objects.count() == 1


def test_db_media_cache__no_reutiliza_un_id_vencido():
    cache = delivery.DbMediaCache("default")
    cache.put("b" * 64, "media-viejo")
    MediaSubido.objects.update(expira_en=timezone.now() - timedelta(seconds=1))

    assert cache.get("b" * 64) is None


# -- the same pipeline through the Meta backend (HTTP mocked with responses) --------------

META = "whatsapp_notify.backends.meta.MetaBackend"
TOKEN = "EAAG-token-de-prueba-no-real"
MENSAJES = "https://graph.facebook.com/v25.0/1234567890/messages"
NUMERO = "https://graph.facebook.com/v25.0/1234567890"


def respuesta_graph(wamid: str = "wamid.HBgLNTI1NTEyMzQ1Njc4FQIAERgS") -> dict:
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+525512345678", "wa_id": "5215512345678"}],
        "messages": [{"id": wamid}],
    }


def error_graph(code: int, message: str, details: str = "", **extra) -> dict:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCd"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": {**error, **extra}}


class GraphValidado:
    """``responses`` mock whose ``post()`` answers only bodies Meta's schema accepts."""

    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock

    def post(self, url: str, *, status: int = 200, json=None, body=None) -> None:
        respuesta = json if json is not None else body
        self.mock.add_callback(responses.POST, url, callback=validating_callback(respuesta, status))

    def __getattr__(self, nombre: str):
        return getattr(self.mock, nombre)


@pytest.fixture
def graph(wa_settings):
    """MetaBackend with fake credentials; Graph answers are registered on the mock."""
    opciones = {"PHONE_NUMBER_ID": "1234567890", "ACCESS_TOKEN": TOKEN, "TIMEOUT": 2}
    wa_settings(BACKENDS={"default": {"BACKEND": META, "OPTIONS": opciones}}, PAUSE_PROBE_EVERY=0)
    with responses.RequestsMock() as mock:
        yield GraphValidado(mock)


def cuerpo_enviado(llamada) -> dict:
    return json.loads(llamada.request.body)


def test_meta__5xx_y_luego_exito(graph):
    graph.post(MENSAJES, status=500, json=error_graph(131000, "Something went wrong"))
    graph.post(MENSAJES, status=200, json=respuesta_graph())
    envio = nuevo_envio()

    primero = delivery.entregar(envio.pk)
    assert leer(envio).error_codigo == 131000
    hacer_debido(envio)
    segundo = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert (primero.resultado, segundo.resultado) == (Resultado.REINTENTO, Resultado.ENVIADO)
    assert (envio.estado, envio.intentos) == (EstadoEnvio.ENVIADO, 2)
    assert (envio.wamid, envio.wa_id) == ("wamid.HBgLNTI1NTEyMzQ1Njc4FQIAERgS", "5215512345678")
    assert (envio.error_codigo, envio.error_detalle) == (None, "")
    assert len(graph.calls) == 2
    for llamada in graph.calls:
        cuerpo = cuerpo_enviado(llamada)
        assert cuerpo["biz_opaque_callback_data"] == referencia_de(envio.pk)
        assert cuerpo["to"] == "+525512345678"
        assert cuerpo["template"]["name"] == "vehiculo_listo_cliente"
        assert llamada.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_meta__5xx_sin_cuerpo_se_reintenta(graph):
    graph.post(MENSAJES, status=503, body="Service Unavailable")
    envio = nuevo_envio()

    assert delivery.entregar(envio.pk).resultado == Resultado.REINTENTO
    envio = leer(envio)
    assert (envio.estado, envio.error_codigo) == (EstadoEnvio.PENDIENTE, None)
    assert "503" in envio.error_detalle


def test_meta__132000_falla_con_un_motivo_legible(graph):
    graph.post(
        MENSAJES,
        status=400,
        json=error_graph(
            132000,
            "(#132000) Number of parameters does not match the expected number of params",
            "body: number of localizable_params (3) does not match the expected number (2)",
        ),
    )
    envio = nuevo_envio()

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.FALLIDO
    assert (envio.estado, envio.error_codigo) == (EstadoEnvio.FALLIDO, 132000)
    assert envio.error_detalle.startswith("body: number of localizable_params (3)")
    assert envio.error_legible().startswith(
        "(#132000) El número de variables no coincide con la plantilla."
    )
    assert "localizable_params (3)" in envio.error_legible()
    assert envio.fallido_en is not None
    assert len(graph.calls) == 1


def test_meta__token_expirado_pausa_alerta_una_vez_y_reanuda(graph):
    expirado = error_graph(
        190, "Error validating access token: Session has expired.", error_subcode=463
    )
    graph.post(MENSAJES, status=401, json=expirado)
    graph.get(NUMERO, status=401, json=expirado)
    envios = [nuevo_envio(), nuevo_envio(OTRO_TELEFONO)]

    resultados = [delivery.entregar(envio.pk).resultado for envio in envios]
    sigue = delivery.comprobar_cuentas_pausadas()

    assert resultados == [Resultado.PAUSADA, Resultado.PAUSADA]
    assert sigue == []
    assert len(graph.calls) == 2  # one send refused, one probe refused; the 2nd envío waited
    assert len(mail.outbox) == 1
    assert TOKEN not in mail.outbox[0].body
    for envio in envios:
        envio = leer(envio)
        assert (envio.estado, envio.intentos) == (EstadoEnvio.PENDIENTE, 0)
        assert TOKEN not in envio.error_detalle

    graph.get(NUMERO, json={"verified_name": "Taller", "display_phone_number": "+52 55 0000"})
    graph.post(MENSAJES, json=respuesta_graph("wamid.uno"))
    graph.post(MENSAJES, json=respuesta_graph("wamid.dos"))
    assert delivery.comprobar_cuentas_pausadas() == ["default"]
    assert tasks.despachar() == 2

    assert {leer(envio).wamid for envio in envios} == {"wamid.uno", "wamid.dos"}
    assert [leer(envio).estado for envio in envios] == [EstadoEnvio.ENVIADO] * 2


def test_meta__falta_una_opcion_pausa_la_cuenta(graph, wa_settings):
    wa_settings(BACKENDS={"default": {"BACKEND": META, "OPTIONS": {"PHONE_NUMBER_ID": "1"}}})
    envio = nuevo_envio()

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.PAUSADA
    assert (envio.estado, envio.intentos) == (EstadoEnvio.PENDIENTE, 0)
    assert "ACCESS_TOKEN" in envio.error_detalle
    assert len(mail.outbox) == 1
    assert len(graph.calls) == 0


def test_meta__timeout_de_lectura_deja_el_envio_incierto(graph, wa_settings):
    wa_settings(RECONCILE_AFTER=900)
    graph.post(MENSAJES, body=requests.ReadTimeout("Read timed out. (read timeout=2)"))
    envio = nuevo_envio()

    intento = delivery.entregar(envio.pk)

    envio = leer(envio)
    assert intento.resultado == Resultado.INCIERTO
    assert envio.estado == EstadoEnvio.INCIERTO
    assert envio.proximo_intento > timezone.now() + timedelta(seconds=890)
    assert delivery.envios_por_despachar() == []
    assert len(graph.calls) == 1


def test_entregar__plantilla_pausada_tras_encolar_omite_sin_llamar(guion):
    from whatsapp_notify.models import Plantilla

    fila = Plantilla.objects.create(
        nombre="vehiculo_listo_cliente", idioma="es_MX", estado="APPROVED"
    )
    envio = nuevo_envio()
    Plantilla.objects.filter(pk=fila.pk).update(estado="PAUSED")  # quality drop, via webhook

    assert delivery.entregar(envio.pk).resultado == Resultado.OMITIDO

    envio = leer(envio)
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, "plantilla_no_aprobada")
    assert guion.llamadas == []


# -- an account without its credentials (a fresh project) ------------------------------------


@pytest.mark.parametrize(
    "opciones",
    [
        pytest.param({}, id="ninguna"),
        pytest.param({"PHONE_NUMBER_ID": "1234567890", "ACCESS_TOKEN": ""}, id="token-vacio"),
        pytest.param({"PHONE_NUMBER_ID": None, "ACCESS_TOKEN": None}, id="env-sin-definir"),
    ],
)
def test_entregar__cuenta_sin_credenciales_pausa_sin_gastar_envios(
    wa_settings, pausas, django_capture_on_commit_callbacks, opciones
):
    wa_settings(BACKENDS={"default": {"BACKEND": META, "OPTIONS": opciones}})
    with responses.RequestsMock() as mock:  # nothing may reach the network
        # Eager Celery: the envío is delivered when the caller's transaction commits.
        with django_capture_on_commit_callbacks(execute=True):
            primero = nuevo_envio()
        with django_capture_on_commit_callbacks(execute=True):
            segundo = nuevo_envio(OTRO_TELEFONO)
        assert len(mock.calls) == 0

    for envio in (primero, segundo):
        envio = leer(envio)
        assert (envio.estado, envio.intentos, envio.fallido_en) == (EstadoEnvio.PENDIENTE, 0, None)
    estado = EstadoCuenta.objects.get(cuenta="default")
    assert estado.pausada
    assert estado.error_detalle.startswith('Falta WHATSAPP_NOTIFY["BACKENDS"]["default"]')
    assert len(mail.outbox) == 1  # the admins are told once, not per envío
    assert "pausada" in mail.outbox[0].subject
    assert [type(error) for _, error in pausas] == [ConfigurationError]


def test_entregar__credenciales_puestas_despues__el_envio_en_espera_sale(wa_settings, pausas):
    wa_settings(BACKENDS={"default": {"BACKEND": META, "OPTIONS": {}}}, PAUSE_PROBE_EVERY=0)
    envio = nuevo_envio()
    assert delivery.entregar(envio.pk).resultado == Resultado.PAUSADA
    opciones = {"PHONE_NUMBER_ID": "1234567890", "ACCESS_TOKEN": TOKEN}
    wa_settings(BACKENDS={"default": {"BACKEND": META, "OPTIONS": opciones}})

    with responses.RequestsMock() as mock:
        mock.get(
            "https://graph.facebook.com/v25.0/1234567890",
            json={"id": "1234567890", "display_phone_number": "+52 55 0000 0000"},
        )
        graph = GraphValidado(mock)
        graph.post(MENSAJES, json=respuesta_graph())
        assert delivery.comprobar_cuentas_pausadas() == ["default"]
        assert delivery.entregar(envio.pk).resultado == Resultado.ENVIADO

    envio = leer(envio)
    assert (envio.estado, envio.intentos) == (EstadoEnvio.ENVIADO, 1)
    assert not EstadoCuenta.objects.get(cuenta="default").pausada
