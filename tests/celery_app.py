"""The Celery app the test suite and its worker processes use."""

import os
from contextlib import contextmanager

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["whatsapp_notify"])


@contextmanager
def con_broker(broker_url: str, **conf):
    """Publish to ``broker_url`` (not eagerly) inside the block; restore the app after.

    Extra ``conf`` keys (``broker_transport_options``...) apply inside the block too.
    """
    claves = {"task_always_eager": False, "broker_url": broker_url, **conf}
    previo = {clave: app.conf[clave] for clave in claves}
    app.conf.update(claves)
    _olvidar_conexiones()
    try:
        yield app
    finally:
        from whatsapp_notify import tasks

        tasks.esperar_publicaciones()  # what the block committed goes to this broker
        app.conf.update(previo)
        _olvidar_conexiones()


def _olvidar_conexiones() -> None:
    # Celery caches its broker connection pools on first use; a new broker_url needs new ones.
    app._pool = None
    app.amqp._producer_pool = None
