"""The envío's INSERT prepared once per PostgreSQL session (``whatsapp_notify.sentencias``).

What it must keep: the row written is the INSERT's, an error is the INSERT's own, and a
prepared statement that is not there (deallocated, a pooler) never loses the envío.
"""

from __future__ import annotations

import logging

import pytest
from django.db import DatabaseError, DataError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.bloqueo import tabla_bloqueada
from tests.sentencias_envio import inserts_del_envio
from tests.test_insertar_nuevo import columnas, envio
from whatsapp_notify.models import EnvioWhatsApp
from whatsapp_notify.sentencias import _numerada, preparadas


@pytest.fixture(autouse=True)
def desde_cero(postgres, django_db_blocker):
    """Each test starts as a new process would: preparing, and knowing no statement."""
    if postgres.settings_dict["OPTIONS"].get("server_side_binding"):
        pytest.skip("con server_side_binding el INSERT corre como está escrito")
    with django_db_blocker.unblock(), postgres.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what earlier tests prepared on this connection
    preparadas.olvidar()
    yield
    preparadas.olvidar()


def insertar(envio_: EnvioWhatsApp) -> tuple[bool, list[str]]:
    with CaptureQueriesContext(connection) as consultas:
        insertado = EnvioWhatsApp.objects.insertar_nuevo(envio_)
    return insertado, [q["sql"] for q in consultas.captured_queries]


def en_la_sesion() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM pg_prepared_statements WHERE name LIKE 'whatsapp_notify_%%'"
        )
        return [nombre for (nombre,) in cursor.fetchall()]


def test_se_prepara_una_vez_por_sesion_y_luego_solo_se_ejecuta(db):
    insertado, primera = insertar(envio("p-1"))
    assert insertado is True
    [sentencia] = primera
    # What it does comes first, for whatever reads statements by their first word; then the
    # statement's savepoint, the table's lock, and the attempt's savepoint after it, so that
    # a retry after a rollback to the attempt still holds the lock.
    assert sentencia.startswith(
        '/* INSERT INTO "whatsapp_notify_enviowhatsapp" */ SAVEPOINT whatsapp_notify_insert; '
        'LOCK TABLE "whatsapp_notify_enviowhatsapp" IN ROW EXCLUSIVE MODE; '
        "SAVEPOINT whatsapp_notify_intento;"
    )
    assert sentencia.endswith(
        "RELEASE SAVEPOINT whatsapp_notify_intento; RELEASE SAVEPOINT whatsapp_notify_insert"
    )
    assert "PREPARE whatsapp_notify_" in sentencia
    assert "EXECUTE whatsapp_notify_" in sentencia
    [nombre] = en_la_sesion()

    insertado, segunda = insertar(envio("p-2", nombre="Ana"))
    assert insertado is True
    [sentencia] = segunda
    assert "PREPARE" not in sentencia
    assert f"EXECUTE {nombre}(" in sentencia
    [insert] = inserts_del_envio(segunda)
    assert insert.startswith("INSERT")
    assert "ON CONFLICT" in insert
    assert EnvioWhatsApp.objects.get(clave="p-2").nombre == "Ana"


def test_guarda_lo_mismo_que_el_insert_escrito(db, monkeypatch):
    campos = {"nombre": "Ñoño 100%", "tipo": "aviso", "variables": ["Ana", "%s"], "intentos": 2}
    preparado = envio("igual-1", **campos)
    insertar(envio("igual-0", **campos))  # prepared in the session: the next one executes
    assert insertar(preparado)[0] is True
    monkeypatch.setattr(preparadas, "activas", False)
    escrito = envio("igual-2", **campos)
    _, sql = insertar(escrito)
    assert sql[0].startswith("INSERT")

    diferentes = {"clave", "creado_en", "actualizado_en"}
    assert {k: v for k, v in columnas(preparado.pk).items() if k not in diferentes} == {
        k: v for k, v in columnas(escrito.pk).items() if k not in diferentes
    }


def test_una_clave_tomada_no_inserta_tampoco_preparada(db):
    insertar(envio("tomada"))
    segundo = envio("tomada", nombre="Otro")

    assert insertar(segundo)[0] is False
    assert segundo.pk is None
    assert EnvioWhatsApp.objects.filter(clave="tomada").count() == 1


def test_si_la_sentencia_desaparecio_el_envio_se_inserta_igual_y_se_deja_de_preparar(db, caplog):
    insertar(envio("d-1"))
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as DISCARD ALL, or a pooler's other session

    with caplog.at_level(logging.WARNING, logger="whatsapp_notify.sentencias"):
        insertado, sql = insertar(envio("d-2"))

    assert insertado is True
    assert EnvioWhatsApp.objects.filter(clave="d-2").exists()
    assert preparadas.activas is False
    assert "26000" in caplog.text
    assert sql[-1].startswith("INSERT")  # after the rollback to its savepoint, as written
    # The caller's transaction goes on, and the next envíos are inserted as written.
    _, siguiente = insertar(envio("d-3"))
    assert [q.split()[0] for q in siguiente] == ["INSERT"]


def test_un_nombre_ya_preparado_en_la_sesion_se_prepara_de_nuevo_sin_dejar_de_preparar(db):
    insertar(envio("n-1"))
    preparadas.olvidar()  # the session holds it (another client of a pooler, say)

    insertado, sql = insertar(envio("n-2"))

    assert insertado is True
    assert preparadas.activas is True
    assert EnvioWhatsApp.objects.filter(clave="n-2").exists()
    assert "DEALLOCATE whatsapp_notify_" in sql[-1]  # replaced by this SQL, as it is now
    _, siguiente = insertar(envio("n-3"))
    assert "PREPARE" not in siguiente[-1]
    assert "EXECUTE whatsapp_notify_" in siguiente[-1]


@pytest.mark.parametrize(
    ("cambio", "campos"),
    [
        ("ALTER COLUMN intentos TYPE integer", {"intentos": 40000}),  # the PREPARE's smallint
        ("ALTER COLUMN id TYPE integer", {}),  # RETURNING's type: the plan no longer fits
    ],
    ids=["tipo-de-un-parametro", "tipo-de-lo-devuelto"],
)
def test_una_tabla_cambiada_tras_preparar_se_prepara_de_nuevo(db, cambio, campos):
    insertar(envio("t-0"))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred checks, before DDL
        cursor.execute(f"ALTER TABLE whatsapp_notify_enviowhatsapp {cambio}")  # a migration

    insertado, sql = insertar(envio("t-1", **campos))

    assert insertado is True
    assert "DEALLOCATE whatsapp_notify_" in sql[-1]
    assert "PREPARE whatsapp_notify_" in sql[-1]
    assert preparadas.activas is True
    assert EnvioWhatsApp.objects.filter(clave="t-1").exists()
    insertado, siguiente = insertar(envio("t-2", **campos))  # prepared anew: executed only
    assert insertado is True
    assert "PREPARE" not in siguiente[-1]


def test_un_error_tras_preparar_cuenta_para_el_tope(db, monkeypatch):
    monkeypatch.setattr(preparadas, "MAX_POR_SESION", 1)
    demasiado = envio("tope-error-1")
    demasiado.telefono = "5" * 30
    with pytest.raises(DataError):
        insertar(demasiado)  # its PREPARE stays in the session

    _, sql = insertar(envio("tope-error-2", programado_para=timezone.now()))  # another shape

    assert [q.split()[0] for q in sql] == ["INSERT"]
    assert len(en_la_sesion()) == 1


def test_pasado_el_tope_de_la_sesion_una_forma_nueva_corre_como_esta_escrita(db, monkeypatch):
    monkeypatch.setattr(preparadas, "MAX_POR_SESION", 1)
    insertar(envio("tope-1"))

    # Another shape: a column that was NULL has a value.
    insertado, sql = insertar(envio("tope-2", programado_para=timezone.now()))

    assert insertado is True
    assert [q.split()[0] for q in sql] == ["INSERT"]


def test_un_valor_que_la_columna_rechaza_es_el_error_del_insert(db):
    insertar(envio("v-0"))
    demasiado = envio("v-1")
    demasiado.telefono = "5" * 30  # past max_length, as no caller of the app leaves it

    with pytest.raises(DataError):
        insertar(demasiado)

    # The statement's own savepoint took the error back: the transaction is usable.
    assert preparadas.activas is True
    assert insertar(envio("v-2"))[0] is True
    assert not EnvioWhatsApp.objects.filter(clave="v-1").exists()


def test_el_primer_error_con_prepare_no_hace_fallar_la_siguiente_vez(db):
    demasiado = envio("primero-1")
    demasiado.telefono = "5" * 30
    with pytest.raises(DataError):
        insertar(demasiado)  # PREPARE went through, the EXECUTE was refused

    insertado, sql = insertar(envio("primero-2"))

    assert insertado is True
    assert preparadas.activas is True
    [sentencia] = sql  # the session holds it: executed, not prepared again
    assert "EXECUTE whatsapp_notify_" in sentencia
    assert "PREPARE" not in sentencia


def test_en_una_transaccion_que_ya_fallo_devuelve_su_error(db):
    with transaction.atomic():
        with pytest.raises(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT 1/0")
        with pytest.raises(DatabaseError) as error:
            insertar(envio("fallida"))
        transaction.set_rollback(True)

    assert error.value.__cause__.sqlstate == "25P02"
    assert preparadas.activas is True


@pytest.mark.django_db(transaction=True)
def test_fuera_de_una_transaccion_el_insert_corre_como_esta_escrito():
    insertado, sql = insertar(envio("autocommit"))

    assert insertado is True
    assert [q.split()[0] for q in sql] == ["INSERT"]  # no SAVEPOINT outside a transaction


def test_con_cursores_que_enlazan_en_el_servidor_no_se_prepara(db):
    import psycopg

    connection.ensure_connection()
    cursor = CursorWrapper(psycopg.Cursor(connection.connection), connection)
    assert preparadas.aplicable(connection, cursor) is False
    assert preparadas.aplicable(connection, connection.cursor()) is True


def test_numerada_respeta_los_porcentajes_escapados():
    assert _numerada("a = %s AND b LIKE '5%%' AND c = %s") == "a = $1 AND b LIKE '5%%' AND c = $2"


def test_un_disparador_tras_una_migracion_registra_su_envio(db, wa_settings):
    from tests.testapp.models import Cliente, Orden
    from whatsapp_notify.scheduling.triggers import disparador

    wa_settings(REQUIRE_CONSENT=False)
    declarado = disparador(
        "testapp.Orden",
        campo="estado",
        valor="COMPLETADA",
        plantilla="vehiculo_listo_cliente",
        tipo="tras_migrar",
        destinatario=lambda orden: orden.cliente,
    )
    try:
        cliente = Cliente.objects.create(nombre="Ana", telefono="+52 55 1234 5678")
        Orden.objects.create(numero="OT-1", cliente=cliente, estado="COMPLETADA")
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE whatsapp_notify_enviowhatsapp ALTER COLUMN id TYPE integer")
        Orden.objects.create(numero="OT-2", cliente=cliente, estado="COMPLETADA")
    finally:
        declarado.desconectar()

    envios = EnvioWhatsApp.objects.filter(tipo="tras_migrar").order_by("pk")
    estados = list(envios.values_list("estado", "motivo"))
    assert estados == [("pendiente", ""), ("pendiente", "")]


def test_un_lock_timeout_antes_del_savepoint_devuelve_su_error_con_su_causa(db):
    # Nothing of this test's transaction touches the table before: the other session's
    # lock would wait for it.
    with tabla_bloqueada(), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '200ms'")
        with pytest.raises(DatabaseError) as error:
            insertar(envio("lock-1"))
        transaction.set_rollback(True)

    assert error.value.__cause__.sqlstate == "55P03"  # lock_not_available, not the rollback's
    assert preparadas.activas is True
