"""A token bucket shared by all workers (Redis), with an in-process fallback.

``tomar(clave)`` takes one token and returns 0, or returns how many seconds to wait
until one is available (taking nothing). ``reservar(clave, hasta=s)`` also takes the next
token when it comes within ``s`` seconds: the caller waits that long and then sends,
without asking again. A sender that reserves its next turn while the previous one is
still coming keeps the account at its rate; one that asks only when it is free loses,
every time, the moment it wakes up late, since the bucket (one token) cannot save it.
Meta's default is 80 messages per second per business number. The bucket holds a single
token: sends are spaced ``1/rate`` apart, so no one-second window sees more than the
rate (a bucket of one second's worth would let a full burst and a second's refill
through in the same second).

The shared bucket reads the time from Redis itself, never from the caller: workers whose
clocks disagree share one timeline, and the bucket's stamp never moves back.

``frenar(clave, segundos)`` holds a bucket: no token is given until then, to any worker.
A provider that answers "too fast" (Meta's 130429) slows the whole account, not the one
request that heard it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from ..conf import get_settings, parse_rate
from ..exceptions import MissingDependencyError

logger = logging.getLogger(__name__)

AVISO_CADA = 60.0  # seconds between two "Redis unreachable" warnings
CAPACIDAD = 1.0  # tokens the bucket holds: no burst above the rate
# How late, in seconds, a send may leave after its turn without any one-second window
# seeing more than the rate (see ``ritmo``). Without it, a send that left a few
# milliseconds late beside one on time put rate + 1 in the second between them.
HOLGURA = 0.025

# KEYS[1] bucket; ARGV: rate per second, capacity, now ("" = Redis's own clock), and the
# longest wait for which the next token is reserved. Returns {1, seconds} when a token was
# taken (its turn comes after those seconds, 0: now), else {0, seconds to wait}, the
# seconds as a string. A reserved token leaves the bucket below zero: the next caller's
# turn is one 1/rate later. The stamp is written with microseconds: tostring() keeps only
# 14 digits, 10 ms of a Unix time. Field h: the bucket is held (frenar) until that time.
_AHORA = """
local now
if ARGV[3] ~= '' then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""
_LUA = (
    """
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
"""
    + _AHORA
    + """
local held = tonumber(redis.call('HGET', KEYS[1], 'h'))
if held ~= nil and now < held then return {0, tostring(held - now)} end
local tokens = tonumber(redis.call('HGET', KEYS[1], 't'))
local stamp = tonumber(redis.call('HGET', KEYS[1], 's'))
if tokens == nil then tokens = capacity; stamp = now end
if now < stamp then now = stamp end
tokens = math.min(capacity, tokens + (now - stamp) * rate)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate end
local taken = 0
if wait <= tonumber(ARGV[4]) then tokens = tokens - 1; taken = 1 end
redis.call('HSET', KEYS[1], 't', string.format('%.9f', tokens), 's', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], math.ceil((capacity + 1) / rate + tonumber(ARGV[4])) + 60)
return {taken, tostring(wait)}
"""
)
# KEYS[1] bucket; ARGV: seconds to hold it, unused, now ("" = Redis's own clock). A hold
# only ever lengthens: two workers braking at once keep the later end.
_FRENAR = (
    """
local seconds = tonumber(ARGV[1])
"""
    + _AHORA
    + """
local held = tonumber(redis.call('HGET', KEYS[1], 'h'))
if held == nil or held < now + seconds then
  redis.call('HSET', KEYS[1], 'h', string.format('%.6f', now + seconds))
end
if redis.call('TTL', KEYS[1]) < math.ceil(seconds) + 60 then
  redis.call('EXPIRE', KEYS[1], math.ceil(seconds) + 60)
end
return 'ok'
"""
)


class Turno(NamedTuple):
    """A caller's turn: its token is ``tomado`` and it sends after ``espera`` seconds, or
    nothing was taken and one may come after ``espera`` seconds."""

    espera: float
    tomado: bool


@dataclass
class LocalBucket:
    """The same algorithm in memory, for one process (no Redis configured or reachable)."""

    rate: float
    capacity: float
    tokens: float | None = None  # None: new, full; below zero: turns already reserved
    stamp: float = 0.0
    hasta: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def frenar(self, ahora: float, segundos: float) -> None:
        with self.lock:
            self.hasta = max(self.hasta, ahora + segundos)

    def tomar(self, ahora: float) -> float:
        return self.reservar(ahora, 0.0).espera

    def reservar(self, ahora: float, hasta: float) -> Turno:
        with self.lock:
            if ahora < self.hasta:
                return Turno(self.hasta - ahora, tomado=False)
            if self.tokens is None:
                self.tokens, self.stamp = self.capacity, ahora
            ahora = max(ahora, self.stamp)  # a clock that steps back gives nothing away
            self.tokens = min(self.capacity, self.tokens + (ahora - self.stamp) * self.rate)
            self.stamp = ahora
            espera = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
            if espera > hasta:
                return Turno(espera, tomado=False)
            self.tokens -= 1
            return Turno(espera, tomado=True)


def ritmo(rate: float) -> float:
    """The rate turns are given at for a limit of ``rate`` per second.

    Turns are spaced ``1/rate`` plus ``HOLGURA`` of each second they span (at most a
    second): 80/s is paced at 78/s, so 80 turns take 1.025 s and a send up to 25 ms late
    never makes 81 in one second; 1/m at one per 60.025 s. Measured at 200 ms of API
    latency, a send reached the API up to ~30 ms after its turn (the handoff to the HTTP
    thread, a busy core); with 10 ms, 81 arrived in one second.
    """
    intervalo = 1 / rate
    return 1 / (intervalo + HOLGURA * min(intervalo, 1.0))


def por_segundo(tasa: str | None) -> float | None:
    """Messages per second of a key: its own ``tasa`` (``"40/h"``), else ``RATE_LIMIT``;
    None when there is no limit."""
    return parse_rate(tasa) if tasa else get_settings().rate_per_second


class RateLimiter:
    """Token buckets by key (one per account), in Redis when ``REDIS_URL`` is set."""

    def __init__(self) -> None:
        self._local: dict[tuple[str, float], LocalBucket] = {}
        self._sin_tasa: dict[str, float] = {}  # holds of keys without a rate, per process
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()
        self._avisado = -AVISO_CADA

    def tomar(self, clave: str, ahora: float | None = None, *, tasa: str | None = None) -> float:
        """Take a token for ``clave``; return 0, or the seconds to wait for one.

        ``tasa`` (``"40/h"``) is this key's own rate; None: the global ``RATE_LIMIT``.
        ``ahora`` replaces the clock (tests): by default the shared bucket uses Redis's
        time and the local one this process's monotonic clock.
        """
        return self.reservar(clave, ahora, tasa=tasa).espera

    def reservar(
        self, clave: str, ahora: float | None = None, *, tasa: str | None = None, hasta: float = 0.0
    ) -> Turno:
        """Take ``clave``'s next token if its turn comes within ``hasta`` seconds.

        Returns the :class:`Turno`: taken, with the seconds until it (0: now), or not
        taken, with the seconds to wait (longer than ``hasta``, or the bucket is held). A
        taken turn is the caller's: it sends when the turn comes, without asking again;
        one it does not use is lost. ``tasa`` and ``ahora``: see :meth:`tomar`.
        """
        rate = por_segundo(tasa)
        if not rate:  # no limit: only a hold of this process (see frenar) makes it wait
            hasta_sin_tasa = self._sin_tasa.get(clave, 0.0)
            ahora = time.monotonic() if ahora is None else ahora
            espera = max(0.0, hasta_sin_tasa - ahora)
            return Turno(espera, tomado=espera == 0.0)
        if get_settings().REDIS_URL:
            try:
                cliente = self._redis()
                momento = "" if ahora is None else repr(float(ahora))
                clave_redis = f"whatsapp_notify:rl:{clave}"
                tomado, espera = cliente.eval(
                    _LUA, 1, clave_redis, ritmo(rate), CAPACIDAD, momento, repr(float(hasta))
                )
                return Turno(float(espera), tomado=bool(int(tomado)))
            except Exception as exc:  # Redis down (or not installed): a per-process bucket
                self._avisar(exc)
        ahora = time.monotonic() if ahora is None else ahora
        return self._bucket(clave, rate, CAPACIDAD).reservar(ahora, hasta)

    def frenar(
        self, clave: str, segundos: float, ahora: float | None = None, *, tasa: str | None = None
    ) -> None:
        """Give no token for ``clave`` for ``segundos``, to any worker (shared in Redis).

        Never raises: Redis down holds this process's bucket only, and so does an account
        with no rate limit (its sends never ask Redis).
        """
        rate = por_segundo(tasa)
        if not rate:
            ahora = time.monotonic() if ahora is None else ahora
            with self._lock:
                self._sin_tasa[clave] = max(self._sin_tasa.get(clave, 0.0), ahora + segundos)
            return
        if get_settings().REDIS_URL:
            try:
                momento = "" if ahora is None else repr(float(ahora))
                clave_redis = f"whatsapp_notify:rl:{clave}"
                self._redis().eval(_FRENAR, 1, clave_redis, segundos, "", momento)
                return
            except Exception as exc:
                self._avisar(exc)
        ahora = time.monotonic() if ahora is None else ahora
        self._bucket(clave, rate, CAPACIDAD).frenar(ahora, segundos)

    def reiniciar(self) -> None:
        """Forget this process's buckets and holds (tests; the shared ones live in Redis)."""
        with self._lock:
            self._local.clear()
            self._sin_tasa.clear()

    def _avisar(self, exc: Exception) -> None:
        # Once a minute, not once per message, while Redis stays unreachable.
        ahora = time.monotonic()
        if ahora - self._avisado >= AVISO_CADA:
            self._avisado = ahora
            logger.warning("Límite de envío sin Redis (%s); se usa el límite local.", exc)

    def _bucket(self, clave: str, rate: float, capacity: float) -> LocalBucket:
        """This process's bucket of ``clave`` at ``rate``, its turns spaced as in Redis."""
        with self._lock:
            if (clave, rate) not in self._local:
                self._local[clave, rate] = LocalBucket(ritmo(rate), capacity)
            return self._local[clave, rate]

    def _redis(self):
        url = get_settings().REDIS_URL
        with self._lock:
            if url not in self._clients:
                try:
                    import redis
                except ImportError:  # REDIS_URL set, extra not installed: say which one
                    raise MissingDependencyError("redis", "redis") from None

                self._clients[url] = redis.Redis.from_url(
                    url, socket_timeout=2, socket_connect_timeout=2
                )
            return self._clients[url]


limiter = RateLimiter()
