"""Normalised inbound events: what a provider's webhook said, independent of the provider.

A backend's ``parse_webhook`` turns one webhook body into a list of these, one per
status, message or notice, never only the first. Anything it does not understand becomes an
:class:`EventoDesconocido` that keeps the raw item, so nothing is dropped silently.
``raw`` always holds the provider's own item (a status, a message, a change) untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Provider status names (Meta's) and what they mean for an envío.
SENT, DELIVERED, READ, FAILED, PLAYED = "sent", "delivered", "read", "failed", "played"
UNKNOWN = "unknown"

# The moments an event's ``fecha`` can be. Before WhatsApp existed or after 2100 no real
# clock wrote it: such a timestamp is absent (the time received stands in). It also keeps
# every stored moment displayable in any time zone (year 1 or 9999 overflow there).
FECHA_MINIMA = datetime(2009, 1, 1, tzinfo=UTC)
FECHA_MAXIMA = datetime(2100, 1, 1, tzinfo=UTC)


# What an error means for the recipient, whatever the provider's code: its backend says so
# when it reads the error (``ErrorProveedor.significado``), so the app never reads codes.
BAJA = "baja"  # the recipient blocked the business or opted out: stop every category
BAJA_MARKETING = "baja_marketing"  # the recipient stopped marketing messages only


@dataclass(frozen=True)
class ErrorProveedor:
    """One error a provider attached to a status or message (``errors[]``).

    ``legible`` is the provider's readable sentence for it (kept in ``error_detalle`` only
    when the code does not fit its column), and
    ``significado`` :data:`BAJA` or :data:`BAJA_MARKETING` when it is a recipient's stop.
    """

    code: int | None
    title: str = ""
    message: str = ""
    details: str = ""
    legible: str = ""
    significado: str = ""


@dataclass(frozen=True, kw_only=True)
class Evento:
    """Base of every event. ``numero_id`` is the business number it concerns."""

    numero_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, kw_only=True)
class EventoEstado(Evento):
    """A status of a message we sent (``statuses[]``)."""

    wamid: str
    estado: str  # SENT, DELIVERED, READ, FAILED, PLAYED or a future value as given
    fecha: datetime | None = None
    destinatario: str = ""  # recipient_id (a wa_id)
    referencia: str = ""  # biz_opaque_callback_data: the envío id we sent
    errores: tuple[ErrorProveedor, ...] = ()
    conversacion_id: str = ""
    conversacion_expira: datetime | None = None
    conversacion_origen: str = ""
    facturable: bool | None = None
    precio_modelo: str = ""
    precio_tipo: str = ""
    precio_categoria: str = ""


@dataclass(frozen=True)
class Media:
    """A media attachment of an inbound message (download it with its ``id``)."""

    id: str
    mime: str = ""
    sha256: str = ""
    nombre: str = ""  # filename (documents)
    caption: str = ""
    url: str = ""


@dataclass(frozen=True, kw_only=True)
class EventoMensaje(Evento):
    """A message a customer sent us (``messages[]``).

    ``tipo`` is the provider's type (text, image, document, audio, video, sticker,
    location, contacts, reaction, interactive, button, order, system, unsupported...).
    ``texto`` is what a person would read: the body, a caption, a button's text, a reply's
    title, a reaction's emoji. ``respuesta_id`` is the id of a chosen reply button or list
    row, or a template quick-reply's payload. ``contexto_wamid`` is the message it answers.
    """

    wamid: str
    de: str  # the sender's wa_id ("from"), digits
    tipo: str
    fecha: datetime | None = None
    nombre: str = ""  # profile name
    user_id: str = ""  # business-scoped user id, when the provider sends one
    texto: str = ""
    respuesta_id: str = ""
    contexto_wamid: str = ""
    media: Media | None = None
    errores: tuple[ErrorProveedor, ...] = ()


@dataclass(frozen=True, kw_only=True)
class EventoPreferencia(Evento):
    """A user's messaging preference changed (Meta ``user_preferences``: marketing stop)."""

    wa_id: str
    categoria: str  # e.g. "marketing_messages"
    valor: str  # "stop" | "resume"
    fecha: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class EventoError(Evento):
    """Errors not tied to one message (Meta ``value.errors``): logged and stored."""

    errores: tuple[ErrorProveedor, ...] = ()


@dataclass(frozen=True, kw_only=True)
class EventoDesconocido(Evento):
    """A change, field or item this version does not understand; kept, logged, never a 500."""

    campo: str = ""  # Meta's ``field``, or what was not understood
    motivo: str = ""


@dataclass(frozen=True, kw_only=True)
class EventoPlantilla(Evento):
    """A template's status changed (Meta ``message_template_status_update``).

    ``waba_id`` is the WhatsApp Business Account the template belongs to (the entry's id);
    ``idioma`` is normalised to ``es_MX`` form. ``motivo`` is Meta's reason ("" for NONE)
    and ``detalle`` what it added (rejection, pause or disable information).
    """

    waba_id: str = ""
    plantilla_id: str = ""
    nombre: str
    idioma: str
    estado: str  # APPROVED, REJECTED, PAUSED, DISABLED... as Meta names it
    categoria: str = ""
    motivo: str = ""
    detalle: str = ""


def normalizar_idioma(codigo: str) -> str:
    """A template language code in Meta's ``es_MX`` form: ``es-mx`` and ``es_MX`` are one.

    Meta's template webhooks write ``en-US`` where the management API writes ``en_US``.
    """
    partes = str(codigo or "").strip().replace("-", "_").split("_")
    return "_".join([partes[0].lower(), *(parte.upper() for parte in partes[1:])])


def fecha_posible(fecha: datetime | None) -> datetime | None:
    """``fecha`` if it lies in [:data:`FECHA_MINIMA`, :data:`FECHA_MAXIMA`), else None."""
    return fecha if fecha is not None and FECHA_MINIMA <= fecha < FECHA_MAXIMA else None
