"""Run the benchmarks and print one table of ratios: ``python -m bench`` (``make bench``).

By default the quick set, a few minutes: each benchmark at a reduced size, one repetition
where it takes long. ``--completo`` runs them at the sizes ``bench/README.md`` reports.
Each one runs in its own process (they set Django up with different settings), prints its
own table as it goes, and hands its rows back through ``BENCH_FILAS`` (``bench.resumen``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import resumen

RAIZ = Path(__file__).resolve().parent.parent

# (module, arguments of the quick set); the complete set runs each with no arguments.
RAPIDO = [
    ("bench_entrega", ["--escala", "0.3", "--repeticiones", "1"]),
    ("bench_guardado", ["--n", "150", "--rondas", "3"]),
    ("bench_disparadores", ["--n", "500", "--repeticiones", "3"]),
    ("bench_webhooks", ["--escala", "0.3", "--repeticiones", "1"]),
    ("bench_webhook_http", ["--n", "600", "--repeticiones", "1"]),
    ("bench_barrido", ["--repeticiones", "5"]),
    ("bench_atraso", ["--n", "20000"]),
    ("bench_numeros", ["--n", "240", "--repeticiones", "1"]),
    ("bench_panel", ["--n", "200000", "--repeticiones", "3"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description="The benchmarks, and one table of ratios.")
    parser.add_argument("--completo", action="store_true", help="full sizes (~20 min)")
    parser.add_argument("--solo", nargs="*", help="module names (bench_entrega ...)")
    args = parser.parse_args()
    elegidos = [(m, a) for m, a in RAPIDO if not args.solo or m in args.solo]
    fallidos = []
    with tempfile.TemporaryDirectory() as carpeta:
        filas = os.path.join(carpeta, "filas.jsonl")
        entorno = {**os.environ, "BENCH_FILAS": filas, "PYTHONPATH": str(RAIZ)}
        inicio = time.monotonic()
        for modulo, rapido in elegidos:
            print(f"\n== {modulo} ==", flush=True)
            orden = [sys.executable, "-m", f"bench.{modulo}", *([] if args.completo else rapido)]
            if subprocess.run(orden, cwd=RAIZ, env=entorno).returncode != 0:
                fallidos.append(modulo)
        minutos = (time.monotonic() - inicio) / 60
        print(f"\n== resumen ({'completo' if args.completo else 'rápido'}, {minutos:.1f} min) ==")
        resumen.imprimir(resumen.leer(filas))
    if fallidos:
        raise SystemExit(f"Fallaron: {', '.join(fallidos)}")


if __name__ == "__main__":
    main()
