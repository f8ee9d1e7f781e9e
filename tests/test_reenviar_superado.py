"""reenviar: an old envío of a notice that a later envío already covers is never sent again."""

from __future__ import annotations

import pytest

from tests.testapp.models import Cliente, Orden
from whatsapp_notify.models import ClaseEnvio, EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.outbound import actions

pytestmark = pytest.mark.django_db

DIGITOS = "525512345678"


@pytest.fixture
def orden() -> Orden:
    return Orden.objects.create(numero="OT-1", cliente=Cliente.objects.create(nombre="Ana"))


def envio_de(obj, estado: str, clave: str, *, tipo: str = "vehiculo_listo") -> EnvioWhatsApp:
    """An envío of ``obj``'s notice ``tipo``, created directly in ``estado``."""
    return EnvioWhatsApp.objects.create(
        telefono=DIGITOS, telefono_original="+52 55 1234 5678", clase=ClaseEnvio.PLANTILLA,
        plantilla="vehiculo_listo_cliente", idioma="es_MX", variables=["Ana"], referencia=obj,
        tipo=tipo, clave=clave, estado=estado,
    )  # fmt: skip


def reenviar(*envios: EnvioWhatsApp, entregar) -> actions.Reenvio:
    return entregar(actions.reenviar, EnvioWhatsApp.objects.filter(pk__in=[e.pk for e in envios]))


@pytest.mark.parametrize(
    "posterior",
    [
        EstadoEnvio.ENVIADO,
        EstadoEnvio.ENTREGADO,
        EstadoEnvio.LEIDO,
        EstadoEnvio.PROGRAMADO,
        EstadoEnvio.PENDIENTE,
        EstadoEnvio.ENVIANDO,
        EstadoEnvio.INCIERTO,
    ],
)
def test_reenviar__un_envio_posterior_vigente_del_aviso__no_se_envia_dos_veces(
    orden, outbox, entregar, posterior
):
    viejo = envio_de(orden, EstadoEnvio.FALLIDO, "vehiculo_listo:1")
    envio_de(orden, posterior, "vehiculo_listo:1:otra")

    hecho = reenviar(viejo, entregar=entregar)

    assert hecho == (0, {actions.SUPERADO: 1})
    assert EnvioWhatsApp.objects.get(pk=viejo.pk).estado == EstadoEnvio.FALLIDO
    assert outbox == []


@pytest.mark.parametrize(
    "posterior", [EstadoEnvio.FALLIDO, EstadoEnvio.CANCELADO, EstadoEnvio.OMITIDO]
)
def test_reenviar__un_envio_posterior_que_tampoco_llego__no_lo_impide(
    orden, outbox, entregar, posterior
):
    viejo = envio_de(orden, EstadoEnvio.FALLIDO, "vehiculo_listo:1")
    envio_de(orden, posterior, "vehiculo_listo:1:otra")

    assert reenviar(viejo, entregar=entregar) == (1, {})
    assert [mensaje.telefono for mensaje in outbox] == [DIGITOS]


def test_reenviar__un_envio_anterior_entregado__no_lo_impide(orden, outbox, entregar):
    envio_de(orden, EstadoEnvio.ENTREGADO, "vehiculo_listo:1")
    nuevo = envio_de(orden, EstadoEnvio.FALLIDO, "vehiculo_listo:1:otra")

    assert reenviar(nuevo, entregar=entregar) == (1, {})
    assert len(outbox) == 1


@pytest.mark.parametrize(
    "diferencia",
    [
        pytest.param({"tipo": "cotizacion"}, id="otro-tipo"),
        pytest.param({"tipo": ""}, id="sin-tipo"),
        pytest.param({"otra_orden": True}, id="otra-referencia"),
        pytest.param({"sin_referencia": True}, id="sin-referencia"),
    ],
)
def test_reenviar__otro_aviso__no_lo_supera(orden, outbox, entregar, diferencia):
    viejo = envio_de(
        orden, EstadoEnvio.FALLIDO, "viejo", tipo=diferencia.get("tipo", "vehiculo_listo")
    )
    referencia = Orden.objects.create(numero="OT-2", cliente=orden.cliente)
    if diferencia.get("sin_referencia"):
        EnvioWhatsApp.objects.filter(pk=viejo.pk).update(content_type=None, object_id="")
    envio_de(referencia if diferencia.get("otra_orden") else orden, EstadoEnvio.ENTREGADO, "nuevo")

    assert reenviar(viejo, entregar=entregar) == (1, {})
    assert len(outbox) == 1


def test_reenviar__dos_envios_del_mismo_aviso_en_la_seleccion__sale_solo_el_ultimo(
    orden, outbox, entregar
):
    viejo = envio_de(orden, EstadoEnvio.FALLIDO, "vehiculo_listo:1")
    nuevo = envio_de(orden, EstadoEnvio.CANCELADO, "vehiculo_listo:1:otra")

    assert reenviar(viejo, nuevo, entregar=entregar) == (1, {actions.SUPERADO: 1})
    assert EnvioWhatsApp.objects.get(pk=viejo.pk).estado == EstadoEnvio.FALLIDO
    assert EnvioWhatsApp.objects.get(pk=nuevo.pk).estado == EstadoEnvio.ENVIADO
    assert len(outbox) == 1


def test_reenviar__muchos_superados__una_consulta_para_todos(
    orden, outbox, django_assert_num_queries
):
    ordenes = [Orden.objects.create(numero=f"OT-{n}", cliente=orden.cliente) for n in range(30)]
    viejos = [envio_de(o, EstadoEnvio.FALLIDO, f"v:{o.pk}") for o in ordenes]
    for o in ordenes:
        envio_de(o, EstadoEnvio.ENTREGADO, f"n:{o.pk}")

    with django_assert_num_queries(1):
        hecho = actions.reenviar(viejos)

    assert hecho == (0, {actions.SUPERADO: 30})
