"""What the ERP does when the clerk presses a button: e-mail + WhatsApp, never failing on WhatsApp.

The views and the ``demo`` command call these functions; they return an :class:`Aviso`
whose ``mensaje`` tells the clerk, in one sentence, what happened on each channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMessage
from django.db import models
from django.utils import timezone

from whatsapp_notify import BotonRapido, enviar_plantilla
from whatsapp_notify.backends import backends
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.phones import TelefonoInvalido, mask, normalizar

from .models import Cliente, Cotizacion, OrdenCompra, OrdenTrabajo, Pago
from .pdf import cotizacion_pdf, pesos

logger = logging.getLogger(__name__)

NO_ENVIADO = {EstadoEnvio.OMITIDO, EstadoEnvio.FALLIDO, EstadoEnvio.CANCELADO}
EN_COLA = {
    EstadoEnvio.PROGRAMADO,
    EstadoEnvio.PENDIENTE,
    EstadoEnvio.ENVIANDO,
    EstadoEnvio.INCIERTO,
}


@dataclass(frozen=True)
class Aviso:
    """The answer of a "send" endpoint: what went by e-mail and what by WhatsApp."""

    email_enviado: bool
    whatsapp_enviado: bool
    mensaje: str
    envio_id: int | None
    motivo: str | None

    def como_dict(self) -> dict:
        return asdict(self)


def enviar_orden_compra(orden: OrdenCompra) -> Aviso:
    """E-mail the purchase order to the supplier and queue ``orden_compra_proveedor``."""
    proveedor = orden.proveedor
    correo = _correo(
        proveedor.email,
        f"Orden de compra {orden.numero}",
        f"Hola {proveedor.nombre}:\n\nLe enviamos la orden de compra {orden.numero}:\n"
        f"{orden.resumen}\nTotal: {pesos(orden.total)}\n",
    )
    clave = f"orden_compra:{orden.pk}"
    envio, repetido = _whatsapp(
        clave,
        lambda: enviar_plantilla(
            proveedor,
            "orden_compra_proveedor",
            variables=[proveedor.nombre, orden.numero, orden.resumen],
            referencia=orden,
            tipo="orden_compra",
            clave=clave,
        ),
    )
    return _aviso(correo, envio, repetido)


def enviar_cotizacion(cotizacion: Cotizacion) -> Aviso:
    """E-mail the quote PDF to the customer and queue ``cotizacion_lista_cliente`` with it.

    The clave includes the quote's :attr:`~Cotizacion.huella`: an unchanged quote is never
    sent twice, an edited one is sent again. Where the provider takes template buttons
    (Meta), the «Aprobar» quick reply carries ``cotizacion:aprobar:<pk>``: the handler in
    ``taller/whatsapp.py`` approves the quote when the customer taps it.
    """
    cliente = cotizacion.cliente
    pdf, nombre_pdf = cotizacion_pdf(cotizacion), f"cotizacion-{cotizacion.numero}.pdf"
    correo = _correo(
        cliente.email,
        f"Cotización {cotizacion.numero}",
        f"Hola {cliente.nombre}:\n\nAdjuntamos la cotización {cotizacion.numero} "
        f"por {pesos(cotizacion.total)}.\n",
        adjunto=(nombre_pdf, pdf),
    )
    clave = f"cotizacion:{cotizacion.pk}:{cotizacion.huella}"
    envio, repetido = _whatsapp(
        clave,
        lambda: enviar_plantilla(
            cliente,
            "cotizacion_lista_cliente",
            variables=[cliente.nombre, cotizacion.numero, pesos(cotizacion.total)],
            documento=pdf,
            nombre_documento=nombre_pdf,
            botones=botones_de_cotizacion(cotizacion),
            referencia=cotizacion,
            tipo="cotizacion",
            clave=clave,
        ),
    )
    return _aviso(correo, envio, repetido)


def botones_de_cotizacion(cotizacion: Cotizacion) -> list[BotonRapido] | None:
    """The «Aprobar» payload, on an account whose provider sends template buttons."""
    if not backends["default"].botones_de_plantilla:
        return None  # Twilio, WHAPI: the template goes without it
    return [BotonRapido(f"{APROBAR_COTIZACION}{cotizacion.pk}")]


APROBAR_COTIZACION = "cotizacion:aprobar:"


def aprobar_cotizacion(pk: int, telefono: str) -> tuple[Cotizacion | None, bool]:
    """Approve quote ``pk`` for the customer at ``telefono`` (E.164 digits, as WhatsApp
    reports it): ``(quote, it changed)``, or ``(None, False)`` when the quote was not sent
    to that phone (a payload that is not ours)."""
    cotizacion = Cotizacion.objects.select_for_update().filter(pk=pk).first()
    envio = envio_de(cotizacion, "cotizacion") if cotizacion else None
    if envio is None or envio.telefono != telefono:
        return None, False
    if cotizacion.estado == Cotizacion.Estado.APROBADA:
        return cotizacion, False
    cotizacion.estado, cotizacion.aprobada_en = Cotizacion.Estado.APROBADA, timezone.now()
    cotizacion.save(update_fields=["estado", "aprobada_en"])
    return cotizacion, True


def registrar_pago(mensaje, monto: Decimal, fecha: date) -> Pago:
    """The payment a receipt reports, once per message; linked to the customer whose phone
    sent it (the phones are compared as WhatsApp writes them)."""
    cliente = next(
        (c for c in Cliente.objects.all() if _digitos(c.telefono) == mensaje.telefono), None
    )
    pago, _creado = Pago.objects.get_or_create(
        comprobante=mensaje,
        defaults={"cliente": cliente, "telefono": mensaje.telefono, "monto": monto, "fecha": fecha},
    )
    return pago


def _digitos(telefono: str) -> str:
    try:
        return normalizar(telefono)
    except TelefonoInvalido:
        return ""


@dataclass(frozen=True)
class Completada:
    """The answer of the "complete order" endpoint."""

    numero: str
    estado: str
    cambiada: bool
    whatsapp_enviado: bool
    mensaje: str
    envio_id: int | None
    motivo: str | None

    def como_dict(self) -> dict:
        return asdict(self)


def completar_orden(orden: OrdenTrabajo) -> Completada:
    """Mark a work order COMPLETADA (``cambiada`` is False when it already was).

    The customer is notified by the ``vehiculo_listo_cliente`` disparador (taller/whatsapp.py):
    its envío is recorded with the save and sent after the commit, so this request never
    waits for WhatsApp, and a second completion never notifies twice.
    """
    cambiada = orden.estado != OrdenTrabajo.Estado.COMPLETADA
    previo = envio_de(orden, "vehiculo_listo")  # reopened and completed again: no new send
    if cambiada:
        orden.estado = OrdenTrabajo.Estado.COMPLETADA
        # A full save(), not queryset.update(): the disparador listens to the model's signals.
        orden.save()
    envio = envio_de(orden, "vehiculo_listo")
    if cambiada:
        mensaje = f"Orden {orden.numero} completada. {_frase_whatsapp(envio, previo is not None)}"
    else:
        mensaje = f"La orden {orden.numero} ya estaba completada; no se avisa de nuevo."
    return Completada(
        numero=orden.numero,
        estado=orden.estado,
        cambiada=cambiada,
        whatsapp_enviado=envio is not None and envio.estado not in NO_ENVIADO,
        mensaje=mensaje,
        envio_id=envio.pk if envio else None,
        motivo=(envio.motivo or None) if envio else None,
    )


def envio_de(objeto: models.Model, tipo: str) -> EnvioWhatsApp | None:
    """The latest envío of ``tipo`` whose referencia is ``objeto``."""
    return EnvioWhatsApp.objects.filter(
        content_type=ContentType.objects.get_for_model(objeto),
        object_id=str(objeto.pk),
        tipo=tipo,
    ).first()


def _correo(destino: str, asunto: str, cuerpo: str, adjunto=None) -> bool | None:
    """Send an e-mail; None when there is no address, False when sending failed."""
    if not destino:
        return None
    mensaje = EmailMessage(asunto, cuerpo, to=[destino])
    if adjunto:
        mensaje.attach(*adjunto, "application/pdf")
    try:
        return mensaje.send() == 1
    except Exception:  # SMTP down: the clerk learns it from the answer, the log has details
        logger.exception("No se pudo enviar el correo «%s»", asunto)
        return False


def _whatsapp(clave: str, enviar: Callable[[], EnvioWhatsApp]) -> tuple[EnvioWhatsApp | None, bool]:
    """Run ``enviar``; return ``(envío, it already existed)`` or ``(None, False)`` on error."""
    repetido = EnvioWhatsApp.objects.filter(clave=clave).exists()
    try:
        envio = enviar()
    except Exception:  # WhatsApp must never break the ERP's request
        logger.exception("No se pudo registrar el WhatsApp %s", clave)
        return None, False
    # With eager Celery (development) the worker already ran: report the current estado.
    envio.refresh_from_db()
    return envio, repetido


def _aviso(correo: bool | None, envio: EnvioWhatsApp | None, repetido: bool) -> Aviso:
    enviado = envio is not None and envio.estado not in NO_ENVIADO
    return Aviso(
        email_enviado=bool(correo),
        whatsapp_enviado=enviado,
        mensaje=f"{_frase_correo(correo)} {_frase_whatsapp(envio, repetido)}",
        envio_id=envio.pk if envio else None,
        motivo=(envio.motivo or None) if envio else None,
    )


def _frase_correo(correo: bool | None) -> str:
    if correo is None:
        return "No hay correo registrado; no se envió correo."
    return "Correo enviado." if correo else "No se pudo enviar el correo (ver el log)."


def _frase_whatsapp(envio: EnvioWhatsApp | None, repetido: bool) -> str:
    if envio is None:
        return "No se pudo registrar el WhatsApp por un error interno (ver el log)."
    if envio.estado == EstadoEnvio.OMITIDO:
        return f"WhatsApp no enviado: {envio.get_motivo_display()} (envío #{envio.pk})."
    if envio.estado == EstadoEnvio.FALLIDO:
        return f"WhatsApp fallido: {envio.error_detalle or 'sin detalle'} (envío #{envio.pk})."
    if repetido:
        return (
            f"Este WhatsApp ya se había registrado (envío #{envio.pk}, "
            f"{envio.get_estado_display().lower()}); no se envía dos veces."
        )
    destino = mask(envio.telefono)
    if envio.estado in EN_COLA:
        return f"WhatsApp en cola para {destino} (envío #{envio.pk})."
    return f"WhatsApp enviado a {destino} (envío #{envio.pk})."
