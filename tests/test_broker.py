"""A broker down, refusing or silent never holds the ERP; errors after COMMIT never reach it.

Real processes: a private ``redis-server`` (tests.redis_server) that the tests stop, freeze
(SIGSTOP) and thaw; Celery with its default transport options (nothing configured by the
host); real commits (``transaction=True``). The worker test runs a ``celery worker``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from tests.celery_app import app as celery_app
from tests.celery_app import con_broker
from tests.graph_stub import GraphStub
from tests.services import terminar_sesion
from tests.test_worker_redis import celery_worker, esperar_estado
from whatsapp_notify import enviar_plantilla, tasks
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.references import referencia_de

TELEFONO = "+52 55 1234 5678"
# The app's own bound is PLAZO_PUBLICACION (≤ 1 s); the margin is for a loaded CI machine.
LIMITE = 1.5


def nuevo_envio(telefono: str = TELEFONO) -> EnvioWhatsApp:
    return enviar_plantilla(
        telefono, "vehiculo_listo_cliente", variables=["Ana", "Mazda 3", "OT-42"]
    )


def leer(envio: EnvioWhatsApp) -> EnvioWhatsApp:
    return EnvioWhatsApp.objects.get(pk=envio.pk)


def hilos_de_publicacion() -> int:
    """Publishes running now on this process's publishing threads (kept between publishes)."""
    return tasks._emisores.ocupados()


def poner_broker(servidor, estado: str) -> None:
    """Leave the private Redis ``caido`` (never started), ``rechaza`` or ``mudo``."""
    if estado == "caido":
        return
    servidor.start()
    # One good publish first, so the app holds a live pooled connection when it breaks.
    assert tasks.pedir_despacho() is True
    if estado == "rechaza":
        servidor.stop()
    else:
        servidor.hang()


def recuperar_broker(servidor, estado: str) -> None:
    if estado == "mudo":
        servidor.resume()
    else:
        servidor.start()


def test_default_transport_options__los_de_celery():
    # The bound below is proven with what a host gets without configuring anything.
    assert celery_app.conf.broker_transport_options == {}


ESTADOS = pytest.mark.parametrize("estado", ["caido", "rechaza", "mudo"])


@ESTADOS
@pytest.mark.django_db(transaction=True)
def test_enviar_plantilla__broker_con_fallo_no_retiene_al_erp_y_beat_lo_envia(
    estado, redis_server, guion, caplog
):
    with con_broker(redis_server.url):
        poner_broker(redis_server, estado)
        inicio = time.monotonic()
        with transaction.atomic():
            envio = nuevo_envio()
        transcurrido = time.monotonic() - inicio
        # The commit hands the publish to the process's publishing thread; it fails there.
        assert tasks.esperar_publicaciones()

        assert transcurrido <= LIMITE
        envio = leer(envio)
        assert (envio.estado, envio.despachado_en, envio.intentos) == (
            EstadoEnvio.PENDIENTE,
            None,
            0,
        )
        assert "Beat lo reintentará" in caplog.text
        recuperar_broker(redis_server, estado)

    # The publish pause is over by Beat's next run; eager here, so Beat's despachar sends it.
    tasks._broker.reiniciar()
    assert tasks.despachar() == 1
    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert [llamada.referencia for llamada in guion.llamadas] == [referencia_de(envio.pk)]


@pytest.mark.parametrize(
    "tarea",
    [
        pytest.param(lambda: tasks.encolar_webhook(1), id="webhook"),
        pytest.param(tasks.pedir_despacho, id="despacho"),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_publicar__webhook_y_despacho_acotados_con_el_broker_mudo(tarea, redis_server):
    with con_broker(redis_server.url):
        poner_broker(redis_server, "mudo")
        inicio = time.monotonic()
        assert tarea() is False
        assert time.monotonic() - inicio <= LIMITE


@pytest.mark.django_db(transaction=True)
def test_publicar__broker_mudo_solo_la_primera_peticion_espera(redis_server, guion):
    with con_broker(redis_server.url):
        poner_broker(redis_server, "mudo")
        inicio = time.monotonic()
        for _ in range(20):
            with transaction.atomic():
                nuevo_envio()
        transcurrido = time.monotonic() - inicio
        assert tasks.esperar_publicaciones()
        redis_server.resume()

    assert transcurrido <= LIMITE  # the ERP never waits: the publishing thread does
    assert set(EnvioWhatsApp.objects.values_list("estado", flat=True)) == {"pendiente"}


@pytest.mark.django_db(transaction=True)
def test_publicar__broker_mudo_no_acumula_hilos_ni_conexiones(redis_server, guion, monkeypatch):
    # With the breaker's pause at 0 every request tries again: each is still bounded, at
    # most one publish runs at a time, and it ends by itself (socket timeouts) while frozen.
    monkeypatch.setattr(tasks._Interruptor, "PAUSA", 0.0)
    with con_broker(redis_server.url):
        poner_broker(redis_server, "mudo")
        antes = hilos_de_publicacion()
        esperas, vivos = [], []
        for _ in range(10):
            inicio = time.monotonic()
            with transaction.atomic():
                nuevo_envio()
            esperas.append(time.monotonic() - inicio)
            vivos.append(hilos_de_publicacion() - antes)
        assert tasks.esperar_publicaciones(10)
        time.sleep(1.0)  # Redis still frozen
        restantes = hilos_de_publicacion() - antes

        redis_server.resume()
        tasks._broker.reiniciar()
        assert tasks.pedir_despacho() is True  # the pooled connection reconnects
        time.sleep(0.2)  # the thawed server drops the sockets closed meanwhile
        conectados = redis.Redis.from_url(redis_server.url).info("clients")["connected_clients"]

    assert max(esperas) <= LIMITE
    assert (max(vivos) <= 1, restantes) == (True, 0)
    assert conectados <= 3  # this check's, the pool's, slack
    assert set(EnvioWhatsApp.objects.values_list("estado", flat=True)) == {"pendiente"}


@pytest.mark.django_db(transaction=True)
def test_publicar__broker_sano_publica_en_la_cola(redis_server, wa_settings):
    wa_settings(TASK_QUEUE="whatsapp-cola-propia")
    redis_server.start()
    with con_broker(redis_server.url):
        inicio = time.monotonic()
        assert tasks.pedir_despacho() is True
        assert time.monotonic() - inicio <= LIMITE

    cliente = redis.Redis.from_url(redis_server.url)
    [mensaje] = cliente.lrange("whatsapp-cola-propia", 0, -1)
    assert json.loads(mensaje)["headers"]["task"] == "whatsapp_notify.despachar"


def hilos_vivos() -> set[threading.Thread]:
    return {h for h in threading.enumerate() if h.name == "whatsapp_notify-publicar"}


@pytest.mark.django_db(transaction=True)
def test_publicar__los_hilos_de_publicacion_se_conservan(redis_server):
    # Starting a thread per publish cost more than the publish (Celery builds its result
    # backend per thread): sequential publishes reuse one, also after a hung one ends.
    redis_server.start()
    with con_broker(redis_server.url):
        assert tasks.pedir_despacho() is True
        primeros = hilos_vivos()
        for _ in range(20):
            assert tasks.pedir_despacho() is True
        despues = hilos_vivos()

        redis_server.hang()
        assert tasks.pedir_despacho() is False  # the deadline, then the breaker
        assert tasks.pedir_despacho() is False
        redis_server.resume()
        fin = time.monotonic() + 10
        while tasks._emisores.ocupados() and time.monotonic() < fin:
            time.sleep(0.05)
        tasks._broker.reiniciar()
        assert tasks.pedir_despacho() is True

    assert despues == primeros
    assert len(primeros) >= 1
    assert tasks._emisores.ocupados() == 0
    assert len(hilos_vivos()) <= tasks._Emisores.LIBRES


@pytest.mark.urls("example_project.urls")
@pytest.mark.django_db(transaction=True)
def test_peticion_del_erp__broker_mudo_responde_en_menos_de_un_segundo(client, redis_server):
    from example_project.taller.models import Cliente, OrdenTrabajo, Vehiculo

    cliente = Cliente.objects.create(nombre="Ana Pérez", telefono=TELEFONO, acepta_whatsapp=True)
    vehiculo = Vehiculo.objects.create(
        cliente=cliente, marca="Mazda", modelo="3", anio=2019, placas="ABC-123"
    )
    orden = OrdenTrabajo.objects.create(
        numero="OT-42", cliente=cliente, vehiculo=vehiculo, estado=OrdenTrabajo.Estado.EN_PROCESO
    )
    with con_broker(redis_server.url):
        poner_broker(redis_server, "mudo")
        inicio = time.monotonic()
        respuesta = client.post(reverse("taller:completar_orden", args=[orden.pk]))
        transcurrido = time.monotonic() - inicio
        assert tasks.esperar_publicaciones()
        redis_server.resume()

    assert respuesta.status_code == 200
    assert transcurrido <= LIMITE
    envio = EnvioWhatsApp.objects.get(pk=respuesta.json()["envio_id"])
    assert (envio.estado, envio.despachado_en) == (EstadoEnvio.PENDIENTE, None)


@pytest.mark.django_db(transaction=True)
def test_worker__tras_el_broker_mudo_beat_y_el_worker_lo_envian_una_vez(
    postgres, redis_server, wa_settings
):
    del postgres
    redis_server.start()
    with GraphStub() as graph, celery_worker(redis_server.url, graph.url, wa_settings) as log:
        redis_server.hang()
        inicio = time.monotonic()
        with transaction.atomic():
            envio = nuevo_envio()
        assert time.monotonic() - inicio <= LIMITE
        assert tasks.esperar_publicaciones()
        assert (leer(envio).estado, leer(envio).despachado_en) == (EstadoEnvio.PENDIENTE, None)

        redis_server.resume()
        tasks._broker.reiniciar()  # the publish pause is over by Beat's next run
        assert tasks.despachar() == 1  # Beat's run, publishing to the real worker

        envio = esperar_estado(envio, EstadoEnvio.ENVIADO, log)
        time.sleep(1)  # a late copy of the timed-out publish would have arrived by now
        [peticion] = graph.mensajes()
        assert peticion.cuerpo["biz_opaque_callback_data"] == referencia_de(envio.pk)
        assert leer(envio).intentos == 1


# -- an error after COMMIT (PostgreSQL: the session's backend terminated) --------------------


def terminar_esta_sesion() -> None:
    """Kill this connection's backend from a second connection, as a dropped link would."""
    terminar_sesion(connection.connection.info.backend_pid)


@pytest.mark.django_db(transaction=True)
def test_on_commit__conexion_caida_tras_el_commit_no_llega_al_erp(
    postgres, guion, caplog, wa_settings
):
    caplog.set_level(logging.WARNING, logger="whatsapp_notify")
    del postgres
    wa_settings(REDISPATCH_AFTER=300)
    llamadas_del_erp = []

    with transaction.atomic():
        transaction.on_commit(terminar_esta_sesion)  # the ERP's, registered before ours
        envio = nuevo_envio()
        transaction.on_commit(lambda: llamadas_del_erp.append("después"))

    assert llamadas_del_erp == ["después"]
    assert "falló tras el commit (OperationalError)" in caplog.text
    assert "5512345678" not in caplog.text
    connection.close()  # the ERP's next request gets a fresh connection
    # The envío was stamped as dispatched when it was recorded and the failed publish could
    # not clear the stamp: Beat takes it as lost once REDISPATCH_AFTER has passed.
    assert leer(envio).estado == EstadoEnvio.PENDIENTE
    assert leer(envio).despachado_en is not None
    assert tasks.despachar() == 0
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(
        despachado_en=timezone.now() - timedelta(seconds=301)
    )
    assert tasks.despachar() == 1
    assert leer(envio).estado == EstadoEnvio.ENVIADO
    assert [llamada.referencia for llamada in guion.llamadas] == [referencia_de(envio.pk)]


@pytest.mark.parametrize("origen", ["reenviar", "reanudar"])
@pytest.mark.django_db(transaction=True)
def test_on_commit__reenviar_y_reanudar_tras_el_commit_no_llegan_al_erp(origen, postgres, guion):
    del postgres
    from whatsapp_notify.backends.meta.errors import classify
    from whatsapp_notify.outbound import actions, delivery

    envio = nuevo_envio()
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(estado=EstadoEnvio.FALLIDO)
    if origen == "reanudar":
        delivery.pausar_cuenta("default", classify(190, http_status=401))
    llamadas_del_erp = []

    with transaction.atomic():
        transaction.on_commit(terminar_esta_sesion)
        if origen == "reenviar":
            assert actions.reenviar([leer(envio)]).reenviados == 1
        else:
            assert actions.reanudar(["default"]) == ["default"]
        transaction.on_commit(lambda: llamadas_del_erp.append("después"))

    assert llamadas_del_erp == ["después"]
    connection.close()
    assert leer(envio).estado == (
        EstadoEnvio.PENDIENTE if origen == "reenviar" else EstadoEnvio.FALLIDO
    )
