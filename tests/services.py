"""Check the services the full suite needs; exit non-zero under ``CI=true`` when one is down.

Run as ``python -m tests.services`` (``make test`` does it first). Outside CI a missing
service only prints a note: the tests that need it are skipped.
"""

from __future__ import annotations

import os
import socket
import sys

SERVICES = {"PostgreSQL": ("127.0.0.1", 5432), "Redis": ("127.0.0.1", 6379)}


def main() -> int:
    in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    missing = [name for name, address in SERVICES.items() if not reachable(*address)]
    for name in missing:
        host, port = SERVICES[name]
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
