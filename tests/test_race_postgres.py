"""Concurrent workers on PostgreSQL: one winner per envío, one alert per paused account.

Run with ``WHATSAPP_TEST_DB=postgres``: SQLite serialises writers, so it proves nothing here.
"""

from __future__ import annotations

import threading
from collections import Counter
from functools import partial

import pytest
from django.core import mail
from django.db import connection

from tests import backends_scripted as scripted
from whatsapp_notify.backends.meta.errors import classify
from whatsapp_notify.models import ClaseEnvio, EnvioWhatsApp, EstadoCuenta, EstadoEnvio
from whatsapp_notify.outbound import delivery
from whatsapp_notify.outbound.delivery import Resultado
from whatsapp_notify.references import referencia_de

SCRIPTED = "tests.backends_scripted.ScriptedBackend"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def guion(postgres, wa_settings):
    """The scripted backend, slow enough (50 ms a call) for workers to overlap."""
    wa_settings(BACKENDS={"default": {"BACKEND": SCRIPTED, "OPTIONS": {"PAUSA": 0.05}}})
    scripted.reset()
    yield scripted
    scripted.reset()


def envio_pendiente(n: int) -> EnvioWhatsApp:
    # Created directly: enviar_plantilla would deliver it on commit (eager Celery).
    return EnvioWhatsApp.objects.create(
        telefono=f"52551234{n:04d}",
        clase=ClaseEnvio.PLANTILLA,
        plantilla="vehiculo_listo_cliente",
        idioma="es_MX",
        variables=["Ana", "Mazda 3", f"OT-{n}"],
    )


def a_la_vez(*ids: int) -> list[Resultado]:
    """Run ``delivery.entregar`` for each id in its own thread, all released together."""
    return [r.resultado for r in en_hilos(*(partial(delivery.entregar, i) for i in ids))]


def en_hilos(*funciones):
    """Call each function in its own thread, all released together; their results in order
    (what one raised is raised here). Each thread closes its own database connection."""
    barrera = threading.Barrier(len(funciones))
    resultados: list = [None] * len(funciones)

    def worker(posicion: int, funcion) -> None:
        try:
            barrera.wait(timeout=10)
            resultados[posicion] = funcion()
        except BaseException as exc:
            resultados[posicion] = exc
        finally:
            connection.close()

    hilos = [threading.Thread(target=worker, args=pair) for pair in enumerate(funciones)]
    for hilo in hilos:
        hilo.start()
    for hilo in hilos:
        hilo.join(timeout=30)
    for resultado in resultados:
        if isinstance(resultado, BaseException):
            raise resultado
    return resultados


def test_entregar__dos_workers_sobre_el_mismo_envio_envian_una_vez(guion):
    envios = [envio_pendiente(n) for n in range(20)]

    for envio in envios:
        resultados = a_la_vez(envio.pk, envio.pk)

        assert sorted(resultados) == [Resultado.ENVIADO, Resultado.IGNORADO]
        envio.refresh_from_db()
        assert (envio.estado, envio.intentos) == (EstadoEnvio.ENVIADO, 1)
        assert envio.wamid

    enviados = Counter(llamada.referencia for llamada in guion.llamadas)
    assert enviados == Counter({referencia_de(envio.pk): 1 for envio in envios})


def test_entregar__varios_workers_con_token_expirado_alertan_una_vez(guion):
    envios = [envio_pendiente(n) for n in range(4)]
    guion.guion.extend([classify(190, http_status=401)] * len(envios))

    resultados = a_la_vez(*(envio.pk for envio in envios))

    assert resultados == [Resultado.PAUSADA] * len(envios)
    assert EstadoCuenta.objects.get(cuenta="default").pausada
    assert len(mail.outbox) == 1
    for envio in envios:
        envio.refresh_from_db()
        assert (envio.estado, envio.intentos) == (EstadoEnvio.PENDIENTE, 0)


def test_entregar_lote__dos_lotes_a_la_vez_se_reparten_los_envios(guion, wa_settings):
    wa_settings(DELIVERY_CONCURRENCY=2)  # claims of 20: the two batches interleave
    envios = [envio_pendiente(n) for n in range(60)]
    barrera = threading.Barrier(2)
    lotes: list = []

    def worker() -> None:
        try:
            barrera.wait(timeout=10)
            lotes.append(delivery.entregar_lote(cuenta="default"))
        finally:
            connection.close()

    hilos = [threading.Thread(target=worker) for _ in range(2)]
    for hilo in hilos:
        hilo.start()
    for hilo in hilos:
        hilo.join(timeout=60)

    assert len(lotes) == 2
    tomados = [set(lote.intentos) for lote in lotes]
    assert not tomados[0] & tomados[1]  # SKIP LOCKED: disjoint batches
    assert all(tomados)  # and both took some
    assert set(EnvioWhatsApp.objects.values_list("estado", flat=True)) == {EstadoEnvio.ENVIADO}
    enviados = Counter(llamada.referencia for llamada in guion.llamadas)
    assert enviados == Counter({referencia_de(envio.pk): 1 for envio in envios})


def test_misma_clave__dos_transacciones_a_la_vez_registran_un_envio(postgres, wa_settings):
    # The second INSERT waits for the first transaction's row, then finds the clave taken:
    # no IntegrityError, and that caller's transaction goes on.
    from django.db import transaction

    from whatsapp_notify import enviar_plantilla

    wa_settings(REQUIRE_CONSENT=False)

    def registrar() -> tuple[int, int]:
        with transaction.atomic():
            envio = enviar_plantilla(
                "+52 55 1234 5678",
                "vehiculo_listo_cliente",
                variables=["Ana", "Mazda 3", "OT-9"],
                clave="vehiculo_listo:9",
            )
            # The caller's own work after the conflict, in the same transaction.
            return envio.pk, EnvioWhatsApp.objects.filter(clave="vehiculo_listo:9").count()

    resultados = en_hilos(registrar, registrar)

    [envio] = EnvioWhatsApp.objects.filter(clave="vehiculo_listo:9")
    assert resultados == [(envio.pk, 1), (envio.pk, 1)]


@pytest.mark.parametrize("estado", [EstadoEnvio.FALLIDO, EstadoEnvio.ENTREGADO])
def test_reenviar_aviso__cuatro_clics_a_la_vez_envian_una_vez(postgres, estado):
    from tests.testapp.models import Cliente, Orden
    from whatsapp_notify import enviar_plantilla, reenviar_aviso
    from whatsapp_notify.backends import locmem

    orden = Orden.objects.create(numero="OT-1", cliente=Cliente.objects.create(nombre="Ana"))
    envio = enviar_plantilla(
        "+52 55 1234 5678", "vehiculo_listo_cliente", variables=["Ana"], referencia=orden,
        tipo="vehiculo_listo",
    )  # fmt: skip
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(estado=estado)
    locmem.clear()

    # «Reenviar notificación» for a fallido one, «Enviar otra copia» for a delivered one.
    copia_de = envio.pk if estado == EstadoEnvio.ENTREGADO else None
    clic = partial(reenviar_aviso, orden, "vehiculo_listo", copia_de=copia_de)
    resultados = en_hilos(clic, clic, clic, clic)

    assert sum(resultado.reenviado for resultado in resultados) >= 1
    assert len({resultado.envio_id for resultado in resultados if resultado.reenviado}) == 1
    assert len(locmem.outbox) == 1
    assert EnvioWhatsApp.objects.count() == (1 if estado == EstadoEnvio.FALLIDO else 2)


def test_reenviar_aviso__seis_copias_a_la_vez__solo_una_dice_copia(postgres):
    from tests.testapp.models import Cliente, Orden
    from whatsapp_notify import enviar_plantilla, reenviar_aviso
    from whatsapp_notify.backends import locmem

    orden = Orden.objects.create(numero="OT-1", cliente=Cliente.objects.create(nombre="Ana"))
    original = enviar_plantilla(
        "+52 55 1234 5678", "vehiculo_listo_cliente", variables=["Ana"], referencia=orden,
        tipo="vehiculo_listo",
    )  # fmt: skip
    EnvioWhatsApp.objects.filter(pk=original.pk).update(estado=EstadoEnvio.LEIDO)
    locmem.clear()

    clic = partial(reenviar_aviso, orden, "vehiculo_listo", copia_de=original.pk)
    resultados = en_hilos(*[clic] * 6)

    [copia] = EnvioWhatsApp.objects.filter(clave=f"copia:{original.pk}")
    assert sorted(r.resultado for r in resultados) == ["cambiado"] * 5 + ["copia"]
    assert [r.envio_id for r in resultados if r.reenviado] == [copia.pk]
    assert {r.envio_id for r in resultados} == {copia.pk}
    assert len(locmem.outbox) == 1


def test_consentimiento__cambios_a_la_vez_de_un_telefono_nuevo__la_historia_encadena(postgres):
    from whatsapp_notify import otorgar_consentimiento, revocar_consentimiento, signals
    from whatsapp_notify.models import CambioConsentimiento

    avisos: list[tuple[str, str]] = []

    def oir(sender, consentimiento, anterior, categoria, **kwargs) -> None:
        avisos.append((categoria, anterior or ""))

    signals.consentimiento_cambiado.connect(oir)
    try:
        cambios = [otorgar_consentimiento, revocar_consentimiento] * 4
        en_hilos(*(partial(cambio, "+52 55 1234 5678", origen="erp") for cambio in cambios))
    finally:
        signals.consentimiento_cambiado.disconnect(oir)

    esperados = []
    for categoria in ("utility", "marketing"):
        historia = list(
            CambioConsentimiento.objects.filter(categoria=categoria)
            .order_by("pk")
            .values_list("anterior", "estado")
        )
        assert len(historia) == len(cambios)
        antes = [""] + [estado for _, estado in historia[:-1]]
        assert [anterior for anterior, _ in historia] == antes
        esperados += [(categoria, anterior) for anterior, estado in historia if anterior != estado]
    assert sorted(avisos) == sorted(esperados)
