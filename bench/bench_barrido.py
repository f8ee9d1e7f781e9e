"""Beat's dispatch sweep with a large envío table: how long one run takes.

Fills ``whatsapp_notify_enviowhatsapp`` on PostgreSQL with N rows (1,000,000 by default),
most of them final (sent, delivered, read, failed, omitted) over the last months and a few
hundred waiting (due, not yet due, scheduled, uncertain, stale claims), the way a year of an
ERP's notices looks; then times ``whatsapp_notify.despachar`` (Beat's task, every minute)
run against it, median of the repetitions. Each run finds nothing new to dispatch after the
first, as most of a real Beat's runs. Prints the milliseconds per run against the goal
(it stays indexed: a few ms, whatever the table's size). Needs PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench import resumen
from bench.bench_entrega import preparar_base

META_MS = 50.0  # one Beat run over a year of envíos: well under a second, indexed


def llenar(n: int, **columnas_sql: str) -> None:
    """N rows copied in SQL from one template row, with their estado and times spread
    (``columnas_sql``: other SQL expressions of ``g``, the row's number, by column)."""
    from django.db import connection

    from whatsapp_notify.models import ClaseEnvio, EnvioWhatsApp, EstadoEnvio

    plantilla = EnvioWhatsApp.objects.create(
        clase=ClaseEnvio.PLANTILLA,
        telefono="5215512345678",
        plantilla="vehiculo_listo_cliente",
        idioma="es_MX",
        tipo="bench_barrido",
        estado=EstadoEnvio.LEIDO,
        intentos=1,
    )
    opciones = EnvioWhatsApp._meta
    variables = {
        "estado": """(CASE WHEN g %% 1000 = 0 THEN 'pendiente' WHEN g %% 1000 = 1 THEN 'programado'
                   WHEN g %% 1000 = 2 THEN 'incierto' WHEN g %% 1000 = 3 THEN 'enviando'
                   WHEN g %% 10 = 4 THEN 'fallido' WHEN g %% 10 = 5 THEN 'omitido'
                   WHEN g %% 10 = 6 THEN 'entregado' WHEN g %% 10 = 7 THEN 'enviado'
                   ELSE 'leido' END)""",
        "creado_en": "now() - (g %% 262800) * interval '2 minutes'",
        "actualizado_en": "now() - (g %% 262800) * interval '2 minutes'",
        "proximo_intento": """(CASE WHEN g %% 1000 IN (0, 1, 2)
                            THEN now() + ((g %% 7) - 3) * interval '1 hour' END)""",
        "reclamado_en": "(CASE WHEN g %% 1000 IN (2, 3) THEN now() - interval '2 hours' END)",
        "telefono": "'52155' || lpad((g %% 100000)::text, 8, '0')",
        "wamid": "'wamid.barrido.' || g",
    }
    variables.update({c: v.replace(" % ", " %% ") for c, v in columnas_sql.items()})
    columnas = [f.column for f in opciones.concrete_fields if not f.primary_key]
    q = connection.ops.quote_name
    seleccion = [variables.get(c, q(c)) for c in columnas]
    sql = (
        f"INSERT INTO {q(opciones.db_table)} ({', '.join(q(c) for c in columnas)}) "
        f"SELECT {', '.join(seleccion)} FROM {q(opciones.db_table)}, "
        f"generate_series(1, %s) AS g WHERE {q(opciones.pk.column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [n, plantilla.pk])
        cursor.execute(f"ANALYZE {q(opciones.db_table)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Beat's sweep over a large envío table.")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeticiones", type=int, default=7)
    args = parser.parse_args()
    preparar_base()
    import bench.celery_app  # noqa: F401  (Beat's task publishes to the bench's broker)
    from whatsapp_notify import tasks
    from whatsapp_notify.models import EnvioWhatsApp

    inicio = time.perf_counter()
    llenar(args.n)
    print(f"{EnvioWhatsApp.objects.count()} envíos en {time.perf_counter() - inicio:.0f} s")
    tasks.despachar()  # the first run dispatches what was waiting; later ones find nothing
    tiempos = []
    for _ in range(args.repeticiones):
        inicio = time.perf_counter()
        tasks.despachar()
        tiempos.append((time.perf_counter() - inicio) * 1000)
    import redis

    from bench.settings import REDIS

    redis.Redis.from_url(REDIS).flushdb()
    mediana = statistics.median(tiempos)
    print()
    print(f"{'filas':>10} {'despachar, ms':>14}  meta")
    veredicto = "ok" if mediana <= META_MS else "NO"
    print(f"{args.n:>10} {mediana:>14.1f}  ≤ {META_MS:.0f} ms  {veredicto}")
    resumen.entregar([
        resumen.Fila(
            f"barrido de Beat, {args.n:,} filas", f"{mediana:.1f} ms", "sin par", None,
            f"≤ {META_MS:.0f} ms (indexado)", mediana <= META_MS,
        )
    ])  # fmt: skip


if __name__ == "__main__":
    main()
