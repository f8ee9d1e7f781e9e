"""The history of consent (``CambioConsentimiento``): every decision leaves a row."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from whatsapp_notify import otorgar_consentimiento, revocar_consentimiento
from whatsapp_notify.models import CambioConsentimiento, ConsentimientoCliente

pytestmark = pytest.mark.django_db

TELEFONO = "+52 55 1234 5678"
DIGITOS = "525512345678"


def test_cada_decision_queda_con_lo_anterior_su_origen_y_evidencia():
    ayer = timezone.now() - timedelta(days=1)
    otorgar_consentimiento(TELEFONO, categoria="marketing", origen="formulario",
                           evidencia="casilla en la web", fecha=ayer)  # fmt: skip
    revocar_consentimiento(TELEFONO, categoria="marketing", origen="whatsapp", evidencia="BAJA")

    nuevo, viejo = CambioConsentimiento.objects.all()
    assert (viejo.anterior, viejo.estado, viejo.origen, viejo.fecha) == (
        "", "otorgado", "formulario", ayer,
    )  # fmt: skip
    assert (nuevo.anterior, nuevo.estado, nuevo.evidencia) == ("otorgado", "revocado", "BAJA")
    assert nuevo.telefono == DIGITOS


def test_sin_categoria_cada_categoria_tiene_su_historia():
    otorgar_consentimiento(TELEFONO)

    assert sorted(CambioConsentimiento.objects.values_list("categoria", flat=True)) == [
        "marketing", "utility",
    ]  # fmt: skip


def test_el_admin_tambien_deja_historia(admin_client):
    respuesta = admin_client.post(
        "/admin/whatsapp_notify/consentimientocliente/add/",
        {"telefono": TELEFONO, "categoria": "utility", "cuenta": "", "estado": "otorgado",
         "origen": "admin", "evidencia": "lo pidió en mostrador"},
    )  # fmt: skip
    assert respuesta.status_code == 302, respuesta.content
    fila = ConsentimientoCliente.objects.get()
    admin_client.post(
        f"/admin/whatsapp_notify/consentimientocliente/{fila.pk}/change/",
        {"cuenta": "", "estado": "revocado", "origen": "admin", "evidencia": "llamó"},
    )

    assert [(c.anterior, c.estado) for c in CambioConsentimiento.objects.all()] == [
        ("otorgado", "revocado"), ("", "otorgado"),
    ]  # fmt: skip
    lista = admin_client.get("/admin/whatsapp_notify/cambioconsentimiento/")
    assert lista.status_code == 200
    assert admin_client.get("/admin/whatsapp_notify/cambioconsentimiento/add/").status_code == 403


def test_la_migracion_empieza_la_historia_con_lo_que_habia():
    ConsentimientoCliente.objects.create(telefono=DIGITOS, categoria="utility", estado="otorgado",
                                         otorgado_en=timezone.now(), origen="erp")  # fmt: skip
    migracion = importlib.import_module("whatsapp_notify.migrations.0020_historial_consentimientos")

    migracion._historial_inicial(apps, None)

    (cambio,) = CambioConsentimiento.objects.all()
    assert (cambio.telefono, cambio.estado, cambio.anterior) == (DIGITOS, "otorgado", "")


def test_la_llave_del_bloqueo_es_la_misma_en_cada_proceso():
    # Every process must lock the same number for one phone and category: not Python's hash().
    from whatsapp_notify.consent import _llave

    assert _llave(DIGITOS, "utility") == 7809239826314446715
    assert _llave(DIGITOS, "marketing") == 7317323599492736601
    assert -(2**63) <= _llave("1" * 20, "marketing") < 2**63
