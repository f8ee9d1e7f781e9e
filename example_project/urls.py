"""URLs of the example ERP: the admin (its UI), the WhatsApp webhook and the JSON endpoints."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("whatsapp/", include("whatsapp_notify.urls")),
    path("", include("example_project.taller.urls")),
]
