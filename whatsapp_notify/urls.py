"""URLs of the app: ``path("whatsapp/", include("whatsapp_notify.urls"))``.

``webhook/`` is the webhook of the ``default`` account and ``webhook/<cuenta>/`` that of
any account in ``WHATSAPP_NOTIFY["BACKENDS"]``; both reverse as ``whatsapp_notify:webhook``.
``documento/<token>/[<nombre>]`` serves an envío's document to a provider that fetches it
by URL (Twilio's ``MediaUrl``); both reverse as ``whatsapp_notify:documento``.
``salud/`` is the health endpoint and ``metricas/`` the Prometheus text (``health_views``).
``api/`` is the REST API (``whatsapp_notify.api``) when Django REST framework is installed
(extra ``api``) and in ``INSTALLED_APPS``; its names are ``whatsapp_notify:api-…``.
"""

from django.apps import apps
from django.urls import include, path

from .conf import DEFAULT_ALIAS
from .documents_view import documento
from .health_views import metricas, salud
from .inbound.views import WebhookView

app_name = "whatsapp_notify"

urlpatterns = [
    path("webhook/", WebhookView.as_view(), {"cuenta": DEFAULT_ALIAS}, name="webhook"),
    path("webhook/<str:cuenta>/", WebhookView.as_view(), name="webhook"),
    path("documento/<str:token>/", documento, name="documento"),
    path("documento/<str:token>/<str:nombre>", documento, name="documento"),
    path("salud/", salud, name="salud"),
    path("metricas/", metricas, name="metricas"),
]

if apps.is_installed("rest_framework"):
    # Only where the project chose DRF (extra "api", "rest_framework" in INSTALLED_APPS): a
    # DRF that came along as another package's dependency mounts nothing.
    urlpatterns.append(path("api/", include("whatsapp_notify.api.urls")))
