"""Reply handlers (``respuesta``): which rule answers, what it sends, and that nothing is lost.

Inbound bodies are Meta's, signed and posted through the webhook view; the handler runs in
the ``responder`` task (eager Celery runs it when the webhook's transaction commits) and
its replies go through the real outbox and delivery path to the Cloud API sandbox.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.test_sandbox import META_BACKEND, NUMERO, TOKEN
from tests.test_webhooks import (
    CLIENTE,
    SECRETO,
    VERIFICA,
    envoltura,
    mensajes,
    publicar,
)
from tests.test_webhooks import texto as texto_meta
from whatsapp_notify import respuesta, tasks
from whatsapp_notify.exceptions import MessageError, TipoInvalido
from whatsapp_notify.inbound import handlers
from whatsapp_notify.messages import Boton, Botones, Fila, Lista, Seccion, Texto
from whatsapp_notify.models import (
    Conversacion,
    EnvioWhatsApp,
    EstadoConversacion,
    EstadoEnvio,
    Manejo,
    Mensaje,
)
from whatsapp_notify.sandbox import Sandbox

pytestmark = pytest.mark.django_db(transaction=False)

TELEFONO = "525512345678"  # CLIENTE as the app stores it
AHORA = int(time.time()) - 60  # the messages are recent: the service window is open


def texto(wamid: str, cuerpo: str = "Hola", n: int = 0) -> dict:
    return texto_meta(wamid, cuerpo, segundos=AHORA + n)


@pytest.fixture
def sandbox(wa_settings):
    """A Meta account that both receives webhooks and sends to the Cloud API sandbox."""
    with Sandbox(None, token=TOKEN) as caja:
        opciones = {
            "PHONE_NUMBER_ID": NUMERO, "ACCESS_TOKEN": TOKEN, "BASE_URL": caja.base_url,
            "APP_SECRET": SECRETO, "VERIFY_TOKEN": VERIFICA,
        }  # fmt: skip
        wa_settings(BACKENDS={"default": {"BACKEND": META_BACKEND, "OPTIONS": opciones}})
        yield caja


def enviados(caja: Sandbox) -> list[dict]:
    return [p.cuerpo for p in caja.requests if p.metodo == "POST" and p.ruta.endswith("/messages")]


def recibir(client, capturar, *items) -> None:
    with capturar(execute=True):
        respuesta_http = publicar(client, envoltura([mensajes(*items)]))
    assert respuesta_http.status_code == 200


def boton(wamid: str, id_: str, titulo: str = "Aprobar", n: int = 0) -> dict:
    interactivo = {"type": "button_reply", "button_reply": {"id": id_, "title": titulo}}
    return {
        "from": CLIENTE, "id": wamid, "timestamp": str(AHORA + n), "type": "interactive",
        "interactive": interactivo,
    }  # fmt: skip


def fila(wamid: str, id_: str, titulo: str = "9:00") -> dict:
    interactivo = {"type": "list_reply", "list_reply": {"id": id_, "title": titulo}}
    return {
        "from": CLIENTE, "id": wamid, "timestamp": str(AHORA), "type": "interactive",
        "interactive": interactivo,
    }  # fmt: skip


def imagen(wamid: str, caption: str = "") -> dict:
    datos = {"id": "1234567890", "mime_type": "image/jpeg", "sha256": "abc", "caption": caption}
    return {
        "from": CLIENTE, "id": wamid, "timestamp": str(AHORA), "type": "image", "image": datos,
    }  # fmt: skip


def mensaje_de(wamid: str) -> Mensaje:
    return Mensaje.objects.get(wamid=wamid)


# -- which rule answers ----------------------------------------------------------------------


def test_boton__responde_en_contexto_con_su_texto(
    client, sandbox, django_capture_on_commit_callbacks
):
    llamadas = []

    @respuesta(boton="aprobar")
    def aprobar(mensaje, conversacion):
        llamadas.append((mensaje.respuesta_id, conversacion.telefono))
        return "¡Gracias! Tu cotización quedó aprobada."

    recibir(client, django_capture_on_commit_callbacks, boton("wamid.B1", "aprobar"))

    assert llamadas == [("aprobar", TELEFONO)]
    entrante = mensaje_de("wamid.B1")
    assert entrante.manejo == Manejo.ATENDIDO
    assert entrante.manejador.endswith("aprobar")
    assert entrante.manejado_en is not None
    (cuerpo,) = enviados(sandbox)
    assert (cuerpo["to"], cuerpo["type"], cuerpo["context"]) == (
        f"+{TELEFONO}", "text", {"message_id": "wamid.B1"},
    )  # fmt: skip
    assert cuerpo["text"] == {"body": "¡Gracias! Tu cotización quedó aprobada."}
    envio = EnvioWhatsApp.objects.get()
    assert (envio.tipo, envio.clave, envio.estado) == (
        "respuesta", f"respuesta:{entrante.pk}:0", EstadoEnvio.ENVIADO,
    )  # fmt: skip
    # The reply is in the thread, after the customer's message.
    conversacion = Conversacion.objects.get()
    assert list(conversacion.mensajes.order_by("pk").values_list("direccion", flat=True)) == [
        "entrante", "saliente",
    ]  # fmt: skip
    assert conversacion.ultimo_mensaje.envio == envio


def test_fila_de_lista__por_su_id(client, sandbox, django_capture_on_commit_callbacks):
    respuesta(lambda m, c: "Te esperamos a las 9", boton=["h9", "h10"])

    recibir(client, django_capture_on_commit_callbacks, fila("wamid.L1", "h9"))

    assert mensaje_de("wamid.L1").manejo == Manejo.ATENDIDO
    assert enviados(sandbox)[0]["text"]["body"] == "Te esperamos a las 9"


def test_boton__un_patron_para_ids_con_datos(client, sandbox, django_capture_on_commit_callbacks):
    vistos = []
    aprobar = re.compile(r"cotizacion:aprobar:(\d+)")
    respuesta(lambda m, c: vistos.append(aprobar.fullmatch(m.respuesta_id)[1]), boton=aprobar)

    recibir(
        client, django_capture_on_commit_callbacks,
        boton("wamid.P1", "cotizacion:aprobar:42"),
        boton("wamid.P2", "cotizacion:aprobar:42x", n=1),
    )  # fmt: skip

    assert vistos == ["42"]  # the whole id must match
    assert (mensaje_de("wamid.P1").manejo, mensaje_de("wamid.P2").manejo) == (
        Manejo.ATENDIDO, Manejo.SIN_MANEJADOR,
    )  # fmt: skip


def test_texto__expresion_sin_mayusculas_y_devuelve_una_lista(
    client, sandbox, django_capture_on_commit_callbacks
):
    @respuesta(texto=r"^horarios?\b")
    def horarios(mensaje, conversacion):
        filas = (Fila("h9", "9:00"), Fila("h10", "10:00"))
        return Lista("Elige un horario", boton="Ver horarios", secciones=(Seccion("", filas),))

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.T1", "HORARIOS por favor"))

    (cuerpo,) = enviados(sandbox)
    assert cuerpo["type"] == "interactive"
    assert cuerpo["interactive"]["type"] == "list"
    assert [f["id"] for f in cuerpo["interactive"]["action"]["sections"][0]["rows"]] == [
        "h9", "h10",
    ]  # fmt: skip
    assert cuerpo["context"] == {"message_id": "wamid.T1"}


def test_palabra__entera_sin_acentos_ni_mayusculas(
    client, sandbox, django_capture_on_commit_callbacks
):
    respuesta(lambda m, c: "Un asesor te escribe", palabra=["humano", "asesor"])

    recibir(
        client, django_capture_on_commit_callbacks,
        texto("wamid.P1", "Quiero hablar con un HUMANO", n=1),
        texto("wamid.P2", "humanos no", n=2),  # not the whole word
        texto("wamid.P3", "un Asésor, por favor", n=3),
    )  # fmt: skip

    manejos = [mensaje_de(w).manejo for w in ("wamid.P1", "wamid.P2", "wamid.P3")]
    assert manejos == [Manejo.ATENDIDO, Manejo.SIN_MANEJADOR, Manejo.ATENDIDO]
    assert len(enviados(sandbox)) == 2


def test_tipo__una_imagen_con_su_pie(client, sandbox, django_capture_on_commit_callbacks):
    leidos = []

    @respuesta(tipo="image")
    def recibo(mensaje, conversacion):
        leidos.append(mensaje.texto)

    recibir(client, django_capture_on_commit_callbacks, imagen("wamid.I1", "Monto: 500"))

    assert leidos == ["Monto: 500"]
    assert mensaje_de("wamid.I1").manejo == Manejo.ATENDIDO
    assert enviados(sandbox) == []  # returned None: nothing sent


def test_por_defecto__solo_cuando_ninguna_otra_coincide(
    client, sandbox, django_capture_on_commit_callbacks
):
    respuesta(lambda m, c: "No te entendí", por_defecto=True)
    respuesta(lambda m, c: "Hola, ¿en qué te ayudo?", palabra="hola")

    recibir(
        client, django_capture_on_commit_callbacks,
        texto("wamid.D1", "hola", n=1),
        texto("wamid.D2", "¿?", n=2),
    )  # fmt: skip

    assert [c["text"]["body"] for c in enviados(sandbox)] == [
        "Hola, ¿en qué te ayudo?", "No te entendí",
    ]  # fmt: skip


def test_la_primera_declarada_gana(client, sandbox, django_capture_on_commit_callbacks):
    respuesta(lambda m, c: "primera", texto="pedido")
    respuesta(lambda m, c: "segunda", palabra="pedido")

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.O1", "mi pedido"))

    assert [c["text"]["body"] for c in enviados(sandbox)] == ["primera"]


def test_si_y_contexto__un_flujo_de_varios_pasos(
    client, sandbox, django_capture_on_commit_callbacks
):
    @respuesta(palabra="saldo")
    def pedir_dni(mensaje, conversacion):
        conversacion.contexto["paso"] = "esperando_dni"
        return "Escribe tu DNI"

    @respuesta(si=lambda m, c: c.contexto.get("paso") == "esperando_dni", texto=r"^\d{8}$")
    def con_dni(mensaje, conversacion):
        conversacion.contexto.update(paso="autenticado", dni=mensaje.texto)
        return Botones("¿Qué quieres ver?", (Boton("saldo", "Saldo"), Boton("pagos", "Pagos")))

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.F0", "12345678", n=0))
    assert mensaje_de("wamid.F0").manejo == Manejo.SIN_MANEJADOR  # not asked for yet

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.F1", "mi saldo", n=1))
    assert Conversacion.objects.get().contexto == {"paso": "esperando_dni"}

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.F2", "12345678", n=2))
    assert Conversacion.objects.get().contexto == {"paso": "autenticado", "dni": "12345678"}
    ultimo = enviados(sandbox)[-1]
    assert ultimo["interactive"]["type"] == "button"
    assert [b["reply"]["id"] for b in ultimo["interactive"]["action"]["buttons"]] == [
        "saldo", "pagos",
    ]  # fmt: skip


def test_estado__con_un_agente_el_bot_calla(client, sandbox, django_capture_on_commit_callbacks):
    respuesta(lambda m, c: "bot", por_defecto=True)
    llamadas = []
    respuesta(lambda m, c: llamadas.append(c.estado), palabra="estado", estado=None)
    recibir(client, django_capture_on_commit_callbacks, texto("wamid.A0", "hola", n=0))
    Conversacion.objects.update(estado=EstadoConversacion.AGENTE)

    recibir(
        client, django_capture_on_commit_callbacks,
        texto("wamid.A1", "sigo aquí", n=1),
    )  # fmt: skip

    assert mensaje_de("wamid.A1").manejo == Manejo.AGENTE
    assert len(enviados(sandbox)) == 1  # only the answer to «hola»
    assert llamadas == []  # not even the estado=None rule: the agent has it


def test_tomada_entre_la_llegada_y_el_worker(sandbox):
    respuesta(lambda m, c: "bot", por_defecto=True)
    conversacion = Conversacion.objects.create(cuenta="default", telefono=TELEFONO)
    mensaje = Mensaje.objects.create(
        direccion="entrante", cuenta="default", telefono=TELEFONO, wamid="wamid.X",
        texto="hola", conversacion=conversacion, manejo=Manejo.PENDIENTE,
    )  # fmt: skip
    Conversacion.objects.update(estado=EstadoConversacion.AGENTE)

    assert tasks.responder(mensaje.pk) == Manejo.AGENTE
    assert enviados(sandbox) == []


def test_por_cuenta(client, sandbox, django_capture_on_commit_callbacks, wa_settings, settings):
    otra = dict(settings.WHATSAPP_NOTIFY["BACKENDS"]["default"])
    wa_settings(BACKENDS={**settings.WHATSAPP_NOTIFY["BACKENDS"], "otra": otra})
    respuesta(lambda m, c: "de otra", por_defecto=True, cuenta="otra")

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.C1", "hola"))

    assert mensaje_de("wamid.C1").manejo == Manejo.SIN_MANEJADOR
    assert enviados(sandbox) == []


# -- never lost, never twice -----------------------------------------------------------------


def test_excepcion__registrada_en_el_mensaje_y_el_webhook_da_200(
    client, sandbox, django_capture_on_commit_callbacks, caplog
):
    @respuesta(palabra="hola")
    def roto(mensaje, conversacion):
        conversacion.contexto["a_medias"] = True
        raise ValueError("sin stock para el pedido 42")

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.E1", "hola"))

    entrante = mensaje_de("wamid.E1")
    assert entrante.manejo == Manejo.ERROR
    assert entrante.manejador.endswith("roto")
    assert entrante.manejo_error == "ValueError: sin stock para el pedido 42"
    assert Conversacion.objects.get().contexto == {}  # its half-done work rolled back
    assert enviados(sandbox) == []
    assert "El manejador" in caplog.text
    assert TELEFONO not in caplog.text


def test_devolver_otra_cosa_es_un_error_registrado(sandbox):
    respuesta(lambda m, c: 42, por_defecto=True)
    mensaje = _pendiente()

    assert tasks.responder(mensaje.pk) == Manejo.ERROR
    mensaje.refresh_from_db()
    assert mensaje.manejo_error.startswith("TipoInvalido: Un manejador devuelve None")


def test_una_respuesta_invalida_deshace_las_anteriores(sandbox):
    respuesta(lambda m, c: ["primera", "x" * 5000], por_defecto=True)
    mensaje = _pendiente()

    assert tasks.responder(mensaje.pk) == Manejo.ERROR
    assert EnvioWhatsApp.objects.count() == 0  # «primera» was not left half sent


def test_redelivery__el_webhook_repetido_no_lo_atiende_dos_veces(
    client, sandbox, django_capture_on_commit_callbacks
):
    llamadas = []
    respuesta(lambda m, c: llamadas.append(m.pk) or "hola", palabra="hola")

    for _ in range(2):
        recibir(client, django_capture_on_commit_callbacks, texto("wamid.R1", "hola"))

    assert len(llamadas) == 1
    assert len(enviados(sandbox)) == 1


def test_la_tarea_repetida_no_hace_nada(sandbox):
    llamadas = []
    respuesta(lambda m, c: llamadas.append(1) or "hola", por_defecto=True)
    mensaje = _pendiente()

    assert tasks.responder(mensaje.pk) == Manejo.ATENDIDO
    assert tasks.responder(mensaje.pk) == ""  # no longer pendiente

    assert llamadas == [1]
    assert EnvioWhatsApp.objects.count() == 1


def test_la_misma_respuesta_no_sale_dos_veces_si_corre_de_nuevo(sandbox):
    """A worker killed after sending but before marking the message: the clave holds."""
    respuesta(lambda m, c: "hola", por_defecto=True)
    mensaje = _pendiente()
    tasks.responder(mensaje.pk)
    Mensaje.objects.filter(pk=mensaje.pk).update(manejo=Manejo.PENDIENTE)

    assert tasks.responder(mensaje.pk) == Manejo.ATENDIDO
    assert EnvioWhatsApp.objects.count() == 1


def test_interrumpido__queda_pendiente_y_nada_a_medias(sandbox):
    @respuesta(por_defecto=True)
    def cortado(mensaje, conversacion):
        conversacion.contexto["paso"] = "x"
        handlers.responder(mensaje, "antes del corte", _registrar())
        raise KeyboardInterrupt  # the worker is stopped mid-handler

    mensaje = _pendiente()

    with pytest.raises(KeyboardInterrupt):
        tasks.responder(mensaje.pk)

    mensaje.refresh_from_db()
    assert mensaje.manejo == Manejo.PENDIENTE  # Beat hands it out again
    assert EnvioWhatsApp.objects.count() == 0
    assert Conversacion.objects.get().contexto == {}


def test_atender_pendientes__reparte_los_que_perdieron_su_tarea(sandbox, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    respuesta(lambda m, c: "hola", por_defecto=True)
    viejo, nuevo = _pendiente("wamid.V"), _pendiente("wamid.N")
    Mensaje.objects.filter(pk=viejo.pk).update(creado_en=timezone.now() - timedelta(minutes=2))

    assert tasks.atender_pendientes() == 1  # eager: the task runs now

    viejo.refresh_from_db()
    nuevo.refresh_from_db()
    assert (viejo.manejo, nuevo.manejo) == (Manejo.ATENDIDO, Manejo.PENDIENTE)


def test_broker_caido__el_mensaje_queda_pendiente_y_el_webhook_da_200(
    client, sandbox, django_capture_on_commit_callbacks, monkeypatch
):
    respuesta(lambda m, c: "hola", por_defecto=True)
    monkeypatch.setattr(tasks, "publicar_respuesta", lambda pk: False)

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.K1", "hola"))

    assert mensaje_de("wamid.K1").manejo == Manejo.PENDIENTE
    assert enviados(sandbox) == []


def _registrar():
    from whatsapp_notify.outbound.outbox import registrar

    return registrar


def _pendiente(wamid: str = "wamid.M") -> Mensaje:
    conversacion, _ = Conversacion.objects.get_or_create(cuenta="default", telefono=TELEFONO)
    return Mensaje.objects.create(
        direccion="entrante", cuenta="default", telefono=TELEFONO, wamid=wamid, texto="hola",
        conversacion=conversacion, manejo=Manejo.PENDIENTE,
    )  # fmt: skip


# -- declaring -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "dice"),
    [
        ({}, MessageError, "sin criterio"),
        ({"estado": None}, MessageError, "sin criterio"),
        ({"texto": "(abierto"}, MessageError, "expresión inválida"),
        ({"tipo": "imagen"}, MessageError, "tipos desconocidos ['imagen']"),
        ({"estado": "humano", "por_defecto": True}, MessageError, "estados desconocidos"),
        ({"palabra": "dos palabras"}, MessageError, "sin espacios"),
        ({"palabra": ""}, MessageError, "vacíos"),
        ({"boton": 3}, TipoInvalido, "boton"),
        ({"texto": 3}, TipoInvalido, "texto"),
        ({"si": "sí"}, TipoInvalido, "si="),
        ({"por_defecto": "sí"}, TipoInvalido, "por_defecto"),
        ({"cuenta": "nadie", "por_defecto": True}, Exception, "nadie"),
        ({"texto": ""}, MessageError, "vacía coincide con todo"),
        ({"estado": "cerrada", "por_defecto": True}, MessageError, "nunca respondería"),
    ],
)
def test_declarar__errores_claros_al_declarar(kwargs, error, dice):
    with pytest.raises(error, match=re.escape(dice)):
        respuesta(lambda m, c: None, **kwargs)
    assert handlers.registro.reglas == []


def test_none_en_una_lista_no_manda_nada(client, sandbox, django_capture_on_commit_callbacks):
    respuesta(lambda m, c: ["uno", None, Texto("dos")], palabra="hola")

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.N1", "hola"))

    assert [c["text"]["body"] for c in enviados(sandbox)] == ["uno", "dos"]
    assert mensaje_de("wamid.N1").manejo == Manejo.ATENDIDO


def test_declarar__no_una_funcion():
    with pytest.raises(TipoInvalido, match="declara una función"):
        respuesta("no soy función", por_defecto=True)


def test_declarar_de_nuevo_la_misma_funcion_la_reemplaza():
    def saludo(m, c):
        return "hola"

    respuesta(saludo, palabra="hola")
    respuesta(saludo, palabra=["hola", "buenas"])

    assert len(handlers.registro.reglas) == 1
    assert handlers.registro.reglas[0].palabras == {"hola", "buenas"}


def test_texto_compilado_conserva_sus_banderas():
    regla = respuesta(lambda m, c: None, texto=re.compile("^Hola$"))
    assert regla is not None
    (declarada,) = handlers.registro.reglas
    assert declarada.patron.flags & re.IGNORECASE == 0


# -- concurrency (PostgreSQL) ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_postgres__dos_webhooks_del_mismo_telefono_una_conversacion(postgres, sandbox):
    """Two webhooks of the same phone at once: one conversation, both messages counted."""
    from django.db import close_old_connections
    from django.test import Client

    from tests.test_webhooks import a_bytes, firmar

    assert connection.vendor == "postgresql"
    barrera = threading.Barrier(2)
    codigos = []

    def enviar(wamid: str, n: int) -> None:
        try:
            cuerpo = a_bytes(envoltura([mensajes(texto(wamid, "hola", n))]))
            barrera.wait(5)
            respuesta_http = Client().post(
                "/whatsapp/webhook/", cuerpo, content_type="application/json",
                headers={"X-Hub-Signature-256": firmar(cuerpo)},
            )  # fmt: skip
            codigos.append(respuesta_http.status_code)
        finally:
            close_old_connections()

    hilos = [threading.Thread(target=enviar, args=(f"wamid.PG{i}", i)) for i in range(2)]
    for hilo in hilos:
        hilo.start()
    for hilo in hilos:
        hilo.join(20)

    assert codigos == [200, 200]
    conversacion = Conversacion.objects.get()
    assert conversacion.no_leidos == 2
    assert conversacion.mensajes.count() == 2
    assert conversacion.ultimo_mensaje.wamid == "wamid.PG1"


# -- what fails while deciding -----------------------------------------------------------------


def test_un_si_que_lanza_deja_el_mensaje_en_error_no_pendiente(
    client, sandbox, django_capture_on_commit_callbacks
):
    respuesta(lambda m, c: "no", si=lambda m, c: 1 / 0)

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.Z1", "hola"))

    mensaje = mensaje_de("wamid.Z1")
    assert mensaje.manejo == Manejo.ERROR
    assert mensaje.manejo_error.startswith("ZeroDivisionError")
    assert "<lambda>" in mensaje.manejador
    assert handlers.por_atender(despues=-1) == []
    assert enviados(sandbox) == []


class Ilegible(Exception):
    def __str__(self):
        raise RuntimeError("tampoco")


@pytest.mark.parametrize(
    ("excepcion", "dice"),
    [(Ilegible(), "Ilegible (sin mensaje legible)"), (ValueError("pedido\x00 42"), "pedido 42")],
)
def test_una_excepcion_que_no_se_deja_escribir_igual_queda_registrada(
    client, sandbox, django_capture_on_commit_callbacks, excepcion, dice
):
    def falla(mensaje, conversacion):
        raise excepcion

    respuesta(falla, palabra="hola")

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.Z2", "hola"))

    mensaje = mensaje_de("wamid.Z2")
    assert (mensaje.manejo, dice in mensaje.manejo_error) == (Manejo.ERROR, True)


def test_beat__un_mensaje_cuya_tarea_muere_siempre_termina_en_error(sandbox, wa_settings):
    wa_settings(MAX_ATTEMPTS=2)
    atascado = Mensaje.objects.create(
        direccion="entrante", telefono=TELEFONO, wamid="wamid.V1", manejo=Manejo.PENDIENTE
    )
    Mensaje.objects.filter(pk=atascado.pk).update(creado_en=timezone.now() - timedelta(minutes=10))

    repartos = [handlers.por_atender() for _ in range(3)]

    assert repartos == [[atascado.pk], [atascado.pk], []]
    atascado.refresh_from_db()
    assert atascado.manejo == Manejo.ERROR
    assert "tras 2 intentos" in atascado.manejo_error


def test_al_agente_sin_agentes__es_un_error_y_el_bot_sigue(
    client, sandbox, django_capture_on_commit_callbacks
):
    from whatsapp_notify import AlAgente

    respuesta(lambda m, c: AlAgente("Te paso con alguien"), palabra="ayuda")

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.A1", "ayuda"))

    mensaje = mensaje_de("wamid.A1")
    assert mensaje.manejo == Manejo.ERROR
    assert "AGENTS" in mensaje.manejo_error
    assert Conversacion.objects.get().estado == EstadoConversacion.BOT
    assert enviados(sandbox) == []
