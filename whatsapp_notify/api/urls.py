"""The API's URLs; ``whatsapp_notify.urls`` mounts them at ``api/`` (names ``api-…``)."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()  # its root lists the collections
router.register("envios", views.EnvioViewSet, basename="api-envio")
router.register("consentimientos", views.ConsentimientoViewSet, basename="api-consentimiento")
router.register("conversaciones", views.ConversacionViewSet, basename="api-conversacion")

urlpatterns = [
    path("cola/", views.ColaView.as_view(), name="api-cola"),
    path("cola/reintentar/", views.ReintentarView.as_view(), name="api-cola-reintentar"),
    path("avisos/", views.AvisosView.as_view(), name="api-avisos"),
    path("avisos/reenviar/", views.ReenviarAvisoView.as_view(), name="api-avisos-reenviar"),
    path("estadisticas/", views.EstadisticasView.as_view(), name="api-estadisticas"),
    path("costos/", views.CostosView.as_view(), name="api-costos"),
    path("salud/", views.SaludView.as_view(), name="api-salud"),
    path("esquema/", views.esquema, name="api-esquema"),
    path("", include(router.urls)),
]
