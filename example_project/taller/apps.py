from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TallerConfig(AppConfig):
    name = "example_project.taller"
    label = "taller"
    verbose_name = _("Taller")
    default_auto_field = "django.db.models.BigAutoField"
