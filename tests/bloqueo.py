"""The envíos' table held by another session, as a migration holds it, for the tests of
what a lock that cannot be had does to the ERP's transaction (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

TABLA = "whatsapp_notify_enviowhatsapp"


@contextmanager
def tabla_bloqueada(alias: str = "default") -> Iterator[None]:
    """While inside, a second session holds ``ACCESS EXCLUSIVE`` on the envíos' table.

    Nothing of the caller's transaction may touch the table before it enters: the other
    session's lock would wait for it."""
    tomada, soltar = threading.Event(), threading.Event()

    def migracion():
        otra = connections.create_connection(alias)
        try:
            with otra.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(f"LOCK TABLE {TABLA} IN ACCESS EXCLUSIVE MODE")
                tomada.set()
                soltar.wait(10)
                cursor.execute("ROLLBACK")
        finally:
            otra.close()

    hilo = threading.Thread(target=migracion)
    hilo.start()
    try:
        assert tomada.wait(10), "la otra sesión no tomó la tabla"
        yield
    finally:
        soltar.set()
        hilo.join(15)
