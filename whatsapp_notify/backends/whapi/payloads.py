"""The request bodies WHAPI takes (``POST /messages/<type>``), one builder per content.

Shapes follow WHAPI's API reference (OpenAPI models ``SenderText``, ``SenderDocument``,
``SenderImage``, ``SenderInteractive``): ``to`` is the phone in E.164 digits; media go
inline as a ``data:`` URL (base64), so nothing is uploaded first and no media id expires.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ...messages import Botones, Documento, Fila, Lista, Seccion, Texto, Ubicacion

# Images go to /messages/image (shown inline, caption under it); any other file is a
# document the recipient downloads. WhatsApp shows these image types inline.
IMAGENES = frozenset({"image/jpeg", "image/png", "image/webp"})
MIMES_VIDEO = frozenset({"video/mp4", "video/3gpp"})
BOTON = "quick_reply"


@dataclass(frozen=True)
class Pedido:
    """One request to WHAPI: the endpoint and its JSON body."""

    ruta: str
    cuerpo: dict[str, Any] = field(repr=False)

    @property
    def tipo(self) -> str:
        """``text``, ``document``, ``image``, ``interactive`` or ``location``."""
        return self.ruta.rsplit("/", 1)[-1]


def texto(telefono: str, mensaje: Texto | str) -> Pedido:
    """``POST /messages/text``: ``{"to", "body"}``."""
    cuerpo = mensaje.cuerpo if isinstance(mensaje, Texto) else mensaje
    return Pedido("/messages/text", {"to": telefono, "body": cuerpo})


def archivo(telefono: str, documento: Documento, caption: str = "") -> Pedido:
    """``POST /messages/image`` for an image, ``/messages/video`` for a video, else
    ``POST /messages/document``."""
    caption = caption or documento.caption
    cuerpo: dict[str, Any] = {"to": telefono, "media": data_url(documento)}
    cuerpo["mime_type"] = documento.mime
    if documento.mime in IMAGENES:
        ruta = "/messages/image"
    elif documento.mime in MIMES_VIDEO:
        ruta = "/messages/video"
    else:
        ruta = "/messages/document"
        cuerpo["filename"] = documento.nombre
    if caption:
        cuerpo["caption"] = caption
    return Pedido(ruta, cuerpo)


def ubicacion(telefono: str, lugar: Ubicacion) -> Pedido:
    """``POST /messages/location``: the degrees as numbers, ``name`` and ``address`` if any."""
    cuerpo: dict[str, Any] = {
        "to": telefono,
        "latitude": lugar.latitud,
        "longitude": lugar.longitud,
    }
    if lugar.nombre:
        cuerpo["name"] = lugar.nombre
    if lugar.direccion:
        cuerpo["address"] = lugar.direccion
    return Pedido("/messages/location", cuerpo)


def data_url(documento: Documento) -> str:
    """``data:<mime>;name=<file name>;base64,<bytes>``, as WHAPI's ``media`` field takes."""
    contenido = base64.b64encode(bytes(documento.contenido)).decode("ascii")
    return f"data:{documento.mime};name={quote(documento.nombre)};base64,{contenido}"


def botones(telefono: str, mensaje: Botones) -> Pedido:
    """``POST /messages/interactive`` of ``type: button``: up to three quick replies."""
    accion = {
        "buttons": [
            {"type": BOTON, "title": boton.titulo, "id": boton.id} for boton in mensaje.botones
        ]
    }
    return _interactivo(telefono, "button", mensaje.cuerpo, mensaje.encabezado, mensaje.pie, accion)


def lista(telefono: str, mensaje: Lista) -> Pedido:
    """``POST /messages/interactive`` of ``type: list``: a button opening the sections."""
    accion = {"sections": [_seccion(s) for s in mensaje.secciones], "button": mensaje.boton}
    return _interactivo(telefono, "list", mensaje.cuerpo, mensaje.encabezado, mensaje.pie, accion)


def _interactivo(
    telefono: str, tipo: str, cuerpo: str, encabezado: str, pie: str, accion: dict[str, Any]
) -> Pedido:
    datos: dict[str, Any] = {"to": telefono, "type": tipo}
    if encabezado:
        datos["header"] = {"text": encabezado}
    datos["body"] = {"text": cuerpo}
    if pie:
        datos["footer"] = {"text": pie}
    datos["action"] = accion
    return Pedido("/messages/interactive", datos)


def _seccion(seccion: Seccion) -> dict[str, Any]:
    filas = [_fila(fila) for fila in seccion.filas]
    return {"title": seccion.titulo, "rows": filas} if seccion.titulo else {"rows": filas}


def _fila(fila: Fila) -> dict[str, str]:
    datos = {"id": fila.id, "title": fila.titulo}
    if fila.descripcion:
        datos["description"] = fila.descripcion
    return datos
