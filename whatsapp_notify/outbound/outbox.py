"""The send API: validate, record the envío in the caller's transaction, enqueue on commit.

Recipient problems (no phone, invalid phone, no consent, an opt-out, WhatsApp disabled,
closed 24-hour window, past its moment) never raise: they become an ``omitido`` envío with
a ``motivo``.
Programmer errors (unknown account or region, malformed variables, empty document) raise
at once, before anything is recorded.

Documents are stored by content: the file name derives from the SHA-256 of the bytes, so
the same PDF is stored once however many envíos, retries or rolled-back attempts use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, NamedTuple

import phonenumbers
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import models, router, transaction
from django.db.models import Q, signals
from django.utils import timezone
from django.utils.functional import Promise

from .. import metrics
from ..agents import agente_por_telefono
from ..backends import backends
from ..conf import DEFAULT_ALIAS, get_settings
from ..consent import estado_consentimiento, estado_de_subconsulta, subconsulta_de_estado
from ..exceptions import (
    ConfigurationError,
    FechaInvalida,
    MessageError,
    RegionDesconocida,
    TipoInvalido,
)
from ..limits import exigir_largo, recortar
from ..messages import (
    Boton,
    Botones,
    BotonPlantilla,
    Contenido,
    Documento,
    Fila,
    Imagen,
    Lista,
    Plantilla,
    Reaccion,
    Seccion,
    Texto,
    Ubicacion,
    Video,
    botones_a_datos,
    exigir_caracteres,
    exigir_tipo,
    interactivo_a_datos,
    texto_almacenable,
)
from ..models import (
    Categoria,
    ClaseEnvio,
    ConsentimientoCliente,
    Direccion,
    EnvioWhatsApp,
    EstadoConsentimiento,
    EstadoEnvio,
    LecturaAlInsertar,
    Mensaje,
    MotivoOmision,
)
from ..models import Plantilla as CatalogoPlantilla
from ..phones import TelefonoInvalido, mask, normalizar, variantes
from ..templates import buscar_en_cache, verificar_fila
from .maintenance import politica

logger = logging.getLogger(__name__)

VENTANA_SERVICIO = timedelta(hours=24)
CARPETA_DOCUMENTOS = "whatsapp_notify/documentos"
_EXTENSION_RE = re.compile(r"\.[a-z0-9]{1,10}")

Archivo = bytes | bytearray | IO[bytes] | Path
#: ``expira_en``: an aware datetime, or a timedelta counted from the call.
Caducidad = datetime | timedelta


@dataclass(frozen=True)
class Destinatario:
    """Who an envío goes to, as the ERP gave it, in text every database can store."""

    telefono: str
    nombre: str = ""

    @classmethod
    def de(cls, valor: Any, nombre: str | None = None) -> Destinatario:
        """Accept a phone string, or any object with ``.telefono`` (and maybe ``.nombre``).

        Recipient data is cleaned, never refused (a bad recipient is ``omitido``, not an
        exception): NUL is dropped and half a surrogate pair becomes U+FFFD
        (:func:`~whatsapp_notify.messages.texto_almacenable`).
        """
        if valor is None or isinstance(valor, str | int):
            telefono = str(valor or "")
        else:
            telefono = str(getattr(valor, "telefono", "") or "")
            nombre = nombre or str(getattr(valor, "nombre", "") or "")
        return cls(texto_almacenable(telefono), texto_almacenable(nombre or ""))


def enviar_plantilla(
    telefono: Any,
    plantilla: str,
    *,
    variables: list[Any] | tuple[Any, ...] | dict[str, Any] | None = None,
    idioma: str | None = None,
    documento: Archivo | None = None,
    nombre_documento: str | None = None,
    imagen: Archivo | None = None,
    video: Archivo | None = None,
    encabezado: str | None = None,
    botones: Sequence[BotonPlantilla | None] | None = None,
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    nombre: str | None = None,
    programado_para: datetime | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
    categoria: Categoria | str | None = None,
    expira_en: Caducidad | None = None,
    responde_a: Mensaje | str | None = None,
) -> EnvioWhatsApp:
    """Queue an approved template to ``telefono`` and return its envío.

    Args:
        telefono: any human phone format, or an object with ``.telefono`` (``.nombre``).
        plantilla: the template name as approved in WhatsApp Manager.
        variables: body parameters, a list for ``{{1}}..{{n}}`` or a dict for named ones.
        idioma: template language code (``es_MX``, ``es``, ``es_419``); defaults to
            ``DEFAULT_LANGUAGE``.
        documento: bytes or a binary file for the template's document header.
        nombre_documento: file name the recipient sees (required with ``documento``).
        imagen, video: a JPEG/PNG (5 MB) or MP4/3GPP (16 MB) for an image or video header,
            as bytes, a binary file or a Path (``nombre_documento`` optional).
        encabezado: the text of a text header's ``{{1}}`` (up to 60 characters). A template
            has one header: pass one of ``documento``, ``imagen``, ``video``, ``encabezado``.
        botones: the parameters of the template's buttons, in their order: a
            ``BotonRapido(payload)`` for a quick reply whose tap should come back as
            ``payload`` (not as its text), a ``BotonUrl(sufijo)`` for a URL button ending
            in ``{{1}}``, None for a button that takes nothing. Meta only: Twilio and WHAPI
            raise ``UnsupportedContent`` at the call.
        referencia, tipo, clave, nombre, programado_para, cuenta, region: see
            :func:`registrar`.
        categoria: ``"utility"`` or ``"marketing"``, for consent; default: the catalog's
            category of the template (MARKETING is marketing, UTILITY and AUTHENTICATION
            are utility), else utility. A template the catalog lists as MARKETING is
            marketing whatever is passed: Meta, not the caller, decides it.
        expira_en: after this moment the envío is never sent (``omitido``, ``vencido``):
            an aware datetime, or a timedelta from now. Default: no expiry.
        responde_a: the customer's message this one answers (its ``Mensaje`` entrante, or
            its wamid): shown quoted above it. Meta and WHAPI quote it; Twilio has no
            quoting and sends the message alone.

    Raises:
        TipoInvalido: an argument of the wrong type (a ``TypeError``), naming it.
        VariablesError, MessageError: malformed variables, document, language code, or
            text with NUL, control characters or half a surrogate pair; ``botones`` that
            do not fit the template's buttons as the catalog knows them.
        ImproperlyConfigured: ``cuenta`` is not configured.
        RegionDesconocida: ``region`` is not an ISO 3166 code ``phonenumbers`` knows.
        MessageError: unknown ``categoria``; ``responde_a`` is not an inbound message with
            its wamid, or a wamid that is blank, over 128 characters or has control
            characters.
        FechaInvalida: ``expira_en`` naive, out of range or not a datetime/timedelta.
    """
    contenido = plantilla_de(
        plantilla, idioma, variables, documento, nombre_documento, botones,
        imagen=imagen, video=video, encabezado=encabezado,
    )  # fmt: skip
    return registrar(
        contenido, telefono, referencia=referencia, tipo=tipo, clave=clave, nombre=nombre,
        programado_para=programado_para, cuenta=cuenta, region=region, categoria=categoria,
        expira_en=expira_en, responde_a=responde_a,
    )  # fmt: skip


def plantilla_de(
    plantilla: str,
    idioma: str | None,
    variables: list[Any] | tuple[Any, ...] | dict[str, Any] | None,
    documento: Archivo | None,
    nombre_documento: str | None,
    botones: Sequence[BotonPlantilla | None] | None = None,
    *,
    imagen: Archivo | None = None,
    video: Archivo | None = None,
    encabezado: str | None = None,
) -> Plantilla:
    """The message :func:`enviar_plantilla` records for these arguments (checked)."""
    adjunto = _adjunto(imagen, video, documento, nombre_documento)
    return Plantilla(
        nombre=plantilla,
        idioma=get_settings().DEFAULT_LANGUAGE if idioma in (None, "") else idioma,
        variables=variables,
        documento=adjunto,
        botones=botones,
        encabezado="" if encabezado is None else encabezado,
    )


def enviar_documento(
    telefono: Any,
    archivo: Archivo,
    *,
    nombre_documento: str | None = None,
    caption: str = "",
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    nombre: str | None = None,
    programado_para: datetime | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
    categoria: Categoria | str | None = None,
    expira_en: Caducidad | None = None,
    responde_a: Mensaje | str | None = None,
) -> EnvioWhatsApp:
    """Queue a document message (free-form: it needs the 24-hour window, like text).

    ``categoria`` defaults to utility; the other keywords as in :func:`enviar_plantilla`.
    """
    contenido = _documento(archivo, nombre_documento, caption)
    return registrar(
        contenido, telefono, referencia=referencia, tipo=tipo, clave=clave, nombre=nombre,
        programado_para=programado_para, cuenta=cuenta, region=region, categoria=categoria,
        expira_en=expira_en, responde_a=responde_a,
    )  # fmt: skip


def enviar_imagen(
    telefono: Any,
    archivo: Archivo,
    *,
    nombre_documento: str | None = None,
    caption: str = "",
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    nombre: str | None = None,
    programado_para: datetime | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
    categoria: Categoria | str | None = None,
    expira_en: Caducidad | None = None,
    responde_a: Mensaje | str | None = None,
) -> EnvioWhatsApp:
    """Queue an image shown inline, with ``caption`` under it (free-form: it needs the
    24-hour window, like text): a payment receipt, a photo of the finished job.

    ``archivo`` as in :func:`enviar_documento`; JPEG or PNG (by ``nombre_documento``'s or
    the file's extension) of at most 5 MB, ``caption`` up to 1,024 characters. The other
    keywords as in :func:`enviar_plantilla`.

    Raises:
        MessageError: not a JPEG or PNG, over 5 MB, empty, or a caption too long; the
            message says to send it with :func:`enviar_documento` instead.
    """
    contenido = _documento(archivo, nombre_documento, caption, clase=Imagen)
    return registrar(
        contenido, telefono, referencia=referencia, tipo=tipo, clave=clave, nombre=nombre,
        programado_para=programado_para, cuenta=cuenta, region=region, categoria=categoria,
        expira_en=expira_en, responde_a=responde_a,
    )  # fmt: skip


def enviar_ubicacion(
    telefono: Any,
    latitud: float,
    longitud: float,
    *,
    nombre_lugar: str = "",
    direccion: str = "",
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    nombre: str | None = None,
    programado_para: datetime | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
    categoria: Categoria | str | None = None,
    expira_en: Caducidad | None = None,
    responde_a: Mensaje | str | None = None,
) -> EnvioWhatsApp:
    """Queue a map pin (free-form: it needs the 24-hour window, like text): where the
    workshop is, where to pick the car up.

    ``latitud`` and ``longitud`` in decimal degrees (a float, int or ``Decimal``);
    ``nombre_lugar`` and ``direccion``, one line each of up to 1,000 characters, are shown
    under the pin. ``nombre`` is the recipient's, as everywhere; the other keywords as in
    :func:`enviar_plantilla`.

    Raises:
        MessageError: a coordinate out of range (or not finite), a text too long or with
            control characters.
        UnsupportedContent: the account's provider cannot send a pin (Twilio: only as a
            ``twilio/location`` content template); nothing is recorded.
    """
    contenido = Ubicacion(latitud, longitud, nombre_lugar, direccion)
    return registrar(
        contenido, telefono, referencia=referencia, tipo=tipo, clave=clave, nombre=nombre,
        programado_para=programado_para, cuenta=cuenta, region=region, categoria=categoria,
        expira_en=expira_en, responde_a=responde_a,
    )  # fmt: skip


def enviar_reaccion(
    telefono: Any,
    emoji: str,
    *,
    responde_a: Mensaje | str,
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    nombre: str | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
    expira_en: Caducidad | None = None,
) -> EnvioWhatsApp:
    """Queue an emoji on the customer's message ``responde_a`` (its ``Mensaje`` entrante or
    wamid): a 👍 that says "received" without a message. ``""`` takes the reaction away.

    Free-form, like text: it needs the 24-hour window. Meta reports only ``enviado`` for a
    reaction (no delivered or read). The other keywords as in :func:`enviar_plantilla`.

    Raises:
        MessageError: not one emoji; ``responde_a`` missing or not an inbound message.
        UnsupportedContent: the account's provider does not send reactions (Twilio, WHAPI);
            nothing is recorded.
    """
    if responde_a is None or responde_a == "":
        raise MessageError("enviar_reaccion(): responde_a es el mensaje del cliente a reaccionar.")
    contenido = Reaccion(emoji)
    return registrar(
        contenido, telefono, referencia=referencia, tipo=tipo, clave=clave, nombre=nombre,
        cuenta=cuenta, region=region, expira_en=expira_en, responde_a=responde_a,
    )  # fmt: skip


def enviar_texto(
    telefono: Any,
    texto: str,
    *,
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    nombre: str | None = None,
    programado_para: datetime | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
    categoria: Categoria | str | None = None,
    expira_en: Caducidad | None = None,
    responde_a: Mensaje | str | None = None,
) -> EnvioWhatsApp:
    """Queue a free text; outside the 24-hour window it is ``omitido`` (``fuera_de_ventana``).

    Newlines and tabs are kept; NUL, other control characters and half a surrogate pair
    raise ``MessageError``. ``categoria`` defaults to utility; the other keywords as in
    :func:`enviar_plantilla`.
    """
    contenido = Texto(cuerpo=texto)
    return registrar(
        contenido, telefono, referencia=referencia, tipo=tipo, clave=clave, nombre=nombre,
        programado_para=programado_para, cuenta=cuenta, region=region, categoria=categoria,
        expira_en=expira_en, responde_a=responde_a,
    )  # fmt: skip


#: A reply button as :func:`enviar_botones` takes it: a Boton, ``(id, titulo)``, or one text
#: that is both.
BotonDado = Boton | tuple[str, str] | str
#: A list row as :func:`enviar_lista` takes it: a Fila, or ``(id, titulo[, descripcion])``.
FilaDada = Fila | tuple[str, str] | tuple[str, str, str]


def enviar_botones(
    telefono: Any,
    texto: str,
    *,
    botones: Sequence[BotonDado],
    encabezado: str = "",
    pie: str = "",
    imagen: Archivo | None = None,
    video: Archivo | None = None,
    documento: Archivo | None = None,
    nombre_documento: str | None = None,
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    nombre: str | None = None,
    programado_para: datetime | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
    categoria: Categoria | str | None = None,
    expira_en: Caducidad | None = None,
    responde_a: Mensaje | str | None = None,
) -> EnvioWhatsApp:
    """Queue a message with up to three reply buttons (free-form: it needs the window).

    ``botones`` are ``Boton(id, titulo)``, ``(id, titulo)`` pairs or plain titles (the
    title is then the id too): the customer's tap comes back with that id. Titles up to
    20 characters, ids and titles unique, ``texto`` up to 1,024, ``encabezado`` and ``pie``
    up to 60. Instead of a text header, a media one: ``imagen`` (JPEG/PNG), ``video``
    (MP4/3GPP) or ``documento`` (with ``nombre_documento``), as :func:`enviar_plantilla`
    takes them. The other keywords as in :func:`enviar_plantilla`.

    Raises:
        MessageError: a limit of WhatsApp's broken (named), or characters that cannot be sent.
        TipoInvalido: a button or argument of the wrong type.
        UnsupportedContent: the account's provider cannot send reply buttons (Twilio).
    """
    adjunto = _adjunto(imagen, video, documento, nombre_documento)
    contenido = Botones(texto, tuple(_boton(boton) for boton in _secuencia(botones, "botones")),
                        encabezado=encabezado, pie=pie, adjunto=adjunto)  # fmt: skip
    return registrar(
        contenido, telefono, referencia=referencia, tipo=tipo, clave=clave, nombre=nombre,
        programado_para=programado_para, cuenta=cuenta, region=region, categoria=categoria,
        expira_en=expira_en, responde_a=responde_a,
    )  # fmt: skip


def enviar_lista(
    telefono: Any,
    texto: str,
    *,
    boton: str,
    secciones: Mapping[str, Sequence[FilaDada]] | Sequence[Seccion],
    encabezado: str = "",
    pie: str = "",
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    nombre: str | None = None,
    programado_para: datetime | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
    categoria: Categoria | str | None = None,
    expira_en: Caducidad | None = None,
    responde_a: Mensaje | str | None = None,
) -> EnvioWhatsApp:
    """Queue a list picker: ``boton`` opens up to ten rows in sections (needs the window).

    ``secciones`` maps each section's title to its rows (``{"Mañana": [("9", "9:00")]}``;
    one section may have the title ""), or is a list of ``Seccion``. A row is ``Fila(id,
    titulo, descripcion)`` or ``(id, titulo[, descripcion])``; its id comes back in the reply.
    Limits: ``boton`` up to 20 characters, row titles 24, descriptions 72, ten rows in all,
    ids unique. The other keywords as in :func:`enviar_plantilla`.

    Raises:
        MessageError, TipoInvalido, UnsupportedContent: as :func:`enviar_botones`.
    """
    contenido = Lista(texto, boton, _secciones(secciones), encabezado=encabezado, pie=pie)
    return registrar(
        contenido, telefono, referencia=referencia, tipo=tipo, clave=clave, nombre=nombre,
        programado_para=programado_para, cuenta=cuenta, region=region, categoria=categoria,
        expira_en=expira_en, responde_a=responde_a,
    )  # fmt: skip


def _secuencia(valor: Any, parametro: str) -> Sequence[Any]:
    if isinstance(valor, str | bytes) or not isinstance(valor, Sequence):
        raise TipoInvalido(f"{parametro} debe ser una lista, no {type(valor).__name__}.")
    return valor


def _boton(valor: Any) -> Boton:
    if isinstance(valor, Boton):
        return valor
    if isinstance(valor, str | Promise):
        return Boton(str(valor), str(valor))
    if isinstance(valor, tuple) and len(valor) == 2:
        return Boton(*valor)
    raise TipoInvalido(
        f"Un botón no puede ser {type(valor).__name__}: usa Boton(id, titulo), (id, titulo) "
        "o un texto."
    )


def _fila(valor: Any) -> Fila:
    if isinstance(valor, Fila):
        return valor
    if isinstance(valor, tuple) and len(valor) in (2, 3):
        return Fila(*valor)
    raise TipoInvalido(
        f"Una fila no puede ser {type(valor).__name__}: usa Fila(id, titulo, descripcion) o "
        "(id, titulo[, descripcion])."
    )


def _secciones(valor: Any) -> tuple[Seccion, ...]:
    if isinstance(valor, Mapping):
        return tuple(
            Seccion(titulo, tuple(_fila(fila) for fila in _secuencia(filas, "filas")))
            for titulo, filas in valor.items()
        )
    return tuple(_secuencia(valor, "secciones"))


def registrar(
    contenido: Contenido,
    telefono: Any,
    *,
    referencia: models.Model | None = None,
    tipo: str = "",
    clave: str | None = None,
    nombre: str | None = None,
    programado_para: datetime | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
    categoria: Categoria | str | None = None,
    expira_en: Caducidad | None = None,
    responde_a: Mensaje | str | None = None,
    clave_comprobada: bool = False,
) -> EnvioWhatsApp:
    """Record one envío for ``contenido`` and enqueue it on commit; return the envío.

    The same ``clave`` always returns the first envío: nothing is recorded or sent twice.
    ``clave`` is None (no idempotency) or a non-blank ``str``, kept exactly as given; any
    other value raises, since treating ``0`` or ``""`` as "no clave" would send twice.
    If that envío was ``omitido`` for a recipient reason (phone, consent, window...), it is
    reconsidered with the recipient given now, since the ERP may have fixed the phone or
    recorded consent meanwhile; it still goes out at most once.

    ``region`` is the ISO 3166 code for numbers written without country code (default
    ``DEFAULT_REGION``). An unknown ``cuenta`` or ``region`` raises before anything is written,
    and so do variables that do not fit a template of the catalog (``templates``); a
    catalog template that is not approved is ``omitido`` (``plantilla_no_aprobada``).
    ``categoria``, ``expira_en`` and ``responde_a``: see :func:`enviar_plantilla`; an envío
    already past ``expira_en`` is ``omitido`` (``vencido``). ``nombre`` (and the phone) are
    recipient data: cleaned (:class:`Destinatario`), never refused for their characters.

    Raises:
        TipoInvalido: ``referencia`` is not a model instance; ``tipo``, ``clave`` or
            ``nombre`` is not text (``clave`` and ``nombre`` may be None).
        MessageError: ``clave`` is blank, or ``tipo``/``clave`` has NUL, control
            characters, newlines or half a surrogate pair; ``referencia`` is not saved;
            ``categoria`` is not ``utility``/``marketing``.
        FechaInvalida: ``programado_para`` or ``expira_en`` is not a datetime (``expira_en``:
            nor a timedelta), is naive under ``USE_TZ``, or falls outside years 1 to 9999;
            or ``expira_en`` is not after ``programado_para``.
        ValorDemasiadoLargo: ``tipo``, ``clave``, ``plantilla``, ``idioma``,
            ``nombre_documento`` or the referencia's id is longer than its column.

    ``clave_comprobada`` is for a caller (a disparador) inside a savepoint of its own, where
    every query counts: the clave is not looked up first (the INSERT finds it, and the
    envío it names is returned as it is, not reconsidered) and no second savepoint is opened.
    """
    pedido = _Pedido(referencia, tipo, clave, programado_para, cuenta, region)
    validado = _validar(contenido, pedido, nombre, categoria, expira_en, responde_a)
    destinatario = Destinatario.de(telefono, nombre)
    if not clave_comprobada and (existente := EnvioWhatsApp.objects.por_clave(clave)):
        if validado.no_aprobada:
            return existente
        return _reconsiderar(existente, destinatario, region)
    envio, por_leer = _decidido(
        contenido, destinatario, pedido, validado, diferible=_consentimiento_diferible()
    )
    return _guardar(envio, contenido, protegido=clave_comprobada, consentimiento=por_leer)


def prever(
    contenido: Contenido,
    telefono: Any,
    *,
    referencia: models.Model | None = None,
    tipo: str = "",
    nombre: str | None = None,
    programado_para: datetime | None = None,
    cuenta: str = DEFAULT_ALIAS,
    region: str | None = None,
    categoria: Categoria | str | None = None,
    expira_en: Caducidad | None = None,
    responde_a: Mensaje | str | None = None,
) -> EnvioWhatsApp:
    """The envío :func:`registrar` would record for these arguments, not saved.

    Its ``estado`` and ``motivo`` (and ``error_detalle``, a ``POLICY``'s refusal) say
    whether it would go now: ``omitido`` with the reason, else ``pendiente`` or
    ``programado``. Nothing is written, stored or enqueued; the checks are those of
    :func:`registrar`, ``POLICY`` included, so a caller can refuse without leaving an
    ``omitido`` row behind. No ``clave``: what an existing envío would do is
    :func:`registrar`'s to say.

    Raises:
        What :func:`registrar` raises for the same arguments.
    """
    pedido = _Pedido(referencia, tipo, None, programado_para, cuenta, region)
    validado = _validar(contenido, pedido, nombre, categoria, expira_en, responde_a)
    return _decidido(contenido, Destinatario.de(telefono, nombre), pedido, validado)[0]


class _Pedido(NamedTuple):
    """Where and how an envío is asked for: :func:`registrar`'s bookkeeping keywords."""

    referencia: models.Model | None
    tipo: str
    clave: str | None
    programado_para: datetime | None
    cuenta: str
    region: str | None


class _Validado(NamedTuple):
    """What :func:`_validar` settled: the consent category, the expiry and the quoted wamid,
    and why the catalog keeps a template back (None: it does not)."""

    categoria: str
    caducidad: datetime | None
    contexto: str
    no_aprobada: MotivoOmision | None


def _validar(contenido, pedido: _Pedido, nombre, categoria, expira_en, responde_a) -> _Validado:
    """Every check :func:`registrar` makes before it looks at the recipient (see Raises)."""
    get_settings().backend_config(pedido.cuenta)  # an unknown account is a programmer error
    _exigir_admitido(contenido, pedido.cuenta)
    exigir_region(pedido.region)
    exigir_argumentos(
        referencia=pedido.referencia, tipo=pedido.tipo, clave=pedido.clave, nombre=nombre
    )
    exigir_momento(pedido.programado_para, "programado_para")
    caducidad = exigir_caducidad(expira_en)
    contexto = exigir_responde_a(responde_a)
    exigir_orden(pedido.programado_para, caducidad)
    exigir_largos(contenido, tipo=pedido.tipo, clave=pedido.clave, referencia=pedido.referencia)
    exigir_categoria(categoria)
    fila = _fila_del_catalogo(contenido, pedido.cuenta)  # one lookup: category, status, variables
    categoria = categoria_de_envio(contenido, fila, categoria)
    # A row exists only for a template: its status, and its variables (raises on a mismatch).
    no_aprobada = verificar_fila(fila, contenido.variables, contenido.botones) if fila else None
    return _Validado(categoria, caducidad, contexto, no_aprobada)


def _decidido(
    contenido,
    destinatario: Destinatario,
    pedido: _Pedido,
    validado: _Validado,
    *,
    diferible: bool = False,
) -> tuple[EnvioWhatsApp, _ConsentimientoPorLeer | None]:
    """The new envío, not saved, with its phone and its initial estado and motivo, and the
    consent left for its INSERT to read (``diferible``: see :func:`_decidir`), or None."""
    envio = _nuevo_envio(
        contenido, destinatario, pedido.referencia, pedido.tipo, pedido.clave,
        pedido.programado_para, pedido.cuenta,
    )  # fmt: skip
    envio.categoria, envio.expira_en = validado.categoria, validado.caducidad
    envio.responde_a = validado.contexto
    por_leer = _decidir(envio, pedido.region, diferible=diferible)
    if validado.no_aprobada and envio.estado != EstadoEnvio.OMITIDO:
        envio.estado, envio.motivo = EstadoEnvio.OMITIDO, validado.no_aprobada
    return envio, por_leer


def _exigir_admitido(contenido: Contenido, cuenta: str) -> None:
    """Raise at the call what the account's provider can never send (Twilio's buttons).

    Only interactive messages, pins, reactions and templates with button parameters or a
    text header are checked here (see ``BaseBackend.admite``): a plain template, the ERP's
    everyday send, does not even look its backend up. An account whose options are broken
    is not refused here: its envíos wait, paused, as any other.
    """
    if isinstance(contenido, Plantilla):
        if not (contenido.botones or contenido.encabezado):
            return
    elif not isinstance(contenido, Botones | Lista | Ubicacion | Reaccion):
        return
    try:
        backend = backends[cuenta]
    except ConfigurationError:
        return
    backend.admite(contenido)


def exigir_responde_a(valor: Any) -> str:
    """The wamid ``responde_a`` names ("" for None).

    Raises:
        TipoInvalido: neither a ``Mensaje``, a ``str`` nor None.
        MessageError: a ``Mensaje`` that is not inbound or has no wamid; a wamid that is
            blank, has control characters, or is over 128 characters (an id that long was
            stored shortened, and Meta would not find it).
    """
    if valor is None:
        return ""
    if isinstance(valor, Mensaje):
        if valor.direccion != Direccion.ENTRANTE or not valor.wamid:
            raise MessageError(
                "responde_a es el mensaje entrante del cliente, con su wamid: este no lo es."
            )
        valor = valor.wamid
    exigir_tipo(valor, str, "responde_a", "usa el Mensaje entrante o su wamid.")
    exigir_caracteres(valor, "responde_a", saltos=False)
    if not valor.strip() or len(valor) > 128 or "~" in valor:
        raise MessageError(
            f"responde_a={valor[:40]!r}… no es un wamid que WhatsApp pueda citar (vacío, de "
            "más de 128 caracteres o guardado recortado): envía sin responde_a."
        )
    return valor


def exigir_orden(programado_para: datetime | None, expira_en: datetime | None) -> None:
    """Refuse an expiry at or before the scheduled time: such an envío could never go out.

    Raises:
        FechaInvalida: naming both moments' fix.
    """
    if programado_para and expira_en and expira_en <= programado_para:
        raise FechaInvalida(
            "expira_en es anterior a programado_para: el envío nunca saldría. Pon expira_en "
            "después de programado_para (p. ej. programado_para + timedelta(hours=1))."
        )


def exigir_argumentos(
    *, referencia: Any = None, tipo: Any = "", clave: Any = None, nombre: Any = None
) -> None:
    """Refuse the send API's bookkeeping keywords of the wrong type or with bad characters.

    Raises:
        TipoInvalido, MessageError: see :func:`registrar`.
    """
    if referencia is not None:
        exigir_tipo(
            referencia, models.Model, "referencia", "usa la instancia del ERP (la orden), no su id."
        )
        if referencia.pk is None:
            # Its id would be stored as the text "None" and the envío could never find it.
            raise MessageError(
                f"referencia ({type(referencia).__name__}) no está guardada: guárdala antes "
                "(referencia.save()) y envía en la misma transacción."
            )
    exigir_tipo(tipo, str, "tipo", "usa un slug corto como 'vehiculo_listo', o '' (sin tipo).")
    exigir_caracteres(tipo, "tipo", saltos=False)
    exigir_clave(clave)
    if nombre is not None:
        exigir_tipo(nombre, str, "nombre", "usa el nombre del destinatario como texto, o None.")


_EJEMPLO_CLAVE = 'usa un texto único por aviso, como f"vehiculo_listo:{orden.pk}"'


def exigir_clave(clave: Any) -> None:
    """Accept None (no idempotency) or non-blank text; the clave is kept exactly as given.

    Raises:
        TipoInvalido: not text (``0``, ``False``, ``123``, a list): converting it would
            merge or drop claves silently.
        MessageError: blank (it would mean "no clave" and send twice), or with NUL, control
            characters, newlines or half a surrogate pair.
    """
    if clave is None:
        return
    exigir_tipo(clave, str, "clave", f"{_EJEMPLO_CLAVE}, o None para no usar clave.")
    if not clave.strip():
        raise MessageError(
            f"clave está vacía y se enviaría dos veces: {_EJEMPLO_CLAVE}, o None sin clave."
        )
    exigir_caracteres(clave, "clave", saltos=False)


def exigir_categoria(categoria: Any) -> None:
    """Accept None (the catalog's, else utility) or a :class:`Categoria` value.

    Raises:
        MessageError: any other value, naming the valid ones.
    """
    if categoria is not None and categoria not in Categoria.values:
        raise MessageError(
            f"categoria={categoria!r} no es una categoría de envío: usa 'utility' (avisos de "
            "servicio) o 'marketing' (promociones), o None para la del catálogo."
        )


def categoria_de_envio(contenido, fila: CatalogoPlantilla | None, categoria: str | None) -> str:
    """The consent category of a send: marketing when the caller or the catalog says so.

    Free text and documents are utility unless told; a template takes its catalog row's
    category (``fila``: MARKETING -> marketing; UTILITY, AUTHENTICATION or no row -> utility),
    and a MARKETING row stays marketing whatever the caller said.
    """
    if categoria == Categoria.MARKETING or not isinstance(contenido, Plantilla):
        return str(categoria or Categoria.UTILITY)
    de_meta = fila.categoria if fila is not None else ""
    return Categoria.MARKETING if de_meta.upper() == "MARKETING" else Categoria.UTILITY


def exigir_caducidad(expira_en: Any) -> datetime | None:
    """The moment an envío expires: ``expira_en`` itself, or now + a timedelta; None: never.

    Raises:
        FechaInvalida: not a datetime or timedelta, a naive datetime with ``USE_TZ`` (its
            moment would depend on the zone; see :func:`exigir_momento`), or a timedelta
            that takes now outside years 1 to 9999.
    """
    if isinstance(expira_en, timedelta):
        try:
            return timezone.now() + expira_en
        except OverflowError:
            raise FechaInvalida(
                f"expira_en = ahora + {expira_en.days} días cae fuera de los años 1 a 9999: usa un "
                "plazo real, como timedelta(days=7), o None para que no caduque."
            ) from None
    exigir_momento(expira_en, "expira_en")
    return expira_en


def vencido(envio: EnvioWhatsApp, ahora: datetime | None = None) -> bool:
    """True when ``envio`` passed its ``expira_en``: it must never be sent any more."""
    return envio.expira_en is not None and envio.expira_en <= (ahora or timezone.now())


def _fila_del_catalogo(contenido, cuenta: str) -> CatalogoPlantilla | None:
    # Templates only; one the catalog does not know is not refused (templates).
    if not isinstance(contenido, Plantilla):
        return None
    return buscar_en_cache(contenido.nombre, contenido.idioma, cuenta)


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
    exigir_largos(contenido, tipo=tipo, clave=clave, referencia=referencia)
    if existente := EnvioWhatsApp.objects.por_clave(clave):
        return existente
    destinatario = Destinatario.de(telefono)
    envio = _nuevo_envio(contenido, destinatario, referencia, tipo, clave, None, cuenta)
    envio.estado, envio.motivo, envio.error_detalle = EstadoEnvio.OMITIDO, motivo, detalle
    return _guardar(envio, contenido)


def _nuevo_envio(contenido, destinatario, referencia, tipo, clave, programado_para, cuenta):
    envio = EnvioWhatsApp.nuevo(
        telefono_original=recortar(EnvioWhatsApp, "telefono_original", destinatario.telefono),
        nombre=recortar(EnvioWhatsApp, "nombre", destinatario.nombre or ""),
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
        datos = {"botones": botones_a_datos(contenido.botones)} if contenido.botones else {}
        if contenido.encabezado:
            datos["encabezado"] = contenido.encabezado
        if datos:
            envio.interactivo = datos
    elif isinstance(contenido, Documento):
        clase = ClaseEnvio.IMAGEN if isinstance(contenido, Imagen) else ClaseEnvio.DOCUMENTO
        envio.clase, envio.texto, documento = clase, contenido.caption, contenido
    elif isinstance(contenido, Texto):
        envio.clase, envio.texto, documento = ClaseEnvio.TEXTO, contenido.cuerpo, None
    elif isinstance(contenido, Reaccion):
        envio.clase, envio.texto, documento = ClaseEnvio.REACCION, contenido.emoji, None
    elif isinstance(contenido, Ubicacion):
        envio.clase, envio.texto, documento = ClaseEnvio.UBICACION, contenido.nombre, None
        envio.interactivo = {"ubicacion": dataclasses.asdict(contenido)}
    elif isinstance(contenido, Botones | Lista):
        envio.clase = ClaseEnvio.BOTONES if isinstance(contenido, Botones) else ClaseEnvio.LISTA
        envio.texto, envio.interactivo = contenido.cuerpo, interactivo_a_datos(contenido)
        documento = contenido.adjunto if isinstance(contenido, Botones) else None
    else:
        # Never a silent downgrade: an unknown content is not recorded as something else.
        raise TipoInvalido(f"No se puede registrar un contenido {type(contenido).__name__}.")
    if documento is not None:
        envio.nombre_documento = documento.nombre
        envio.documento_mime = documento.mime
        envio.documento_sha256 = documento.sha256


def _decidir(
    envio: EnvioWhatsApp, region: str | None, *, diferible: bool = False
) -> _ConsentimientoPorLeer | None:
    """Fill telefono and the initial estado/motivo.

    ``diferible``: a template's consent may be left out and returned, for the envío's
    INSERT to read (:class:`_ConsentimientoPorLeer`); nothing after it in
    :func:`revisar_destinatario` applies to a template, and the caller made sure that no
    ``POLICY`` and no ``pre_save`` receiver would see the envío before it is settled.
    """
    por_leer = None
    if diferible and envio.clase == ClaseEnvio.PLANTILLA:
        envio.telefono, motivo = _revisar_telefono(envio.telefono_original, region)
        if motivo is None:
            por_leer = _ConsentimientoPorLeer(
                envio.telefono, envio.categoria, envio.cuenta,
                consentimiento_requerido(envio.telefono, respuesta=bool(envio.responde_a)),
            )  # fmt: skip
    else:
        envio.telefono, motivo = revisar_destinatario(
            envio.telefono_original, envio.clase, region, cuenta=envio.cuenta,
            categoria=envio.categoria, respuesta=bool(envio.responde_a),
        )  # fmt: skip
    if motivo is None and vencido(envio):
        motivo = MotivoOmision.VENCIDO
    if motivo is None and (negativa := politica(envio)) is not None:
        motivo, envio.error_detalle = MotivoOmision.POLITICA, negativa
    if motivo is not None:
        envio.estado, envio.motivo = EstadoEnvio.OMITIDO, motivo
    elif envio.programado_para and envio.programado_para > timezone.now():
        envio.estado = EstadoEnvio.PROGRAMADO
    else:
        envio.estado = EstadoEnvio.PENDIENTE
    return por_leer


def _consentimiento_diferible() -> bool:
    """True when the consent can wait for the envío's INSERT: no ``POLICY`` (it is asked
    only once consent allows the send) and no ``pre_save`` receiver on the envío (it would
    see one not settled yet). ``POLICY`` is not imported here: a broken one is reported
    where it was, when it is asked."""
    return get_settings().POLICY in (None, "") and not (
        signals.pre_save.has_listeners(EnvioWhatsApp)
    )


class _ConsentimientoPorLeer(NamedTuple):
    """The consent of a template's recipient, read by the envío's own INSERT.

    The last check :func:`revisar_destinatario` makes for a template; read in the same
    statement that records the envío, it costs the ERP's save no round trip of its own.
    Its verdict wins over what was decided without it (``vencido``, a template not
    approved), as it does when read first.
    """

    digitos: str
    categoria: str
    cuenta: str
    requerido: bool

    def lectura(self, alias: str) -> LecturaAlInsertar:
        sql, parametros = subconsulta_de_estado(
            self.digitos, self.categoria, cuenta=self.cuenta, alias=alias
        )
        return LecturaAlInsertar(sql, parametros, self.aplicar)

    def aplicar(self, envio: EnvioWhatsApp, valor: int | None) -> list[str]:
        """Omit ``envio`` if the consent the INSERT read (``valor``) forbids it: the fields
        changed."""
        return self._omitir(envio, _motivo_por_estado(estado_de_subconsulta(valor), self.requerido))

    def leer_aparte(self, envio: EnvioWhatsApp) -> None:
        """Read it with a query of its own (the consent lives in another database)."""
        self._omitir(
            envio,
            motivo_de_consentimiento(
                self.digitos, self.categoria, self.requerido, cuenta=self.cuenta
            ),
        )

    @staticmethod
    def _omitir(envio: EnvioWhatsApp, motivo: MotivoOmision | None) -> list[str]:
        if motivo is None:
            return []
        envio.estado, envio.motivo, envio.despachado_en = EstadoEnvio.OMITIDO, motivo, None
        return ["estado", "motivo", "despachado_en"]


def exigir_region(region: Any) -> None:
    """Accept None/"" (``DEFAULT_REGION``) or a region ``phonenumbers`` knows, in any case.

    Raises:
        RegionDesconocida: any other value. It would make every phone without country code
            look invalid, silently: the caller's code is wrong, not the recipient's phone.
    """
    if region in (None, ""):
        return
    if isinstance(region, str) and region.upper() in phonenumbers.SUPPORTED_REGIONS:
        return
    raise RegionDesconocida(
        f"region={region!r} no es una región que phonenumbers conozca: usa un código ISO "
        "3166-1 de dos letras como 'MX', 'CO' o 'AR' (o None para DEFAULT_REGION)."
    )


def exigir_momento(valor: Any, parametro: str) -> None:
    """Accept None or a datetime Django can store and compare: aware under ``USE_TZ``.

    Raises:
        FechaInvalida: text, a date, a number or any other object (a ``TypeError``), or a
            naive datetime under ``USE_TZ`` / an aware one without it (a ``ValueError``).
            Comparing it with ``timezone.now()`` would fail later, or store another hour.
    """
    if valor is None:
        return
    if not isinstance(valor, datetime):
        raise FechaInvalida(
            f"{parametro} debe ser un datetime con zona horaria, no {type(valor).__name__}: "
            "usa timezone.make_aware(datetime(...)) o timezone.now() + timedelta(...)."
        )
    if settings.USE_TZ and timezone.is_naive(valor):
        raise FechaInvalida(
            f"{parametro} es un datetime sin zona horaria y USE_TZ está activo: usa "
            "timezone.make_aware(valor) (la zona de TIME_ZONE) o timezone.now() + timedelta(...)."
        )
    if not settings.USE_TZ and timezone.is_aware(valor):
        raise FechaInvalida(
            f"{parametro} tiene zona horaria y USE_TZ = False: usa timezone.make_naive(valor)."
        )


# parameter -> (column, the fix named in the error)
_ARREGLOS = {
    "tipo": ("tipo", "usa un slug corto, como 'vehiculo_listo'."),
    "clave": ("clave", "usa una clave más corta o su hash, hashlib.sha256(...).hexdigest()."),
    "nombre_documento": ("nombre_documento", "acorta el nombre del archivo que verá el cliente."),
    "referencia": ("object_id", "la referencia necesita una clave primaria más corta."),
}


def exigir_largos(
    contenido: Plantilla | Documento | Texto,
    *,
    tipo: str = "",
    clave: str | None = None,
    referencia: models.Model | None = None,
) -> None:
    """Refuse, before anything is written, a value longer than its ``EnvioWhatsApp`` column.

    One rule on every database (SQLite would store it whole, PostgreSQL refuse the row).

    Raises:
        ValorDemasiadoLargo: naming the parameter, its limit and the fix.
    """
    # A Plantilla's name and language already passed Meta's own, stricter rules
    # (messages.exigir_nombre_plantilla: 512 characters; exigir_idioma: a short code), which
    # fit their columns (tests/test_outbox.py pins that): only the rest is checked here.
    valores = {"tipo": tipo, "clave": clave}
    if (documento := archivo_de(contenido)) is not None:
        valores["nombre_documento"] = documento.nombre
    if referencia is not None:
        valores["referencia"] = str(referencia.pk)
    for parametro, valor in valores.items():
        campo, arreglo = _ARREGLOS[parametro]
        exigir_largo(EnvioWhatsApp, campo, valor, parametro, arreglo)


def revisar_destinatario(
    telefono: Any,
    clase: str,
    region: str | None = None,
    *,
    cuenta: str | None = None,
    categoria: str = Categoria.UTILITY,
    consentimientos: Mapping[tuple[str, str], str | None] | None = None,
    respuesta: bool = False,
) -> tuple[str, MotivoOmision | None]:
    """Normalise ``telefono`` and say why a send of ``clase`` to it cannot go now.

    Returns the E.164 digits (empty when invalid) and the :class:`MotivoOmision`, or None
    when it can go. Checked in order: phone, ``ENABLED``, consent for ``categoria`` (see
    :func:`motivo_de_consentimiento`; ``consentimientos``, read for a whole batch by
    :func:`..consent.estados_consentimiento`, spares its query), and for free-form
    messages the 24-hour window (with ``cuenta``, the window with that business number).

    ``respuesta``: the envío answers the customer's own message (``responde_a``): the
    customer wrote first, so no consent record is needed; an opt-out still stops it. An
    agent's number (``AGENTS``) is the business's own staff: no consent record is asked for
    either, and an opt-out still stops it.
    """
    digitos, motivo = _revisar_telefono(telefono, region)
    if motivo:
        return digitos, motivo
    requerido = consentimiento_requerido(digitos, respuesta=respuesta)
    if consentimientos is not None and (digitos, categoria) in consentimientos:
        motivo = _motivo_por_estado(consentimientos[digitos, categoria], requerido)
    else:
        motivo = motivo_de_consentimiento(digitos, categoria, requerido, cuenta=cuenta)
    if motivo:
        return digitos, motivo
    if clase != ClaseEnvio.PLANTILLA and not ventana_abierta(digitos, cuenta=cuenta):
        return digitos, MotivoOmision.FUERA_DE_VENTANA
    return digitos, None


def _revisar_telefono(telefono: Any, region: str | None) -> tuple[str, MotivoOmision | None]:
    """The first checks of :func:`revisar_destinatario`: the phone, then ``ENABLED``."""
    try:
        digitos = normalizar(telefono, region)
    except TelefonoInvalido:
        vacio = not str(telefono or "").strip()
        return "", MotivoOmision.SIN_TELEFONO if vacio else MotivoOmision.TELEFONO_INVALIDO
    if not get_settings().ENABLED:
        return digitos, MotivoOmision.DESHABILITADO
    return digitos, None


def consentimiento_requerido(digitos: str, *, respuesta: bool = False) -> bool:
    """Whether a send to ``digitos`` needs a recorded consent (``REQUIRE_CONSENT``).

    Not for an answer to the customer's own message (``respuesta``) nor for staff
    (``AGENTS``); an explicit opt-out stops those too (:func:`motivo_de_consentimiento`).
    """
    return get_settings().REQUIRE_CONSENT and not respuesta and agente_por_telefono(digitos) is None


def motivo_de_consentimiento(
    digitos: str, categoria: str, requerido: bool, *, cuenta: str | None = None
) -> MotivoOmision | None:
    """Why consent keeps a send of ``categoria`` to ``digitos`` from going, or None.

    An explicit opt-out of that category is ``baja`` whatever ``REQUIRE_CONSENT``
    (``requerido``) says; no consent recorded is ``sin_consentimiento`` only when required.
    With ``cuenta``, that account's decisions count beside every account's. One query.
    """
    return _motivo_por_estado(estado_consentimiento(digitos, categoria, cuenta=cuenta), requerido)


def _motivo_por_estado(estado: str | None, requerido: bool) -> MotivoOmision | None:
    if estado == EstadoConsentimiento.REVOCADO:
        return MotivoOmision.BAJA
    if estado is None and requerido:
        return MotivoOmision.SIN_CONSENTIMIENTO
    return None


def _reconsiderar(envio: EnvioWhatsApp, destinatario: Destinatario, region) -> EnvioWhatsApp:
    """Give an envío omitido for a recipient reason a second chance under its clave."""
    if envio.estado != EstadoEnvio.OMITIDO or envio.motivo == MotivoOmision.ERROR_DISPARADOR:
        return envio
    from .actions import reenviar

    try:
        telefono = normalizar(destinatario.telefono, region)
    except TelefonoInvalido:
        telefono = ""
    EnvioWhatsApp.objects.filter(pk=envio.pk, estado=EstadoEnvio.OMITIDO).update(
        telefono=telefono,
        telefono_original=recortar(EnvioWhatsApp, "telefono_original", destinatario.telefono),
        nombre=recortar(EnvioWhatsApp, "nombre", destinatario.nombre or envio.nombre),
    )
    envio.refresh_from_db()
    reenviar([envio])
    envio.refresh_from_db()
    return envio


def ventana_abierta(
    telefono: str, ahora: datetime | None = None, *, cuenta: str | None = None
) -> bool:
    """True when the customer wrote to us in the last 24 hours (free-form messages allowed).

    The window is per business number: with ``cuenta``, only messages to that account count.
    """
    if (ventana := ventana_de(cuenta)) is None:
        return True  # the account's provider has no service window (WHAPI)
    desde = (ahora or timezone.now()) - ventana
    formas = variantes(telefono)
    mensajes = Mensaje.objects.filter(direccion=Direccion.ENTRANTE, fecha__gte=desde)
    if cuenta is not None:
        mensajes = mensajes.filter(cuenta=cuenta)
    return mensajes.filter(Q(telefono__in=formas) | Q(wa_id__in=formas)).exists()


def ventana_de(cuenta: str | None) -> timedelta | None:
    """The free-form window of ``cuenta``'s provider (None: it has none); 24 h if unknown."""
    if cuenta is None:
        return VENTANA_SERVICIO
    try:
        return backends[cuenta].ventana
    except ImproperlyConfigured:
        return VENTANA_SERVICIO  # the safe side; the send reports the account's problem


def archivo_de(contenido) -> Documento | None:
    """The file an envío of ``contenido`` stores: the document or image itself, a template's
    header, a reply-buttons message's media header; None for the rest."""
    if isinstance(contenido, Plantilla):
        return contenido.documento
    if isinstance(contenido, Botones):
        return contenido.adjunto
    return contenido if isinstance(contenido, Documento) else None


def _guardar(
    envio: EnvioWhatsApp,
    contenido,
    *,
    protegido: bool = False,
    consentimiento: _ConsentimientoPorLeer | None = None,
) -> EnvioWhatsApp:
    """INSERT the envío (or find the one its clave already names) and publish its task when
    the caller's transaction commits.

    One statement that a taken clave does not fail (``insertar_nuevo``), in a savepoint
    unless the caller holds one (``protegido``): a value the database still refuses leaves
    the caller's transaction usable. A concurrent caller that recorded the clave first gives
    its envío back. ``consentimiento`` is read by the INSERT itself, when the envío and the
    consent live in the same database (a router may part them: then it is read first).
    """
    lectura = None
    if consentimiento is not None:
        alias = router.db_for_write(EnvioWhatsApp, instance=envio)
        if router.db_for_read(ConsentimientoCliente) == alias:
            lectura = consentimiento.lectura(alias)
        else:
            consentimiento.leer_aparte(envio)
    if (documento := archivo_de(contenido)) is not None:
        # Written before the INSERT (the worker reads it after commit), and no rollback
        # undoes a file: a rolled-back caller or a lost clave race leaves at most this one,
        # which the next send of the same bytes reuses. Deleting files no envío points at
        # belongs to the retention purge.
        envio.documento = almacenar_documento(documento, envio.documento.storage)
    if envio.estado == EstadoEnvio.PENDIENTE:
        # Its task is published on commit: stamped now, so that nothing writes to the row
        # on the ERP's connection after its COMMIT (Beat re-dispatches from this time).
        envio.despachado_en = timezone.now()
    if protegido:
        insertado = EnvioWhatsApp.objects.insertar_nuevo(envio, lectura=lectura)
    else:
        with transaction.atomic():
            insertado = EnvioWhatsApp.objects.insertar_nuevo(envio, lectura=lectura)
    if not insertado:
        # Another request recorded the same clave first: that envío is the one (read where it
        # was written: a replica may not have it yet).
        return EnvioWhatsApp.objects.db_manager(envio._state.db).por_clave(envio.clave)
    setattr(envio, _REGISTRADO_AHORA, True)
    _log_registro(envio)
    metrics.contar_registro(envio)
    if envio.estado == EstadoEnvio.PENDIENTE:
        from ..tasks import al_confirmar, publicar_envio

        al_confirmar(publicar_envio, envio.pk)
    return envio


_REGISTRADO_AHORA = "_whatsapp_notify_registrado_ahora"


def registrado_ahora(envio: EnvioWhatsApp) -> bool:
    """True when ``envio`` was recorded by the ``enviar_*`` call that returned it.

    False when that call found it by its ``clave`` instead: recorded before, or by a
    concurrent caller that won the clave. What an API answers 201 or 200 by.
    """
    return getattr(envio, _REGISTRADO_AHORA, False)


def ruta_documento(documento: Documento) -> str:
    """Storage name of ``documento``: ``whatsapp_notify/documentos/<sha[:2]>/<sha><.ext>``.

    Derived from the bytes only (plus the extension, for whoever downloads it), so equal
    bytes share one file; the name the recipient sees stays ``nombre_documento``.
    """
    sha = documento.sha256
    return f"{CARPETA_DOCUMENTOS}/{sha[:2]}/{sha}{_extension(documento.nombre)}"


def _extension(nombre: str) -> str:
    # The ERP's name is not trusted as a path ("../f.pdf", "facturas/f.pdf"): only a
    # short alphanumeric extension is kept.
    sufijo = Path(nombre).suffix.lower()
    return sufijo if _EXTENSION_RE.fullmatch(sufijo) else ""


def _tocar(storage: Storage, nombre: str) -> None:
    # A reused file is "written now": the retention purge only deletes files older than its
    # cut-off, so an envío being recorded with an old file keeps it. Storages without local
    # paths cannot be touched; there the purge only removes files of envíos it deletes.
    with contextlib.suppress(NotImplementedError, OSError):
        os.utime(storage.path(nombre))


def almacenar_documento(documento: Documento, storage: Storage) -> str:
    """Write ``documento`` to ``storage`` unless it is already there; return its name."""
    nombre = ruta_documento(documento)
    if storage.exists(nombre):
        if storage.size(nombre) == len(documento.contenido):
            _tocar(storage, nombre)
            return nombre
        storage.delete(nombre)  # cut short by a crash mid-write: write it again
    guardado = storage.save(nombre, ContentFile(bytes(documento.contenido)))
    if guardado != nombre:
        # Another process stored the same bytes in between and the storage picked a new
        # name for ours: theirs is identical, keep one.
        storage.delete(guardado)
    return nombre


def _log_registro(envio: EnvioWhatsApp) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return  # inside the ERP's save: not even the masked phone is computed for nothing
    logger.info(
        "Envío %s registrado (%s %s → %s): %s%s",
        envio.pk,
        envio.clase,
        envio.plantilla or envio.nombre_documento,
        mask(envio.telefono),
        envio.estado,
        f" ({envio.motivo})" if envio.motivo else "",
    )


def _adjunto(
    imagen: Archivo | None,
    video: Archivo | None,
    documento: Archivo | None,
    nombre_documento: str | None,
) -> Documento | None:
    """The one media header among ``imagen``, ``video`` and ``documento`` (None if none).

    Raises:
        MessageError: more than one given, or a file WhatsApp would not take as its kind.
    """
    dados = [
        (archivo, clase)
        for archivo, clase in ((documento, Documento), (imagen, Imagen), (video, Video))
        if archivo is not None
    ]
    if len(dados) > 1:
        raise MessageError("Un mensaje lleva un solo encabezado: documento=, imagen= o video=.")
    if not dados:
        return None
    archivo, clase = dados[0]
    return _documento(archivo, nombre_documento, clase=clase)


def _nombre_por_contenido(contenido: bytes | bytearray, clase: type[Documento]) -> str:
    """A file name for bare image or video bytes, from their first bytes (its extension
    gives the MIME type); "" for a document, whose name the caller must give."""
    if clase is Imagen:
        if contenido.startswith(b"\x89PNG"):
            return "encabezado.png"
        return "encabezado.jpg" if contenido.startswith(b"\xff\xd8\xff") else "encabezado"
    if clase is Video and contenido[4:8] == b"ftyp":
        return "encabezado.3gp" if contenido[8:11] == b"3gp" else "encabezado.mp4"
    if clase is Video:
        return "encabezado"
    return ""


def _documento(
    archivo: Archivo, nombre: str | None, caption: str = "", *, clase: type[Documento] = Documento
) -> Documento:
    if isinstance(archivo, Path):
        return clase(archivo.read_bytes(), nombre or archivo.name, caption=caption)
    if isinstance(archivo, bytes | bytearray):
        return clase(
            bytes(archivo), nombre or _nombre_por_contenido(archivo, clase), caption=caption
        )
    if hasattr(archivo, "read"):
        if hasattr(archivo, "seek"):
            archivo.seek(0)
        contenido = archivo.read()
        nombre = nombre or Path(getattr(archivo, "name", "") or "").name
        if not nombre and isinstance(contenido, bytes | bytearray):
            nombre = _nombre_por_contenido(contenido, clase)
        return clase(contenido, nombre, caption=caption)
    raise MessageError(
        f"El documento debe ser bytes, un archivo abierto en binario o un Path, "
        f"no {type(archivo).__name__}."
    )
