"""Faults on the real path of an envío: broker, database, workers, Cloud API, webhooks.

Each test requests N envíos, injects one fault, lets Beat settle the run and counts
(:func:`tests.faults.conftest.contar`): nothing may be lost, and every duplicate the sandbox
accepted must be recorded on its envío. Needs PostgreSQL, ``redis-server`` and
``WHATSAPP_TEST_DB=postgres``::

    WHATSAPP_TEST_DB=postgres .venv/bin/python -m pytest tests/faults

Tests marked ``lenta`` run only under ``CI=true`` (the PostgreSQL pass of ``make test``) or
with ``WHATSAPP_TEST_SLOW=1``::

    WHATSAPP_TEST_SLOW=1 WHATSAPP_TEST_DB=postgres .venv/bin/python -m pytest tests/faults
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import connection, transaction

from tests.celery_app import app as celery_app
from tests.faults.conftest import ENVIADOS, TOKEN, comprobar, esperar_y_contar
from whatsapp_notify import enviar_plantilla
from whatsapp_notify.models import EnvioWhatsApp, EstadoCuenta, EstadoEnvio
from whatsapp_notify.outbound import delivery
from whatsapp_notify.references import envio_referido

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

# A hung or dead broker may hold one call this long (invariant 1: <= 1 s), plus slack for
# a loaded machine.
LIMITE_LLAMADA = 1.3


def solicitar(cantidad: int, prefijo: str = "f") -> list[int]:
    """Record ``cantidad`` envíos to distinct phones, as the ERP does; return their ids."""
    return [solicitar_uno(n, prefijo).pk for n in range(cantidad)]


def solicitar_uno(n: int, prefijo: str = "f") -> EnvioWhatsApp:
    return enviar_plantilla(
        f"+52 55 12{n // 10000:02d} {n % 10000:04d}",
        "vehiculo_listo_cliente",
        variables=["Ana", "Mazda 3", f"OT-{n}"],
        clave=f"{prefijo}:{n}",
    )


def esperar(condicion, timeout: float = 20.0) -> bool:
    limite = time.monotonic() + timeout
    while time.monotonic() < limite:
        if condicion():
            return True
        time.sleep(0.05)
    return False


def todos_enviados(cuenta) -> bool:
    return cuenta.enviados == cuenta.solicitados and set(cuenta.estados) <= ENVIADOS


# -- the broker ----------------------------------------------------------------------------


def rafaga_de_solicitudes(cantidad: int, prefijo: str):
    """Record ``cantidad`` envíos from a thread of their own, timing each call.

    A thread, so a call the broker holds forever cannot hang the test: the test resumes
    the broker at its deadline and reports the calls that overran.
    """
    ids: list[int] = []
    duraciones: list[float] = []

    def erp() -> None:
        celery_app.set_current()  # Celery's current app is per thread, as in a threaded ERP
        try:
            for n in range(cantidad):
                inicio = time.monotonic()
                ids.append(solicitar_uno(n, prefijo).pk)
                duraciones.append(time.monotonic() - inicio)
        finally:
            connection.close()

    hilo = threading.Thread(target=erp, daemon=True)
    hilo.start()
    hilo.join(timeout=cantidad * LIMITE_LLAMADA + 5)
    return ids, duraciones, hilo


def test_broker_colgado__cada_llamada_no_pasa_de_un_segundo_y_beat_lo_envia(
    redis_privado, workers, sandbox, beat
):
    workers.arrancar(1)
    redis_privado.hang()  # SIGSTOP: the socket accepts, nothing answers
    try:
        ids, duraciones, hilo = rafaga_de_solicitudes(8, "colgado")
        terminadas = len(duraciones)
        estados = set(EnvioWhatsApp.objects.filter(pk__in=ids).values_list("estado", flat=True))
    finally:
        redis_privado.resume()
    hilo.join(timeout=30)

    cuenta = esperar_y_contar(ids, sandbox, beat)

    assert terminadas == 8, f"{terminadas} de 8 llamadas terminaron con el broker colgado"
    assert max(duraciones) <= LIMITE_LLAMADA, [round(d, 2) for d in duraciones]
    assert estados == {EstadoEnvio.PENDIENTE}
    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert cuenta.duplicados == set()


def test_broker_caido_y_reiniciado__nada_se_pierde(redis_privado, workers, sandbox, beat):
    workers.arrancar(1)
    redis_privado.stop()
    ids, duraciones, hilo = rafaga_de_solicitudes(8, "caido")
    hilo.join(timeout=30)
    redis_privado.start()

    cuenta = esperar_y_contar(ids, sandbox, beat)

    assert len(duraciones) == 8
    assert max(duraciones) <= LIMITE_LLAMADA, [round(d, 2) for d in duraciones]
    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert cuenta.duplicados == set()


# -- the database --------------------------------------------------------------------------


def terminar_conexiones(*, propia: bool = False) -> int:
    """``pg_terminate_backend`` the test database's other connections (or this one)."""
    nombre = connection.settings_dict["NAME"]
    filtro = "pid = %s" if propia else "pid <> %s"
    pid = connection.connection.info.backend_pid if propia else None
    with psycopg.connect(dbname="postgres", host="127.0.0.1", user="postgres") as admin:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = %s AND {filtro} AND pid <> pg_backend_pid()",
                [nombre, pid if propia else _pid_propio()],
            )
            return len(cursor.fetchall())


def _pid_propio() -> int:
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def test_conexion_cortada_tras_el_commit__el_erp_sigue_y_beat_lo_envia(workers, sandbox, beat):
    workers.arrancar(1)
    despues = []

    try:
        with transaction.atomic():
            # Registered first, so it runs first on commit: the connection dies right after
            # COMMIT, before the envíos' own on-commit enqueues run.
            transaction.on_commit(lambda: terminar_conexiones(propia=True))
            ids = solicitar(3, "cortada")
            transaction.on_commit(lambda: despues.append("callback del ERP"))
    finally:
        connection.close()  # what Django does at the end of the ERP's request
    cuenta = esperar_y_contar(ids, sandbox, beat)

    assert despues == ["callback del ERP"]
    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert cuenta.duplicados == set()


@pytest.mark.lenta
def test_postgres_termina_las_conexiones_de_los_workers__nada_se_pierde(
    workers, sandbox, fallos, beat
):
    fallos.latencia = 0.05
    workers.arrancar(2)
    ids = solicitar(40, "pg")
    terminadas = 0
    for _ in range(4):
        time.sleep(0.4)
        terminadas += terminar_conexiones()

    cuenta = esperar_y_contar(ids, sandbox, beat, timeout=90)

    assert terminadas > 0
    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert cuenta.duplicados == set()


# -- workers -------------------------------------------------------------------------------


def matar_a_mitad_de_envio(workers, ids: list[int]) -> int:
    """SIGKILL the worker once one of ``ids`` is ``enviando`` (its request in flight)."""
    [worker] = workers.vivos()
    enviando = EnvioWhatsApp.objects.filter(pk__in=ids, estado=EstadoEnvio.ENVIANDO)
    assert esperar(enviando.exists), workers.logs()
    envio_id = enviando.values_list("pk", flat=True).first()
    worker.matar()
    return envio_id


def test_worker_sigkill_a_mitad_de_envio__se_reconcilia_sin_duplicar(
    workers, sandbox, fallos, beat
):
    fallos.latencia = 0.5  # the kill lands while the request waits for its answer
    workers.arrancar(1)
    ids = solicitar(6, "sigkill")

    cortado = matar_a_mitad_de_envio(workers, ids)
    workers.arrancar(1)
    cuenta = esperar_y_contar(ids, sandbox, beat)

    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert cuenta.duplicados == set(), f"envío cortado {cortado}: {cuenta}"


@pytest.mark.lenta
def test_worker_sigkill_a_mitad_de_un_lote__solo_queda_en_duda_lo_que_salio(
    workers, sandbox, fallos, beat, wa_settings
):
    # A batch claims about a quarter second of sending ahead of the requests it starts
    # and records the sent ones every quarter second: a kill leaves uncertain the
    # requests in flight, those just answered, and few envíos that never left.
    fallos.latencia = 0.5
    # 150 sends at 80/s make 450 status webhooks that the test's server applies one by
    # one, seconds behind (over 15 s on a loaded 2-core machine); with RECONCILE_AFTER
    # shorter than that, Beat re-sends a killed request whose status is still queued (a
    # recorded duplicate), so give it longer.
    wa_settings(RECONCILE_AFTER=45.0)
    workers.arrancar(1, RATE_LIMIT="80/s")
    ids = solicitar(150, "lote-sigkill")
    [worker] = workers.vivos()
    assert esperar(lambda: len(sandbox.mensajes) >= 20, timeout=30), workers.logs()

    worker.matar()
    time.sleep(fallos.latencia + 0.5)  # the requests in flight reach the sandbox's record

    pedidos = {
        envio_referido(p.cuerpo.get("biz_opaque_callback_data") or "") for p in sandbox.mensajes
    }
    enviando = set(
        EnvioWhatsApp.objects.filter(pk__in=ids, estado=EstadoEnvio.ENVIANDO).values_list(
            "pk", flat=True
        )
    )
    # A claim of 20 (80/s for ADELANTO) and the 10 left when the next was made, and the
    # odd one a pool thread took but had not put on the wire yet.
    tanda = int(80 * delivery.ADELANTO)
    assert len(enviando - pedidos) <= tanda + tanda // 2 + 5, (len(enviando), len(pedidos))
    # In flight (80/s for 0.5 s) and answered since the last bulk record, with some slack.
    assert len(enviando & pedidos) <= 80 * fallos.latencia + 80 * delivery.VOLCAR_TRAS + 10

    workers.arrancar(1)
    cuenta = esperar_y_contar(ids, sandbox, beat, timeout=120)

    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert cuenta.duplicados == set(), str(cuenta)


@pytest.mark.lenta
def test_receptor_caido_mas_que_reconcile_after_tras_un_sigkill__sin_duplicados(
    workers, sandbox, fallos, beat
):
    fallos.latencia = 0.5
    workers.arrancar(1)
    sandbox.retener_webhooks()  # the receiver is down: no status reaches the ERP
    ids = solicitar(6, "receptor-sigkill")

    cortado = matar_a_mitad_de_envio(workers, ids)
    workers.arrancar(1)
    # Beat keeps running while the receiver stays down for over twice RECONCILE_AFTER.
    beat.hasta(lambda: False, timeout=5.0)
    sandbox.soltar_webhooks()
    cuenta = esperar_y_contar(ids, sandbox, beat)

    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert cuenta.duplicados == set(), f"envío cortado {cortado}: {cuenta}"


@pytest.mark.lenta
def test_receptor_caido_mas_que_reconcile_after_tras_timeouts__sin_duplicados(
    workers, sandbox, fallos, beat
):
    fallos.espera_timeout = 1.5  # the answer comes after the worker's 0.5 s timeout
    fallos.rafaga("timeout", 4)
    workers.arrancar(1, GRAPH_TIMEOUT="0.5")
    sandbox.retener_webhooks()
    ids = solicitar(8, "receptor-timeout")

    beat.hasta(lambda: False, timeout=6.0)
    sandbox.soltar_webhooks()
    cuenta = esperar_y_contar(ids, sandbox, beat)

    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert cuenta.duplicados == set(), str(cuenta)


@pytest.mark.lenta
def test_cuatro_workers_compiten__cada_envio_sale_una_vez(workers, sandbox, fallos, beat):
    fallos.errores_5xx = 0.05
    # The race is between the workers' claims; the live server applying 900 statuses one
    # by one would only slow the run down, so they are held (and not waited for).
    sandbox.retener_webhooks()
    workers.arrancar(4)
    ids = solicitar(300, "cuatro")

    cuenta = esperar_y_contar(ids, sandbox, beat, timeout=120, webhooks=False)

    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert cuenta.duplicados == set(), str(cuenta)


# -- the Cloud API -------------------------------------------------------------------------


def test_api_5xx_timeouts_y_rafagas_130429__todo_sale_una_vez(workers, sandbox, fallos, beat):
    fallos.rafaga(130429, 8)
    fallos.errores_5xx = 0.15
    fallos.timeouts = 0.05
    fallos.espera_timeout = 1.5
    workers.arrancar(1, GRAPH_TIMEOUT="0.5")
    ids = solicitar(30, "api")

    cuenta = esperar_y_contar(ids, sandbox, beat, timeout=90)

    rechazos = {p.status for p in sandbox.mensajes if p.status != 200}
    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert cuenta.duplicados == set(), str(cuenta)
    assert rechazos == {400, 503}  # the faults did happen


def test_token_caducado_y_rotado__la_cuenta_espera_y_luego_envia_todo(
    workers, sandbox, wa_settings, settings, beat
):
    [viejo] = workers.arrancar(1)
    sandbox.caducar_token(TOKEN)
    ids = solicitar(10, "token")

    pausada = esperar(lambda: EstadoCuenta.objects.filter(pausada=True).exists())
    time.sleep(0.5)  # the worker goes through its queue, finding the account paused
    quemados = EnvioWhatsApp.objects.filter(pk__in=ids).exclude(
        estado=EstadoEnvio.PENDIENTE, intentos=0
    )
    quemados = list(quemados.values_list("pk", "estado", "intentos"))
    # The operator rotates the token: settings of every process, the worker restarted.
    cuenta_default = settings.WHATSAPP_NOTIFY["BACKENDS"]["default"]
    opciones = {**cuenta_default["OPTIONS"], "ACCESS_TOKEN": "token-rotado"}
    wa_settings(BACKENDS={"default": {**cuenta_default, "OPTIONS": opciones}})
    viejo.parar()
    workers.arrancar(1, ACCESS_TOKEN="token-rotado")
    cuenta = esperar_y_contar(ids, sandbox, beat)

    assert pausada
    assert quemados == []
    assert not EstadoCuenta.objects.get(cuenta="default").pausada
    comprobar(cuenta, workers)
    assert todos_enviados(cuenta), str(cuenta)
    assert {p.status for p in sandbox.mensajes if p.status != 200} == {401}
