"""Delivery throughput: a real worker sending to a stub at 0 and 200 ms, against peers.

Starts what it needs: the bench stub (``bench.stub``, its latency per run), a Celery worker
started as the README says (``celery -A <app> worker -l info``: prefork, one process per
core) on PostgreSQL and Redis, and each peer in its own process (``bench.pares``). For each
scenario it records N envíos in one transaction, lets the worker send them, and measures
at the stub the rate from first to last request and the most requests in any one second.
Prints one table of ratios (median of the repetitions). Needs PostgreSQL at 127.0.0.1 and
Redis; see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from bench import resumen

RAIZ = Path(__file__).resolve().parent.parent
BASE = "bench_whatsapp_notify"

# (name, latency s, RATE_LIMIT, envíos, peer, peer threads, goal as text, goal ratio)
ESCENARIOS = [
    ("0 ms, sin límite", 0.0, "none", 2000, "requests", 1, "≥ 0.5× requests.Session", 0.5),
    ("200 ms, 80/s", 0.2, "80/s", 800, None, 0, "≥ 0.95× el límite (80/s)", 0.95),
    ("200 ms, 1000/s", 0.2, "1000/s", 3000, "requests_hilos", 64, "≥ 0.8× requests 64 hilos", 0.8),
]
PARES_SIN_LATENCIA = [("httpx", 1000), ("heyoo", 1000), ("pywa", 1000)]


def _entorno(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(RAIZ),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_DB": BASE,
        **extra,
    }


@contextmanager
def stub(latencia: float):
    proceso = subprocess.Popen(
        [sys.executable, "-m", "bench.stub", "--latencia", str(latencia)],
        cwd=RAIZ,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proceso.stdout.readline().strip()
    finally:
        proceso.terminate()
        proceso.wait()


def stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/__stats", timeout=10) as respuesta:
        return json.load(respuesta)


def reset(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/__reset", b"", method="POST"), timeout=10)


@contextmanager
def worker(entorno: dict[str, str], *opciones: str):
    """The README's worker command (``opciones``: more of its options, ``--concurrency``)."""
    registro = open(RAIZ / "bench" / ".worker.log", "w+")  # noqa: SIM115
    proceso = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker", "-l", "info",
         "--without-gossip", "--without-mingle", "--without-heartbeat", *opciones],
        cwd=RAIZ, env=entorno, stdout=registro, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        limite = time.monotonic() + 60
        while " ready." not in Path(registro.name).read_text():
            if proceso.poll() is not None or time.monotonic() > limite:
                raise SystemExit("El worker no arrancó:\n" + Path(registro.name).read_text())
            time.sleep(0.2)
        yield proceso
    finally:
        proceso.terminate()
        try:
            proceso.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print("El worker no terminó en 30 s; se mata.", file=sys.stderr)
            proceso.kill()
            proceso.wait()
        registro.close()


def tasa(datos: dict) -> float:
    if datos["total"] < 2:
        return 0.0
    return (datos["total"] - 1) / (datos["ultimo"] - datos["primero"])


def par(nombre: str, url: str, n: int, hilos: int) -> float:
    reset(url)
    salida = subprocess.run(
        [sys.executable, "-m", "bench.pares", nombre, "--url", url, "--n", str(n),
         "--hilos", str(hilos)],
        cwd=RAIZ, capture_output=True, text=True, check=True,
    )  # fmt: skip
    float(salida.stdout.strip().splitlines()[-1])
    return tasa(stats(url))


def nosotros(url: str, n: int, cuentas: tuple[str, ...] = ("default",)) -> tuple[float, int]:
    """Record n envíos per account (interleaved) in one transaction; wait until all are
    sent; (rate, peak 1 s) at the stub."""
    from django.db import transaction
    from django.db.models import Count

    from whatsapp_notify import enviar_plantilla
    from whatsapp_notify.models import Direccion, EnvioWhatsApp, EstadoEnvio, Mensaje

    EnvioWhatsApp.objects.all().delete()
    Mensaje.objects.all().delete()
    reset(url)
    with transaction.atomic():
        for i in range(n):
            for cuenta in cuentas:
                enviar_plantilla(
                    f"+52 55 {i:08d}", "vehiculo_listo_cliente", variables=["Ana"], cuenta=cuenta
                )
    n *= len(cuentas)
    limite = time.monotonic() + 120 + n / 50
    while EnvioWhatsApp.objects.filter(estado=EstadoEnvio.ENVIADO).count() < n:
        if time.monotonic() > limite:
            por_estado = dict(
                EnvioWhatsApp.objects.order_by().values_list("estado").annotate(n=Count("pk"))
            )
            raise SystemExit(f"No se enviaron los {n} envíos a tiempo: {por_estado}")
        time.sleep(0.2)
    datos = stats(url)
    if datos["total"] != n:
        raise SystemExit(f"El stub recibió {datos['total']} peticiones para {n} envíos.")
    # Every envío sent has its saliente row, written by the worker in the same batches.
    salientes = Mensaje.objects.filter(direccion=Direccion.SALIENTE, envio__isnull=False).count()
    if salientes != n:
        raise SystemExit(f"{salientes} mensajes salientes para {n} envíos enviados.")
    return tasa(datos), datos["pico_1s"]


def salientes(repeticiones: int = 5) -> tuple[int, float]:
    """Milliseconds the worker spends writing one batch's saliente rows (median), and the
    batch size: ``registrar_salientes`` on ``DELIVERY_BATCH`` envíos just sent, in this
    process, on the same database (one bulk INSERT and two UPDATEs)."""
    from django.utils import timezone

    from whatsapp_notify.conf import get_settings
    from whatsapp_notify.inbound.conversations import registrar_salientes
    from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio, Mensaje

    lote = get_settings().DELIVERY_BATCH
    tiempos = []
    for ronda in range(repeticiones + 1):
        EnvioWhatsApp.objects.all().delete()
        Mensaje.objects.all().delete()
        creados = EnvioWhatsApp.objects.bulk_create(
            EnvioWhatsApp(
                telefono=f"5255{i:08d}", clase="plantilla", plantilla="vehiculo_listo_cliente",
                idioma="es_MX", variables=["Ana"], estado=EstadoEnvio.ENVIADO,
                wamid=f"wamid.salientes.{ronda}.{i}", enviado_en=timezone.now(),
            )
            for i in range(lote)
        )  # fmt: skip
        envios = list(EnvioWhatsApp.objects.filter(pk__in=[e.pk for e in creados]))
        inicio = time.perf_counter()
        escritos = registrar_salientes((envio, envio.wamid) for envio in envios)
        segundos = time.perf_counter() - inicio
        if escritos != lote:
            raise SystemExit(f"{escritos} mensajes salientes escritos de {lote}.")
        if ronda:  # the first one warms up
            tiempos.append(segundos * 1000)
    EnvioWhatsApp.objects.all().delete()
    return lote, statistics.median(tiempos)


def crear_base(nombre: str) -> None:
    """Create the PostgreSQL database ``nombre`` afresh (dropped first if it exists)."""
    from django.apps import apps

    if apps.ready:  # after another benchmark in the same process: let go of the database
        from django.db import connections

        connections.close_all()
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", os.environ.get("PGUSER", "postgres"), "-d", "test",
         "-qc", f"DROP DATABASE IF EXISTS {nombre}", "-c", f"CREATE DATABASE {nombre}"],
        check=True, capture_output=True,
    )  # fmt: skip


def preparar_base() -> None:
    """Create the bench's database afresh and migrate it, in this process."""
    crear_base(BASE)
    os.environ.update(_entorno())
    import django
    from django.core.management import call_command

    django.setup()
    import bench.celery_app  # noqa: F401  (this process publishes to the bench's broker)

    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description="Delivery throughput against peers.")
    parser.add_argument("--repeticiones", type=int, default=3)
    parser.add_argument("--escala", type=float, default=1.0, help="multiplies every N")
    parser.add_argument("--solo", type=int, nargs="*", help="scenario numbers (1-based)")
    args = parser.parse_args()
    preparar_base()
    import redis
    from django.conf import settings

    filas = []
    elegidos = [e for i, e in enumerate(ESCENARIOS, 1) if not args.solo or i in args.solo]
    for nombre, latencia, limite, n, peer, hilos, meta, umbral in elegidos:
        n = max(50, int(n * args.escala))
        ours, peers, picos = [], [], []
        with stub(latencia) as url:
            entorno = _entorno(BENCH_GRAPH_URL=url, BENCH_RATE_LIMIT=limite)
            os.environ.update(entorno)
            from whatsapp_notify.backends import backends

            backends.reset()
            with worker(entorno):
                for _ in range(args.repeticiones):
                    redis.Redis.from_url(settings.REDIS).flushdb()
                    rate, pico = nosotros(url, n)
                    ours.append(rate)
                    picos.append(pico)
                    if peer:
                        peers.append(par(peer, url, n, hilos))
        nuestro = statistics.median(ours)
        if peer:
            suyo = statistics.median(peers)
            etiqueta = f"{peer}" + (f" ({hilos} hilos)" if hilos > 1 else "")
        else:
            suyo, etiqueta = float(limite.split("/")[0]), "límite"
        filas.append((nombre, nuestro, etiqueta, suyo, nuestro / suyo, max(picos), meta, umbral))
        if latencia == 0.0:
            with stub(0.0) as url:
                for otro, m in PARES_SIN_LATENCIA:
                    m = max(50, int(m * args.escala))
                    valores = [par(otro, url, m, 1) for _ in range(args.repeticiones)]
                    mediana = statistics.median(valores)
                    filas.append((nombre, nuestro, otro, mediana, nuestro / mediana, 0, "—", 0))
    print()
    print(f"{'escenario':<18} {'whatsapp_notify':>15} {'par':<22} {'par/s':>8} {'ratio':>6} "
          f"{'pico 1 s':>8}  meta")  # fmt: skip

    def cumple(ratio: float, etiqueta: str, pico: int, suyo: float, umbral: float) -> bool:
        # Against the limit itself, no one-second window may exceed it either.
        return ratio >= umbral and (etiqueta != "límite" or pico <= suyo)

    for nombre, nuestro, etiqueta, suyo, ratio, pico, meta, umbral in filas:
        marca = (
            ""
            if not umbral
            else ("  ok" if cumple(ratio, etiqueta, pico, suyo, umbral) else "  NO")
        )
        print(f"{nombre:<18} {nuestro:>13.0f}/s {etiqueta:<22} {suyo:>6.0f}/s {ratio:>5.2f}x "
              f"{pico or '':>8}  {meta}{marca}")  # fmt: skip
    # What the saliente rows take of each envío's time at the fastest rate measured above.
    lote, ms = salientes()
    mas_rapido = max(nuestro for _n, nuestro, *_resto in filas)
    parte = ms / lote / 1000 * mas_rapido
    print(
        f"mensajes salientes: {ms:.1f} ms por lote de {lote} ({ms / lote * 1000:.0f} µs por "
        f"envío), {parte:.1%} del tiempo de cada envío a {mas_rapido:.0f}/s"
    )
    resumen.entregar([
        resumen.Fila(
            f"entrega {nombre}",
            f"{nuestro:.0f}/s" + (f", pico {pico}" if pico else ""),
            f"{etiqueta} {suyo:.0f}/s",
            ratio,
            meta if umbral else "",
            cumple(ratio, etiqueta, pico, suyo, umbral) if umbral else None,
        )
        for nombre, nuestro, etiqueta, suyo, ratio, pico, meta, umbral in filas
    ] + [
        resumen.Fila(
            "entrega, mensajes salientes", f"{ms / lote * 1000:.0f} µs por envío",
            f"{1e6 / mas_rapido:.0f} µs por envío a {mas_rapido:.0f}/s", parte, "", None,
        )
    ])  # fmt: skip


if __name__ == "__main__":
    main()
