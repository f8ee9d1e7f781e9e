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
    assert "wn_envio_creado" in plan(consulta(EnvioWhatsApp.objects.all())[:100])
