"""Consent by phone and category: one row per normalised number and category, updated in
place, with origin and evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from whatsapp_notify import otorgar_consentimiento, revocar_consentimiento, signals
from whatsapp_notify.consent import estado_consentimiento, pidio_baja, tiene_consentimiento
from whatsapp_notify.models import (
    Categoria,
    ConsentimientoCliente,
    EstadoConsentimiento,
    OrigenConsentimiento,
)
from whatsapp_notify.phones import TelefonoInvalido

CDMX = "525512345678"

pytestmark = pytest.mark.django_db


def fila(categoria: str = Categoria.UTILITY) -> ConsentimientoCliente:
    return ConsentimientoCliente.objects.get(categoria=categoria)


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
    assert set(ConsentimientoCliente.objects.values_list("telefono", flat=True)) == {esperado}
    assert tiene_consentimiento(esperado) is True


def test_otorgar__registra_origen_evidencia_y_fecha():
    antes = timezone.now()

    otorgar_consentimiento(
        "+52 55 1234 5678",
        origen=OrigenConsentimiento.FORMULARIO,
        evidencia="Casilla marcada en la cotización COT-17",
    )

    guardada = fila()
    assert guardada.estado == EstadoConsentimiento.OTORGADO
    assert guardada.vigente is True
    assert guardada.origen == OrigenConsentimiento.FORMULARIO
    assert guardada.evidencia == "Casilla marcada en la cotización COT-17"
    assert antes <= guardada.otorgado_en <= timezone.now()
    assert guardada.revocado_en is None


def test_otorgar__origen_por_omision_es_erp():
    assert otorgar_consentimiento("+52 55 1234 5678").origen == OrigenConsentimiento.ERP


def test_revocar__actualiza_la_misma_fila_y_conserva_la_fecha_de_alta():
    alta = otorgar_consentimiento("+52 55 1234 5678", origen=OrigenConsentimiento.FORMULARIO)
    antes = timezone.now()

    baja = revocar_consentimiento(
        "+5215512345678", origen=OrigenConsentimiento.WHATSAPP, evidencia="Escribió BAJA"
    )

    guardada = fila()
    assert baja.pk == alta.pk == guardada.pk
    assert guardada.estado == EstadoConsentimiento.REVOCADO
    assert guardada.vigente is False
    assert guardada.origen == OrigenConsentimiento.WHATSAPP
    assert guardada.evidencia == "Escribió BAJA"
    assert guardada.otorgado_en == alta.otorgado_en
    assert antes <= guardada.revocado_en <= timezone.now()
    assert tiene_consentimiento(CDMX) is False


def test_otorgar__tras_revocar_vuelve_a_otorgar_y_conserva_la_fecha_de_baja():
    otorgar_consentimiento("+52 55 1234 5678")
    baja = revocar_consentimiento("+52 55 1234 5678")
    antes = timezone.now()

    otorgar_consentimiento("55 1234 5678", evidencia="Lo pidió en mostrador")

    guardada = fila()
    assert guardada.estado == EstadoConsentimiento.OTORGADO
    assert guardada.evidencia == "Lo pidió en mostrador"
    assert antes <= guardada.otorgado_en <= timezone.now()
    assert guardada.revocado_en == baja.revocado_en
    assert tiene_consentimiento(CDMX) is True


def test_otorgar__dos_formatos_del_mismo_telefono_son_una_fila():
    otorgar_consentimiento("+52 55 1234 5678")
    otorgar_consentimiento("044 55 1234 5678")
    otorgar_consentimiento("whatsapp:+5215512345678")

    assert ConsentimientoCliente.objects.count() == len(Categoria.values)  # one per category


def test_revocar__sin_alta_previa_crea_la_baja():
    revocar_consentimiento("+52 55 1234 5678", origen=OrigenConsentimiento.META)

    guardada = fila()
    assert guardada.estado == EstadoConsentimiento.REVOCADO
    assert guardada.origen == OrigenConsentimiento.META
    assert guardada.otorgado_en is None
    assert guardada.revocado_en is not None


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

    # One per category: without categoria, every category is recorded.
    assert cambios == [(CDMX, None, "otorgado", OrigenConsentimiento.FORMULARIO)] * 2


def test_consentimiento_cambiado__cada_cambio_de_estado_con_el_anterior(cambios):
    otorgar_consentimiento("+52 55 1234 5678", categoria="utility")
    revocar_consentimiento("+52 55 1234 5678", categoria="utility", origen="whatsapp")
    otorgar_consentimiento("+52 55 1234 5678", categoria="utility", origen="admin")

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
    funcion("+52 55 1234 5678", categoria="utility")
    funcion("+52 55 1234 5678", categoria="utility", evidencia="Otra vez")

    assert len(cambios) == 1
    assert fila().evidencia == "Otra vez"


def test_consentimiento_cambiado__receptor_que_falla_no_impide_registrar():
    def receptor_roto(sender, **kwargs):
        raise RuntimeError("receptor roto")

    signals.consentimiento_cambiado.connect(receptor_roto)
    try:
        revocar_consentimiento("+52 55 1234 5678")
    finally:
        signals.consentimiento_cambiado.disconnect(receptor_roto)

    assert fila().estado == EstadoConsentimiento.REVOCADO


def test_consentimiento_cambiado__el_receptor_ve_la_fila_guardada(cambios):
    vistas = []

    def receptor(sender, consentimiento, **kwargs):
        vistas.append(ConsentimientoCliente.objects.get(pk=consentimiento.pk).estado)

    signals.consentimiento_cambiado.connect(receptor)
    try:
        revocar_consentimiento("+52 55 1234 5678", categoria="utility")
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

    assert getattr(fila(), marca) == cuando


# -- per category ------------------------------------------------------------------------


def por_categoria() -> dict[str, str]:
    return dict(ConsentimientoCliente.objects.values_list("categoria", "estado"))


@pytest.mark.parametrize(
    "funcion",
    [
        pytest.param(otorgar_consentimiento, id="otorgar"),
        pytest.param(revocar_consentimiento, id="revocar"),
    ],
)
def test_categoria__sin_categoria_registra_cada_categoria(funcion):
    devuelta = funcion("+52 55 1234 5678", evidencia="Casilla del ERP")

    estado = devuelta.estado
    assert por_categoria() == {Categoria.UTILITY: estado, Categoria.MARKETING: estado}
    assert devuelta.categoria == Categoria.UTILITY
    assert set(ConsentimientoCliente.objects.values_list("evidencia", flat=True)) == {
        "Casilla del ERP"
    }


def test_categoria__revocar_marketing_no_toca_el_servicio():
    otorgar_consentimiento("+52 55 1234 5678")

    fila = revocar_consentimiento("+52 55 1234 5678", categoria=Categoria.MARKETING)

    assert fila.categoria == Categoria.MARKETING
    assert por_categoria() == {
        Categoria.UTILITY: EstadoConsentimiento.OTORGADO,
        Categoria.MARKETING: EstadoConsentimiento.REVOCADO,
    }
    assert tiene_consentimiento(CDMX, Categoria.UTILITY) is True
    assert tiene_consentimiento(CDMX, Categoria.MARKETING) is False
    assert tiene_consentimiento(CDMX) is False  # not every category
    assert pidio_baja(CDMX, Categoria.MARKETING) is True
    assert pidio_baja(CDMX, Categoria.UTILITY) is False


@pytest.mark.parametrize(
    ("registrar", "esperado"),
    [
        pytest.param(None, None, id="sin-fila"),
        pytest.param(otorgar_consentimiento, EstadoConsentimiento.OTORGADO, id="otorgado"),
        pytest.param(revocar_consentimiento, EstadoConsentimiento.REVOCADO, id="revocado"),
    ],
)
def test_estado_consentimiento__una_consulta(django_assert_num_queries, registrar, esperado):
    if registrar is not None:
        registrar("+52 55 1234 5678", categoria="utility")

    with django_assert_num_queries(1):
        estado = estado_consentimiento(CDMX, "utility")

    assert estado == esperado
    assert pidio_baja(CDMX, "utility") is (esperado == EstadoConsentimiento.REVOCADO)


@pytest.mark.parametrize(
    "funcion",
    [
        pytest.param(otorgar_consentimiento, id="otorgar"),
        pytest.param(revocar_consentimiento, id="revocar"),
    ],
)
def test_categoria__desconocida_lanza_y_no_guarda(funcion):
    with pytest.raises(ValueError, match="categoria"):
        funcion("+52 55 1234 5678", categoria="promociones")

    assert not ConsentimientoCliente.objects.exists()


def test_consentimiento_cambiado__lleva_la_categoria():
    recibidas = []

    def receptor(sender, consentimiento, categoria, **kwargs):
        recibidas.append((categoria, consentimiento.categoria, consentimiento.estado))

    signals.consentimiento_cambiado.connect(receptor)
    try:
        otorgar_consentimiento("+52 55 1234 5678")
        revocar_consentimiento("+52 55 1234 5678", categoria=Categoria.MARKETING)
    finally:
        signals.consentimiento_cambiado.disconnect(receptor)

    assert recibidas == [
        ("utility", "utility", "otorgado"),
        ("marketing", "marketing", "otorgado"),
        ("marketing", "marketing", "revocado"),
    ]


# -- per account -------------------------------------------------------------------------------


@pytest.fixture
def dos_cuentas(wa_settings):
    locmem = {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"}
    wa_settings(BACKENDS={"default": locmem, "citas": locmem}, REQUIRE_CONSENT=True)


def test_por_cuenta__una_baja_en_una_cuenta_no_detiene_la_otra(dos_cuentas):
    from whatsapp_notify import enviar_plantilla
    from whatsapp_notify.models import EstadoEnvio, MotivoOmision

    otorgar_consentimiento("+52 55 1234 5678")
    revocar_consentimiento("+52 55 1234 5678", cuenta="citas", origen="whatsapp")

    citas = enviar_plantilla("+52 55 1234 5678", "recordatorio_cita", variables=[], cuenta="citas")
    taller = enviar_plantilla("+52 55 1234 5678", "vehiculo_listo", variables=[])

    assert (citas.estado, citas.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)
    assert (taller.estado, taller.motivo) == (EstadoEnvio.PENDIENTE, "")
    assert pidio_baja(CDMX, "utility", cuenta="citas") is True
    assert pidio_baja(CDMX, "utility", cuenta="default") is False


def test_por_cuenta__la_revocacion_de_todas_las_cuentas_gana_a_un_otorgado_de_una(dos_cuentas):
    otorgar_consentimiento("+52 55 1234 5678", cuenta="citas")
    ConsentimientoCliente.objects.create(
        telefono=CDMX, categoria="utility", cuenta="", estado=EstadoConsentimiento.REVOCADO
    )

    assert estado_consentimiento(CDMX, "utility", cuenta="citas") == EstadoConsentimiento.REVOCADO


def test_por_cuenta__otorgar_sin_cuenta_reemplaza_la_decision_de_cada_cuenta(dos_cuentas):
    cambios = []

    def receptor(sender, consentimiento, anterior, **kwargs):
        cambios.append((consentimiento.cuenta, anterior, consentimiento.estado))

    signals.consentimiento_cambiado.connect(receptor)
    try:
        revocar_consentimiento("+52 55 1234 5678", categoria="utility", cuenta="citas")
        otorgar_consentimiento(
            "+52 55 1234 5678", categoria="utility", evidencia="Firma en mostrador"
        )
    finally:
        signals.consentimiento_cambiado.disconnect(receptor)

    filas = ConsentimientoCliente.objects.filter(telefono=CDMX, categoria="utility")
    assert {f.cuenta: f.estado for f in filas} == {"": "otorgado", "citas": "otorgado"}
    assert {f.evidencia for f in filas} == {"Firma en mostrador"}
    assert cambios == [
        ("citas", None, "revocado"),
        ("", None, "otorgado"),
        ("citas", "revocado", "otorgado"),
    ]


def test_por_cuenta__sin_cuenta_se_lee_solo_la_decision_de_todas(dos_cuentas):
    revocar_consentimiento("+52 55 1234 5678", categoria="utility", cuenta="citas")

    assert estado_consentimiento(CDMX, "utility") is None
    assert tiene_consentimiento(CDMX, "utility", cuenta="citas") is False


def test_por_cuenta__el_admin_rechaza_una_cuenta_que_no_existe(dos_cuentas):
    from whatsapp_notify.admin import ConsentimientoForm

    datos = {"telefono": "+52 55 1234 5678", "categoria": "utility", "estado": "otorgado"}
    mala = ConsentimientoForm(data={**datos, "origen": "erp", "cuenta": "bodega"})
    buena = ConsentimientoForm(data={**datos, "origen": "erp", "cuenta": "citas"})

    assert mala.errors["cuenta"][0].startswith("No hay una cuenta bodega")
    assert buena.is_valid(), buena.errors
