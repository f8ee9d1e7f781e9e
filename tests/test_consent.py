"""Consent by phone: one row per normalised number, updated in place, with origin and evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from whatsapp_notify import otorgar_consentimiento, revocar_consentimiento, signals
from whatsapp_notify.consent import tiene_consentimiento
from whatsapp_notify.models import (
    ConsentimientoCliente,
    EstadoConsentimiento,
    OrigenConsentimiento,
)
from whatsapp_notify.phones import TelefonoInvalido

CDMX = "525512345678"

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("texto", "region", "esperado"),
    [
        pytest.param("+52 55 1234 5678", None, CDMX, id="mx-internacional"),
        pytest.param("+52 1 55 1234 5678", None, CDMX, id="mx-con-uno"),
        pytest.param("(55) 1234-5678", None, CDMX, id="mx-nacional"),
        pytest.param("whatsapp:+5491123456789", None, "541123456789", id="ar-con-9"),
        pytest.param("300 123 4567", "CO", "573001234567", id="region-de-la-llamada"),
    ],
)
def test_otorgar__guarda_el_telefono_normalizado(texto, region, esperado):
    consentimiento = otorgar_consentimiento(texto, region=region)

    assert consentimiento.telefono == esperado
    assert ConsentimientoCliente.objects.get().telefono == esperado
    assert tiene_consentimiento(esperado) is True


def test_otorgar__registra_origen_evidencia_y_fecha():
    antes = timezone.now()

    otorgar_consentimiento(
        "+52 55 1234 5678",
        origen=OrigenConsentimiento.FORMULARIO,
        evidencia="Casilla marcada en la cotización COT-17",
    )

    fila = ConsentimientoCliente.objects.get(telefono=CDMX)
    assert fila.estado == EstadoConsentimiento.OTORGADO
    assert fila.vigente is True
    assert fila.origen == OrigenConsentimiento.FORMULARIO
    assert fila.evidencia == "Casilla marcada en la cotización COT-17"
    assert antes <= fila.otorgado_en <= timezone.now()
    assert fila.revocado_en is None


def test_otorgar__origen_por_omision_es_erp():
    assert otorgar_consentimiento("+52 55 1234 5678").origen == OrigenConsentimiento.ERP


def test_revocar__actualiza_la_misma_fila_y_conserva_la_fecha_de_alta():
    alta = otorgar_consentimiento("+52 55 1234 5678", origen=OrigenConsentimiento.FORMULARIO)
    antes = timezone.now()

    baja = revocar_consentimiento(
        "+5215512345678", origen=OrigenConsentimiento.WHATSAPP, evidencia="Escribió BAJA"
    )

    fila = ConsentimientoCliente.objects.get()
    assert baja.pk == alta.pk == fila.pk
    assert fila.estado == EstadoConsentimiento.REVOCADO
    assert fila.vigente is False
    assert fila.origen == OrigenConsentimiento.WHATSAPP
    assert fila.evidencia == "Escribió BAJA"
    assert fila.otorgado_en == alta.otorgado_en
    assert antes <= fila.revocado_en <= timezone.now()
    assert tiene_consentimiento(CDMX) is False


def test_otorgar__tras_revocar_vuelve_a_otorgar_y_conserva_la_fecha_de_baja():
    otorgar_consentimiento("+52 55 1234 5678")
    baja = revocar_consentimiento("+52 55 1234 5678")
    antes = timezone.now()

    otorgar_consentimiento("55 1234 5678", evidencia="Lo pidió en mostrador")

    fila = ConsentimientoCliente.objects.get()
    assert fila.estado == EstadoConsentimiento.OTORGADO
    assert fila.evidencia == "Lo pidió en mostrador"
    assert antes <= fila.otorgado_en <= timezone.now()
    assert fila.revocado_en == baja.revocado_en
    assert tiene_consentimiento(CDMX) is True


def test_otorgar__dos_formatos_del_mismo_telefono_son_una_fila():
    otorgar_consentimiento("+52 55 1234 5678")
    otorgar_consentimiento("044 55 1234 5678")
    otorgar_consentimiento("whatsapp:+5215512345678")

    assert ConsentimientoCliente.objects.count() == 1


def test_revocar__sin_alta_previa_crea_la_baja():
    revocar_consentimiento("+52 55 1234 5678", origen=OrigenConsentimiento.META)

    fila = ConsentimientoCliente.objects.get()
    assert fila.estado == EstadoConsentimiento.REVOCADO
    assert fila.origen == OrigenConsentimiento.META
    assert fila.otorgado_en is None
    assert fila.revocado_en is not None


@pytest.mark.parametrize(
    "funcion",
    [
        pytest.param(otorgar_consentimiento, id="otorgar"),
        pytest.param(revocar_consentimiento, id="revocar"),
    ],
)
def test_consentimiento__telefono_invalido_lanza_y_no_guarda(funcion):
    with pytest.raises(TelefonoInvalido):
        funcion("no tengo")

    assert not ConsentimientoCliente.objects.exists()


def test_tiene_consentimiento__telefono_desconocido_es_falso():
    otorgar_consentimiento("+52 55 1234 5678")

    assert tiene_consentimiento("525598765432") is False


# -- the consentimiento_cambiado signal --------------------------------------------------


@pytest.fixture
def cambios():
    """Each ``consentimiento_cambiado`` of the test: (telefono, anterior, estado, origen)."""
    recibidos = []

    def receptor(sender, consentimiento, anterior, origen, **kwargs):
        recibidos.append((consentimiento.telefono, anterior, consentimiento.estado, origen))

    signals.consentimiento_cambiado.connect(receptor)
    yield recibidos
    signals.consentimiento_cambiado.disconnect(receptor)


def test_consentimiento_cambiado__primer_registro_sin_estado_anterior(cambios):
    otorgar_consentimiento("+52 55 1234 5678", origen=OrigenConsentimiento.FORMULARIO)

    assert cambios == [(CDMX, None, "otorgado", OrigenConsentimiento.FORMULARIO)]


def test_consentimiento_cambiado__cada_cambio_de_estado_con_el_anterior(cambios):
    otorgar_consentimiento("+52 55 1234 5678")
    revocar_consentimiento("+52 55 1234 5678", origen=OrigenConsentimiento.WHATSAPP)
    otorgar_consentimiento("+52 55 1234 5678", origen=OrigenConsentimiento.ADMIN)

    assert cambios == [
        (CDMX, None, "otorgado", OrigenConsentimiento.ERP),
        (CDMX, "otorgado", "revocado", OrigenConsentimiento.WHATSAPP),
        (CDMX, "revocado", "otorgado", OrigenConsentimiento.ADMIN),
    ]


@pytest.mark.parametrize(
    "funcion",
    [
        pytest.param(otorgar_consentimiento, id="otorgar"),
        pytest.param(revocar_consentimiento, id="revocar"),
    ],
)
def test_consentimiento_cambiado__mismo_estado_otra_vez_no_avisa(cambios, funcion):
    funcion("+52 55 1234 5678")
    funcion("+52 55 1234 5678", evidencia="Otra vez")

    assert len(cambios) == 1
    assert ConsentimientoCliente.objects.get().evidencia == "Otra vez"


def test_consentimiento_cambiado__receptor_que_falla_no_impide_registrar():
    def receptor_roto(sender, **kwargs):
        raise RuntimeError("receptor roto")

    signals.consentimiento_cambiado.connect(receptor_roto)
    try:
        revocar_consentimiento("+52 55 1234 5678")
    finally:
        signals.consentimiento_cambiado.disconnect(receptor_roto)

    assert ConsentimientoCliente.objects.get().estado == EstadoConsentimiento.REVOCADO


def test_consentimiento_cambiado__el_receptor_ve_la_fila_guardada(cambios):
    vistas = []

    def receptor(sender, consentimiento, **kwargs):
        vistas.append(ConsentimientoCliente.objects.get(pk=consentimiento.pk).estado)

    signals.consentimiento_cambiado.connect(receptor)
    try:
        revocar_consentimiento("+52 55 1234 5678")
    finally:
        signals.consentimiento_cambiado.disconnect(receptor)

    assert vistas == [EstadoConsentimiento.REVOCADO]


@pytest.mark.parametrize(
    ("funcion", "marca"),
    [
        pytest.param(otorgar_consentimiento, "otorgado_en", id="otorgar"),
        pytest.param(revocar_consentimiento, "revocado_en", id="revocar"),
    ],
)
def test_consentimiento__fecha_de_la_decision(funcion, marca):
    cuando = timezone.now() - timedelta(hours=3)

    funcion("+52 55 1234 5678", fecha=cuando)

    assert getattr(ConsentimientoCliente.objects.get(), marca) == cuando
