"""The Celery app of the example ERP: ``celery -A example_project worker -B``."""

import os

from celery import Celery

from whatsapp_notify.schedule import BEAT_SCHEDULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Re-dispatch lost envíos and probe paused accounts, every minute.
app.conf.beat_schedule = {**BEAT_SCHEDULE, **(app.conf.beat_schedule or {})}
