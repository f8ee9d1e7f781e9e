"""A template's consent is read by the envío's own INSERT, and decides as a read before it.

The outbox leaves a template's consent for the statement that records the envío (its
``RETURNING`` carries the consent beside the id) and settles the envío by it before
``post_save``: one round trip fewer inside the ERP's save. Each test here compares that
path with what the same arguments give when the consent is read first (``prever``), or
checks what the ERP and the database see. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import signals
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.sentencias_envio import inserts_del_envio
from whatsapp_notify import enviar_plantilla, otorgar_consentimiento, revocar_consentimiento
from whatsapp_notify.messages import Plantilla
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio, MotivoOmision
from whatsapp_notify.outbound.outbox import prever

pytestmark = pytest.mark.django_db(transaction=False)

TELEFONO = "+52 55 1234 5678"
DIGITOS = "525512345678"
PLANTILLA = "vehiculo_listo_cliente"


def registrar(capturar, **opciones) -> tuple[EnvioWhatsApp, list]:
    """``enviar_plantilla`` in the caller's transaction: the envío and the tasks left for
    the commit (not run)."""
    with capturar(execute=False) as al_confirmar, transaction.atomic():
        envio = enviar_plantilla(TELEFONO, PLANTILLA, idioma="es_MX", **opciones)
    return envio, al_confirmar


def guardado(envio: EnvioWhatsApp) -> tuple[str, str, bool]:
    fila = EnvioWhatsApp.objects.get(pk=envio.pk)
    return fila.estado, fila.motivo, fila.despachado_en is not None


CONSENTIMIENTOS = {
    "nada": lambda: None,
    "otorgado": lambda: otorgar_consentimiento(TELEFONO),
    "revocado": lambda: revocar_consentimiento(TELEFONO),
    "revocado-marketing": lambda: revocar_consentimiento(TELEFONO, categoria="marketing"),
    "otorgado-en-la-cuenta-revocado-en-todas": lambda: (
        otorgar_consentimiento(TELEFONO, cuenta="default"),
        revocar_consentimiento(TELEFONO),
    ),
    "revocado-en-la-cuenta": lambda: revocar_consentimiento(TELEFONO, cuenta="default"),
}


@pytest.mark.parametrize("requerido", [False, True], ids=["sin-exigir", "exigido"])
@pytest.mark.parametrize("consentimiento", list(CONSENTIMIENTOS))
@pytest.mark.parametrize("vencido", [False, True], ids=["vigente", "vencido"])
def test_decide_como_si_lo_leyera_antes(
    django_capture_on_commit_callbacks, wa_settings, requerido, consentimiento, vencido
):
    wa_settings(REQUIRE_CONSENT=requerido)
    CONSENTIMIENTOS[consentimiento]()
    opciones = {"expira_en": timezone.now() - timedelta(minutes=1)} if vencido else {}
    previsto = prever(Plantilla(PLANTILLA, "es_MX"), TELEFONO, tipo="aviso", **opciones)

    envio, al_confirmar = registrar(
        django_capture_on_commit_callbacks, tipo="aviso", clave="k", **opciones
    )

    assert (envio.estado, envio.motivo) == (previsto.estado, previsto.motivo)
    pendiente = previsto.estado == EstadoEnvio.PENDIENTE
    # The row says the same as the instance, the stamp of a published envío included.
    assert guardado(envio) == (previsto.estado, previsto.motivo, pendiente)
    assert len(al_confirmar) == (1 if pendiente else 0)


def test_una_baja_deja_el_envio_omitido_sin_publicar(django_capture_on_commit_callbacks):
    revocar_consentimiento(TELEFONO)

    with CaptureQueriesContext(connection) as consultas:
        envio, al_confirmar = registrar(django_capture_on_commit_callbacks)

    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)
    assert guardado(envio) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA, False)
    assert al_confirmar == []
    # The consent came back with the INSERT; only a refusal writes once more.
    sql = [q["sql"] for q in consultas.captured_queries]
    [insert] = inserts_del_envio(sql)
    assert "consentimientocliente" in insert
    assert not any(q.startswith("SELECT") and "consentimientocliente" in q for q in sql)
    assert len([q for q in sql if q.startswith("UPDATE")]) == 1


def test_con_consentimiento_no_escribe_mas_que_el_insert(django_capture_on_commit_callbacks):
    otorgar_consentimiento(TELEFONO)

    with CaptureQueriesContext(connection) as consultas:
        envio, _ = registrar(django_capture_on_commit_callbacks)

    assert envio.estado == EstadoEnvio.PENDIENTE
    assert not [q for q in consultas.captured_queries if q["sql"].startswith("UPDATE")]


def test_clave_tomada_devuelve_el_primero_sin_decidir_de_nuevo(
    django_capture_on_commit_callbacks,
):
    primero, _ = registrar(django_capture_on_commit_callbacks, clave="una")
    revocar_consentimiento(TELEFONO)

    otra_vez, al_confirmar = registrar(django_capture_on_commit_callbacks, clave="una")

    assert otra_vez.pk == primero.pk
    assert al_confirmar == []
    assert EnvioWhatsApp.objects.count() == 1


def test_post_save_ve_el_envio_ya_decidido(django_capture_on_commit_callbacks):
    revocar_consentimiento(TELEFONO)
    vistos = []

    def receptor(sender, instance, created, **kwargs):
        vistos.append((created, instance.estado, instance.motivo))

    signals.post_save.connect(receptor, sender=EnvioWhatsApp)
    try:
        registrar(django_capture_on_commit_callbacks)
    finally:
        signals.post_save.disconnect(receptor, sender=EnvioWhatsApp)

    assert vistos == [(True, EstadoEnvio.OMITIDO, MotivoOmision.BAJA)]


def test_con_pre_save_se_lee_antes_y_el_receptor_lo_ve_decidido(
    django_capture_on_commit_callbacks,
):
    revocar_consentimiento(TELEFONO)
    vistos = []

    def receptor(sender, instance, **kwargs):
        vistos.append((instance.estado, instance.motivo))

    signals.pre_save.connect(receptor, sender=EnvioWhatsApp)
    try:
        with CaptureQueriesContext(connection) as consultas:
            envio, _ = registrar(django_capture_on_commit_callbacks)
    finally:
        signals.pre_save.disconnect(receptor, sender=EnvioWhatsApp)

    assert vistos == [(EstadoEnvio.OMITIDO, MotivoOmision.BAJA)]
    assert guardado(envio) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA, False)
    [insert] = inserts_del_envio([q["sql"] for q in consultas.captured_queries])
    assert "consentimientocliente" not in insert


def politica_que_anota(envio):
    LLAMADAS.append(envio.telefono)


LLAMADAS: list[str] = []


def test_con_politica_no_se_le_pregunta_por_quien_pidio_la_baja(
    django_capture_on_commit_callbacks, wa_settings
):
    wa_settings(POLICY=f"{__name__}.politica_que_anota")
    LLAMADAS.clear()
    revocar_consentimiento(TELEFONO)

    envio, _ = registrar(django_capture_on_commit_callbacks, clave="baja")
    otorgar_consentimiento("+52 55 8765 4321")
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        otro = enviar_plantilla("+52 55 8765 4321", PLANTILLA, idioma="es_MX")

    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)
    assert otro.estado == EstadoEnvio.PENDIENTE
    assert LLAMADAS == ["525587654321"]


def test_disparador__una_baja_omite_el_envio_y_el_erp_guarda(django_capture_on_commit_callbacks):
    from tests.testapp.models import Cliente, Orden
    from whatsapp_notify.scheduling.triggers import disparador

    declarado = disparador(
        "testapp.Orden",
        campo="estado",
        valor="COMPLETADA",
        plantilla=PLANTILLA,
        tipo="consentimiento_en_el_insert",
        destinatario=lambda orden: orden.cliente,
    )
    try:
        revocar_consentimiento(TELEFONO)
        orden = Orden.objects.create(
            numero="OT-1", cliente=Cliente.objects.create(nombre="Ana", telefono=TELEFONO)
        )
        with (
            django_capture_on_commit_callbacks(execute=False) as al_confirmar,
            transaction.atomic(),
        ):
            orden.estado = "COMPLETADA"
            orden.save()
    finally:
        declarado.desconectar()

    [envio] = EnvioWhatsApp.objects.filter(tipo="consentimiento_en_el_insert")
    assert guardado(envio) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA, False)
    assert al_confirmar == []
    assert Orden.objects.get(pk=orden.pk).estado == "COMPLETADA"


@pytest.mark.parametrize(
    ("ajustes", "telefono", "motivo"),
    [
        ({}, TELEFONO, MotivoOmision.BAJA),
        ({"ENABLED": False}, TELEFONO, MotivoOmision.DESHABILITADO),
        ({}, "12", MotivoOmision.TELEFONO_INVALIDO),
    ],
    ids=["baja", "deshabilitado", "telefono-invalido"],
)
def test_una_politica_que_no_importa_no_cambia_lo_que_se_decide_antes(
    django_capture_on_commit_callbacks, wa_settings, ajustes, telefono, motivo
):
    # Asked only when everything before it allows the send, as when it is read first.
    wa_settings(POLICY="no.existe.politica", **ajustes)
    revocar_consentimiento(TELEFONO)

    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        envio = enviar_plantilla(telefono, PLANTILLA, idioma="es_MX")

    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, motivo)
