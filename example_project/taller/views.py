"""JSON endpoints of the example ERP (the admin is its UI).

They are open so the demo runs without users; a real ERP puts them behind its login
(``login_required`` / permissions) and keeps CSRF protection on.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from whatsapp_notify.models import EnvioWhatsApp
from whatsapp_notify.phones import mask

from . import servicios
from .models import Cotizacion, OrdenCompra, OrdenTrabajo

LIMITE_ENVIOS = 50


@require_POST
def enviar_orden_compra(request: HttpRequest, pk: int) -> JsonResponse:
    """E-mail + WhatsApp of a purchase order to its supplier."""
    orden = get_object_or_404(OrdenCompra.objects.select_related("proveedor"), pk=pk)
    return JsonResponse(servicios.enviar_orden_compra(orden).como_dict())


@require_POST
def enviar_cotizacion(request: HttpRequest, pk: int) -> JsonResponse:
    """E-mail + WhatsApp (with the PDF) of a quote to its customer."""
    cotizacion = get_object_or_404(Cotizacion.objects.select_related("cliente", "vehiculo"), pk=pk)
    return JsonResponse(servicios.enviar_cotizacion(cotizacion).como_dict())


@require_POST
def completar_orden(request: HttpRequest, pk: int) -> JsonResponse:
    """Mark a work order COMPLETADA; the disparador notifies the customer once."""
    orden = get_object_or_404(OrdenTrabajo.objects.select_related("cliente", "vehiculo"), pk=pk)
    return JsonResponse(servicios.completar_orden(orden).como_dict())


@require_GET
def envios(request: HttpRequest) -> JsonResponse:
    """The latest envíos (phones masked), newest first; ``?tipo=`` filters."""
    consulta = EnvioWhatsApp.objects.all()
    if tipo := request.GET.get("tipo"):
        consulta = consulta.filter(tipo=tipo)
    return JsonResponse({"envios": [_envio(envio) for envio in consulta[:LIMITE_ENVIOS]]})


def _envio(envio: EnvioWhatsApp) -> dict:
    return {
        "id": envio.pk,
        "tipo": envio.tipo,
        "plantilla": envio.plantilla,
        "telefono": mask(envio.telefono),
        "estado": envio.estado,
        "motivo": envio.motivo or None,
        "intentos": envio.intentos,
        "error_codigo": envio.error_codigo,
        "creado_en": envio.creado_en,
        "enviado_en": envio.enviado_en,
        "entregado_en": envio.entregado_en,
        "leido_en": envio.leido_en,
        "fallido_en": envio.fallido_en,
    }
