"""URLs of the app: ``path("whatsapp/", include("whatsapp_notify.urls"))``.

``webhook/`` is the webhook of the ``default`` account and ``webhook/<cuenta>/`` that of
any account in ``WHATSAPP_NOTIFY["BACKENDS"]``; both reverse as ``whatsapp_notify:webhook``.
"""

from django.urls import path

from .conf import DEFAULT_ALIAS
from .inbound.views import WebhookView

app_name = "whatsapp_notify"

urlpatterns = [
    path("webhook/", WebhookView.as_view(), {"cuenta": DEFAULT_ALIAS}, name="webhook"),
    path("webhook/<str:cuenta>/", WebhookView.as_view(), name="webhook"),
]
