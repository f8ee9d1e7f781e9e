from django.urls import path

from . import views

app_name = "taller"

urlpatterns = [
    path(
        "ordenes-compra/<int:pk>/enviar/",
        views.enviar_orden_compra,
        name="enviar_orden_compra",
    ),
    path("cotizaciones/<int:pk>/enviar/", views.enviar_cotizacion, name="enviar_cotizacion"),
    path("ordenes/<int:pk>/completar/", views.completar_orden, name="completar_orden"),
    path("envios/", views.envios, name="envios"),
]
