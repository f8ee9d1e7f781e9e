"""Reply buttons and list pickers: ``enviar_botones`` and ``enviar_lista``.

Recorded by the public API like any envío (window, clave, consent), kept whole in the row
and rebuilt from it at delivery; sent to the Cloud API sandbox over real local HTTP, which
checks each body against Meta's OpenAPI description. A provider that cannot send them
(Twilio) says so at the call and records nothing.
"""

from __future__ import annotations

import pytest

from whatsapp_notify import enviar_botones, enviar_lista
from whatsapp_notify.backends.base import UnsupportedContent
from whatsapp_notify.exceptions import MessageError, TipoInvalido
from whatsapp_notify.messages import (
    Boton,
    Botones,
    Fila,
    Lista,
    Seccion,
    interactivo_a_datos,
    interactivo_de_datos,
)
from whatsapp_notify.models import (
    ClaseEnvio,
    Direccion,
    EnvioWhatsApp,
    EstadoEnvio,
    Mensaje,
    MotivoOmision,
)
from whatsapp_notify.outbound.delivery import construir_salida
from whatsapp_notify.sandbox import Sandbox
from whatsapp_notify.testing import assert_enviado

TELEFONO = "525512345678"
META_BACKEND = "whatsapp_notify.backends.meta.MetaBackend"
TWILIO_BACKEND = "whatsapp_notify.backends.twilio.TwilioBackend"
HORARIOS = {
    "Mañana": [("9", "9:00", "Lunes a viernes"), ("11", "11:00")],
    "Tarde": [("16", "16:00")],
}


@pytest.fixture
def ventana_abierta(db):
    """The customer wrote a minute ago: free-form messages may go."""
    Mensaje.objects.create(direccion=Direccion.ENTRANTE, telefono=TELEFONO, wa_id=TELEFONO)


# -- recorded and rebuilt ------------------------------------------------------------------


@pytest.mark.django_db
def test_botones__se_registran_enteros_y_se_reconstruyen_de_la_fila(ventana_abierta, entregar):
    envio = entregar(
        enviar_botones, f"+{TELEFONO}", "¿Aprueba la cotización COT-17?",
        botones=[("aprobar", "Aprobar"), Boton("rechazar", "Rechazar"), "Llamarme"],
        encabezado="Cotización", pie="Taller Centro", tipo="cotizacion",
    )  # fmt: skip

    guardado = EnvioWhatsApp.objects.get(pk=envio.pk)
    assert (guardado.clase, guardado.estado) == (ClaseEnvio.BOTONES, EstadoEnvio.ENVIADO)
    contenido = construir_salida(guardado).contenido
    assert contenido == Botones(
        "¿Aprueba la cotización COT-17?",
        (Boton("aprobar", "Aprobar"), Boton("rechazar", "Rechazar"), Boton("Llamarme", "Llamarme")),
        encabezado="Cotización",
        pie="Taller Centro",
    )
    assert_enviado(TELEFONO, clase="botones", tipo="cotizacion", veces=1)


@pytest.mark.django_db
def test_lista__secciones_como_dict_se_registran_y_se_reconstruyen(ventana_abierta, entregar):
    envio = entregar(
        enviar_lista, f"+{TELEFONO}", "¿Qué horario prefiere?", boton="Ver horarios",
        secciones=HORARIOS, pie="Taller Centro",
    )  # fmt: skip

    guardado = EnvioWhatsApp.objects.get(pk=envio.pk)
    assert (guardado.clase, guardado.estado) == (ClaseEnvio.LISTA, EstadoEnvio.ENVIADO)
    lista = construir_salida(guardado).contenido
    assert isinstance(lista, Lista)
    assert [seccion.titulo for seccion in lista.secciones] == ["Mañana", "Tarde"]
    assert lista.secciones[0].filas == (Fila("9", "9:00", "Lunes a viernes"), Fila("11", "11:00"))
    assert_enviado(TELEFONO, clase="lista", veces=1)


def test_datos__ida_y_vuelta_sin_perder_nada():
    lista = Lista(
        "Elija", "Ver", (Seccion("A", (Fila("1", "Uno", "d"),)), Seccion("B", (Fila("2", "Dos"),))),
        encabezado="E", pie="P",
    )  # fmt: skip
    botones = Botones("¿Sí?", (Boton("s", "Sí"),), pie="P")

    assert interactivo_de_datos(lista.cuerpo, interactivo_a_datos(lista)) == lista
    assert interactivo_de_datos(botones.cuerpo, interactivo_a_datos(botones)) == botones


@pytest.mark.django_db
def test_fuera_de_la_ventana__omitido_como_un_texto(entregar):
    envio = entregar(enviar_botones, f"+{TELEFONO}", "¿Confirma?", botones=["Sí", "No"])

    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.FUERA_DE_VENTANA)


@pytest.mark.django_db
def test_clave__la_misma_clave_no_registra_otro(ventana_abierta, entregar):
    primero = entregar(enviar_botones, f"+{TELEFONO}", "¿Confirma?", botones=["Sí"], clave="c:1")
    segundo = entregar(enviar_botones, f"+{TELEFONO}", "¿Confirma?", botones=["Sí"], clave="c:1")

    assert primero.pk == segundo.pk
    assert EnvioWhatsApp.objects.count() == 1


# -- refused at the call ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("llamar", "error", "texto"),
    [
        pytest.param(lambda: enviar_botones(TELEFONO, "¿Y?", botones=["A", "B", "C", "D"]),
                     MessageError, "1 a 3", id="cuatro-botones"),
        pytest.param(lambda: enviar_botones(TELEFONO, "¿Y?", botones=[("a", "Sí"), ("a", "No")]),
                     MessageError, "ids", id="ids-repetidos"),
        pytest.param(lambda: enviar_botones(TELEFONO, "¿Y?", botones=["x" * 21]),
                     MessageError, "20", id="titulo-de-21"),
        pytest.param(lambda: enviar_botones(TELEFONO, "¿Y?", botones="Sí"),
                     TipoInvalido, "lista", id="botones-texto"),
        pytest.param(lambda: enviar_botones(TELEFONO, "¿Y?", botones=[{"id": "a"}]),
                     TipoInvalido, "Boton", id="boton-dict"),
        pytest.param(lambda: enviar_botones(TELEFONO, "¿Y?", botones=[("a\x00", "Sí")]),
                     MessageError, "control", id="nul-en-el-id"),
        pytest.param(lambda: enviar_botones(TELEFONO, "", botones=["Sí"]),
                     MessageError, "vacío", id="sin-texto"),
        pytest.param(lambda: enviar_lista(TELEFONO, "¿Y?", boton="Ver",
                                          secciones={"": [(str(n), str(n)) for n in range(11)]}),
                     MessageError, "10 filas", id="once-filas"),
        pytest.param(lambda: enviar_lista(TELEFONO, "¿Y?", boton="Ver",
                                          secciones={"A": [("1", "Uno")], "B": [("1", "Otro")]}),
                     MessageError, "ids", id="filas-con-el-mismo-id"),
        pytest.param(lambda: enviar_lista(TELEFONO, "¿Y?", boton="Ver", secciones={"A": ["1"]}),
                     TipoInvalido, "Fila", id="fila-texto"),
        pytest.param(lambda: enviar_lista(TELEFONO, "¿Y?", boton="x" * 21,
                                          secciones={"": [("1", "Uno")]}),
                     MessageError, "20", id="boton-de-21"),
    ],
)  # fmt: skip
def test_limites__lanzan_al_llamar_y_no_registran_nada(llamar, error, texto):
    with pytest.raises(error, match=texto):
        llamar()

    assert not EnvioWhatsApp.objects.exists()


@pytest.mark.django_db
def test_twilio__lo_dice_al_llamar_y_no_registra_nada(wa_settings):
    opciones = {"ACCOUNT_SID": "AC" + "0" * 32, "AUTH_TOKEN": "t", "FROM": "whatsapp:+14155238886"}
    wa_settings(BACKENDS={"default": {"BACKEND": TWILIO_BACKEND, "OPTIONS": opciones}})

    with pytest.raises(UnsupportedContent, match="quick-reply"):
        enviar_botones(TELEFONO, "¿Confirma?", botones=["Sí"])
    with pytest.raises(UnsupportedContent, match="list-picker"):
        enviar_lista(TELEFONO, "¿Cuándo?", boton="Ver", secciones=HORARIOS)

    assert not EnvioWhatsApp.objects.exists()


# -- to the Cloud API sandbox --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_meta__botones_y_lista_llegan_validos_segun_el_esquema_de_meta(wa_settings):
    with Sandbox(None, "secreto", delays=(0.01, 0.01, 0.01)) as sandbox:
        opciones = {"PHONE_NUMBER_ID": "106540352242922", "ACCESS_TOKEN": "EAAGt",
                    "BASE_URL": sandbox.base_url}  # fmt: skip
        wa_settings(BACKENDS={"default": {"BACKEND": META_BACKEND, "OPTIONS": opciones}})
        Mensaje.objects.create(direccion=Direccion.ENTRANTE, telefono=TELEFONO, wa_id=TELEFONO)

        botones = enviar_botones(f"+{TELEFONO}", "¿Aprueba?", botones=[("si", "Sí"), ("no", "No")],
                                 encabezado="Cotización COT-17")  # fmt: skip
        lista = enviar_lista(f"+{TELEFONO}", "¿Qué horario?", boton="Ver horarios",
                             secciones=HORARIOS)  # fmt: skip

        mensajes = sandbox.mensajes

    assert [(m.status, m.problema) for m in mensajes] == [(200, ""), (200, "")]
    primero, segundo = (m.cuerpo["interactive"] for m in mensajes)
    assert primero["type"] == "button"
    assert [b["reply"] for b in primero["action"]["buttons"]] == [
        {"id": "si", "title": "Sí"},
        {"id": "no", "title": "No"},
    ]
    assert primero["header"] == {"type": "text", "text": "Cotización COT-17"}
    assert segundo["type"] == "list"
    assert segundo["action"]["button"] == "Ver horarios"
    assert [s["title"] for s in segundo["action"]["sections"]] == ["Mañana", "Tarde"]
    estados = EnvioWhatsApp.objects.filter(pk__in=[botones.pk, lista.pk]).values_list(
        "estado", flat=True
    )
    assert list(estados) == [EstadoEnvio.ENVIADO] * 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "datos",
    [{}, [1, 2], "abc", {"botones": ["ab", "cd"]}, {"botones": [["a", "b", "c"]]},
     {"boton": "Ver", "secciones": [{"titulo": "", "filas": [["a", "b", ""]]}]}],
    ids=["vacio", "lista", "texto", "botones-como-textos", "boton-de-tres", "lista-en-botones"],
)  # fmt: skip
def test_fila_ilegible__falla_una_vez_con_una_frase_clara(ventana_abierta, datos):
    from whatsapp_notify.outbound.delivery import entregar as entregar_envio

    envio = enviar_botones(f"+{TELEFONO}", "¿Sí?", botones=["Sí"])  # not delivered: no commit
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(interactivo=datos)

    entregar_envio(envio.pk)

    envio.refresh_from_db()
    assert (envio.estado, envio.intentos) == (EstadoEnvio.FALLIDO, 1)
    assert "no se pueden leer" in envio.error_detalle


@pytest.mark.django_db
@pytest.mark.parametrize(
    "botones", [[" "], [("ok", "   ")], [(" ", "Sí")]], ids=["titulo", "titulo-par", "id"]
)
def test_en_blanco__lanza_al_llamar(botones):
    with pytest.raises(MessageError, match="en blanco"):
        enviar_botones(TELEFONO, "¿Sí?", botones=botones)
    assert not EnvioWhatsApp.objects.exists()


@pytest.mark.django_db
def test_traduccion_perezosa__como_titulo_de_un_boton(ventana_abierta, entregar):
    from django.utils.translation import gettext_lazy

    envio = entregar(enviar_botones, f"+{TELEFONO}", "¿Sí?", botones=[gettext_lazy("Lista")])

    assert EnvioWhatsApp.objects.get(pk=envio.pk).interactivo["botones"] == [["Lista", "Lista"]]
