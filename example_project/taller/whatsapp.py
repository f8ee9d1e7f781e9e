"""WhatsApp rules of the workshop, autodiscovered by whatsapp_notify like ``admin.py``."""

from datetime import timedelta

from whatsapp_notify import disparador, recordatorio

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


def _datos_cita(cita) -> list[str]:
    return [cita.cliente.nombre, cita.fecha_legible, str(cita.vehiculo)]


# Flow 4: appointments. The confirmation goes when the appointment is booked (created
# PROGRAMADA), once per appointment.
disparador(
    "taller.Cita",
    campo="estado",
    valor="PROGRAMADA",
    plantilla="cita_confirmada",
    tipo="cita_confirmada",
    destinatario=lambda cita: cita.cliente,
    variables=_datos_cita,
)

# 24 h and 1 h before; moved when the date moves, cancelled when the appointment is
# CANCELADA or deleted, and then the customer is told once.
recordatorio(
    "taller.Cita",
    campo_fecha="fecha",
    antes=[timedelta(hours=24), timedelta(hours=1)],
    plantilla="recordatorio_cita",
    tipo="recordatorio_cita",
    destinatario=lambda cita: cita.cliente,
    variables=_datos_cita,
    cancelar_si=lambda cita: cita.estado == "CANCELADA",
    plantilla_cancelacion="cita_cancelada",
    variables_cancelacion=lambda cita: [cita.cliente.nombre, cita.fecha_legible],
)
