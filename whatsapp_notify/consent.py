"""Recording and reading consent (``ConsentimientoCliente``) by phone."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from . import signals
from .models import ConsentimientoCliente, EstadoConsentimiento, OrigenConsentimiento
from .phones import normalizar


def otorgar_consentimiento(
    telefono: str,
    *,
    origen: str = OrigenConsentimiento.ERP,
    evidencia: str = "",
    region: str | None = None,
    fecha: datetime | None = None,
) -> ConsentimientoCliente:
    """Record that ``telefono`` agreed to receive WhatsApp messages.

    ``fecha`` is when the customer agreed (default: now). When the estado changes,
    ``signals.consentimiento_cambiado`` is sent.

    Raises:
        TelefonoInvalido: the phone cannot be normalised.
    """
    return _registrar(telefono, EstadoConsentimiento.OTORGADO, origen, evidencia, region, fecha)


def revocar_consentimiento(
    telefono: str,
    *,
    origen: str = OrigenConsentimiento.ERP,
    evidencia: str = "",
    region: str | None = None,
    fecha: datetime | None = None,
) -> ConsentimientoCliente:
    """Record that ``telefono`` no longer wants WhatsApp messages; later sends are omitido.

    ``fecha`` is when the customer asked (default: now). When the estado changes,
    ``signals.consentimiento_cambiado`` is sent.

    Raises:
        TelefonoInvalido: the phone cannot be normalised.
    """
    return _registrar(telefono, EstadoConsentimiento.REVOCADO, origen, evidencia, region, fecha)


def tiene_consentimiento(telefono: str) -> bool:
    """True when the normalised ``telefono`` has a granted consent."""
    return ConsentimientoCliente.objects.filter(
        telefono=telefono, estado=EstadoConsentimiento.OTORGADO
    ).exists()


def _registrar(telefono, estado, origen, evidencia, region, fecha) -> ConsentimientoCliente:
    digitos = normalizar(telefono, region)
    marca = "otorgado_en" if estado == EstadoConsentimiento.OTORGADO else "revocado_en"
    campos = {"estado": estado, "origen": origen, "evidencia": evidencia}
    with transaction.atomic():
        # Locked until the update: two concurrent changes each see the estado they replace.
        anterior = (
            ConsentimientoCliente.objects.select_for_update()
            .filter(telefono=digitos)
            .values_list("estado", flat=True)
            .first()
        )
        consentimiento, _ = ConsentimientoCliente.objects.update_or_create(
            telefono=digitos, defaults={**campos, marca: fecha or timezone.now()}
        )
    if anterior != estado:
        signals.enviar_seguro(
            signals.consentimiento_cambiado,
            ConsentimientoCliente,
            consentimiento=consentimiento,
            anterior=anterior,
            origen=origen,
        )
    return consentimiento
