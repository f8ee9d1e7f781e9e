"""The Celery app of the example ERP: ``celery -A example_project worker -B``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def programar_tareas_periodicas(sender: Celery, **kwargs) -> None:
    """Merge whatsapp_notify's Beat schedule (re-dispatch, paused-account probe).

    Imported here, not at module level: the tasks module needs Django's apps to be ready,
    and this module is imported while Django reads its settings.
    """
    from whatsapp_notify.tasks import BEAT_SCHEDULE

    sender.conf.beat_schedule = {**BEAT_SCHEDULE, **(sender.conf.beat_schedule or {})}
