"""Template buttons: a quick reply's payload and a URL button's suffix, per envío.

A quote goes out as a template with «Ver documento» (a URL ending in the quote's number)
and «Aprobar» (a quick reply whose tap comes back as ``cotizacion:aprobar:<pk>``).
"""

from __future__ import annotations

import pytest

from tests.backends.test_meta import DictMediaCache
from tests.openapi import validate_message
from tests.test_sandbox import NUMERO, TOKEN
from whatsapp_notify import BotonRapido, BotonUrl, disparador, enviar_plantilla
from whatsapp_notify.backends.base import UnsupportedContent
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.backends.twilio import TwilioBackend
from whatsapp_notify.backends.whapi import WhapiBackend
from whatsapp_notify.exceptions import MessageError, TipoInvalido, VariablesError
from whatsapp_notify.messages import Plantilla, Salida, botones_de_datos
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio, MotivoOmision
from whatsapp_notify.models import Plantilla as Catalogo
from whatsapp_notify.outbound.delivery import construir_salida

TELEFONO = "525512345678"
BOTONES = [BotonUrl("COT-12"), BotonRapido("cotizacion:aprobar:12")]
TWILIO = {"ACCOUNT_SID": "AC" + "0" * 32, "AUTH_TOKEN": "x", "FROM": "whatsapp:+14155238886"}


def cotizacion(**campos) -> Plantilla:
    return Plantilla("cotizacion_lista", "es_MX", ["Ana", "COT-12"], **campos)


def en_catalogo(botones: list[dict], nombre: str = "cotizacion_lista") -> Catalogo:
    return Catalogo.objects.create(
        cuenta="default", nombre=nombre, idioma="es_MX", estado="APPROVED",
        categoria="UTILITY", parametros_cuerpo=2,
        cuerpo="Hola {{1}}, tu cotización {{2}} está lista.",
        componentes=[
            {"type": "BODY", "text": "Hola {{1}}, tu cotización {{2}} está lista."},
            {"type": "BUTTONS", "buttons": botones},
        ],
    )  # fmt: skip


URL_VARIABLE = {"type": "URL", "text": "Ver documento", "url": "https://erp.example/c/{{1}}"}
APROBAR = {"type": "QUICK_REPLY", "text": "Aprobar"}


# -- the values ---------------------------------------------------------------------------


def test_botones__en_el_orden_de_la_plantilla_sin_los_none_del_final():
    plantilla = cotizacion(botones=[None, BotonRapido("si"), None, None])

    assert plantilla.botones == (None, BotonRapido("si"))
    assert cotizacion(botones=None).botones == ()


@pytest.mark.parametrize(
    ("botones", "error", "dice"),
    [
        ("aprobar", TipoInvalido, "botones"),
        ([("aprobar", "Aprobar")], TipoInvalido, "BotonRapido"),
        ([BotonRapido("x")] * 11, MessageError, "hasta 10 botones"),
    ],
)
def test_botones__lo_que_no_es_una_lista_de_botones_se_rechaza(botones, error, dice):
    with pytest.raises(error, match=dice):
        cotizacion(botones=botones)


@pytest.mark.parametrize(
    ("crear", "dice"),
    [
        (lambda: BotonRapido(""), "payload"),
        (lambda: BotonRapido("x" * 257), "payload"),
        (lambda: BotonRapido("a\nb"), "payload"),
        (lambda: BotonRapido(42), "payload"),
        (lambda: BotonUrl("COT 12"), "espacios"),
        (lambda: BotonUrl("x" * 2001), "sufijo"),
        (lambda: BotonUrl("https://erp.example/c/42"), "no la URL entera"),
    ],
)
def test_botones__payload_y_sufijo_con_sus_limites(crear, dice):
    with pytest.raises(MessageError, match=dice):
        crear()


def test_botones__el_envio_los_guarda_y_el_worker_los_lee_igual(
    db, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        envio = enviar_plantilla(
            f"+{TELEFONO}", "cotizacion_lista", variables=["Ana", "COT-12"], botones=BOTONES
        )

    envio.refresh_from_db()
    assert envio.interactivo == {
        "botones": [{"url": "COT-12"}, {"payload": "cotizacion:aprobar:12"}]
    }
    assert construir_salida(envio).contenido.botones == tuple(BOTONES)
    [enviado] = outbox
    assert enviado.contenido.botones == tuple(BOTONES)


def test_botones__datos_editados_a_mano_fallan_con_una_frase(db):
    with pytest.raises(MessageError, match="editó a mano"):
        botones_de_datos([{"otra": "cosa"}])


# -- Meta ---------------------------------------------------------------------------------


def test_meta__un_componente_button_por_parametro_con_su_indice():
    backend = MetaBackend("default", PHONE_NUMBER_ID=NUMERO, ACCESS_TOKEN=TOKEN)
    plantilla = cotizacion(botones=[None, BotonUrl("COT-12"), BotonRapido("cotizacion:aprobar:12")])

    payload = backend.build_payload(Salida(TELEFONO, plantilla), DictMediaCache())

    assert payload["template"]["components"][1:] == [
        {"type": "button", "sub_type": "url", "index": "1",
         "parameters": [{"type": "text", "text": "COT-12"}]},
        {"type": "button", "sub_type": "quick_reply", "index": "2",
         "parameters": [{"type": "payload", "payload": "cotizacion:aprobar:12"}]},
    ]  # fmt: skip
    validate_message(payload)


@pytest.mark.django_db(transaction=True)
def test_meta__en_el_sandbox_sale_con_sus_botones(sandbox_meta):
    envio = enviar_plantilla(
        f"+{TELEFONO}", "cotizacion_lista", variables=["Ana", "COT-12"], botones=BOTONES
    )

    [mensaje] = sandbox_meta.mensajes
    envio.refresh_from_db()
    assert (envio.estado, mensaje.status, mensaje.problema) == (EstadoEnvio.ENVIADO, 200, "")
    assert [c["type"] for c in mensaje.cuerpo["template"]["components"]] == [
        "body", "button", "button",
    ]  # fmt: skip


# -- the catalog --------------------------------------------------------------------------


def test_catalogo__botones_que_encajan_pasan(db, outbox):
    en_catalogo([URL_VARIABLE, APROBAR])

    envio = enviar_plantilla(
        f"+{TELEFONO}", "cotizacion_lista", variables=["Ana", "COT-12"], botones=BOTONES
    )

    assert envio.estado == EstadoEnvio.PENDIENTE


@pytest.mark.parametrize(
    ("definidos", "botones", "dice"),
    [
        (
            [APROBAR, URL_VARIABLE],
            BOTONES,
            r"botones\[0\].*de respuesta rápida: no recibe BotonUrl",
        ),
        ([URL_VARIABLE, APROBAR], BOTONES[::-1], r"botones\[0\].*de URL: no recibe BotonRapido"),
        ([URL_VARIABLE], BOTONES, r"tiene 1 botón.*botones\[1\]"),
        ([URL_VARIABLE, APROBAR], [None, BotonRapido("x")], r"botón 0 .*BotonUrl"),
        (
            [{"type": "URL", "text": "Web", "url": "https://erp.example/"}, APROBAR],
            BOTONES,
            "URL fija",
        ),
    ],
)
def test_catalogo__botones_que_no_encajan_se_rechazan_al_llamar(db, definidos, botones, dice):
    en_catalogo(definidos)

    with pytest.raises(VariablesError, match=dice):
        enviar_plantilla(
            f"+{TELEFONO}", "cotizacion_lista", variables=["Ana", "COT-12"], botones=botones
        )
    assert not EnvioWhatsApp.objects.exists()


def test_catalogo__una_url_variable_sin_su_sufijo_se_rechaza(db):
    en_catalogo([APROBAR, URL_VARIABLE])

    with pytest.raises(VariablesError, match=r"botón 1 .*BotonUrl"):
        enviar_plantilla(f"+{TELEFONO}", "cotizacion_lista", variables=["Ana", "COT-12"])


# -- Twilio and WHAPI ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "opciones", "dice"),
    [
        ("whatsapp_notify.backends.twilio.TwilioBackend", TWILIO, "variables"),
        ("whatsapp_notify.backends.whapi.WhapiBackend", {"TOKEN": "t"}, "enviar_botones"),
    ],
)
def test_twilio_y_whapi__los_rechazan_al_llamar_y_no_registran(
    db, wa_settings, backend, opciones, dice
):
    wa_settings(BACKENDS={"otra": {"BACKEND": backend, "OPTIONS": opciones}})

    with pytest.raises(UnsupportedContent, match=dice):
        enviar_plantilla(f"+{TELEFONO}", "cotizacion_lista", botones=BOTONES, cuenta="otra")
    assert not EnvioWhatsApp.objects.exists()


@pytest.mark.parametrize(
    "backend", [TwilioBackend("otra", **TWILIO), WhapiBackend("otra", TOKEN="t")]
)
def test_twilio_y_whapi__el_worker_tampoco_los_manda(backend):
    with pytest.raises(UnsupportedContent):
        backend.build_payload(Salida(TELEFONO, cotizacion(botones=BOTONES)), DictMediaCache())


# -- disparadores -------------------------------------------------------------------------


def _declarar(**opciones):
    return disparador(
        "testapp.Orden", campo="estado", valor="COMPLETADA", plantilla="vehiculo_listo_cliente",
        tipo="listo_con_botones", destinatario=lambda orden: orden.cliente, **opciones,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_disparador__botones_por_objeto(outbox):
    from tests.testapp.models import Cliente, Orden

    regla = _declarar(botones=lambda orden: [BotonRapido(f"orden:recibida:{orden.pk}")])
    try:
        cliente = Cliente.objects.create(nombre="Ana", telefono=f"+{TELEFONO}")
        orden = Orden.objects.create(numero="OT-1", cliente=cliente, estado="COMPLETADA")
    finally:
        regla.desconectar()

    [enviado] = outbox
    assert enviado.contenido.botones == (BotonRapido(f"orden:recibida:{orden.pk}"),)


@pytest.mark.django_db(transaction=True)
def test_disparador__botones_que_fallan_dejan_el_envio_omitido(outbox):
    from tests.testapp.models import Cliente, Orden

    regla = _declarar(botones=lambda orden: "no es una lista")
    try:
        cliente = Cliente.objects.create(nombre="Ana", telefono=f"+{TELEFONO}")
        Orden.objects.create(numero="OT-1", cliente=cliente, estado="COMPLETADA")
    finally:
        regla.desconectar()

    envio = EnvioWhatsApp.objects.get()
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.ERROR_DISPARADOR)
    assert outbox == []


def test_disparador__botones_que_no_son_una_funcion_se_rechazan():
    with pytest.raises(TypeError, match="botones"):
        _declarar(botones=[BotonRapido("x")])


def test_botones__los_none_del_final_no_cuentan_para_el_limite():
    assert cotizacion(botones=[BotonRapido("x"), *[None] * 10]).botones == (BotonRapido("x"),)


@pytest.mark.parametrize(
    "interactivo", [["x"], "abc", {"botones": [{"payload": "a", "url": "b"}]}, {"botones": 5}]
)
def test_botones__un_interactivo_editado_falla_una_vez_con_una_frase(db, interactivo):
    envio = EnvioWhatsApp.objects.create(
        telefono=TELEFONO, clase="plantilla", plantilla="cotizacion_lista", idioma="es_MX",
        interactivo=interactivo,
    )  # fmt: skip

    with pytest.raises(MessageError, match="editó a mano"):
        construir_salida(envio)
