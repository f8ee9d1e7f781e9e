"""An ERP object's notices over HTTP: the serializer field and ``avisos/``."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from tests.clientes_api import cliente
from tests.testapp.models import Cliente, Orden
from whatsapp_notify import enviar_plantilla
from whatsapp_notify.api.fields import EstadoWhatsAppField
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio

pytestmark = pytest.mark.django_db

TELEFONO = "+52 55 1234 5678"


class OrdenSerializer(serializers.ModelSerializer):
    """What a host's own serializer of an order looks like with the field."""

    whatsapp = EstadoWhatsAppField()
    vehiculo_listo = EstadoWhatsAppField(tipo="vehiculo_listo")

    class Meta:
        model = Orden
        fields = ["id", "numero", "whatsapp", "vehiculo_listo"]


def nueva_orden(numero: str = "OT-1") -> Orden:
    return Orden.objects.create(numero=numero, cliente=Cliente.objects.create(nombre="Ana"))


def aviso(obj, tipo: str = "vehiculo_listo", **campos) -> EnvioWhatsApp:
    envio = enviar_plantilla(
        TELEFONO, "vehiculo_listo_cliente", variables=["Ana"], referencia=obj, tipo=tipo
    )
    if campos:
        EnvioWhatsApp.objects.filter(pk=envio.pk).update(**campos)
    return envio


def test_campo__cada_tipo_y_uno_solo(settings):
    orden = nueva_orden()
    entregado = aviso(orden, estado=EstadoEnvio.ENTREGADO, enviado_en=timezone.now(),
                      entregado_en=timezone.now())  # fmt: skip
    aviso(orden, tipo="encuesta", estado=EstadoEnvio.FALLIDO, error_codigo=131026)

    datos = OrdenSerializer(orden).data

    assert set(datos["whatsapp"]) == {"vehiculo_listo", "encuesta"}
    assert datos["vehiculo_listo"]["envio_id"] == entregado.pk
    assert datos["vehiculo_listo"]["entregado"] is True
    assert isinstance(datos["vehiculo_listo"]["entregado_en"], str)  # ISO 8601, JSON-ready
    assert datos["whatsapp"]["encuesta"]["error_codigo"] == 131026
    assert OrdenSerializer(nueva_orden("OT-2")).data["vehiculo_listo"] is None


def test_campo__una_lista_lee_sus_avisos_una_vez():
    ordenes = [nueva_orden(f"OT-{n}") for n in range(6)]
    for orden in ordenes:
        aviso(orden)

    with CaptureQueriesContext(connection) as consultas:
        datos = OrdenSerializer(Orden.objects.order_by("pk"), many=True).data

    assert [fila["vehiculo_listo"]["estado"] for fila in datos] == ["pendiente"] * 6
    # The orders, then one query per field for the whole list (content types are cached).
    assert len(consultas) <= 4, [c["sql"][:80] for c in consultas]


@pytest.fixture
def api(django_user_model, sin_limites_guardados):
    return cliente(django_user_model, "operador", "view_enviowhatsapp", "change_enviowhatsapp")


def test_avisos__lo_que_paso_con_los_avisos_de_una_orden(api):
    orden = nueva_orden()
    aviso(orden, estado=EstadoEnvio.OMITIDO, motivo="sin_consentimiento")

    datos = api.get(
        reverse("whatsapp_notify:api-avisos"),
        {"referencia_tipo": "testapp.orden", "referencia_id": orden.pk},
    ).json()
    uno = api.get(
        reverse("whatsapp_notify:api-avisos"),
        {"referencia_tipo": "testapp.orden", "referencia_id": orden.pk, "tipo": "otro"},
    ).json()

    assert datos["avisos"]["vehiculo_listo"]["motivo_texto"] == "Sin consentimiento"
    assert datos["avisos"]["vehiculo_listo"]["reenviable"] is True
    assert uno["avisos"] == {}
    sin_ref = api.get(reverse("whatsapp_notify:api-avisos"))
    assert sin_ref.status_code == 400


def test_avisos__reenviar_uno_fallido_y_no_dos_veces(
    api, django_capture_on_commit_callbacks, outbox
):
    orden = nueva_orden()
    aviso(orden, estado=EstadoEnvio.FALLIDO, error_codigo=131026)
    pedido = {"referencia_tipo": "testapp.orden", "referencia_id": str(orden.pk),
              "tipo": "vehiculo_listo"}  # fmt: skip
    url = reverse("whatsapp_notify:api-avisos-reenviar")

    with django_capture_on_commit_callbacks(execute=True):
        primero = api.post(url, pedido, format="json")
    segundo = api.post(url, pedido, format="json")

    assert primero.status_code == 200, primero.content
    assert primero.json()["resultado"] == "reenviado"
    assert primero.json()["estado"]["tipo"] == "vehiculo_listo"
    assert segundo.status_code == 409
    assert segundo.json()["code"] == "ya_enviado"
    assert segundo.json()["detail"]
    assert len(outbox) == 1


def test_avisos__reenviar_pide_permiso_de_cambio(django_user_model):
    lector = cliente(django_user_model, "lector", "view_enviowhatsapp")
    orden = nueva_orden()

    respuesta = lector.post(
        reverse("whatsapp_notify:api-avisos-reenviar"),
        {"referencia_tipo": "testapp.orden", "referencia_id": orden.pk, "tipo": "x"},
    )

    assert respuesta.status_code == 403
