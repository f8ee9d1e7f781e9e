from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import servicios
from .models import (
    Cita,
    Cliente,
    Cotizacion,
    OrdenCompra,
    OrdenTrabajo,
    Pago,
    Proveedor,
    Vehiculo,
)


class VehiculoInline(admin.TabularInline):
    model = Vehiculo
    extra = 0


@admin.register(Cliente)
class ClienteAdmin(admin.ModelAdmin):
    list_display = ["nombre", "telefono", "email", "acepta_whatsapp"]
    list_filter = ["acepta_whatsapp"]
    search_fields = ["nombre", "telefono", "email"]
    inlines = [VehiculoInline]


@admin.register(Proveedor)
class ProveedorAdmin(admin.ModelAdmin):
    list_display = ["nombre", "telefono", "email", "acepta_whatsapp"]
    list_filter = ["acepta_whatsapp"]
    search_fields = ["nombre", "telefono", "email"]


@admin.register(Vehiculo)
class VehiculoAdmin(admin.ModelAdmin):
    list_display = ["__str__", "cliente", "anio"]
    search_fields = ["placas", "marca", "modelo", "cliente__nombre"]
    list_select_related = ["cliente"]


@admin.register(OrdenTrabajo)
class OrdenTrabajoAdmin(admin.ModelAdmin):
    list_display = ["numero", "cliente", "vehiculo", "estado", "total", "creada_en"]
    list_filter = ["estado"]
    search_fields = ["numero", "cliente__nombre", "vehiculo__placas"]
    list_select_related = ["cliente", "vehiculo"]
    actions = ["marcar_completada"]

    @admin.action(description=_("Marcar como completada"))
    def marcar_completada(self, request, queryset):
        # One save() per order (not queryset.update()) so the WhatsApp disparador fires.
        completadas = sum(servicios.completar_orden(orden).cambiada for orden in queryset)
        self.message_user(
            request,
            ngettext(
                "%(n)d orden completada; se avisará al cliente por WhatsApp.",
                "%(n)d órdenes completadas; se avisará a los clientes por WhatsApp.",
                completadas,
            )
            % {"n": completadas},
            messages.SUCCESS,
        )


@admin.register(OrdenCompra)
class OrdenCompraAdmin(admin.ModelAdmin):
    list_display = ["numero", "proveedor", "resumen", "total", "fecha"]
    search_fields = ["numero", "proveedor__nombre"]
    list_select_related = ["proveedor"]
    date_hierarchy = "fecha"


@admin.register(Cotizacion)
class CotizacionAdmin(admin.ModelAdmin):
    list_display = ["numero", "cliente", "vehiculo", "total", "fecha", "estado"]
    list_filter = ["estado"]
    search_fields = ["numero", "cliente__nombre"]
    list_select_related = ["cliente", "vehiculo"]
    date_hierarchy = "fecha"


@admin.register(Cita)
class CitaAdmin(admin.ModelAdmin):
    list_display = ["fecha", "cliente", "vehiculo", "estado", "motivo"]
    list_filter = ["estado"]
    search_fields = ["cliente__nombre", "vehiculo__placas", "motivo"]
    list_select_related = ["cliente", "vehiculo"]
    date_hierarchy = "fecha"
    actions = ["cancelar"]

    @admin.action(description=_("Cancelar cita"))
    def cancelar(self, request, queryset):
        # One save() per appointment (not queryset.update()) so the reminders are cancelled
        # and the customer is told.
        canceladas = 0
        for cita in queryset.exclude(estado=Cita.Estado.CANCELADA):
            cita.estado = Cita.Estado.CANCELADA
            cita.save(update_fields=["estado"])
            canceladas += 1
        self.message_user(
            request,
            ngettext(
                "%(n)d cita cancelada; se avisará al cliente por WhatsApp.",
                "%(n)d citas canceladas; se avisará a los clientes por WhatsApp.",
                canceladas,
            )
            % {"n": canceladas},
            messages.SUCCESS,
        )


@admin.register(Pago)
class PagoAdmin(admin.ModelAdmin):
    list_display = ["recibido_en", "cliente", "monto", "fecha", "comprobante"]
    search_fields = ["cliente__nombre", "telefono"]
    list_select_related = ["cliente"]
    raw_id_fields = ["comprobante"]
