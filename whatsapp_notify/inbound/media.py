"""Media of inbound messages: downloading it from the provider and checking its SHA-256.

With ``MEDIA_DOWNLOAD`` naming a message type (``"image"``, ``"document"``...), each inbound
message of that type is downloaded by a worker (task ``whatsapp_notify.descargar_media``)
after the webhook's transaction commits, never in the webhook request:
:func:`descargar_pendiente` stores the file in ``Mensaje.archivo`` (``descarga``:
descargada) and sends ``media_descargada``. A provider that cannot be reached, or bytes that
do not match their SHA-256, are tried again after the envíos' exponential wait (Beat hands
them out, ``descarga_en``) up to ``MAX_ATTEMPTS``; a file over ``MEDIA_MAX_BYTES`` is not stored
(omitida); a provider that refuses for good (the media is gone) or cannot download at all
is fallida. Every outcome stays on the message with its reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import signals
from ..backends import backends
from ..backends.base import UnsupportedCapability
from ..conf import DEFAULTS, get_settings
from ..exceptions import MediaDemasiadoGrande, PermanentError, WhatsAppError
from ..messages import texto_de_error
from ..models import EstadoDescarga, Mensaje

logger = logging.getLogger(__name__)


class MediaInvalido(WhatsAppError, ValueError):
    """Downloaded media whose bytes do not match the SHA-256 the provider announced."""


def descargar_media(
    mensaje: Mensaje, *, storage: Storage | None = None, max_bytes: int | None = None
) -> str:
    """Download the media of an inbound ``mensaje`` into ``mensaje.archivo``; return its name.

    The bytes come from the account's backend (``download_media``) and must match the
    SHA-256 of the webhook when it gave one (hex, or base64 as Meta sends it). ``storage``
    defaults to the field's. Already downloaded: the stored name, with no request.

    Raises:
        ValueError: the message has no media.
        MediaInvalido: the bytes do not match the SHA-256; nothing is stored.
        MediaDemasiadoGrande: more than ``max_bytes``; nothing is stored.
        ProviderError: the provider refused or could not be reached.
    """
    campo = Mensaje._meta.get_field("archivo")
    storage = storage or campo.storage
    if mensaje.archivo.name and storage.exists(mensaje.archivo.name):
        return mensaje.archivo.name
    if not mensaje.media_id:
        raise ValueError(f"El mensaje {mensaje.pk} no tiene media que descargar.")
    # A backend that can stop reading at the cap does (Meta); what the others read is
    # checked here, before anything is stored.
    contenido, mime = _descargador(mensaje.cuenta)(mensaje.media_id, max_bytes=max_bytes)
    if max_bytes is not None and len(contenido) > max_bytes:
        raise MediaDemasiadoGrande(
            f"El archivo pesa {len(contenido) / 1024 / 1024:.1f} MB y MEDIA_MAX_BYTES admite "
            f"{max_bytes / 1024 / 1024:.1f} MB: no se guardó."
        )
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


#: The extensions a received file is stored under, by its MIME type. Never the customer's
#: file name (``factura.html``, ``x.svg`` served from the site would be stored XSS): a type
#: not listed is stored as ``.bin``.
EXTENSIONES = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
    "video/mp4": ".mp4", "video/3gpp": ".3gp",
    "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac",
    "audio/amr": ".amr", "application/pdf": ".pdf", "text/plain": ".txt",
    "application/msword": ".doc", "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
}  # fmt: skip


def _extension(nombre: str, mime: str) -> str:
    return EXTENSIONES.get((mime or "").split(";")[0].strip().lower(), ".bin")


# -- the worker's side ---------------------------------------------------------------------------


def se_descarga(mensaje: Mensaje) -> bool:
    """Whether ``MEDIA_DOWNLOAD`` asks for this inbound message's file (a malformed value,
    which the checks report as E014, asks for none)."""
    tipos = get_settings().MEDIA_DOWNLOAD
    if not isinstance(tipos, list | tuple):
        return False
    return bool(mensaje.media_id) and mensaje.tipo in tipos


def _maximo(settings) -> int:
    """``MEDIA_MAX_BYTES``, or its default when malformed (the checks report it, E007)."""
    valor = settings.MEDIA_MAX_BYTES
    if isinstance(valor, bool) or not isinstance(valor, int) or valor <= 0:
        return DEFAULTS["MEDIA_MAX_BYTES"]
    return valor


def marcar_pendiente(mensaje: Mensaje, ahora: datetime | None = None) -> None:
    """Mark ``mensaje`` for download; Beat hands it out from ``REDISPATCH_AFTER`` on if its
    task is lost."""
    ahora = ahora or timezone.now()
    campos = {
        "descarga": EstadoDescarga.PENDIENTE,
        "descarga_en": ahora + get_settings().seconds("REDISPATCH_AFTER"),
    }
    Mensaje.objects.filter(pk=mensaje.pk).update(**campos)
    for campo, valor in campos.items():
        setattr(mensaje, campo, valor)


def descargar_pendiente(mensaje_id: int, *, storage: Storage | None = None) -> str:
    """Download the file of a message marked ``pendiente``, once; return its ``descarga``
    ("" when there was nothing to do: already done, or another worker has it).

    The row is claimed in a short transaction (``descargando``, with a lease of
    ``REDISPATCH_AFTER`` seconds after which Beat hands it out again, as when the worker
    died); the download runs outside any transaction, and its outcome is written only if
    the claim still stands. Nothing here raises for the provider's or the file's sake.
    """
    settings = get_settings()
    ahora = timezone.now()
    with transaction.atomic():
        mensaje = (
            Mensaje.objects.select_for_update(skip_locked=True)
            .filter(pk=mensaje_id)
            .filter(
                Q(descarga=EstadoDescarga.PENDIENTE)
                | Q(descarga=EstadoDescarga.DESCARGANDO, descarga_en__lte=ahora)
            )
            .first()
        )
        if mensaje is None:
            return ""
        # Counted when claimed: a worker killed on this file (its memory, a deploy) counts.
        intentos = mensaje.descarga_intentos + 1
        if intentos > settings.MAX_ATTEMPTS:
            detalle = f"Ningún worker terminó de descargarlo en {intentos - 1} intentos."
            Mensaje.objects.filter(pk=mensaje.pk).update(
                descarga=EstadoDescarga.FALLIDA, descarga_error=detalle, descarga_en=None
            )
            logger.error("Archivo del mensaje %s fallida: %s", mensaje.pk, detalle)
            return EstadoDescarga.FALLIDA
        plazo = ahora + settings.seconds("REDISPATCH_AFTER")
        Mensaje.objects.filter(pk=mensaje.pk).update(
            descarga=EstadoDescarga.DESCARGANDO, descarga_en=plazo, descarga_intentos=intentos
        )
        mensaje.descarga, mensaje.descarga_en = EstadoDescarga.DESCARGANDO, plazo
    try:
        descargar_media(mensaje, storage=storage, max_bytes=_maximo(settings))
    except MediaDemasiadoGrande as exc:
        return _terminar(mensaje, EstadoDescarga.OMITIDA, intentos, str(exc))
    except MediaInvalido as exc:  # a download cut short, maybe: try again
        return _reintentar(mensaje, intentos, exc)
    except (PermanentError, UnsupportedCapability, ValueError) as exc:
        return _terminar(mensaje, EstadoDescarga.FALLIDA, intentos, texto_de_error(exc))
    except Exception as exc:  # unreachable, a refused token, a bug: try again later
        return _reintentar(mensaje, intentos, exc)
    if _terminar(mensaje, EstadoDescarga.DESCARGADA, intentos) == EstadoDescarga.DESCARGADA:
        signals.enviar_seguro(signals.media_descargada, Mensaje, mensaje=mensaje)
    return mensaje.descarga


def _mio(mensaje: Mensaje):
    """The message's row while this worker's claim stands (its lease unchanged)."""
    return Mensaje.objects.filter(
        pk=mensaje.pk, descarga=EstadoDescarga.DESCARGANDO, descarga_en=mensaje.descarga_en
    )


def _terminar(mensaje: Mensaje, estado: str, intentos: int, error: str = "") -> str:
    if not _mio(mensaje).update(
        descarga=estado, descarga_intentos=intentos, descarga_error=error, descarga_en=None
    ):
        return ""  # its lease ran out and another worker took it: that one says how it went
    mensaje.descarga = estado
    if estado != EstadoDescarga.DESCARGADA:
        logger.warning("Archivo del mensaje %s %s: %s", mensaje.pk, estado, error)
    return estado


def _reintentar(mensaje: Mensaje, intentos: int, exc: BaseException) -> str:
    maximo = get_settings().MAX_ATTEMPTS
    if intentos >= maximo:
        detalle = f"{texto_de_error(exc)} (tras {intentos} intentos)"
        return _terminar(mensaje, EstadoDescarga.FALLIDA, intentos, detalle)
    espera = timedelta(seconds=float(get_settings().espera_exponencial(intentos)))
    if not _mio(mensaje).update(
        descarga=EstadoDescarga.PENDIENTE, descarga_intentos=intentos,
        descarga_error=texto_de_error(exc), descarga_en=timezone.now() + espera,
    ):  # fmt: skip
        return ""
    logger.warning(
        "No se pudo descargar el archivo del mensaje %s (intento %s de %s): %s; otra vez en %s s",
        mensaje.pk, intentos, maximo, exc, int(espera.total_seconds()),
    )  # fmt: skip
    return EstadoDescarga.PENDIENTE


def por_descargar(ahora: datetime | None = None) -> list[int]:
    """Downloads due again (a failed try whose wait is over, a lost task, or a worker that
    died on it), oldest first. A pending one is pushed ``REDISPATCH_AFTER``
    ahead so the next sweep does not hand it out twice; one being downloaded keeps its
    lease, which the next worker takes over."""
    ahora = ahora or timezone.now()
    ids = list(
        Mensaje.objects.filter(
            descarga__in=[EstadoDescarga.PENDIENTE, EstadoDescarga.DESCARGANDO],
            descarga_en__lte=ahora,
        )
        .order_by("descarga_en")
        .values_list("pk", flat=True)[:1000]
    )
    Mensaje.objects.filter(pk__in=ids, descarga=EstadoDescarga.PENDIENTE).update(
        descarga_en=ahora + get_settings().seconds("REDISPATCH_AFTER")
    )
    return ids
