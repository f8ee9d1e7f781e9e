"""The workshop's data: customers, suppliers, vehicles, work orders, purchase orders, quotes."""

from __future__ import annotations

import hashlib
import json
import logging
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from whatsapp_notify import otorgar_consentimiento, revocar_consentimiento
from whatsapp_notify.phones import TelefonoInvalido

logger = logging.getLogger(__name__)
# Logged when a contact ticked «acepta WhatsApp» with a phone that cannot be one.
SIN_CONSENTIMIENTO = "No se registró el consentimiento de %s #%s: teléfono inválido o vacío."


class Contacto(models.Model):
    """Someone the workshop writes to; ``acepta_whatsapp`` is kept in step with consent.

    Consent is recorded only on a change (created with the box ticked, box ticked or
    unticked, phone changed while ticked), so editing an unrelated field never overrides
    an opt-out the customer sent from WhatsApp ("BAJA").
    """

    nombre = models.CharField(_("nombre"), max_length=200)
    telefono = models.CharField(_("teléfono"), max_length=40, blank=True)
    email = models.EmailField(_("correo"), blank=True)
    acepta_whatsapp = models.BooleanField(
        _("acepta WhatsApp"),
        default=False,
        help_text=_("Aceptó recibir avisos por WhatsApp (se registra como consentimiento)."),
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.nombre

    def save(self, *args, **kwargs) -> None:
        nuevo, antes = self._state.adding, getattr(self, "_guardado", None)
        super().save(*args, **kwargs)
        campos = kwargs.get("update_fields")
        if campos is not None and not {"telefono", "acepta_whatsapp"} & set(campos):
            return  # neither field was written: the stored consent state did not change
        if nuevo or antes is not None:  # an old row loaded with defer(): stored state unknown
            self._sincronizar_consentimiento(antes)
        self._guardado = self._estado_whatsapp()

    @classmethod
    def from_db(cls, db, field_names, values, **opciones):
        # opciones: what newer Django passes on (6.1's fetch_mode), handed on unchanged.
        instancia = super().from_db(db, field_names, values, **opciones)
        instancia._guardado = instancia._estado_whatsapp()
        return instancia

    def _estado_whatsapp(self) -> tuple[str, bool] | None:
        # Deferred fields are not loaded on purpose: reading them here would cost a query.
        datos = self.__dict__
        if "telefono" not in datos or "acepta_whatsapp" not in datos:
            return None
        return (datos["telefono"], datos["acepta_whatsapp"])

    def _sincronizar_consentimiento(self, antes: tuple[str, bool] | None) -> None:
        ahora = self._estado_whatsapp()
        if ahora is None or ahora == antes:
            return
        if self.acepta_whatsapp:
            self._consentimiento(otorgar_consentimiento, self.telefono, "marcada")
        elif antes and antes[1]:
            # Revoke the number that had consent, even if the phone changed in the same save.
            self._consentimiento(revocar_consentimiento, antes[0], "desmarcada")

    def _consentimiento(self, registrar, telefono: str, casilla: str) -> None:
        evidencia = (
            f"{self._meta.verbose_name} #{self.pk}: casilla «acepta WhatsApp» {casilla} en el ERP"
        )
        try:
            registrar(telefono, origen="erp", evidencia=evidencia)
        except TelefonoInvalido:
            # A bad phone must not stop the clerk from saving the record; sends will be omitido.
            logger.warning(SIN_CONSENTIMIENTO, self._meta.verbose_name, self.pk)


class Cliente(Contacto):
    class Meta:
        verbose_name = _("cliente")
        verbose_name_plural = _("clientes")
        ordering = ["nombre"]


class Proveedor(Contacto):
    class Meta:
        verbose_name = _("proveedor")
        verbose_name_plural = _("proveedores")
        ordering = ["nombre"]


class Vehiculo(models.Model):
    cliente = models.ForeignKey(
        Cliente, models.CASCADE, related_name="vehiculos", verbose_name=_("cliente")
    )
    marca = models.CharField(_("marca"), max_length=60)
    modelo = models.CharField(_("modelo"), max_length=60)
    anio = models.PositiveSmallIntegerField(_("año"), null=True, blank=True)
    placas = models.CharField(_("placas"), max_length=15, unique=True)

    class Meta:
        verbose_name = _("vehículo")
        verbose_name_plural = _("vehículos")
        ordering = ["marca", "modelo"]

    def __str__(self) -> str:
        return f"{self.marca} {self.modelo} ({self.placas})"


class OrdenTrabajo(models.Model):
    class Estado(models.TextChoices):
        RECIBIDA = "RECIBIDA", _("Recibida")
        EN_PROCESO = "EN_PROCESO", _("En proceso")
        COMPLETADA = "COMPLETADA", _("Completada")
        ENTREGADA = "ENTREGADA", _("Entregada")

    numero = models.CharField(_("número"), max_length=20, unique=True)
    cliente = models.ForeignKey(
        Cliente, models.PROTECT, related_name="ordenes", verbose_name=_("cliente")
    )
    vehiculo = models.ForeignKey(
        Vehiculo, models.PROTECT, related_name="ordenes", verbose_name=_("vehículo")
    )
    descripcion = models.TextField(_("descripción"), blank=True)
    estado = models.CharField(
        _("estado"), max_length=12, choices=Estado.choices, default=Estado.RECIBIDA
    )
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2, default=Decimal(0))
    creada_en = models.DateTimeField(_("creada"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("orden de trabajo")
        verbose_name_plural = _("órdenes de trabajo")
        ordering = ["-creada_en"]

    def __str__(self) -> str:
        return self.numero


class OrdenCompra(models.Model):
    numero = models.CharField(_("número"), max_length=20, unique=True)
    proveedor = models.ForeignKey(
        Proveedor, models.PROTECT, related_name="ordenes_compra", verbose_name=_("proveedor")
    )
    resumen = models.CharField(_("resumen"), max_length=300)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2, default=Decimal(0))
    fecha = models.DateField(_("fecha"), default=timezone.localdate)

    class Meta:
        verbose_name = _("orden de compra")
        verbose_name_plural = _("órdenes de compra")
        ordering = ["-fecha", "-pk"]

    def __str__(self) -> str:
        return self.numero


class Cotizacion(models.Model):
    """A quote: ``conceptos`` is a list of ``{"descripcion", "cantidad", "precio"}``.

    The customer approves it from WhatsApp with the «Aprobar» button of its template
    (``taller/whatsapp.py``): ``estado`` goes to APROBADA.
    """

    class Estado(models.TextChoices):
        PENDIENTE = "PENDIENTE", _("Pendiente")
        APROBADA = "APROBADA", _("Aprobada")
        RECHAZADA = "RECHAZADA", _("Rechazada")

    numero = models.CharField(_("número"), max_length=20, unique=True)
    cliente = models.ForeignKey(
        Cliente, models.PROTECT, related_name="cotizaciones", verbose_name=_("cliente")
    )
    vehiculo = models.ForeignKey(
        Vehiculo,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="cotizaciones",
        verbose_name=_("vehículo"),
    )
    conceptos = models.JSONField(
        _("conceptos"),
        default=list,
        blank=True,
        help_text=_('Lista de {"descripcion": ..., "cantidad": ..., "precio": ...}.'),
    )
    fecha = models.DateField(_("fecha"), default=timezone.localdate)
    estado = models.CharField(
        _("estado"), max_length=10, choices=Estado.choices, default=Estado.PENDIENTE
    )
    aprobada_en = models.DateTimeField(_("aprobada"), null=True, blank=True)

    class Meta:
        verbose_name = _("cotización")
        verbose_name_plural = _("cotizaciones")
        ordering = ["-fecha", "-pk"]

    def __str__(self) -> str:
        return self.numero

    def clean(self) -> None:
        try:
            self.lineas()
        except (TypeError, KeyError, ArithmeticError, ValueError) as exc:
            raise ValidationError(
                {"conceptos": _("Cada concepto necesita descripcion, cantidad y precio.")}
            ) from exc

    def lineas(self) -> list[tuple[str, Decimal, Decimal, Decimal]]:
        """``(descripcion, cantidad, precio, importe)`` per concept, as Decimals."""
        return [_linea(concepto) for concepto in self.conceptos or []]

    @property
    def total(self) -> Decimal:
        return sum((importe for *_, importe in self.lineas()), Decimal(0))

    @property
    def huella(self) -> str:
        """Short hash of what the customer sees: a changed quote is a new WhatsApp send."""
        datos = [self.numero, self.fecha.isoformat(), self.conceptos]
        texto = json.dumps(datos, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(texto.encode()).hexdigest()[:12]


def _linea(concepto: dict) -> tuple[str, Decimal, Decimal, Decimal]:
    cantidad = Decimal(str(concepto["cantidad"]))
    precio = Decimal(str(concepto["precio"]))
    return (
        str(concepto["descripcion"]),
        cantidad,
        precio,
        (cantidad * precio).quantize(Decimal("0.01")),
    )


class Cita(models.Model):
    """An appointment at the workshop.

    ``taller/whatsapp.py`` confirms it when booked, reminds the customer 24 h and 1 h before
    (moved with ``fecha``) and tells them when it is cancelled.
    """

    class Estado(models.TextChoices):
        PROGRAMADA = "PROGRAMADA", _("Programada")
        CONFIRMADA = "CONFIRMADA", _("Confirmada")
        CANCELADA = "CANCELADA", _("Cancelada")
        ATENDIDA = "ATENDIDA", _("Atendida")

    cliente = models.ForeignKey(
        Cliente, models.PROTECT, related_name="citas", verbose_name=_("cliente")
    )
    vehiculo = models.ForeignKey(
        Vehiculo, models.PROTECT, related_name="citas", verbose_name=_("vehículo")
    )
    fecha = models.DateTimeField(_("fecha y hora"))
    estado = models.CharField(
        _("estado"), max_length=12, choices=Estado.choices, default=Estado.PROGRAMADA
    )
    motivo = models.CharField(
        _("motivo"), max_length=200, blank=True, help_text=_("Servicio o revisión que se hará.")
    )

    class Meta:
        verbose_name = _("cita")
        verbose_name_plural = _("citas")
        ordering = ["fecha"]

    def __str__(self) -> str:
        return f"{self.cliente} – {self.fecha_legible}"

    @property
    def fecha_legible(self) -> str:
        """The date and time as the customer reads it, in the workshop's time zone."""
        return timezone.localtime(self.fecha).strftime("%d/%m/%Y %H:%M")


class Pago(models.Model):
    """A payment a customer reported on WhatsApp: a photo of the receipt with
    «Monto: 500 / Fecha: 2025-01-15» in its caption (``taller/whatsapp.py``)."""

    cliente = models.ForeignKey(
        Cliente, models.SET_NULL, null=True, blank=True, related_name="pagos",
        verbose_name=_("cliente"),
    )  # fmt: skip
    telefono = models.CharField(_("teléfono"), max_length=20)
    monto = models.DecimalField(_("monto"), max_digits=12, decimal_places=2)
    fecha = models.DateField(_("fecha del pago"))
    comprobante = models.OneToOneField(
        "whatsapp_notify.Mensaje", models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("comprobante"), help_text=_("El mensaje con la foto o el PDF."),
    )  # fmt: skip
    recibido_en = models.DateTimeField(_("recibido"), auto_now_add=True)

    class Meta:
        verbose_name = _("pago")
        verbose_name_plural = _("pagos")
        ordering = ["-recibido_en", "-pk"]

    def __str__(self) -> str:
        return f"{self.monto} ({self.fecha})"
