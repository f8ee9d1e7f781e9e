"""Template tags for the ERP's pages: ``{% load whatsapp_notify %}``.

``{% estado_whatsapp orden as estados %}`` gives ``{tipo: EstadoWhatsApp}`` (with a tipo,
``{% estado_whatsapp orden "vehiculo_listo" as estado %}``, one or None);
``{% estados_whatsapp ordenes "vehiculo_listo" as filas %}`` gives ``(orden, estado)`` pairs
for a list page in one query; ``{% insignia_whatsapp estado %}`` (or ``{% insignia_whatsapp
orden "vehiculo_listo" %}``) renders a small badge that says the status in words.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.db import models

from ..outbound import status
from ..outbound.status import EstadoWhatsApp

register = template.Library()

# The badge's look, as a class: the words carry the meaning, the colour only repeats it.
_NIVELES = {
    "leido": "exito", "entregado": "exito", "enviado": "exito",
    "programado": "espera", "pendiente": "espera", "enviando": "espera", "incierto": "espera",
    "omitido": "aviso", "cancelado": "aviso", "fallido": "error",
}  # fmt: skip


@register.simple_tag
def estado_whatsapp(obj: models.Model, tipo: str | None = None):
    """:func:`whatsapp_notify.estado_whatsapp` of ``obj`` (all tipos, or one)."""
    return status.estado_whatsapp(obj, tipo)


@register.simple_tag
def estados_whatsapp(objs: Iterable[models.Model], tipo: str | None = None):
    """``(obj, estado)`` for each object of ``objs``, in their order, in one query."""
    objetos = list(objs)
    estados = status.estados_whatsapp(objetos, tipo)
    vacio = {} if tipo is None else None
    return [(obj, estados[obj] if obj.pk is not None else vacio) for obj in objetos]


@register.inclusion_tag("whatsapp_notify/insignia.html")
def insignia_whatsapp(valor: EstadoWhatsApp | models.Model | None, tipo: str | None = None):
    """A badge for one notice: an :class:`EstadoWhatsApp` (or None: nothing recorded), or an
    object and its ``tipo`` (one query; on a list page pass the pairs' estado instead)."""
    if isinstance(valor, models.Model):
        if not tipo:
            raise template.TemplateSyntaxError(
                "insignia_whatsapp con un objeto necesita el tipo del aviso: "
                '{% insignia_whatsapp orden "vehiculo_listo" %}'
            )
        valor = status.estado_whatsapp(valor, tipo)
    nivel = _NIVELES.get(valor.estado, "espera") if valor is not None else "ninguno"
    return {"estado": valor, "nivel": nivel}
