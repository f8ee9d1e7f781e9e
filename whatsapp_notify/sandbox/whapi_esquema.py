"""What the WHAPI sandbox accepts on ``POST /messages/<type>``, checked field by field.

The shapes are WHAPI's API reference (OpenAPI models ``SenderText``, ``SenderDocument``,
``SenderImage``, ``SenderInteractive``); ``location`` (``latitude`` and ``longitude`` as numbers,
``name``, ``address``) is the common shape of WhatsApp gateways, not yet checked against
WHAPI's own description. Stricter than WHAPI on one point, on purpose: an
unknown field is refused, so a misspelt one (``caption`` as ``captions``) is caught here
instead of being dropped silently by the real service.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

# A phone in digits, or a personal chat id.
_DESTINO = re.compile(r"\d{6,15}(@s\.whatsapp\.net)?")
_DATA_URL = re.compile(
    r"data:(?P<mime>[\w.+-]+/[\w.+-]+)(;[\w-]+=[^;,]*)*;base64,(?P<datos>.*)", re.S
)
COMUNES = {"to", "quoted", "ephemeral", "edit", "view_once", "typing_time", "no_link_preview"}
CAMPOS = {
    "text": COMUNES | {"body", "mentions"},
    "document": COMUNES | {"media", "mime_type", "caption", "filename"},
    "image": COMUNES | {"media", "mime_type", "caption", "width", "height", "preview"},
    "video": COMUNES | {"media", "mime_type", "caption", "width", "height", "preview"},
    "interactive": COMUNES | {"type", "header", "body", "footer", "action"},
    "location": COMUNES | {"latitude", "longitude", "name", "address"},
}
TIPOS = frozenset(CAMPOS)
TIPOS_BOTON = frozenset({"quick_reply", "url", "call", "copy"})


def problema(tipo: str, cuerpo: Any) -> str:
    """What WHAPI would refuse in ``cuerpo`` for ``POST /messages/<tipo>``; "" if nothing."""
    if not isinstance(cuerpo, dict):
        return "body: the request body must be a JSON object"
    problemas = _comunes(tipo, cuerpo) + _REVISAR[tipo](cuerpo)
    return "\n".join(problemas)


def _comunes(tipo: str, cuerpo: dict[str, Any]) -> list[str]:
    problemas = [f"{campo}: unknown field" for campo in sorted(set(cuerpo) - CAMPOS[tipo])]
    destino = cuerpo.get("to")
    if not isinstance(destino, str) or not _DESTINO.fullmatch(destino):
        problemas.append("to: required, a phone number in digits or a chat id")
    return problemas


def _texto(cuerpo: dict[str, Any]) -> list[str]:
    return [] if _texto_no_vacio(cuerpo.get("body")) else ["body: required, non-empty text"]


def _documento(cuerpo: dict[str, Any]) -> list[str]:
    problemas = _media(cuerpo)
    for campo in ("filename", "caption", "mime_type"):
        if campo in cuerpo and not isinstance(cuerpo[campo], str):
            problemas.append(f"{campo}: must be text")
    return problemas


def _de_tipo(principal: str) -> Any:
    """The check of ``/messages/image`` or ``/messages/video``: a document without its file
    name, whose data is of that ``principal`` MIME type."""

    def revisar(cuerpo: dict[str, Any]) -> list[str]:
        problemas = _documento({k: v for k, v in cuerpo.items() if k != "filename"})
        mime = _mime(cuerpo.get("media"))
        if mime and not mime.startswith(f"{principal}/"):
            articulo = "an" if principal[0] in "aeiou" else "a"
            problemas.append(f"media: {mime} is not {articulo} {principal}; use /messages/document")
        return problemas

    return revisar


_imagen, _video = _de_tipo("image"), _de_tipo("video")


def _media(cuerpo: dict[str, Any]) -> list[str]:
    media = cuerpo.get("media")
    if not isinstance(media, str) or not media:
        return ["media: required, a URL, a data: URL (base64) or a media id"]
    if media.startswith("data:"):
        match = _DATA_URL.fullmatch(media)
        if match is None:
            return ["media: a data: URL must be data:<mime>[;name=...];base64,<data>"]
        try:
            base64.b64decode(match["datos"], validate=True)
        except (binascii.Error, ValueError):
            return ["media: the data: URL is not valid base64"]
    return []


def _mime(media: Any) -> str:
    match = _DATA_URL.fullmatch(media) if isinstance(media, str) else None
    return match["mime"] if match else ""


def _interactivo(cuerpo: dict[str, Any]) -> list[str]:
    problemas = []
    if not _texto_no_vacio(_dentro(cuerpo.get("body"), "text")):
        problemas.append("body.text: required, non-empty text")
    for parte in ("header", "footer"):
        if parte in cuerpo and not _texto_no_vacio(_dentro(cuerpo[parte], "text")):
            problemas.append(f"{parte}.text: non-empty text when {parte} is given")
    tipo, accion = cuerpo.get("type"), cuerpo.get("action")
    if not isinstance(accion, dict):
        return [*problemas, "action: required object"]
    if tipo == "button":
        return problemas + _botones(accion)
    if tipo == "list":
        return problemas + _lista(accion)
    return [*problemas, "type: must be 'button' or 'list'"]


def _botones(accion: dict[str, Any]) -> list[str]:
    botones = accion.get("buttons")
    if not isinstance(botones, list) or not 1 <= len(botones) <= 3:
        return ["action.buttons: from 1 to 3 buttons"]
    problemas = []
    for i, boton in enumerate(botones):
        if not isinstance(boton, dict) or boton.get("type") not in TIPOS_BOTON:
            problemas.append(f"action.buttons[{i}].type: one of {sorted(TIPOS_BOTON)}")
            continue
        for campo in ("title", "id"):
            if not _texto_no_vacio(boton.get(campo)):
                problemas.append(f"action.buttons[{i}].{campo}: required text")
    return problemas


def _lista(accion: dict[str, Any]) -> list[str]:
    problemas = [] if _texto_no_vacio(accion.get("button")) else ["action.button: required text"]
    secciones = accion.get("sections")
    if not isinstance(secciones, list) or not secciones:
        return [*problemas, "action.sections: at least one section"]
    for i, seccion in enumerate(secciones):
        filas = seccion.get("rows") if isinstance(seccion, dict) else None
        if not isinstance(filas, list) or not filas:
            problemas.append(f"action.sections[{i}].rows: at least one row")
            continue
        for j, fila in enumerate(filas):
            datos = fila if isinstance(fila, dict) else {}
            if not (_texto_no_vacio(datos.get("id")) and _texto_no_vacio(datos.get("title"))):
                problemas.append(f"action.sections[{i}].rows[{j}]: id and title required")
    return problemas


def _dentro(valor: Any, clave: str) -> Any:
    return valor.get(clave) if isinstance(valor, dict) else None


def _texto_no_vacio(valor: Any) -> bool:
    return isinstance(valor, str) and bool(valor.strip())


def _ubicacion(cuerpo: dict[str, Any]) -> list[str]:
    problemas = []
    for campo, limite in (("latitude", 90), ("longitude", 180)):
        valor = cuerpo.get(campo)
        numero = isinstance(valor, int | float) and not isinstance(valor, bool)
        if not numero or not -limite <= valor <= limite:
            problemas.append(f"{campo}: required, a number from -{limite} to {limite}")
    for campo in ("name", "address"):
        if campo in cuerpo and not isinstance(cuerpo[campo], str):
            problemas.append(f"{campo}: must be text")
    return problemas


_REVISAR = {
    "text": _texto,
    "document": _documento,
    "image": _imagen,
    "video": _video,
    "interactive": _interactivo,
    "location": _ubicacion,
}
