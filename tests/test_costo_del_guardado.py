"""What a disparador adds to the ERP's save, counted in queries (the time is in bench/).

The save runs in the ERP's transaction, the way a view saves: inside ``atomic()``, with
the envío's publication left for the commit. Measured on whichever database the suite runs
(SQLite by default, PostgreSQL with ``WHATSAPP_TEST_DB=postgres``).
"""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.sentencias_envio import inserts_del_envio
from tests.testapp.models import Cliente, Orden
from whatsapp_notify.models import EnvioWhatsApp, Plantilla
from whatsapp_notify.scheduling.triggers import disparador

TELEFONO = "+52 55 1234 5678"


@pytest.fixture
def vigilada(db):
    declarado = disparador(
        "testapp.Orden",
        campo="estado",
        valor="COMPLETADA",
        plantilla="vehiculo_listo_cliente",
        tipo="costo_guardado",
        destinatario=lambda orden: orden.cliente,
        variables=lambda orden: [orden.cliente.nombre, orden.numero],
    )
    yield declarado
    declarado.desconectar()


def consultas_del_disparo() -> int:
    """What a disparador adds: on PostgreSQL with the INSERT prepared (psycopg's client-side
    binding, the default), its one message, which carries its own savepoint
    (``salvaguarda``); elsewhere a savepoint, the INSERT and the release."""
    opciones = connection.settings_dict["OPTIONS"]
    preparado = connection.vendor == "postgresql" and not opciones.get("server_side_binding")
    return 1 if preparado else 3


def consultas_al_guardar(orden: Orden, estado: str, django_capture_on_commit_callbacks) -> list:
    ContentType.objects.get_for_model(orden)  # cached per process after its first use
    with (
        CaptureQueriesContext(connection) as consultas,
        django_capture_on_commit_callbacks(execute=False) as al_confirmar,
        transaction.atomic(),
    ):
        orden.estado = estado
        orden.save()
    assert len(al_confirmar) <= 1  # the envío's publication, if any, waits for the commit
    return [q["sql"] for q in consultas.captured_queries]


@pytest.mark.parametrize("en_catalogo", [False, True], ids=["sin-catalogo", "aprobada"])
def test_guardar__un_disparador_anade_una_consulta_o_tres(
    vigilada, django_capture_on_commit_callbacks, wa_settings, en_catalogo
):
    wa_settings(REQUIRE_CONSENT=False)
    if en_catalogo:
        Plantilla.objects.create(
            cuenta="default", nombre="vehiculo_listo_cliente", idioma="es_MX", estado="APPROVED"
        )
    cliente = Cliente.objects.create(nombre="Ana", telefono=TELEFONO)
    sin_disparo = Orden.objects.create(numero="OT-1", cliente=cliente)
    primera = Orden.objects.create(numero="OT-2", cliente=cliente)
    con_disparo = Orden.objects.create(numero="OT-3", cliente=cliente)
    cliente = Cliente.objects.get(pk=cliente.pk)  # no cached instance on any order
    sin_disparo.cliente, primera.cliente, con_disparo.cliente = cliente, cliente, cliente
    # The process's first envío of the template reads the catalog; the next ones reuse it.
    consultas_al_guardar(primera, "COMPLETADA", django_capture_on_commit_callbacks)

    base = consultas_al_guardar(sin_disparo, "EN_PROCESO", django_capture_on_commit_callbacks)
    disparo = consultas_al_guardar(con_disparo, "COMPLETADA", django_capture_on_commit_callbacks)

    assert EnvioWhatsApp.objects.filter(tipo="costo_guardado").count() == 2
    # One INSERT … ON CONFLICT (clave) DO NOTHING that also reads the consent, with the
    # savepoint around it: no clave lookup, no catalog (cached); after the commit only the
    # publish, on another thread (no UPDATE on the ERP's connection).
    assert len(disparo) - len(base) == consultas_del_disparo(), "\n".join(q[:100] for q in disparo)
    [insert] = inserts_del_envio(disparo)
    assert insert.startswith("INSERT")
    assert "ON CONFLICT" in insert
    assert "consentimientocliente" in insert


def test_guardar__sin_cambiar_lo_vigilado_no_anade_consultas(
    vigilada, django_capture_on_commit_callbacks
):
    cliente = Cliente.objects.create(nombre="Ana", telefono=TELEFONO)
    orden = Orden.objects.create(numero="OT-1", cliente=cliente)
    otra = Orden.objects.create(numero="OT-2", cliente=cliente)
    vigilada.desconectar()
    base = consultas_al_guardar(otra, "EN_PROCESO", django_capture_on_commit_callbacks)
    vigilada.resolver(Orden)

    assert len(
        consultas_al_guardar(orden, "EN_PROCESO", django_capture_on_commit_callbacks)
    ) == len(base)


def consultas_al_crear(estado: str, cliente: Cliente, numero: str, capturar) -> list:
    ContentType.objects.get_for_model(Orden)
    with (
        CaptureQueriesContext(connection) as consultas,
        capturar(execute=False),
        transaction.atomic(),
    ):
        Orden.objects.create(numero=numero, cliente=cliente, estado=estado)
    return [q["sql"] for q in consultas.captured_queries]


def test_crear__ya_en_el_valor_vigilado_anade_una_consulta_o_tres(
    vigilada, django_capture_on_commit_callbacks, wa_settings
):
    wa_settings(REQUIRE_CONSENT=False)
    cliente = Cliente.objects.create(nombre="Ana", telefono=TELEFONO)
    capturar = django_capture_on_commit_callbacks
    consultas_al_crear("COMPLETADA", cliente, "OT-0", capturar)  # the catalog, read once

    base = consultas_al_crear("EN_PROCESO", cliente, "OT-1", capturar)
    disparo = consultas_al_crear("COMPLETADA", cliente, "OT-2", capturar)

    assert EnvioWhatsApp.objects.filter(tipo="costo_guardado").count() == 2
    assert len(disparo) - len(base) == consultas_del_disparo(), "\n".join(q[:100] for q in disparo)


def test_crear__con_la_clave_de_un_objeto_borrado_devuelve_su_envio(vigilada, wa_settings):
    wa_settings(REQUIRE_CONSENT=False)
    cliente = Cliente.objects.create(nombre="Ana", telefono=TELEFONO)
    primera = Orden.objects.create(pk=500, numero="OT-500", cliente=cliente, estado="COMPLETADA")
    [envio] = EnvioWhatsApp.objects.filter(tipo="costo_guardado")
    primera.delete()

    with transaction.atomic():  # the ERP's own transaction goes on after the conflict
        Orden.objects.create(pk=500, numero="OT-500b", cliente=cliente, estado="COMPLETADA")
        Orden.objects.create(numero="OT-501", cliente=cliente)

    assert list(EnvioWhatsApp.objects.filter(tipo="costo_guardado")) == [envio]
    assert Orden.objects.filter(numero="OT-501").exists()
