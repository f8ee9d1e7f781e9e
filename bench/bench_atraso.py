"""A backlog of due envíos: how Beat and one worker drain it, and the worker's memory.

Puts N due ``pendiente`` envíos (100,000 by default) straight into PostgreSQL, as if the
broker had been down while an ERP recorded them, starts the bench stub (0 ms) and a worker
as the README says (prefork, one process per core), and runs Beat's
``whatsapp_notify.despachar`` once a minute from this process until every envío is
``enviado``. Prints how long the backlog took, its rate, that the stub got exactly N
requests, and the worker's resident memory (all its processes) at the start, at the peak
and at the end. Needs PostgreSQL and Redis; see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench import resumen
from bench.bench_barrido import llenar
from bench.bench_entrega import _entorno, preparar_base, reset, stats, stub, worker

BEAT_CADA = 60.0


def memoria_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (a prefork worker's processes), in MB."""
    total = 0
    for entrada in Path("/proc").iterdir():
        if not entrada.name.isdigit():
            continue
        try:
            campos = (entrada / "stat").read_text().rsplit(")", 1)[1].split()
            estado = (entrada / "status").read_text()
        except OSError:
            continue
        if int(entrada.name) == pid or int(campos[1]) == pid:
            for linea in estado.splitlines():
                if linea.startswith("VmRSS:"):
                    total += int(linea.split()[1])
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description="Beat and a worker draining a backlog.")
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    preparar_base()
    import bench.celery_app  # noqa: F401  (Beat's task publishes to the bench's broker)
    from whatsapp_notify import tasks
    from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio

    llenar(
        args.n,
        estado="'pendiente'",
        intentos="0",
        wamid="NULL",
        proximo_intento="NULL",
        reclamado_en="NULL",
        despachado_en="NULL",
        creado_en="now() - interval '10 minutes'",
    )
    EnvioWhatsApp.objects.filter(tipo="bench_barrido", estado=EstadoEnvio.LEIDO).delete()
    with stub(0.0) as url:
        entorno = _entorno(BENCH_GRAPH_URL=url, BENCH_RATE_LIMIT="none")
        os.environ.update(entorno)
        with worker(entorno) as proceso:
            reset(url)
            memoria = [memoria_mb(proceso.pid)]
            inicio = time.monotonic()
            beat = -BEAT_CADA
            enviados = 0
            while enviados < args.n:
                if time.monotonic() - beat >= BEAT_CADA:
                    beat = time.monotonic()
                    tasks.despachar()
                time.sleep(1.0)
                memoria.append(memoria_mb(proceso.pid))
                enviados = EnvioWhatsApp.objects.filter(estado=EstadoEnvio.ENVIADO).count()
                if time.monotonic() - inicio > 60 + args.n / 20:
                    raise SystemExit(f"Sólo {enviados} de {args.n} enviados a tiempo.")
            segundos = time.monotonic() - inicio
            recibidos = stats(url)["total"]
    print()
    print(f"{'envíos':>8} {'s':>6} {'envíos/s':>9} {'al stub':>8}  memoria del worker (MB)")
    print(
        f"{args.n:>8} {segundos:>6.0f} {args.n / segundos:>9.0f} {recibidos:>8}  "
        f"inicio {memoria[0]:.0f}, pico {max(memoria):.0f}, final {memoria[-1]:.0f}"
    )
    if recibidos != args.n:
        raise SystemExit(f"El stub recibió {recibidos} peticiones para {args.n} envíos.")
    resumen.entregar([
        resumen.Fila(
            f"atraso de {args.n:,} envíos", f"{args.n / segundos:.0f}/s en {segundos:.0f} s",
            "sin par", None, "Beat lo vacía en bloque", None,
        ),
        resumen.Fila(
            f"memoria del worker, {args.n:,} envíos",
            f"{memoria[-1] - memoria[0]:+.0f} MB (pico {max(memoria):.0f})",
            f"al empezar {memoria[0]:.0f} MB", max(memoria) / memoria[0],
            "plana tras el arranque", None,
        ),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
