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
    path("ordenes/", views.ordenes, name="ordenes"),
    path("ordenes/<int:pk>/", views.orden, name="orden"),
    path("ordenes/<int:pk>/reenviar/", views.reenviar_aviso_orden, name="reenviar_aviso_orden"),
]
