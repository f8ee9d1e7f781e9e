"""Celery workers keep their database connection between tasks.

Celery's Django fixup closes every database connection before and after each task unless
the host sets ``CELERY_DB_REUSE_MAX``: a new PostgreSQL connection per delivery task, which
halves what a worker sends. When the host has not set it, a worker gives the fixup
:data:`REUSO` instead (it then reconnects every ``2 × REUSO`` tasks), and before each task
closes only a connection that broke (the database restarted) so the task opens a new one.
A host that sets ``CELERY_DB_REUSE_MAX`` (any value) keeps its choice.

Connected in ``AppConfig.ready``; nothing happens outside a Celery worker.
"""

from __future__ import annotations

import logging

from celery.signals import task_prerun, worker_init
from django.db import connections

logger = logging.getLogger(__name__)

#: Tasks between two reconnections, as Celery's ``CELERY_DB_REUSE_MAX`` counts them.
REUSO = 500


def conservar_conexiones(sender=None, **kwargs) -> None:
    """``worker_init``: let the worker's Django fixup keep connections (see module)."""
    app = getattr(sender, "app", None)
    if app is None or app.conf.get("CELERY_DB_REUSE_MAX") is not None:
        return
    for fixup in getattr(app, "_fixups", None) or ():
        reparador = getattr(fixup, "worker_fixup", None)  # Celery's DjangoFixup only
        if reparador is not None and getattr(reparador, "db_reuse_max", 0) is None:
            reparador.db_reuse_max = REUSO
            logger.debug("El worker conserva su conexión a la base de datos entre tareas")


def cerrar_conexiones_rotas(**kwargs) -> None:
    """``task_prerun``: close a connection whose last query failed and that no longer
    answers, so the task reconnects instead of failing on it."""
    for conexion in connections.all(initialized_only=True):
        if conexion.connection is not None and conexion.errors_occurred:
            if conexion.is_usable():
                conexion.errors_occurred = False
            else:
                conexion.close()


def conectar() -> None:
    worker_init.connect(conservar_conexiones, dispatch_uid="whatsapp_notify.worker_init")
    task_prerun.connect(cerrar_conexiones_rotas, dispatch_uid="whatsapp_notify.task_prerun")
