"""The health endpoint (``salud/``): real database, real brokers that are down or hung.

A dead database is a second alias pointed at a port nothing listens on; a broker that is
down is a closed port, a hung one a TCP listener that accepts and never answers (and a
frozen ``redis-server``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from tests.celery_app import con_broker
from tests.redis_server import puerto_libre
from tests.services import terminar_sesion
from tests.workers import RAIZ
from whatsapp_notify import enviar_plantilla, health
from whatsapp_notify.health import DEGRADADO, FALLO, OK, comprobar_salud
from whatsapp_notify.models import EnvioWhatsApp, EstadoCuenta, EventoWebhook

pytestmark = pytest.mark.django_db

URL = "/whatsapp/salud/"
TOKEN = "token-de-salud"
TELEFONO = "+52 55 1234 5678"
DIGITOS = "525512345678"
# What a probe behind a hung broker may take: the app's bound (< 1 s) and a loaded machine.
LIMITE = 1.5


def pedir(client, **extra):
    inicio = time.monotonic()
    respuesta = client.get(URL, **extra)
    return respuesta, time.monotonic() - inicio


def con_token(token: str = TOKEN) -> dict:
    return {"headers": {"Authorization": f"Bearer {token}"}}


@pytest.fixture
def token(wa_settings):
    wa_settings(HEALTH_TOKEN=TOKEN)
    return TOKEN


@pytest.fixture
def pausada():
    """The default account paused by an auth error whose text quotes a phone."""
    return EstadoCuenta.objects.create(
        cuenta="default",
        pausada=True,
        pausada_en=timezone.now() - timedelta(minutes=5),
        error_codigo=190,
        error_detalle=f"Token caducado (llamada a {DIGITOS})",
    )


@pytest.fixture
def oyente_mudo():
    """A TCP port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def envio_pendiente(hace: timedelta, cuenta: str = "default") -> EnvioWhatsApp:
    """A pendiente envío recorded (its task never ran) ``hace`` ago."""
    envio = enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", variables=["Ana"], cuenta=cuenta)
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(creado_en=timezone.now() - hace)
    return envio


# -- healthy ---------------------------------------------------------------------------


def test_salud__todo_bien__200_con_el_estado_de_cada_comprobacion(client):
    respuesta, _ = pedir(client)

    assert respuesta.status_code == 200
    assert respuesta.json() == {
        "estado": OK,
        "comprobaciones": {nombre: {"estado": OK} for nombre in health.COMPROBACIONES},
    }


def test_salud__nunca_se_guarda_en_cache(client):
    respuesta, _ = pedir(client)

    assert "no-store" in respuesta["Cache-Control"]


def test_salud__head_para_balanceadores_y_post_no(client):
    assert client.head(URL).status_code == 200
    assert client.post(URL).status_code == 405


def test_salud__la_url_se_resuelve_por_nombre():
    assert reverse("whatsapp_notify:salud") == URL


def test_salud__con_un_broker_redis_que_contesta__ok(client, redis_url):
    with con_broker(redis_url):
        respuesta = client.get(URL, {"solo": "broker"})

    assert respuesta.status_code == 200
    assert respuesta.json()["comprobaciones"] == {"broker": {"estado": OK}}


def test_salud__solo_corre_las_comprobaciones_pedidas(client):
    respuesta = client.get(URL, {"solo": "cola,base_de_datos"})

    assert respuesta.status_code == 200
    assert list(respuesta.json()["comprobaciones"]) == ["base_de_datos", "cola"]


def test_salud__una_comprobacion_que_no_existe__400_que_la_nombra(client):
    respuesta = client.get(URL, {"solo": "base_de_datos,disco"})

    assert respuesta.status_code == 400
    assert "disco" in respuesta.json()["error"]


# -- failures ----------------------------------------------------------------------------


# A second database alias on a port where nothing listens, in a process of its own: the
# test case guards every alias it did not set up, and this one must really be dialled.
PROCESO_BASE_MUERTA = """
import json, os, sys
import django
from django.conf import settings
settings.DATABASES["muerta"] = {
    "ENGINE": "django.db.backends.postgresql", "NAME": "nadie", "USER": "postgres",
    "HOST": "127.0.0.1", "PORT": sys.argv[1], "OPTIONS": {"connect_timeout": 1},
}
django.setup()
from django.test import Client
respuesta = Client().get("/whatsapp/salud/", headers={"Authorization": "Bearer " + sys.argv[2]})
print(json.dumps({"status": respuesta.status_code, "cuerpo": respuesta.json()}))
"""


def en_otro_proceso(codigo: str, *argumentos: str, **entorno: str) -> subprocess.CompletedProcess:
    """Run ``codigo`` in a new Python on ``tests.settings`` (SQLite, eager Celery)."""
    variables = {clave: valor for clave, valor in os.environ.items() if clave != "WHATSAPP_TEST_DB"}
    variables |= {"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(RAIZ), **entorno}
    return subprocess.run(
        [sys.executable, "-c", codigo, *argumentos],
        capture_output=True, text=True, cwd=RAIZ, env=variables, timeout=60,
    )  # fmt: skip


def test_salud__una_base_de_datos_caida__503_y_no_consulta_lo_demas():
    proceso = en_otro_proceso(
        PROCESO_BASE_MUERTA, str(puerto_libre()), TOKEN, WHATSAPP_TEST_HEALTH_TOKEN=TOKEN
    )

    assert proceso.returncode == 0, proceso.stderr
    resultado = json.loads(proceso.stdout.splitlines()[-1])
    assert resultado["status"] == 503
    cuerpo = resultado["cuerpo"]
    assert cuerpo["estado"] == FALLO
    base = cuerpo["comprobaciones"]["base_de_datos"]
    assert base["estado"] == FALLO
    assert base["detalle"]["muerta"] == {"error": "OperationalError"}
    assert "ms" in base["detalle"]["default"]
    for nombre in ("cuentas", "cola", "webhooks"):
        assert cuerpo["comprobaciones"][nombre]["estado"] == FALLO
        assert cuerpo["comprobaciones"][nombre]["motivo"] == "la base de datos no responde"


@pytest.mark.django_db(transaction=True)
def test_salud__la_sesion_de_postgresql_cortada__503(postgres, client, token):
    with postgres.cursor() as cursor:
        cursor.execute("SELECT 1")
    terminar_sesion(postgres.connection.info.backend_pid)

    try:
        respuesta, _ = pedir(client, **con_token())
    finally:
        postgres.close()  # the broken session; the teardown opens a new one

    assert respuesta.status_code == 503
    base = respuesta.json()["comprobaciones"]["base_de_datos"]
    assert base["detalle"]["default"]["error"] in {"OperationalError", "InterfaceError"}


def test_salud__un_broker_caido__503_en_menos_de_un_segundo_y_medio(client, token):
    with con_broker(f"redis://127.0.0.1:{puerto_libre()}/0"):
        respuesta, duracion = pedir(client, **con_token())

    assert respuesta.status_code == 503
    broker = respuesta.json()["comprobaciones"]["broker"]
    assert broker["estado"] == FALLO
    assert broker["motivo"].startswith("el broker no responde")
    assert broker["detalle"]["publicaciones_en_pausa"] is False  # a probe pauses nothing
    assert duracion < LIMITE


def test_salud__un_broker_que_acepta_y_no_contesta__503_dentro_del_plazo(
    client, token, oyente_mudo
):
    with con_broker(oyente_mudo):
        respuesta, duracion = pedir(client, **con_token())

    assert respuesta.status_code == 503
    assert respuesta.json()["comprobaciones"]["broker"]["estado"] == FALLO
    assert duracion < LIMITE


def test_salud__un_redis_congelado__503_dentro_del_plazo_y_ok_al_volver(client, redis_server):
    redis_server.start()
    with con_broker(redis_server.url):
        assert pedir(client)[0].status_code == 200
        redis_server.hang()
        try:
            respuesta, duracion = pedir(client)
        finally:
            redis_server.resume()
        assert respuesta.status_code == 503
        assert duracion < LIMITE
        time.sleep(0.6)  # the probe that timed out has closed its connection by now
        assert pedir(client)[0].status_code == 200


def test_salud__una_comprobacion_que_revienta_es_un_fallo_nunca_un_500(client, monkeypatch):
    def revienta():
        raise RuntimeError(f"texto con {DIGITOS}")

    monkeypatch.setitem(health.COMPROBACIONES, "cola", revienta)

    salud = comprobar_salud()
    respuesta, _ = pedir(client)

    [cola] = [c for c in salud.comprobaciones if c.nombre == "cola"]
    assert (cola.estado, cola.motivo) == (FALLO, "error: RuntimeError")
    assert respuesta.status_code == 503
    assert DIGITOS not in respuesta.content.decode()


# -- accounts and queue ----------------------------------------------------------------


def test_salud__una_cuenta_pausada__degradado_con_200(client, token, pausada):
    respuesta, _ = pedir(client, **con_token())

    assert respuesta.status_code == 200
    cuerpo = respuesta.json()
    assert cuerpo["estado"] == DEGRADADO
    cuentas = cuerpo["comprobaciones"]["cuentas"]
    assert cuentas["estado"] == DEGRADADO
    assert cuentas["detalle"]["default"]["pausada"] is True
    assert cuentas["detalle"]["default"]["error_codigo"] == 190
    assert cuentas["detalle"]["default"]["pausada_en"] == pausada.pausada_en.isoformat()


def test_salud__una_cuenta_sin_credenciales__degradado_y_nombra_la_opcion(
    client, token, wa_settings
):
    meta = {"BACKEND": "whatsapp_notify.backends.meta.MetaBackend", "OPTIONS": {}}
    wa_settings(BACKENDS={"default": meta})

    respuesta, _ = pedir(client, **con_token())

    assert respuesta.status_code == 200
    cuentas = respuesta.json()["comprobaciones"]["cuentas"]
    assert (cuentas["estado"], cuentas["motivo"]) == (DEGRADADO, "1 sin configurar")
    assert cuentas["detalle"]["default"]["configurada"] is False
    assert "ACCESS_TOKEN" in cuentas["detalle"]["default"]["faltan"]


def test_salud__una_cola_vieja__503(client, token, wa_settings):
    wa_settings(HEALTH_MAX_QUEUE_AGE=600)
    envio_pendiente(timedelta(minutes=30))

    respuesta, _ = pedir(client, **con_token())

    assert respuesta.status_code == 503
    cola = respuesta.json()["comprobaciones"]["cola"]
    assert cola["estado"] == FALLO
    assert cola["detalle"]["pendientes"] == 1
    assert cola["detalle"]["espera_s"] >= 30 * 60


def test_salud__una_cola_reciente__ok(client, wa_settings):
    wa_settings(HEALTH_MAX_QUEUE_AGE=600)
    envio_pendiente(timedelta(minutes=2))

    respuesta, _ = pedir(client)

    assert respuesta.status_code == 200


def test_salud__lo_que_espera_a_una_cuenta_pausada_no_tumba_la_cola(
    client, token, wa_settings, pausada
):
    wa_settings(
        HEALTH_MAX_QUEUE_AGE=600,
        BACKENDS={
            "default": {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"},
            "sucursal": {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"},
        },
    )
    envio_pendiente(timedelta(hours=1))  # default: paused
    envio_pendiente(timedelta(minutes=1), cuenta="sucursal")

    respuesta, _ = pedir(client, **con_token())

    assert respuesta.status_code == 200
    cola = respuesta.json()["comprobaciones"]["cola"]
    assert cola["estado"] == OK
    assert cola["detalle"]["espera_sin_pausadas_s"] < 600


def test_salud__webhooks_sin_aplicar_hace_rato__degradado(client, wa_settings):
    wa_settings(HEALTH_MAX_WEBHOOK_AGE=60)
    EventoWebhook.objects.create(
        cuenta="default",
        sha256="a" * 64,
        cuerpo="{}",
        recibido_en=timezone.now() - timedelta(minutes=5),
    )

    respuesta, _ = pedir(client)

    assert respuesta.status_code == 200
    assert respuesta.json()["comprobaciones"]["webhooks"] == {"estado": DEGRADADO}


# -- who sees what ---------------------------------------------------------------------


def test_salud__anonimo_solo_ve_estados_sin_motivos_ni_cuentas(client, pausada, wa_settings):
    wa_settings(HEALTH_MAX_QUEUE_AGE=600)
    envio_pendiente(timedelta(hours=1))

    respuesta, _ = pedir(client)

    texto = respuesta.content.decode()
    for comprobacion in respuesta.json()["comprobaciones"].values():
        assert list(comprobacion) == ["estado"]
    assert DIGITOS not in texto
    assert "Token caducado" not in texto
    assert "default" not in texto


def test_salud__un_token_equivocado_no_ve_detalles(client, token, pausada):
    respuesta, _ = pedir(client, **con_token("otro"))

    assert respuesta.json()["comprobaciones"]["cuentas"] == {"estado": DEGRADADO}


def test_salud__el_token_rota_como_lista(client, wa_settings, pausada):
    wa_settings(HEALTH_TOKEN=["viejo", "nuevo"])

    for valor in ("viejo", "nuevo"):
        respuesta, _ = pedir(client, **con_token(valor))
        assert "detalle" in respuesta.json()["comprobaciones"]["cuentas"]


def test_salud__el_staff_ve_los_detalles(client, pausada):
    client.force_login(User.objects.create_user("ops", is_staff=True))

    respuesta, _ = pedir(client)

    cuentas = respuesta.json()["comprobaciones"]["cuentas"]
    assert cuentas["detalle"]["default"]["error"].startswith("(#190) Token caducado")


def test_comprobar_salud__devuelve_una_estructura_simple(pausada):
    salud = comprobar_salud(["cuentas"])

    assert salud.estado == DEGRADADO
    assert salud.sana
    assert salud.as_dict() == {
        "estado": DEGRADADO,
        "comprobaciones": {"cuentas": {"estado": DEGRADADO}},
    }
    detallado = salud.as_dict(detalle=True)["comprobaciones"]["cuentas"]
    assert detallado["motivo"] == "1 pausada(s)"
    assert detallado["duracion_ms"] >= 0


@pytest.mark.parametrize("token", ["token-de-salud\n", " token-de-salud "])
def test_token__con_espacios_alrededor_en_el_ajuste_tambien_vale(client, wa_settings, token):
    """A token read from a secret file keeps its newline; the header's never has one."""
    wa_settings(HEALTH_TOKEN=token)

    respuesta = client.get(
        reverse("whatsapp_notify:salud"), headers={"Authorization": "Bearer token-de-salud"}
    )

    assert "detalle" in respuesta.json()["comprobaciones"]["base_de_datos"]


def test_solo__lo_desconocido_no_agranda_la_respuesta(client):
    respuesta = client.get(
        reverse("whatsapp_notify:salud"), {"solo": ",".join(["x" * 10_000] * 50)}
    )

    assert respuesta.status_code == 400
    assert len(respuesta.content) < 2_000
