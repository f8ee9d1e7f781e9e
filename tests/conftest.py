"""Shared fixtures. Services (PostgreSQL, Redis) skip locally when absent, fail under CI."""

from __future__ import annotations

import os
import socket

import pytest

from tests.celery_app import app as celery_app  # noqa: F401  (the current Celery app)
from whatsapp_notify.backends import backends, locmem

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_URL = os.environ.get("WHATSAPP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is down; under ``CI=true`` fail instead, naming it."""
    if _reachable(host, port):
        return
    message = f"{name} no responde en {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}: CI=true exige este servicio.", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _clean_backends():
    locmem.clear()
    backends.reset()
    yield
    locmem.clear()
    backends.reset()


@pytest.fixture
def outbox():
    """The locmem backend's outbox (a list of SentMessage)."""
    return locmem.outbox


@pytest.fixture
def wa_settings(settings):
    """Update ``WHATSAPP_NOTIFY`` keys for one test: ``wa_settings(REQUIRE_CONSENT=True)``."""

    def update(**keys):
        settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, **keys}

    return update


@pytest.fixture
def redis_url():
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


@pytest.fixture
def postgres(request):
    """Marks a test that needs PostgreSQL: the suite must run with WHATSAPP_TEST_DB=postgres."""
    from django.db import connection

    require_service("PostgreSQL", "127.0.0.1", 5432)
    if connection.vendor != "postgresql":
        if IN_CI:
            pytest.skip("se ejecuta en la pasada de PostgreSQL (WHATSAPP_TEST_DB=postgres)")
        pytest.skip("necesita WHATSAPP_TEST_DB=postgres")
    return connection
