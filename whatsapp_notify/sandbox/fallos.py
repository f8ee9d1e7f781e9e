"""Faults the sandbox injects into sends, and the Graph error bodies it answers with.

A send (``POST /messages``) first takes the next step of :attr:`Fallos.guion`, if any;
otherwise each share is drawn in turn (5xx, timeout, each Graph error), and an accepted
send ends ``failed`` with the :attr:`Fallos.fallidos` share. HTTP statuses follow the
Cloud API error code table (reference ``cloud_api.md`` §6.2).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from typing import Any

#: Steps of a script: a Graph error code (int) or one of these words.
OK = "ok"  # accepted, then sent -> delivered -> read
FALLO_5XX = "5xx"  # HTTP 503 with Graph code 2, is_transient
TIMEOUT = "timeout"  # accepted, but the answer comes after ``espera_timeout`` seconds
FALLIDO = "fallido"  # accepted, then sent -> failed with ``codigo_fallido``
PASOS = frozenset({OK, FALLO_5XX, TIMEOUT, FALLIDO})

Paso = str | int


@dataclass(frozen=True)
class ErrorGraph:
    """How the Cloud API answers one error code."""

    http: int
    titulo: str
    detalle: str


# Codes the sandbox knows how to answer like Meta; others get HTTP 400 and a generic text.
ERRORES: dict[int, ErrorGraph] = {
    2: ErrorGraph(503, "Service temporarily unavailable", "Temporary downtime, try later."),
    100: ErrorGraph(400, "Invalid parameter", "A parameter is invalid."),
    131000: ErrorGraph(500, "Something went wrong", "Unknown error, try later."),
    131016: ErrorGraph(503, "Service unavailable", "A service is temporarily unavailable."),
    130429: ErrorGraph(
        400, "Rate limit hit", "Too many messages sent from this phone number too quickly."
    ),
    131026: ErrorGraph(400, "Message undeliverable", "The recipient cannot receive this message."),
    131047: ErrorGraph(
        400,
        "Re-engagement message",
        "More than 24 hours have passed since the recipient last replied.",
    ),
    131056: ErrorGraph(
        400,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages to the same recipient in a short time.",
    ),
    0: ErrorGraph(401, "AuthException", "The access token could not be used."),
    190: ErrorGraph(401, "Error validating access token: Session has expired", ""),
    10: ErrorGraph(403, "Permission denied", "The token lacks a permission."),
}


@dataclass
class Fallos:
    """What goes wrong, and how often (shares from 0 to 1). Mutable while running.

    Attributes:
        latencia: seconds added before every answer.
        errores_5xx: share of sends answered HTTP 503 (Graph code 2, transient).
        timeouts: share of sends accepted but answered after ``espera_timeout`` seconds,
            like a reply lost on the way back: the client times out, the message goes out.
        espera_timeout: how late a timed-out answer is (longer than the client's timeout).
        errores: Graph code -> share of sends refused with it (``{130429: 0.1}``).
        fallidos: share of accepted sends whose status ends ``failed`` after ``sent``.
        codigo_fallido: the error code of those ``failed`` statuses.
        guion: steps for the next sends, taken one per send before any share applies
            (``["5xx", "ok"]``, ``[190]``, ``["timeout"]``, ``["fallido"]``);
            :meth:`rafaga` appends a burst of one step (``rafaga(130429, 20)``).
        semilla: seed of the draws, for repeatable runs.
    """

    latencia: float = 0.0
    errores_5xx: float = 0.0
    timeouts: float = 0.0
    espera_timeout: float = 30.0
    errores: dict[int, float] = field(default_factory=dict)
    fallidos: float = 0.0
    codigo_fallido: int = 131026
    guion: list[Paso] = field(default_factory=list)
    semilla: int | None = None

    def __post_init__(self) -> None:
        for nombre in ("errores_5xx", "timeouts", "fallidos"):
            revisar_proporcion(nombre, getattr(self, nombre))
        for codigo, proporcion in self.errores.items():
            revisar_proporcion(f"errores[{codigo}]", proporcion)
        if self.latencia < 0 or self.espera_timeout < 0:
            raise ValueError("latencia y espera_timeout son segundos, no negativos.")
        for paso in self.guion:
            revisar_paso(paso)
        self._azar = random.Random(self.semilla)

    def programar(self, *pasos: Paso) -> None:
        """Append steps to the script (``fallos.programar("5xx", "ok")``)."""
        for paso in pasos:
            revisar_paso(paso)
        self.guion.extend(pasos)

    def rafaga(self, paso: Paso, veces: int) -> None:
        """Append ``veces`` copies of ``paso``: the next ``veces`` sends all get it, like a
        burst of 130429 when the number's throughput is exceeded."""
        if isinstance(veces, bool) or not isinstance(veces, int) or veces < 0:
            raise ValueError(f"veces es un número de envíos (entero >= 0), no {veces!r}.")
        self.programar(*[paso] * veces)

    def siguiente(self) -> Paso:
        """The fate of the next send (the caller holds the sandbox lock)."""
        if self.guion:
            return self.guion.pop(0)
        if self._sorteo(self.errores_5xx):
            return FALLO_5XX
        if self._sorteo(self.timeouts):
            return TIMEOUT
        for codigo, proporcion in self.errores.items():
            if self._sorteo(proporcion):
                return codigo
        return FALLIDO if self._sorteo(self.fallidos) else OK

    def _sorteo(self, proporcion: float) -> bool:
        return proporcion > 0 and self._azar.random() < proporcion


def revisar_proporcion(nombre: str, valor: float) -> None:
    """Raise ``ValueError`` unless ``valor`` is a share between 0 and 1."""
    if isinstance(valor, bool) or not isinstance(valor, int | float) or not 0 <= valor <= 1:
        raise ValueError(f"{nombre} debe ser una proporción entre 0 y 1, no {valor!r}.")


def revisar_paso(paso: Paso) -> None:
    """Raise ``ValueError`` unless ``paso`` is a Graph code or a known step word."""
    if isinstance(paso, int) and not isinstance(paso, bool):
        return
    if paso not in PASOS:
        opciones = ", ".join(sorted(PASOS))
        raise ValueError(f"Paso desconocido {paso!r}: usa un código de Graph o {opciones}.")


def error_graph(
    codigo: int, detalle: str = "", *, mensaje: str = "", http: int | None = None
) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, {"error": {...}})`` as the Cloud API answers ``codigo``.

    ``mensaje`` replaces the usual ``(#code) title``; ``http`` the status of the table.
    """
    conocido = ERRORES.get(codigo, ErrorGraph(400, f"Sandbox error {codigo}", ""))
    error: dict[str, Any] = {
        "message": mensaje or f"(#{codigo}) {conocido.titulo}",
        "type": "OAuthException",
        "code": codigo,
    }
    if detalle or conocido.detalle:
        datos = {"messaging_product": "whatsapp", "details": detalle or conocido.detalle}
        error["error_data"] = datos
    status = http or conocido.http
    if status >= 500:
        error["is_transient"] = True
    error["fbtrace_id"] = traza()
    return status, {"error": error}


def error_de_estado(codigo: int) -> dict[str, Any]:
    """One item of ``statuses[].errors`` for a ``failed`` status."""
    conocido = ERRORES.get(codigo, ErrorGraph(400, f"Sandbox error {codigo}", ""))
    return {
        "code": codigo,
        "title": conocido.titulo,
        "message": conocido.titulo,
        "error_data": {"details": conocido.detalle or conocido.titulo},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def traza() -> str:
    """A random ``fbtrace_id``."""
    return "A" + secrets.token_urlsafe(16)
