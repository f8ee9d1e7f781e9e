"""Running the outbox in production: retention purge, failure-rate alert, per-tenant policy.

Beat runs the purge (``whatsapp_notify.purgar``, daily) and the alert
(``whatsapp_notify.alerta_fallos``, every five minutes); see ``schedule.BEAT_SCHEDULE``. The
policy is asked by the outbox when an envío is recorded and again by the worker right
before it is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from functools import cache
from itertools import islice
from typing import NamedTuple

from django.core.cache import cache as django_cache
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import Storage
from django.db import models
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from ..backends import backends
from ..conf import SETTING_NAME, get_settings
from ..models import EnvioWhatsApp, EstadoEnvio, EventoWebhook, Mensaje
from ..states import ACEPTADOS, TERMINALES
from .admin_mail import avisar_admins

logger = logging.getLogger(__name__)

Politica = Callable[[EnvioWhatsApp], str | None]

# Rows per DELETE and names per reference query: short statements, no long table locks.
LOTE = 500
CODIGOS_EN_ALERTA = 5
CLAVE_ALERTA = "whatsapp_notify:alerta_fallos"


# -- retention purge ---------------------------------------------------------------------


class Purga(NamedTuple):
    """What :func:`purgar` deleted: rows of each model, and files from the storage."""

    envios: int
    eventos: int
    mensajes: int
    archivos: int


def purgar(ahora: datetime | None = None) -> Purga:
    """Delete what is older than ``RETENTION_DAYS``; return how much of each.

    - envíos in a terminal estado (enviado, entregado, leido, fallido, omitido, cancelado)
      not updated since the cut-off (``actualizado_en``); programado, pendiente, enviando
      and incierto envíos are never purged, however old;
    - webhook bodies received before the cut-off and processed (an unprocessed one is
      kept for the operator to look at);
    - messages dated before the cut-off, and the media files downloaded for them;
    - document files no remaining envío references: those of the purged envíos, and any
      other file under ``whatsapp_notify/documentos/`` written before the cut-off (left by
      a rolled-back caller). Documents are stored by content, so a file another envío
      still uses is kept.
    """
    corte = (ahora or timezone.now()) - timedelta(days=get_settings().RETENTION_DAYS)
    mensajes, recibidos = _borrar_en_lotes(Mensaje.objects.filter(fecha__lt=corte), "archivo")
    viejos = EnvioWhatsApp.objects.filter(estado__in=TERMINALES, actualizado_en__lt=corte)
    envios, documentos = _borrar_en_lotes(viejos, "documento")
    eventos, _archivos = _borrar_en_lotes(
        EventoWebhook.objects.filter(procesado_en__isnull=False, recibido_en__lt=corte)
    )
    archivos = _borrar_sin_referencia(Mensaje, "archivo", recibidos)
    # Only files not written (nor reused, see outbox.almacenar_documento) since the cut-off:
    # an envío being recorded right now with the same bytes is not committed yet.
    storage = EnvioWhatsApp._meta.get_field("documento").storage
    documentos = {nombre for nombre in documentos if _escrito_antes(storage, nombre, corte)}
    archivos += _borrar_sin_referencia(EnvioWhatsApp, "documento", documentos)
    archivos += _borrar_sin_referencia(EnvioWhatsApp, "documento", _documentos_viejos(corte))
    purga = Purga(envios, eventos, mensajes, archivos)
    logger.info("Purga de WhatsApp anterior a %s: %s", corte.date().isoformat(), purga)
    return purga


def _borrar_en_lotes(viejos: models.QuerySet, campo: str = "") -> tuple[int, set[str]]:
    """Delete ``viejos`` :data:`LOTE` rows at a time; return how many and their ``campo`` files."""
    borrados, archivos = 0, set()
    while ids := list(viejos.order_by("pk").values_list("pk", flat=True)[:LOTE]):
        # The filter is applied again: a row changed since it was read is left alone.
        lote = viejos.filter(pk__in=ids)
        if campo:
            archivos.update(lote.exclude(**{campo: ""}).values_list(campo, flat=True))
        borrados += lote.delete()[1].get(viejos.model._meta.label, 0)
    return borrados, archivos


def _borrar_sin_referencia(modelo: type[models.Model], campo: str, nombres: Iterable[str]) -> int:
    """Delete the files in ``nombres`` no row of ``modelo`` points at in ``campo``."""
    storage, filas = modelo._meta.get_field(campo).storage, modelo._default_manager
    borrados = 0
    for lote in _lotes(nombres):
        usados = set(filas.filter(**{f"{campo}__in": lote}).values_list(campo, flat=True))
        for nombre in sorted(set(lote) - usados):
            if storage.exists(nombre):
                storage.delete(nombre)
                borrados += 1
    return borrados


def _documentos_viejos(corte: datetime) -> Iterator[str]:
    from .outbox import CARPETA_DOCUMENTOS

    storage = EnvioWhatsApp._meta.get_field("documento").storage
    return _archivos_anteriores(storage, CARPETA_DOCUMENTOS, corte)


def _archivos_anteriores(storage: Storage, carpeta: str, corte: datetime) -> Iterator[str]:
    """Names of the files under ``carpeta`` written before ``corte``.

    A storage that cannot list folders or tell modification times yields nothing: only
    the files of purged envíos are deleted then.
    """
    try:
        subcarpetas, archivos = storage.listdir(carpeta)
    except (FileNotFoundError, NotImplementedError):
        return
    for nombre in archivos:
        if _escrito_antes(storage, f"{carpeta}/{nombre}", corte):
            yield f"{carpeta}/{nombre}"
    for subcarpeta in subcarpetas:
        yield from _archivos_anteriores(storage, f"{carpeta}/{subcarpeta}", corte)


def _escrito_antes(storage: Storage, nombre: str, corte: datetime) -> bool:
    try:
        return storage.get_modified_time(nombre) < corte
    except (NotImplementedError, OSError):
        return False


def _lotes(nombres: Iterable[str]) -> Iterator[list[str]]:
    iterador = iter(nombres)
    while lote := list(islice(iterador, LOTE)):
        yield lote


# -- failure-rate alert ------------------------------------------------------------------


class Fallos(NamedTuple):
    """Envíos that finished in a window and the most frequent error codes of the failed ones.

    ``codigos`` holds ``(error_codigo, cuántos)`` pairs, most frequent first; the code is
    None for failures without one (a network error, a bug).
    """

    terminados: int
    fallidos: int
    codigos: list[tuple[int | None, int]]
    #: Of the sent ones, those a status proved reached the customer twice.
    duplicados: int = 0
    #: Attempts the finished envíos took, summed (their mean is ``intentos / terminados``).
    intentos: int = 0

    @property
    def proporcion(self) -> float:
        return self.fallidos / self.terminados if self.terminados else 0.0


def medir_fallos(desde: datetime, hasta: datetime, *, cuenta: str | None = None) -> Fallos:
    """Count the envíos that finished in ``(desde, hasta]``: sent, or failed, then.

    An envío is counted when it was sent (``enviado_en``) and is enviado, entregado or
    leido, or when it failed (``fallido_en``) and is fallido; omitido, cancelado and
    envíos still in progress are not counted. With ``cuenta``, only that account's.
    """
    envios = (
        EnvioWhatsApp.objects.all()
        if cuenta is None
        else EnvioWhatsApp.objects.filter(cuenta=cuenta)
    )
    fallidos = envios.filter(
        estado=EstadoEnvio.FALLIDO, fallido_en__gt=desde, fallido_en__lte=hasta
    )
    exitosos = envios.filter(estado__in=ACEPTADOS, enviado_en__gt=desde, enviado_en__lte=hasta)
    codigos = (
        fallidos.values_list("error_codigo")
        .annotate(cuantos=Count("pk"))
        .order_by("-cuantos", "error_codigo")[:CODIGOS_EN_ALERTA]
    )
    # One aggregate per branch, each answered from its own index (migration 0021).
    de_fallidos = fallidos.aggregate(n=Count("pk"), intentos=Coalesce(Sum("intentos"), 0))
    de_exitosos = exitosos.aggregate(
        n=Count("pk"),
        duplicados=Count("pk", filter=Q(duplicado=True)),
        intentos=Coalesce(Sum("intentos"), 0),
    )
    return Fallos(
        de_fallidos["n"] + de_exitosos["n"],
        de_fallidos["n"],
        list(codigos),
        de_exitosos["duplicados"],
        de_fallidos["intentos"] + de_exitosos["intentos"],
    )


def alertar_fallos(ahora: datetime | None = None) -> bool:
    """E-mail ``ADMINS`` for each account where too many envíos failed in ``FAILURE_WINDOW``.

    Accounts are measured apart: a Twilio account failing is not diluted by a healthy Meta
    one, and its e-mail names it. An account's alert goes when at least
    ``FAILURE_MIN_SENDS`` of its envíos finished in the window and the fallido share reached
    ``FAILURE_THRESHOLD``; it lists the top error codes. At most one e-mail per account per
    ``FAILURE_WINDOW`` seconds: the last alert is remembered in Django's default cache
    (``CACHES["default"]``), which must be shared by the worker processes (Redis, Memcached,
    database) for that to hold across them. Returns True when some alert was sent.
    """
    ahora = ahora or timezone.now()
    ventana = get_settings().seconds("FAILURE_WINDOW")
    cuentas = _cuentas_con_envios(ahora - ventana, ahora)
    return sum(_alertar_cuenta(cuenta, ahora, ventana) for cuenta in cuentas) > 0


def _cuentas_con_envios(desde: datetime, hasta: datetime) -> list[str]:
    terminados = Q(fallido_en__gt=desde, fallido_en__lte=hasta) | Q(
        enviado_en__gt=desde, enviado_en__lte=hasta
    )
    cuentas = EnvioWhatsApp.objects.filter(terminados).values_list("cuenta", flat=True)
    return sorted(set(cuentas))


def _alertar_cuenta(cuenta: str, ahora: datetime, ventana: timedelta) -> bool:
    settings = get_settings()
    fallos = medir_fallos(ahora - ventana, ahora, cuenta=cuenta)
    if fallos.terminados < settings.FAILURE_MIN_SENDS:
        return False
    if fallos.proporcion < settings.FAILURE_THRESHOLD:
        return False
    if not _primera_alerta(ahora, ventana, cuenta):
        return False
    _enviar_alerta(fallos, ventana, cuenta)
    return True


def _primera_alerta(ahora: datetime, ventana: timedelta, cuenta: str) -> bool:
    """Claim ``cuenta``'s alert of the window ending at ``ahora``; False when one went out."""
    marca, segundos = ahora.timestamp(), ventana.total_seconds()
    clave = f"{CLAVE_ALERTA}:{cuenta}"
    try:
        # add() is atomic: of two runs at the same time, one wins. The key expires with
        # the window; the stored time also serves callers that pass their own ``ahora``.
        if django_cache.add(clave, marca, timeout=segundos):
            return True
        ultima = django_cache.get(clave)
        if ultima is not None and marca - ultima < segundos:
            return False
        django_cache.set(clave, marca, timeout=segundos)
    except Exception as exc:  # a cache outage must not silence the alert
        logger.warning("Caché no disponible para la alerta de fallos (%s); se envía", exc)
    return True


def _enviar_alerta(fallos: Fallos, ventana: timedelta, cuenta: str) -> None:
    minutos = f"{ventana.total_seconds() / 60:g}"
    logger.error(
        "WhatsApp (cuenta %s): %s de %s envíos fallidos en %s minutos (%s)",
        cuenta,
        fallos.fallidos,
        fallos.terminados,
        minutos,
        ", ".join(f"{_codigo(codigo)}×{cuantos}" for codigo, cuantos in fallos.codigos),
    )
    asunto = _(
        "WhatsApp (cuenta %(cuenta)s): %(proporcion)s de los envíos fallaron en %(minutos)s minutos"
    )
    avisar_admins(
        asunto % {"cuenta": cuenta, "proporcion": f"{fallos.proporcion:.0%}", "minutos": minutos},
        _texto_alerta(fallos, minutos, cuenta),
    )


def _texto_alerta(fallos: Fallos, minutos: str, cuenta: str) -> str:
    umbral = get_settings().FAILURE_THRESHOLD
    sin_codigo = _("sin código del proveedor")
    codigos = "\n".join(
        f"  {_codigo_legible(codigo)}: {cuantos} — "
        f"{backends.describe_error(cuenta, codigo) or sin_codigo}"
        for codigo, cuantos in fallos.codigos
    )
    cifras = {
        "minutos": minutos,
        "terminados": fallos.terminados,
        "cuenta": repr(cuenta),
        "fallidos": fallos.fallidos,
        "proporcion": f"{fallos.proporcion:.0%}",
        "umbral": f"{umbral:.0%}",
    }
    resumen = _(
        "En los últimos %(minutos)s minutos terminaron %(terminados)s envíos de WhatsApp de la "
        "cuenta %(cuenta)s y %(fallidos)s fallaron (%(proporcion)s; el umbral es %(umbral)s)."
    )
    cierre = _(
        "Los envíos fallidos están en el admin (Envíos de WhatsApp, estado «Fallido»), con el "
        "detalle de cada error; desde allí se pueden reenviar. No se enviará otra alerta de "
        "esta cuenta en los próximos %(minutos)s minutos."
    )
    titulo = _("Códigos de error más frecuentes:")
    duplicados = _texto_duplicados(fallos.duplicados)
    return (
        f"{resumen % cifras}\n\n{titulo}\n{codigos}\n\n{duplicados}{cierre % {'minutos': minutos}}"
    )


def _texto_duplicados(duplicados: int) -> str:
    if not duplicados:
        return ""
    texto = _(
        "Envíos que llegaron dos veces al cliente (duplicados): %(n)s; están en el admin con el "
        "filtro «Duplicado»."
    )
    return texto % {"n": duplicados} + "\n\n"


def _codigo(codigo: int | None) -> str:
    return f"#{codigo}" if codigo is not None else "sin código"


def _codigo_legible(codigo: int | None) -> str:
    """The code as the alert e-mail shows it, in the active language."""
    return f"#{codigo}" if codigo is not None else _("sin código")


# -- per-tenant policy -------------------------------------------------------------------


def politica(envio: EnvioWhatsApp) -> str | None:
    """Ask the host's ``POLICY`` whether ``envio`` may go out: None if it may, else why not.

    The callable gets the envío with its ``referencia``, ``tipo``, ``cuenta``,
    ``plantilla`` and ``telefono`` set, so an ERP can decide per organisation and per
    tipo. The outbox asks when it records the envío (not saved yet: no pk) and the worker
    asks again right before sending; a refusal makes the envío ``omitido`` with motivo
    ``politica`` and the returned text in ``error_detalle``. An exception raised by the
    callable propagates: to the caller of ``enviar_*``, or to the worker, which leaves the
    envío ``pendiente`` for Beat to try again.

    Raises:
        ImproperlyConfigured: ``POLICY`` does not import or does not name a callable.
        TypeError: the callable returned something other than None or a non-empty text.
    """
    decidir = cargar_politica(get_settings().POLICY)
    if decidir is None:
        return None
    if envio.pk and envio.get_deferred_fields():
        envio = EnvioWhatsApp.objects.get(pk=envio.pk)  # the worker loads only a few fields
    respuesta = decidir(envio)
    if respuesta is None:
        return None
    if isinstance(respuesta, str) and respuesta.strip():
        return str(respuesta)
    raise TypeError(
        f"{SETTING_NAME}['POLICY'] devolvió {respuesta!r}: debe devolver None (el envío "
        "puede salir) o un texto con el motivo por el que no puede salir."
    )


def cargar_politica(ruta: object) -> Politica | None:
    """The callable ``ruta`` names (None when ``ruta`` is None or empty).

    Raises:
        ImproperlyConfigured: ``ruta`` is not a dotted path to an importable callable.
    """
    if ruta in (None, ""):
        return None
    if not isinstance(ruta, str):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['POLICY'] debe ser la ruta con puntos de una función, como "
            f"'miapp.whatsapp.politica', no {type(ruta).__name__}."
        )
    return _importar_politica(ruta)


@cache
def _importar_politica(ruta: str) -> Politica:
    try:
        decidir = import_string(ruta)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['POLICY'] = {ruta!r} no se puede importar: {exc}"
        ) from exc
    if not callable(decidir):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['POLICY'] = {ruta!r} no es invocable: debe ser una función "
            "politica(envio) que devuelva None o el motivo por el que el envío no puede salir."
        )
    return decidir
