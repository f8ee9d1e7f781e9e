"""JSON endpoints of the example ERP (the admin is its UI) and its work-order pages.

The JSON endpoints are open so the demo runs without users; a real ERP puts them behind
its login (``login_required`` / permissions) and keeps CSRF protection on. The order pages
(``/ordenes/``) show whether each order's WhatsApp notice went out, and why not, with a
«Reenviar notificación» button: they are for the workshop's staff (the admin's login).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from whatsapp_notify import estado_whatsapp, reenviar_aviso
from whatsapp_notify.models import EnvioWhatsApp
from whatsapp_notify.phones import mask

from . import servicios
from .models import Cotizacion, OrdenCompra, OrdenTrabajo

LIMITE_ENVIOS = 50
LIMITE_ORDENES = 100
#: The notice of a work order (taller/whatsapp.py): its page always shows this one.
AVISO_ORDEN = "vehiculo_listo"


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


# -- work-order pages --------------------------------------------------------------------


@staff_member_required
@require_GET
def ordenes(request: HttpRequest) -> HttpResponse:
    """The latest work orders, each with its «vehículo listo» notice (one query for all)."""
    lista = OrdenTrabajo.objects.select_related("cliente", "vehiculo")[:LIMITE_ORDENES]
    return render(request, "taller/ordenes.html", {"ordenes": lista, "tipo": AVISO_ORDEN})


@staff_member_required
@require_GET
def orden(request: HttpRequest, pk: int) -> HttpResponse:
    """One work order and every WhatsApp notice it caused, the latest of each tipo."""
    orden = get_object_or_404(OrdenTrabajo.objects.select_related("cliente", "vehiculo"), pk=pk)
    estados = estado_whatsapp(orden)
    otros = [estado for tipo, estado in estados.items() if tipo != AVISO_ORDEN]
    contexto = {"orden": orden, "aviso": estados.get(AVISO_ORDEN), "otros": otros}
    return render(request, "taller/orden.html", {**contexto, "tipo": AVISO_ORDEN})


@staff_member_required
@require_POST
def reenviar_aviso_orden(request: HttpRequest, pk: int) -> HttpResponse:
    """«Reenviar notificación»: :func:`whatsapp_notify.reenviar_aviso` for the order's notice.

    The form sends the notice's ``tipo`` and the envío the clerk saw (``copia_de``): a form
    sent twice, or a page that is out of date, sends nothing more.
    """
    orden = get_object_or_404(OrdenTrabajo, pk=pk)
    tipo, copia_de = request.POST.get("tipo", ""), request.POST.get("copia_de", "")
    if not tipo or (copia_de and not copia_de.isdigit()):
        return HttpResponseBadRequest("Falta el tipo del aviso o el envío no es un número.")
    resultado = reenviar_aviso(orden, tipo, copia_de=int(copia_de) if copia_de else None)
    nivel = messages.SUCCESS if resultado.reenviado else messages.WARNING
    messages.add_message(request, nivel, f"{orden.numero}: {resultado.mensaje}")
    return redirect(_siguiente(request, reverse("taller:orden", args=[orden.pk])))


def _siguiente(request: HttpRequest, por_omision: str) -> str:
    siguiente = request.POST.get("next", "")
    seguro = url_has_allowed_host_and_scheme(
        siguiente, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return siguiente if seguro else por_omision
