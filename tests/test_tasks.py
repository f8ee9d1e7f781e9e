"""The Celery side (``tasks``): enqueue on commit, retries, Beat's re-dispatch, paused accounts.

Celery runs eagerly here (tests.settings); ``test_worker_redis.py`` runs a real worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from tests.celery_app import app as celery_app
from tests.celery_app import con_broker
from tests.test_delivery import webhooks_al_dia
from whatsapp_notify import enviar_plantilla, tasks
from whatsapp_notify.backends.meta.errors import classify
from whatsapp_notify.exceptions import AmbiguousError, TransientError
from whatsapp_notify.inbound import store
from whatsapp_notify.models import EnvioWhatsApp, EstadoCuenta, EstadoEnvio, EventoWebhook, Mensaje
from whatsapp_notify.outbound import delivery
from whatsapp_notify.references import referencia_de

TELEFONO = "+52 55 1234 5678"
OTRO_TELEFONO = "+52 33 1234 5678"

pytestmark = pytest.mark.django_db


def nuevo_envio(telefono: str = TELEFONO, **opciones) -> EnvioWhatsApp:
    """An envío whose task was never published: the test's transaction never commits, as
    if the process died right after the ERP's COMMIT (the row says when it was recorded)."""
    envio = enviar_plantilla(
        telefono, "vehiculo_listo_cliente", variables=["Ana", "Mazda 3", "OT-42"], **opciones
    )
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(despachado_en=None)
    return envio


def leer(envio: EnvioWhatsApp) -> EnvioWhatsApp:
    return EnvioWhatsApp.objects.get(pk=envio.pk)


def actualizar(envio: EnvioWhatsApp, **campos) -> None:
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(**campos)


def hace(segundos: float):
    return timezone.now() - timedelta(seconds=segundos)


# -- the outbox: enqueue on commit ---------------------------------------------------------


def test_enviar_plantilla__encola_solo_al_confirmar_la_transaccion(
    guion, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        envio = enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", variables=["Ana", "M", "O"])
        assert guion.llamadas == []  # nothing leaves from inside the caller's transaction
        assert leer(envio).estado == EstadoEnvio.PENDIENTE

    envio = leer(envio)
    assert len(callbacks) == 1
    assert envio.estado == EstadoEnvio.ENVIADO
    assert envio.despachado_en is not None
    assert [llamada.referencia for llamada in guion.llamadas] == [referencia_de(envio.pk)]


def test_encolar__broker_caido_no_pierde_el_envio(guion, caplog):
    envio = nuevo_envio()

    with con_broker("redis://127.0.0.1:1/0"):
        encolado = tasks.encolar(envio.pk)

    assert encolado is False
    assert (leer(envio).estado, leer(envio).despachado_en) == (EstadoEnvio.PENDIENTE, None)
    assert "Beat lo reintentará" in caplog.text
    # Beat's next run, with the broker back (eager here), sends it.
    tasks._broker.reiniciar()
    assert tasks.despachar() == 1
    assert leer(envio).estado == EstadoEnvio.ENVIADO


def test_encolar__tras_un_fallo_del_broker_no_vuelve_a_intentarlo_por_un_rato(guion, monkeypatch):
    primero, segundo = nuevo_envio(), nuevo_envio("+52 55 8765 4321")
    with con_broker("redis://127.0.0.1:1/0"):
        assert tasks.encolar(primero.pk) is False
        publicados = []
        monkeypatch.setattr(tasks.enviar_envio, "apply_async", lambda *a, **k: publicados.append(a))
        # Within the pause the ERP's request does not wait for the dead broker again.
        assert tasks.encolar(segundo.pk) is False
        assert publicados == []
        assert leer(segundo).despachado_en is None

        tasks._broker.reiniciar()
        assert tasks.encolar(segundo.pk) is True
        assert publicados == [((segundo.pk,),)]


def test_encolar__con_eta_en_modo_eager_deja_el_envio_a_beat(guion):
    envio = nuevo_envio()
    actualizar(envio, despachado_en=timezone.now())

    assert tasks.encolar(envio.pk, eta=timezone.now() + timedelta(minutes=1)) is True

    envio = leer(envio)
    assert (envio.estado, envio.despachado_en) == (EstadoEnvio.PENDIENTE, None)
    assert guion.llamadas == []


# -- the delivery task ---------------------------------------------------------------------


def test_enviar_envio__devuelve_el_resultado(guion):
    envio = nuevo_envio()

    assert tasks.enviar_envio.delay(envio.pk).get() == "enviado"
    assert tasks.enviar_envio.delay(envio.pk).get() == "ignorado"
    assert len(guion.llamadas) == 1


def test_enviar_envio__reintento_lo_recoge_beat_cuando_vence(guion):
    guion.guion.append(TransientError(detail="HTTP 503"))
    envio = nuevo_envio()

    assert tasks.enviar_envio.delay(envio.pk).get() == "reintento"
    assert tasks.despachar() == 0  # not due yet

    actualizar(envio, proximo_intento=hace(1))
    webhooks_al_dia()
    assert tasks.despachar() == 1

    envio = leer(envio)
    assert (envio.estado, envio.intentos) == (EstadoEnvio.ENVIADO, 2)
    assert len(guion.llamadas) == 2


# -- Beat: despachar -----------------------------------------------------------------------


def test_despachar__recoge_pendientes_nunca_encolados_o_perdidos(guion, wa_settings):
    wa_settings(REDISPATCH_AFTER=300)
    nunca = nuevo_envio()
    perdido = nuevo_envio(OTRO_TELEFONO)
    reciente = nuevo_envio()
    actualizar(perdido, despachado_en=hace(301))
    actualizar(reciente, despachado_en=hace(10))

    assert tasks.despachar() == 2

    assert leer(nunca).estado == EstadoEnvio.ENVIADO
    assert leer(perdido).estado == EstadoEnvio.ENVIADO
    assert leer(reciente).estado == EstadoEnvio.PENDIENTE
    assert sorted(llamada.referencia for llamada in guion.llamadas) == sorted(
        [referencia_de(nunca.pk), referencia_de(perdido.pk)]
    )


def test_despachar__no_toma_pendientes_aun_no_debidos(guion):
    envio = nuevo_envio()
    actualizar(envio, proximo_intento=timezone.now() + timedelta(minutes=5))

    assert tasks.despachar() == 0
    assert leer(envio).estado == EstadoEnvio.PENDIENTE


def test_despachar__promueve_los_programados_que_vencen(guion):
    vencido = nuevo_envio(programado_para=timezone.now() + timedelta(hours=1))
    futuro = nuevo_envio(OTRO_TELEFONO, programado_para=timezone.now() + timedelta(hours=1))
    assert leer(vencido).estado == EstadoEnvio.PROGRAMADO
    actualizar(vencido, programado_para=hace(1))

    assert tasks.despachar() == 1

    assert leer(vencido).estado == EstadoEnvio.ENVIADO
    assert leer(futuro).estado == EstadoEnvio.PROGRAMADO


def test_envios_por_despachar__ahora_inyectado_promueve_programados(guion):
    programado = nuevo_envio(programado_para=timezone.now() + timedelta(hours=1))

    assert delivery.envios_por_despachar() == []
    assert delivery.envios_por_despachar(timezone.now() + timedelta(hours=2)) == [programado.pk]
    assert leer(programado).estado == EstadoEnvio.PENDIENTE


def test_despachar__reenvia_los_atascados_en_enviando(guion, wa_settings):
    # A worker died after its claim: RECONCILE_AFTER later the envío is sent again.
    wa_settings(RECONCILE_AFTER=900, REDISPATCH_AFTER=300)
    atascado = nuevo_envio()
    en_curso = nuevo_envio(OTRO_TELEFONO)
    for envio in (atascado, en_curso):
        assert delivery.reclamar(envio.pk)
        actualizar(envio, despachado_en=hace(1000))
    actualizar(atascado, reclamado_en=hace(901))
    webhooks_al_dia()  # a later send's status came back: the first copy's would have too

    assert tasks.despachar() == 1

    assert leer(en_curso).estado == EstadoEnvio.ENVIANDO
    atascado = leer(atascado)
    assert (atascado.estado, atascado.intentos) == (EstadoEnvio.ENVIADO, 2)
    assert [llamada.referencia for llamada in guion.llamadas] == [referencia_de(atascado.pk)]


def test_despachar__incierto_no_se_reenvia_antes_de_reconcile_after(guion, wa_settings):
    wa_settings(RECONCILE_AFTER=900)
    guion.guion.append(AmbiguousError(detail="Read timed out"))
    envio = nuevo_envio()
    tasks.enviar_envio.delay(envio.pk)

    assert tasks.despachar() == 0
    assert leer(envio).estado == EstadoEnvio.INCIERTO

    actualizar(envio, proximo_intento=hace(1), reclamado_en=hace(901))
    webhooks_al_dia()
    assert tasks.despachar() == 1

    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert tasks.despachar() == 0
    assert len(guion.llamadas) == 2


def test_despachar__salta_las_cuentas_pausadas(guion):
    delivery.pausar_cuenta("default", classify(190, http_status=401))
    en_pausa = nuevo_envio()
    de_otra = nuevo_envio(cuenta="otra")

    assert tasks.despachar() == 1

    assert leer(en_pausa).estado == EstadoEnvio.PENDIENTE
    assert leer(de_otra).estado == EstadoEnvio.ENVIADO


# -- paused accounts: probe and resume -----------------------------------------------------


def pausar_con_dos_envios(guion, capturar) -> tuple[EnvioWhatsApp, EnvioWhatsApp]:
    """Two envíos enqueued on commit; the first meets an expired token, the second waits."""
    guion.guion.append(classify(190, http_status=401, detail="Session has expired"))
    with capturar(execute=True):
        primero = nuevo_envio()
    with capturar(execute=True):
        segundo = nuevo_envio(OTRO_TELEFONO)
    return primero, segundo


def test_comprobar_cuentas__sigue_en_pausa_si_las_credenciales_fallan(
    guion, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(PAUSE_PROBE_EVERY=0)
    primero, segundo = pausar_con_dos_envios(guion, django_capture_on_commit_callbacks)
    guion.verificaciones.append(classify(190, http_status=401))

    assert tasks.comprobar_cuentas() == []

    assert EstadoCuenta.objects.get(cuenta="default").pausada
    assert [leer(primero).estado, leer(segundo).estado] == [EstadoEnvio.PENDIENTE] * 2
    assert len(guion.llamadas) == 1
    assert len(mail.outbox) == 1


def test_comprobar_cuentas__reanuda_y_envia_los_envios_en_espera(
    guion, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(PAUSE_PROBE_EVERY=0)
    primero, segundo = pausar_con_dos_envios(guion, django_capture_on_commit_callbacks)
    assert [leer(primero).intentos, leer(segundo).intentos] == [0, 0]

    assert tasks.comprobar_cuentas() == ["default"]

    assert not EstadoCuenta.objects.get(cuenta="default").pausada
    for envio in (primero, segundo):
        envio = leer(envio)
        assert (envio.estado, envio.intentos) == (EstadoEnvio.ENVIADO, 1)
    assert len(guion.llamadas) == 3  # the refused attempt, then one send each
    assert len(mail.outbox) == 1


def test_despachar__tras_reanudar_a_mano_envia_los_envios_en_espera(
    guion, django_capture_on_commit_callbacks
):
    primero, segundo = pausar_con_dos_envios(guion, django_capture_on_commit_callbacks)

    assert delivery.reanudar_cuenta("default") is True
    assert tasks.despachar() == 2

    assert [leer(primero).estado, leer(segundo).estado] == [EstadoEnvio.ENVIADO] * 2


# -- the Beat schedule ---------------------------------------------------------------------


def test_beat_schedule__nombra_tareas_registradas():
    nombres = {entrada["task"] for entrada in tasks.BEAT_SCHEDULE.values()}

    assert nombres == {
        "whatsapp_notify.despachar",
        "whatsapp_notify.comprobar_cuentas",
        "whatsapp_notify.reprocesar_webhooks",
        "whatsapp_notify.atender_pendientes",
        "whatsapp_notify.purgar",
        "whatsapp_notify.alerta_fallos",
    }
    assert nombres <= set(celery_app.tasks)


def test_beat_schedule__se_importa_de_schedule_y_de_tasks():
    # The README named whatsapp_notify.tasks.BEAT_SCHEDULE before schedule.py existed.
    from whatsapp_notify import schedule

    assert tasks.BEAT_SCHEDULE is schedule.BEAT_SCHEDULE


def test_beat_schedule__importarlo_no_carga_modelos():
    codigo = (
        "import sys; from whatsapp_notify.schedule import BEAT_SCHEDULE; "
        "assert 'whatsapp_notify.models' not in sys.modules, 'models cargado'"
    )
    resultado = subprocess.run([sys.executable, "-c", codigo], capture_output=True, text=True)

    assert resultado.returncode == 0, resultado.stderr


# -- webhooks: processing stored bodies ----------------------------------------------------


@pytest.fixture
def webhook_meta(wa_settings):
    """The account ``default`` on the Meta backend, which parses stored webhook bodies."""
    opciones = {"PHONE_NUMBER_ID": "123", "ACCESS_TOKEN": "t", "APP_SECRET": "secreto"}
    wa_settings(
        BACKENDS={
            "default": {"BACKEND": "whatsapp_notify.backends.meta.MetaBackend", "OPTIONS": opciones}
        }
    )


def guardar_webhook(wamid: str, recibido_hace: float = 0) -> EventoWebhook:
    """Store a body with one inbound text message, as the view does before processing it."""
    mensaje = {
        "from": "5215512345678",
        "id": wamid,
        "timestamp": "1750000000",
        "type": "text",
        "text": {"body": "Hola"},
    }
    valor = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "123"},
        "messages": [mensaje],
    }
    cuerpo = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": valor}]}],
    }
    evento, _nuevo = store.guardar_evento("default", json.dumps(cuerpo).encode())
    EventoWebhook.objects.filter(pk=evento.pk).update(recibido_en=hace(recibido_hace))
    return evento


def test_procesar_webhook__aplica_el_cuerpo_una_sola_vez(webhook_meta):
    evento = guardar_webhook("wamid.tarea")

    assert tasks.procesar_webhook.delay(evento.pk).get() is True
    assert tasks.procesar_webhook.delay(evento.pk).get() is False

    evento.refresh_from_db()
    assert (evento.eventos, evento.error) == (1, "")
    assert evento.procesado_en is not None
    assert list(Mensaje.objects.values_list("wamid", flat=True)) == ["wamid.tarea"]


def test_encolar_webhook__publica_la_tarea_con_el_id(webhook_meta, monkeypatch):
    publicados = []
    monkeypatch.setattr(tasks.procesar_webhook, "apply_async", lambda *a, **k: publicados.append(a))

    assert tasks.encolar_webhook(41) is True
    assert publicados == [((41,),)]


def test_encolar_webhook__broker_caido_deja_el_evento_sin_procesar(webhook_meta, caplog):
    evento = guardar_webhook("wamid.sin.broker")

    with con_broker("redis://127.0.0.1:1/0"):
        assert tasks.encolar_webhook(evento.pk) is False

    evento.refresh_from_db()
    assert evento.procesado_en is None
    assert not Mensaje.objects.exists()
    assert "Beat lo reintentará" in caplog.text


def test_reprocesar_webhooks__toma_solo_los_pendientes_de_mas_de_un_minuto(webhook_meta):
    perdido = guardar_webhook("wamid.perdido", recibido_hace=90)
    reciente = guardar_webhook("wamid.reciente", recibido_hace=10)
    fallido = guardar_webhook("wamid.fallido", recibido_hace=90)
    EventoWebhook.objects.filter(pk=fallido.pk).update(procesado_en=hace(80), error="Error: x")

    assert tasks.reprocesar_webhooks() == 1

    assert list(Mensaje.objects.values_list("wamid", flat=True)) == ["wamid.perdido"]
    assert EventoWebhook.objects.get(pk=perdido.pk).eventos == 1
    pendientes = EventoWebhook.objects.filter(procesado_en__isnull=True)
    assert list(pendientes.values_list("pk", flat=True)) == [reciente.pk]
    # An evento that failed keeps its error until an operator presses "Reprocesar".
    assert EventoWebhook.objects.get(pk=fallido.pk).error == "Error: x"
    assert tasks.reprocesar_webhooks() == 0


# -- the publishing thread -------------------------------------------------------------------


@pytest.fixture
def publicador(monkeypatch):
    """A publishing thread of its own, held busy by its first call until ``soltar`` is set."""
    import threading

    propio = tasks._Publicador()
    monkeypatch.setattr(propio, "LIMITE", 1)
    empezado, soltar = threading.Event(), threading.Event()

    def ocupar() -> None:
        empezado.set()
        soltar.wait(10)

    propio.poner(celery_app, ocupar, ())
    assert empezado.wait(5)  # the thread holds it: the queue is empty again
    yield propio, soltar
    soltar.set()
    assert propio.esperar(5)


def test_publicador__cola_llena_la_llamada_corre_en_el_que_llama(publicador):
    import threading

    propio, _soltar = publicador
    hilos = []
    propio.poner(celery_app, lambda: hilos.append("en cola"), ())  # fills the queue of 1
    propio.poner(celery_app, lambda: hilos.append(threading.current_thread().name), ())

    assert hilos == [threading.current_thread().name]  # ran here, at once, not dropped


def test_publicador__al_salir_lo_que_queda_va_a_la_siguiente_pasada_de_beat(
    publicador, monkeypatch
):
    propio, _soltar = publicador
    monkeypatch.setattr(propio, "LIMITE", 10)
    propio._cola = __import__("queue").Queue(10)  # room for the envíos below
    envios = [nuevo_envio(f"+52 55 1234 56{i:02d}") for i in range(3)]
    EnvioWhatsApp.objects.filter(pk__in=[e.pk for e in envios]).update(despachado_en=hace(1))
    monkeypatch.setattr(tasks, "PLAZO_AL_SALIR", 0.05)
    for envio in envios:
        propio.poner(celery_app, tasks.publicar_envio, (envio.pk,))

    propio.al_salir()

    # Beat's next run dispatches them, instead of REDISPATCH_AFTER after their record.
    assert [leer(envio).despachado_en for envio in envios] == [None, None, None]
