"""The in-process backends (locmem, console, the tests' scripted one) and their shared base."""

from __future__ import annotations

import io

import pytest

from tests.backends_scripted import ScriptedBackend
from whatsapp_notify import enviar_documento, enviar_plantilla
from whatsapp_notify.backends import locmem
from whatsapp_notify.backends.base import NoMediaCache, PassThroughBackend
from whatsapp_notify.backends.console import ConsoleBackend
from whatsapp_notify.backends.locmem import LocmemBackend
from whatsapp_notify.exceptions import ConfigurationError
from whatsapp_notify.messages import (
    Boton,
    Botones,
    Documento,
    Fila,
    Lista,
    Plantilla,
    Salida,
    Seccion,
    Texto,
)
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.references import referencia_de

TELEFONO = "525512345678"
PDF = b"%PDF-1.4\n% cotizacion de prueba\n"
CONSOLE = "whatsapp_notify.backends.console.ConsoleBackend"
CONTENIDOS = [
    pytest.param(Plantilla("vehiculo_listo_cliente", "es_MX", ["Ana"]), id="plantilla"),
    pytest.param(Documento(PDF, "cotizacion.pdf"), id="documento"),
    pytest.param(Texto("Hola"), id="texto"),
    pytest.param(Botones("¿Cuándo pasas?", (Boton("hoy", "Hoy"),)), id="botones"),
    pytest.param(Lista("Horario", "Ver", (Seccion("", (Fila("am", "9:00"),)),)), id="lista"),
]


@pytest.fixture
def consola():
    """A ConsoleBackend writing to a StringIO (``consola.stream``)."""
    backend = ConsoleBackend("default", STREAM=io.StringIO())
    backend.stream = backend.options["STREAM"]
    return backend


@pytest.fixture
def cuenta_en_consola(wa_settings):
    stream = io.StringIO()
    wa_settings(BACKENDS={"default": {"BACKEND": CONSOLE, "OPTIONS": {"STREAM": stream}}})
    return stream


@pytest.mark.parametrize("clase", [LocmemBackend, ConsoleBackend, ScriptedBackend])
@pytest.mark.parametrize("contenido", CONTENIDOS)
def test_pass_through__el_payload_es_el_objeto_de_valor(clase, contenido):
    backend = clase("default", STREAM=io.StringIO()) if clase is ConsoleBackend else clase()

    payload = backend.build_payload(Salida(TELEFONO, contenido), NoMediaCache())

    assert isinstance(backend, PassThroughBackend)
    assert payload is contenido


def test_console__no_guarda_nada_en_el_outbox_de_locmem(consola):
    consola.send(Salida(TELEFONO, Documento(PDF, "cotizacion.pdf"), "7"))
    consola.send(Salida(TELEFONO, Texto("Hola"), "8"))

    assert locmem.outbox == []
    assert consola.stream.getvalue().count("[whatsapp:default]") == 2


def test_console__cada_mensaje_tiene_un_wamid_propio(consola):
    wamids = {consola.send(Salida(TELEFONO, Texto("Hola"))).id for _ in range(3)}
    otro = ConsoleBackend("default", STREAM=io.StringIO()).send(Salida(TELEFONO, Texto("Hola")))

    assert len(wamids | {otro.id}) == 4
    assert all(wamid.startswith("wamid.console.") for wamid in wamids)


def test_console__imprime_una_linea_sin_los_bytes_ni_el_telefono(consola):
    resultado = consola.send(Salida(TELEFONO, Documento(PDF, "cotizacion.pdf", caption="COT-7")))

    [linea] = consola.stream.getvalue().splitlines()
    assert linea.startswith(f"[whatsapp:default] {resultado.id} → 52******5678 Documento ")
    assert f"<{len(PDF)} bytes application/pdf cotizacion.pdf>" in linea
    assert "cotizacion de prueba" not in linea
    assert TELEFONO not in linea
    assert resultado.wa_id == TELEFONO


@pytest.mark.django_db(transaction=True)
def test_console__el_flujo_completo_termina_enviado_sin_llenar_el_outbox(cuenta_en_consola):
    envio = enviar_plantilla(
        "+52 55 1234 5678", "cotizacion_lista_cliente", documento=PDF, nombre_documento="c.pdf"
    )

    envio = EnvioWhatsApp.objects.get(pk=envio.pk)
    assert envio.estado == EstadoEnvio.ENVIADO
    assert envio.wamid.startswith("wamid.console.")
    assert envio.wamid in cuenta_en_consola.getvalue()
    assert locmem.outbox == []


@pytest.mark.django_db(transaction=True)
def test_locmem__sigue_guardando_lo_enviado(outbox):
    from whatsapp_notify.models import Direccion, Mensaje

    Mensaje.objects.create(direccion=Direccion.ENTRANTE, telefono=TELEFONO, texto="Hola")
    envio = enviar_documento("+52 55 1234 5678", PDF, nombre_documento="cotizacion.pdf")

    [enviado] = outbox
    assert enviado.contenido == Documento(PDF, "cotizacion.pdf")
    assert enviado.referencia == referencia_de(envio.pk)


@pytest.mark.parametrize("stream", ["stdout", 1])
def test_console__stream_que_no_es_archivo_nombra_la_clave(stream):
    with pytest.raises(ConfigurationError) as excinfo:
        ConsoleBackend("consola", STREAM=stream)

    assert 'WHATSAPP_NOTIFY["BACKENDS"]["consola"]["OPTIONS"]["STREAM"]' in str(excinfo.value)
