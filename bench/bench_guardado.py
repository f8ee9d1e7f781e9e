"""What a disparador adds to the ERP's save on PostgreSQL: time (p50) and queries.

Each measured save is what an ERP view does when an order becomes ``COMPLETADA``: inside
``transaction.atomic()``, ``orden.estado = "COMPLETADA"; orden.save()``, then the commit,
which publishes the envío's task to the broker (Redis; no worker consumes it here). The
same saves run with the disparador declared and without it, alternating in short blocks
(``--bloque``) so drift in the machine touches both alike. Prints the median (p50) and
p90 per save in ms, the difference, the queries per save, and the goals (≤ +1 ms p50,
≤ 4 queries). Needs PostgreSQL at 127.0.0.1 and Redis; see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench import resumen
from bench.bench_disparadores import declarar
from bench.bench_entrega import crear_base

BASE = "bench_guardado_whatsapp_notify"
REDIS = "redis://127.0.0.1:6379/14"
# Between two saves, the rest of an ERP request (rendering, the network): the publication
# that follows a commit runs on the app's thread in this gap, as it would in a request.
PAUSA = 0.003


def preparar() -> None:
    crear_base(BASE)
    # The test project (its Orden and Cliente), on PostgreSQL, publishing to a real broker.
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        WHATSAPP_TEST_DB="postgres",
        WHATSAPP_TEST_WORKER="1",  # use the database named below, not "test"
        WHATSAPP_TEST_DB_NAME=BASE,
        WHATSAPP_TEST_CELERY_EAGER="0",
        WHATSAPP_TEST_BROKER_URL=REDIS,
    )
    import django

    django.setup()
    from django.core.management import call_command

    import tests.celery_app  # noqa: F401  (the Celery app the commit publishes with)

    call_command("migrate", verbosity=0)


def ordenes(n: int, ronda: int, lado: str) -> list:
    from tests.testapp.models import Cliente, Orden

    cliente = Cliente.objects.create(nombre="Ana", telefono="+52 55 1234 5678")
    creadas = Orden.objects.bulk_create(
        Orden(numero=f"{lado}-{ronda}-{i}", cliente=cliente, estado="EN_PROCESO") for i in range(n)
    )
    # Loaded as a view would load them (the snapshot of the watched field is taken here).
    return list(Orden.objects.filter(pk__in=[o.pk for o in creadas]).select_related("cliente"))


def guardar(lista: list, campo: str = "estado", valor: str = "COMPLETADA"):
    """Seconds of each save (its transaction and commit included) and the queries."""
    from django.db import connection, transaction

    consultas = 0

    def contar(execute, sql, params, many, context):
        nonlocal consultas
        consultas += 1
        return execute(sql, params, many, context)

    tiempos = []
    with connection.execute_wrapper(contar):
        for orden in lista:
            inicio = time.perf_counter()
            with transaction.atomic():
                setattr(orden, campo, valor)
                orden.save()
            tiempos.append(time.perf_counter() - inicio)
            time.sleep(PAUSA)
    return tiempos, consultas


# (name, field written, value): the save that fires, and one that changes nothing watched.
CASOS = [
    ("dispara", "estado", "COMPLETADA"),
    ("sin cambios vigilados", "notas", "lavado incluido"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description="The ERP's save with and without a disparador.")
    parser.add_argument("--n", type=int, default=300, help="saves per side, case and round")
    parser.add_argument("--rondas", type=int, default=5)
    parser.add_argument(
        "--bloque", type=int, default=10, help="saves in a row on one side before switching"
    )
    args = parser.parse_args()
    if args.n < 2 or args.rondas < 1 or args.bloque < 1:
        parser.error("--n must be at least 2 (a p90 needs two saves); --rondas, --bloque 1")
    preparar()
    from django.contrib.contenttypes.models import ContentType

    from tests.testapp.models import Orden
    from whatsapp_notify.models import EnvioWhatsApp

    ContentType.objects.get_for_model(Orden)
    declarado = declarar()
    guardar(ordenes(20, 0, "calentar"))  # warm-up: the catalog, the broker connection
    declarado.desconectar()
    # medidas[caso][lado] = (times, queries)
    medidas = {caso: {"con": ([], 0), "sin": ([], 0)} for caso, _, _ in CASOS}
    bloques = -(-args.n // args.bloque)
    for ronda in range(1, args.rondas + 1):
        for caso, campo, valor in CASOS:
            for b in range(bloques):
                tamano = min(args.bloque, args.n - b * args.bloque)
                # Short blocks, alternating which side goes first, so that a slow stretch
                # of the machine falls on both sides alike.
                for lado in ["sin", "con"] if (ronda + b) % 2 else ["con", "sin"]:
                    # Declared before the orders are loaded, as an ERP declares it at start-up.
                    declarado = declarar() if lado == "con" else None
                    lista = ordenes(tamano, ronda, f"{caso[0]}{lado}{b}")
                    tiempos, consultas = guardar(lista, campo, valor)
                    if declarado is not None:
                        declarado.desconectar()
                    previos, q = medidas[caso][lado]
                    medidas[caso][lado] = (previos + tiempos, q + consultas)
    total = args.n * args.rondas
    enviados = EnvioWhatsApp.objects.filter(tipo="vehiculo_listo").count()
    if enviados != total + 20:
        raise SystemExit(f"{enviados} envíos registrados de {total + 20}")
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    imprimir(medidas, total)


def imprimir(medidas: dict, total: int) -> None:
    def p(valores, q):
        return statistics.quantiles(valores, n=10)[q] * 1000

    print()
    print(f"{'guardado':<36} {'p50 ms':>8} {'p90 ms':>8} {'consultas':>10}")
    filas = []
    for caso, lados in medidas.items():
        for lado in ("sin", "con"):
            tiempos, consultas = lados[lado]
            nombre = f"{caso}, {'con' if lado == 'con' else 'sin'} disparador"
            print(
                f"{nombre:<36} {statistics.median(tiempos) * 1000:>8.2f} {p(tiempos, 8):>8.2f} "
                f"{consultas / total:>10.1f}"
            )
        p50_con = statistics.median(lados["con"][0]) * 1000
        p50_sin = statistics.median(lados["sin"][0]) * 1000
        extra = (lados["con"][1] - lados["sin"][1]) / total
        if caso == "dispara":
            diferencia = p50_con - p50_sin
            ok = diferencia <= 1 and extra <= 4
            meta = "≤ +1 ms p50 y ≤ 4 consultas"
            nuestro = f"{diferencia:+.2f} ms, {extra:+.0f} consultas"
        else:
            ok = p50_con / p50_sin <= 1.05
            meta = "≤ 1.05×"
            nuestro = f"{p50_con:.2f} ms, {extra:+.0f} consultas"
        filas.append(
            resumen.Fila(
                f"guardado del ERP, {caso}", nuestro, f"sin disparador {p50_sin:.2f} ms",
                p50_con / p50_sin, meta, ok,
            )
        )  # fmt: skip
        veredicto = "ok" if ok else "NO"
        print(f"  {caso}: {nuestro} ({p50_con / p50_sin:.2f}×); meta {meta}: {veredicto}")
    resumen.entregar(filas)


if __name__ == "__main__":
    main()
