"""The suite's Redis: one URL (``WHATSAPP_TEST_REDIS_URL``), and never a flush of a
database whose keys the suite did not write.

Each case runs on a private ``redis-server`` (the ``redis_server`` fixture), so no shared
Redis database is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import services
from tests.services import MARCA_REDIS, RedisAjena, vaciar_redis_propia

RAIZ = Path(__file__).resolve().parent.parent
AJENA = "erp:sesion:42"  # a key another program wrote
PRUEBA_CON_REDIS = "tests/test_ratelimit.py::test_rate_limiter__redis_comparte_fichas_entre_workers"


@pytest.fixture
def cliente(redis_server):
    import redis

    redis_server.start()
    with redis.Redis.from_url(redis_server.url) as conexion:
        yield conexion


def test_vaciar__base_con_claves_ajenas__no_la_vacia_y_nombra_la_variable(cliente):
    cliente.set(AJENA, "datos de otro")

    with pytest.raises(RedisAjena) as error:
        vaciar_redis_propia(cliente)

    assert cliente.get(AJENA) == b"datos de otro"
    assert "tiene claves que no escribió la batería de pruebas" in str(error.value)
    assert "WHATSAPP_TEST_REDIS_URL" in str(error.value)


def test_vaciar__base_vacia__la_marca_como_propia(cliente):
    vaciar_redis_propia(cliente)

    assert cliente.keys() == [MARCA_REDIS.encode()]


def test_vaciar__base_marcada__borra_lo_que_dejo_la_bateria(cliente):
    vaciar_redis_propia(cliente)
    cliente.set("ratelimit:cuenta:default", "3")

    vaciar_redis_propia(cliente)

    assert cliente.keys() == [MARCA_REDIS.encode()]


def test_url__de_la_variable_o_del_unico_valor_por_omision(monkeypatch):
    monkeypatch.setenv("WHATSAPP_TEST_REDIS_URL", "redis://10.0.0.7:6380/4")
    assert services.redis_url() == "redis://10.0.0.7:6380/4"
    assert services.services()["Redis"] == ("10.0.0.7", 6380)

    monkeypatch.delenv("WHATSAPP_TEST_REDIS_URL")
    assert services.redis_url() == services.REDIS_URL_POR_OMISION


def pytest_con_redis(url: str) -> subprocess.CompletedProcess:
    """One test that uses the ``redis_url`` fixture, in its own pytest, on ``url``."""
    entorno = {**os.environ, "WHATSAPP_TEST_REDIS_URL": url}
    entorno.pop("CI", None)  # a refusal must fail the run whatever CI says
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PRUEBA_CON_REDIS],
        cwd=RAIZ,
        env=entorno,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_bateria__base_con_una_clave_ajena__falla_diciendo_por_que_y_no_la_vacia(
    redis_server, cliente
):
    cliente.set(AJENA, "datos de otro")

    corrida = pytest_con_redis(redis_server.url)

    assert corrida.returncode != 0
    assert "tiene claves que no escribió la batería de pruebas: no se vacía" in corrida.stdout
    assert "WHATSAPP_TEST_REDIS_URL" in corrida.stdout
    assert cliente.get(AJENA) == b"datos de otro"


def test_bateria__base_vacia__pasa_y_queda_marcada(redis_server, cliente):
    corrida = pytest_con_redis(redis_server.url)

    assert corrida.returncode == 0, corrida.stdout
    assert cliente.keys() == [MARCA_REDIS.encode()]
