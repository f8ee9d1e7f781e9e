"""A test backend whose answers are scripted: it tests delivery logic without a provider.

Each ``deliver()`` pops the next outcome from :data:`guion`: ``"ok"`` (accepted), an
exception instance from ``whatsapp_notify.exceptions`` (raised), or a callable taking the
``Salida`` and returning one of those (to act, e.g. as a second worker, mid-request).
An empty script means ``"ok"``. :data:`verificaciones` scripts ``verify_credentials()``
the same way. Every call is recorded in :data:`llamadas`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from whatsapp_notify.backends.base import Option, PassThroughBackend, Resultado
from whatsapp_notify.messages import Salida

Paso = str | Exception | Callable[[Salida], Any]

#: Outcomes of the next ``deliver()`` calls, in order.
guion: list[Paso] = []
#: Outcomes of the next ``verify_credentials()`` calls.
verificaciones: list[Paso] = []
#: Every ``deliver()`` call, oldest first.
llamadas: list[Llamada] = []

_contador = itertools.count(1)
_lock = threading.Lock()


@dataclass(frozen=True)
class Llamada:
    """One ``deliver()`` call."""

    cuenta: str
    telefono: str
    referencia: str
    contenido: Any


class ScriptedBackend(PassThroughBackend):
    """Pass-through payloads (the value objects), with scripted outcomes and no outbox."""

    OPTIONS = {
        "WA_ID": Option(default="", help="wa_id que se devuelve (por omisión, el teléfono)."),
        "PAUSA": Option(default=0.0, help="Segundos que tarda cada deliver()."),
        "TOKEN": Option(default="", secret=True, help="Credencial ficticia."),
    }

    def deliver(self, salida: Salida, payload: Any) -> Resultado:
        with _lock:
            llamadas.append(Llamada(self.alias, salida.telefono, salida.referencia, payload))
            resultado = guion.pop(0) if guion else "ok"
        if self.options["PAUSA"]:
            time.sleep(self.options["PAUSA"])
        _aplicar(resultado, salida)
        return Resultado(
            id=f"wamid.scripted.{next(_contador)}", wa_id=self.options["WA_ID"] or salida.telefono
        )

    def verify_credentials(self) -> str:
        with _lock:
            resultado = verificaciones.pop(0) if verificaciones else "ok"
        _aplicar(resultado, None)
        return "ScriptedBackend"


def _aplicar(resultado: Paso, salida: Salida | None) -> None:
    if callable(resultado) and not isinstance(resultado, Exception):
        resultado = resultado(salida)
    if isinstance(resultado, Exception):
        raise resultado
    if resultado not in ("ok", None):
        raise ValueError(f"Resultado de guion desconocido: {resultado!r}")


def reset() -> None:
    """Forget the script and the recorded calls."""
    with _lock:
        guion.clear()
        verificaciones.clear()
        llamadas.clear()
