"""Status webhooks: how many statuses per second one worker process applies.

Records N envíos already ``enviado`` (with their wamids), stores the status bodies Meta
would post for them (as the webhook view does: one row per body), and times a worker
process applying every stored body through the task it runs
(``whatsapp_notify.procesar_webhook``, called in this process: a worker is a loop over
such calls). Two shapes: one status per body (how Meta usually posts) and 100 statuses
per body (a campaign's storm, batched). Prints statuses per second and queries per
status, median of the repetitions, against the goal. Needs PostgreSQL at 127.0.0.1;
see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench import resumen
from bench.bench_entrega import preparar_base

# (name, statuses per body, bodies)
ESCENARIOS = [
    ("1 estado por cuerpo", 1, 3000),
    ("100 estados por cuerpo", 100, 60),
]
META = 2000.0  # statuses per second on one worker (issue goal)


def sembrar(por_cuerpo: int, cuerpos: int, ronda: int) -> list[int]:
    """N envíos ``enviado`` and their stored ``delivered`` bodies; returns the bodies' ids."""
    from django.utils import timezone

    from whatsapp_notify.inbound import store
    from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
    from whatsapp_notify.references import referencia_de
    from whatsapp_notify.sandbox.webhooks import EnvioAceptado, Negocio, estado, sobre

    n = por_cuerpo * cuerpos
    ahora = timezone.now()
    envios = EnvioWhatsApp.objects.bulk_create(
        EnvioWhatsApp(
            telefono=f"52155{ronda:02d}{i:06d}",
            plantilla="vehiculo_listo_cliente",
            idioma="es_MX",
            tipo="bench",
            estado=EstadoEnvio.ENVIADO,
            wamid=f"wamid.bench.{ronda}.{i}",
            intentos=1,
            enviado_en=ahora,
        )
        for i in range(n)
    )
    negocio = Negocio("106540352242922", "15550000000", "102290129340398")
    ids = []
    cuando = time.time()
    for c in range(cuerpos):
        items = []
        for envio in envios[c * por_cuerpo : (c + 1) * por_cuerpo]:
            aceptado = EnvioAceptado(envio.wamid, envio.telefono, True, referencia_de(envio.pk))
            items.append(estado(aceptado, "delivered", cuando))
        evento, _nuevo = store.guardar_evento("default", sobre(negocio, {"statuses": items}))
        ids.append(evento.pk)
    return ids


def aplicar(ids: list[int]) -> tuple[float, int]:
    """Seconds to apply the stored bodies ``ids`` as a worker would, and the queries."""
    from django.db import connection

    from whatsapp_notify import tasks

    consultas = 0

    def contar(execute, sql, params, many, context):
        nonlocal consultas
        consultas += 1
        return execute(sql, params, many, context)

    inicio = time.perf_counter()
    with connection.execute_wrapper(contar):
        for evento_id in ids:
            tasks.procesar_webhook(evento_id)
    return time.perf_counter() - inicio, consultas


def comprobar(por_cuerpo: int, cuerpos: int, ronda: int) -> None:
    from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio

    entregados = EnvioWhatsApp.objects.filter(
        wamid__startswith=f"wamid.bench.{ronda}.", estado=EstadoEnvio.ENTREGADO
    ).count()
    if entregados != por_cuerpo * cuerpos:
        raise SystemExit(f"ronda {ronda}: {entregados} entregados de {por_cuerpo * cuerpos}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Status webhooks applied per second.")
    parser.add_argument("--repeticiones", type=int, default=3)
    parser.add_argument("--escala", type=float, default=1.0, help="multiplies every N")
    args = parser.parse_args()
    preparar_base()
    filas = []
    ronda = 0
    for nombre, por_cuerpo, cuerpos in ESCENARIOS:
        cuerpos = max(1, int(cuerpos * args.escala))
        tasas, por_estado = [], []
        for _ in range(args.repeticiones):
            ronda += 1
            ids = sembrar(por_cuerpo, cuerpos, ronda)
            segundos, consultas = aplicar(ids)
            comprobar(por_cuerpo, cuerpos, ronda)
            tasas.append(por_cuerpo * cuerpos / segundos)
            por_estado.append(consultas / (por_cuerpo * cuerpos))
        filas.append((nombre, statistics.median(tasas), statistics.median(por_estado)))
    print()
    print(f"{'escenario':<24} {'estados/s':>10} {'consultas/estado':>17}  meta")
    for nombre, tasa, consultas in filas:
        veredicto = "ok" if tasa >= META else "NO"
        print(f"{nombre:<24} {tasa:>10.0f} {consultas:>17.2f}  ≥ {META:.0f}/s  {veredicto}")
    resumen.entregar([
        resumen.Fila(
            f"estados, {nombre}", f"{tasa:.0f}/s", "sin par (un worker)", None,
            f"≥ {META:.0f}/s", tasa >= META,
        )
        for nombre, tasa, _consultas in filas
    ])  # fmt: skip


if __name__ == "__main__":
    main()
