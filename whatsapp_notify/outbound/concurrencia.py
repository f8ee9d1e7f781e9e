"""Run a batch's provider calls concurrently: paced, bounded, and in order per recipient.

No models and no Django here: :func:`ejecutar` takes callables and hands each outcome
back to the calling thread, which does all the database work. Only the HTTP calls run on
the pool's threads, so a batch in flight holds one database connection, the caller's.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any


@dataclass
class Trabajo:
    """One call of a batch. Calls with the same ``clave`` run one after the other, in the
    order given (two messages to one phone arrive in the order they were asked for)."""

    clave: Hashable
    llamada: Callable[[], Any]
    dato: Any = None


@dataclass(frozen=True)
class Alto:
    """What :func:`ejecutar`'s ``al_terminar`` returns to stop calls not started yet:
    those of the same ``clave`` only, or (``todos``) every one. ``motivo`` is handed back
    with each call it stopped."""

    motivo: Any
    todos: bool = False


@dataclass(frozen=True)
class Espera:
    """The motive of calls stopped because the rate limit asked to wait too long."""

    segundos: float


class Interrumpido(Exception):
    """A callback of :func:`ejecutar` raised (its ``__cause__``): nothing more was started.

    ``terminados``: ``(trabajo, value, error)`` of every started call whose outcome its
    ``al_terminar`` did not take, the one it raised on included; each had finished when
    this was raised (no call is left running unseen). ``sin_iniciar``: the calls never
    started.
    """

    def __init__(
        self,
        terminados: list[tuple[Trabajo, Any, BaseException | None]],
        sin_iniciar: list[Trabajo],
    ):
        super().__init__(f"{len(terminados)} llamadas terminadas sin registrar")
        self.terminados = terminados
        self.sin_iniciar = sin_iniciar


def ejecutar(
    trabajos: list[Trabajo],
    *,
    simultaneos: int,
    turno: Callable[[], tuple[float, bool]],
    al_terminar: Callable[[Trabajo, Any, BaseException | None], Alto | None],
    espera_maxima: float,
    reponer: Callable[[], list[Trabajo]] | None = None,
    reserva: int | None = None,
    tarde: float = float("inf"),
) -> list[tuple[Trabajo, Any]]:
    """Run every call with at most ``simultaneos`` in flight; return those never started.

    Before each call ``turno()`` takes a rate-limit token: it returns ``(seconds,
    taken)``; a token taken with a wait is this call's turn, which comes after those seconds
    (spent collecting finished calls). Not taken, a wait up to ``espera_maxima`` is spent
    collecting finished calls before asking again, a longer one stops the calls left
    (motive :class:`Espera`). A reserved turn reached more than ``tarde`` seconds after it
    came is given up and another one asked for: a call started that late beside the next
    one on time could put more than the rate in one second. ``al_terminar(trabajo,
    value, error)`` runs in this thread as each call finishes; it may return an
    :class:`Alto`. ``reponer()``, when given, is asked for more calls whenever fewer than
    ``reserva`` (default ``simultaneos``) wait to start, until it returns none: the pool
    never drains between two batches. Returns ``(trabajo, motive)`` for every call not
    started. When ``turno``, ``reponer`` or ``al_terminar`` raises, the calls in flight are
    waited for and :class:`Interrumpido` is raised with what is left.
    """
    if simultaneos < 1:
        raise ValueError(f"simultaneos debe ser al menos 1, no {simultaneos!r}.")
    colas: dict[Hashable, deque[Trabajo]] = {}
    listas: deque[Hashable] = deque()  # claves with calls waiting and none in flight
    ocupadas: set[Hashable] = set()  # claves with a call in flight
    en_vuelo: dict[Future, Trabajo] = {}
    sin_iniciar: list[tuple[Trabajo, Any]] = []
    bloqueadas: dict[Hashable, Any] = {}  # claves an Alto stopped, with its motive
    esperando = 0  # calls not started yet
    parado = reponer is None
    reserva = simultaneos if reserva is None else reserva
    actual: list[tuple[Trabajo, Any, BaseException | None]] = []  # al_terminar running on

    def agregar(nuevos: list[Trabajo]) -> None:
        nonlocal esperando
        for trabajo in nuevos:
            if trabajo.clave in bloqueadas:
                sin_iniciar.append((trabajo, bloqueadas[trabajo.clave]))
                continue
            if trabajo.clave not in colas:
                colas[trabajo.clave] = deque()
                if trabajo.clave not in ocupadas:
                    listas.append(trabajo.clave)
            colas[trabajo.clave].append(trabajo)
            esperando += 1

    def detener(clave: Hashable, motivo: Any) -> None:
        nonlocal esperando
        for trabajo in colas.pop(clave, ()):
            sin_iniciar.append((trabajo, motivo))
            esperando -= 1

    def detener_todo(motivo: Any) -> None:
        nonlocal parado
        parado = True
        for clave in list(colas):
            detener(clave, motivo)
        listas.clear()

    def terminar(trabajo: Trabajo, valor: Any, error: BaseException | None) -> None:
        ocupadas.discard(trabajo.clave)
        actual[:] = [(trabajo, valor, error)]
        alto = al_terminar(trabajo, valor, error)
        actual.clear()
        if alto is not None and alto.todos:
            detener_todo(alto.motivo)
        elif alto is not None:
            bloqueadas[trabajo.clave] = alto.motivo
            detener(trabajo.clave, alto.motivo)
        elif colas.get(trabajo.clave):
            listas.append(trabajo.clave)
        else:
            colas.pop(trabajo.clave, None)

    def recoger(timeout: float | None) -> None:
        if not en_vuelo:
            if timeout:
                time.sleep(timeout)
            return
        hechos, _ = wait(en_vuelo, timeout=timeout, return_when=FIRST_COMPLETED)
        for futuro in hechos:
            trabajo = en_vuelo.pop(futuro)
            error = futuro.exception()
            terminar(trabajo, None if error else futuro.result(), error)

    agregar(trabajos)
    pool = _pool(simultaneos) if simultaneos > 1 and (len(trabajos) > 1 or reponer) else None

    def bucle() -> None:
        nonlocal esperando, parado
        while True:
            if not parado and esperando < reserva:
                nuevos = reponer()
                parado = not nuevos
                agregar(nuevos)
            if not listas and not en_vuelo:
                return
            if not listas or len(en_vuelo) >= simultaneos:
                recoger(None)
                continue
            espera, tomado = turno()
            if not tomado and espera > espera_maxima:
                detener_todo(Espera(espera))  # in flight or not: the rest of each waits
                continue
            if not tomado:
                recoger(espera)
                continue
            if espera:
                # The turn is ours: finished calls are collected until it comes, and then
                # a call starts without asking again.
                llega = time.monotonic() + espera
                while en_vuelo and (resto := llega - time.monotonic()) > 0:
                    recoger(resto)
                if (resto := llega - time.monotonic()) > 0:
                    time.sleep(resto)
                if not listas or len(en_vuelo) >= simultaneos:
                    continue  # an Alto stopped what would have used it: the turn is lost
                if time.monotonic() - llega > tarde:
                    continue  # reached too late, it could crowd the next turns: another one
            clave = listas.popleft()
            trabajo = colas[clave].popleft()
            esperando -= 1
            ocupadas.add(clave)
            if pool is None:
                try:
                    valor, error = trabajo.llamada(), None
                except Exception as exc:
                    valor, error = None, exc
                terminar(trabajo, valor, error)
            else:
                en_vuelo[pool.submit(trabajo.llamada)] = trabajo

    try:
        bucle()
    except Exception as exc:
        # Nothing more starts; the calls in flight finish (their HTTP timeouts bound them)
        # and go back with the rest, so the caller can still record what was sent.
        terminados = list(actual)
        if en_vuelo:
            wait(en_vuelo)
        for futuro, trabajo in en_vuelo.items():
            error = futuro.exception()
            terminados.append((trabajo, None if error else futuro.result(), error))
        no_iniciados = [t for cola in colas.values() for t in cola]
        no_iniciados += [t for t, _motivo in sin_iniciar]
        raise Interrumpido(terminados, no_iniciados) from exc
    return sin_iniciar


_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(hilos: int) -> ThreadPoolExecutor:
    """This process's pool of ``hilos`` threads (a forked worker builds its own)."""
    clave = (os.getpid(), hilos)
    with _pools_lock:
        if clave not in _pools:
            _pools[clave] = ThreadPoolExecutor(hilos, thread_name_prefix="whatsapp_notify-envio")
        return _pools[clave]
