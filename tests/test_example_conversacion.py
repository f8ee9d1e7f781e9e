"""The example ERP's conversation (taller/whatsapp.py): the customer approves a quote with
the «Aprobar» button of its template, and "horarios" answers with a list.

Inbound messages are Meta's, signed and posted to the webhook view; the handlers run in the
``responder`` task and their replies go out through the Cloud API sandbox.
"""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from example_project.taller.models import Cliente, Cotizacion
from tests.test_sandbox import META_BACKEND, TOKEN
from tests.test_webhooks import SECRETO, VERIFICA, envoltura, mensajes, publicar
from whatsapp_notify import BotonRapido
from whatsapp_notify.models import Conversacion, EnvioWhatsApp, Manejo, Mensaje
from whatsapp_notify.sandbox import Sandbox

pytestmark = [pytest.mark.urls("example_project.urls"), pytest.mark.django_db]

ANA = "5215512345678"  # Ana's wa_id as Meta reports it; the app stores 525512345678
AHORA = int(time.time()) - 30


@pytest.fixture
def taller(wa_settings, respuestas_del_ejemplo):
    """The workshop on a Meta account that receives webhooks and sends to the sandbox."""
    with Sandbox(None, token=TOKEN) as caja:
        opciones = {
            "PHONE_NUMBER_ID": "123", "ACCESS_TOKEN": TOKEN, "BASE_URL": caja.base_url,
            "APP_SECRET": SECRETO, "VERIFY_TOKEN": VERIFICA,
        }  # fmt: skip
        wa_settings(BACKENDS={"default": {"BACKEND": META_BACKEND, "OPTIONS": opciones}})
        yield caja


def cotizacion(telefono: str = "+52 55 1234 5678", numero: str = "COT-7") -> Cotizacion:
    cliente = Cliente.objects.create(
        nombre="Ana Pérez", telefono=telefono, email="", acepta_whatsapp=True
    )
    conceptos = [{"descripcion": "Mano de obra", "cantidad": 1, "precio": "450"}]
    return Cotizacion.objects.create(numero=numero, cliente=cliente, conceptos=conceptos)


def enviar(client, capturar, cot: Cotizacion) -> EnvioWhatsApp:
    with capturar(execute=True):
        respuesta = client.post(reverse("taller:enviar_cotizacion", args=[cot.pk]))
    assert respuesta.json()["whatsapp_enviado"] is True
    return EnvioWhatsApp.objects.get(tipo="cotizacion", object_id=str(cot.pk))


def recibir(client, capturar, mensaje: dict, de: str = ANA) -> Mensaje:
    mensaje = {"from": de, "timestamp": str(AHORA), **mensaje}
    with capturar(execute=True):
        assert publicar(client, envoltura([mensajes(mensaje)])).status_code == 200
    return Mensaje.objects.get(wamid=mensaje["id"])


def toque(wamid: str, payload: str, contexto: str) -> dict:
    return {
        "id": wamid, "type": "button", "button": {"payload": payload, "text": "Aprobar"},
        "context": {"from": "15550783881", "id": contexto},
    }  # fmt: skip


def respuestas(caja: Sandbox) -> list[dict]:
    return [m.cuerpo for m in caja.mensajes if m.cuerpo.get("type") != "template"]


def test_la_cotizacion_sale_con_el_payload_de_aprobar(
    client, taller, django_capture_on_commit_callbacks
):
    cot = cotizacion()

    enviar(client, django_capture_on_commit_callbacks, cot)

    [plantilla] = [m.cuerpo for m in taller.mensajes]
    assert plantilla["template"]["components"][-1] == {
        "type": "button", "sub_type": "quick_reply", "index": "0",
        "parameters": [{"type": "payload", "payload": f"cotizacion:aprobar:{cot.pk}"}],
    }  # fmt: skip
    assert taller.mensajes[0].problema == ""


def test_aprobar__la_cotizacion_pasa_a_aprobada_y_el_cliente_lo_lee(
    client, taller, django_capture_on_commit_callbacks
):
    cot = cotizacion()
    envio = enviar(client, django_capture_on_commit_callbacks, cot)

    tap = recibir(
        client,
        django_capture_on_commit_callbacks,
        toque("wamid.TAP1", f"cotizacion:aprobar:{cot.pk}", envio.wamid),
    )

    cot.refresh_from_db()
    assert cot.estado == Cotizacion.Estado.APROBADA
    assert cot.aprobada_en is not None
    tap.refresh_from_db()
    assert (tap.manejo, tap.manejador) == (
        Manejo.ATENDIDO,
        "example_project.taller.whatsapp.aprobar",
    )
    [gracias] = respuestas(taller)
    assert gracias["context"] == {"message_id": "wamid.TAP1"}
    assert "Aprobamos la cotización COT-7 por $450.00" in gracias["text"]["body"]
    conversacion = Conversacion.objects.get()
    assert conversacion.contexto == {"cotizacion_aprobada": "COT-7"}


def test_aprobar__dos_veces_no_cambia_nada_y_lo_dice(
    client, taller, django_capture_on_commit_callbacks
):
    cot = cotizacion()
    envio = enviar(client, django_capture_on_commit_callbacks, cot)
    payload = f"cotizacion:aprobar:{cot.pk}"

    recibir(client, django_capture_on_commit_callbacks, toque("wamid.TAP1", payload, envio.wamid))
    aprobada_en = Cotizacion.objects.get().aprobada_en
    recibir(client, django_capture_on_commit_callbacks, toque("wamid.TAP2", payload, envio.wamid))

    assert Cotizacion.objects.get().aprobada_en == aprobada_en
    assert "ya estaba aprobada" in respuestas(taller)[-1]["text"]["body"]


def test_aprobar__la_cotizacion_de_otro_telefono_no_se_aprueba(
    client, taller, django_capture_on_commit_callbacks
):
    ajena = cotizacion(telefono="+52 33 1234 5678", numero="COT-8")
    enviar(client, django_capture_on_commit_callbacks, ajena)

    recibir(
        client,
        django_capture_on_commit_callbacks,
        toque("wamid.TAP9", f"cotizacion:aprobar:{ajena.pk}", "wamid.otro"),
    )

    assert Cotizacion.objects.get().estado == Cotizacion.Estado.PENDIENTE
    assert "No encontramos" in respuestas(taller)[-1]["text"]["body"]


def test_horarios__responde_con_una_lista_y_recuerda_la_eleccion(
    client, taller, django_capture_on_commit_callbacks
):
    pregunta = {"id": "wamid.H1", "type": "text", "text": {"body": "¿Qué HORÁRIOS tienen?"}}
    recibir(client, django_capture_on_commit_callbacks, pregunta)
    fila = {"type": "list_reply", "list_reply": {"id": "hora:sa:9", "title": "9:00"}}
    eleccion = {"id": "wamid.H2", "type": "interactive", "interactive": fila}
    recibir(client, django_capture_on_commit_callbacks, eleccion)

    lista, anotado = respuestas(taller)
    assert lista["interactive"]["type"] == "list"
    secciones = lista["interactive"]["action"]["sections"]
    assert [s["title"] for s in secciones] == ["Lunes a viernes", "Sábado"]
    assert anotado["text"]["body"].startswith("Anotado: te esperamos a las 9:00.")
    assert Conversacion.objects.get().contexto == {"horario": "hora:sa:9"}
    assert all(m.problema == "" for m in taller.mensajes)


def test_otros_proveedores__la_cotizacion_sale_sin_botones(
    client, wa_settings, outbox, django_capture_on_commit_callbacks
):
    whapi = {"TOKEN": "t", "PLANTILLAS": {"cotizacion_lista_cliente": "Hola {{1}}, {{2}} {{3}}"}}
    wa_settings(BACKENDS={"default": {"BACKEND": "whatsapp_notify.backends.whapi.WhapiBackend",
                                      "OPTIONS": whapi}})  # fmt: skip
    from example_project.taller.servicios import botones_de_cotizacion

    assert botones_de_cotizacion(cotizacion()) is None


def test_locmem__la_cotizacion_lleva_su_boton(client, outbox, django_capture_on_commit_callbacks):
    cot = cotizacion()

    enviar(client, django_capture_on_commit_callbacks, cot)

    assert outbox[0].contenido.botones == (BotonRapido(f"cotizacion:aprobar:{cot.pk}"),)


def test_recibir__el_ejemplo_del_readme(
    outbox, respuestas_del_ejemplo, django_capture_on_commit_callbacks
):
    from example_project.taller.servicios import enviar_cotizacion
    from whatsapp_notify.testing import enviados, recibir

    cot = cotizacion()
    telefono = cot.cliente.telefono
    with django_capture_on_commit_callbacks(execute=True):
        enviar_cotizacion(cot)
        recibir(telefono, "Aprobar", boton=f"cotizacion:aprobar:{cot.pk}")

    cot.refresh_from_db()
    assert cot.estado == "APROBADA"
    [gracias] = enviados(telefono, clase="texto")
    assert gracias.contenido.cuerpo.startswith("¡Gracias, Ana Pérez! Aprobamos la cotización COT-7")


def test_el_manejador_del_readme__aprueba_por_la_referencia_del_envio_tocado(
    outbox, django_capture_on_commit_callbacks
):
    """The «aprobar» of README's «Conversaciones y respuestas», as written there."""
    import re

    from example_project.taller.servicios import enviar_cotizacion
    from whatsapp_notify import respuesta
    from whatsapp_notify.testing import recibir

    aprobar_re = re.compile(r"cotizacion:aprobar:(\d+)")

    @respuesta(boton=aprobar_re)
    def aprobar(mensaje, conversacion):
        pk = int(aprobar_re.fullmatch(mensaje.respuesta_id)[1])
        cotizacion = mensaje.envio.referencia if mensaje.envio else None
        if not isinstance(cotizacion, Cotizacion) or cotizacion.pk != pk:
            return "No encontramos esa cotización."
        cotizacion.estado = "APROBADA"
        cotizacion.save(update_fields=["estado"])
        return "¡Gracias! Tu cotización quedó aprobada."

    cot = cotizacion()
    otra = cotizacion(telefono="+52 33 1234 5678", numero="COT-9")
    with django_capture_on_commit_callbacks(execute=True):
        enviar_cotizacion(cot)
    envio = EnvioWhatsApp.objects.get(tipo="cotizacion")
    with django_capture_on_commit_callbacks(execute=True):
        recibir(cot.cliente.telefono, "Aprobar", boton=f"cotizacion:aprobar:{otra.pk}",
                tipo="button", responde_a=envio)  # fmt: skip
        recibir(cot.cliente.telefono, "Aprobar", boton=f"cotizacion:aprobar:{cot.pk}",
                tipo="button", responde_a=envio)  # fmt: skip

    assert list(Cotizacion.objects.order_by("pk").values_list("estado", flat=True)) == [
        "APROBADA", "PENDIENTE",
    ]  # fmt: skip
    assert [m.contenido.cuerpo for m in outbox[1:]] == [
        "No encontramos esa cotización.", "¡Gracias! Tu cotización quedó aprobada.",
    ]  # fmt: skip


def test_horarios__en_twilio_responde_con_texto(
    wa_settings, outbox, respuestas_del_ejemplo, django_capture_on_commit_callbacks
):
    from whatsapp_notify.testing import recibir

    twilio = {"ACCOUNT_SID": "AC" + "0" * 32, "AUTH_TOKEN": "x", "FROM": "whatsapp:+14155238886"}
    wa_settings(BACKENDS={
        "default": {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"},
        "citas": {"BACKEND": "whatsapp_notify.backends.twilio.TwilioBackend", "OPTIONS": twilio},
    })  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        mensaje = recibir("+52 55 1234 5678", "¿horarios?", cuenta="citas")

    mensaje.refresh_from_db()
    assert mensaje.manejo == Manejo.ATENDIDO
    envio = EnvioWhatsApp.objects.get(tipo="respuesta")
    assert envio.texto.startswith("Atendemos de lunes a viernes")


@pytest.mark.parametrize(
    ("pie", "pago", "respuesta_"),
    [
        (
            "Monto: 500 / Fecha: 2025-01-15",
            ("500.00", "2025-01-15"),
            "Recibimos tu comprobante por $500.00 del 15/01/2025",
        ),
        (
            "monto: $1,250.50\nfecha: 2025-02-01",
            ("1250.50", "2025-02-01"),
            "por $1,250.50 del 01/02/2025",
        ),
        ("Monto: 500 / Fecha: 2025-13-45", None, "No pude leer la fecha o el monto"),
        ("", None, "Si es un comprobante de pago"),
    ],
)
def test_comprobante__el_pie_registra_el_pago(
    outbox, respuestas_del_ejemplo, django_capture_on_commit_callbacks, pie, pago, respuesta_
):
    from example_project.taller.models import Pago
    from whatsapp_notify.testing import recibir

    cot = cotizacion()
    with django_capture_on_commit_callbacks(execute=True):
        mensaje = recibir(cot.cliente.telefono, pie or " ", tipo="image")

    pagos = [(str(p.monto), p.fecha.isoformat(), p.cliente) for p in Pago.objects.all()]
    assert pagos == ([(*pago, cot.cliente)] if pago else [])
    textos = [m.contenido.cuerpo for m in outbox if hasattr(m.contenido, "cuerpo")]
    assert respuesta_ in textos[-1]
    if pago:
        assert Pago.objects.get().comprobante == mensaje
        assert [type(m.contenido).__name__ for m in outbox] == ["Reaccion", "Texto"]
