"""URLs of the app: ``path("whatsapp/", include("whatsapp_notify.urls"))``.

The inbound webhook routes (``webhook/`` and ``webhook/<cuenta>/``) are served here.
"""

app_name = "whatsapp_notify"

urlpatterns: list = []
