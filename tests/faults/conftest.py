"""Fixtures of the fault suite: real processes, real faults, and a count of what was lost.

Each test wires the whole path an envío takes in production: the test process records
envíos (the ERP) and publishes to a private ``redis-server`` (:class:`RedisServer`, so it
can be hung, stopped and restarted without touching the suite's shared Redis); real
``celery worker`` processes on a queue of their own send through ``MetaBackend`` to the
Cloud API sandbox (with faults injected); the sandbox posts signed status webhooks back to
pytest-django's live server; :class:`Beat` runs Beat's tasks. :func:`contar` then compares
the rows with what the sandbox accepted.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pytest
from django.db import close_old_connections
from django.urls import reverse

from tests.celery_app import con_broker
from tests.conftest import IN_CI, require_service
from tests.redis_server import RedisServer
from tests.workers import Worker, entorno_worker
from whatsapp_notify import tasks
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.references import envio_referido
from whatsapp_notify.sandbox import Fallos, Sandbox

META = "whatsapp_notify.backends.meta.MetaBackend"
SECRETO = "secreto-de-fallos"
TOKEN = "token-de-fallos"
NUMERO = "1234567890"
# Seconds the fault tests give the worker and Beat instead of minutes, so a lost task or
# an unconfirmed send is taken up again within the test.
TIEMPOS = {"RETRY_BACKOFF": 0.2, "RETRY_BACKOFF_MAX": 1.0, "RECONCILE_AFTER": 2.0}
TIEMPOS["REDISPATCH_AFTER"] = 2.0
ENVIADOS = frozenset({EstadoEnvio.ENVIADO, EstadoEnvio.ENTREGADO, EstadoEnvio.LEIDO})
# Final without being sent: acceptable only with a recorded reason (motivo or error).
NO_ENVIADOS = frozenset({EstadoEnvio.FALLIDO, EstadoEnvio.OMITIDO, EstadoEnvio.CANCELADO})
FINALES = ENVIADOS | NO_ENVIADOS
LENTAS = os.environ.get("WHATSAPP_TEST_SLOW", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(items):
    # Slow fault tests run under CI=true (the PostgreSQL pass of `make test`) or with
    # WHATSAPP_TEST_SLOW=1; locally they are skipped so `make test-postgres` stays quick.
    if IN_CI or LENTAS:
        return
    saltar = pytest.mark.skip(reason="prueba de fallos lenta: CI=true o WHATSAPP_TEST_SLOW=1")
    for item in items:
        if "lenta" in item.keywords:
            item.add_marker(saltar)


# -- Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_privado():
    """A ``redis-server`` of this test only, on a free port."""
    require_service("Redis", "127.0.0.1", 6379)  # redis-server is installed with the service
    with RedisServer() as servidor:
        yield servidor


# -- the sandbox and the live webhook server -----------------------------------------------


@pytest.fixture
def fallos() -> Fallos:
    """The sandbox's faults (none until the test sets some); a fixed seed, repeatable."""
    return Fallos(semilla=13)


@pytest.fixture
def sandbox(live_server, wa_settings, fallos):
    """The Cloud API sandbox, its statuses posted to this test's live server.

    The test process (the ERP and Beat) uses the same account and short times as the
    workers (:data:`TIEMPOS`).
    """
    webhook = f"{live_server.url}{reverse('whatsapp_notify:webhook')}"
    with Sandbox(
        webhook_url=webhook,
        app_secret=SECRETO,
        delays=(0.05, 0.05, 0.05),
        fallos=fallos,
        reintentos=2,
        espera_reintento=0.1,
    ) as local:
        opciones = {
            "PHONE_NUMBER_ID": NUMERO,
            "ACCESS_TOKEN": TOKEN,
            "BASE_URL": local.base_url,
            "APP_SECRET": SECRETO,
            "TIMEOUT": 5,
        }
        wa_settings(
            BACKENDS={"default": {"BACKEND": META, "OPTIONS": opciones}},
            PAUSE_PROBE_EVERY=0.5,
            **TIEMPOS,
        )
        yield local


# -- workers -------------------------------------------------------------------------------


class Workers:
    """Starts workers sharing one queue, all pointed at the same broker and sandbox."""

    def __init__(self, broker_url: str, graph_url: str) -> None:
        self.broker_url = broker_url
        self.graph_url = graph_url
        self.cola = f"whatsapp-fallos-{uuid.uuid4().hex[:8]}"
        self.todos: list[Worker] = []

    def arrancar(self, cantidad: int = 1, **entorno: str) -> list[Worker]:
        """Start ``cantidad`` workers (``WHATSAPP_TEST_<KEY>`` overrides as keywords) and
        wait until each is ready."""
        nuevos = [Worker(self.cola, self._entorno(entorno)) for _ in range(cantidad)]
        self.todos.extend(nuevos)
        for worker in nuevos:
            worker.esperar_arranque()
        return nuevos

    def vivos(self) -> list[Worker]:
        return [worker for worker in self.todos if worker.proceso.poll() is None]

    def logs(self) -> str:
        abiertos = [worker for worker in self.todos if not worker._registro.closed]
        return "\n".join(worker.log()[-3000:] for worker in abiertos)

    def parar(self) -> None:
        for worker in self.todos:
            worker.parar()

    def _entorno(self, extra: dict[str, str]) -> dict[str, str]:
        # Later keys win, as before: a test may hand a worker the rotated token.
        ajustes = {"ACCESS_TOKEN": TOKEN, **TIEMPOS, **extra}
        return entorno_worker(self.broker_url, self.graph_url, self.cola, **ajustes)


@pytest.fixture
def workers(postgres, redis_privado, sandbox, wa_settings):
    """Start workers with ``workers.arrancar(n)``; the test process publishes to their queue."""
    grupo = Workers(redis_privado.url, sandbox.base_url)
    wa_settings(TASK_QUEUE=grupo.cola)
    try:
        with con_broker(redis_privado.url):
            yield grupo
    finally:
        grupo.parar()


# -- Beat ----------------------------------------------------------------------------------


class Beat:
    """Beat's periodic tasks, run from the test process (that *is* Beat's task)."""

    def tick(self) -> None:
        # Beat's tasks run in a worker process, not in the ERP's: a failed publish of the
        # ERP (test) process must not make this one skip publishing for its pause.
        tasks._broker.reiniciar()
        tasks.comprobar_cuentas()
        tasks.despachar()

    def hasta(self, condicion: Callable[[], bool], timeout: float, cada: float = 0.3) -> bool:
        """Tick every ``cada`` seconds until ``condicion()`` holds; False at the deadline."""
        limite = time.monotonic() + timeout
        while time.monotonic() < limite:
            self.tick()
            if condicion():
                return True
            time.sleep(cada)
        return condicion()


@pytest.fixture
def beat() -> Beat:
    return Beat()


# -- counting ------------------------------------------------------------------------------


@dataclass
class Cuenta:
    """What happened to ``solicitados`` envíos, once the run settled (or timed out)."""

    solicitados: int
    enviados: int  # distinct (recipient, envío) the sandbox accepted
    duplicados: set[int]  # envíos the sandbox accepted more than once
    registrados: set[int]  # envíos recorded as duplicated (duplicado / wamids_duplicados)
    perdidos: set[int]  # neither accepted nor final-with-a-reason
    estados: Counter = field(default_factory=Counter)
    asentado: bool = True

    @property
    def sin_registrar(self) -> set[int]:
        """Duplicates nobody recorded on the envío (and records of no real duplicate)."""
        return self.duplicados ^ self.registrados

    def __str__(self) -> str:
        return (
            f"solicitados={self.solicitados} enviados={self.enviados} "
            f"duplicados={len(self.duplicados)} registrados={len(self.registrados)} "
            f"perdidos={len(self.perdidos)} (ids {sorted(self.perdidos)[:10]}) "
            f"estados={dict(self.estados)} asentado={self.asentado}"
        )


def aceptados(sandbox: Sandbox) -> Counter:
    """``(to, envío id) -> times accepted`` from what the sandbox recorded (200 + wamid)."""
    veces: Counter = Counter()
    for peticion in sandbox.mensajes:
        if peticion.status == 200 and peticion.wamid and isinstance(peticion.cuerpo, dict):
            clave = (peticion.cuerpo.get("to"), peticion.cuerpo.get("biz_opaque_callback_data"))
            veces[clave] += 1
    return veces


def contar(ids: Iterable[int], sandbox: Sandbox, *, asentado: bool = True) -> Cuenta:
    """Compare the envíos ``ids`` with what the sandbox accepted."""
    ids = list(ids)
    filas = {envio.pk: envio for envio in EnvioWhatsApp.objects.filter(pk__in=ids)}
    veces_por_envio: Counter = Counter()
    for (_to, referencia), veces in aceptados(sandbox).items():
        envio_id = envio_referido(referencia or "")
        # Every message the app sends carries its envío: one without is itself a finding.
        assert envio_id is not None, f"mensaje aceptado sin referencia de envío: {referencia!r}"
        veces_por_envio[envio_id] += veces
    enviados = [pk for pk in ids if veces_por_envio[pk]]
    return Cuenta(
        solicitados=len(ids),
        enviados=len(enviados),
        duplicados={pk for pk in ids if veces_por_envio[pk] > 1},
        registrados={pk for pk, envio in filas.items() if _duplicado_registrado(envio)},
        perdidos={pk for pk in ids if not veces_por_envio[pk] and not _con_motivo(filas.get(pk))},
        estados=Counter(envio.estado for envio in filas.values()),
        asentado=asentado,
    )


def _duplicado_registrado(envio: EnvioWhatsApp) -> bool:
    return bool(envio.duplicado or envio.wamids_duplicados)


def _con_motivo(envio: EnvioWhatsApp | None) -> bool:
    if envio is None or envio.estado not in NO_ENVIADOS:
        return False
    return bool(envio.motivo or envio.error_codigo is not None or envio.error_detalle)


def asentado(ids: Iterable[int], sandbox: Sandbox, webhooks: bool = True) -> Callable[[], bool]:
    """A condition: every envío is final and (``webhooks``) the sandbox has no webhook
    left to post."""
    ids = list(ids)

    def condicion() -> bool:
        close_old_connections()  # a terminated connection must not end the wait
        finales = EnvioWhatsApp.objects.filter(pk__in=ids, estado__in=FINALES).count()
        return finales == len(ids) and (not webhooks or sandbox.webhooks_pendientes == 0)

    return condicion


def esperar_y_contar(
    ids: Iterable[int], sandbox: Sandbox, beat: Beat, timeout: float = 90.0, webhooks: bool = True
) -> Cuenta:
    """Run Beat until the run settles (or ``timeout``), then :func:`contar`.

    ``webhooks=False`` does not wait for the sandbox's webhooks (a test that holds them).
    """
    ids = list(ids)
    quieto = beat.hasta(asentado(ids, sandbox, webhooks), timeout)
    if quieto:
        # One more round: a late status that proves a duplicate may still be in flight.
        time.sleep(0.3)
        quieto = asentado(ids, sandbox, webhooks)()
    return contar(ids, sandbox, asentado=quieto)


def comprobar(cuenta: Cuenta, workers: Workers | None = None) -> None:
    """The assertions every fault test makes: settled, nothing lost, duplicates recorded."""
    detalle = str(cuenta)
    if workers is not None and (not cuenta.asentado or cuenta.perdidos):
        detalle += "\n" + workers.logs()[-6000:]
    assert cuenta.asentado, detalle
    assert cuenta.perdidos == set(), detalle
    assert cuenta.sin_registrar == set(), detalle
