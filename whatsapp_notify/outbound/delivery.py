"""The worker side: claim an envío, respect the rate limit, call the backend, record.

No Celery here: ``tasks.py`` wraps these functions. Every state change is a conditional
UPDATE on the row, so two workers on the same envío never both send it, and a late
worker never overwrites what a status webhook already settled.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.core.exceptions import ImproperlyConfigured
from django.core.mail import mail_admins
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from .. import signals
from ..backends import backends
from ..conf import get_settings
from ..duplicates import registrar_duplicado
from ..exceptions import (
    AmbiguousError,
    AuthError,
    MessageError,
    PairRateLimitError,
    PermanentError,
    ProviderError,
    TransientError,
    describe_error,
)
from ..limits import entero_a_la_medida, id_a_la_medida, recortar
from ..messages import Documento, Plantilla, Salida, Texto, interactivo_de_datos
from ..models import (
    ClaseEnvio,
    EnvioWhatsApp,
    EstadoCuenta,
    EstadoEnvio,
    MediaSubido,
    MotivoOmision,
)
from ..phones import mask
from ..references import referencia_de
from ..states import EN_ESPERA
from ..templates import buscar as buscar_plantilla
from ..templates import cuerpo_de
from .maintenance import politica
from .outbox import revisar_destinatario, vencido
from .ratelimit import limiter
from .reconciliation import (
    avisar_retenidos,
    hora_de_la_base,
    liberar_inciertos,
)

logger = logging.getLogger(__name__)

# Uploaded media ids live 30 days at Meta; stop reusing them a little earlier.
MEDIA_VIGENCIA = timedelta(days=28)
# Waiting for a rate-limit token longer than this gives the worker back.
ESPERA_MAXIMA = 1.0
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
    campos = (
        "cuenta",
        "estado",
        "telefono",
        "clase",
        "plantilla",
        "idioma",
        "categoria",
        "expira_en",
    )
    envio = EnvioWhatsApp.objects.filter(pk=envio_id).only(*campos).first()
    if envio is None or envio.estado != EstadoEnvio.PENDIENTE:
        return Intento(Resultado.IGNORADO)
    if vencido(envio):  # its moment passed while it waited (Beat down, retries, a pause)
        return _omitir(envio, MotivoOmision.VENCIDO)
    # Checked again now: WhatsApp switched off, consent revoked or the 24-hour window closed
    # since the envío was queued (retries and scheduled sends can come days later).
    _telefono, motivo = revisar_destinatario(
        f"+{envio.telefono}", envio.clase, cuenta=envio.cuenta, categoria=envio.categoria
    )
    if motivo is not None:
        return _omitir(envio, motivo)
    if (negativa := politica(envio)) is not None:
        return _omitir(envio, MotivoOmision.POLITICA, negativa)
    if _plantilla_retirada(envio):
        return _omitir(envio, MotivoOmision.PLANTILLA_NO_APROBADA)
    if cuenta_pausada(envio.cuenta):
        return Intento(Resultado.PAUSADA)
    if not reclamar(envio_id):
        return Intento(Resultado.IGNORADO)
    envio = EnvioWhatsApp.objects.get(pk=envio_id)
    try:
        espera = _esperar_turno(envio.cuenta)
    except Exception as exc:  # once claimed, no error may leave the envío stuck in enviando
        logger.exception("Error del límite de envío con el envío %s", envio.pk)
        return _reintentar_o_fallar(envio, exc)
    if espera:
        return _devolver(envio, timezone.now() + timedelta(seconds=espera), contar=False)
    return _intentar(envio)


def _plantilla_retirada(envio: EnvioWhatsApp) -> bool:
    """True when the catalog says the template stopped being sendable since it was queued
    (paused, disabled...): Meta would refuse it (132015, 132016)."""
    if envio.clase != ClaseEnvio.PLANTILLA:
        return False
    fila = buscar_plantilla(envio.plantilla, envio.idioma, envio.cuenta)
    return fila is not None and not fila.aprobada


def _omitir(envio: EnvioWhatsApp, motivo: MotivoOmision, detalle: str = "") -> Intento:
    campos = {"estado": EstadoEnvio.OMITIDO, "motivo": motivo, "proximo_intento": None}
    if detalle:
        campos["error_detalle"] = detalle
    _actualizar(envio, {EstadoEnvio.PENDIENTE}, **campos)
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


def _esperar_turno(cuenta: str) -> float:
    """Wait briefly for a rate-limit token; return seconds still to wait if too long."""
    while espera := limiter.tomar(f"cuenta:{cuenta}", tasa=_tasa(cuenta)):
        if espera > ESPERA_MAXIMA:
            return espera
        time.sleep(espera)
    return 0.0


def _tasa(cuenta: str) -> str | None:
    """The account's own rate (its backend's advice or option); None: the global one."""
    try:
        return backends[cuenta].rate_limit()
    except ImproperlyConfigured:
        return None  # the send itself reports it (the account pauses)


def _intentar(envio: EnvioWhatsApp) -> Intento:
    try:
        salida = construir_salida(envio)
        resultado = backends[envio.cuenta].send(salida, media=DbMediaCache(envio.cuenta))
    except PairRateLimitError as exc:
        # 131056 concerns this recipient only: wait 4^n seconds (Meta's advice), others go on.
        return _reintentar_o_fallar(envio, exc, espera=4.0**envio.intentos)
    except AmbiguousError as exc:
        return _incierto(envio, exc)
    except TransientError as exc:
        return _reintentar_o_fallar(envio, exc)
    except (AuthError, ImproperlyConfigured) as exc:  # incl. ConfigurationError, unknown alias
        pausar_cuenta(envio.cuenta, exc)
        return _devolver(envio, None, exc, contar=False, resultado=Resultado.PAUSADA)
    except (PermanentError, MessageError) as exc:
        return _fallar(envio, exc)
    except Exception as exc:  # a bug must not lose the envío: retry like a transient error
        logger.exception("Error inesperado al enviar el envío %s", envio.pk)
        return _reintentar_o_fallar(envio, exc)
    return _marcar_enviado(envio, resultado.id, resultado.wa_id)


def construir_salida(envio: EnvioWhatsApp) -> Salida:
    """Rebuild the message value object from the row (the row is the truth)."""
    documento = _leer_documento(envio) if envio.documento else None
    if envio.clase == ClaseEnvio.PLANTILLA:
        fila = buscar_plantilla(envio.plantilla, envio.idioma, envio.cuenta)
        contenido = Plantilla(
            envio.plantilla,
            envio.idioma,
            envio.variables,
            documento,
            cuerpo=_cuerpo(envio, fila),
            proveedor_id=fila.meta_id if fila else "",
        )
    elif envio.clase == ClaseEnvio.DOCUMENTO:
        contenido = documento
    elif envio.clase in (ClaseEnvio.BOTONES, ClaseEnvio.LISTA):
        contenido = interactivo_de_datos(envio.texto, envio.interactivo, envio.clase)
    else:
        contenido = Texto(envio.texto)
    return Salida(telefono=envio.telefono, contenido=contenido, referencia=referencia_de(envio.pk))


def _cuerpo(envio: EnvioWhatsApp, fila) -> str:
    """The body text the catalog holds for the envío's template, for a backend that renders
    templates (WHAPI); "" otherwise or when none is known."""
    if fila is None or not backends[envio.cuenta].renderiza_plantillas:
        return ""
    return cuerpo_de(fila)


def _leer_documento(envio: EnvioWhatsApp) -> Documento:
    with envio.documento.open("rb") as archivo:
        contenido = archivo.read()
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
    logger.info("Envío %s enviado a %s (%s)", envio.pk, mask(envio.telefono), wamid)
    return Intento(Resultado.ENVIADO)


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
    settings = get_settings()
    techo = min(settings.RETRY_BACKOFF_MAX, settings.RETRY_BACKOFF * 2 ** max(0, intento - 1))
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
        return {"error_codigo": codigo, "error_detalle": exc.readable}
    return {"error_codigo": None, "error_detalle": describe_error(None, str(exc))}


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
        _alertar(cuenta, campos["error_detalle"])
        signals.enviar_seguro(signals.cuenta_pausada, EstadoCuenta, cuenta=cuenta, error=error)


def _alertar(cuenta: str, detalle: str) -> None:
    logger.error("Cuenta de WhatsApp %r pausada: %s", cuenta, detalle)
    mail_admins(
        f"WhatsApp: cuenta {cuenta!r} pausada",
        "Los envíos de WhatsApp de esta cuenta están en pausa y esperan en la cola; "
        "no se perdió ninguno.\n\n"
        f"Motivo: {detalle}\n\n"
        'Corrige las credenciales (WHATSAPP_NOTIFY["BACKENDS"]). El envío se reanuda solo '
        "en cuanto funcionen, o desde el admin con la acción «Reanudar».",
        fail_silently=True,
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
    pausadas = EstadoCuenta.objects.filter(pausada=True).values("cuenta")
    perdido = ahora - settings.seconds("REDISPATCH_AFTER")
    return list(
        EnvioWhatsApp.objects.debidos(ahora)
        .exclude(cuenta__in=pausadas)
        .filter(Q(despachado_en__isnull=True) | Q(despachado_en__lte=perdido))
        .order_by("proximo_intento", "pk")
        .values_list("pk", flat=True)[:1000]
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
