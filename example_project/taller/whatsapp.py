"""WhatsApp rules of the workshop, autodiscovered by whatsapp_notify like ``admin.py``."""

from whatsapp_notify import disparador

# Flow 3: when a work order becomes COMPLETADA the customer hears their vehicle is ready.
# Once per order (the disparador derives its clave), after the commit, via Celery.
disparador(
    "taller.OrdenTrabajo",
    campo="estado",
    valor="COMPLETADA",
    plantilla="vehiculo_listo_cliente",
    tipo="vehiculo_listo",
    destinatario=lambda orden: orden.cliente,
    variables=lambda orden: [orden.cliente.nombre, str(orden.vehiculo), orden.numero],
)
