"""Media of inbound messages: downloading it from the provider and checking its SHA-256."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import mimetypes
import re
from collections.abc import Callable
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from ..backends import backends
from ..exceptions import WhatsAppError
from ..models import Mensaje

logger = logging.getLogger(__name__)


class MediaInvalido(WhatsAppError, ValueError):
    """Downloaded media whose bytes do not match the SHA-256 the provider announced."""


def descargar_media(mensaje: Mensaje, *, storage: Storage | None = None) -> str:
    """Download the media of an inbound ``mensaje`` into ``mensaje.archivo``; return its name.

    The bytes come from the account's backend (``download_media``) and must match the
    SHA-256 of the webhook when it gave one (hex, or base64 as Meta sends it). ``storage``
    defaults to the field's. Already downloaded: the stored name, with no request.

    Raises:
        ValueError: the message has no media.
        MediaInvalido: the bytes do not match the SHA-256; nothing is stored.
        ProviderError: the provider refused or could not be reached.
    """
    campo = Mensaje._meta.get_field("archivo")
    storage = storage or campo.storage
    if mensaje.archivo.name and storage.exists(mensaje.archivo.name):
        return mensaje.archivo.name
    if not mensaje.media_id:
        raise ValueError(f"El mensaje {mensaje.pk} no tiene media que descargar.")
    contenido, mime = _descargador(mensaje.cuenta)(mensaje.media_id)
    verificar_sha256(contenido, mensaje.media_sha256, mensaje.media_id)
    ruta = campo.generate_filename(mensaje, _nombre_archivo(mensaje, mime))
    mensaje.archivo.name = storage.save(ruta, ContentFile(contenido))
    mensaje.media_mime = mensaje.media_mime or (mime or "")[:127]
    mensaje.save(update_fields=["archivo", "media_mime"])
    return mensaje.archivo.name


def _descargador(cuenta: str) -> Callable[[str], tuple[bytes, str]]:
    backend = backends[cuenta]
    if not backend.supports("download_media"):
        raise backend.no_capability("descargar archivos recibidos")
    return backend.download_media


def verificar_sha256(contenido: bytes, esperado: str, media_id: str = "") -> None:
    """Check ``contenido`` against ``esperado`` (hex or base64); an unreadable value is skipped.

    Raises:
        MediaInvalido: the digests differ.
    """
    digest = _digest(esperado)
    if digest is None:
        if esperado:
            logger.info("SHA-256 ilegible para la media %s: no se verifica", media_id)
        return
    if hashlib.sha256(contenido).digest() != digest:
        raise MediaInvalido(f"La media {media_id} no coincide con su SHA-256; no se guardó.")


def _digest(valor: str) -> bytes | None:
    valor = (valor or "").strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", valor):
        return bytes.fromhex(valor)
    try:
        crudo = base64.b64decode(valor.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return crudo if len(crudo) == hashlib.sha256().digest_size else None


def _nombre_archivo(mensaje: Mensaje, mime: str) -> str:
    # Named by the provider's media id; the customer's filename stays in media_nombre and
    # is never trusted as a path.
    base = re.sub(r"[^A-Za-z0-9_-]", "", mensaje.media_id)[:64] or f"mensaje-{mensaje.pk}"
    return base + _extension(mensaje.media_nombre, mime)


def _extension(nombre: str, mime: str) -> str:
    sufijo = Path(nombre).suffix.lower()
    if re.fullmatch(r"\.[a-z0-9]{1,10}", sufijo):
        return sufijo
    return mimetypes.guess_extension((mime or "").split(";")[0].strip()) or ""
