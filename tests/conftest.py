"""Shared fixtures. Services (PostgreSQL, Redis) skip locally when absent, fail under CI."""

from __future__ import annotations

import os

import pytest

from tests.celery_app import app as celery_app  # noqa: F401  (the current Celery app)
from tests.services import RedisAjena, reachable, redis_address, redis_url, vaciar_redis_propia
from whatsapp_notify import tasks, templates
from whatsapp_notify.backends import backends, locmem
from whatsapp_notify.inbound import handlers, store
from whatsapp_notify.outbound.ratelimit import limiter

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: How the reason of a skip starts when the test cannot run on this interpreter at all (not a
#: service that is down): CI lets that skip pass.
NO_APLICA = "No aplica en este intérprete:"
REDIS_URL = redis_url()
_AL_ARRANCAR: list = []  # the reply handlers declared at start-up


def pytest_collection_modifyitems(items):
    # Tests that use the `postgres` fixture carry the marker, so the SQLite pass can
    # deselect them (-m "not postgres") instead of skipping them.
    for item in items:
        if "postgres" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is down; under ``CI=true`` fail instead, naming it."""
    if reachable(host, port):
        return
    message = f"{name} no responde en {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}: CI=true exige este servicio.", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _clean_backends():
    locmem.clear()
    backends.reset()
    tasks._broker.reiniciar()
    limiter.reiniciar()  # a 130429's hold would make the next test wait
    store._recientes.vaciar()  # a rolled-back test gives its webhook ids out again
    templates.cache.vaciar()  # a rolled-back catalog row sends no post_delete
    # The example ERP's reply handlers are declared at start-up; a test asks for them
    # (``respuestas_del_ejemplo``) or declares its own.
    _AL_ARRANCAR[:] = declaradas = handlers.registro.reglas
    handlers.registro.reglas = []
    yield
    handlers.registro.reglas = declaradas
    tasks.esperar_publicaciones()  # nothing a test committed is published into the next
    locmem.clear()
    backends.reset()
    tasks._broker.reiniciar()
    limiter.reiniciar()
    store._recientes.vaciar()
    templates.cache.vaciar()


@pytest.fixture
def respuestas_del_ejemplo():
    """The reply handlers the installed apps declared at start-up (the example ERP's)."""
    handlers.registro.reglas = list(_AL_ARRANCAR)
    return handlers.registro


@pytest.fixture
def outbox():
    """The locmem backend's outbox (a list of SentMessage)."""
    return locmem.outbox


@pytest.fixture
def entregar(django_capture_on_commit_callbacks):
    """Run the on-commit enqueue (eager Celery delivers through locmem) around a call."""

    def llamar(funcion, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return funcion(*args, **kwargs)

    return llamar


@pytest.fixture
def wa_settings(settings):
    """Update ``WHATSAPP_NOTIFY`` keys for one test: ``wa_settings(REQUIRE_CONSENT=True)``."""

    def update(**keys):
        settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, **keys}

    return update


@pytest.fixture
def sandbox_meta(wa_settings):
    """The Cloud API sandbox (no webhooks), with the ``default`` account pointed at it."""
    from tests.test_sandbox import META_BACKEND, NUMERO, TOKEN
    from whatsapp_notify.sandbox import Sandbox

    with Sandbox(None, token=TOKEN) as sandbox:
        opciones = {"PHONE_NUMBER_ID": NUMERO, "ACCESS_TOKEN": TOKEN, "BASE_URL": sandbox.base_url}
        wa_settings(BACKENDS={"default": {"BACKEND": META_BACKEND, "OPTIONS": opciones}})
        yield sandbox


@pytest.fixture
def redis_url():
    """``WHATSAPP_TEST_REDIS_URL``, flushed before and after the test.

    Fails, flushing nothing, when that database holds keys the suite did not write.
    """
    require_service("Redis", *redis_address(REDIS_URL))
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        vaciar_redis_propia(client)
    except RedisAjena as exc:
        pytest.fail(str(exc), pytrace=False)
    yield REDIS_URL
    vaciar_redis_propia(client)


@pytest.fixture
def redis_server():
    """A private ``redis-server`` (tests.redis_server.RedisServer) on a free port, not started.

    The test decides what the broker does: ``start()``, ``hang()``, ``resume()``, ``stop()``.
    """
    import shutil

    from tests.redis_server import RedisServer

    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server no está en el PATH: CI=true lo exige.", pytrace=False)
        pytest.skip("redis-server no está en el PATH")
    servidor = RedisServer()
    yield servidor
    servidor.close()


@pytest.fixture
def postgres(request):
    """Marks a test that needs PostgreSQL: the suite must run with WHATSAPP_TEST_DB=postgres."""
    from django.db import connection

    require_service("PostgreSQL", "127.0.0.1", 5432)
    if connection.vendor != "postgresql":
        message = "necesita la pasada de PostgreSQL (WHATSAPP_TEST_DB=postgres)"
        if IN_CI:
            pytest.fail(f"{message}; la pasada de SQLite usa -m 'not postgres'.", pytrace=False)
        pytest.skip(message)
    return connection


@pytest.fixture
def guion(wa_settings):
    """The scripted backend (tests.backends_scripted) on accounts ``default`` and ``otra``."""
    from tests import backends_scripted

    scripted = "tests.backends_scripted.ScriptedBackend"
    wa_settings(BACKENDS={"default": {"BACKEND": scripted}, "otra": {"BACKEND": scripted}})
    backends_scripted.reset()
    yield backends_scripted
    backends_scripted.reset()


def pytest_sessionfinish(session, exitstatus):
    # Under CI a skipped test is a check that did not run: fail the run instead.
    if not IN_CI or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    omitidas = reporter.stats.get("skipped", []) if reporter else []
    omitidas = [informe for informe in omitidas if NO_APLICA not in str(informe.longrepr)]
    if omitidas:
        reporter.write_line(f"CI=true: {len(omitidas)} prueba(s) omitida(s); deben ejecutarse.")
        session.exitstatus = 1


@pytest.fixture
def sin_limites_guardados():
    """DRF's throttle counts in the default cache: the test starts and ends with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
