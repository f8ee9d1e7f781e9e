"""The worker side: claim an envío, respect the rate limit, call the backend, record.

No Celery here: ``tasks.py`` wraps these functions. Every state change is a conditional
UPDATE on the row, so two workers on the same envío never both send it, and a late
worker never overwrites what a status webhook already settled.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext

from .. import error_text, signals
from ..backends import backends
from ..conf import SETTING_NAME, get_settings
from ..consent import estados_consentimiento
from ..duplicates import registrar_duplicado
from ..exceptions import (
    AmbiguousError,
    AuthError,
    MessageError,
    PairRateLimitError,
    PermanentError,
    ProviderError,
    ThroughputLimitError,
    TransientError,
    describe_error,
)
from ..inbound.conversations import registrar_salientes
from ..limits import entero_a_la_medida, id_a_la_medida, recortar
from ..messages import (
    Botones,
    Documento,
    Imagen,
    Plantilla,
    Reaccion,
    Salida,
    Texto,
    Ubicacion,
    botones_de_datos,
    clase_de_media,
    encabezado_de,
    interactivo_de_datos,
)
from ..models import (
    ClaseEnvio,
    EnvioWhatsApp,
    EstadoCuenta,
    EstadoEnvio,
    MediaSubido,
    MotivoOmision,
)
from ..models import Plantilla as CatalogoPlantilla
from ..phones import mask
from ..references import referencia_de
from ..states import EN_ESPERA
from ..templates import buscar as buscar_plantilla
from ..templates import cuerpo_de
from . import ratelimit
from .admin_mail import avisar_admins
from .concurrencia import Alto, Espera, Interrumpido, Trabajo, ejecutar
from .maintenance import politica
from .outbox import revisar_destinatario, vencido
from .ratelimit import Turno, limiter, por_segundo
from .reconciliation import (
    avisar_retenidos,
    hora_de_la_base,
    liberar_inciertos,
)

logger = logging.getLogger(__name__)

# Uploaded media ids live 30 days at Meta; stop reusing them a little earlier.
MEDIA_VIGENCIA = timedelta(days=28)
# Waiting for a rate-limit token longer than this gives the batch's envíos left back.
ESPERA_MAXIMA = 1.0
# A provider's "too fast" (130429) holds the account's sends, every worker's, this long.
FRENO = 2.0
# A paused account e-mails the admins at most once per this period.
ALERTA_CADA = timedelta(hours=24)


class Resultado(StrEnum):
    """What one delivery attempt did."""

    ENVIADO = "enviado"
    REINTENTO = "reintento"
    INCIERTO = "incierto"
    FALLIDO = "fallido"
    PAUSADA = "pausada"
    OMITIDO = "omitido"
    IGNORADO = "ignorado"


@dataclass(frozen=True)
class Intento:
    resultado: Resultado
    proximo_intento: datetime | None = None


class DbMediaCache:
    """Uploaded media ids by content hash, per account, stored in ``MediaSubido``."""

    def __init__(self, cuenta: str):
        self.cuenta = cuenta

    def get(self, sha256: str) -> str | None:
        fila = MediaSubido.objects.filter(
            cuenta=self.cuenta, sha256=sha256, expira_en__gt=timezone.now()
        ).first()
        return fila.media_id if fila else None

    def put(self, sha256: str, media_id: str) -> None:
        ahora = timezone.now()
        MediaSubido.objects.update_or_create(
            cuenta=self.cuenta,
            sha256=sha256,
            defaults={
                "media_id": media_id,
                "subido_en": ahora,
                "expira_en": ahora + MEDIA_VIGENCIA,
            },
        )


def entregar(envio_id: int) -> Intento:
    """Make one delivery attempt of an envío; safe to call twice or concurrently.

    Returns what happened; ``proximo_intento`` says when to try again, if ever.
    """
    lote = entregar_lote(envio_id, limite=1)
    return lote.intentos.get(envio_id, Intento(Resultado.IGNORADO))


@dataclass(frozen=True)
class Lote:
    """What one batch did: each claimed envío's :class:`Intento`, by id.

    ``lleno``: the batch took as many envíos as it could hold, so more may be due.
    ``reanudar_en``: the rate limit stopped the batch; its envíos left are due then.
    """

    cuenta: str | None
    intentos: dict[int, Intento]
    lleno: bool = False
    reanudar_en: datetime | None = None


def entregar_lote(
    envio_id: int | None = None, *, cuenta: str | None = None, limite: int | None = None
) -> Lote:
    """Claim up to ``limite`` due envíos of one account and deliver them concurrently.

    The account is ``envio_id``'s (claimed first, when still due) or ``cuenta``. The
    claim is one statement (``FOR UPDATE SKIP LOCKED`` where the database has it), so
    concurrent workers take disjoint batches; each envío is then checked again as
    :func:`entregar` always did, sent over the account's pooled client with at most
    ``DELIVERY_CONCURRENCY`` requests in flight and one rate-limit token each, in order
    per phone, and its outcome recorded (sent ones in bulk). Safe to call concurrently.
    """
    settings = get_settings()
    simultaneos = _positivo(settings, "DELIVERY_CONCURRENCY")
    limite = _positivo(settings, "DELIVERY_BATCH") if limite is None else limite
    ajeno = None  # the task's envío, taken or settled already: the task helps with the rest
    if envio_id is not None:
        fila = EnvioWhatsApp.objects.filter(pk=envio_id).values_list("cuenta", "estado").first()
        if fila is None or (fila[1] != EstadoEnvio.PENDIENTE and limite <= 1):
            return Lote(fila[0] if fila else None, {envio_id: Intento(Resultado.IGNORADO)})
        cuenta = fila[0]
        if fila[1] != EstadoEnvio.PENDIENTE:
            # Another batch sends it (or it is settled). A campaign's tasks still take what
            # their account has due, so every worker process sends instead of one batch
            # running ahead of the other processes' tasks.
            ajeno, envio_id = envio_id, None
    if cuenta is None:
        raise ValueError("entregar_lote necesita un envío o una cuenta.")
    if cuenta_pausada(cuenta):
        pausado = {envio_id: Intento(Resultado.PAUSADA)} if envio_id is not None else {}
        return Lote(cuenta, pausado)
    intentos: dict[int, Intento] = {}
    entrega = _Entrega(cuenta, intentos)
    tanda = min(limite, entrega.tanda(simultaneos))
    envios = entrega.reclamar(envio_id, tanda)
    if envio_id is not None and not envios and limite > 1:
        ajeno, envio_id = envio_id, None  # another batch holds it right now: as above
        envios = entrega.reclamar(None, tanda)
    if envio_id is not None and all(envio.pk != envio_id for envio in envios):
        intentos[envio_id] = Intento(Resultado.IGNORADO)  # not due, or another worker won
    if ajeno is not None:
        intentos[ajeno] = Intento(Resultado.IGNORADO)

    def preparar(envios: list[EnvioWhatsApp]) -> list[Trabajo]:
        entrega.conocer(envios)
        return [t for envio in envios if (t := entrega.preparar(envio)) is not None]

    agotado = len(envios) < tanda

    def reponer() -> list[Trabajo]:
        # The next envíos are claimed while the last ones are in flight, a few at a time:
        # the pool never drains between two claims, and few are claimed but not sent. A
        # claim that found fewer than it asked for was the last (the task's next batch, if
        # any, sees what became due since).
        nonlocal agotado
        while not agotado and len(entrega.reclamados) < limite:
            pedidos = min(tanda, limite - len(entrega.reclamados))
            envios = entrega.reclamar(None, pedidos)
            agotado = len(envios) < pedidos
            if trabajos := preparar(envios):
                return trabajos
        return []

    try:
        sin_iniciar = ejecutar(
            preparar(envios),
            simultaneos=simultaneos,
            turno=entrega.turno,
            al_terminar=entrega.terminar,
            espera_maxima=ESPERA_MAXIMA,
            tarde=ratelimit.HOLGURA,
            reponer=reponer if limite > 1 and not agotado else None,
            reserva=max(1, tanda // 2),
        )
        entrega.volcar()
    except Exception as exc:  # the database went away mid-batch (or a bug)
        return Lote(cuenta, intentos, reanudar_en=entrega.rescatar(exc))
    reanudar_en = None
    for trabajo, motivo in sin_iniciar:
        envio = trabajo.dato.envio
        if isinstance(motivo, Espera):
            if reanudar_en is None:  # one time for all: the task asks for one batch then
                reanudar_en = timezone.now() + timedelta(seconds=motivo.segundos)
            intentos[envio.pk] = _devolver(envio, reanudar_en, contar=False)
        else:  # the account paused, or this phone must wait (131056): nothing was sent
            intentos[envio.pk] = _devolver(
                envio, motivo.proximo_intento, contar=False, resultado=motivo.resultado
            )
    lleno = len(entrega.reclamados) >= limite > 1
    return Lote(cuenta, intentos, lleno=lleno, reanudar_en=reanudar_en)


def _positivo(settings, nombre: str) -> int:
    """A batch setting, checked before anything is claimed: the system check reports a bad
    value, but a worker starts anyway, and 0 would spin without sending."""
    valor = getattr(settings, nombre)
    if isinstance(valor, bool) or not isinstance(valor, int) or valor < 1:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}[{nombre!r}] = {valor!r} debe ser un entero mayor que 0; "
            "no se envía nada hasta corregirlo (los envíos siguen pendientes)."
        )
    return valor


def reclamar_lote(cuenta: str, primero: int | None, limite: int) -> list[EnvioWhatsApp]:
    """Move up to ``limite`` due envíos of ``cuenta`` (``primero`` among them) to ``enviando``.

    Rows another worker holds are skipped, not waited for; each claimed row is this
    worker's alone. When ``primero`` cannot be claimed, nothing is (the caller decides).
    ``reclamado_en`` is the database's time, as in :func:`reclamar`.
    """
    ahora = timezone.now()
    with transaction.atomic():
        debidos = EnvioWhatsApp.objects.debidos(ahora).select_for_update(skip_locked=True)
        ids = []
        if primero is not None:
            ids = list(debidos.filter(pk=primero).values_list("pk", flat=True))
            if not ids:  # another worker holds it, or it is not due: nothing for this task
                return []
        if limite > len(ids):
            otros = debidos.filter(cuenta=cuenta).exclude(pk__in=ids).order_by("pk")
            ids += otros.values_list("pk", flat=True)[: limite - len(ids)]
        if not ids:
            return []
        # Conditional as well: a database without row locks (SQLite) still has one winner.
        EnvioWhatsApp.objects.debidos(ahora).filter(pk__in=ids).update(
            estado=EstadoEnvio.ENVIANDO,
            reclamado_en=Now(),
            intentos=F("intentos") + 1,
            actualizado_en=ahora,
        )
        # Read inside the claim's transaction: a connection lost here rolls the claim back,
        # rather than leave rows in ``enviando`` that no worker knows it holds. In the
        # order they were queued, ``primero`` included: two envíos to one phone go out in
        # the order they were asked for, whichever of their tasks claimed them.
        return list(
            EnvioWhatsApp.objects.filter(
                pk__in=ids, estado=EstadoEnvio.ENVIANDO, actualizado_en=ahora
            ).order_by("pk")
        )


@dataclass
class _Preparado:
    envio: EnvioWhatsApp
    salida: Salida


@dataclass(frozen=True)
class _Parada:
    """Why envíos of a batch were given back unsent (an :class:`concurrencia.Alto`)."""

    resultado: Resultado
    proximo_intento: datetime | None


class _Entrega:
    """One batch's bookkeeping, in the worker's thread: checks, pacing and recording."""

    def __init__(self, cuenta: str, intentos: dict[int, Intento]):
        self.cuenta = cuenta
        self.intentos = intentos
        self.tasa = _tasa(cuenta)
        self.media = _CacheDeLote(cuenta)
        self.enviados: list[tuple[EnvioWhatsApp, str, str]] = []
        self.consentimientos: dict[tuple[str, str], str | None] = {}
        self._catalogo: dict[tuple[str, str, str], CatalogoPlantilla | None] = {}
        self.reclamados: list[EnvioWhatsApp] = []
        self.iniciados: set[int] = set()  # envíos whose request was started (pool threads)
        self._volcado = time.monotonic()

    def tanda(self, simultaneos: int) -> int:
        """How many to claim at a time: what the account's rate limit lets out in
        :data:`ADELANTO` seconds, at least :data:`POR_TANDA` and at most the requests in
        flight (``simultaneos``) when that is more. Claimed envíos wait for their token:
        at 80/s a claim of 64 would hold some for most of a second."""
        ritmo = por_segundo(self.tasa)
        tope = max(POR_TANDA, simultaneos)
        return tope if not ritmo else max(POR_TANDA, min(tope, int(ritmo * ADELANTO)))

    def reclamar(self, primero: int | None, limite: int) -> list[EnvioWhatsApp]:
        envios = reclamar_lote(self.cuenta, primero, limite)
        self.reclamados += envios
        return envios

    def conocer(self, envios: list[EnvioWhatsApp]) -> None:
        """Read what every envío's check needs in one query per kind (consents)."""
        if len(envios) > 1:
            self.consentimientos = estados_consentimiento(
                {envio.telefono for envio in envios},
                {envio.categoria for envio in envios},
                cuenta=self.cuenta,
            )
        else:
            # One envío reads its own; an earlier claim's reading may predate an opt-out.
            self.consentimientos = {}

    def buscar(self, nombre: str, idioma: str, cuenta: str) -> CatalogoPlantilla | None:
        """The catalog's row of a template, read once per batch."""
        clave = (nombre, idioma, cuenta)
        if clave not in self._catalogo:
            self._catalogo[clave] = buscar_plantilla(nombre, idioma, cuenta)
        return self._catalogo[clave]

    def preparar(self, envio: EnvioWhatsApp) -> Trabajo | None:
        """Check a claimed envío again and build its request; None when it is settled."""
        try:
            intento = self._revisar(envio)
            if intento is None:
                salida = construir_salida(envio, self.buscar)
                backend = backends[envio.cuenta]
        except Exception as exc:
            intento = _por_error(envio, exc)
        if intento is not None:
            self.intentos[envio.pk] = intento
            return None
        self.media.conocer(salida)
        llamada = partial(self._enviar, envio.pk, backend, salida)
        return Trabajo(envio.telefono, llamada, _Preparado(envio, salida))

    def _enviar(self, envio_id: int, backend, salida: Salida):
        # On a pool thread: only the mark (a set's add is atomic) and the HTTP call.
        self.iniciados.add(envio_id)
        return backend.send(salida, media=self.media)

    def _revisar(self, envio: EnvioWhatsApp) -> Intento | None:
        if vencido(envio):  # its moment passed while it waited (Beat down, retries, a pause)
            return _omitir(envio, MotivoOmision.VENCIDO)
        # Checked again now: WhatsApp switched off, consent revoked or the 24-hour window
        # closed since the envío was queued (retries and scheduled sends come days later).
        _telefono, motivo = revisar_destinatario(
            f"+{envio.telefono}",
            envio.clase,
            cuenta=envio.cuenta,
            categoria=envio.categoria,
            consentimientos=self.consentimientos,
            respuesta=bool(envio.responde_a),
        )
        if motivo is not None:
            return _omitir(envio, motivo)
        try:
            negativa = politica(envio)
        except Exception:  # the host's code: the envío waits for Beat, as before its claim
            logger.exception("POLICY falló con el envío %s; Beat lo retomará", envio.pk)
            cuando = timezone.now() + get_settings().seconds("REDISPATCH_AFTER")
            envio.estado = EstadoEnvio.PENDIENTE  # the claim is undone: no change to announce
            return _devolver(envio, cuando, contar=False)
        if negativa is not None:
            return _omitir(envio, MotivoOmision.POLITICA, negativa)
        if _plantilla_retirada(envio, self.buscar):
            return _omitir(envio, MotivoOmision.PLANTILLA_NO_APROBADA)
        return None

    def turno(self) -> Turno:
        # Reserved ahead: the next send's turn is taken while the previous ones go out.
        try:
            return limiter.reservar(f"cuenta:{self.cuenta}", tasa=self.tasa, hasta=ESPERA_MAXIMA)
        except Exception:  # the limiter falls back by itself; a bug here must not stall sends
            logger.exception("Error del límite de envío de la cuenta %r", self.cuenta)
            return Turno(0.0, tomado=True)

    def terminar(self, trabajo: Trabajo, resultado, error: BaseException | None) -> Alto | None:
        envio = trabajo.dato.envio
        self.media.guardar()
        if error is None:
            self.enviados.append((envio, resultado.id, resultado.wa_id))
            if len(self.enviados) >= VOLCAR_CADA or time.monotonic() - self._volcado > VOLCAR_TRAS:
                self.volcar()
            return None
        intento = _por_error(envio, error)
        self.intentos[envio.pk] = intento
        if intento.resultado == Resultado.PAUSADA:
            return Alto(_Parada(Resultado.PAUSADA, None), todos=True)
        if isinstance(error, PairRateLimitError):  # this phone waits; the others go on
            return Alto(_Parada(Resultado.REINTENTO, intento.proximo_intento))
        if isinstance(error, ThroughputLimitError):
            # The account went too fast: it slows down as a whole, and the envíos not sent
            # yet wait for the hold without spending an attempt.
            self.frenar()
            return Alto(Espera(FRENO), todos=True)
        return None

    def frenar(self) -> None:
        try:
            limiter.frenar(f"cuenta:{self.cuenta}", FRENO, tasa=self.tasa)
        except Exception:  # as in turno: never stall the batch on the limiter itself
            logger.exception("Error al frenar el límite de envío de la cuenta %r", self.cuenta)

    def volcar(self) -> None:
        """Record the sent envíos collected so far, in one statement; kept when it fails."""
        self._volcado = time.monotonic()
        enviados = list({envio.pk: (envio, w, a) for envio, w, a in self.enviados}.values())
        if enviados:
            for envio in _marcar_enviados(enviados):
                self.intentos[envio.pk] = Intento(Resultado.ENVIADO)
        self.enviados = []

    def rescatar(self, exc: BaseException) -> datetime:
        """Record what a broken batch did, once the database answers again.

        The calls in flight have finished (:class:`concurrencia.Interrumpido`); their
        outcomes are recorded and every claimed envío whose request never started goes
        back to the queue, due at the time returned, without spending its attempt. Only
        the requests that did start can have reached the customer, and those are recorded.
        When the database stays away, the error is raised again and the claims wait for
        Beat (they become ``incierto`` and the status webhooks settle them).
        """
        causa = exc.__cause__ if isinstance(exc, Interrumpido) and exc.__cause__ else exc
        terminados = list(exc.terminados) if isinstance(exc, Interrumpido) else []
        logger.error("Lote de la cuenta %r interrumpido: %r", self.cuenta, causa, exc_info=causa)
        for vez in range(RESCATE_VECES):
            try:
                conexion = connections[_base()]
                if not conexion.in_atomic_block:  # a broken one is replaced on next use
                    conexion.close_if_unusable_or_obsolete()
                while terminados:
                    self.terminar(*terminados[0])  # an Alto no longer matters: all stopped
                    terminados.pop(0)
                self.volcar()
                cuando = timezone.now() + timedelta(seconds=RESCATE_PAUSA)
                for envio in self.reclamados:
                    if envio.pk not in self.iniciados and envio.pk not in self.intentos:
                        self.intentos[envio.pk] = _devolver(envio, cuando, contar=False)
                return cuando
            except DatabaseError as error:
                logger.warning(
                    "Sin base para registrar el lote (%s/%s): %r", vez + 1, RESCATE_VECES, error
                )
                time.sleep(RESCATE_PAUSA / RESCATE_VECES)
        sin_registrar = [(e.pk, w) for e, w, _a in self.enviados]
        sin_registrar += [(t.dato.envio.pk, getattr(v, "id", None)) for t, v, _e in terminados]
        logger.error(
            "No se pudo registrar el lote de la cuenta %r: quedan en «enviando» hasta que Beat "
            "los retome; (envío, wamid) aceptados sin registrar: %s",
            self.cuenta,
            sin_registrar,
        )
        raise causa


# A batch claims what its rate limit lets out in ADELANTO seconds (at least POR_TANDA,
# at most DELIVERY_CONCURRENCY) and claims more when fewer than half a claim waits to
# start. Besides those in flight, that is all a killed worker leaves uncertain that
# never left: about a quarter second of sending, or one claim without a rate limit.
POR_TANDA = 20
ADELANTO = 0.25
# Sent envíos are recorded in bulk every this many, at least this often (seconds), and
# when the batch ends: a killed worker leaves this little unrecorded.
VOLCAR_CADA = 50
VOLCAR_TRAS = 0.25
# A batch whose database went away tries this many times, over about this many seconds,
# to record what it did; the envíos it gives back are due that long after.
RESCATE_VECES = 3
RESCATE_PAUSA = 5.0


class _CacheDeLote:
    """The account's uploaded media ids for one batch, safe to use from its threads.

    Known ids are read before the batch starts (:meth:`conocer`); ids uploaded meanwhile
    are kept in memory and written by the worker's thread (:meth:`guardar`), so the pool's
    threads never touch the database.
    """

    def __init__(self, cuenta: str):
        self._db = DbMediaCache(cuenta)
        self._ids: dict[str, str | None] = {}
        self._nuevos: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def conocer(self, salida: Salida) -> None:
        documento = getattr(salida.contenido, "documento", None)
        if isinstance(salida.contenido, Documento):
            documento = salida.contenido
        if documento is not None and documento.sha256 not in self._ids:
            self._ids[documento.sha256] = self._db.get(documento.sha256)

    def get(self, sha256: str) -> str | None:
        with self._lock:
            return self._ids.get(sha256)

    def put(self, sha256: str, media_id: str) -> None:
        with self._lock:
            self._ids[sha256] = media_id
            self._nuevos.append((sha256, media_id))

    def guardar(self) -> None:
        with self._lock:
            nuevos, self._nuevos = self._nuevos, []
        for sha256, media_id in nuevos:
            self._db.put(sha256, media_id)


def _plantilla_retirada(envio: EnvioWhatsApp, buscar=buscar_plantilla) -> bool:
    """True when the catalog says the template stopped being sendable since it was queued
    (paused, disabled...): Meta would refuse it (132015, 132016)."""
    if envio.clase != ClaseEnvio.PLANTILLA:
        return False
    fila = buscar(envio.plantilla, envio.idioma, envio.cuenta)
    return fila is not None and not fila.aprobada


def _omitir(envio: EnvioWhatsApp, motivo: MotivoOmision, detalle: str = "") -> Intento:
    """Omit a claimed envío: nothing was sent, so its claim and attempt are undone."""
    campos = {"estado": EstadoEnvio.OMITIDO, "motivo": motivo, "proximo_intento": None}
    if detalle:
        campos["error_detalle"] = detalle
    # A plain value (see _devolver): only the claim changes intentos, and this worker holds it.
    campos.update(intentos=envio.intentos - 1, reclamado_en=None)
    envio.estado = EstadoEnvio.PENDIENTE  # what receivers saw: the claim is undone
    _actualizar(envio, {EstadoEnvio.ENVIANDO}, **campos)
    logger.info("Envío %s omitido al entregarlo: %s", envio.pk, motivo)
    return Intento(Resultado.OMITIDO)


def reclamar(envio_id: int) -> bool:
    """Move a due envío ``pendiente -> enviando``; True only for the one worker that won.

    ``reclamado_en`` is the database's time: Beat compares it with its own reading of that
    clock to decide that a claim is stale and the envío may be sent again, so a worker
    whose host clock runs behind cannot make its in-flight request look abandoned.
    """
    ahora = timezone.now()
    return bool(
        EnvioWhatsApp.objects.debidos(ahora)
        .filter(pk=envio_id)
        .update(
            estado=EstadoEnvio.ENVIANDO,
            # Now() inside the same UPDATE: the database's clock at no extra query (one
            # UPDATE per claim, as before; the worker path is the throughput bottleneck).
            reclamado_en=Now(),
            intentos=F("intentos") + 1,
            actualizado_en=ahora,
        )
    )


def _tasa(cuenta: str) -> str | None:
    """The account's own rate (its backend's advice or option); None: the global one."""
    try:
        return backends[cuenta].rate_limit()
    except ImproperlyConfigured:
        return None  # the send itself reports it (the account pauses)


def _por_error(envio: EnvioWhatsApp, exc: BaseException) -> Intento:
    """Record what an error of a claimed envío's attempt means (errors are classified once,
    by the provider that raised them)."""
    if isinstance(exc, PairRateLimitError):
        # 131056 concerns this recipient only: wait 4^n seconds (Meta's advice), others go on.
        return _reintentar_o_fallar(envio, exc, espera=4.0**envio.intentos)
    if isinstance(exc, AmbiguousError):
        return _incierto(envio, exc)
    if isinstance(exc, TransientError):
        return _reintentar_o_fallar(envio, exc)
    if isinstance(exc, AuthError | ImproperlyConfigured):  # incl. an unknown alias
        pausar_cuenta(envio.cuenta, exc)
        return _devolver(envio, None, exc, contar=False, resultado=Resultado.PAUSADA)
    if isinstance(exc, PermanentError | MessageError):
        return _fallar(envio, exc)
    # A bug must not lose the envío: retry like a transient error.
    logger.error("Error inesperado al enviar el envío %s", envio.pk, exc_info=exc)
    return _reintentar_o_fallar(envio, exc)


def construir_salida(envio: EnvioWhatsApp, buscar=buscar_plantilla) -> Salida:
    """Rebuild the message value object from the row (the row is the truth); ``buscar``
    finds the catalog's row of its template (:func:`..templates.buscar`)."""
    documento = _leer_documento(envio) if envio.documento else None
    if envio.clase == ClaseEnvio.PLANTILLA:
        fila = buscar(envio.plantilla, envio.idioma, envio.cuenta)
        contenido = Plantilla(
            envio.plantilla,
            envio.idioma,
            envio.variables,
            documento,
            cuerpo=_cuerpo(envio, fila),
            proveedor_id=fila.meta_id if fila else "",
            botones=botones_de_datos(envio.interactivo, dentro=True),
            encabezado=encabezado_de(envio.interactivo),
        )
    elif envio.clase in (ClaseEnvio.DOCUMENTO, ClaseEnvio.IMAGEN):
        contenido = documento
    elif envio.clase == ClaseEnvio.REACCION:
        contenido = Reaccion(envio.texto)
    elif envio.clase == ClaseEnvio.UBICACION:
        contenido = Ubicacion(**envio.interactivo["ubicacion"])
    elif envio.clase in (ClaseEnvio.BOTONES, ClaseEnvio.LISTA):
        contenido = interactivo_de_datos(envio.texto, envio.interactivo, envio.clase)
        if documento is not None and isinstance(contenido, Botones):
            contenido = replace(contenido, adjunto=documento)
    else:
        contenido = Texto(envio.texto)
    return Salida(
        telefono=envio.telefono,
        contenido=contenido,
        referencia=referencia_de(envio.pk),
        responde_a=envio.responde_a,
    )


def _cuerpo(envio: EnvioWhatsApp, fila) -> str:
    """The body text the catalog holds for the envío's template, for a backend that renders
    templates (WHAPI); "" otherwise or when none is known."""
    if fila is None or not backends[envio.cuenta].renderiza_plantillas:
        return ""
    return cuerpo_de(fila)


def _leer_documento(envio: EnvioWhatsApp) -> Documento:
    with envio.documento.open("rb") as archivo:
        contenido = archivo.read()
    if envio.clase in (ClaseEnvio.PLANTILLA, ClaseEnvio.BOTONES):  # a header
        clase = clase_de_media(envio.documento_mime)
        return clase(contenido, envio.nombre_documento, envio.documento_mime)
    if envio.clase == ClaseEnvio.IMAGEN:
        return Imagen(contenido, envio.nombre_documento, envio.documento_mime, envio.texto)
    caption = envio.texto if envio.clase == ClaseEnvio.DOCUMENTO else ""
    return Documento(contenido, envio.nombre_documento, envio.documento_mime, caption)


# -- recording outcomes ------------------------------------------------------------------


def _actualizar(envio: EnvioWhatsApp, desde: set[str], **campos) -> bool:
    """Conditional UPDATE from one of ``desde``; fire the signal when it applied."""
    campos.setdefault("actualizado_en", timezone.now())
    aplicado = EnvioWhatsApp.objects.filter(pk=envio.pk, estado__in=desde).update(**campos)
    if aplicado and "estado" in campos and campos["estado"] != envio.estado:
        anterior = envio.estado
        for nombre, valor in campos.items():
            # A time the database stamped (Now()) is not read back (one more query per
            # envío): signal receivers get this host's reading of it.
            setattr(envio, nombre, timezone.now() if isinstance(valor, Now) else valor)
        signals.avisar_estado(envio, anterior, campos["estado"])
    return bool(aplicado)


def _marcar_enviado(envio: EnvioWhatsApp, wamid: str, wa_id: str) -> Intento:
    # Fitted as the status webhooks' wamid is (limits.id_a_la_medida): they find this envío.
    campos = {
        "wamid": id_a_la_medida(EnvioWhatsApp, "wamid", wamid) or None,
        "wa_id": recortar(EnvioWhatsApp, "wa_id", wa_id) or envio.wa_id,
        "error_codigo": None,
    }
    if not _actualizar(
        envio,
        {EstadoEnvio.ENVIANDO},
        estado=EstadoEnvio.ENVIADO,
        # The database's clock, like reclamado_en: Beat weighs one against the other to
        # tell whether the account's webhooks are current (reconciliation.corte_de_webhooks).
        enviado_en=Now(),
        proximo_intento=None,
        error_detalle="",
        error_titulo="",
        **campos,
    ):
        _completar(envio, campos)
    registrar_salientes([(envio, campos["wamid"])])
    logger.info("Envío %s enviado a %s (%s)", envio.pk, mask(envio.telefono), wamid)
    return Intento(Resultado.ENVIADO)


def _marcar_enviados(enviados: list[tuple[EnvioWhatsApp, str, str]]) -> list[EnvioWhatsApp]:
    """Record sent envíos ``(envío, wamid, wa_id)`` as :func:`_marcar_enviado` does, the
    whole list in one UPDATE; returns them. Those a status webhook settled first keep its
    estado and get what we learned."""
    if len(enviados) == 1:
        _marcar_enviado(*enviados[0])
        return [enviados[0][0]]
    ahora = timezone.now()
    campos = {}
    for envio, wamid, wa_id in enviados:
        campos[envio.pk] = {
            "wamid": id_a_la_medida(EnvioWhatsApp, "wamid", wamid) or None,
            "wa_id": recortar(EnvioWhatsApp, "wa_id", wa_id) or envio.wa_id,
            "error_codigo": None,
        }
    comunes = {
        "estado": EstadoEnvio.ENVIADO,
        "enviado_en": Now(),
        "proximo_intento": None,
        "error_detalle": "",
        "error_titulo": "",
        "error_codigo": None,
        "actualizado_en": ahora,
    }
    por_fila = {
        nombre: {pk: valores[nombre] for pk, valores in campos.items()}
        for nombre in ("wamid", "wa_id")
    }
    with transaction.atomic(using=_base()):
        # Locked by id, as the webhooks lock envíos: two writers never wait on each other.
        enviando = (
            EnvioWhatsApp.objects.select_for_update()
            .filter(pk__in=campos, estado=EstadoEnvio.ENVIANDO)
            .order_by("pk")
        )
        aplicados = set(enviando.values_list("pk", flat=True))
        if aplicados:
            _actualizar_en_bloque(aplicados, EstadoEnvio.ENVIANDO, comunes, por_fila)
    for envio, wamid, _wa_id in enviados:
        if envio.pk in aplicados:
            anterior = envio.estado
            for nombre, valor in {**comunes, **campos[envio.pk]}.items():
                setattr(envio, nombre, ahora if isinstance(valor, Now) else valor)
            signals.avisar_estado(envio, anterior, EstadoEnvio.ENVIADO)
        else:
            _completar(envio, campos[envio.pk])
        logger.info("Envío %s enviado a %s (%s)", envio.pk, mask(envio.telefono), wamid)
    registrar_salientes((envio, campos[envio.pk]["wamid"]) for envio, _wamid, _wa_id in enviados)
    return [envio for envio, _wamid, _wa_id in enviados]


def _base() -> str:
    return router.db_for_write(EnvioWhatsApp)


def _actualizar_en_bloque(
    pks: Iterable[int], desde: str, comunes: dict, por_fila: dict[str, dict[int, object]]
) -> int:
    """``UPDATE … SET <comunes>, col = CASE id WHEN … END … WHERE id IN (…) AND estado =
    desde``: one statement for a whole batch, each row its own values.

    Written as SQL because the ORM's ``Case(When(...))`` costs ~0.5 ms per row to build,
    as much as the request it records. Values go through each field's own conversion,
    ``Now()`` through the database's own SQL for it, as ``QuerySet.update`` would.
    """
    pks = sorted(pks)
    alias = _base()
    conexion = connections[alias]
    opciones = EnvioWhatsApp._meta
    nombre = conexion.ops.quote_name
    compilador = EnvioWhatsApp.objects.none().query.get_compiler(using=alias)
    asignaciones, parametros = [], []
    for campo_nombre, valor in comunes.items():
        campo = opciones.get_field(campo_nombre)
        if isinstance(valor, Now):
            sql, extra = compilador.compile(valor)
            asignaciones.append(f"{nombre(campo.column)} = {sql}")
            parametros.extend(extra)
        else:
            asignaciones.append(f"{nombre(campo.column)} = %s")
            parametros.append(campo.get_db_prep_save(valor, conexion))
    pk = nombre(opciones.pk.column)
    for campo_nombre, valores in por_fila.items():
        campo = opciones.get_field(campo_nombre)
        ramas = " ".join("WHEN %s THEN %s" for _ in pks)
        asignaciones.append(f"{nombre(campo.column)} = CASE {pk} {ramas} END")
        for clave in pks:
            parametros.extend((clave, campo.get_db_prep_save(valores[clave], conexion)))
    marcas = ", ".join("%s" for _ in pks)
    estado = nombre(opciones.get_field("estado").column)
    sql = (
        f"UPDATE {nombre(opciones.db_table)} SET {', '.join(asignaciones)} "
        f"WHERE {pk} IN ({marcas}) AND {estado} = %s"
    )
    with conexion.cursor() as cursor:
        cursor.execute(sql, [*parametros, *pks, desde])
        return cursor.rowcount


def _completar(envio: EnvioWhatsApp, campos: dict) -> None:
    """A status webhook settled the envío first: keep its estado, add what we learned."""
    if not EnvioWhatsApp.objects.filter(pk=envio.pk, wamid__isnull=True).update(**campos):
        # It settled it with another copy's wamid: this request sent it a second time.
        registrar_duplicado(envio.pk, campos["wamid"] or "")


def _devolver(envio, cuando, exc=None, *, contar=True, resultado=Resultado.REINTENTO) -> Intento:
    """Give the envío back to the queue (``pendiente``), due at ``cuando``."""
    campos = {"estado": EstadoEnvio.PENDIENTE, "proximo_intento": cuando, "reclamado_en": None}
    if not contar:
        # A plain value, not F(): signal receivers get this instance. Only the claim changes
        # intentos, and this worker holds the claim, so the value read after it is current.
        campos["intentos"] = envio.intentos - 1
    if exc is not None:
        campos.update(_error_campos(exc))
    _actualizar(envio, {EstadoEnvio.ENVIANDO}, **campos)
    return Intento(resultado, cuando)


def _reintentar_o_fallar(
    envio: EnvioWhatsApp, exc: Exception, espera: float | None = None
) -> Intento:
    """Retry after ``espera`` seconds (default: :func:`backoff`) or fail after MAX_ATTEMPTS."""
    settings = get_settings()
    if envio.intentos >= settings.MAX_ATTEMPTS:
        return _fallar(envio, exc)
    espera = backoff(envio.intentos) if espera is None else min(espera, settings.RETRY_BACKOFF_MAX)
    cuando = timezone.now() + timedelta(seconds=espera)
    logger.warning(
        "Envío %s: error transitorio en el intento %s/%s (%s); nuevo intento a las %s",
        envio.pk,
        envio.intentos,
        settings.MAX_ATTEMPTS,
        _codigo(exc),
        cuando.isoformat(timespec="seconds"),
    )
    return _devolver(envio, cuando, exc)


def backoff(intento: int) -> float:
    """Seconds before attempt ``intento + 1``: exponential, capped, with jitter.

    The wait is drawn between half and all of the exponential step ("equal jitter"), so
    workers retrying together spread out but never retry sooner than half the step.
    """
    techo = get_settings().espera_exponencial(intento)
    return random.uniform(techo / 2, techo)


def _incierto(envio: EnvioWhatsApp, exc: ProviderError) -> Intento:
    # Meta has no idempotency key: the message may have gone out. Wait for a status
    # webhook (it carries the envío id) before sending again; once MAX_ATTEMPTS are spent,
    # never again by itself: resending is the operator's call (admin «Reenviar»).
    cuando = _reconciliar_hasta(envio.intentos, timezone.now())
    logger.warning("Envío %s sin confirmar (%s); se espera el webhook de estado", envio.pk, exc)
    _actualizar(
        envio,
        {EstadoEnvio.ENVIANDO},
        estado=EstadoEnvio.INCIERTO,
        proximo_intento=cuando,
        **_error_campos(exc),
    )
    return Intento(Resultado.INCIERTO, cuando)


def _reconciliar_hasta(intentos: int, ahora: datetime) -> datetime | None:
    """When an incierto envío may be sent again if no webhook settles it (None: never)."""
    settings = get_settings()
    if intentos >= settings.MAX_ATTEMPTS:
        return None
    return ahora + settings.seconds("RECONCILE_AFTER")


def _fallar(envio: EnvioWhatsApp, exc: Exception) -> Intento:
    ahora = timezone.now()
    _actualizar(
        envio,
        {EstadoEnvio.ENVIANDO},
        estado=EstadoEnvio.FALLIDO,
        fallido_en=ahora,
        proximo_intento=None,
        **_error_campos(exc),
    )
    logger.error("Envío %s fallido: %s", envio.pk, _codigo(exc))
    return Intento(Resultado.FALLIDO)


def _error_campos(exc: Exception) -> dict:
    if isinstance(exc, ProviderError):
        # A code the integer column cannot hold is NULL; error_detalle keeps it readable.
        codigo = entero_a_la_medida(EnvioWhatsApp, "error_codigo", exc.code)
        # With its code, the provider's words: the explanation is written when it is read,
        # in the reader's language (error_text).
        detalle = (
            error_text.palabras_del_proveedor(codigo, exc.provider_text)
            if codigo is not None
            else exc.readable
        )
        return {"error_codigo": codigo, "error_detalle": detalle}
    return {"error_codigo": None, "error_detalle": describe_error(None, str(exc))}


def _error_de_campos(campos: dict) -> dict:
    return {"codigo": campos["error_codigo"], "detalle": campos["error_detalle"]}


def _codigo(exc: Exception) -> str:
    codigo = getattr(exc, "code", None)
    return f"#{codigo}" if codigo is not None else type(exc).__name__


# -- paused accounts ---------------------------------------------------------------------


def cuenta_pausada(cuenta: str) -> bool:
    return EstadoCuenta.objects.filter(cuenta=cuenta, pausada=True).exists()


def pausar_cuenta(cuenta: str, error: Exception) -> None:
    """Pause ``cuenta`` after an auth/config error and alert the admins once."""
    ahora = timezone.now()
    campos = _error_campos(error)
    EstadoCuenta.objects.get_or_create(cuenta=cuenta)
    EstadoCuenta.objects.filter(cuenta=cuenta, pausada=False).update(
        pausada=True, pausada_en=ahora, comprobado_en=ahora, **campos
    )
    # The conditional UPDATE makes exactly one worker send the alert. An account that flaps
    # (the probe passes, sending still fails) alerts again only after ALERTA_CADA.
    sin_alerta = Q(alertado_en__isnull=True) | Q(alertado_en__lte=ahora - ALERTA_CADA)
    if EstadoCuenta.objects.filter(sin_alerta, cuenta=cuenta).update(alertado_en=ahora):
        _alertar(cuenta, error_text.texto_del_error(cuenta, **_error_de_campos(campos)))
        signals.enviar_seguro(signals.cuenta_pausada, EstadoCuenta, cuenta=cuenta, error=error)


def _alertar(cuenta: str, detalle: str) -> None:
    logger.error("Cuenta de WhatsApp %r pausada: %s", cuenta, detalle)
    pausa = gettext(
        "Los envíos de WhatsApp de esta cuenta están en pausa y esperan en la cola; no se "
        "perdió ninguno."
    )
    arreglo = gettext(
        'Corrige las credenciales (WHATSAPP_NOTIFY["BACKENDS"]). El envío se reanuda solo en '
        "cuanto funcionen, o desde el admin con la acción «Reanudar»."
    )
    motivo = gettext("Motivo: %(detalle)s") % {"detalle": detalle}
    avisar_admins(
        gettext("WhatsApp: cuenta %(cuenta)s pausada") % {"cuenta": repr(cuenta)},
        f"{pausa}\n\n{motivo}\n\n{arreglo}",
    )


def reanudar_cuenta(cuenta: str, *, manual: bool = False) -> bool:
    """Unpause ``cuenta``; True when it was paused.

    ``manual`` (an operator fixed it): the next pause alerts at once. An automatic resume
    (the probe passed) keeps the alert throttle, since the probe cannot prove sending works.
    """
    ahora = timezone.now()
    campos = {"pausada": False, "reanudada_en": ahora, "error_codigo": None, "error_detalle": ""}
    if manual:
        campos["alertado_en"] = None
    reanudada = EstadoCuenta.objects.filter(cuenta=cuenta, pausada=True).update(**campos)
    if reanudada:
        # Their tasks already ran (and found the account paused): make them due for
        # dispatch now instead of REDISPATCH_AFTER after their last enqueue.
        EnvioWhatsApp.objects.filter(cuenta=cuenta, estado=EstadoEnvio.PENDIENTE).update(
            despachado_en=None
        )
        logger.warning("Cuenta de WhatsApp %r reanudada", cuenta)
        signals.enviar_seguro(signals.cuenta_reanudada, EstadoCuenta, cuenta=cuenta)
    return bool(reanudada)


def comprobar_cuentas_pausadas() -> list[str]:
    """Probe the credentials of paused accounts; resume those that work. Returns them."""
    ahora = timezone.now()
    limite = ahora - get_settings().seconds("PAUSE_PROBE_EVERY")
    reanudadas = []
    pausadas = EstadoCuenta.objects.filter(pausada=True).filter(
        Q(comprobado_en__isnull=True) | Q(comprobado_en__lte=limite)
    )
    for estado in pausadas:
        EstadoCuenta.objects.filter(pk=estado.pk).update(comprobado_en=ahora)
        try:
            backends.reset()
            backends[estado.cuenta].verify_credentials()
        except (ProviderError, ImproperlyConfigured) as exc:
            logger.warning("Cuenta %r sigue en pausa: %s", estado.cuenta, _codigo(exc))
            continue
        if reanudar_cuenta(estado.cuenta):
            reanudadas.append(estado.cuenta)
    return reanudadas


# -- lost tasks --------------------------------------------------------------------------


def envios_por_despachar(ahora: datetime | None = None) -> list[int]:
    """Ids of envíos a worker should take now although no task may be queued for them.

    Scheduled envíos that came due become ``pendiente``; ``incierto`` envíos that no status
    webhook settled in ``RECONCILE_AFTER`` go back to ``pendiente`` while attempts remain
    and the account's webhooks are current (:func:`.reconciliation.liberar_inciertos`);
    a worker that died while ``enviando`` leaves an ``incierto`` envío. Due ``pendiente``
    envíos whose task was due to run more than ``REDISPATCH_AFTER`` ago
    (``despachado_en``), or never enqueued, are returned. Paused accounts wait. Waiting
    envíos past their ``expira_en`` are ``omitido`` first (:func:`omitir_vencidos`).
    """
    ahora = _preparar_despacho(ahora)
    return list(
        _perdidos(ahora).order_by("proximo_intento", "pk").values_list("pk", flat=True)[:1000]
    )


def cuentas_por_despachar(ahora: datetime | None = None) -> dict[str, int]:
    """Like :func:`envios_por_despachar`, for workers that deliver in batches: mark every
    such envío dispatched now, in one UPDATE, and return how many each account has."""
    ahora = _preparar_despacho(ahora)
    perdidos = _perdidos(ahora)
    cuentas = dict(perdidos.order_by().values_list("cuenta").annotate(n=Count("pk")))
    if cuentas:
        perdidos.update(despachado_en=ahora)
    return cuentas


def _preparar_despacho(ahora: datetime | None) -> datetime:
    """Beat's upkeep before a dispatch (see :func:`envios_por_despachar`); returns the
    time to dispatch by."""
    # One clock for every comparison that decides a re-send: the database's, the one
    # workers stamp reclamado_en and enviado_en with (see reconciliation.hora_de_la_base).
    # Schedules and expiries were set on the ERP's clock and keep being read on this one.
    reenvio = ahora or hora_de_la_base()
    ahora = ahora or timezone.now()
    settings = get_settings()
    omitir_vencidos(ahora)
    EnvioWhatsApp.objects.filter(estado=EstadoEnvio.PROGRAMADO, programado_para__lte=ahora).update(
        estado=EstadoEnvio.PENDIENTE, actualizado_en=ahora
    )
    atascados = EnvioWhatsApp.objects.filter(
        estado=EstadoEnvio.ENVIANDO,
        reclamado_en__lte=reenvio - settings.seconds("RECONCILE_AFTER"),
    )
    # A worker died mid-send: as after a timeout, resend while attempts remain.
    atascados.filter(intentos__lt=settings.MAX_ATTEMPTS).update(
        estado=EstadoEnvio.INCIERTO, proximo_intento=reenvio, actualizado_en=ahora
    )
    atascados.update(estado=EstadoEnvio.INCIERTO, proximo_intento=None, actualizado_en=ahora)
    liberar_inciertos(reenvio)
    avisar_retenidos(reenvio)  # held too long: never in silence
    return ahora


def _perdidos(ahora: datetime):
    """Due envíos of accounts not paused whose task was never enqueued or got lost."""
    pausadas = EstadoCuenta.objects.filter(pausada=True).values("cuenta")
    perdido = ahora - get_settings().seconds("REDISPATCH_AFTER")
    return (
        EnvioWhatsApp.objects.debidos(ahora)
        .exclude(cuenta__in=pausadas)
        .filter(Q(despachado_en__isnull=True) | Q(despachado_en__lte=perdido))
    )


# Envíos still waiting for their moment or a worker: the ones an expiry can stop.


def omitir_vencidos(ahora: datetime, limite: int = 1000) -> int:
    """Mark ``omitido`` (``vencido``) the waiting envíos whose ``expira_en`` passed.

    Run by Beat before due envíos are promoted, so a reminder whose Beat ran hours late
    is never sent. Each row changes with a conditional UPDATE (a worker or a cancellation
    may take it meanwhile) and fires ``envio_estado_cambiado``. Returns how many changed.
    """
    vencidos = EnvioWhatsApp.objects.filter(estado__in=EN_ESPERA, expira_en__lte=ahora)
    omitidos = 0
    for envio in vencidos.order_by("pk")[:limite]:
        campos = {"estado": EstadoEnvio.OMITIDO, "motivo": MotivoOmision.VENCIDO}
        if _actualizar(envio, {envio.estado}, proximo_intento=None, **campos):
            omitidos += 1
            logger.info("Envío %s omitido: pasó su momento (%s)", envio.pk, envio.expira_en)
    return omitidos
