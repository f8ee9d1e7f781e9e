"""The Beat schedule of the app, for the host to merge into its Celery app.

Importing this module does not import models, so a host's ``celery.py`` can import
``BEAT_SCHEDULE`` at module level, before Django is set up. Task names are the ones
``tasks`` registers.
"""

from __future__ import annotations

from celery.schedules import crontab

#: Merge into your Celery app: ``app.conf.beat_schedule.update(BEAT_SCHEDULE)``.
BEAT_SCHEDULE = {
    "whatsapp_notify.despachar": {"task": "whatsapp_notify.despachar", "schedule": 60.0},
    "whatsapp_notify.comprobar_cuentas": {
        "task": "whatsapp_notify.comprobar_cuentas",
        "schedule": 60.0,
    },
    "whatsapp_notify.reprocesar_webhooks": {
        "task": "whatsapp_notify.reprocesar_webhooks",
        "schedule": 60.0,
    },
    "whatsapp_notify.atender_pendientes": {
        "task": "whatsapp_notify.atender_pendientes",
        "schedule": 60.0,
    },
    # Daily at 03:17 in Celery's timezone (CELERY_TIMEZONE): a quiet hour, off the full hour
    # other nightly jobs pick.
    "whatsapp_notify.purgar": {
        "task": "whatsapp_notify.purgar",
        "schedule": crontab(hour=3, minute=17),
    },
    "whatsapp_notify.alerta_fallos": {"task": "whatsapp_notify.alerta_fallos", "schedule": 300.0},
}
