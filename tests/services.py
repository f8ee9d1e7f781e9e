"""Check the services the full suite needs; exit non-zero under ``CI=true`` when one is down.

Run as ``python -m tests.services`` (``make test`` does it first). Outside CI a missing
service only prints a note: the tests that need it are skipped.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

#: The Redis database the suite writes to, flushes and owns; its one default.
REDIS_URL_VARIABLE = "WHATSAPP_TEST_REDIS_URL"
REDIS_URL_POR_OMISION = "redis://127.0.0.1:6379/15"
#: The key that marks a Redis database as the suite's own (only such a one is flushed).
MARCA_REDIS = "whatsapp_notify:tests:propia"


def redis_url() -> str:
    """The tests' Redis URL: ``WHATSAPP_TEST_REDIS_URL``, or :data:`REDIS_URL_POR_OMISION`."""
    return os.environ.get(REDIS_URL_VARIABLE) or REDIS_URL_POR_OMISION


def redis_address(url: str | None = None) -> tuple[str, int]:
    """Host and port of the tests' Redis (``url``, or :func:`redis_url`)."""
    partes = urlsplit(url or redis_url())
    return partes.hostname or "127.0.0.1", partes.port or 6379


class RedisAjena(Exception):
    """The tests' Redis database holds keys the suite did not write: it is not flushed."""


def vaciar_redis_propia(cliente) -> None:
    """Flush the tests' Redis database, and mark it as the suite's own again.

    Only a database that is empty or carries :data:`MARCA_REDIS` is flushed: another
    program's keys (a developer's Redis, another suite's database) are never deleted.

    Raises:
        RedisAjena: the database holds keys and no mark, naming the variable to change.
    """
    if cliente.dbsize() and not cliente.exists(MARCA_REDIS):
        datos = cliente.connection_pool.connection_kwargs
        donde = f"{datos.get('host')}:{datos.get('port')}/{datos.get('db', 0)}"
        raise RedisAjena(
            f"La base de Redis {donde} tiene claves que no escribió la batería de pruebas: no "
            f"se vacía. Elige una base vacía con {REDIS_URL_VARIABLE}="
            "redis://127.0.0.1:6379/<n>."
        )
    cliente.flushdb()
    cliente.set(MARCA_REDIS, "1")


def services() -> dict[str, tuple[str, int]]:
    """The services the full suite needs, and where: Redis is the tests' URL's."""
    return {"PostgreSQL": ("127.0.0.1", 5432), "Redis": redis_address()}


def main() -> int:
    in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    direcciones = services()
    missing = [name for name, address in direcciones.items() if not reachable(*address)]
    for name in missing:
        host, port = direcciones[name]
        print(f"{name} no responde en {host}:{port}", file=sys.stderr)
    if missing and in_ci:
        print("CI=true exige PostgreSQL y Redis: arráncalos antes de las pruebas.", file=sys.stderr)
        return 1
    return 0


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())


def terminar_sesion(pid: int) -> None:
    """Kill a PostgreSQL session from a second connection, as a dropped link would."""
    import psycopg
    from django.db import connection

    datos = connection.settings_dict
    with psycopg.connect(
        host=datos["HOST"], port=datos["PORT"], user=datos["USER"], dbname=datos["NAME"]
    ) as otra:
        otra.execute("SELECT pg_terminate_backend(%s)", [pid])
