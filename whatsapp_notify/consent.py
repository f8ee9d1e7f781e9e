"""Recording and reading consent (``ConsentimientoCliente``) by phone."""

from __future__ import annotations

from django.utils import timezone

from .models import ConsentimientoCliente, EstadoConsentimiento, OrigenConsentimiento
from .phones import normalizar


def otorgar_consentimiento(
    telefono: str,
    *,
    origen: str = OrigenConsentimiento.ERP,
    evidencia: str = "",
    region: str | None = None,
) -> ConsentimientoCliente:
    """Record that ``telefono`` agreed to receive WhatsApp messages.

    Raises:
        TelefonoInvalido: the phone cannot be normalised.
    """
    return _registrar(telefono, EstadoConsentimiento.OTORGADO, origen, evidencia, region)


def revocar_consentimiento(
    telefono: str,
    *,
    origen: str = OrigenConsentimiento.ERP,
    evidencia: str = "",
    region: str | None = None,
) -> ConsentimientoCliente:
    """Record that ``telefono`` no longer wants WhatsApp messages; later sends are omitido."""
    return _registrar(telefono, EstadoConsentimiento.REVOCADO, origen, evidencia, region)


def tiene_consentimiento(telefono: str) -> bool:
    """True when the normalised ``telefono`` has a granted consent."""
    return ConsentimientoCliente.objects.filter(
        telefono=telefono, estado=EstadoConsentimiento.OTORGADO
    ).exists()


def _registrar(telefono, estado, origen, evidencia, region) -> ConsentimientoCliente:
    digitos = normalizar(telefono, region)
    ahora = timezone.now()
    marca = "otorgado_en" if estado == EstadoConsentimiento.OTORGADO else "revocado_en"
    consentimiento, _ = ConsentimientoCliente.objects.update_or_create(
        telefono=digitos,
        defaults={"estado": estado, "origen": origen, "evidencia": evidencia, marca: ahora},
    )
    return consentimiento
