"""The Cloud API sandbox: MetaBackend against it, its webhooks, its faults, its command.

Everything goes over real local HTTP: the sandbox is a server on a free port, and the
webhooks it posts land on a tiny receiver started by the test. Delays are hundredths of a
second; waits poll with a deadline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pytest
import requests
from django.core.management import get_commands, load_command_class

from whatsapp_notify import enviar_plantilla
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.exceptions import (
    AmbiguousError,
    AuthError,
    MissingDependencyError,
    PermanentError,
    TransientError,
)
from whatsapp_notify.messages import Documento, Plantilla, Salida, Texto
from whatsapp_notify.models import EstadoEnvio, MediaSubido
from whatsapp_notify.references import referencia_de
from whatsapp_notify.sandbox import Fallos, Sandbox, schema
from whatsapp_notify.sandbox.fallos import revisar_paso

RAIZ = Path(__file__).resolve().parent.parent
SECRETO = "secreto-de-la-app"
TOKEN = "EAAGsandboxTOKEN"
NUMERO = "106540352242922"
TELEFONO = "525512345678"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
RAPIDO = (0.01, 0.01, 0.01)
META_BACKEND = "whatsapp_notify.backends.meta.MetaBackend"


class Receptor:
    """A webhook endpoint on a free port: records each POST, answers the queued statuses."""

    def __init__(self) -> None:
        self.recibidos: list[tuple[dict[str, str], bytes]] = []
        self.respuestas: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._hilo = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/whatsapp/webhook/"

    def cuerpos(self) -> list[dict]:
        with self._lock:
            return [json.loads(cuerpo) for _cabeceras, cuerpo in self.recibidos]

    def __enter__(self) -> Receptor:
        self._hilo.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receptor = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                cuerpo = self.rfile.read(int(self.headers["Content-Length"]))
                with receptor._lock:
                    receptor.recibidos.append((dict(self.headers), cuerpo))
                    status = receptor.respuestas.pop(0) if receptor.respuestas else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def receptor():
    with Receptor() as instancia:
        yield instancia


@pytest.fixture
def sandbox(receptor):
    with Sandbox(receptor.url, SECRETO, delays=RAPIDO, espera_reintento=0.01) as instancia:
        yield instancia


@pytest.fixture
def backend(sandbox):
    instancia = meta_backend(sandbox)
    yield instancia
    instancia.close()


def meta_backend(sandbox: Sandbox, **opciones) -> MetaBackend:
    opciones = {"PHONE_NUMBER_ID": NUMERO, "ACCESS_TOKEN": TOKEN, **opciones}
    return MetaBackend("default", BASE_URL=sandbox.base_url, **opciones)


def salida(contenido, referencia: str = "42") -> Salida:
    return Salida(telefono=TELEFONO, contenido=contenido, referencia=referencia)


def esperar(condicion, timeout: float = 5.0):
    """Poll ``condicion`` until it returns something truthy, or fail at the deadline."""
    limite = time.monotonic() + timeout
    while time.monotonic() < limite:
        if valor := condicion():
            return valor
        time.sleep(0.01)
    pytest.fail(f"No se cumplió la condición en {timeout} s")


def statuses(cuerpos: list[dict]) -> list[dict]:
    return [
        status
        for cuerpo in cuerpos
        for entry in cuerpo["entry"]
        for change in entry["changes"]
        for status in change["value"].get("statuses", [])
    ]


def mensajes_url(sandbox: Sandbox) -> str:
    return f"{sandbox.base_url}/v25.0/{NUMERO}/messages"


TEXTO_VALIDO = {"messaging_product": "whatsapp", "to": f"+{TELEFONO}", "text": {"body": "Hola"}}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


# -- the real pipeline ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pipeline__plantilla_con_documento_queda_enviada_con_el_wamid_del_sandbox(
    wa_settings, sandbox
):
    opciones = {"PHONE_NUMBER_ID": NUMERO, "ACCESS_TOKEN": TOKEN, "BASE_URL": sandbox.base_url}
    wa_settings(BACKENDS={"default": {"BACKEND": META_BACKEND, "OPTIONS": opciones}})

    envio = enviar_plantilla(
        f"+{TELEFONO}",
        "cotizacion_lista_cliente",
        variables=["Ana"],
        documento=PDF,
        nombre_documento="cotizacion.pdf",
    )

    envio.refresh_from_db()
    [mensaje] = sandbox.mensajes
    assert envio.estado == EstadoEnvio.ENVIADO
    assert (mensaje.status, mensaje.problema) == (200, "")
    assert envio.wamid == mensaje.wamid
    [media] = sandbox.media.values()
    assert (media.contenido, media.mime, media.nombre) == (PDF, "application/pdf", "cotizacion.pdf")
    header = mensaje.cuerpo["template"]["components"][0]["parameters"][0]["document"]
    assert header == {"id": media.id, "filename": "cotizacion.pdf"}
    assert mensaje.cuerpo["biz_opaque_callback_data"] == referencia_de(envio.pk)
    assert MediaSubido.objects.get(sha256=hashlib.sha256(PDF).hexdigest()).media_id == media.id


# -- answers -------------------------------------------------------------------------------


def test_cuerpo_invalido__400_con_la_forma_de_error_de_meta(sandbox):
    cuerpo = {"messaging_product": "whatsapp", "to": f"+{TELEFONO}", "type": "template"}

    respuesta = requests.post(mensajes_url(sandbox), json=cuerpo, headers=BEARER, timeout=5)

    assert respuesta.status_code == 400
    error = respuesta.json()["error"]
    assert error["message"].startswith("(#100) ")
    assert (error["type"], error["code"]) == ("OAuthException", 100)
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert "$: 'template' is a required property" in error["error_data"]["details"]
    assert error["fbtrace_id"]
    [mensaje] = sandbox.mensajes
    assert not mensaje.valido
    assert mensaje.problema == error["error_data"]["details"]


def test_cuerpo_que_no_es_json__400_sin_webhooks(sandbox):
    respuesta = requests.post(mensajes_url(sandbox), data=b"{no", headers=BEARER, timeout=5)

    assert respuesta.status_code == 400
    assert "objeto JSON" in respuesta.json()["error"]["error_data"]["details"]
    assert sandbox.webhooks == []


def test_cuerpo_valido__contacts_y_wamid_como_meta(sandbox):
    respuesta = requests.post(mensajes_url(sandbox), json=TEXTO_VALIDO, headers=BEARER, timeout=5)

    cuerpo = respuesta.json()
    assert respuesta.status_code == 200
    assert cuerpo["messaging_product"] == "whatsapp"
    assert cuerpo["contacts"] == [{"input": f"+{TELEFONO}", "wa_id": TELEFONO}]
    assert cuerpo["messages"][0]["id"].startswith("wamid.")
    assert sandbox.mensajes[0].wamid == cuerpo["messages"][0]["id"]


def test_wamids__son_unicos(sandbox):
    for _ in range(5):
        requests.post(mensajes_url(sandbox), json=TEXTO_VALIDO, headers=BEARER, timeout=5)

    assert len({mensaje.wamid for mensaje in sandbox.mensajes}) == 5


@pytest.mark.parametrize(
    ("cabeceras", "token"),
    [
        pytest.param({}, None, id="sin-authorization"),
        pytest.param({"Authorization": "Bearer "}, None, id="bearer-vacio"),
        pytest.param({"Authorization": "Basic abc"}, None, id="otro-esquema"),
        pytest.param(BEARER, "otro-token", id="token-distinto-del-configurado"),
    ],
)
def test_sin_token_valido__401_con_el_error_190(receptor, cabeceras, token):
    with Sandbox(receptor.url, token=token) as sandbox:
        respuesta = requests.post(
            mensajes_url(sandbox), json=TEXTO_VALIDO, headers=cabeceras, timeout=5
        )

    assert respuesta.status_code == 401
    error = respuesta.json()["error"]
    assert (error["code"], error["type"]) == (190, "OAuthException")
    assert sandbox.mensajes[0].wamid == ""


def test_token_configurado__acepta_ese_token(receptor):
    with Sandbox(receptor.url, token=TOKEN) as sandbox:
        respuesta = requests.post(
            mensajes_url(sandbox), json=TEXTO_VALIDO, headers=BEARER, timeout=5
        )

    assert respuesta.status_code == 200


def test_marcar_como_leido__success(sandbox):
    cuerpo = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"}

    respuesta = requests.post(mensajes_url(sandbox), json=cuerpo, headers=BEARER, timeout=5)

    assert (respuesta.status_code, respuesta.json()) == (200, {"success": True})
    assert sandbox.webhooks == []


def test_verify_credentials__nombre_y_numero_del_sandbox(backend):
    assert backend.verify_credentials() == "Sandbox WhatsApp (15550001234)"


def test_ruta_desconocida__error_de_graph(sandbox):
    respuesta = requests.get(f"{sandbox.base_url}/otra/cosa", headers=BEARER, timeout=5)

    assert respuesta.status_code == 400
    assert respuesta.json()["error"]["code"] == 100


# -- webhooks ------------------------------------------------------------------------------


def test_webhooks__sent_delivered_read_en_orden_firmados_y_con_la_referencia(
    sandbox, receptor, backend
):
    resultado = backend.send(salida(Plantilla("vehiculo_listo_cliente", "es_MX", ["Ana"])))

    esperar(lambda: len(receptor.recibidos) >= 3)
    items = statuses(receptor.cuerpos())
    assert [item["status"] for item in items] == ["sent", "delivered", "read"]
    assert {item["id"] for item in items} == {resultado.id}
    assert {item["biz_opaque_callback_data"] for item in items} == {"42"}
    assert {item["recipient_id"] for item in items} == {TELEFONO}
    for cabeceras, cuerpo in receptor.recibidos:
        firma = hmac.new(SECRETO.encode(), cuerpo, hashlib.sha256).hexdigest()
        assert cabeceras["X-Hub-Signature-256"] == f"sha256={firma}"
        assert cabeceras["Content-Type"] == "application/json"


def test_webhooks__sobre_como_el_de_meta(sandbox, receptor, backend):
    backend.send(salida(Texto("Hola")))

    esperar(lambda: len(receptor.recibidos) >= 1)
    cuerpo = receptor.cuerpos()[0]
    assert cuerpo["object"] == "whatsapp_business_account"
    [entry] = cuerpo["entry"]
    [change] = entry["changes"]
    assert (entry["id"], change["field"]) == (sandbox.waba_id, "messages")
    assert change["value"]["messaging_product"] == "whatsapp"
    metadata = {"display_phone_number": "15550001234", "phone_number_id": NUMERO}
    assert change["value"]["metadata"] == metadata
    assert int(change["value"]["statuses"][0]["timestamp"]) > 0


def test_webhooks__sin_referencia_no_llevan_biz_opaque(sandbox, receptor, backend):
    backend.send(salida(Texto("Hola"), referencia=""))

    esperar(lambda: len(receptor.recibidos) >= 3)
    assert all("biz_opaque_callback_data" not in item for item in statuses(receptor.cuerpos()))


@pytest.mark.parametrize(
    ("contenido", "pricing", "origen"),
    [
        pytest.param(
            Plantilla("vehiculo_listo_cliente", "es_MX", ["Ana"]),
            {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"},
            "utility",
            id="plantilla",
        ),
        pytest.param(
            Texto("Hola"),
            {
                "billable": False,
                "pricing_model": "PMP",
                "type": "free_customer_service",
                "category": "service",
            },
            "service",
            id="texto",
        ),
    ],
)
def test_webhooks__sent_lleva_conversacion_y_precio(
    sandbox, receptor, backend, contenido, pricing, origen
):
    backend.send(salida(contenido))

    esperar(lambda: len(receptor.recibidos) >= 3)
    sent, delivered, read = statuses(receptor.cuerpos())
    assert sent["pricing"] == pricing
    assert sent["conversation"]["origin"] == {"type": origen}
    expira = int(sent["conversation"]["expiration_timestamp"])
    assert expira == int(sent["timestamp"]) + 24 * 3600
    assert "expiration_timestamp" not in delivered["conversation"]
    assert "pricing" not in read


def test_webhooks__se_registran_con_su_respuesta(sandbox, receptor, backend):
    backend.send(salida(Texto("Hola")))

    enviados = sandbox.esperar_webhooks(3)
    assert [(w.status, w.url, w.respuesta, w.intentos) for w in enviados] == [
        ("sent", receptor.url, 200, 1),
        ("delivered", receptor.url, 200, 1),
        ("read", receptor.url, 200, 1),
    ]
    assert [w.cuerpo for w in enviados] == [cuerpo for _cabeceras, cuerpo in receptor.recibidos]


def test_webhook_rechazado__se_reintenta_hasta_el_200(sandbox, receptor, backend):
    receptor.respuestas.extend([500, 503])

    backend.send(salida(Texto("Hola")))

    enviados = sandbox.esperar_webhooks(3)
    assert [(w.status, w.respuesta, w.intentos) for w in enviados] == [
        ("sent", 200, 3),
        ("delivered", 200, 1),
        ("read", 200, 1),
    ]
    assert len(receptor.recibidos) == 5


def test_webhook_siempre_rechazado__reintentos_acotados(receptor):
    receptor.respuestas.extend([500] * 10)
    with Sandbox(receptor.url, SECRETO, delays=(0, 0, 0), reintentos=2, espera_reintento=0.01) as s:
        requests.post(mensajes_url(s), json=TEXTO_VALIDO, headers=BEARER, timeout=5)

        enviados = s.esperar_webhooks(3)

    assert [(w.respuesta, w.intentos) for w in enviados] == [(500, 3)] * 3
    assert not any(w.entregado for w in enviados)
    assert len(receptor.recibidos) == 9


def test_webhook_inalcanzable__se_registra_sin_respuesta():
    with Receptor() as apagado:
        url = apagado.url
    with Sandbox(url, delays=(0, 0, 0), reintentos=1, espera_reintento=0.01) as sandbox:
        requests.post(mensajes_url(sandbox), json=TEXTO_VALIDO, headers=BEARER, timeout=5)

        enviados = sandbox.esperar_webhooks(3)

    assert [(w.respuesta, w.intentos) for w in enviados] == [(None, 2)] * 3


def test_webhooks_retenidos__llegan_tarde_en_orden_al_soltarlos(sandbox, receptor, backend):
    sandbox.retener_webhooks()
    primero = backend.send(salida(Texto("Hola"), referencia="1"))
    segundo = backend.send(salida(Texto("Hola"), referencia="2"))
    time.sleep(0.2)  # every status is due by now, and none may be posted

    retenidos = (len(receptor.recibidos), sandbox.webhooks, sandbox.webhooks_pendientes)
    sandbox.soltar_webhooks()
    enviados = sandbox.esperar_webhooks(6)

    assert retenidos == (0, [], 6)
    # Oldest first: the order of their due times. How the two sends' steps interleave
    # depends on how far apart the sends were, so only what holds for any spacing is
    # checked: each message's statuses in order, and of one status the first send's first.
    orden = [(w.wamid, w.status) for w in enviados]
    pasos = ["sent", "delivered", "read"]
    assert sorted(orden) == sorted((m.id, paso) for m in (primero, segundo) for paso in pasos)
    for mensaje in (primero, segundo):
        assert [status for wamid, status in orden if wamid == mensaje.id] == pasos
    for paso in pasos:
        assert [wamid for wamid, status in orden if status == paso] == [primero.id, segundo.id]
    assert all(w.entregado for w in enviados)
    esperar(lambda: sandbox.webhooks_pendientes == 0)


def test_token_caducado__190_hasta_rotar_el_token(sandbox, receptor):
    sandbox.caducar_token(TOKEN)
    caducado = meta_backend(sandbox)
    rotado = meta_backend(sandbox, ACCESS_TOKEN="EAAGnuevoTOKEN")

    with pytest.raises(AuthError) as excinfo:
        caducado.send(salida(Texto("Hola")))
    with pytest.raises(AuthError):
        caducado.verify_credentials()
    resultado = rotado.send(salida(Texto("Hola")))

    assert excinfo.value.code == 190
    assert [(p.status, bool(p.wamid)) for p in sandbox.mensajes] == [(401, False), (200, True)]
    assert sandbox.mensajes[0].respuesta["error"]["error_subcode"] == 463
    assert resultado.id == sandbox.mensajes[1].wamid


def test_rafaga__los_n_siguientes_envios_reciben_el_paso(sandbox, backend):
    sandbox.fallos.rafaga(130429, 3)

    for _ in range(3):
        with pytest.raises(TransientError) as excinfo:
            backend.send(salida(Texto("Hola")))
        assert excinfo.value.code == 130429
    backend.send(salida(Texto("Hola")))

    assert [p.status for p in sandbox.mensajes] == [400, 400, 400, 200]


@pytest.mark.parametrize("veces", [-1, 1.5, True], ids=["negativo", "fraccion", "bool"])
def test_rafaga__veces_invalidas_lanzan_value_error(veces):
    with pytest.raises(ValueError, match="veces"):
        Fallos().rafaga(130429, veces)


def test_sin_webhook_url__no_hay_webhooks():
    with Sandbox(delays=(0, 0, 0)) as sandbox:
        respuesta = requests.post(
            mensajes_url(sandbox), json=TEXTO_VALIDO, headers=BEARER, timeout=5
        )

    assert respuesta.status_code == 200
    assert sandbox.webhooks == []
    assert sandbox.esperar_webhooks(1, timeout=0) == []


def test_entrante__mensaje_de_texto_firmado(sandbox, receptor):
    wamid = sandbox.entrante(f"+{TELEFONO}", "BAJA por favor ñ", nombre="Ana Pérez")

    esperar(lambda: receptor.recibidos)
    cabeceras, crudo = receptor.recibidos[0]
    value = json.loads(crudo)["entry"][0]["changes"][0]["value"]
    assert value["contacts"] == [{"profile": {"name": "Ana Pérez"}, "wa_id": TELEFONO}]
    [mensaje] = value["messages"]
    assert (mensaje["id"], mensaje["from"], mensaje["type"]) == (wamid, TELEFONO, "text")
    assert mensaje["text"] == {"body": "BAJA por favor ñ"}
    assert "ñ".encode() in crudo  # raw UTF-8, not \u escapes: HMAC is over these bytes
    firma = hmac.new(SECRETO.encode(), crudo, hashlib.sha256).hexdigest()
    assert cabeceras["X-Hub-Signature-256"] == f"sha256={firma}"


@pytest.mark.parametrize(
    ("como", "tipo", "respuesta_id", "texto", "contexto"),
    [
        ({"boton": ("aprobar", "Aprobar")}, "interactive", "aprobar", "Aprobar", "wamid.B"),
        ({"fila": ("hora:9", "9:00")}, "interactive", "hora:9", "9:00", ""),
        ({"payload": ("cot:1", "Aprobar")}, "button", "cot:1", "Aprobar", "wamid.P"),
    ],
)
def test_entrante__el_cliente_toca_un_boton_o_elige_una_fila(
    sandbox, receptor, como, tipo, respuesta_id, texto, contexto
):
    from whatsapp_notify.backends.meta import webhooks

    wamid = sandbox.entrante(f"+{TELEFONO}", responde_a=contexto, **como)

    esperar(lambda: receptor.recibidos)
    [evento] = webhooks.parse(receptor.recibidos[0][1])
    assert (evento.wamid, evento.tipo, evento.respuesta_id, evento.texto) == (
        wamid, tipo, respuesta_id, texto,
    )  # fmt: skip
    assert evento.contexto_wamid == contexto


def test_entrante__una_foto_con_pie_que_se_puede_descargar(sandbox, receptor, backend):
    from whatsapp_notify.backends.meta import webhooks

    foto = b"\xff\xd8\xff\xe0 una foto"
    sandbox.entrante(f"+{TELEFONO}", "Monto: 500 / Fecha: 2025-01-15", imagen=foto)

    esperar(lambda: receptor.recibidos)
    [evento] = webhooks.parse(receptor.recibidos[0][1])
    assert (evento.tipo, evento.media.caption, evento.media.mime) == (
        "image", "Monto: 500 / Fecha: 2025-01-15", "image/jpeg",
    )  # fmt: skip
    assert evento.media.sha256 == hashlib.sha256(foto).hexdigest()
    assert backend.download_media(evento.media.id) == (foto, "image/jpeg")


@pytest.mark.parametrize(
    ("kwargs", "dice"),
    [
        ({"boton": ("a", "A"), "fila": ("b", "B")}, "un solo tipo"),
        ({}, "lleva texto"),
        ({"boton": "aprobar"}, "par de textos"),
        ({"fila": ("x",)}, "par de textos"),
        ({"texto": "Hola", "boton": ("a", "A")}, "no lleva texto"),
        ({"imagen": "foto.jpg"}, "bytes"),
    ],
)
def test_entrante__lo_que_no_es_un_mensaje_lo_dice(sandbox, kwargs, dice):
    texto = kwargs.pop("texto", "")
    with pytest.raises(ValueError, match=dice):
        sandbox.entrante(TELEFONO, texto, **kwargs)


def test_entrante__una_png_va_como_png(sandbox, receptor):
    from whatsapp_notify.backends.meta import webhooks

    sandbox.entrante(TELEFONO, imagen=b"\x89PNG\r\n\x1a\n...")

    esperar(lambda: receptor.recibidos)
    [evento] = webhooks.parse(receptor.recibidos[0][1])
    assert evento.media.mime == "image/png"


def test_entrante__sin_webhook_url_lanza():
    with Sandbox() as sandbox, pytest.raises(ValueError, match="webhook_url"):
        sandbox.entrante(TELEFONO, "Hola")


# -- faults --------------------------------------------------------------------------------


def test_fallo_5xx__luego_exito(sandbox, backend):
    sandbox.fallos.programar("5xx")

    with pytest.raises(TransientError) as excinfo:
        backend.send(salida(Texto("Hola")))
    resultado = backend.send(salida(Texto("Hola")))

    assert excinfo.value.http_status == 503
    assert [m.status for m in sandbox.mensajes] == [503, 200]
    assert resultado.id == sandbox.mensajes[1].wamid


@pytest.mark.parametrize(
    ("codigo", "http", "clase"),
    [
        pytest.param(130429, 400, TransientError, id="130429-throughput"),
        pytest.param(131026, 400, PermanentError, id="131026-no-entregable"),
        pytest.param(131047, 400, PermanentError, id="131047-fuera-de-ventana"),
        pytest.param(190, 401, AuthError, id="190-token-expirado"),
    ],
)
def test_error_de_graph__status_http_y_clase_en_metabackend(sandbox, backend, codigo, http, clase):
    sandbox.fallos.programar(codigo)

    with pytest.raises(clase) as excinfo:
        backend.send(salida(Texto("Hola")))

    assert (excinfo.value.code, excinfo.value.http_status) == (codigo, http)
    assert excinfo.value.trace_id
    assert sandbox.webhooks == []


def test_timeout__ambiguous_error_pero_el_mensaje_sale(sandbox, receptor):
    sandbox.fallos.espera_timeout = 5.0
    sandbox.fallos.programar("timeout")
    backend = meta_backend(sandbox, TIMEOUT=0.2)

    with pytest.raises(AmbiguousError):
        backend.send(salida(Texto("Hola"), referencia="77"))
    backend.close()

    # The answer was lost, the message was not: its statuses settle the send by reference.
    [mensaje] = sandbox.mensajes
    assert mensaje.wamid
    esperar(lambda: len(receptor.recibidos) >= 3)
    items = statuses(receptor.cuerpos())
    assert {(item["id"], item["biz_opaque_callback_data"]) for item in items} == {
        (mensaje.wamid, "77")
    }


def test_latencia__mayor_que_el_timeout_del_cliente_es_ambigua(sandbox):
    sandbox.fallos.latencia = 5.0
    backend = meta_backend(sandbox, TIMEOUT=0.2)

    with pytest.raises(AmbiguousError):
        backend.verify_credentials()
    backend.close()

    assert sandbox.requests == []  # still waiting: latency comes before the answer


def test_fallidos_todos__sent_y_luego_failed_con_errores(receptor):
    fallos = Fallos(fallidos=1.0)
    with Sandbox(receptor.url, SECRETO, delays=RAPIDO, fallos=fallos) as sandbox:
        respuesta = requests.post(
            mensajes_url(sandbox), json=TEXTO_VALIDO, headers=BEARER, timeout=5
        )
        enviados = sandbox.esperar_webhooks(2)

    assert respuesta.status_code == 200
    assert [w.status for w in enviados] == ["sent", "failed"]
    failed = statuses([w.json() for w in enviados])[1]
    [error] = failed["errors"]
    assert error["code"] == 131026
    assert error["title"] == error["message"]
    assert error["error_data"]["details"]
    assert "pricing" not in failed


@pytest.mark.parametrize(
    ("fallos", "status"),
    [
        pytest.param(Fallos(errores_5xx=1.0), 503, id="5xx"),
        pytest.param(Fallos(errores={131047: 1.0}), 400, id="error-de-graph"),
        pytest.param(Fallos(errores={131047: 0.0}), 200, id="proporcion-cero"),
    ],
)
def test_proporciones__deciden_la_respuesta(receptor, fallos, status):
    with Sandbox(receptor.url, fallos=fallos) as sandbox:
        respuestas = [
            requests.post(mensajes_url(sandbox), json=TEXTO_VALIDO, headers=BEARER, timeout=5)
            for _ in range(3)
        ]

    assert [r.status_code for r in respuestas] == [status] * 3


def test_proporciones__la_semilla_repite_la_secuencia():
    def secuencia():
        fallos = Fallos(errores_5xx=0.3, errores={130429: 0.3}, fallidos=0.3, semilla=7)
        return [fallos.siguiente() for _ in range(50)]

    primera = secuencia()

    assert primera == secuencia()
    assert {"5xx", 130429, "fallido", "ok"} <= set(primera)


def test_guion__va_antes_que_las_proporciones():
    fallos = Fallos(errores_5xx=1.0, guion=["ok", 190])

    assert [fallos.siguiente() for _ in range(3)] == ["ok", 190, "5xx"]


@pytest.mark.parametrize(
    ("valores", "mensaje"),
    [
        pytest.param({"errores_5xx": 1.5}, "errores_5xx", id="proporcion-mayor-que-1"),
        pytest.param({"fallidos": -0.1}, "fallidos", id="proporcion-negativa"),
        pytest.param({"errores": {190: 2}}, r"errores\[190\]", id="error-con-proporcion-invalida"),
        pytest.param({"latencia": -1}, "latencia", id="latencia-negativa"),
        pytest.param({"guion": ["explota"]}, "Paso desconocido", id="paso-desconocido"),
    ],
)
def test_fallos__valores_invalidos_lanzan_value_error(valores, mensaje):
    with pytest.raises(ValueError, match=mensaje):
        Fallos(**valores)


def test_programar__paso_desconocido_lanza():
    with pytest.raises(ValueError, match="Paso desconocido"):
        revisar_paso("5xxx")


# -- media ---------------------------------------------------------------------------------


def test_media__subida_consulta_y_descarga_ida_y_vuelta(sandbox):
    archivo = {"file": ("cotizacion.pdf", PDF, "application/pdf")}
    datos = {"messaging_product": "whatsapp", "type": "application/pdf"}
    subida = requests.post(
        f"{sandbox.base_url}/v25.0/{NUMERO}/media",
        files=archivo,
        data=datos,
        headers=BEARER,
        timeout=5,
    )
    media_id = subida.json()["id"]

    consulta = requests.get(f"{sandbox.base_url}/v25.0/{media_id}", headers=BEARER, timeout=5)
    info = consulta.json()
    descarga = requests.get(info["url"], headers=BEARER, timeout=5)
    sin_token = requests.get(info["url"], timeout=5)

    assert subida.status_code == 200
    assert media_id.isdigit()
    assert info == {
        "messaging_product": "whatsapp",
        "url": info["url"],
        "mime_type": "application/pdf",
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "file_size": str(len(PDF)),
        "id": media_id,
    }
    assert info["url"].startswith(sandbox.base_url)
    assert (descarga.status_code, descarga.content) == (200, PDF)
    assert descarga.headers["Content-Type"] == "application/pdf"
    assert sin_token.status_code == 401
    subidas = [p for p in sandbox.requests if p.ruta.endswith("/media")]
    assert subidas[0].cuerpo["file"] == {
        "filename": "cotizacion.pdf",
        "mime_type": "application/pdf",
        "file_size": len(PDF),
    }


def test_media__borrada_ya_no_se_descarga(sandbox):
    archivo = {"file": ("a.pdf", PDF, "application/pdf")}
    subida = requests.post(
        f"{sandbox.base_url}/v25.0/{NUMERO}/media", files=archivo, headers=BEARER, timeout=5
    )
    media_id = subida.json()["id"]
    url = requests.get(f"{sandbox.base_url}/v25.0/{media_id}", headers=BEARER, timeout=5).json()[
        "url"
    ]

    borrado = requests.delete(f"{sandbox.base_url}/v25.0/{media_id}", headers=BEARER, timeout=5)

    assert (borrado.status_code, borrado.json()) == (200, {"success": True})
    assert requests.get(url, headers=BEARER, timeout=5).status_code == 404
    consulta = requests.get(f"{sandbox.base_url}/v25.0/{media_id}", headers=BEARER, timeout=5)
    assert (consulta.status_code, consulta.json()["error"]["code"]) == (400, 100)


def test_media__subida_sin_multipart_es_error_100(sandbox):
    respuesta = requests.post(
        f"{sandbox.base_url}/v25.0/{NUMERO}/media", json={"file": "x"}, headers=BEARER, timeout=5
    )

    assert (respuesta.status_code, respuesta.json()["error"]["code"]) == (400, 100)
    assert sandbox.media == {}


def test_media__metabackend_sube_el_documento(sandbox, backend):
    media_id = backend.subir(Documento(PDF, "cotizacion.pdf"))

    assert sandbox.media[media_id].contenido == PDF


# -- life cycle ----------------------------------------------------------------------------


def test_stop__cierra_el_puerto_y_los_hilos(receptor):
    sandbox = Sandbox(receptor.url, delays=(60, 60, 60)).start()
    url = mensajes_url(sandbox)
    requests.post(url, json=TEXTO_VALIDO, headers=BEARER, timeout=5)

    sandbox.stop()
    sandbox.stop()

    with pytest.raises(requests.ConnectionError):
        requests.post(url, json=TEXTO_VALIDO, headers=BEARER, timeout=5)
    assert not any(hilo.name == "sandbox-webhooks" for hilo in threading.enumerate())
    assert sandbox.webhooks == []  # not yet due: dropped, never posted


def test_stop__despierta_una_respuesta_retrasada(receptor):
    sandbox = Sandbox(receptor.url, fallos=Fallos(guion=["timeout"], espera_timeout=60)).start()
    hilo = threading.Thread(
        target=requests.post,
        args=(mensajes_url(sandbox),),
        kwargs={"json": TEXTO_VALIDO, "headers": BEARER, "timeout": 60},
        daemon=True,
    )
    hilo.start()
    esperar(lambda: sandbox.mensajes)

    sandbox.stop()

    hilo.join(5)
    assert not hilo.is_alive()


@pytest.mark.parametrize("delays", [(1, 2), (1, -1, 1)], ids=["dos-valores", "negativo"])
def test_sandbox__demoras_invalidas_lanzan(delays):
    with pytest.raises(ValueError, match="delays"):
        Sandbox(delays=delays)


# -- optional dependencies -----------------------------------------------------------------


@pytest.mark.parametrize(("modulo", "paquete"), [("jsonschema", "jsonschema"), ("yaml", "PyYAML")])
def test_dependencia_ausente__nombra_el_extra_sandbox(monkeypatch, modulo, paquete):
    monkeypatch.setitem(sys.modules, modulo, None)

    with pytest.raises(MissingDependencyError) as excinfo:
        schema.importar(modulo, paquete)

    assert 'pip install "django-whatsapp-notify[sandbox]"' in str(excinfo.value)
    assert repr(paquete) in str(excinfo.value)


def test_esquema__se_lee_de_los_datos_del_paquete_con_su_licencia():
    datos = resources.files("whatsapp_notify.sandbox").joinpath("data")

    assert schema.spec_path() == datos.joinpath(schema.SPEC_NAME)
    assert "MIT License" in datos.joinpath("meta-openapi.LICENSE").read_text(encoding="utf-8")
    assert "/{Version}/{Phone-Number-ID}/messages" in schema.spec()["paths"]


# -- the management command ----------------------------------------------------------------


def test_comando__registrado_con_sus_opciones():
    assert get_commands()["whatsapp_sandbox"] == "whatsapp_notify"
    comando = load_command_class("whatsapp_notify", "whatsapp_sandbox")
    parser = comando.create_parser("manage.py", "whatsapp_sandbox")

    opciones = parser.parse_args(
        ["--port", "0", "--demoras", "0,0,0", "--error", "130429:0.5", "--error", "190"]
    )

    assert opciones.webhook_url == "http://127.0.0.1:8000/whatsapp/webhook/"
    assert (opciones.port, opciones.demoras) == (0, "0,0,0")
    assert opciones.error == ["130429:0.5", "190"]
    opciones_ayuda = ("--host", "--app-secret", "--latencia", "--fallos-5xx", "--fallidos")
    opciones_ayuda += ("--rafaga", "--token-caducado", "--retener-webhooks")
    opciones_ayuda += ("--phone-number-id", "--waba-id")
    for opcion in opciones_ayuda:
        assert opcion in parser.format_help()


def test_comando__construye_el_sandbox_con_las_opciones(wa_settings):
    from whatsapp_notify.management.commands.whatsapp_sandbox import construir_sandbox

    opciones = {"PHONE_NUMBER_ID": NUMERO, "ACCESS_TOKEN": TOKEN, "APP_SECRET": ["nuevo", "viejo"]}
    wa_settings(BACKENDS={"default": {"BACKEND": META_BACKEND, "OPTIONS": opciones}})
    comando = load_command_class("whatsapp_notify", "whatsapp_sandbox")
    argumentos = ["--port", "0", "--demoras", "0.5,1,2", "--latencia", "0.1", "--fallidos", "0.05"]
    argumentos += ["--fallos-5xx", "0.1", "--error", "130429:0.2", "--error", "190"]
    argumentos += ["--rafaga", "130429:2", "--rafaga", "5xx:1", "--token-caducado", "viejo"]
    parser = comando.create_parser("manage.py", "whatsapp_sandbox")

    sandbox = construir_sandbox(vars(parser.parse_args(argumentos)))
    sandbox.stop()

    assert sandbox.fallos.guion == [130429, 130429, "5xx"]
    assert sandbox.tokens_caducados == {"viejo"}
    assert sandbox.app_secret == "nuevo"
    assert sandbox.delays == (0.5, 1.0, 2.0)
    assert (sandbox.fallos.latencia, sandbox.fallos.fallidos) == (0.1, 0.05)
    assert sandbox.fallos.errores_5xx == 0.1
    assert sandbox.fallos.errores == {130429: 0.2, 190: 1.0}


@pytest.mark.parametrize(
    ("argumentos", "mensaje"),
    [
        pytest.param(["--demoras", "1,2"], "--demoras", id="demoras-incompletas"),
        pytest.param(["--demoras", "a,b,c"], "--demoras", id="demoras-no-numericas"),
        pytest.param(["--error", "abc"], "--error", id="error-no-numerico"),
        pytest.param(["--error", "190:3"], "--error", id="error-proporcion-mayor-que-1"),
        pytest.param(["--fallidos", "2"], "fallidos", id="fallidos-mayor-que-1"),
        pytest.param(["--rafaga", "130429"], "--rafaga", id="rafaga-sin-veces"),
        pytest.param(["--rafaga", "nada:2"], "Paso desconocido", id="rafaga-paso-desconocido"),
        pytest.param(["--retener-webhooks", "-1"], "--retener", id="retener-negativo"),
        pytest.param(["--fallos-5xx", "nan"], "--fallos-5xx", id="5xx-nan"),
        pytest.param(["--timeouts", "-0.1"], "--timeouts", id="timeouts-negativo"),
        pytest.param(["--espera-timeout", "inf"], "--espera-timeout", id="espera-infinita"),
    ],
)
def test_comando__opciones_invalidas_dicen_cual(argumentos, mensaje):
    from django.core.management.base import CommandError

    from whatsapp_notify.management.commands.whatsapp_sandbox import construir_sandbox

    comando = load_command_class("whatsapp_notify", "whatsapp_sandbox")
    parser = comando.create_parser("manage.py", "x")

    # Refused where it is read: by the option's type, or when the sandbox is built.
    with pytest.raises(CommandError, match=mensaje):
        construir_sandbox(vars(parser.parse_args(["--port", "0", *argumentos])))


def _manage(*argumentos: str, **kwargs) -> subprocess.Popen:
    entorno = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(RAIZ)}
    return subprocess.Popen(
        [sys.executable, str(RAIZ / "manage.py"), "whatsapp_sandbox", *argumentos],
        cwd=RAIZ,
        env=entorno,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_por_omision,
        **kwargs,
    )


def _ctrl_c_por_omision() -> None:
    # A suite started in the background by a non-interactive shell inherits SIGINT ignored,
    # and Python keeps it so: the child would never see the Ctrl-C these tests send.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_comando__help_en_espanol():
    with _manage("--help") as proceso:
        salida_estandar, _errores = proceso.communicate(timeout=60)

    assert proceso.returncode == 0
    assert "sustituto local de la Cloud API" in salida_estandar
    assert "--webhook-url" in salida_estandar
    assert "--fallos-5xx" in salida_estandar


def test_comando__sirve_hasta_ctrl_c(receptor):
    argumentos = ("--port", "0", "--webhook-url", receptor.url, "--demoras", "0,0,0")
    with _manage(*argumentos, "--phone-number-id", NUMERO) as proceso:
        try:
            linea = proceso.stdout.readline()
            base_url = linea.rsplit(" ", 1)[-1].strip()
            respuesta = requests.post(
                f"{base_url}/v25.0/{NUMERO}/messages", json=TEXTO_VALIDO, headers=BEARER, timeout=5
            )
            esperar(lambda: len(receptor.recibidos) >= 3, timeout=10)
        finally:
            proceso.send_signal(signal.SIGINT)
            try:
                proceso.wait(timeout=30)  # a few lines of output: the pipe never fills up
            except subprocess.TimeoutExpired:
                proceso.kill()  # fail below instead of waiting forever in Popen.__exit__
                raise
        resto = proceso.stdout.read()

    assert linea.startswith("Sandbox de la Cloud API en http://127.0.0.1:")
    assert respuesta.status_code == 200
    assert f'["BASE_URL"] = "{base_url}"' in resto
    assert "Deteniendo el sandbox" in resto
    assert proceso.returncode == 0


@pytest.mark.parametrize(("modulo", "paquete"), [("jsonschema", "jsonschema"), ("yaml", "PyYAML")])
def test_comando__sin_el_extra_sandbox__una_linea_con_el_pip_install(monkeypatch, modulo, paquete):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    monkeypatch.setitem(sys.modules, modulo, None)  # as if the package were not installed

    with pytest.raises(CommandError) as excinfo:
        call_command("whatsapp_sandbox", "--port", "0")

    mensaje = str(excinfo.value)
    assert mensaje == (
        f"Falta el paquete {paquete!r}. Instálalo con: "
        'pip install "django-whatsapp-notify[sandbox]"'
    )
    assert excinfo.value.__cause__ is None  # manage.py prints this line, not a traceback


def test_entrante_por_http__el_cliente_escribe_desde_otra_terminal(sandbox, receptor):
    import requests

    from whatsapp_notify.backends.meta import webhooks

    fila = requests.post(
        f"{sandbox.base_url}/sandbox/entrante",
        json={"telefono": f"+{TELEFONO}", "fila": ["hora:9", "9:00"], "nombre": "Ana"},
        timeout=5,
    )
    malo = requests.post(f"{sandbox.base_url}/sandbox/entrante", json={"texto": "x"}, timeout=5)
    doble = requests.post(
        f"{sandbox.base_url}/sandbox/entrante",
        json={"telefono": TELEFONO, "boton": ["a", "A"], "fila": ["b", "B"]},
        timeout=5,
    )

    assert fila.status_code == 200
    esperar(lambda: receptor.recibidos)
    [evento] = webhooks.parse(receptor.recibidos[0][1])
    assert (evento.wamid, evento.respuesta_id, evento.nombre) == (
        fila.json()["wamid"],
        "hora:9",
        "Ana",
    )
    assert (malo.status_code, doble.status_code) == (400, 400)
    assert "un solo tipo" in doble.json()["error"]


# -- the account's ids: subscribed_apps and ids it does not know -----------------------------


def test_subscribed_apps__su_app_suscrita_con_la_url_del_webhook(sandbox, receptor):
    respuesta = requests.get(
        f"{sandbox.base_url}/v25.0/{sandbox.waba_id}/subscribed_apps", headers=BEARER, timeout=5
    )

    assert respuesta.status_code == 200
    [app] = respuesta.json()["data"]
    assert app["whatsapp_business_api_data"]["id"] == sandbox.app_id
    assert app["override_callback_uri"] == receptor.url


def test_subscribed_apps__sin_webhook_url__ninguna_app():
    with Sandbox(None) as sin_webhooks:
        respuesta = requests.get(
            f"{sin_webhooks.base_url}/v25.0/{sin_webhooks.waba_id}/subscribed_apps",
            headers=BEARER,
            timeout=5,
        )

    assert (respuesta.status_code, respuesta.json()) == (200, {"data": []})


@pytest.mark.parametrize(
    ("ruta", "mensaje"),
    [
        pytest.param("/v25.0/999", "Object with ID '999' does not exist", id="numero-ajeno"),
        pytest.param(
            "/v25.0/555/subscribed_apps", "Object with ID '555' does not exist", id="waba-ajena"
        ),
        pytest.param(
            f"/v25.0/{NUMERO}/subscribed_apps",
            "nonexisting field (subscribed_apps) on node type (WhatsAppBusinessPhoneNumber)",
            id="waba-con-el-id-del-numero",
        ),
        pytest.param(
            "/v25.0/102290129340398?fields=display_phone_number,verified_name",
            "nonexisting field (display_phone_number) on node type (WhatsAppBusinessAccount)",
            id="numero-con-el-id-de-la-waba",
        ),
    ],
)
def test_ids__uno_que_no_es_suyo__error_100_como_graph(ruta, mensaje):
    with Sandbox(None, phone_number_id=NUMERO) as estricto:
        respuesta = requests.get(f"{estricto.base_url}{ruta}", headers=BEARER, timeout=5)

    error = respuesta.json()["error"]
    assert (respuesta.status_code, error["code"]) == (400, 100)
    assert mensaje in error["message"]


def test_ids__envio_desde_otro_numero__rechazado_sin_aceptar_nada():
    with Sandbox(None, phone_number_id=NUMERO) as estricto:
        ajeno = requests.post(
            f"{estricto.base_url}/v25.0/999/messages", json=TEXTO_VALIDO, headers=BEARER, timeout=5
        )
        propio = requests.post(
            f"{estricto.base_url}/v25.0/{NUMERO}/messages",
            json=TEXTO_VALIDO,
            headers=BEARER,
            timeout=5,
        )

    assert (ajeno.status_code, ajeno.json()["error"]["error_subcode"]) == (400, 33)
    assert propio.status_code == 200
    assert [p.wamid != "" for p in estricto.mensajes] == [False, True]
