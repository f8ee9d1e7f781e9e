"""Prometheus metrics: counters where the app records a change, gauges read at scrape time.

Counters are read from prometheus_client's registry as differences (they live for the whole
test process); the multiprocess cases run real processes that write to a
``PROMETHEUS_MULTIPROC_DIR`` the view adds up.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from tests.test_salud import TOKEN, con_token, en_otro_proceso
from tests.test_webhooks import cambio, envio_enviado, envoltura, estado, publicar, url
from whatsapp_notify import enviar_plantilla, metrics
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.outbound.delivery import omitir_vencidos

pytestmark = pytest.mark.django_db

URL = "/whatsapp/metricas/"
TELEFONO = "+52 55 1234 5678"
DIGITOS = "5512345678"


def valor(nombre: str, **etiquetas: str) -> float:
    return REGISTRY.get_sample_value(nombre, etiquetas) or 0.0


def envios(estado: str, tipo: str = "ninguno", cuenta: str = "default") -> float:
    return valor("whatsapp_notify_envios_total", cuenta=cuenta, tipo=tipo, estado=estado)


def webhooks(resultado: str, cuenta: str = "default") -> float:
    return valor("whatsapp_notify_webhooks_total", cuenta=cuenta, resultado=resultado)


def latencias(cuenta: str = "default") -> float:
    return valor("whatsapp_notify_latencia_envio_segundos_count", cuenta=cuenta)


@pytest.fixture
def token(wa_settings):
    wa_settings(HEALTH_TOKEN=TOKEN)
    return TOKEN


@pytest.fixture
def meta(wa_settings):
    from tests.test_webhooks import cuenta_meta

    wa_settings(BACKENDS={"default": cuenta_meta()})


# -- envíos ----------------------------------------------------------------------------


def test_metricas__un_envio_enviado_cuenta_y_mide_su_latencia(entregar, outbox):
    antes, latencia_antes = envios("enviado", "vehiculo_listo"), latencias()

    envio = entregar(
        enviar_plantilla,
        TELEFONO,
        "vehiculo_listo_cliente",
        variables=["Ana"],
        tipo="vehiculo_listo",
    )

    envio.refresh_from_db()
    assert (envio.estado, len(outbox)) == (EstadoEnvio.ENVIADO, 1)
    assert envios("enviado", "vehiculo_listo") == antes + 1
    assert latencias() == latencia_antes + 1


def test_metricas__un_omitido_al_registrar_cuenta_por_motivo():
    antes = valor("whatsapp_notify_omitidos_total", cuenta="default", motivo="telefono_invalido")
    omitidos_antes = envios("omitido")

    envio = enviar_plantilla("123", "vehiculo_listo_cliente", variables=["Ana"])

    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, "telefono_invalido")
    despues = valor("whatsapp_notify_omitidos_total", cuenta="default", motivo="telefono_invalido")
    assert despues == antes + 1
    assert envios("omitido") == omitidos_antes + 1


def test_metricas__un_omitido_despues_de_registrado_tambien_cuenta():
    envio = enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", variables=["Ana"])
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(expira_en=timezone.now() - timedelta(1))
    antes = valor("whatsapp_notify_omitidos_total", cuenta="default", motivo="vencido")

    assert omitir_vencidos(timezone.now()) == 1

    assert valor("whatsapp_notify_omitidos_total", cuenta="default", motivo="vencido") == antes + 1


def test_metricas__los_estados_de_un_webhook_cuentan_uno_a_uno_y_en_bloque(client, meta):
    uno, dos, tres = (envio_enviado(f"wamid.{n}") for n in ("uno", "dos", "tres"))
    entregados, leidos = envios("entregado"), envios("leido")

    solo = envoltura([cambio(statuses=[estado("wamid.uno", "delivered", 1750000000)])])
    assert publicar(client, solo).status_code == 200
    en_bloque = [estado(f"wamid.{n}", "read", 1750000100) for n in ("uno", "dos", "tres")]
    assert publicar(client, envoltura([cambio(statuses=en_bloque)])).status_code == 200

    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.LEIDO).count() == 3
    assert envios("entregado") == entregados + 1
    assert envios("leido") == leidos + 3
    del uno, dos, tres


# -- webhook bodies --------------------------------------------------------------------


def test_metricas__cada_cuerpo_de_webhook_cuenta_con_su_resultado(client, meta, wa_settings):
    cuerpo = envoltura([cambio(statuses=[estado("wamid.x", "delivered", 1750000000)])])
    antes = {r: webhooks(r) for r in ("guardado", "repetido", "firma_invalida", "mal_formado")}

    assert publicar(client, cuerpo).status_code == 200
    assert publicar(client, cuerpo).status_code == 200
    assert publicar(client, cuerpo, secreto="otro").status_code == 403
    assert publicar(client, b"no es json").status_code == 400

    assert {r: webhooks(r) - antes[r] for r in antes} == {
        "guardado": 1,
        "repetido": 1,
        "firma_invalida": 1,
        "mal_formado": 1,
    }


def test_metricas__un_cuerpo_demasiado_grande_cuenta(client, meta, wa_settings):
    wa_settings(WEBHOOK_MAX_BYTES=100)
    antes = webhooks("demasiado_grande")

    respuesta = client.post(url(), b"x" * 200, content_type="application/json")

    assert respuesta.status_code == 413
    assert webhooks("demasiado_grande") == antes + 1


def test_metricas__una_cuenta_que_no_existe_no_crea_etiquetas(client, meta):
    respuesta = client.post(url("inventada"), b"{}", content_type="application/json")

    assert respuesta.status_code == 404
    etiquetas = {m.labels.get("cuenta") for f in REGISTRY.collect() for m in f.samples}
    assert "inventada" not in etiquetas


# -- labels ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tipo", "etiqueta"),
    [
        ("recordatorio_24h", "recordatorio_24h"),
        ("", "ninguno"),
        (f"cliente_{DIGITOS}", "otro"),
        ("Con Espacios", "otro"),
    ],
    ids=["slug", "vacio", "con-telefono", "no-slug"],
)
def test_metricas__el_tipo_solo_es_etiqueta_si_es_un_slug_sin_numeros(entregar, tipo, etiqueta):
    antes = envios("enviado", etiqueta)

    entregar(enviar_plantilla, TELEFONO, "vehiculo_listo_cliente", variables=["Ana"], tipo=tipo)

    assert envios("enviado", etiqueta) == antes + 1


def test_metricas__los_tipos_distintos_tienen_tope(monkeypatch):
    monkeypatch.setattr(metrics._metricas, "_tipos", set())
    monkeypatch.setattr(metrics, "MAX_TIPOS", 2)

    nombres = [metrics._metricas.tipo(nombre) for nombre in ("a", "b", "c", "a")]

    assert nombres == ["a", "b", "otro", "a"]


def test_metricas__ninguna_etiqueta_lleva_un_telefono_ni_una_clave(entregar, client, token):
    entregar(
        enviar_plantilla,
        TELEFONO,
        "vehiculo_listo_cliente",
        variables=["Ana"],
        tipo=f"t{DIGITOS}",
        clave=f"orden:{DIGITOS}",
    )
    enviar_plantilla("123", "vehiculo_listo_cliente", variables=["Ana"])

    texto = client.get(URL, **con_token()).content.decode()

    assert "whatsapp_notify_envios_total" in texto
    etiquetas = " ".join(re.findall(r"\{[^}]*\}", texto))
    assert DIGITOS not in etiquetas
    assert "orden:" not in etiquetas


# -- the view --------------------------------------------------------------------------


def test_metricas__anonimo_403(client):
    respuesta = client.get(URL)

    assert respuesta.status_code == 403
    assert respuesta.content == b""


def test_metricas__con_token_el_texto_de_prometheus_con_la_cola_leida_ahora(client, token):
    enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", variables=["Ana"])  # its task never ran

    respuesta = client.get(URL, **con_token())

    assert respuesta.status_code == 200
    assert respuesta["Content-Type"].startswith("text/plain")
    assert "no-store" in respuesta["Cache-Control"]
    texto = respuesta.content.decode()
    assert "whatsapp_notify_cola_leida 1.0" in texto
    assert "whatsapp_notify_cola_pendientes 1.0" in texto
    assert 'whatsapp_notify_cuenta_pausada{cuenta="default"} 0.0' in texto


def test_metricas__un_contador_que_falla_no_llega_al_envio(entregar, monkeypatch, outbox):
    def revienta(*args):
        raise RuntimeError("registro roto")

    monkeypatch.setattr(metrics._metricas.envios, "labels", revienta)

    envio = entregar(enviar_plantilla, TELEFONO, "vehiculo_listo_cliente", variables=["Ana"])

    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.ENVIADO


# -- several processes -----------------------------------------------------------------

PROCESO_QUE_CUENTA = """
import django
django.setup()
from whatsapp_notify import metrics
metrics.contar_webhook("default", metrics.GUARDADO)
"""


def test_metricas__multiproceso_suma_lo_que_cuenta_cada_proceso(
    client, token, tmp_path, monkeypatch
):
    for _ in range(2):
        proceso = en_otro_proceso(PROCESO_QUE_CUENTA, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
        assert proceso.returncode == 0, proceso.stderr
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    texto = client.get(URL, **con_token()).content.decode()

    assert 'whatsapp_notify_webhooks_total{cuenta="default",resultado="guardado"} 2.0' in texto
    assert "whatsapp_notify_cola_leida 1.0" in texto


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_metricas__lo_que_envia_un_worker_de_celery_se_ve_en_la_vista(
    postgres, redis_url, client, token, tmp_path, monkeypatch, wa_settings
):
    from tests.celery_app import con_broker
    from tests.graph_stub import GraphStub
    from tests.test_worker_redis import esperar_estado
    from tests.workers import Worker, entorno_worker

    cola = f"whatsapp-test-{uuid.uuid4().hex[:8]}"
    with GraphStub() as graph:
        entorno = entorno_worker(redis_url, graph.url, cola)
        entorno["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
        worker = Worker(cola, entorno, nombre=f"{cola}@%h")
        try:
            worker.esperar_arranque()
            wa_settings(TASK_QUEUE=cola)
            with con_broker(redis_url):
                envio = enviar_plantilla(
                    TELEFONO, "vehiculo_listo_cliente", variables=["Ana"], tipo="vehiculo_listo"
                )
                esperar_estado(envio, EstadoEnvio.ENVIADO, worker.log)
        finally:
            worker.parar()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    texto = client.get(URL, **con_token()).content.decode()

    enviado = 'cuenta="default",estado="enviado",tipo="vehiculo_listo"'
    assert f"whatsapp_notify_envios_total{{{enviado}}} 1.0" in texto
    assert 'whatsapp_notify_latencia_envio_segundos_count{cuenta="default"} 1.0' in texto


# -- without prometheus_client ---------------------------------------------------------

PROCESO_SIN_PROMETHEUS = """
import json, sys
sys.modules["prometheus_client"] = None  # as if the extra were not installed
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from whatsapp_notify import enviar_plantilla, metrics
from whatsapp_notify.backends import locmem
envio = enviar_plantilla("+52 55 1234 5678", "vehiculo_listo_cliente", variables=["Ana"])
envio.refresh_from_db()
omitido = enviar_plantilla("123", "vehiculo_listo_cliente", variables=["Ana"])
cliente = Client()
con_token = {"headers": {"Authorization": "Bearer t"}}
print(json.dumps({
    "disponible": metrics.DISPONIBLE,
    "estado": envio.estado,
    "omitido": omitido.estado,
    "enviados": len(locmem.outbox),
    "metricas": cliente.get("/whatsapp/metricas/", **con_token).status_code,
    "salud": cliente.get("/whatsapp/salud/").status_code,
}))
"""


def test_sin_prometheus_client__todo_funciona_y_metricas_es_404():
    proceso = en_otro_proceso(PROCESO_SIN_PROMETHEUS, WHATSAPP_TEST_HEALTH_TOKEN="t")

    assert proceso.returncode == 0, proceso.stderr
    assert json.loads(proceso.stdout.splitlines()[-1]) == {
        "disponible": False,
        "estado": "enviado",
        "omitido": "omitido",
        "enviados": 1,
        "metricas": 404,
        "salud": 200,
    }
