"""Indexes behind the admin's default listing of envíos (newest first, by date)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from whatsapp_notify.admin import EnvioWhatsAppAdmin
from whatsapp_notify.models import EnvioWhatsApp

pytestmark = pytest.mark.django_db


def plan(queryset) -> str:
    """The database's query plan for ``queryset`` (SQLite or PostgreSQL)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # An empty test table is cheapest to scan: rule that out, so the plan shows
            # whether the index *can* serve the query.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(fila) for fila in cursor.fetchall())


def test_envio__indice_de_creado_en_descendente_existe_en_la_base():
    with connection.cursor() as cursor:
        restricciones = connection.introspection.get_constraints(
            cursor, EnvioWhatsApp._meta.db_table
        )

    indice = restricciones["wn_envio_creado"]
    assert indice["index"] is True
    assert indice["columns"] == ["creado_en"]
    assert indice["orders"] == ["DESC"]


def test_envio__el_admin_lista_por_creado_en_y_lo_agrupa_por_fecha():
    assert EnvioWhatsApp._meta.ordering[0] == "-creado_en"
    assert EnvioWhatsAppAdmin.date_hierarchy == "creado_en"


@pytest.mark.parametrize(
    "consulta",
    [
        pytest.param(lambda qs: qs, id="listado-por-omision"),
        pytest.param(
            lambda qs: qs.filter(creado_en__gte=timezone.now() - timedelta(days=1)),
            id="date-hierarchy",
        ),
    ],
)
def test_envio__el_listado_del_admin_usa_el_indice(consulta):
    # Either index led by creado_en serves it: the listing's own, or the dashboard's
    # covering one (on SQLite, without INCLUDE, the two are alike).
    usado = plan(consulta(EnvioWhatsApp.objects.all())[:100])
    assert "wn_envio_creado" in usado or "wn_envio_panel_creado" in usado


def test_envio__clave_y_wamid_unicos_sin_indices_like_ni_duplicados():
    # Every index is paid by every INSERT of an envío: none that no query uses.
    with connection.cursor() as cursor:
        restricciones = connection.introspection.get_constraints(
            cursor, EnvioWhatsApp._meta.db_table
        )
    unicos = {tuple(datos["columns"]) for datos in restricciones.values() if datos["unique"]}
    assert {("clave",), ("wamid",)} <= unicos
    # unique=True would add, on PostgreSQL, a second (LIKE) index per column.
    assert [nombre for nombre in restricciones if nombre.endswith("_like")] == []
    indices = [tuple(datos["columns"]) for datos in restricciones.values() if datos["index"]]
    for columna in ("tipo", "content_type_id"):
        # Served by the composite index they lead (wn_envio_tipo_creado, wn_envio_referencia).
        assert (columna,) not in indices
