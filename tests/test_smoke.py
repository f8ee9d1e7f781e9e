import pytest

from whatsapp_notify import enviar_plantilla
from whatsapp_notify.models import EstadoEnvio


@pytest.mark.django_db(transaction=True)
def test_smoke(outbox):
    envio = enviar_plantilla("+52 55 1234 5678", "vehiculo_listo_cliente", variables=["Ana", "Mazda", "OT-1"])
    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.ENVIADO, (envio.estado, envio.error_detalle)
    assert len(outbox) == 1
