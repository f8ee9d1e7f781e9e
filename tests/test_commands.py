"""The operator commands: whatsapp_check, whatsapp_send_test, whatsapp_reintentar and
whatsapp_recordatorios.

Graph is the sandbox (a real local server): in-process for the phone number, with
``responses`` shaping ``subscribed_apps`` case by case, or started as ``manage.py
whatsapp_sandbox`` with the ids it prints. Redis is the test server
(``WHATSAPP_TEST_REDIS_URL``); a port nothing listens on stands for a service that is down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import ClassVar

import pytest
import responses
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.utils import timezone

from tests.celery_app import con_broker
from tests.proyecto import django_en
from tests.workers import Worker
from whatsapp_notify import enviar_plantilla
from whatsapp_notify.backends.locmem import LocmemBackend
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.exceptions import (
    AmbiguousError,
    PermanentError,
    SuscripcionError,
    TransientError,
)
from whatsapp_notify.management.commands import whatsapp_send_test
from whatsapp_notify.management.salida import local, sin_credenciales
from whatsapp_notify.models import EnvioWhatsApp, EstadoCuenta, EstadoEnvio, Plantilla
from whatsapp_notify.sandbox import Sandbox

pytestmark = pytest.mark.django_db(transaction=True)

RAIZ = Path(__file__).resolve().parent.parent
META = "whatsapp_notify.backends.meta.MetaBackend"
TOKEN = "EAAGtokenDePrueba"
WABA = "102290129340398"
NUMERO_ID = "106540352242922"
VERIFY_TOKEN = "verificame"
TELEFONO = "+52 55 1234 5678"
DIGITOS = "525512345678"
PLANTILLA = "vehiculo_listo_cliente"

# A urlconf without whatsapp_notify.urls (ROOT_URLCONF="tests.test_commands").
urlpatterns: list = []


def ejecutar(nombre: str, *args: str) -> str:
    """Run a command that must succeed; return its stdout."""
    salida = StringIO()
    call_command(nombre, *args, stdout=salida, stderr=StringIO())
    return salida.getvalue()


def fallar(nombre: str, *args: str) -> tuple[str, str]:
    """Run a command that must fail with exit status 1; return its stdout and error."""
    salida = StringIO()
    with pytest.raises(CommandError) as error:
        call_command(nombre, *args, stdout=salida, stderr=StringIO())
    assert error.value.returncode == 1
    return salida.getvalue(), str(error.value)


def puerto_muerto() -> int:
    """A local port nothing listens on."""
    with socket.socket() as libre:
        libre.bind(("127.0.0.1", 0))
        return libre.getsockname()[1]


def lineas(salida: str, nivel: str) -> list[str]:
    return [linea for linea in salida.splitlines() if linea.startswith(f"{nivel}  ")]


# -- whatsapp_check ----------------------------------------------------------------------


@pytest.fixture
def sandbox():
    with Sandbox(
        token=TOKEN, verified_name="Taller Demo", display_phone_number="+52 55 0000 0000"
    ) as servidor:
        yield servidor


@pytest.fixture
def graph(sandbox):
    """``responses`` for subscribed_apps; every other request reaches the sandbox."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(sandbox.base_url)
        yield mock


@pytest.fixture
def cuenta_meta(wa_settings, sandbox):
    """Configure the default account as MetaBackend against the sandbox."""

    def configurar(**opciones):
        options = {
            "PHONE_NUMBER_ID": NUMERO_ID,
            "ACCESS_TOKEN": TOKEN,
            "BASE_URL": sandbox.base_url,
            "BUSINESS_ACCOUNT_ID": WABA,
            "VERIFY_TOKEN": VERIFY_TOKEN,
            "TIMEOUT": 5,
            **opciones,
        }
        wa_settings(BACKENDS={"default": {"BACKEND": META, "OPTIONS": options}})

    configurar()
    return configurar


def suscribir(graph, sandbox, *apps: dict) -> str:
    url = f"{sandbox.base_url}/v25.0/{WABA}/subscribed_apps"
    graph.get(url, json={"data": list(apps)})
    return url


APP = {"whatsapp_business_api_data": {"id": "555", "name": "ERP Taller", "link": "https://x"}}


def test_check__cuenta_sana__una_linea_ok_por_comprobacion(
    cuenta_meta, graph, sandbox, wa_settings, redis_url
):
    wa_settings(REDIS_URL=redis_url)
    url = suscribir(graph, sandbox, APP)

    salida = ejecutar("whatsapp_check")

    assert "OK  credenciales: Taller Demo (+52 55 0000 0000)" in salida
    assert "OK  webhook: ruta /whatsapp/webhook/" in salida
    assert "OK  webhook: app(s) suscrita(s) a la WABA: ERP Taller (555)" in salida
    assert f"OK  redis: {redis_url} (REDIS_URL) responde" in salida
    assert salida.rstrip().endswith("Todo en orden.")
    assert lineas(salida, "ERROR") == []
    # The tests' Celery is eager: a warning, not a failure.
    assert [linea.split(":")[0] for linea in lineas(salida, "WARN")] == ["WARN  worker"]
    [llamada] = [c for c in graph.calls if c.request.url.startswith(url)]
    assert llamada.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert [p.ruta.split("?")[0] for p in sandbox.requests] == [f"/v25.0/{NUMERO_ID}"]


def test_check__token_rechazado__error_con_la_opcion_a_corregir(cuenta_meta, graph, sandbox):
    cuenta_meta(ACCESS_TOKEN="EAAGotroToken")
    suscribir(graph, sandbox, APP)

    salida, error = fallar("whatsapp_check")

    [credenciales] = lineas(salida, "ERROR")  # subscribed_apps is not asked with a bad token
    assert credenciales.startswith("ERROR  credenciales: (#190)")
    assert 'OPTIONS"]["ACCESS_TOKEN"]: token permanente' in credenciales
    assert "EAAGotroToken" not in salida + error
    assert "1 comprobación con ERROR." in error


def test_check__proveedor_inalcanzable__error_que_apunta_a_base_url(cuenta_meta, graph):
    base = f"http://127.0.0.1:{puerto_muerto()}"
    cuenta_meta(BASE_URL=base, BUSINESS_ACCOUNT_ID=None)
    graph.add_passthru(base)

    salida, _ = fallar("whatsapp_check")

    [credenciales] = lineas(salida, "ERROR")
    assert credenciales.startswith("ERROR  credenciales: No se pudo conectar con 127.0.0.1:")
    assert credenciales.endswith(f'la red, el proxy y OPTIONS["BASE_URL"] ({base}).')


def test_check__waba_sin_apps__error_con_el_curl_que_la_suscribe(cuenta_meta, graph, sandbox):
    suscribir(graph, sandbox)

    salida, _ = fallar("whatsapp_check")

    [webhook] = lineas(salida, "ERROR")
    assert "ninguna app está suscrita a la WABA" in webhook
    assert f"curl -X POST '{sandbox.base_url}/v25.0/{WABA}/subscribed_apps'" in webhook
    assert "Bearer <ACCESS_TOKEN>" in webhook
    assert TOKEN not in salida


def test_check__sin_business_account_id__aviso_sin_consultar(cuenta_meta, graph, sandbox):
    cuenta_meta(BUSINESS_ACCOUNT_ID=None)

    salida = ejecutar("whatsapp_check")

    [aviso] = [linea for linea in lineas(salida, "WARN") if "webhook" in linea]
    assert "sin BUSINESS_ACCOUNT_ID" in aviso
    assert "Identificador de la cuenta de WhatsApp Business" in aviso
    assert [c.request.url for c in graph.calls if "subscribed_apps" in c.request.url] == []


def test_check__sin_permiso_sobre_la_waba__error(cuenta_meta, graph, sandbox):
    graph.get(
        f"{sandbox.base_url}/v25.0/{WABA}/subscribed_apps",
        status=403,
        json={"error": {"message": "(#200) Permissions error", "code": 200}},
    )

    salida, _ = fallar("whatsapp_check")

    [webhook] = lineas(salida, "ERROR")
    assert "no se pudo leer subscribed_apps: (#200)" in webhook
    assert "whatsapp_business_management" in webhook


# -- whatsapp_check against the running sandbox ------------------------------------------


@contextmanager
def sandbox_en_marcha(*argumentos: str) -> Iterator[dict[str, str]]:
    """``manage.py whatsapp_sandbox`` in its own process; yields the OPTIONS it printed."""
    entorno = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(RAIZ)}
    orden = [sys.executable, str(RAIZ / "manage.py"), "whatsapp_sandbox", "--port", "0"]
    proceso = subprocess.Popen(
        [*orden, *argumentos], cwd=RAIZ, env=entorno, stdout=subprocess.PIPE, text=True
    )
    try:
        impreso = "".join(iter(proceso.stdout.readline, "Ctrl-C para terminar.\n"))
        yield dict(re.findall(r'^\s+"([A-Z_]+)": "([^"]*)"', impreso, re.M)) | {"_": impreso}
    finally:
        proceso.send_signal(signal.SIGINT)
        try:
            proceso.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proceso.kill()
            raise


def cuenta_impresa(wa_settings, impresas: dict[str, str], **cambios: str) -> None:
    """The default account, configured with what the sandbox printed (and ``cambios``)."""
    opciones = {k: v for k, v in impresas.items() if k != "_"}
    opciones.update(VERIFY_TOKEN=VERIFY_TOKEN, TIMEOUT=5, **cambios)
    wa_settings(BACKENDS={"default": {"BACKEND": META, "OPTIONS": opciones}})


def test_check__contra_el_sandbox_con_sus_ids__todo_ok_y_el_handshake(wa_settings, live_server):
    webhook = f"{live_server.url}/whatsapp/webhook/"
    with sandbox_en_marcha("--webhook-url", webhook) as impresas:
        cuenta_impresa(wa_settings, impresas)

        salida = ejecutar("whatsapp_check", "--sitio", live_server.url)

    assert lineas(salida, "ERROR") == []
    assert "OK  credenciales: Sandbox WhatsApp (15550001234)" in salida
    assert f"OK  webhook: {webhook} responde al handshake de Meta" in salida
    assert "OK  webhook: app(s) suscrita(s) a la WABA: Sandbox de whatsapp_notify (" in salida
    assert "permiso" not in salida


def test_sandbox__imprime_los_ids_de_su_cuenta_para_pegarlos():
    with sandbox_en_marcha("--phone-number-id", "111", "--waba-id", "222") as impresas:
        pass

    assert impresas["PHONE_NUMBER_ID"] == "111"
    assert impresas["BUSINESS_ACCOUNT_ID"] == "222"
    assert impresas["ACCESS_TOKEN"]
    assert impresas["APP_SECRET"] == "sandbox-app-secret"
    assert impresas["BASE_URL"].startswith("http://127.0.0.1:")
    assert 'WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]' in impresas["_"]
    assert re.search(r"app de Meta suscrita a la WABA: \d+", impresas["_"])


def test_sandbox__con_el_id_de_la_waba_propio__sincroniza_sus_plantillas(wa_settings):
    with sandbox_en_marcha("--waba-id", "987654321098765") as impresas:
        cuenta_impresa(wa_settings, impresas)

        salida = ejecutar("whatsapp_sync_plantillas")

    assert impresas["BUSINESS_ACCOUNT_ID"] == "987654321098765"
    assert "Invalid parameter" not in salida
    assert Plantilla.objects.filter(cuenta="default").exists()


def test_sandbox__un_token_elegido_no_se_imprime():
    with sandbox_en_marcha("--token", "EAAGmiTokenSecreto") as impresas:
        pass

    assert impresas["ACCESS_TOKEN"] == "<el de --token>"
    assert "EAAGmiTokenSecreto" not in impresas["_"]


@pytest.mark.parametrize(
    ("cambio", "linea", "frases", "ausente"),
    [
        pytest.param(
            {"PHONE_NUMBER_ID": "999"},
            "ERROR  credenciales: (#100)",
            ["Object with ID '999' does not exist", 'OPTIONS"]["PHONE_NUMBER_ID"]'],
            "permiso",
            id="numero-ajeno",
        ),
        pytest.param(
            {"BUSINESS_ACCOUNT_ID": "555"},
            "ERROR  webhook: no se pudo leer subscribed_apps: (#100)",
            [
                "ese BUSINESS_ACCOUNT_ID no es una WABA que este token pueda leer: comprueba el id",
                'OPTIONS"]["BUSINESS_ACCOUNT_ID"]',
            ],
            "id de un número",
            id="waba-ajena",
        ),
        pytest.param(
            {"BUSINESS_ACCOUNT_ID": "100000000000001"},
            "ERROR  webhook: no se pudo leer subscribed_apps: (#100)",
            ["BUSINESS_ACCOUNT_ID tiene el id de un número de teléfono (PHONE_NUMBER_ID)"],
            "whatsapp_business_management",
            id="waba-con-el-id-del-numero",
        ),
        pytest.param(
            {"ACCESS_TOKEN": "EAAGotro"},
            "ERROR  credenciales: (#190)",
            ['OPTIONS"]["ACCESS_TOKEN"]'],
            "EAAGotro",
            id="token-ajeno",
        ),
    ],
)
def test_check__contra_el_sandbox_con_un_id_o_token_mal__error_que_nombra_cual(
    wa_settings, cambio, linea, frases, ausente
):
    with sandbox_en_marcha("--token", TOKEN) as impresas:
        cuenta_impresa(wa_settings, impresas, **{"ACCESS_TOKEN": TOKEN, **cambio})

        salida, error = fallar("whatsapp_check")

    [mal] = lineas(salida, "ERROR")
    assert mal.startswith(linea)
    for frase in frases:
        assert frase in mal
    assert ausente not in mal
    assert error == "1 comprobación con ERROR."


class SuscripcionPropia(LocmemBackend):
    """A provider that declares check_subscription; the command knows nothing else of it."""

    capabilities = frozenset({"check_subscription"})
    preguntas: ClassVar[list[str]] = []

    def check_subscription(self, url: str = "") -> str:
        SuscripcionPropia.preguntas.append(url)
        if url:
            raise SuscripcionError(f"el proveedor no llama a {url}", "regístrala en su consola.")
        return "el proveedor llama al webhook"


class SinCapacidad(LocmemBackend):
    """Has a ``subscribed_apps`` attribute but does not declare the capability."""

    def subscribed_apps(self) -> list:  # pragma: no cover - must never be called
        raise AssertionError("the command asked a capability the backend does not declare")


@pytest.mark.parametrize(
    ("sitio", "esperado"),
    [
        pytest.param((), "OK  webhook: el proveedor llama al webhook", id="sin-sitio"),
        pytest.param(
            ("--sitio", "https://erp.ejemplo.com"),
            "ERROR  webhook: el proveedor no llama a https://erp.ejemplo.com/whatsapp/webhook/ "
            "→ fix: regístrala en su consola.",
            id="con-sitio",
        ),
    ],
)
def test_check__la_suscripcion_se_pregunta_por_la_capacidad_declarada(wa_settings, sitio, esperado):
    SuscripcionPropia.preguntas.clear()
    wa_settings(BACKENDS={"default": {"BACKEND": "tests.test_commands.SuscripcionPropia"}})

    salida = StringIO()
    with contextlib.suppress(CommandError):
        call_command("whatsapp_check", *sitio, stdout=salida, stderr=StringIO())

    assert esperado in salida.getvalue()
    assert SuscripcionPropia.preguntas == (
        ["https://erp.ejemplo.com/whatsapp/webhook/"] if sitio else [""]
    )


def test_check__sin_la_capacidad_no_se_pregunta_la_suscripcion(wa_settings):
    wa_settings(BACKENDS={"default": {"BACKEND": "tests.test_commands.SinCapacidad"}})

    salida = StringIO()
    with contextlib.suppress(CommandError):
        call_command("whatsapp_check", stdout=salida, stderr=StringIO())

    webhook = [linea for linea in salida.getvalue().splitlines() if "webhook" in linea]
    assert webhook == [linea for linea in webhook if "ruta /whatsapp/webhook/" in linea], (
        "only the route is reported"
    )


def test_meta_declara_check_subscription():
    assert MetaBackend("default").supports("check_subscription")


def test_check__sitio_publico__handshake_de_meta_contra_el_webhook(
    cuenta_meta, graph, sandbox, live_server
):
    graph.add_passthru(live_server.url)
    suscribir(
        graph, sandbox, {**APP, "override_callback_uri": f"{live_server.url}/whatsapp/webhook/"}
    )

    salida = ejecutar("whatsapp_check", "--sitio", live_server.url)

    assert (
        f"OK  webhook: {live_server.url}/whatsapp/webhook/ responde al handshake de Meta" in salida
    )
    assert "WARN  webhook: " + live_server.url in salida  # http://, not https://
    assert "OK  webhook: app(s) suscrita(s)" in salida


def test_check__handshake__la_linea_de_urllib3_no_lleva_el_verify_token(
    cuenta_meta, graph, sandbox, live_server, caplog
):
    graph.add_passthru(live_server.url)
    suscribir(graph, sandbox, APP)

    with caplog.at_level(logging.DEBUG):
        salida = ejecutar("whatsapp_check", "--sitio", live_server.url)

    assert "responde al handshake de Meta" in salida
    peticiones = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    [handshake] = [linea for linea in peticiones if "hub.mode=subscribe" in linea]
    assert "hub.verify_token=***" in handshake
    assert [r.getMessage() for r in caplog.records if VERIFY_TOKEN in r.getMessage()] == []


def test_check__override_a_otra_url__error_con_la_url_esperada(
    cuenta_meta, graph, sandbox, live_server
):
    graph.add_passthru(live_server.url)
    ajena = "https://otro.ejemplo.com/hook"
    suscribir(graph, sandbox, {**APP, "override_callback_uri": ajena})

    salida, _ = fallar("whatsapp_check", "--sitio", live_server.url)

    [webhook] = lineas(salida, "ERROR")
    esperada = f"{live_server.url}/whatsapp/webhook/"
    assert f"la WABA envía los webhooks a {ajena}, no a {esperada}" in webhook
    assert f"-d override_callback_uri={esperada}" in webhook


def test_check__sitio_inalcanzable__error(cuenta_meta, graph, sandbox):
    sitio = f"http://127.0.0.1:{puerto_muerto()}"
    graph.add_passthru(sitio)
    suscribir(graph, sandbox, APP)

    salida, _ = fallar("whatsapp_check", "--sitio", sitio, "--timeout", "1")

    [webhook] = lineas(salida, "ERROR")
    assert f"ERROR  webhook: {sitio}/whatsapp/webhook/ no responde (ConnectionError)" in webhook
    assert "pública y alcanzable desde Internet" in webhook


def test_check__sin_verify_token__error_sin_probar_la_url(cuenta_meta, graph, sandbox):
    cuenta_meta(VERIFY_TOKEN=None)
    suscribir(graph, sandbox, APP)

    salida, _ = fallar("whatsapp_check", "--sitio", "https://erp.ejemplo.com")

    [webhook] = lineas(salida, "ERROR")
    assert "sin VERIFY_TOKEN Meta no puede verificar la URL" in webhook


def test_check__urls_sin_el_webhook__error_con_el_include(settings):
    settings.ROOT_URLCONF = "tests.test_commands"

    salida, _ = fallar("whatsapp_check")

    assert lineas(salida, "ERROR") == [
        "ERROR  webhook: la URL del webhook no está en las URLs del proyecto → fix: "
        'path("whatsapp/", include("whatsapp_notify.urls")) en el urls.py del proyecto.'
    ]


def test_check__ajuste_invalido__error_con_su_id_y_la_pista(wa_settings):
    wa_settings(DEFAULT_REGION="XX")

    salida, _ = fallar("whatsapp_check")

    [ajuste] = lineas(salida, "ERROR")
    assert ajuste.startswith("ERROR  ajustes whatsapp_notify.E005: ")
    assert "→ fix: " in ajuste


@pytest.mark.parametrize(
    ("cuenta", "id_ajuste"),
    [
        pytest.param({"BACKEND": "no.existe.Backend"}, "E003", id="backend-inexistente"),
        pytest.param("whatsapp_notify.backends.meta.MetaBackend", "E003", id="no-es-dict"),
        pytest.param({"BACKEND": META, "OPTIONS": {"FOO": 1}}, "E004", id="opciones"),
    ],
)
def test_check__cuenta_mal_configurada__no_repite_el_error_de_ajustes(
    wa_settings, cuenta, id_ajuste
):
    wa_settings(BACKENDS={"default": cuenta})

    salida, _ = fallar("whatsapp_check")

    errores = lineas(salida, "ERROR")
    assert errores[0].startswith(f"ERROR  ajustes whatsapp_notify.{id_ajuste}: ")
    assert errores[-1] == (
        "ERROR  credenciales: no se comprueba: la cuenta está mal configurada → fix: corrige "
        "los ERROR de «ajustes»."
    )


def test_check__cuenta_pausada__error_con_los_envios_que_esperan():
    enviar_plantilla(TELEFONO, PLANTILLA)
    EnvioWhatsApp.objects.update(estado=EstadoEnvio.PENDIENTE)
    EstadoCuenta.objects.create(
        cuenta="default", pausada=True, pausada_en=timezone.now(), error_detalle="(#190) Token"
    )

    salida, _ = fallar("whatsapp_check")

    [pausa] = lineas(salida, "ERROR")
    assert pausa.startswith("ERROR  pausa: en pausa desde ")
    assert "((#190) Token); 1 envío(s) esperan" in pausa
    assert "«Reanudar»" in pausa


def test_check__cuenta_desconocida__error_antes_de_comprobar():
    _, error = fallar("whatsapp_check", "--cuenta", "nadie")

    assert error == "Cuenta(s) desconocida(s): nadie; configuradas: default."


@pytest.mark.parametrize(
    ("url", "visible"),
    [
        pytest.param("redis://127.0.0.1:{p}/0", "redis://127.0.0.1:{p}/0", id="sin-clave"),
        pytest.param(
            "redis://:clave-secreta@127.0.0.1:{p}/0", "redis://:***@127.0.0.1:{p}/0", id="clave"
        ),
    ],
)
def test_check__redis_caido__error_sin_mostrar_la_clave(wa_settings, url, visible):
    puerto = puerto_muerto()
    wa_settings(REDIS_URL=url.format(p=puerto))

    salida, _ = fallar("whatsapp_check", "--timeout", "1")

    [redis] = lineas(salida, "ERROR")
    assert redis.startswith(f"ERROR  redis: {visible.format(p=puerto)} (REDIS_URL) no responde")
    assert redis.endswith("→ fix: arranca Redis o corrige REDIS_URL.")
    assert "clave-secreta" not in salida


def test_check__redis_url_sin_el_paquete__error_con_el_extra(wa_settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)
    wa_settings(REDIS_URL="redis://127.0.0.1:6379/0")

    salida, _ = fallar("whatsapp_check", "--timeout", "1")

    assert lineas(salida, "ERROR") == [
        'ERROR  redis: falta el paquete redis → fix: pip install "django-whatsapp-notify[redis]"'
    ]


def test_check__rate_limit_sin_redis__aviso(wa_settings):
    wa_settings(RATE_LIMIT="80/s")

    salida = ejecutar("whatsapp_check")

    assert "WARN  redis: sin REDIS_URL el RATE_LIMIT se cuenta en cada proceso" in salida


def test_check__broker_caido__error_del_worker_y_de_redis():
    broker = f"redis://127.0.0.1:{puerto_muerto()}/0"
    with con_broker(broker):
        salida, _ = fallar("whatsapp_check", "--timeout", "1")

    errores = lineas(salida, "ERROR")
    assert [linea.split(":")[0] for linea in errores] == ["ERROR  redis", "ERROR  worker"]
    assert f"ERROR  worker: el broker {broker} no responde" in errores[1]
    assert errores[1].endswith("→ fix: arranca el broker o corrige CELERY_BROKER_URL.")


def test_check__broker_sin_worker__error_con_como_arrancarlo(redis_server, wa_settings):
    # A private Redis: a worker another suite runs on this machine must not answer the ping.
    wa_settings(TASK_QUEUE="whatsapp")
    with con_broker(redis_server.start().url):
        salida, _ = fallar("whatsapp_check", "--timeout", "0.3")

    assert f"OK  redis: {redis_server.url} (broker) responde" in salida
    assert lineas(salida, "ERROR") == [
        f"ERROR  worker: {redis_server.url}: ningún worker respondió en 0.3 s → fix: arranca "
        "un worker: "
        "celery -A tests worker -l info -Q whatsapp"
    ]


@contextmanager
def worker_celery(broker_url: str, colas: str) -> Iterator[str]:
    """A real ``celery worker`` consuming ``colas`` (``-Q``) on ``broker_url``; yields its name."""
    entorno = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "WHATSAPP_TEST_CELERY_EAGER": "0",
        "WHATSAPP_TEST_BROKER_URL": broker_url,
    }
    worker = Worker(colas, entorno, nombre=f"check-{uuid.uuid4().hex[:8]}@localhost")
    try:
        yield worker.esperar_arranque().nombre
    finally:
        worker.parar()


@pytest.mark.parametrize(
    ("task_queue", "colas", "fix"),
    [
        pytest.param(
            "whatsapp",
            "celery",
            "celery -A tests worker -l info -Q whatsapp (o añade la cola a los que ya "
            "tienes: -Q celery,whatsapp)",
            id="cola-propia-sin-consumir",
        ),
        pytest.param(
            None,
            "whatsapp",
            "celery -A tests worker -l info (o añade la cola a los que ya tienes: "
            "-Q whatsapp,celery)",
            id="cola-por-omision-sin-consumir",
        ),
    ],
)
def test_check__ningun_worker_consume_la_cola_de_la_app__error_con_el_arreglo(
    redis_server, wa_settings, task_queue, colas, fix
):
    wa_settings(TASK_QUEUE=task_queue)
    cola = task_queue or "celery"
    with worker_celery(redis_server.start().url, colas) as nombre, con_broker(redis_server.url):
        salida, _ = fallar("whatsapp_check", "--timeout", "2")

    assert lineas(salida, "ERROR") == [
        f"ERROR  worker: {redis_server.url}: 1 worker(s) responden ({nombre}) pero ninguno "
        f"consume la cola {cola!r}, donde la app publica sus tareas: los envíos quedarán "
        f"pendientes → fix: arranca uno que la consuma: {fix}"
    ]
    assert "Todo en orden." not in salida


@pytest.mark.parametrize(
    ("task_queue", "colas"),
    [
        pytest.param("whatsapp", "celery,whatsapp", id="cola-propia"),
        pytest.param(None, "celery", id="cola-por-omision"),
    ],
)
def test_check__un_worker_consume_la_cola__ok_nombra_broker_y_cola(
    redis_server, wa_settings, task_queue, colas
):
    wa_settings(TASK_QUEUE=task_queue)
    cola = task_queue or "celery"
    with worker_celery(redis_server.start().url, colas) as nombre, con_broker(redis_server.url):
        salida = ejecutar("whatsapp_check", "--timeout", "2")

    assert (
        f"OK  worker: {redis_server.url}: 1 worker(s) consumen la cola {cola!r}: {nombre}" in salida
    )
    assert salida.rstrip().endswith("Todo en orden.")


def test_check__sin_celery_broker_url__avisa_del_broker_por_omision(wa_settings):
    # Celery's default broker is amqp://localhost: whatever answers there is not the ERP's.
    with con_broker(None):
        salida = StringIO()
        with contextlib.suppress(CommandError):
            call_command("whatsapp_check", "--timeout", "0.3", stdout=salida, stderr=StringIO())

    assert lineas(salida.getvalue(), "WARN")[-1] == (
        "WARN  broker: sin CELERY_BROKER_URL, Celery usa su broker por omisión: "
        "amqp://guest:**@localhost:5672// → fix: define CELERY_BROKER_URL en settings.py, p. ej. "
        "redis://localhost:6379/0."
    )
    [worker] = [linea for linea in salida.getvalue().splitlines() if "  worker: " in linea]
    assert "amqp://guest:**@localhost:5672//" in worker  # down or not, the line names it


def test_check__desde_la_linea_de_comandos__codigo_de_salida_1(capsys, wa_settings):
    wa_settings(DEFAULT_REGION="XX")

    with pytest.raises(SystemExit) as salida:
        execute_from_command_line(["manage.py", "whatsapp_check"])

    assert salida.value.code == 1
    capturado = capsys.readouterr()
    assert "ERROR  ajustes whatsapp_notify.E005" in capturado.out
    assert "CommandError: 1 comprobación con ERROR." in capturado.err


# -- whatsapp_send_test ------------------------------------------------------------------


def test_send_test__plantilla_con_celery_eager__reporta_enviado(outbox):
    salida = ejecutar(
        "whatsapp_send_test", TELEFONO, "--plantilla", PLANTILLA, "--variables", "Ana, Mazda 3"
    )

    envio = EnvioWhatsApp.objects.get()
    assert (envio.estado, envio.tipo, envio.variables) == ("enviado", "prueba", ["Ana", "Mazda 3"])
    assert [(m.telefono, m.contenido.nombre) for m in outbox] == [(DIGITOS, PLANTILLA)]
    assert f"OK  envío: #{envio.pk} enviado, wamid {envio.wamid}" in salida
    assert "52******5678" in salida
    assert DIGITOS not in salida


def test_send_test__idioma_y_cuenta__llegan_al_envio(outbox, wa_settings):
    locmem = {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"}
    wa_settings(BACKENDS={"default": locmem, "sucursal": locmem})

    ejecutar(
        "whatsapp_send_test",
        TELEFONO,
        "--plantilla",
        "hello_world",
        "--idioma",
        "en_US",
        "--cuenta",
        "sucursal",
    )

    envio = EnvioWhatsApp.objects.get()
    assert (envio.idioma, envio.cuenta, envio.variables) == ("en_US", "sucursal", [])
    assert [m.cuenta for m in outbox] == ["sucursal"]


@pytest.mark.parametrize(
    ("texto", "esperado"),
    [
        pytest.param("", None, id="vacio"),
        pytest.param("Ana,OT-42", ["Ana", "OT-42"], id="posicionales"),
        pytest.param("nombre=Ana, orden=OT=42", {"nombre": "Ana", "orden": "OT=42"}, id="nombres"),
    ],
)
def test_send_test__variables__lista_o_dict(texto, esperado):
    assert whatsapp_send_test.variables(texto) == esperado


def test_send_test__variables_mezcladas__error_que_muestra_ambas_formas():
    with pytest.raises(CommandError, match="'Ana,OT-42' o 'nombre=Ana,orden=OT-42'"):
        whatsapp_send_test.variables("Ana,orden=OT-42")


def test_send_test__sin_consentimiento__omitido_con_motivo_y_salida_1(outbox, wa_settings):
    wa_settings(REQUIRE_CONSENT=True)

    salida, error = fallar("whatsapp_send_test", TELEFONO, "--plantilla", PLANTILLA)

    envio = EnvioWhatsApp.objects.get()
    assert (envio.estado, envio.motivo) == ("omitido", "sin_consentimiento")
    assert outbox == []
    [linea] = lineas(salida, "ERROR")
    assert linea.startswith(f"ERROR  envío: #{envio.pk} omitido: Sin consentimiento")
    assert "otorgar_consentimiento" in linea
    assert error == f"El envío #{envio.pk} no salió (omitido)."


def test_send_test__texto_fuera_de_ventana__omitido_y_sugiere_plantilla(outbox):
    salida, _ = fallar("whatsapp_send_test", TELEFONO, "--texto", "Hola")

    assert EnvioWhatsApp.objects.get().motivo == "fuera_de_ventana"
    assert "usa una plantilla aprobada (--plantilla)" in lineas(salida, "ERROR")[0]
    assert outbox == []


def test_send_test__rechazo_del_proveedor__fallido_con_codigo(guion):
    guion.guion.append(PermanentError("Undeliverable", code=131026))

    salida, _ = fallar("whatsapp_send_test", TELEFONO, "--plantilla", PLANTILLA)

    envio = EnvioWhatsApp.objects.get()
    assert (envio.estado, envio.error_codigo) == ("fallido", 131026)
    assert f"ERROR  envío: #{envio.pk} fallido: (#131026)" in salida
    assert "whatsapp_reintentar" in salida


def salir_sin_aceptar(*args: str) -> tuple[str, str]:
    """Run whatsapp_send_test expecting exit status 3; return its stdout and error."""
    salida = StringIO()
    with pytest.raises(CommandError) as error:
        call_command("whatsapp_send_test", *args, stdout=salida, stderr=StringIO())
    assert error.value.returncode == whatsapp_send_test.SIN_ACEPTAR == 3
    return salida.getvalue(), str(error.value)


def test_send_test__sin_worker__queda_en_cola_y_sale_con_3(outbox):
    with con_broker(f"redis://127.0.0.1:{puerto_muerto()}/0"):
        salida, error = salir_sin_aceptar(TELEFONO, "--plantilla", PLANTILLA)

    envio = EnvioWhatsApp.objects.get()
    assert envio.estado == "pendiente"
    assert f"WARN  envío: #{envio.pk} en cola (pendiente), el proveedor aún no lo aceptó" in salida
    assert error == f"El proveedor aún no aceptó el envío #{envio.pk} (pendiente)."


def test_send_test__error_temporal__espera_su_reintento_y_sale_con_3(guion):
    guion.guion.append(TransientError("Service unavailable", code=131016))

    salida, error = salir_sin_aceptar(TELEFONO, "--plantilla", PLANTILLA)

    envio = EnvioWhatsApp.objects.get()
    assert (envio.estado, envio.proximo_intento is not None) == ("pendiente", True)
    assert f"WARN  envío: #{envio.pk} aún no salió, se reintentará: " in salida
    assert error == f"El proveedor aún no aceptó el envío #{envio.pk} (pendiente)."


def test_send_test__timeout_sin_confirmar__sale_con_3(guion):
    guion.guion.append(AmbiguousError("Read timed out"))

    salida, _ = salir_sin_aceptar(TELEFONO, "--plantilla", PLANTILLA)

    envio = EnvioWhatsApp.objects.get()
    assert envio.estado == "incierto"
    assert f"WARN  envío: #{envio.pk} sin confirmar" in salida


def test_send_test__ayuda__documenta_los_codigos_de_salida():
    ayuda = whatsapp_send_test.Command().create_parser("manage.py", "whatsapp_send_test")

    texto = " ".join(ayuda.format_help().split())
    assert "Códigos de salida: 0 si el proveedor aceptó el mensaje; 1 si no salió" in texto
    assert "3 si el proveedor aún no lo aceptó" in texto


def test_send_test__esperar_sin_worker__error_que_sugiere_whatsapp_check(outbox):
    with con_broker(f"redis://127.0.0.1:{puerto_muerto()}/0"):
        salida, _ = fallar(
            "whatsapp_send_test", TELEFONO, "--plantilla", PLANTILLA, "--esperar", "0.1"
        )

    assert "sigue pendiente tras 0.1 s → fix: ¿hay un worker? manage.py whatsapp_check" in salida


@pytest.mark.parametrize(
    ("args", "mensaje"),
    [
        pytest.param(
            ["--plantilla", PLANTILLA, "--cuenta", "nadie"], "'nadie' no existe", id="cuenta"
        ),
        pytest.param(["--texto", " "], "El texto está vacío.", id="texto-vacio"),
    ],
)
def test_send_test__error_del_programador__sin_registrar_nada(args, mensaje):
    _, error = fallar("whatsapp_send_test", TELEFONO, *args)

    assert mensaje in error
    assert not EnvioWhatsApp.objects.exists()


# -- whatsapp_reintentar -----------------------------------------------------------------


def envio(estado: str, *, codigo: int | None = None, **opciones) -> EnvioWhatsApp:
    """An envío (sent through locmem) then put in ``estado`` with ``codigo``."""
    registrado = enviar_plantilla(TELEFONO, PLANTILLA, **opciones)
    EnvioWhatsApp.objects.filter(pk=registrado.pk).update(estado=estado, error_codigo=codigo)
    return registrado


@pytest.fixture
def historial(outbox):
    """Two fallido envíos (131026, 131047), one incierto and one enviado; outbox emptied."""
    creados = {
        "fallido_131026": envio("fallido", codigo=131026, tipo="vehiculo_listo"),
        "fallido_131047": envio("fallido", codigo=131047, tipo="cotizacion"),
        "incierto": envio("incierto", tipo="vehiculo_listo"),
        "enviado": envio("enviado", tipo="vehiculo_listo"),
    }
    outbox.clear()
    return creados


def estados() -> dict[int, str]:
    return dict(EnvioWhatsApp.objects.values_list("pk", "estado"))


def test_reintentar__por_omision__reenvia_solo_los_fallidos(historial, outbox):
    salida = ejecutar("whatsapp_reintentar")

    assert "Reenviados: 2" in salida
    assert "Estado ahora: enviado 2" in salida
    assert len(outbox) == 2
    assert estados()[historial["incierto"].pk] == "incierto"
    assert DIGITOS not in salida


def test_reintentar__un_aviso_que_otro_envio_ya_entrego__no_se_reenvia_y_dice_por_que(outbox):
    from tests.testapp.models import Cliente, Orden

    orden = Orden.objects.create(numero="OT-1", cliente=Cliente.objects.create(nombre="Ana"))
    viejo = envio("fallido", codigo=131026, referencia=orden, tipo="vehiculo_listo", clave="a")
    envio("entregado", referencia=orden, tipo="vehiculo_listo", clave="b")
    outbox.clear()

    salida = ejecutar("whatsapp_reintentar")

    assert "Reenviados: 0" in salida
    assert "No reenviados (un envío posterior del mismo aviso ya salió o está en camino): 1" in (
        salida
    )
    assert estados()[viejo.pk] == "fallido"
    assert outbox == []


@pytest.mark.parametrize(
    ("args", "elegidos"),
    [
        pytest.param(["--codigo", "131026"], ["fallido_131026"], id="codigo"),
        pytest.param(["--tipo", "cotizacion"], ["fallido_131047"], id="tipo"),
        pytest.param(["--estado", "incierto"], ["incierto"], id="incierto"),
        pytest.param(
            ["--estado", "fallido", "--estado", "incierto", "--tipo", "vehiculo_listo"],
            ["fallido_131026", "incierto"],
            id="estados-y-tipo",
        ),
    ],
)
def test_reintentar__filtros__reenvian_solo_los_elegidos(historial, outbox, args, elegidos):
    ejecutar("whatsapp_reintentar", *args)

    enviados = {nombre for nombre, e in historial.items() if estados()[e.pk] == "enviado"}
    assert enviados == {*elegidos, "enviado"}
    assert len(outbox) == len(elegidos)


def test_reintentar__incierto__avisa_que_puede_duplicar(historial):
    salida = ejecutar("whatsapp_reintentar", "--estado", "incierto", "--dry-run")

    assert "WARN  sin confirmar: el proveedor pudo recibirlos" in salida


@pytest.mark.parametrize(
    ("args", "elegidos"),
    [
        pytest.param(["--desde", "2025-03-02"], ["nuevo"], id="desde-dia"),
        pytest.param(["--hasta", "2025-03-01"], ["viejo"], id="hasta-dia-incluido"),
        pytest.param(
            ["--desde", "2025-03-01T12:00", "--hasta", "2025-03-01T23:59"], [], id="horas"
        ),
    ],
)
def test_reintentar__fechas__filtran_por_creacion_en_hora_local(outbox, args, elegidos):
    creados = {"viejo": envio("fallido"), "nuevo": envio("fallido")}
    zona = timezone.get_current_timezone()
    EnvioWhatsApp.objects.filter(pk=creados["viejo"].pk).update(
        creado_en=timezone.datetime(2025, 3, 1, 9, 0, tzinfo=zona)
    )
    EnvioWhatsApp.objects.filter(pk=creados["nuevo"].pk).update(
        creado_en=timezone.datetime(2025, 3, 2, 0, 30, tzinfo=zona)
    )

    ejecutar("whatsapp_reintentar", *args)

    assert sorted(n for n, e in creados.items() if estados()[e.pk] == "enviado") == elegidos


def test_reintentar__cuenta__solo_la_suya(outbox, wa_settings):
    locmem = {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"}
    wa_settings(BACKENDS={"default": locmem, "sucursal": locmem})
    propio, ajeno = envio("fallido", cuenta="sucursal"), envio("fallido")

    ejecutar("whatsapp_reintentar", "--cuenta", "sucursal")

    assert (estados()[propio.pk], estados()[ajeno.pk]) == ("enviado", "fallido")


def test_reintentar__dry_run__lista_sin_cambiar_nada(historial, outbox):
    antes = estados()

    salida = ejecutar("whatsapp_reintentar", "--dry-run")

    assert estados() == antes
    assert outbox == []
    fallido = historial["fallido_131026"]
    assert f"#{fallido.pk} vehiculo_listo {PLANTILLA} → 52******5678 fallido #131026" in salida
    assert "2 envío(s) se reenviarían (--dry-run: nada cambió)." in salida


def test_reintentar__sin_consentimiento__dice_por_que_no_se_reenvio(historial, wa_settings):
    wa_settings(REQUIRE_CONSENT=True)

    salida = ejecutar("whatsapp_reintentar", "--codigo", "131026")

    assert "Reenviados: 0" in salida
    assert "No reenviados (Sin consentimiento): 1" in salida
    assert estados()[historial["fallido_131026"].pk] == "fallido"


def test_reintentar__nada_coincide__lo_dice():
    assert ejecutar("whatsapp_reintentar").strip() == "Ningún envío coincide con los filtros."


@pytest.mark.parametrize(
    ("args", "mensaje"),
    [
        pytest.param(["--desde", "ayer"], "--desde debe ser una fecha AAAA-MM-DD", id="fecha"),
        pytest.param(["--hasta", "2025-02-30"], "--hasta debe ser una fecha", id="dia-imposible"),
        pytest.param(["--cuenta", "nadie"], "--cuenta 'nadie' no existe", id="cuenta"),
    ],
)
def test_reintentar__argumento_invalido__error(args, mensaje):
    _, error = fallar("whatsapp_reintentar", *args)

    assert mensaje in error


# -- whatsapp_recordatorios --------------------------------------------------------------


def programado(horas: float, **opciones) -> EnvioWhatsApp:
    """A programado envío due ``horas`` from now (negative: already due)."""
    cuando = timezone.now() + timedelta(hours=horas)
    registrado = enviar_plantilla(
        TELEFONO,
        "recordatorio_cita",
        tipo="recordatorio_24h",
        programado_para=timezone.now() + timedelta(days=30),
        **opciones,
    )
    EnvioWhatsApp.objects.filter(pk=registrado.pk).update(programado_para=cuando)
    registrado.refresh_from_db()
    return registrado


@pytest.fixture
def agenda():
    return {"vencido": programado(-0.5), "pronto": programado(3), "lejano": programado(72)}


def test_recordatorios__dry_run__lista_la_ventana_sin_despachar(agenda, outbox):
    salida = ejecutar("whatsapp_recordatorios", "--dry-run")

    vencido, pronto = agenda["vencido"], agenda["pronto"]
    assert "2 envío(s) programado(s) en las próximas 48 h (1 vencido(s)" in salida
    assert "horas de America/Mexico_City:" in salida
    assert (
        f"{local(vencido.programado_para)}  #{vencido.pk} recordatorio_24h recordatorio_cita "
        "→ 52******5678  vencido" in salida
    )
    assert f"{local(pronto.programado_para)}  #{pronto.pk} recordatorio_24h" in salida
    assert f"#{agenda['lejano'].pk} " not in salida
    assert salida.index(f"#{vencido.pk} ") < salida.index(f"#{pronto.pk} ")
    assert set(estados().values()) == {"programado"}
    assert outbox == []


def test_recordatorios__horas__amplia_la_ventana(agenda):
    salida = ejecutar("whatsapp_recordatorios", "--dry-run", "--horas", "96")

    assert f"#{agenda['lejano'].pk} " in salida


def test_recordatorios__sin_dry_run__envia_los_vencidos_y_deja_el_resto(agenda, outbox):
    salida = ejecutar("whatsapp_recordatorios")

    assert "Despachados ahora: 1 envío(s)." in salida
    assert estados() == {
        agenda["vencido"].pk: "enviado",
        agenda["pronto"].pk: "programado",
        agenda["lejano"].pk: "programado",
    }
    assert [m.contenido.nombre for m in outbox] == ["recordatorio_cita"]


def test_recordatorios__cuenta__solo_los_suyos(wa_settings):
    locmem = {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"}
    wa_settings(BACKENDS={"default": locmem, "sucursal": locmem})
    propio, ajeno = programado(1, cuenta="sucursal"), programado(1)

    salida = ejecutar("whatsapp_recordatorios", "--dry-run", "--cuenta", "sucursal")

    assert f"#{propio.pk} " in salida
    assert f"#{ajeno.pk} " not in salida


def test_recordatorios__nada_programado__lo_dice():
    salida = ejecutar("whatsapp_recordatorios", "--dry-run", "--horas", "1")

    assert "Ningún envío programado en las próximas 1 h." in salida


# -- shared pieces -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "visible"),
    [
        pytest.param("redis://h:6379/0", "redis://h:6379/0", id="sin-clave"),
        pytest.param("redis://:s3cr3t@h:6379/0", "redis://:***@h:6379/0", id="solo-clave"),
        pytest.param("amqp://user:s3cr3t@h:5672//", "amqp://user:***@h:5672//", id="usuario"),
    ],
)
def test_sin_credenciales__oculta_la_clave(url, visible):
    assert sin_credenciales(url) == visible


@pytest.mark.parametrize(
    ("nombre", "frase"),
    [
        pytest.param("whatsapp_check", "Comprueba la configuración de WhatsApp", id="check"),
        pytest.param("whatsapp_send_test", "Envía un mensaje de prueba", id="send_test"),
        pytest.param("whatsapp_reintentar", "Vuelve a poner en cola", id="reintentar"),
        pytest.param("whatsapp_recordatorios", "Lista los envíos programados", id="recordatorios"),
    ],
)
def test_ayuda__en_espanol(nombre, frase, capsys):
    with pytest.raises(SystemExit) as salida:
        execute_from_command_line(["manage.py", nombre, "--help"])

    assert salida.value.code == 0
    ayuda = " ".join(capsys.readouterr().out.split())
    assert frase in ayuda


# -- a fresh project without Meta credentials ------------------------------------------------

# The README's settings, before the credentials exist: env(..., default=None) gives None.
PROYECTO_NUEVO = """
import environ

env = environ.Env()

SECRET_KEY = "proyecto-nuevo"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "whatsapp_notify"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
WHATSAPP_NOTIFY = {{
    "BACKENDS": {{
        "default": {{
            "BACKEND": "whatsapp_notify.backends.meta.MetaBackend",
            "OPTIONS": {{
                "PHONE_NUMBER_ID": env("META_PHONE_NUMBER_ID", default=None),
                "ACCESS_TOKEN": env("META_ACCESS_TOKEN", default=None),
            }},
        }},
    }},
}}
"""


@pytest.fixture
def proyecto_nuevo(tmp_path):
    """Run ``python -m django <args>`` in a project whose settings lack the credentials.

    A subprocess: the suite's own settings use the locmem backend, so only a real settings
    module shows what a newcomer's ``migrate`` does.
    """
    (tmp_path / "ajustes_nuevos.py").write_text(PROYECTO_NUEVO.format(db=str(tmp_path / "db")))
    manage = django_en(tmp_path, "ajustes_nuevos")
    manage.db = tmp_path / "db"
    return manage


def test_proyecto_nuevo__migrate_corre_sin_credenciales_y_avisa(proyecto_nuevo):
    hecho = proyecto_nuevo("migrate", "-v", "0")

    assert hecho.returncode == 0, hecho.stderr
    assert "whatsapp_notify.W001" in hecho.stderr
    assert '["ACCESS_TOKEN"]' in hecho.stderr
    with sqlite3.connect(proyecto_nuevo.db) as conexion:
        tablas = {fila[0] for fila in conexion.execute("SELECT name FROM sqlite_master")}
    assert "whatsapp_notify_enviowhatsapp" in tablas


def test_proyecto_nuevo__makemigrations_check_corre_sin_credenciales(proyecto_nuevo):
    hecho = proyecto_nuevo("makemigrations", "--check", "--dry-run")

    assert hecho.returncode == 0, hecho.stderr
    assert "No changes detected" in hecho.stdout


def test_proyecto_nuevo__check_deploy_falla_por_las_credenciales(proyecto_nuevo):
    hecho = proyecto_nuevo("check", "--deploy")

    assert hecho.returncode == 1
    lineas_ = hecho.stderr.splitlines()
    errores = [linea for linea in lineas_ if linea.startswith("?: (whatsapp_notify.E004)")]
    assert len(errores) == 2
    assert any('["PHONE_NUMBER_ID"]' in linea for linea in errores)
    assert any('["ACCESS_TOKEN"]' in linea for linea in errores)


@pytest.mark.parametrize("valor", ["-5", "nan", "inf", "1e400", "abc", "86401"])
def test_send_test__esperar_no_finito_o_negativo_es_un_error_de_uso(valor):
    with pytest.raises(CommandError, match="segundos de 0 a 86400"):
        call_command("whatsapp_send_test", TELEFONO, "--plantilla", PLANTILLA, "--esperar", valor)

    assert not EnvioWhatsApp.objects.exists()  # refused before anything was recorded


@pytest.mark.parametrize(
    ("opcion", "valor", "mensaje"),
    [
        pytest.param("--port", "-1", "puerto de 0 a 65535", id="puerto-negativo"),
        pytest.param("--port", "99999", "puerto de 0 a 65535", id="puerto-enorme"),
        pytest.param("--latencia", "inf", "segundos de 0 a 86400", id="latencia-infinita"),
        pytest.param("--latencia", "nan", "segundos de 0 a 86400", id="latencia-nan"),
    ],
)
def test_sandbox__puerto_o_latencia_fuera_de_rango_es_un_error_de_uso(opcion, valor, mensaje):
    with pytest.raises(CommandError, match=mensaje):
        call_command("whatsapp_sandbox", opcion, valor, stdout=StringIO())
