"""WhatsApp rules of the workshop, autodiscovered by whatsapp_notify like ``admin.py``."""

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from whatsapp_notify import disparador, recordatorio, respuesta
from whatsapp_notify.backends import backends
from whatsapp_notify.backends.base import UnsupportedContent
from whatsapp_notify.messages import Fila, Lista, Reaccion, Seccion

from .pdf import pesos
from .servicios import APROBAR_COTIZACION, aprobar_cotizacion, registrar_pago

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


# Flow 5: the conversation that follows. The customer taps «Aprobar» under the quote's
# template: its payload names the quote, and the quote moves to APROBADA. The handler runs
# in a worker; its answer goes back quoting the customer's tap.
@respuesta(boton=re.compile(re.escape(APROBAR_COTIZACION) + r"(\d+)"))
def aprobar(mensaje, conversacion):
    pk = int(mensaje.respuesta_id.removeprefix(APROBAR_COTIZACION))
    cotizacion, cambiada = aprobar_cotizacion(pk, mensaje.telefono)
    if cotizacion is None:
        return "No encontramos esa cotización; escríbenos y te ayudamos."
    if not cambiada:
        return f"La cotización {cotizacion.numero} ya estaba aprobada. ¡Gracias!"
    conversacion.contexto["cotizacion_aprobada"] = cotizacion.numero
    return (
        f"¡Gracias, {cotizacion.cliente.nombre}! Aprobamos la cotización {cotizacion.numero} "
        f"por {pesos(cotizacion.total)}. Te avisamos cuando tu vehículo esté listo."
    )


HORARIOS = (
    Seccion("Lunes a viernes", (Fila("hora:lv:9", "9:00", "Recepción de vehículos"),
                                Fila("hora:lv:16", "16:00"))),
    Seccion("Sábado", (Fila("hora:sa:9", "9:00", "Abierto hasta las 14:00"),)),
)  # fmt: skip


# "horarios" (any case, with or without accents, anywhere in the text) answers with a list.
@respuesta(palabra=["horario", "horarios"])
def horarios(mensaje, conversacion):
    lista = Lista(
        "Atendemos de lunes a sábado. ¿Cuándo quieres traer tu vehículo?",
        boton="Ver horarios",
        secciones=HORARIOS,
    )
    try:
        backends[mensaje.cuenta].admite(lista)
    except UnsupportedContent:  # Twilio sends lists only as content templates
        return "Atendemos de lunes a viernes a las 9:00 y a las 16:00, y los sábados a las 9:00."
    return lista


@respuesta(boton=re.compile(r"hora:(lv|sa):\d+"))
def horario_elegido(mensaje, conversacion):
    conversacion.contexto["horario"] = mensaje.respuesta_id
    return f"Anotado: te esperamos a las {mensaje.texto}. Si necesitas cambiarlo, escríbenos."


# Flow 6: a payment receipt. The customer sends a photo (or PDF) of it with «Monto: 500 /
# Fecha: 2025-01-15» in the caption; the file is stored by a worker (MEDIA_DOWNLOAD in
# settings.py) and this handler records the payment from the caption.
RECIBO = re.compile(
    r"monto:\s*\$?\s*(?P<monto>\d[\d,]*(?:\.\d{1,2})?).*?fecha:\s*(?P<fecha>\d{4}-\d{2}-\d{2})",
    re.IGNORECASE | re.DOTALL,
)


@respuesta(tipo=["image", "document"], texto=RECIBO)
def comprobante_de_pago(mensaje, conversacion):
    datos = RECIBO.search(mensaje.texto)
    try:
        fecha = date.fromisoformat(datos["fecha"])
        monto = Decimal(datos["monto"].replace(",", ""))
    except (ValueError, InvalidOperation):
        return "No pude leer la fecha o el monto: escríbelos así «Monto: 500 / Fecha: 2025-01-15»."
    registrar_pago(mensaje, monto, fecha)
    return [
        Reaccion("👍"),
        f"Recibimos tu comprobante por {pesos(monto)} del {fecha:%d/%m/%Y}; lo revisamos y te "
        "confirmamos.",
    ]


@respuesta(tipo=["image", "document"], por_defecto=True)
def archivo_sin_datos(mensaje, conversacion):
    return (
        "Recibimos tu archivo. Si es un comprobante de pago, envíalo con el pie "
        "«Monto: 500 / Fecha: 2025-01-15» para registrarlo."
    )
