"""What a disparador costs the ERP's saves: the same work with and without one declared.

Run from the repository root::

    python -m bench.bench_disparadores [--n 2000] [--repeticiones 7]

It uses the test settings (in-memory SQLite, eager Celery, locmem backend). Every
repetition measures each scenario without and with the disparador, alternating which goes
first, and the table shows the median time per object and the ratio with/without.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable

import django

from bench import resumen

Escenario = Callable[[int], float]


def preparar() -> None:
    """Set Django up and create the tables in the in-memory database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from django.core.management import call_command

    import tests.celery_app  # noqa: F401  (eager Celery app for the one envío recorded)

    call_command("migrate", verbosity=0)


def _orden():
    from tests.testapp.models import Cliente, Orden

    cliente = Cliente.objects.create(nombre="Ana", telefono="+52 55 1234 5678")
    return Orden.objects.create(numero="OT-1", cliente=cliente)


def _cronometrar(funcion: Callable[[], None]) -> float:
    # CPU time of this process: the in-memory database runs here too, so it is the whole
    # cost, and other load on the machine does not inflate it.
    gc.collect()
    inicio = time.process_time()
    funcion()
    return time.process_time() - inicio


def cargar(n: int) -> float:
    """Load n orders: post_init takes the snapshot of each one."""
    from tests.testapp.models import Orden

    return _cronometrar(lambda: list(Orden.objects.all()[:n]))


def guardar_sin_cambios(n: int) -> float:
    from tests.testapp.models import Orden

    orden = Orden.objects.get(pk=ORDEN_PK)
    return _cronometrar(lambda: [orden.save() for _ in range(n)])


def _alternar(valores: tuple[str, str]) -> Escenario:
    def escenario(n: int) -> float:
        from tests.testapp.models import Orden

        orden = Orden.objects.get(pk=ORDEN_PK)

        def guardar() -> None:
            for i in range(n):
                orden.estado = valores[i % 2]
                orden.save()

        return _cronometrar(guardar)

    return escenario


ESCENARIOS: dict[str, Escenario] = {
    "cargar órdenes (post_init)": cargar,
    "guardar sin cambios": guardar_sin_cambios,
    "cambio de estado, otro valor": _alternar(("EN_PROCESO", "ABIERTA")),
    "ida y vuelta a COMPLETADA": _alternar(("COMPLETADA", "ABIERTA")),
}

ORDEN_PK = 0


def declarar():
    from whatsapp_notify import disparador

    return disparador(
        "testapp.Orden",
        campo="estado",
        valor="COMPLETADA",
        plantilla="vehiculo_listo_cliente",
        tipo="vehiculo_listo",
        destinatario=lambda orden: orden.cliente,
        variables=lambda orden: [orden.cliente.nombre, orden.numero],
    )


def medir(escenario: Escenario, n: int, con_disparador: bool) -> float:
    declarado = declarar() if con_disparador else None
    try:
        return escenario(n)
    finally:
        if declarado is not None:
            declarado.desconectar()


def correr(n: int, repeticiones: int) -> dict[str, dict[bool, list[float]]]:
    """Interleave: each repetition runs every scenario both ways, alternating the order."""
    tiempos = {nombre: {False: [], True: []} for nombre in ESCENARIOS}
    for repeticion in range(repeticiones + 1):
        orden = (False, True) if repeticion % 2 else (True, False)
        for nombre, escenario in ESCENARIOS.items():
            for con_disparador in orden:
                segundos = medir(escenario, n, con_disparador)
                if repeticion:  # the first round only warms up (and records the one envío)
                    tiempos[nombre][con_disparador].append(segundos)
    return tiempos


def imprimir(tiempos: dict[str, dict[bool, list[float]]], n: int, repeticiones: int) -> None:
    print(f"N = {n} objetos por medición, mediana de {repeticiones} repeticiones (µs por objeto)")
    print(f"{'escenario':<32} {'sin disparador':>15} {'con disparador':>15} {'con/sin':>8}")
    filas = []
    for nombre, medidas in tiempos.items():
        sin = statistics.median(medidas[False]) / n * 1e6
        con = statistics.median(medidas[True]) / n * 1e6
        print(f"{nombre:<32} {sin:>15.2f} {con:>15.2f} {con / sin:>7.2f}x")
        filas.append(
            resumen.Fila(
                f"disparador (SQLite, CPU), {nombre}", f"{con:.1f} µs", f"sin él {sin:.1f} µs",
                con / sin, "", None,
            )
        )  # fmt: skip
    resumen.entregar(filas)


def main() -> None:
    global ORDEN_PK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="objetos por medición")
    parser.add_argument("--repeticiones", type=int, default=7)
    argumentos = parser.parse_args()
    preparar()
    from tests.testapp.models import Orden

    orden = _orden()
    ORDEN_PK = orden.pk
    extra = [Orden(numero=f"OT-{i}", cliente=orden.cliente) for i in range(argumentos.n)]
    Orden.objects.bulk_create(extra)
    imprimir(correr(argumentos.n, argumentos.repeticiones), argumentos.n, argumentos.repeticiones)


if __name__ == "__main__":
    main()
