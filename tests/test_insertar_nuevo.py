"""``EnvioQuerySet.insertar_nuevo`` stores exactly what ``Model.save()`` would store.

It prepares each column's value itself, cheaply for plain values (``models._preparador``):
the rows it writes are compared, column by column, with the rows ``save()`` writes for the
same envíos, on whichever database the suite runs. ``EnvioWhatsApp.nuevo``, which builds the
unsaved envío for it, builds what the constructor builds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy

from tests.testapp.models import Cliente
from whatsapp_notify.models import EnvioWhatsApp


def columnas(pk: int) -> dict:
    """The row as the database holds it, column by column (no field conversion)."""
    opts = EnvioWhatsApp._meta
    nombres = [campo.column for campo in opts.concrete_fields if campo is not opts.pk]
    nombre = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(nombre(n) for n in nombres)} FROM {nombre(opts.db_table)} "
            f"WHERE {nombre(opts.pk.column)} = %s",
            [pk],
        )
        return dict(zip(nombres, cursor.fetchone(), strict=True))


def envio(clave: str, **campos) -> EnvioWhatsApp:
    return EnvioWhatsApp(clave=clave, telefono="5215512345678", plantilla="aviso", **campos)


CASOS = {
    "vacio": {},
    "valores": {
        "nombre": "Ana María Ñúñez",
        "tipo": "vehiculo_listo",
        "variables": ["Ana", "OT-1"],
        "interactivo": {"botones": [{"id": "si", "titulo": "Sí"}]},
        "intentos": 3,
        "facturable": True,
        "programado_para": timezone.now() + timedelta(hours=2),
        "despachado_en": timezone.now(),
        "error_detalle": "línea 1\nlínea 2",
    },
    # Not a str: a lazy text takes the field's whole preparation, as in save().
    "texto_perezoso": {"nombre": gettext_lazy("Marketing")},
    "falso": {"facturable": False},
}


@pytest.mark.parametrize("campos", CASOS.values(), ids=CASOS.keys())
def test_insertar_nuevo__escribe_lo_que_escribiria_save(db, campos):
    cliente = Cliente.objects.create(nombre="Ana", telefono="+52 55 1234 5678")
    referencia = {"content_type": ContentType.objects.get_for_model(cliente), "object_id": "1"}
    por_save = envio("por-save", **referencia, **campos)
    por_save.save()
    nuevo = envio("por-insert", **referencia, **campos)

    assert EnvioWhatsApp.objects.insertar_nuevo(nuevo) is True

    esperado, escrito = columnas(por_save.pk), columnas(nuevo.pk)
    for fila in (esperado, escrito):
        fila.pop("clave")
        # Each stamps its own moment: creado_en at __init__, actualizado_en (auto_now) at
        # the write, set on the instance as save() sets it.
        assert fila.pop("creado_en") is not None
        assert fila.pop("actualizado_en") is not None
    assert escrito == esperado
    assert nuevo.actualizado_en is not None
    assert nuevo.pk is not None


def test_insertar_nuevo__clave_tomada_no_inserta(db):
    primero = envio("tomada")
    assert EnvioWhatsApp.objects.insertar_nuevo(primero) is True
    segundo = envio("tomada", nombre="otro")

    assert EnvioWhatsApp.objects.insertar_nuevo(segundo) is False

    assert segundo.pk is None
    assert EnvioWhatsApp.objects.get(clave="tomada").nombre == ""


def test_insertar_nuevo__columnas_vacias_como_null_y_pocos_parametros(db, wa_settings, monkeypatch):
    """A template send binds under fifty parameters: psycopg parses such a statement once
    (it parses again on every execution above fifty), so the envío's empty columns are
    written into the SQL as NULL rather than bound. (The INSERT as written: on PostgreSQL
    it runs prepared, see test_sentencias.)"""
    from whatsapp_notify import enviar_plantilla
    from whatsapp_notify.sentencias import preparadas

    monkeypatch.setattr(preparadas, "activas", False)
    wa_settings(REQUIRE_CONSENT=False)
    inserts = []

    def ver(execute, sql, params, many, context):
        if sql.startswith("INSERT INTO") and "enviowhatsapp" in sql:
            inserts.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(ver):
        envio_ = enviar_plantilla("+52 55 1234 5678", "aviso", variables=["Ana"], clave="k-1")

    ((sql, params),) = inserts
    assert envio_.pk is not None
    assert "NULL" in sql
    assert None not in params
    assert sql.count("%s") == len(params) <= 50
    assert EnvioWhatsApp.objects.get(pk=envio_.pk).variables == ["Ana"]


def test_insertar_nuevo__mas_formas_que_el_tope_sigue_insertando(db, monkeypatch):
    from whatsapp_notify import models

    monkeypatch.setattr(models._Insercion, "MAX_FORMAS", 1)
    _, insercion = models._insert_sin_conflicto(EnvioWhatsApp, connection)
    monkeypatch.setattr(insercion, "formas", {})
    primero, segundo = envio("forma-1"), envio("forma-2", nombre="Ana", tipo="aviso")

    assert EnvioWhatsApp.objects.insertar_nuevo(primero) is True
    assert EnvioWhatsApp.objects.insertar_nuevo(segundo) is True

    assert EnvioWhatsApp.objects.get(pk=segundo.pk).nombre == "Ana"
    assert len(insercion.formas) == 1


@pytest.mark.parametrize("campos", CASOS.values(), ids=CASOS.keys())
def test_nuevo__construye_lo_que_construye_el_constructor(campos):
    construido = EnvioWhatsApp(clave="k", **campos)
    nuevo = EnvioWhatsApp.nuevo(clave="k", **campos)

    esperado, obtenido = dict(construido.__dict__), dict(nuevo.__dict__)
    for datos in (esperado, obtenido):
        datos.pop("_state")
        assert datos.pop("creado_en") is not None  # each stamps its own moment
    assert obtenido == esperado
    assert nuevo._state.adding is True
    assert nuevo._state.db is None
    assert nuevo.pk is None


def test_nuevo__cada_envio_tiene_sus_propias_listas():
    uno, otro = EnvioWhatsApp.nuevo(), EnvioWhatsApp.nuevo()
    uno.variables.append("Ana")
    uno.interactivo["botones"] = []

    assert otro.variables == []
    assert otro.interactivo == {}


def test_nuevo__con_un_receptor_de_post_init_usa_el_constructor():
    from django.db.models import signals

    vistos = []

    def receptor(sender, instance, **kwargs):
        vistos.append(instance.clave)

    signals.post_init.connect(receptor, sender=EnvioWhatsApp)
    try:
        envio = EnvioWhatsApp.nuevo(clave="vista")
    finally:
        signals.post_init.disconnect(receptor, sender=EnvioWhatsApp)

    assert vistos == ["vista"]
    assert envio.clave == "vista"
