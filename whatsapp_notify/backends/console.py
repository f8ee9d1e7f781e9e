"""A development backend: prints each message to a stream (stdout) instead of sending it.

It keeps nothing: a long-running ``runserver`` or worker on it holds no message in memory
(the locmem backend is the one that records, for tests).
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import asdict
from typing import Any, TextIO

from django.utils.translation import gettext_lazy as _

from ..messages import Documento, Salida
from ..phones import mask
from .base import Option, PassThroughBackend, Resultado


def _revisar_stream(valor: Any) -> str | None:
    if callable(getattr(valor, "write", None)):
        return None
    return f"debe ser un archivo abierto en modo texto (con write()), no {type(valor).__name__}."


class ConsoleBackend(PassThroughBackend):
    """Writes a readable line per message; the document bytes are summarised, not printed."""

    OPTIONS = {
        "STREAM": Option(
            default=None, check=_revisar_stream, help=_("Objeto archivo; por omisión sys.stdout.")
        ),
    }

    def deliver(self, salida: Salida, payload: Any) -> Resultado:
        # wamid is unique in the database: a random id never collides with an earlier run's.
        wamid = f"wamid.console.{uuid.uuid4().hex}"
        stream: TextIO = self.options["STREAM"] or sys.stdout
        stream.write(
            f"[whatsapp:{self.alias}] {wamid} → {mask(salida.telefono)} "
            f"{type(payload).__name__} {json.dumps(_describir(payload), ensure_ascii=False)}\n"
        )
        stream.flush()
        return Resultado(id=wamid, wa_id=salida.telefono)


def _describir(payload: Any) -> dict[str, Any]:
    datos = asdict(payload)
    documento = getattr(payload, "documento", None)
    if isinstance(payload, Documento):
        documento = payload
    if documento is not None:
        resumen = f"<{len(documento.contenido)} bytes {documento.mime} {documento.nombre}>"
        if isinstance(payload, Documento):
            datos["contenido"] = resumen
        else:
            datos["documento"] = resumen
    return datos
