"""Resending keeps each recipient's country, whatever DEFAULT_REGION says."""

from __future__ import annotations

import pytest

from whatsapp_notify import enviar_plantilla
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.outbound import actions

pytestmark = pytest.mark.django_db(transaction=True)

EXTRANJEROS = [
    # "+1 818 …" read without its "+" under MX would become a Mexico City number.
    pytest.param("+1 818 555 1234", "18185551234", id="US"),
    pytest.param("+34 612 34 56 78", "34612345678", id="ES"),
    pytest.param("+54 9 11 2345 6789", "541123456789", id="AR"),
    pytest.param("+57 301 234 5678", "573012345678", id="CO"),
]


def _plantilla(telefono: str, **opciones) -> EnvioWhatsApp:
    return enviar_plantilla(telefono, "vehiculo_listo_cliente", variables=["Ana"], **opciones)


@pytest.mark.parametrize(("telefono", "digitos"), EXTRANJEROS)
def test_reenviar__un_fallido_extranjero_sale_al_mismo_numero(outbox, telefono, digitos):
    envio = _plantilla(telefono)
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(estado=EstadoEnvio.FALLIDO)
    outbox.clear()

    assert actions.reenviar(EnvioWhatsApp.objects.filter(pk=envio.pk)) == (1, {})

    assert [mensaje.telefono for mensaje in outbox] == [digitos]
    assert EnvioWhatsApp.objects.get(pk=envio.pk).telefono == digitos


@pytest.mark.parametrize(("telefono", "digitos"), EXTRANJEROS)
def test_misma_clave__un_omitido_extranjero_sale_al_mismo_numero(
    outbox, wa_settings, telefono, digitos
):
    wa_settings(ENABLED=False)
    primero = _plantilla(telefono, clave="k")
    wa_settings(ENABLED=True)

    segundo = _plantilla(telefono, clave="k")

    assert segundo.pk == primero.pk
    assert (segundo.estado, segundo.telefono) == (EstadoEnvio.ENVIADO, digitos)
    assert [mensaje.telefono for mensaje in outbox] == [digitos]


def test_reenviar__un_estado_tardio_del_intento_anterior_no_asienta_el_nuevo(outbox):
    from whatsapp_notify.events import EventoEstado
    from whatsapp_notify.inbound.apply import aplicar

    envio = _plantilla("+52 55 1234 5678")
    viejo = EnvioWhatsApp.objects.get(pk=envio.pk).wamid
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(
        estado=EstadoEnvio.FALLIDO, error_titulo="Message undeliverable", precio_categoria="x"
    )
    outbox.clear()

    actions.reenviar(EnvioWhatsApp.objects.filter(pk=envio.pk))
    aplicar([EventoEstado(wamid=viejo, estado="failed", destinatario="525512345678")], "default")

    envio = EnvioWhatsApp.objects.get(pk=envio.pk)
    assert envio.estado == EstadoEnvio.ENVIADO
    assert envio.wamid == outbox[0].wamid != viejo
    assert (envio.error_titulo, envio.precio_categoria) == ("", "")
