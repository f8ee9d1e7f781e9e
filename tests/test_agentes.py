"""Human handoff: the customer asks for a person, the agents hear it, the agent's replies
reach the customer, "cerrar" or the timeout gives the conversation back to the bot.

Inbound bodies are Meta's, signed and posted to the webhook view; the worker (eager) relays
through the real outbox and delivery path to the Cloud API sandbox.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.test_respuestas import enviados, mensaje_de, recibir, texto
from tests.test_respuestas import sandbox as sandbox  # the fixture
from tests.test_webhooks import envoltura, mensajes, publicar
from whatsapp_notify import AlAgente, respuesta
from whatsapp_notify.agents import AgentesInvalidos, leer_agentes
from whatsapp_notify.consent import revocar_consentimiento
from whatsapp_notify.inbound import handoff
from whatsapp_notify.models import (
    Conversacion,
    EnvioWhatsApp,
    EstadoConversacion,
    EstadoEnvio,
    Manejo,
    MotivoOmision,
    PasoConversacion,
)

pytestmark = pytest.mark.django_db(transaction=False)

CLIENTE_GUARDADO = "525512345678"
LUIS = "5215587654321"  # the agent's wa_id as Meta reports it
LUIS_GUARDADO = "525587654321"


@pytest.fixture
def agentes(wa_settings, sandbox):
    """One agent with WhatsApp (notified by template) and one admin user."""
    wa_settings(
        AGENTS=[{"telefono": "+52 55 8765 4321", "nombre": "Luis"}, {"usuario": "maria"}],
        HANDOFF_TEMPLATE="aviso_agente",
    )
    return sandbox


def del_agente(wamid: str, cuerpo: str, n: int = 0, contexto: str = "") -> dict:
    mensaje = texto(wamid, cuerpo, n)
    mensaje["from"] = LUIS
    if contexto:
        mensaje["context"] = {"from": "15550783881", "id": contexto}
    return mensaje


def a_luis(caja) -> list[dict]:
    return [c for c in enviados(caja) if c["to"] == f"+{LUIS_GUARDADO}"]


def al_cliente(caja) -> list[dict]:
    return [c for c in enviados(caja) if c["to"] == f"+{CLIENTE_GUARDADO}"]


def pedir_humano(client, capturar) -> Conversacion:
    recibir(client, capturar, texto("wamid.C1", "Quiero hablar con un HUMANO, por favor"))
    return Conversacion.objects.get(telefono=CLIENTE_GUARDADO)


def test_palabra_clave__pasa_a_agente_avisa_y_el_bot_calla(
    client, agentes, django_capture_on_commit_callbacks
):
    llamadas = []
    respuesta(lambda m, c: llamadas.append(m.texto), por_defecto=True)

    conversacion = pedir_humano(client, django_capture_on_commit_callbacks)

    assert conversacion.estado == EstadoConversacion.AGENTE
    assert (mensaje_de("wamid.C1").manejo, llamadas) == (Manejo.AGENTE, [])
    [aviso] = a_luis(agentes)
    assert aviso["template"]["name"] == "aviso_agente"
    variables = [p["text"] for p in aviso["template"]["components"][0]["parameters"]]
    assert variables == [
        "Ana Pérez",
        f"+{CLIENTE_GUARDADO}",
        "Quiero hablar con un HUMANO, por favor",
    ]
    [espera] = al_cliente(agentes)
    assert espera["context"] == {"message_id": "wamid.C1"}
    assert espera["text"]["body"].startswith("Te comunicamos con una persona")
    [paso] = PasoConversacion.objects.all()
    assert (paso.tipo, paso.quien, paso.mensaje.wamid) == ("agente", "cliente", "wamid.C1")


def test_mientras_un_agente_la_tiene__cada_mensaje_le_llega_con_el_nombre(
    client, agentes, django_capture_on_commit_callbacks
):
    pedir_humano(client, django_capture_on_commit_callbacks)

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.C2", "¿Siguen ahí?", 1))

    relevo = a_luis(agentes)[-1]
    # Luis never wrote: the relay is free text, outside his window, recorded omitido.
    envio = EnvioWhatsApp.objects.get(tipo="relevo_agente")
    assert (envio.estado, envio.motivo, envio.texto) == (
        EstadoEnvio.OMITIDO, MotivoOmision.FUERA_DE_VENTANA, "Ana Pérez: ¿Siguen ahí?",
    )  # fmt: skip
    assert relevo["type"] == "template"  # what Luis got is only the notice
    assert mensaje_de("wamid.C2").manejo == Manejo.AGENTE


def test_el_agente_responde_al_aviso__la_toma_y_el_cliente_lo_recibe(
    client, agentes, django_capture_on_commit_callbacks
):
    conversacion = pedir_humano(client, django_capture_on_commit_callbacks)
    aviso = EnvioWhatsApp.objects.get(tipo="aviso_agente")

    recibir(
        client, django_capture_on_commit_callbacks,
        del_agente("wamid.L1", "Hola Ana, soy Luis. ¿En qué te ayudo?", 2, contexto=aviso.wamid),
    )  # fmt: skip

    conversacion.refresh_from_db()
    assert (conversacion.estado, conversacion.agente) == (EstadoConversacion.AGENTE, LUIS_GUARDADO)
    assert conversacion.tomada_en is not None
    respuesta_de_luis = al_cliente(agentes)[-1]
    assert respuesta_de_luis["text"]["body"] == "Hola Ana, soy Luis. ¿En qué te ayudo?"
    assert respuesta_de_luis["context"] == {"message_id": "wamid.C1"}
    assert EnvioWhatsApp.objects.get(tipo="agente").estado == EstadoEnvio.ENVIADO
    assert mensaje_de("wamid.L1").manejador == "agente:relevo"
    assert not Conversacion.objects.filter(telefono=LUIS_GUARDADO).exists()  # not a customer
    assert list(PasoConversacion.objects.values_list("tipo", "quien")) == [
        ("agente", "cliente"), ("tomada", LUIS_GUARDADO),
    ]  # fmt: skip

    # Now Luis wrote: the customer's next message reaches him as text, named.
    recibir(client, django_capture_on_commit_callbacks, texto("wamid.C3", "Mi coche hace ruido", 3))
    assert a_luis(agentes)[-1]["text"]["body"] == "Ana Pérez: Mi coche hace ruido"


def test_cerrar__vuelve_al_bot_y_los_manejadores_responden_otra_vez(
    client, agentes, django_capture_on_commit_callbacks
):
    respuesta(lambda m, c: "Soy el bot", por_defecto=True)
    conversacion = pedir_humano(client, django_capture_on_commit_callbacks)
    recibir(client, django_capture_on_commit_callbacks, del_agente("wamid.L1", "Hola", 1))

    recibir(client, django_capture_on_commit_callbacks, del_agente("wamid.L2", "Cerrar", 2))
    recibir(client, django_capture_on_commit_callbacks, texto("wamid.C4", "Gracias", 3))

    conversacion.refresh_from_db()
    assert (conversacion.estado, conversacion.agente) == (EstadoConversacion.BOT, "")
    assert a_luis(agentes)[-1]["text"]["body"] == "Listo: Ana Pérez vuelve al bot."
    assert al_cliente(agentes)[-1]["text"]["body"] == "Soy el bot"
    assert list(PasoConversacion.objects.values_list("tipo", flat=True)) == [
        "agente", "tomada", "bot",
    ]  # fmt: skip


def test_el_agente_sin_conversaciones_abiertas_lo_sabe(
    client, agentes, django_capture_on_commit_callbacks
):
    recibir(client, django_capture_on_commit_callbacks, del_agente("wamid.L9", "¿Hay alguien?"))

    [aviso] = a_luis(agentes)
    assert aviso["text"]["body"] == "No tienes conversaciones abiertas con clientes."
    assert mensaje_de("wamid.L9").manejador == "agente:sin_conversacion"


def test_un_manejador_devuelve_al_agente(client, agentes, django_capture_on_commit_callbacks):
    respuesta(
        lambda m, c: AlAgente("Un momento, te paso con Luis.", motivo="reclamo"), palabra="reclamo"
    )

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.R1", "Tengo un reclamo"))

    assert Conversacion.objects.get().estado == EstadoConversacion.AGENTE
    assert al_cliente(agentes)[-1]["text"]["body"] == "Un momento, te paso con Luis."
    assert mensaje_de("wamid.R1").manejo == Manejo.ATENDIDO
    paso = PasoConversacion.objects.get()
    assert (paso.quien, paso.motivo) == ("manejador", "reclamo")


def test_webhook_repetido__nadie_recibe_nada_dos_veces(
    client, agentes, django_capture_on_commit_callbacks
):
    cuerpo = envoltura([mensajes(texto("wamid.C1", "Quiero un asesor"))])
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert publicar(client, cuerpo).status_code == 200
    from whatsapp_notify import tasks

    tasks.responder(mensaje_de("wamid.C1").pk)  # and the worker running again for it

    assert (len(a_luis(agentes)), len(al_cliente(agentes))) == (1, 1)
    assert PasoConversacion.objects.count() == 1


def test_sin_tiempo__vuelve_al_bot(
    client, agentes, django_capture_on_commit_callbacks, wa_settings
):
    wa_settings(HANDOFF_TIMEOUT=600)
    conversacion = pedir_humano(client, django_capture_on_commit_callbacks)

    assert handoff.liberar_vencidas(timezone.now() + timedelta(seconds=60)) == 0
    assert handoff.liberar_vencidas(timezone.now() + timedelta(seconds=601)) == 1

    conversacion.refresh_from_db()
    assert conversacion.estado == EstadoConversacion.BOT
    paso = PasoConversacion.objects.last()
    assert (paso.tipo, paso.quien, paso.motivo) == ("bot", "sistema", "tiempo")


def test_consentimiento__una_respuesta_no_lo_pide_pero_una_baja_la_detiene(
    client, agentes, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(REQUIRE_CONSENT=True)
    respuesta(lambda m, c: "Hola", palabra="hola")

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.H1", "hola"))
    revocar_consentimiento(f"+{CLIENTE_GUARDADO}", origen="admin")
    recibir(client, django_capture_on_commit_callbacks, texto("wamid.H2", "hola", 1))

    primera, segunda = EnvioWhatsApp.objects.filter(tipo="respuesta").order_by("pk")
    assert primera.estado == EstadoEnvio.ENVIADO  # the customer wrote first
    assert (segunda.estado, segunda.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)
    # The agent is staff: notified without a consent record.
    recibir(client, django_capture_on_commit_callbacks, texto("wamid.H3", "un humano", 2))
    assert EnvioWhatsApp.objects.get(tipo="aviso_agente").estado == EstadoEnvio.ENVIADO


def test_sin_agentes__la_palabra_no_hace_nada(client, sandbox, django_capture_on_commit_callbacks):
    respuesta(lambda m, c: "Soy el bot", por_defecto=True)

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.N1", "quiero un humano"))

    assert Conversacion.objects.get().estado == EstadoConversacion.BOT
    assert enviados(sandbox)[-1]["text"]["body"] == "Soy el bot"


# -- settings -----------------------------------------------------------------------------------


def test_agentes__se_leen_con_su_telefono_normalizado():
    [luis, maria] = leer_agentes(
        ["+52 55 8765 4321", {"usuario": "maria", "nombre": "María"}], "MX"
    )

    assert (luis.telefono, luis.clave) == (LUIS_GUARDADO, LUIS_GUARDADO)
    assert (maria.telefono, maria.clave, maria.para_el_cliente) == ("", "maria", "María")


@pytest.mark.parametrize(
    ("valor", "dice"),
    [
        ("+52 55 8765 4321", "lista"),
        ([{"nombre": "Luis"}], "telefono .* o usuario"),
        ([{"telefono": "12"}], "no es válido"),
        ([{"telefono": "+52 55 8765 4321", "correo": "x"}], "correo"),
        (["+52 55 8765 4321", "5587654321"], "repite telefono"),
        ([42], "int"),
    ],
)
def test_agentes__mal_escritos_lo_dicen(valor, dice):
    with pytest.raises(AgentesInvalidos, match=dice):
        leer_agentes(valor, "MX")


def test_check__agentes_mal_escritos_es_e013(settings):
    from django.core.management.base import SystemCheckError

    settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, "AGENTS": [{"nombre": "Luis"}]}

    with pytest.raises(SystemCheckError, match="E013"):
        call_command("check")


def test_un_mensaje_del_agente_nunca_es_de_un_cliente(
    client, agentes, django_capture_on_commit_callbacks
):
    from whatsapp_notify.models import ConsentimientoCliente

    # "BAJA" from an agent is words for a customer, not the agent's opt-out.
    recibir(client, django_capture_on_commit_callbacks, del_agente("wamid.L5", "BAJA"))

    assert not Conversacion.objects.exists()
    assert not ConsentimientoCliente.objects.exists()


def test_tomada_desde_el_admin__no_se_releva_a_los_telefonos(
    client, agentes, django_capture_on_commit_callbacks
):
    conversacion = pedir_humano(client, django_capture_on_commit_callbacks)
    handoff.tomar(conversacion, "maria")
    avisos = len(a_luis(agentes))

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.C7", "¿Hola?", 1))

    assert len(a_luis(agentes)) == avisos
    assert not EnvioWhatsApp.objects.filter(tipo="relevo_agente").exists()
    assert mensaje_de("wamid.C7").manejo == Manejo.AGENTE


def test_una_regla_con_estado_agente_corre_mientras_la_tiene_un_agente(
    client, agentes, django_capture_on_commit_callbacks
):
    vistos = []
    respuesta(lambda m, c: vistos.append(("bot", m.texto)), por_defecto=True)
    respuesta(lambda m, c: vistos.append(("agente", m.texto)), tipo="text", estado="agente")
    respuesta(lambda m, c: vistos.append(("cualquiera", m.texto)), palabra="factura", estado=None)
    pedir_humano(client, django_capture_on_commit_callbacks)

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.C8", "sigo aquí", 1))

    assert vistos == [("agente", "sigo aquí")]
    assert mensaje_de("wamid.C8").manejo == Manejo.ATENDIDO
    assert EnvioWhatsApp.objects.filter(tipo="relevo_agente").count() == 1  # relayed as well


# -- what the second review found -------------------------------------------------------------


def test_un_pedido_en_varias_lineas_va_al_aviso_en_una(
    client, agentes, django_capture_on_commit_callbacks
):
    recibir(
        client,
        django_capture_on_commit_callbacks,
        texto("wamid.M1", "Hola\n\nquiero un humano\tya"),
    )

    [aviso] = a_luis(agentes)
    variables = [p["text"] for p in aviso["template"]["components"][0]["parameters"]]
    assert variables[2] == "Hola quiero un humano ya"
    assert Conversacion.objects.get().estado == EstadoConversacion.AGENTE


def test_caracteres_de_control_no_impiden_el_relevo(
    client, agentes, django_capture_on_commit_callbacks
):
    pedir_humano(client, django_capture_on_commit_callbacks)
    recibir(client, django_capture_on_commit_callbacks, del_agente("wamid.L1", "Hola\x07 Ana", 1))

    assert al_cliente(agentes)[-1]["text"]["body"] == "Hola Ana"
    assert mensaje_de("wamid.L1").manejo == Manejo.ATENDIDO


def test_otro_agente_no_responde_la_conversacion_de_luis(
    client, agentes, wa_settings, django_capture_on_commit_callbacks
):
    pedro = "5215511112222"
    wa_settings(AGENTS=["+52 55 8765 4321", {"telefono": "+52 55 1111 2222", "nombre": "Pedro"}])
    pedir_humano(client, django_capture_on_commit_callbacks)
    aviso_a_pedro = EnvioWhatsApp.objects.get(tipo="aviso_agente", telefono="525511112222")
    recibir(client, django_capture_on_commit_callbacks, del_agente("wamid.L1", "Soy Luis", 1))
    enviados_al_cliente = len(al_cliente(agentes))

    suyo = del_agente("wamid.P1", "Soy Pedro", 2, contexto=aviso_a_pedro.wamid)
    suyo["from"] = pedro
    recibir(client, django_capture_on_commit_callbacks, suyo)
    cierre = del_agente("wamid.P2", "cerrar", 3)
    cierre["from"] = pedro
    recibir(client, django_capture_on_commit_callbacks, cierre)

    assert len(al_cliente(agentes)) == enviados_al_cliente
    assert mensaje_de("wamid.P1").manejador == "agente:de_otro"
    conversacion = Conversacion.objects.get(telefono=CLIENTE_GUARDADO)
    assert (conversacion.estado, conversacion.agente) == (EstadoConversacion.AGENTE, LUIS_GUARDADO)


def test_al_agente_otra_vez_no_avisa_dos_veces(client, agentes, django_capture_on_commit_callbacks):
    respuesta(lambda m, c: AlAgente("Ya te paso"), palabra="reclamo", estado=None)
    pedir_humano(client, django_capture_on_commit_callbacks)

    recibir(client, django_capture_on_commit_callbacks, texto("wamid.R2", "un reclamo", 1))

    assert EnvioWhatsApp.objects.filter(tipo="aviso_agente").count() == 1
    assert PasoConversacion.objects.filter(tipo="agente").count() == 1


def test_una_baja_del_agente_si_lo_detiene(db, agentes, wa_settings):
    from whatsapp_notify.outbound.outbox import revisar_destinatario

    wa_settings(REQUIRE_CONSENT=True)
    assert revisar_destinatario("+52 55 8765 4321", "plantilla", categoria="marketing")[1] is None
    revocar_consentimiento("+52 55 8765 4321", origen="admin", categoria="marketing")

    assert revisar_destinatario("+52 55 8765 4321", "plantilla", categoria="marketing")[1] == (
        MotivoOmision.BAJA
    )
