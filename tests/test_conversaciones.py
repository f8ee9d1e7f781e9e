"""The whole thread: saliente rows of every envío that leaves, ``Conversacion`` per phone.

Inbound bodies are Meta's, signed and posted through the webhook view; outbound envíos go
through the worker's real delivery path (eager Celery, the locmem backend or the Cloud API
sandbox).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.test_webhooks import (
    CLIENTE,
    cuenta_meta,
    envoltura,
    estado,
    mensajes,
    publicar,
    texto,
)
from whatsapp_notify import enviar_plantilla, enviar_texto
from whatsapp_notify.inbound import conversations
from whatsapp_notify.models import (
    Conversacion,
    Direccion,
    EnvioWhatsApp,
    EstadoConversacion,
    EstadoEnvio,
    Manejo,
    Mensaje,
)
from whatsapp_notify.outbound import delivery

pytestmark = pytest.mark.django_db

TELEFONO = "525512345678"  # CLIENTE (521…) as the app stores it


@pytest.fixture
def meta(wa_settings):
    wa_settings(BACKENDS={"default": cuenta_meta()})


def recibir(client, *items, nombre="Ana Pérez"):
    respuesta = publicar(client, envoltura([mensajes(*items, nombre=nombre)]))
    assert respuesta.status_code == 200
    return respuesta


# -- saliente rows -------------------------------------------------------------------------


def test_saliente__cada_envio_que_sale_escribe_su_mensaje(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        envio = enviar_plantilla(
            f"+{TELEFONO}", "vehiculo_listo_cliente", variables=["Ana", "Mazda 3"], nombre="Ana"
        )
    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.ENVIADO

    mensaje = Mensaje.objects.get(envio=envio)
    assert mensaje.direccion == Direccion.SALIENTE
    assert (mensaje.wamid, mensaje.telefono, mensaje.nombre) == (envio.wamid, TELEFONO, "Ana")
    assert mensaje.tipo == "template"
    assert mensaje.contenido["plantilla"] == "vehiculo_listo_cliente"
    assert mensaje.contenido["variables"] == ["Ana", "Mazda 3"]
    assert mensaje.estado == EstadoEnvio.ENVIADO
    assert mensaje.conversacion is None  # the customer never wrote: no conversation yet


def test_saliente__un_lote_escribe_todos_en_una_insercion(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        envios = [
            enviar_plantilla(f"+52551234567{i}", "aviso", variables=[f"{i}"]) for i in range(5)
        ]

    delivery.entregar_lote(cuenta="default", limite=10)

    salientes = Mensaje.objects.filter(direccion=Direccion.SALIENTE)
    assert salientes.count() == 5
    assert {m.envio_id for m in salientes} == {e.pk for e in envios}
    assert all(m.wamid == m.envio.wamid and m.texto == "aviso" for m in salientes)


def test_saliente__sus_estados_son_los_del_envio(client, meta, django_capture_on_commit_callbacks):
    from tests.test_webhooks import cambio
    from whatsapp_notify.testing import usar_locmem

    with usar_locmem(), django_capture_on_commit_callbacks(execute=True):
        envio = enviar_plantilla(f"+{TELEFONO}", "vehiculo_listo_cliente", variables=["Ana"])
    envio.refresh_from_db()
    mensaje = Mensaje.objects.get(envio=envio)

    for status, segundos in (("delivered", 1750000001), ("read", 1750000002)):
        cuerpo = envoltura([cambio(statuses=[estado(envio.wamid, status, segundos)])])
        assert publicar(client, cuerpo).status_code == 200
        mensaje = Mensaje.objects.select_related("envio").get(pk=mensaje.pk)
        assert (
            mensaje.estado
            == {"delivered": EstadoEnvio.ENTREGADO, "read": EstadoEnvio.LEIDO}[status]
        )


def test_saliente__un_wamid_ya_guardado_no_se_duplica():
    envio = EnvioWhatsApp.objects.create(
        telefono=TELEFONO, clase="texto", texto="Hola", estado=EstadoEnvio.ENVIADO, wamid="w.1"
    )
    assert conversations.registrar_salientes([(envio, "w.1")]) == 1
    assert conversations.registrar_salientes([(envio, "w.1")]) == 1

    assert Mensaje.objects.filter(wamid="w.1").count() == 1


def test_saliente__sin_wamid_no_hay_fila():
    envio = EnvioWhatsApp.objects.create(telefono=TELEFONO, clase="texto", texto="Hola")

    assert conversations.registrar_salientes([(envio, None)]) == 0
    assert not Mensaje.objects.exists()


def test_saliente__el_estado_que_trae_el_wamid_escribe_la_fila(client, meta):
    """The worker died after Meta accepted: the status settles the envío by its reference,
    and its saliente row appears with the wamid."""
    from whatsapp_notify.references import referencia_de

    envio = EnvioWhatsApp.objects.create(
        telefono=TELEFONO, wa_id=CLIENTE, clase="texto", texto="Hola",
        estado=EstadoEnvio.ENVIANDO, intentos=1,
    )  # fmt: skip
    sent = {**estado("wamid.TARDE", "sent", 1750000000), "biz_opaque_callback_data": ""}
    sent["biz_opaque_callback_data"] = referencia_de(envio.pk)
    from tests.test_webhooks import cambio

    assert publicar(client, envoltura([cambio(statuses=[sent])])).status_code == 200

    envio.refresh_from_db()
    assert envio.wamid == "wamid.TARDE"
    assert Mensaje.objects.get(wamid="wamid.TARDE").envio == envio


# -- conversations -------------------------------------------------------------------------


def test_entrante__abre_la_conversacion_con_su_ventana_y_sin_leer(client, meta):
    recibir(client, texto("wamid.E1", "Hola", segundos=1750000000))

    conversacion = Conversacion.objects.get()
    mensaje = Mensaje.objects.get(wamid="wamid.E1")
    assert (conversacion.cuenta, conversacion.telefono, conversacion.wa_id) == (
        "default", TELEFONO, CLIENTE,
    )  # fmt: skip
    assert conversacion.nombre == "Ana Pérez"
    assert conversacion.estado == EstadoConversacion.BOT
    assert conversacion.no_leidos == 1
    assert conversacion.ultimo_mensaje == mensaje
    assert conversacion.ventana_hasta == mensaje.fecha + timedelta(hours=24)
    assert mensaje.conversacion == conversacion


def test_entrante__reune_los_mensajes_anteriores_del_telefono(
    client, meta, django_capture_on_commit_callbacks
):
    from whatsapp_notify.testing import usar_locmem

    with usar_locmem(), django_capture_on_commit_callbacks(execute=True):
        aviso = enviar_plantilla(f"+{TELEFONO}", "vehiculo_listo_cliente", variables=["Ana"])
    saliente = Mensaje.objects.get(envio=aviso)

    recibir(client, texto("wamid.E1", "¿A qué hora paso?", segundos=int(time.time()) + 1))

    conversacion = Conversacion.objects.get()
    saliente.refresh_from_db()
    assert saliente.conversacion == conversacion
    assert list(conversacion.mensajes.order_by("fecha").values_list("direccion", flat=True)) == [
        Direccion.SALIENTE, Direccion.ENTRANTE,
    ]  # fmt: skip


def test_entrante__repetido_no_cuenta_dos_veces(client, meta):
    cuerpo = texto("wamid.E1", "Hola")
    recibir(client, cuerpo)
    recibir(client, cuerpo)  # Meta delivers the same webhook again

    assert Conversacion.objects.get().no_leidos == 1
    assert Mensaje.objects.count() == 1


def test_entrante__otra_cuenta_es_otra_conversacion(client, wa_settings):
    from tests.test_webhooks import SECRETO_SUCURSAL

    sucursal = cuenta_meta(SECRETO_SUCURSAL, "v2", phone_number_id="456")
    wa_settings(BACKENDS={"default": cuenta_meta(), "sucursal": sucursal})
    recibir(client, texto("wamid.E1"))
    cuerpo = envoltura([mensajes(texto("wamid.E2"))])
    cuerpo["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "456"
    assert publicar(client, cuerpo, cuenta="sucursal", secreto=SECRETO_SUCURSAL).status_code == 200

    assert sorted(Conversacion.objects.values_list("cuenta", flat=True)) == ["default", "sucursal"]


def test_entrante__caducada_empieza_de_nuevo(client, meta, wa_settings):
    wa_settings(CONVERSATION_EXPIRE_AFTER=3600)
    recibir(client, texto("wamid.E1", segundos=int(timezone.now().timestamp()) - 7200))
    conversacion = Conversacion.objects.get()
    conversacion.contexto = {"paso": "esperando_dni"}
    conversacion.save()

    recibir(client, texto("wamid.E2", segundos=int(timezone.now().timestamp())))

    conversacion.refresh_from_db()
    assert conversacion.contexto == {}
    assert conversacion.no_leidos == 2


def test_entrante__dentro_del_plazo_conserva_el_contexto(client, meta):
    ahora = int(timezone.now().timestamp())
    recibir(client, texto("wamid.E1", segundos=ahora - 60))
    Conversacion.objects.update(contexto={"paso": "esperando_dni"})

    recibir(client, texto("wamid.E2", segundos=ahora))

    assert Conversacion.objects.get().contexto == {"paso": "esperando_dni"}


def test_entrante__cerrada_vuelve_al_bot(client, meta):
    recibir(client, texto("wamid.E1"))
    Conversacion.objects.update(estado=EstadoConversacion.CERRADA, contexto={"x": 1})

    recibir(client, texto("wamid.E2"))

    conversacion = Conversacion.objects.get()
    assert (conversacion.estado, conversacion.contexto) == (EstadoConversacion.BOT, {})


def test_entrante__un_mensaje_viejo_no_mueve_la_ventana_ni_el_ultimo(client, meta):
    ahora = int(timezone.now().timestamp())
    recibir(client, texto("wamid.NUEVO", segundos=ahora))
    recibir(client, texto("wamid.VIEJO", segundos=ahora - 600))  # delivered late

    conversacion = Conversacion.objects.get()
    assert conversacion.ultimo_mensaje.wamid == "wamid.NUEVO"
    assert conversacion.ventana_hasta == conversacion.ultimo_mensaje.fecha + timedelta(hours=24)


def test_entrante__sin_manejadores_queda_sin_manejador(client, meta):
    recibir(client, texto("wamid.E1"))

    assert Mensaje.objects.get().manejo == Manejo.SIN_MANEJADOR


def test_entrante__baja_la_atiende_el_consentimiento(client, meta):
    recibir(client, texto("wamid.E1", "BAJA"))

    mensaje = Mensaje.objects.get()
    assert (mensaje.manejo, mensaje.manejador) == (Manejo.ATENDIDO, "consentimiento")


def test_saliente__mueve_el_ultimo_mensaje_de_su_conversacion(
    client, meta, django_capture_on_commit_callbacks
):
    from whatsapp_notify.testing import usar_locmem

    recibir(client, texto("wamid.E1", segundos=int(timezone.now().timestamp()) - 5))
    with usar_locmem(), django_capture_on_commit_callbacks(execute=True):
        envio = enviar_texto(f"+{TELEFONO}", "Hola Ana, ¿en qué te ayudo?")

    conversacion = Conversacion.objects.get()
    assert conversacion.ultimo_mensaje.envio == envio
    assert conversacion.no_leidos == 1  # ours do not count as unread


def test_entrante__la_caducidad_se_mide_con_la_hora_del_mensaje(client, meta, wa_settings):
    # Written a minute after the last one, delivered two hours late: same conversation.
    wa_settings(CONVERSATION_EXPIRE_AFTER=3600)
    ahora = int(timezone.now().timestamp())
    recibir(client, texto("wamid.T1", segundos=ahora - 7200))
    Conversacion.objects.update(contexto={"paso": "esperando_dni"})

    recibir(client, texto("wamid.T2", segundos=ahora - 7140))

    assert Conversacion.objects.get().contexto == {"paso": "esperando_dni"}


@pytest.mark.parametrize("valor", [float("inf"), 10**15])
def test_entrante__una_caducidad_enorme_no_pierde_mensajes(client, meta, wa_settings, valor):
    wa_settings(CONVERSATION_EXPIRE_AFTER=valor)

    recibir(client, texto("wamid.G1"))
    recibir(client, texto("wamid.G2", segundos=int(timezone.now().timestamp())))

    assert Mensaje.objects.filter(wamid__in=["wamid.G1", "wamid.G2"]).count() == 2
    assert Conversacion.objects.get().no_leidos == 2


@pytest.mark.parametrize("valor", [float("inf"), 10**15, float("nan")])
def test_check__caducidad_enorme_o_nan_es_e007(settings, valor):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, "CONVERSATION_EXPIRE_AFTER": valor}

    with pytest.raises(SystemCheckError, match="E007"):
        call_command("check")


def test_saliente__un_envio_raro_no_cuesta_las_filas_de_los_demas(db):
    envios = [
        EnvioWhatsApp.objects.create(
            telefono=TELEFONO,
            clase="texto",
            texto=f"hola {n}",
            wamid=f"wamid.S{n}",
            interactivo=["x"] if n == 1 else {},
        )
        for n in range(3)
    ]

    assert conversations.registrar_salientes([(e, e.wamid) for e in envios]) == 3
    assert Mensaje.objects.filter(direccion="saliente").count() == 3
