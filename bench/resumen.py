"""The rows every benchmark hands to ``python -m bench`` for its one table of ratios.

Each benchmark prints its own table and, when ``BENCH_FILAS`` names a file (the runner sets
it), appends its rows there as JSON lines; the runner reads them back and prints them all
together, so that one run ends in one table.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Fila:
    """One measured figure: ours, what it is compared with, their ratio and the goal."""

    medida: str  # the benchmark and its scenario
    nosotros: str  # our figure, with its unit
    par: str  # the peer or the reference measured in the same run, with its figure
    ratio: float | None  # ours over the peer's (None: no peer, a bound instead)
    meta: str  # the goal, in words
    ok: bool | None  # the goal met (None: no goal for this row)


def entregar(filas: list[Fila]) -> list[Fila]:
    """Append ``filas`` to ``$BENCH_FILAS`` when the runner asked for them; return them."""
    if destino := os.environ.get("BENCH_FILAS"):
        with open(destino, "a", encoding="utf-8") as archivo:
            for fila in filas:
                archivo.write(json.dumps(asdict(fila), ensure_ascii=False) + "\n")
    return filas


def leer(origen: str) -> list[Fila]:
    if not os.path.exists(origen):
        return []
    with open(origen, encoding="utf-8") as archivo:
        return [Fila(**json.loads(linea)) for linea in archivo if linea.strip()]


def imprimir(filas: list[Fila]) -> None:
    anchos = [
        max([len(titulo)] + [len(valor) for valor in columna])
        for titulo, columna in zip(
            TITULOS,
            zip(*(_celdas(fila) for fila in filas), strict=True) if filas else [[]] * 6,
            strict=True,
        )
    ]
    print("  ".join(titulo.ljust(ancho) for titulo, ancho in zip(TITULOS, anchos, strict=True)))
    for fila in filas:
        celdas = _celdas(fila)
        print("  ".join(celda.ljust(ancho) for celda, ancho in zip(celdas, anchos, strict=True)))


TITULOS = ("medida", "whatsapp_notify", "par / referencia", "ratio", "meta", "")


def _celdas(fila: Fila) -> tuple[str, ...]:
    ratio = "" if fila.ratio is None else f"{fila.ratio:.2f}x"
    veredicto = {True: "ok", False: "NO", None: ""}[fila.ok]
    return (fila.medida, fila.nosotros, fila.par, ratio, fila.meta, veredicto)
