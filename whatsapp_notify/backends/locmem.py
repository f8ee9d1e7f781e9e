"""A backend for tests: messages are kept in ``outbox`` and nothing leaves the process.

It runs the real pipeline (outbox, task, claim, delivery, state changes); only the
provider call is replaced. ``whatsapp_notify.testing`` has helpers on top of it.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from ..messages import Salida
from .base import Option, PassThroughBackend, Resultado

#: Every message "sent" through a LocmemBackend, oldest first.
outbox: list[SentMessage] = []
_counter = itertools.count(1)
# wamid is unique in the database: a per-process token keeps ids of a restarted process
# (runserver, the demo run twice on the same SQLite file) from colliding with earlier ones.
_PROCESO = uuid.uuid4().hex[:8]
_lock = threading.Lock()


@dataclass(frozen=True)
class SentMessage:
    """One message the locmem backend accepted."""

    cuenta: str
    telefono: str
    contenido: Any
    referencia: str
    wamid: str


class LocmemBackend(PassThroughBackend):
    """Keeps every message, value object included, in :data:`outbox` until :func:`clear`."""

    OPTIONS = {
        "WA_ID_PREFIX": Option(default="", help=_("Prefijo para simular un wa_id distinto."))
    }

    def deliver(self, salida: Salida, payload: Any) -> Resultado:
        with _lock:
            wamid = f"wamid.locmem.{_PROCESO}.{next(_counter)}"
            outbox.append(
                SentMessage(self.alias, salida.telefono, payload, salida.referencia, wamid)
            )
        return Resultado(id=wamid, wa_id=self.options["WA_ID_PREFIX"] + salida.telefono)


def clear() -> None:
    """Empty the outbox."""
    with _lock:
        outbox.clear()
