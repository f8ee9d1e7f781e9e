from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class WhatsAppNotifyConfig(AppConfig):
    name = "whatsapp_notify"
    verbose_name = _("Notificaciones de WhatsApp")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            worker,
        )

        worker.conectar()  # Celery workers keep their database connection between tasks

        # Host apps may declare disparadores in a ``whatsapp.py`` module, like ``admin.py``.
        autodiscover_modules("whatsapp")
