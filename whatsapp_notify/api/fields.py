"""A serializer field for the ERP's own API: what became of an object's WhatsApp notices.

In the host's serializer of an order::

    from whatsapp_notify.api.fields import EstadoWhatsAppField

    class OrdenSerializer(serializers.ModelSerializer):
        whatsapp = EstadoWhatsAppField()                        # {tipo: {...}, ...}
        vehiculo_listo = EstadoWhatsAppField(tipo="vehiculo_listo")  # {...} or null

Built on :func:`whatsapp_notify.estado_whatsapp`. In a list (``many=True``) the first row
reads the notices of the whole page in one query (:func:`~whatsapp_notify.estados_whatsapp`),
so a page of orders costs one query, not one per order.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..outbound.status import EstadoWhatsApp, estados_whatsapp


def estado_como_json(estado: EstadoWhatsApp | None) -> dict[str, Any] | None:
    """An :class:`EstadoWhatsApp` as JSON values (datetimes as DRF writes them)."""
    if estado is None:
        return None
    fecha = serializers.DateTimeField()
    return {
        campo: fecha.to_representation(valor) if hasattr(valor, "tzinfo") else valor
        for campo, valor in estado.como_dict().items()
    }


class EstadoWhatsAppField(serializers.Field):
    """Read-only: the latest envío of each tipo recorded with ``referencia=`` the object
    (or, with ``tipo``, of that tipo only: an object, or null when there is none)."""

    def __init__(self, tipo: str | None = None, **kwargs: Any) -> None:
        self.tipo = tipo
        kwargs.setdefault("source", "*")
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, obj):
        estado = self._estados(obj).get(obj) if obj.pk is not None else None
        if self.tipo is not None:
            return estado_como_json(estado)
        return {tipo: estado_como_json(uno) for tipo, uno in (estado or {}).items()}

    def _estados(self, obj) -> dict:
        """The notices of ``obj``, or of the whole list it is serialised in (read once)."""
        lista = getattr(self.parent, "parent", None)
        if not isinstance(lista, serializers.ListSerializer) or lista.instance is None:
            return estados_whatsapp([obj], tipo=self.tipo)
        leidos = self.context.setdefault("_whatsapp_notify_estados", {})
        clave = (id(lista), self.field_name, self.tipo)
        if clave not in leidos or obj not in leidos[clave]:
            leidos[clave] = estados_whatsapp(lista.instance, tipo=self.tipo)
        return leidos[clave]
