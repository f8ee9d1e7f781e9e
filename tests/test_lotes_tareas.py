"""What the delivery tasks publish around a batch, on a real Redis broker, and how a
Celery worker keeps its database connection."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
import redis
from celery import Celery
from django.utils import timezone

from tests.celery_app import con_broker
from whatsapp_notify import tasks, worker
from whatsapp_notify.models import EnvioWhatsApp
from whatsapp_notify.outbound import delivery

COLA = "whatsapp-lotes"


def nuevos(n: int) -> None:
    EnvioWhatsApp.objects.bulk_create(
        EnvioWhatsApp(
            telefono=f"52551000{i:04d}",
            clase="plantilla",
            plantilla="vehiculo_listo_cliente",
            idioma="es_MX",
            clave=f"lote-{i}",
            estado="pendiente",
        )
        for i in range(n)
    )


def publicadas(url: str) -> list[tuple[str, list]]:
    """(task name, args) of every message waiting in the test queue."""
    cliente = redis.Redis.from_url(url)
    mensajes = [json.loads(crudo) for crudo in cliente.lrange(COLA, 0, -1)]
    return [(m["headers"]["task"], json.loads(__import__("base64").b64decode(m["body"]))[0])
            for m in mensajes]  # fmt: skip


@pytest.mark.django_db
def test_despachar__marca_todo_el_atraso_de_una_vez_y_pide_unos_pocos_lotes(redis_url, wa_settings):
    wa_settings(TASK_QUEUE=COLA, DELIVERY_BATCH=500)
    nuevos(1500)

    with con_broker(redis_url):
        assert tasks.despachar() == 1500

    assert not EnvioWhatsApp.objects.filter(despachado_en__isnull=True).exists()
    # Three chains of 500 (each asks for the next while it finds envíos): not 1,500 tasks.
    assert publicadas(redis_url) == [("whatsapp_notify.enviar_cuenta", ["default"])] * 3


@pytest.mark.django_db
def test_despachar__como_mucho_unas_cadenas_por_cuenta(redis_url, wa_settings):
    wa_settings(TASK_QUEUE=COLA, DELIVERY_BATCH=20)
    nuevos(1000)

    with con_broker(redis_url):
        tasks.despachar()

    assert len(publicadas(redis_url)) == tasks.CADENAS_POR_CUENTA


@pytest.mark.django_db
def test_cuentas_por_despachar__no_vuelve_a_dar_los_recien_despachados(wa_settings):
    nuevos(30)

    assert delivery.cuentas_por_despachar() == {"default": 30}
    assert delivery.cuentas_por_despachar() == {}
    # REDISPATCH_AFTER later they count as lost again.
    despues = timezone.now() + timedelta(seconds=301)
    assert delivery.cuentas_por_despachar(despues) == {"default": 30}


@pytest.mark.django_db
def test_seguir__un_lote_lleno_pide_el_siguiente_y_uno_frenado_lo_pide_para_luego(
    redis_url, wa_settings
):
    wa_settings(TASK_QUEUE=COLA)
    luego = timezone.now() + timedelta(seconds=30)
    espera = delivery.Intento(delivery.Resultado.REINTENTO, luego)

    with con_broker(redis_url):
        tasks._seguir(delivery.Lote("default", {}, lleno=True))
        tasks._seguir(delivery.Lote("default", {1: espera, 2: espera}, reanudar_en=luego))

    cliente = redis.Redis.from_url(redis_url)
    cabeceras = [json.loads(m)["headers"] for m in cliente.lrange(COLA, 0, -1)]
    # One batch now, one for when the rate limit allows: not a task per held-back envío.
    assert sorted((h["task"], (h["eta"] and h["eta"][:19]) or "") for h in cabeceras) == [
        ("whatsapp_notify.enviar_cuenta", ""),
        ("whatsapp_notify.enviar_cuenta", luego.isoformat()[:19]),
    ]


# -- the worker's database connection ---------------------------------------------------------


def fixup_de(app: Celery):
    (fixup,) = [f for f in app._fixups if type(f).__name__ == "DjangoFixup"]
    return fixup.worker_fixup


def test_worker__conserva_la_conexion_si_el_proyecto_no_dijo_nada():
    app = Celery("prueba", set_as_current=False)

    worker.conservar_conexiones(sender=SimpleNamespace(app=app))

    assert fixup_de(app).db_reuse_max == worker.REUSO


def test_worker__respeta_celery_db_reuse_max_del_proyecto():
    app = Celery("prueba", set_as_current=False)
    app.conf.CELERY_DB_REUSE_MAX = 3
    fixup_de(app).db_reuse_max = 3

    worker.conservar_conexiones(sender=SimpleNamespace(app=app))

    assert fixup_de(app).db_reuse_max == 3


@pytest.mark.django_db(transaction=True)
def test_worker__una_conexion_rota_se_cierra_antes_de_la_tarea():
    from django.db import connection

    connection.ensure_connection()
    connection.errors_occurred = True
    sano = connection.is_usable()

    worker.cerrar_conexiones_rotas()

    assert (connection.connection is not None) == sano
