"""Real ``celery worker`` processes for the tests that need one (solo pool, own queue).

The worker runs ``tests.celery_app`` with ``tests.settings``; the ``WHATSAPP_TEST_*``
variables of its environment (see :func:`entorno_worker`) point it at the test database,
a broker and a Graph API stand-in. Its log goes to a temporary file, read back on failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

RAIZ = Path(__file__).resolve().parent.parent
# Seconds for a worker to report "ready" on a loaded 2-core machine.
ARRANQUE = 40


def entorno_worker(broker_url: str, graph_url: str, cola: str, **extra: object) -> dict[str, str]:
    """The environment of a worker on the test PostgreSQL database that sends through
    ``MetaBackend`` to ``graph_url`` from ``cola``; ``extra`` adds ``WHATSAPP_TEST_<KEY>``."""
    entorno = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(RAIZ), os.environ.get("PYTHONPATH")])),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "WHATSAPP_TEST_DB": "postgres",
        "WHATSAPP_TEST_DB_NAME": connection.settings_dict["NAME"],
        "WHATSAPP_TEST_WORKER": "1",
        "WHATSAPP_TEST_CELERY_EAGER": "0",
        "WHATSAPP_TEST_BROKER_URL": broker_url,
        "WHATSAPP_TEST_BACKEND": "meta",
        "WHATSAPP_TEST_GRAPH_URL": graph_url,
        "WHATSAPP_TEST_TASK_QUEUE": cola,
    }
    entorno.update({f"WHATSAPP_TEST_{clave}": str(valor) for clave, valor in extra.items()})
    return entorno


class Worker:
    """One ``celery worker`` process consuming ``colas`` (``-Q``); its log in a temp file."""

    def __init__(self, colas: str, entorno: dict[str, str], nombre: str | None = None) -> None:
        self.colas = colas
        self.nombre = nombre or f"{colas}-{uuid.uuid4().hex[:4]}@%h"
        self._registro = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by parar())
        self.proceso = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker",
             "--pool=solo", "--concurrency=1", "-Q", colas, "-n", self.nombre,
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=RAIZ,
            env=entorno,
            stdout=self._registro,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def log(self) -> str:
        self._registro.seek(0)
        return self._registro.read()

    def esperar_arranque(self) -> Worker:
        """Wait for "ready"; fail the test with the log if it exits or takes too long."""
        limite = time.monotonic() + ARRANQUE
        while time.monotonic() < limite:
            if " ready." in self.log():
                return self
            if self.proceso.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"El worker de Celery no arrancó:\n{self.log()[-4000:]}", pytrace=False)

    def matar(self) -> None:
        """SIGKILL: no shutdown, no ack, whatever it was doing is cut."""
        if self.proceso.poll() is None:
            self.proceso.kill()
        self.proceso.wait()

    def parar(self) -> None:
        """Cold shutdown (SIGQUIT), SIGKILL after 10 s; the log is closed."""
        if self.proceso.poll() is None:
            self.proceso.send_signal(signal.SIGQUIT)
            try:
                self.proceso.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.matar()
        self._registro.close()
