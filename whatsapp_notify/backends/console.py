"""A development backend: prints each message to a stream (stdout) instead of sending it."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any, TextIO

from ..messages import Documento, Salida
from ..phones import mask
from .base import Option, Resultado
from .locmem import LocmemBackend


class ConsoleBackend(LocmemBackend):
    """Writes a readable line per message; the document bytes are summarised, not printed."""

    OPTIONS = {
        **LocmemBackend.OPTIONS,
        "STREAM": Option(default=None, help="Objeto archivo; por omisión sys.stdout."),
    }

    def deliver(self, salida: Salida, payload: Any) -> Resultado:
        resultado = super().deliver(salida, payload)
        stream: TextIO = self.options["STREAM"] or sys.stdout
        stream.write(
            f"[whatsapp:{self.alias}] {resultado.id} → {mask(salida.telefono)} "
            f"{type(payload).__name__} {json.dumps(_describir(payload), ensure_ascii=False)}\n"
        )
        stream.flush()
        return resultado


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
