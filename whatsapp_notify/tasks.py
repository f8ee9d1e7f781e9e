"""Thin Celery tasks over ``outbound.delivery``, ``inbound.store`` and ``outbound.maintenance``.

Tasks carry only the envío id; the row is the truth. With ``task_always_eager`` (the
zero-set-up default) retries are not chained in-process: the Beat task
``whatsapp_notify.despachar`` picks them up when due.

Importing this module does not import models. The Beat schedule is in ``schedule``;
``BEAT_SCHEDULE`` stays importable from here for the hosts that import it from this module.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

from celery import current_app, shared_task
from django.db import DatabaseError, transaction
from django.utils import timezone

from .conf import get_settings
from .schedule import BEAT_SCHEDULE as BEAT_SCHEDULE  # the README named this path once

logger = logging.getLogger(__name__)


def al_confirmar(funcion: Callable[..., object], *args: int) -> None:
    """Call ``funcion(*args)`` once the caller's transaction commits; never raises into it.

    With a real broker the call is handed to this process's publishing thread
    (:class:`_Publicador`) and the commit returns at once: the ERP waits neither for the
    broker nor for the deadline that bounds a broker that does not answer. With eager Celery
    (development, tests) it runs in the caller, so the send happens inside the commit.

    The ERP's transaction is committed by then: an error now (the connection dropped right
    after COMMIT, a broker problem) must neither reach the ERP nor skip its own later
    ``on_commit`` callbacks. It is logged; the row waits for Beat (``despachar``,
    ``reprocesar_webhooks``), which is why ``args`` are ids only.
    """
    transaction.on_commit(partial(_tras_el_commit, funcion, *args), robust=True)


def _tras_el_commit(funcion: Callable[..., object], *args: int) -> None:
    if en_el_acto():
        _sin_propagar(funcion, *args)
    else:
        _publicador.poner(current_app._get_current_object(), funcion, args)


def _sin_propagar(funcion: Callable[..., object], *args: int) -> None:
    try:
        funcion(*args)
    except Exception as exc:
        # The class only: a database error's text can quote row values (a phone).
        logger.warning(
            "%s%s falló tras el commit (%s); Beat lo retomará.",
            getattr(funcion, "__name__", funcion),
            args,
            type(exc).__name__,
        )


def esperar_publicaciones(plazo: float = 5.0) -> bool:
    """Wait until this process's publishing thread has run what commits handed it.

    True when nothing is left, False after ``plazo`` seconds. For tests and scripts that
    look at the broker right after a commit; a process that exits waits for it by itself
    (up to ``PLAZO_AL_SALIR``), and what is still left then goes to Beat's next run.
    """
    return _publicador.esperar(plazo)


class _Publicador:
    """One thread per process that runs, in order, the calls commits handed to it.

    The queue is bounded (``LIMITE``): a call that finds it full runs in the caller, as
    every call did before this thread (bounded all the same by ``PLAZO_PUBLICACION`` and the
    breaker). At the process's exit (``al_salir``) it waits ``PLAZO_AL_SALIR`` for the
    queue, then hands what is left to Beat's next run. Created on first use and again in a
    forked child, which does not inherit its parent's thread; a child that ends with
    ``os._exit`` (no exit hooks) leaves what it had queued to Beat after ``REDISPATCH_AFTER``.
    """

    LIMITE = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._cola: queue.Queue | None = None
        self._hilo: threading.Thread | None = None

    def poner(self, app, funcion: Callable[..., object], args: tuple) -> None:
        try:
            self._cola_viva().put_nowait((app, funcion, args))
        except queue.Full:
            _sin_propagar(funcion, *args)

    def esperar(self, plazo: float) -> bool:
        cola = self._cola
        if cola is None or self._pid != os.getpid():
            return True
        fin = time.monotonic() + plazo
        with cola.all_tasks_done:
            while cola.unfinished_tasks:
                restante = fin - time.monotonic()
                if restante <= 0:
                    return False
                cola.all_tasks_done.wait(restante)
        return True

    def al_salir(self) -> None:
        """Wait for the queue up to ``PLAZO_AL_SALIR``; what is left goes to Beat's next run."""
        if self.esperar(PLAZO_AL_SALIR):  # also True with no queue in this process
            return
        restantes = []
        while True:
            try:
                restantes.append(self._cola.get_nowait())
            except queue.Empty:
                break
            self._cola.task_done()
        ids = [args[0] for _app, funcion, args in restantes if funcion is publicar_envio]
        if not ids:
            return
        from .models import EnvioWhatsApp, EstadoEnvio

        try:
            # despachado_en cleared: Beat takes them on its next run, not REDISPATCH_AFTER later.
            EnvioWhatsApp.objects.filter(pk__in=ids, estado=EstadoEnvio.PENDIENTE).update(
                despachado_en=None
            )
        except Exception as exc:
            logger.warning(
                "%s envíos sin publicar al salir (%s); Beat los tomará pasado REDISPATCH_AFTER.",
                len(ids),
                type(exc).__name__,
            )

    def tras_fork(self) -> None:
        """In a forked child: nothing of the parent's (its lock may have been held)."""
        self._lock = threading.Lock()
        self._pid = self._cola = self._hilo = None

    def _cola_viva(self) -> queue.Queue:
        cola, hilo = self._cola, self._hilo
        if cola is not None and self._pid == os.getpid() and hilo is not None and hilo.is_alive():
            return cola
        with self._lock:
            if self._cola is None or self._pid != os.getpid():
                self._pid, self._cola = os.getpid(), queue.Queue(self.LIMITE)
            if self._hilo is None or not self._hilo.is_alive():
                self._hilo = threading.Thread(
                    target=self._trabajar,
                    args=(self._cola,),
                    name="whatsapp_notify-publicador",
                    daemon=True,  # never holds the process's exit (see PLAZO_AL_SALIR)
                )
                self._hilo.start()
            return self._cola

    @staticmethod
    def _trabajar(cola: queue.Queue) -> None:
        from django.db import connections

        while True:
            app, funcion, args = cola.get()
            try:
                app.set_current()  # this thread's current app is the caller's
                _sin_propagar(funcion, *args)
            except Exception:  # the thread must outlive any call
                logger.exception("Error inesperado al publicar %s%s.", funcion, args)
            finally:
                if cola.empty():
                    # A failed publish wrote its row on this thread's own connection.
                    connections.close_all()
                cola.task_done()


_publicador = _Publicador()

#: At the process's exit, the longest it waits for its pending publications, in seconds.
PLAZO_AL_SALIR = 3.0
atexit.register(_publicador.al_salir)
os.register_at_fork(after_in_child=_publicador.tras_fork)


def encolar(envio_id: int, eta: datetime | None = None) -> bool:
    """Enqueue delivery of an envío (at ``eta``); False (logged) when the broker can't take it.

    The envío is already recorded, so a broker that is down loses nothing: Beat's
    ``despachar`` re-dispatches it on its next run.
    """
    from .models import EnvioWhatsApp

    envios = EnvioWhatsApp.objects.filter(pk=envio_id)
    if eta is not None and en_el_acto():
        # Eager Celery would run the retry right now, inside this call: leave it to Beat.
        envios.update(despachado_en=None)
        return True
    # despachado_en is when the task should run; Beat treats it as lost REDISPATCH_AFTER later.
    envios.update(despachado_en=eta or timezone.now())
    if not _publicar(enviar_envio, (envio_id,), eta=eta, **_cola()):
        envios.update(despachado_en=None)  # Beat's next run takes it
        return False
    return True


def publicar_envio(envio_id: int) -> bool:
    """Publish the delivery task of an envío just recorded (its ``despachado_en`` already
    says so); False (logged) when the broker can't take it, and then Beat's next run does.

    The write-free path of :func:`encolar`: it runs right after the ERP's COMMIT, on the
    ERP's connection, and touches the row only when the publish failed.
    """
    if _publicar(enviar_envio, (envio_id,), **_cola()):
        return True
    from .models import EnvioWhatsApp

    EnvioWhatsApp.objects.filter(pk=envio_id).update(despachado_en=None)  # Beat takes it
    return False


def encolar_webhook(evento_id: int) -> bool:
    """Enqueue processing of a stored webhook body; False (logged) when the broker can't take it.

    The body is already stored, so nothing is lost: Beat's ``reprocesar_webhooks`` takes
    up bodies left unprocessed.
    """
    return _publicar(procesar_webhook, (evento_id,), **_cola())


def publicar_respuesta(mensaje_id: int) -> bool:
    """Publish the reply-handler task of an inbound message; False (logged) when the broker
    cannot take it: the message stays ``pendiente`` and Beat's ``atender_pendientes`` does."""
    return _publicar(responder, (mensaje_id,), **_cola())


def publicar_descarga(mensaje_id: int) -> bool:
    """Publish the download task of an inbound message's file; False (logged) when the
    broker cannot take it: Beat hands it out later (``descarga_en``)."""
    return _publicar(descargar_media, (mensaje_id,), **_cola())


def publicar_precio(envio_id: int) -> bool:
    """Publish the task that asks the provider the price of a delivered envío (Twilio);
    False (logged) when the broker cannot take it: its cost stays unknown."""
    from .costs import ESPERA_PRECIO

    return _publicar(consultar_precio, (envio_id,), countdown=ESPERA_PRECIO, **_cola())


def publicar_leido(mensaje_id: int) -> bool:
    """Publish the read-receipt task of an inbound message (a courtesy: lost if refused)."""
    return _publicar(marcar_leido, (mensaje_id,), **_cola())


def publicar_escribiendo(mensaje_id: int) -> bool:
    """Publish the read receipt + typing indicator task of an inbound message."""
    return _publicar(escribiendo, (mensaje_id,), **_cola())


def pedir_despacho() -> bool:
    """Ask a worker to run ``despachar`` now (e.g. after resuming an account); never raises."""
    return _publicar(despachar, (), **_cola())


def _publicar(tarea, args: tuple, **opciones) -> bool:
    """Publish ``tarea``; False (logged) when the broker cannot take it. Never raises.

    Returns within ``PLAZO_PUBLICACION`` seconds whatever the broker does (down, refusing,
    or accepting connections and never answering), with Celery's default settings.
    """
    if _broker.caido():
        return False
    app = current_app._get_current_object()
    if app.conf.task_always_eager:
        return _publicar_aqui(tarea, args, opciones)
    # The concrete task of *this* thread's app: the publishing thread has another current app.
    return _publicar_con_plazo(app, app.tasks[tarea.name], args, opciones)


def _publicar_aqui(tarea, args: tuple, opciones: dict) -> bool:
    """Eager Celery: no broker, the task runs in this call (development, tests)."""
    try:
        tarea.apply_async(args, retry=False, **opciones)
    except DatabaseError:
        # The task ran here and met the database (a dropped connection), not a broker:
        # no publish pause, and the caller reports the error's class only.
        raise
    except Exception as exc:  # misconfigured Celery
        _broker.fallo()
        logger.warning("No se pudo publicar %s (%s); Beat lo reintentará.", tarea.name, exc)
        return False
    return True


#: The longest an ERP request waits for the broker on one publish, in seconds.
PLAZO_PUBLICACION = 0.8

# Options of the connections this app publishes on (never the host's consumers): no
# connection retries (kombu retries for ~6 s by default) and socket timeouts, so that even a
# publish the caller stopped waiting for ends by itself shortly after.
_OPCIONES_CONEXION = {"max_retries": 0, "socket_timeout": 0.5, "socket_connect_timeout": 0.5}


def _publicar_con_plazo(app, tarea, args: tuple, opciones: dict) -> bool:
    """Publish on a publishing thread and wait for it at most ``PLAZO_PUBLICACION`` seconds.

    The socket timeouts bound the Redis transport; the deadline bounds every transport and
    every step (DNS, TLS, a pool wait). A publish that outlives its deadline may still
    complete later: harmless, since the row is the truth and the worker's claim is
    conditional, so the task Beat re-dispatches and this one send the envío once.
    """
    resultado: list[BaseException | None] = []
    colgado = _emisores.ejecutar(
        partial(_publicar_en_hilo, app, tarea, args, opciones, resultado), PLAZO_PUBLICACION
    )
    if colgado is not None:
        _broker.fallo(colgado=colgado)
        logger.warning(
            "El broker no respondió en %s s al publicar %s; Beat lo reintentará.",
            PLAZO_PUBLICACION,
            tarea.name,
        )
        return False
    if resultado != [None]:  # an error, or a call that ended without saying
        _broker.fallo()
        error = resultado[0] if resultado else "sin respuesta"
        logger.warning("No se pudo publicar %s (%s); Beat lo reintentará.", tarea.name, error)
        return False
    return True


class _Emisores:
    """The threads publishes run on, kept between publishes, so that a caller waits for each
    one at most its deadline without starting a thread per publish.

    A thread per publish cost more than the publish itself: Celery builds its result
    backend again in each new thread. A thread whose publish outlives the caller's deadline
    is left to finish (or to its socket timeouts) and comes back afterwards; meanwhile the
    breaker lets no other publish start. Threads are daemons (they never hold the process's
    exit), at most ``LIBRES`` wait idle, and a forked child starts its own.
    """

    LIBRES = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._libres: list[queue.SimpleQueue] = []
        self._ocupados = 0

    def ejecutar(self, llamada: Callable[[], None], plazo: float) -> threading.Event | None:
        """Run ``llamada`` on a publishing thread; None when it ended within ``plazo``
        seconds, else the event that will be set when it ends."""
        hecho = threading.Event()
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's threads are not here
                self._pid, self._libres, self._ocupados = os.getpid(), [], 0
            buzon = self._libres.pop() if self._libres else None
            self._ocupados += 1
        if buzon is None:
            buzon = queue.SimpleQueue()
            threading.Thread(
                target=self._trabajar,
                args=(buzon, self._pid),
                name="whatsapp_notify-publicar",
                daemon=True,  # never holds the process's exit
            ).start()
        buzon.put((llamada, hecho))
        return None if hecho.wait(plazo) else hecho

    def tras_fork(self) -> None:
        """In a forked child: none of the parent's threads (its lock may have been held)."""
        self._lock = threading.Lock()
        self._pid, self._libres, self._ocupados = None, [], 0

    def ocupados(self) -> int:
        """How many of this process's publishing threads are running a publish now."""
        return self._ocupados if self._pid == os.getpid() else 0

    def _trabajar(self, buzon: queue.SimpleQueue, pid: int | None) -> None:
        while True:
            llamada, hecho = buzon.get()
            try:
                llamada()
            except Exception:  # the thread must outlive any call
                logger.exception("Error inesperado al publicar.")
            finally:
                hecho.set()
            with self._lock:
                if self._pid != pid:
                    return
                self._ocupados -= 1
                if len(self._libres) >= self.LIBRES:
                    return
                self._libres.append(buzon)


_emisores = _Emisores()
os.register_at_fork(after_in_child=_emisores.tras_fork)


def _publicar_en_hilo(app, tarea, args: tuple, opciones: dict, resultado: list) -> None:
    """Publish on a pooled bounded connection; append the error (or None) to ``resultado``."""

    def publicar(conexion) -> None:
        tarea.apply_async(args, connection=conexion, retry=False, **opciones)

    _con_conexion(app, PLAZO_PUBLICACION, publicar, resultado)


def _con_conexion(app, plazo: float, usar, resultado: list) -> None:
    """Lend ``usar`` a pooled bounded connection to the broker (waiting at most ``plazo`` for
    one); append what it raised, or None, to ``resultado``. A connection that failed is
    closed before it goes back: its sockets are dropped and its next user reconnects."""
    try:
        conexion = _conexiones(app).acquire(block=True, timeout=plazo)
    except Exception as exc:  # every connection busy
        resultado.append(exc)
        return
    try:
        usar(conexion)
    except Exception as exc:  # handed to the caller, which logs it
        conexion.close()
        resultado.append(exc)
    else:
        resultado.append(None)
    finally:
        conexion.release()


def tocar_broker(plazo: float = PLAZO_PUBLICACION) -> str | None:
    """Ask the broker for a round trip, as a publish reaches it, waiting at most ``plazo``.

    None when it answered; else a short reason (the error's class, or that it did not
    answer in time). Never raises and never waits longer than ``plazo``, whatever the broker
    does: the same pooled connections, socket timeouts and publishing threads as a publish.
    On Redis the round trip is a ``PING``; on other transports, opening the connection.
    With eager Celery there is no broker: None.
    """
    if en_el_acto():
        return None
    app = current_app._get_current_object()
    resultado: list[BaseException | None] = []
    colgado = _emisores.ejecutar(partial(_tocar_en_hilo, app, resultado, plazo), plazo)
    if colgado is not None:
        return f"sin respuesta en {plazo:g} s"
    if resultado != [None]:
        return type(resultado[0]).__name__ if resultado else "sin respuesta"
    return None


def publicaciones_en_pausa() -> bool:
    """True while this process skips publishing after a failed publish (for ``PAUSA`` s)."""
    return _broker.caido()


def _tocar_en_hilo(app, resultado: list, plazo: float) -> None:
    _con_conexion(app, plazo, _tocar, resultado)


def _tocar(conexion) -> None:
    canal = conexion.default_channel  # connects, without retries (_OPCIONES_CONEXION)
    cliente = getattr(canal, "client", None)  # kombu's Redis channel: a redis client
    if callable(getattr(cliente, "ping", None)):
        cliente.ping()


_pools: dict[tuple, object] = {}
_pools_lock = threading.Lock()


def _conexiones(app):
    """This process's pool of bounded connections to ``app``'s broker (created on first use).

    Keyed by pid (a forked ERP worker must not share sockets with its parent) and broker
    URL; a cached connection costs a fraction of a millisecond per publish, a new one ~10 ms.
    """
    clave = (os.getpid(), id(app), str(app.conf.broker_write_url))
    with _pools_lock:
        if clave not in _pools:
            conexion = app.connection_for_write(
                transport_options=_OPCIONES_CONEXION, connect_timeout=PLAZO_PUBLICACION
            )
            _pools[clave] = conexion.Pool(limit=app.conf.broker_pool_limit or 10)
        return _pools[clave]


def _cola() -> dict[str, str]:
    cola = get_settings().TASK_QUEUE
    return {"queue": cola} if cola else {}


class _Interruptor:
    """After a failed publish, skip publishing for a while in this process.

    A broker that is down or silent costs one ``PLAZO_PUBLICACION`` per ``PAUSA`` instead of
    one per ERP request; and while a publish that outlived its deadline is still running,
    no other one starts, so a hung broker never piles up threads or connections.
    """

    PAUSA = 30.0

    def __init__(self) -> None:
        self._hasta = 0.0
        self._colgado: threading.Event | None = None  # set when the hung publish ends

    def caido(self) -> bool:
        if self._colgado is not None and not self._colgado.is_set():
            return True
        return time.monotonic() < self._hasta

    def fallo(self, colgado: threading.Event | None = None) -> None:
        self._hasta = time.monotonic() + self.PAUSA
        if colgado is not None:
            self._colgado = colgado

    def reiniciar(self) -> None:
        self._hasta = 0.0
        self._colgado = None


_broker = _Interruptor()


@shared_task(name="whatsapp_notify.enviar", ignore_result=True)
def enviar_envio(envio_id: int) -> str:
    """Deliver an envío and, with a real worker, a batch of its account's due envíos."""
    from .outbound import delivery

    lote = delivery.entregar_lote(envio_id, limite=_tamano_de_lote())
    _seguir(lote)
    intento = lote.intentos.get(envio_id, delivery.Intento(delivery.Resultado.IGNORADO))
    return intento.resultado.value


@shared_task(name="whatsapp_notify.enviar_cuenta", ignore_result=True)
def enviar_cuenta(cuenta: str) -> int:
    """Deliver a batch of an account's due envíos; returns how many it took."""
    from .outbound import delivery

    lote = delivery.entregar_lote(cuenta=cuenta, limite=_tamano_de_lote())
    _seguir(lote)
    return len(lote.intentos)


def en_el_acto() -> bool:
    """True when Celery runs tasks in the caller's process (eager: development, tests)."""
    return bool(current_app.conf.task_always_eager)


def _tamano_de_lote() -> int:
    # Eager Celery runs the task inside the ERP's call: there it sends that envío only.
    return 1 if en_el_acto() else get_settings().DELIVERY_BATCH


def _seguir(lote) -> None:
    """Schedule what a batch left to do: retries, the envíos the rate limit held back, and
    (the batch was full) the next batch of its account."""
    from .outbound.delivery import Resultado

    # Eager Celery would run a batch asked for later right now: there each envío waits
    # on its own (encolar leaves it to Beat).
    en_lote = not en_el_acto() and lote.reanudar_en is not None
    for envio_id, intento in lote.intentos.items():
        aplazado = en_lote and intento.proximo_intento == lote.reanudar_en
        if intento.resultado == Resultado.REINTENTO and intento.proximo_intento and not aplazado:
            encolar(envio_id, eta=intento.proximo_intento)
    if en_lote:
        pedir_lote(lote.cuenta, eta=lote.reanudar_en)
    elif lote.lleno:
        pedir_lote(lote.cuenta)


def pedir_lote(cuenta: str, eta: datetime | None = None) -> bool:
    """Ask a worker for a batch of ``cuenta``'s due envíos (at ``eta``); never raises."""
    return _publicar(enviar_cuenta, (cuenta,), eta=eta, **_cola())


@shared_task(name="whatsapp_notify.despachar", ignore_result=True)
def despachar() -> int:
    """Dispatch due envíos whose task was lost (broker down, worker killed), in batches."""
    from .outbound import delivery

    if en_el_acto():
        ids = delivery.envios_por_despachar()
        for envio_id in ids:
            encolar(envio_id)
        total = len(ids)
    else:
        cuentas = delivery.cuentas_por_despachar()
        lote = get_settings().DELIVERY_BATCH
        for cuenta, cuantos in cuentas.items():
            # Each batch asks for the next while it finds its account's envíos due: a few
            # chains drain any backlog, at the pace the rate limit allows.
            for _ in range(min(CADENAS_POR_CUENTA, -(-cuantos // lote))):
                pedir_lote(cuenta)
        total = sum(cuentas.values())
    if total:
        logger.info("Re-despachados %s envíos de WhatsApp", total)
    return total


#: Batches Beat asks for at once per account with a backlog (each one asks for the next).
CADENAS_POR_CUENTA = 8


@shared_task(name="whatsapp_notify.comprobar_cuentas", ignore_result=True)
def comprobar_cuentas() -> list[str]:
    """Probe paused accounts; resumed ones get their waiting envíos dispatched."""
    from .outbound import delivery

    reanudadas = delivery.comprobar_cuentas_pausadas()
    if reanudadas:
        despachar()
    return reanudadas


@shared_task(name="whatsapp_notify.procesar_webhook", ignore_result=True)
def procesar_webhook(evento_id: int) -> bool:
    """Apply a stored webhook body (``EventoWebhook``) and the others waiting with it
    (``store.procesar_lote``); False when it was already done."""
    from .inbound import store

    return bool(store.procesar_lote(evento_id))


@shared_task(name="whatsapp_notify.marcar_leido", ignore_result=True)
def marcar_leido(mensaje_id: int) -> bool:
    """Blue ticks on an inbound message (``inbound.leidos.marcar_leido``)."""
    from .inbound import leidos

    return leidos.aplicar(mensaje_id)


@shared_task(name="whatsapp_notify.escribiendo", ignore_result=True)
def escribiendo(mensaje_id: int) -> bool:
    """Blue ticks and «escribiendo…» on an inbound message (``marcar_leido(escribiendo=True)``)."""
    from .inbound import leidos

    return leidos.aplicar(mensaje_id, escribiendo=True)


@shared_task(name="whatsapp_notify.responder", ignore_result=True)
def responder(mensaje_id: int) -> str:
    """Run the reply handler (``respuesta``) that matches an inbound message, once."""
    from .inbound import handlers
    from .outbound.outbox import registrar

    return handlers.atender(mensaje_id, registrar)


@shared_task(name="whatsapp_notify.descargar_media", ignore_result=True)
def descargar_media(mensaje_id: int) -> str:
    """Store the file of an inbound message (``MEDIA_DOWNLOAD``), once."""
    from .inbound import media

    return media.descargar_pendiente(mensaje_id)


@shared_task(name="whatsapp_notify.consultar_precio", ignore_result=True)
def consultar_precio(envio_id: int, intento: int = 1) -> str:
    """Record what the provider charged for a delivered envío, asking again a few times
    while it has not priced it yet (``costs.registrar_precio_reportado``)."""
    from . import costs

    resultado = costs.registrar_precio_reportado(envio_id)
    if resultado == costs.PENDIENTE and intento < costs.INTENTOS_PRECIO:
        espera = costs.ESPERA_PRECIO * intento
        _publicar(consultar_precio, (envio_id, intento + 1), countdown=espera, **_cola())
    return resultado


@shared_task(name="whatsapp_notify.atender_pendientes", ignore_result=True)
def atender_pendientes() -> int:
    """Hand out again inbound messages whose handler task was lost (still pendiente), and
    give back to the bot the conversations an agent left for ``HANDOFF_TIMEOUT``, and hand
    out the downloads due again."""
    from .inbound import handlers, handoff, media

    pendientes = handlers.por_atender()
    for mensaje_id in pendientes:
        publicar_respuesta(mensaje_id)
    if pendientes:
        logger.info("%s mensajes entrantes sin atender, encolados de nuevo", len(pendientes))
    if liberadas := handoff.liberar_vencidas():
        logger.info("%s conversaciones sin respuesta del agente vuelven al bot", liberadas)
    for mensaje_id in (descargas := media.por_descargar()):
        publicar_descarga(mensaje_id)
    if descargas:
        logger.info("%s archivos recibidos por descargar, encolados de nuevo", len(descargas))
    return len(pendientes)


@shared_task(name="whatsapp_notify.reprocesar_webhooks", ignore_result=True)
def reprocesar_webhooks() -> int:
    """Apply webhook bodies left unprocessed for over a minute (their task was lost)."""
    from .inbound import store

    procesados = sum(map(store.procesar_evento_webhook, store.eventos_por_reprocesar()))
    if procesados:
        logger.info("Procesados %s eventos de webhook pendientes", procesados)
    return procesados


@shared_task(name="whatsapp_notify.purgar", ignore_result=True)
def purgar() -> dict[str, int]:
    """Delete envíos, webhook bodies, messages and files older than ``RETENTION_DAYS``."""
    from .outbound import maintenance

    return maintenance.purgar()._asdict()


@shared_task(name="whatsapp_notify.alerta_fallos", ignore_result=True)
def alerta_fallos() -> bool:
    """E-mail the admins (once per ``FAILURE_WINDOW``) when too many envíos failed."""
    from .outbound import maintenance

    return maintenance.alertar_fallos()
