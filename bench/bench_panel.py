"""The operations dashboard over a large envío table: how long the page takes, and why.

Fills ``whatsapp_notify_enviowhatsapp`` on PostgreSQL (database ``bench_wn_panel``, made
afresh) with N rows (1,000,000 by default) created over the last 120 days, of a dozen
tipos and two accounts, with their estados, send and failure times and error codes
spread; then requests the dashboard as a superuser through Django's test client for each
period (7, 30 and 90 days, all accounts and one), median of the repetitions. Prints the
milliseconds per page and, per query of the page, the execution time PostgreSQL reports
with ``EXPLAIN ANALYZE`` (``--planes`` prints the plans too). Needs PostgreSQL only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench import resumen

BASE = "bench_wn_panel"
META_MS = 1000.0  # the 90-day page over a million envíos, all accounts: under a second
TIPOS = (
    "vehiculo_listo", "recordatorio_24h", "recordatorio_1h", "cotizacion", "orden_compra",
    "agente", "cancelacion", "encuesta", "bienvenida", "pago", "factura", "seguimiento",
)  # fmt: skip
# Every SQL expression of ``g``, the row's number; ``bench_barrido.llenar`` fills the rest.
COLUMNAS = {
    "creado_en": "now() - (g % 172800) * interval '1 minute'",
    "actualizado_en": "now() - (g % 172800) * interval '1 minute'",
    "tipo": f"(ARRAY[{', '.join(repr(t) for t in TIPOS)}])[1 + g % {len(TIPOS)}]",
    "cuenta": "(CASE WHEN g % 3 = 0 THEN 'segunda' ELSE 'default' END)",
    "intentos": "(CASE WHEN g % 10 = 4 THEN 3 ELSE 1 + (g % 97 = 0)::int END)",
    "enviado_en": """(CASE WHEN g % 10 IN (6, 7, 8, 9) OR g % 1000 > 9 AND g % 10 IN (0, 1, 2, 3)
                   THEN now() - (g % 172800) * interval '1 minute' + interval '20 seconds' END)""",
    "fallido_en": """(CASE WHEN g % 10 = 4 AND g % 1000 > 9
                   THEN now() - (g % 172800) * interval '1 minute' + interval '1 minute' END)""",
    "error_codigo": """(CASE WHEN g % 10 = 4 AND g % 1000 > 9
                     THEN (ARRAY[131026, 131047, 131049, 130472, 131000])[1 + g % 5] END)""",
}
VISTAS = [("7 días", {"dias": "7"}), ("30 días", {"dias": "30"}), ("90 días", {"dias": "90"}),
          ("90 días, una cuenta", {"dias": "90", "cuenta": "default"})]  # fmt: skip


def preparar(reusar: bool) -> None:
    from bench.bench_entrega import crear_base

    if not reusar:
        crear_base(BASE)
    os.environ.update(DJANGO_SETTINGS_MODULE="bench.settings_panel", BENCH_DB=BASE)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def medir(cliente, url: str, consulta: dict, repeticiones: int) -> tuple[float, list[dict]]:
    """The page's median milliseconds, and the queries of its last request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cliente.get(url, consulta)  # warm: templates compiled, the session read once
    tiempos = []
    for _ in range(repeticiones):
        with CaptureQueriesContext(connection) as consultas:
            inicio = time.perf_counter()
            respuesta = cliente.get(url, consulta)
            tiempos.append((time.perf_counter() - inicio) * 1000)
        assert respuesta.status_code == 200, respuesta.status_code
    return statistics.median(tiempos), consultas.captured_queries


def explicar(sql: str, planes: bool) -> float:
    """The execution time PostgreSQL reports for ``sql`` (ms); print the plan if asked."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        plan = [fila[0] for fila in cursor.fetchall()]
    if planes:
        print("\n".join(f"      {linea}" for linea in plan))
    return float(next(p for p in plan if p.startswith("Execution Time")).split()[2])


def main() -> None:
    parser = argparse.ArgumentParser(description="The dashboard over a large envío table.")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeticiones", type=int, default=5)
    parser.add_argument("--planes", action="store_true", help="print every query's plan")
    parser.add_argument(
        "--reusar", action="store_true", help="keep the rows of the last run (new migrations apply)"
    )
    args = parser.parse_args()
    preparar(args.reusar)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from bench.bench_barrido import llenar
    from whatsapp_notify.models import EnvioWhatsApp, EstadoCuenta

    if not args.reusar:
        inicio = time.perf_counter()
        llenar(args.n, **COLUMNAS)
        EstadoCuenta.objects.create(cuenta="segunda", pausada=True, error_codigo=190)
        get_user_model().objects.create_superuser("bench", password=None)
        print(f"{EnvioWhatsApp.objects.count()} envíos en {time.perf_counter() - inicio:.0f} s")
    # A table in service is vacuumed by autovacuum, which keeps its visibility map: without
    # it PostgreSQL cannot answer from an index alone, as it does in production.
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {EnvioWhatsApp._meta.db_table}")
    cliente = Client()
    cliente.force_login(get_user_model().objects.get(username="bench"))
    url = reverse("admin:whatsapp_notify_panel")
    filas = []
    print(f"\n{'vista':<22} {'página, ms':>11} {'consultas':>10}")
    for nombre, consulta in VISTAS:
        mediana, consultas = medir(cliente, url, consulta, args.repeticiones)
        print(f"{nombre:<22} {mediana:>11.0f} {len(consultas):>10}")
        propias = [c["sql"] for c in consultas if "whatsapp_notify_" in c["sql"]]
        for sql in propias:
            ms = explicar(sql, args.planes)
            print(f"    {ms:>8.1f} ms  {sql[:110]}")
        filas.append((nombre, mediana))
    peor = max(mediana for _, mediana in filas)
    print(f"\nla vista más lenta: {peor:.0f} ms (meta ≤ {META_MS:.0f} ms)")
    resumen.entregar([
        resumen.Fila(
            f"panel, {nombre}, {args.n:,} filas", f"{mediana:.0f} ms", "sin par", None,
            f"≤ {META_MS:.0f} ms", mediana <= META_MS,
        )
        for nombre, mediana in filas
    ])  # fmt: skip


if __name__ == "__main__":
    main()
