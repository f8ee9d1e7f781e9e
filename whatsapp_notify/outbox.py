"""The send API: validate, record the envío in the caller's transaction, enqueue on commit.

Recipient problems (no phone, invalid phone, no consent, WhatsApp disabled, closed
24-hour window) never raise: they become an ``omitido`` envío with a ``motivo``.
Programmer errors (unknown account, malformed variables, empty document) raise at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from .conf import DEFAULT_ALIAS, get_settings
from .consent import tiene_consentimiento
from .exceptions import MessageError
from .messages import Documento, Plantilla, Texto
from .models import ClaseEnvio, Direccion, EnvioWhatsApp, EstadoEnvio, Mensaje, MotivoOmision
from .phones import TelefonoInvalido, mask, normalizar, variantes

logger = logging.getLogger(__name__)

VENTANA_SERVICIO = timedelta(hours=24)

Archivo = bytes | bytearray | IO[bytes] | Path


@dataclass(frozen=True)
class Destinatario:
    """Who an envío goes to, as the ERP gave it."""

    telefono: str
    nombre: str = ""

    @classmethod
    def de(cls, valor: Any, nombre: str = "") -> Destinatario:
        """Accept a phone string, or any object with ``.telefono`` (and maybe ``.nombre``)."""
        if valor is None or isinstance(valor, str | int):
            return cls(str(valor or ""), nombre)
        return cls(
            str(getattr(valor, "telefono", "") or ""), nombre or getattr(valor, "nombre", "")
        )


def enviar_plantilla(
    telefono: Any,
    plantilla: str,
    *,
    variables: list[Any] | tuple[Any, ...] | dict[str, Any] | None = None,
    idioma: str | None = None,
    documento: Archivo | None = None,
    nombre_documento: str | None = None,
    **opciones: Any,
) -> EnvioWhatsApp:
    """Queue an approved template to ``telefono`` and return its envío.

    Args:
        telefono: any human phone format, or an object with ``.telefono`` (``.nombre``).
        plantilla: the template name as approved in WhatsApp Manager.
        variables: body parameters, a list for ``{{1}}..{{n}}`` or a dict for named ones.
        idioma: template language code; defaults to ``DEFAULT_LANGUAGE``.
        documento: bytes or a binary file for the template's document header.
        nombre_documento: file name the recipient sees (required with ``documento``).
        **opciones: ``referencia``, ``tipo``, ``clave``, ``nombre``, ``programado_para``,
            ``cuenta``, ``region`` (see :func:`registrar`).

    Raises:
        VariablesError, MessageError: malformed variables or document.
        ImproperlyConfigured: ``cuenta`` is not configured.
    """
    adjunto = _documento(documento, nombre_documento) if documento is not None else None
    contenido = Plantilla(
        nombre=plantilla,
        idioma=idioma or get_settings().DEFAULT_LANGUAGE,
        variables=variables,
        documento=adjunto,
    )
    return registrar(contenido, telefono, **opciones)


def enviar_documento(
    telefono: Any,
    archivo: Archivo,
    *,
    nombre_documento: str | None = None,
    caption: str = "",
    **opciones: Any,
) -> EnvioWhatsApp:
    """Queue a document message (free-form: it needs the 24-hour window, like text)."""
    return registrar(_documento(archivo, nombre_documento, caption), telefono, **opciones)


def enviar_texto(telefono: Any, texto: str, **opciones: Any) -> EnvioWhatsApp:
    """Queue a free text; outside the 24-hour window it is ``omitido`` (``fuera_de_ventana``)."""
    return registrar(Texto(cuerpo=texto), telefono, **opciones)


def registrar(
    contenido: Plantilla | Documento | Texto,
    telefono: Any,
    *,
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    nombre: str = "",
    programado_para: datetime | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
) -> EnvioWhatsApp:
    """Record one envío for ``contenido`` and enqueue it on commit; return the envío.

    The same ``clave`` always returns the first envío: nothing is recorded or sent twice.
    """
    get_settings().backend_config(cuenta)  # an unknown account is a programmer error
    if clave and (existente := EnvioWhatsApp.objects.filter(clave=clave).first()):
        return existente
    destinatario = Destinatario.de(telefono, nombre)
    envio = _nuevo_envio(contenido, destinatario, referencia, tipo, clave, programado_para, cuenta)
    _decidir(envio, contenido, destinatario, region)
    return _guardar(envio, contenido)


def registrar_omitido(
    contenido: Plantilla | Documento | Texto,
    telefono: Any,
    motivo: MotivoOmision,
    *,
    detalle: str = "",
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    cuenta: str = DEFAULT_ALIAS,
) -> EnvioWhatsApp:
    """Record an ``omitido`` envío with ``motivo`` (and ``detalle``); nothing is enqueued.

    For sends that could not even be prepared (a disparador whose callable raised).
    The same ``clave`` returns the first envío, as in :func:`registrar`.
    """
    if clave and (existente := EnvioWhatsApp.objects.filter(clave=clave).first()):
        return existente
    destinatario = Destinatario.de(telefono)
    envio = _nuevo_envio(contenido, destinatario, referencia, tipo, clave, None, cuenta)
    envio.estado, envio.motivo, envio.error_detalle = EstadoEnvio.OMITIDO, motivo, detalle
    return _guardar(envio, contenido)


def _nuevo_envio(contenido, destinatario, referencia, tipo, clave, programado_para, cuenta):
    envio = EnvioWhatsApp(
        telefono_original=str(destinatario.telefono)[:64],
        nombre=(destinatario.nombre or "")[:200],
        tipo=tipo,
        clave=clave or None,
        cuenta=cuenta,
        programado_para=programado_para,
    )
    if referencia is not None:
        envio.content_type = ContentType.objects.get_for_model(referencia)
        envio.object_id = str(referencia.pk)
    _describir_contenido(envio, contenido)
    return envio


def _describir_contenido(envio: EnvioWhatsApp, contenido) -> None:
    if isinstance(contenido, Plantilla):
        envio.clase = ClaseEnvio.PLANTILLA
        envio.plantilla, envio.idioma, envio.variables = (
            contenido.nombre,
            contenido.idioma,
            contenido.variables,
        )
        documento = contenido.documento
    elif isinstance(contenido, Documento):
        envio.clase, envio.texto, documento = ClaseEnvio.DOCUMENTO, contenido.caption, contenido
    else:
        envio.clase, envio.texto, documento = ClaseEnvio.TEXTO, contenido.cuerpo, None
    if documento is not None:
        envio.nombre_documento = documento.nombre
        envio.documento_mime = documento.mime
        envio.documento_sha256 = documento.sha256


def _decidir(envio: EnvioWhatsApp, contenido, destinatario: Destinatario, region) -> None:
    """Fill telefono and the initial estado/motivo."""
    settings = get_settings()
    motivo = None
    try:
        envio.telefono = normalizar(destinatario.telefono, region)
    except TelefonoInvalido:
        motivo = (
            MotivoOmision.SIN_TELEFONO
            if not str(destinatario.telefono or "").strip()
            else MotivoOmision.TELEFONO_INVALIDO
        )
    if motivo is None and not settings.ENABLED:
        motivo = MotivoOmision.DESHABILITADO
    if motivo is None and settings.REQUIRE_CONSENT and not tiene_consentimiento(envio.telefono):
        motivo = MotivoOmision.SIN_CONSENTIMIENTO
    if (
        motivo is None
        and not isinstance(contenido, Plantilla)
        and not ventana_abierta(envio.telefono)
    ):
        motivo = MotivoOmision.FUERA_DE_VENTANA
    if motivo is not None:
        envio.estado, envio.motivo = EstadoEnvio.OMITIDO, motivo
    elif envio.programado_para and envio.programado_para > timezone.now():
        envio.estado = EstadoEnvio.PROGRAMADO
    else:
        envio.estado = EstadoEnvio.PENDIENTE


def ventana_abierta(telefono: str, ahora: datetime | None = None) -> bool:
    """True when the customer wrote to us in the last 24 hours (free-form messages allowed)."""
    desde = (ahora or timezone.now()) - VENTANA_SERVICIO
    return Mensaje.objects.filter(
        direccion=Direccion.ENTRANTE, fecha__gte=desde, telefono__in=variantes(telefono)
    ).exists()


def _guardar(envio: EnvioWhatsApp, contenido) -> EnvioWhatsApp:
    documento = contenido.documento if isinstance(contenido, Plantilla) else contenido
    try:
        with transaction.atomic():
            if isinstance(documento, Documento):
                # Only the base name: "facturas/f.pdf" must not create folders, nor
                # "../f.pdf" raise the storage's path-traversal error into the ERP.
                nombre = f"{documento.sha256[:16]}-{Path(documento.nombre).name}"
                envio.documento.save(nombre, ContentFile(bytes(documento.contenido)), save=False)
            envio.save()
    except IntegrityError:
        # Another request recorded the same clave first: that envío is the one.
        if envio.clave and (existente := EnvioWhatsApp.objects.filter(clave=envio.clave).first()):
            return existente
        raise
    _log_registro(envio)
    if envio.estado == EstadoEnvio.PENDIENTE:
        from .tasks import encolar

        transaction.on_commit(lambda: encolar(envio.pk))
    return envio


def _log_registro(envio: EnvioWhatsApp) -> None:
    logger.info(
        "Envío %s registrado (%s %s → %s): %s%s",
        envio.pk,
        envio.clase,
        envio.plantilla or envio.nombre_documento,
        mask(envio.telefono),
        envio.estado,
        f" ({envio.motivo})" if envio.motivo else "",
    )


def _documento(archivo: Archivo, nombre: str | None, caption: str = "") -> Documento:
    if isinstance(archivo, Path):
        return Documento(archivo.read_bytes(), nombre or archivo.name, caption=caption)
    if isinstance(archivo, bytes | bytearray):
        return Documento(bytes(archivo), nombre or "", caption=caption)
    if hasattr(archivo, "read"):
        if hasattr(archivo, "seek"):
            archivo.seek(0)
        contenido = archivo.read()
        nombre = nombre or Path(getattr(archivo, "name", "") or "").name
        return Documento(contenido, nombre, caption=caption)
    raise MessageError(
        f"El documento debe ser bytes, un archivo abierto en binario o un Path, "
        f"no {type(archivo).__name__}."
    )
