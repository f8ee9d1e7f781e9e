"""Several numbers at once: two accounts at Meta's 80/s each, 200 ms of API latency.

The README's advice for several numbers is one worker process per account that sends a
campaign at the same time. This records N envíos for each of two accounts (``default`` and
``segunda``, two numbers on the same stub) in one transaction, interleaved, and measures at
the stub the combined rate, with the worker at one process and at its default (one per
core, 2 here). Needs PostgreSQL and Redis; see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics

from bench import resumen
from bench.bench_entrega import _entorno, nosotros, preparar_base, stub, worker

CUENTAS = ("default", "segunda")


def main() -> None:
    parser = argparse.ArgumentParser(description="Two numbers at 80/s each.")
    parser.add_argument("--repeticiones", type=int, default=3)
    parser.add_argument("--n", type=int, default=800, help="envíos per account")
    args = parser.parse_args()
    preparar_base()
    import bench.celery_app  # noqa: F401  (this process publishes to the bench's broker)

    filas = []
    with stub(0.2) as url:
        entorno = _entorno(BENCH_GRAPH_URL=url, BENCH_RATE_LIMIT="80/s")
        os.environ.update(entorno)
        for procesos in ("1", None):
            opciones = ("--concurrency", procesos) if procesos else ()
            with worker(entorno, *opciones):
                medidas = [nosotros(url, args.n, CUENTAS) for _ in range(args.repeticiones)]
            ritmo = statistics.median(m[0] for m in medidas)
            pico = max(m[1] for m in medidas)
            filas.append((procesos or "por omisión (2)", ritmo, pico))
    print()
    print(f"{'procesos del worker':<22} {'envíos/s (2 números)':>21} {'pico 1 s':>9}  límite")
    for procesos, ritmo, pico in filas:
        print(f"{procesos:<22} {ritmo:>21.0f} {pico:>9}  2 × 80/s = 160/s")
    resumen.entregar([
        resumen.Fila(
            f"2 números a 80/s, worker {procesos}", f"{ritmo:.0f}/s, pico {pico}",
            "límite 2 × 80/s = 160/s", ritmo / 160, "", None,
        )
        for procesos, ritmo, pico in filas
    ])  # fmt: skip


if __name__ == "__main__":
    main()
