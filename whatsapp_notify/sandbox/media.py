"""Media the sandbox keeps: what ``POST /media`` uploaded, to answer lookups and downloads."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any


class MultipartInvalido(ValueError):
    """The upload is not ``multipart/form-data`` with a ``file`` part."""


@dataclass(frozen=True)
class Media:
    """One uploaded file."""

    id: str
    contenido: bytes = field(repr=False)
    mime: str
    nombre: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.contenido).hexdigest()

    def descripcion(self, url: str) -> dict[str, Any]:
        """The answer of ``GET /{version}/{media_id}``."""
        return {
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": self.mime,
            "sha256": self.sha256,
            "file_size": str(len(self.contenido)),
            "id": self.id,
        }


def nuevo_id() -> str:
    """A numeric media id, like Graph's (16 digits)."""
    return str(10**15 + secrets.randbelow(9 * 10**15))


def leer_subida(content_type: str, cuerpo: Any) -> tuple[dict[str, Any], Media]:
    """Parse a media upload: (its form fields, for the record; the file as :class:`Media`).

    Raises:
        MultipartInvalido: not multipart, or without a ``file`` part.
    """
    if not content_type.lower().startswith("multipart/form-data") or not cuerpo:
        raise MultipartInvalido("Se esperaba multipart/form-data.")
    campos, archivo = _partes(content_type, cuerpo)
    if archivo is None:
        raise MultipartInvalido("Falta la parte 'file'.")
    nombre, mime_parte, contenido = archivo
    mime = str(campos.get("type") or mime_parte)
    media = Media(nuevo_id(), contenido, mime, nombre)
    campos["file"] = {"filename": nombre, "mime_type": mime_parte, "file_size": len(contenido)}
    return campos, media


def _partes(content_type: str, cuerpo: bytes) -> tuple[dict[str, Any], tuple | None]:
    cabecera = f"Content-Type: {content_type}\r\n\r\n".encode()
    mensaje = BytesParser(policy=HTTP).parsebytes(cabecera + cuerpo)
    if not mensaje.is_multipart():
        raise MultipartInvalido("El cuerpo no tiene partes.")
    campos: dict[str, Any] = {}
    archivo = None
    for parte in mensaje.iter_parts():
        nombre = parte.get_param("name", header="content-disposition")
        contenido = parte.get_payload(decode=True) or b""
        if nombre == "file":
            archivo = (parte.get_filename() or "", parte.get_content_type(), contenido)
        elif nombre:
            campos[str(nombre)] = contenido.decode("utf-8", "replace")
    return campos, archivo
