"""A disparador's savepoint taken only when its block needs it (``whatsapp_notify.salvaguarda``).

On PostgreSQL with the INSERT prepared, the block takes no savepoint of its own while the
INSERT's message (which brings one) is all it runs. What it must keep is what a nested
``atomic()`` keeps: whatever fails in the block is undone, the ERP's transaction goes on,
and an envío undone is neither left behind nor published.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import signals
from django.db.models.signals import post_save
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from tests.bloqueo import tabla_bloqueada
from tests.disparadores import declarando
from tests.testapp.models import Cliente, Orden
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio, MotivoOmision
from whatsapp_notify.salvaguarda import NOMBRE
from whatsapp_notify.sentencias import preparadas

TELEFONO = "+52 55 1234 5678"


@pytest.fixture(autouse=True)
def preparando(postgres):
    if postgres.settings_dict["OPTIONS"].get("server_side_binding"):
        pytest.skip("con server_side_binding el INSERT corre como está escrito")
    preparadas.olvidar()
    yield
    preparadas.olvidar()


@pytest.fixture
def declarar():
    yield from declarando(tipo="salvaguarda")


@pytest.fixture
def orden(db):
    cliente = Cliente.objects.create(nombre="Ana", telefono=TELEFONO)
    return Orden.objects.select_related("cliente").get(
        pk=Orden.objects.create(numero="OT-1", cliente=cliente).pk
    )


@pytest.fixture
def al_registrar():
    """Connect ``receptor`` to the envío's post_save for the test."""
    conectados = []

    def conectar(receptor):
        post_save.connect(receptor, sender=EnvioWhatsApp, weak=False)
        conectados.append(receptor)

    yield conectar
    for receptor in conectados:
        post_save.disconnect(receptor, sender=EnvioWhatsApp)


@pytest.fixture
def tras_el_insert(monkeypatch):
    """Run ``paso(envio)`` once, right after the INSERT of an envío with a clave: a step of
    the app's own after the row exists (its log line), made to fail as the test needs."""
    from whatsapp_notify.outbound import outbox

    original = outbox._log_registro

    def poner(paso):
        pendiente = [paso]

        def registrado(envio):
            original(envio)
            if pendiente and envio.clave:
                pendiente.pop()(envio)

        monkeypatch.setattr(outbox, "_log_registro", registrado)

    return poner


def guardar_y_seguir(orden: Orden, lock_timeout: str | None = None) -> tuple[list[str], list]:
    """The ERP's view: complete the order, then go on in the same transaction. The SQL of
    the save that fires and the on_commit callbacks it left (the commit runs them: eager
    Celery sends through locmem). ``lock_timeout``: set first, for the transaction."""
    with transaction.atomic():
        if lock_timeout is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [lock_timeout])
        with (
            CaptureQueriesContext(connection) as consultas,
            TestCase.captureOnCommitCallbacks() as al_confirmar,
        ):
            orden.estado = "COMPLETADA"
            orden.save()
        orden.notas = "el ERP sigue en su transacción"
        orden.save()
    guardada = Orden.objects.get(pk=orden.pk)
    assert (guardada.estado, guardada.notas) == ("COMPLETADA", "el ERP sigue en su transacción")
    return [q["sql"] for q in consultas.captured_queries], al_confirmar


def cargada(orden: Orden) -> Orden:
    return Orden.objects.select_related("cliente").get(pk=orden.pk)


def listos(declarar, orden: Orden, outbox, **opciones) -> Orden:
    """Declare the disparador, fire it once on another order (the process reads the
    template's catalog row once, inside that first block) and load ``orden`` as a view
    would: its block then runs the INSERT's message and nothing else of its own."""
    declarar(**opciones)
    guardar_y_seguir(Orden.objects.create(numero="OT-0", cliente=orden.cliente))
    EnvioWhatsApp.objects.filter(tipo="salvaguarda").delete()
    outbox.clear()
    return cargada(orden)


def antes_del_insert(sql: list[str]) -> list[str]:
    """The statements of ``sql`` before the envío's INSERT."""
    return sql[: next(i for i, s in enumerate(sql) if s.startswith("/* INSERT INTO"))]


def salvaguardas(sql: list[str]) -> list[str]:
    return [s for s in sql if NOMBRE in s]


@pytest.mark.django_db(transaction=True)
def test_solo_el_insert__sin_savepoint_propio(declarar, orden, outbox):
    orden = listos(declarar, orden, outbox)
    sql, al_confirmar = guardar_y_seguir(orden)

    # The ERP's UPDATE and the INSERT's message, which brings its own savepoint.
    assert len(sql) == 2, "\n".join(s[:90] for s in sql)
    assert sql[1].startswith("/* INSERT INTO")
    assert salvaguardas(sql) == []
    assert EnvioWhatsApp.objects.get(tipo="salvaguarda").estado != EstadoEnvio.OMITIDO
    assert len(al_confirmar) == len(outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_un_callable_que_consulta__toma_el_savepoint_una_vez_y_lo_suelta(declarar, orden, outbox):
    declarar(destinatario=lambda o: Cliente.objects.get(pk=o.cliente_id))
    orden = cargada(orden)
    sql, al_confirmar = guardar_y_seguir(orden)

    assert salvaguardas(sql) == [f"SAVEPOINT {NOMBRE}", f"RELEASE SAVEPOINT {NOMBRE}"]
    tomado = sql.index(f"SAVEPOINT {NOMBRE}")
    assert sql[tomado + 1].startswith('SELECT "testapp_cliente"')  # taken before the query
    assert EnvioWhatsApp.objects.filter(tipo="salvaguarda", clave__isnull=False).count() == 1
    assert len(al_confirmar) == len(outbox) == 1


def _falla(envio):
    raise ValueError("auditoría caída")


def _consulta_y_falla(envio):
    Cliente.objects.create(nombre="auditoría", telefono="")
    raise ValueError("auditoría caída")


def _consulta_que_falla(envio):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tabla_que_no_existe")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "receptor",
    [_falla, _consulta_y_falla, _consulta_que_falla],
    ids=["sin-sql", "sql-y-excepcion", "sql-que-falla"],
)
def test_lo_que_falla_tras_el_insert__lo_deshace(declarar, orden, tras_el_insert, outbox, receptor):
    # What fails once the row exists, with no savepoint of the block's taken before the
    # INSERT: the envío is deleted again, as a rollback would undo it.
    orden = listos(declarar, orden, outbox)
    tras_el_insert(receptor)
    sql, al_confirmar = guardar_y_seguir(orden)

    assert salvaguardas(antes_del_insert(sql)) == []  # nothing of the block's covers it

    [envio] = EnvioWhatsApp.objects.filter(tipo="salvaguarda")
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.ERROR_DISPARADOR)
    assert envio.clave is None  # the undone one, with its clave, is gone
    assert not Cliente.objects.filter(nombre="auditoría").exists()
    assert al_confirmar == outbox == []  # the undone envío's publication went with it


@pytest.mark.django_db(transaction=True)
def test_marcado_para_rollback_sin_excepcion__se_deshace_como_en_atomic(
    declarar, orden, tras_el_insert, outbox
):
    # A failed save swallowed inside the block leaves Django's block marked for rollback:
    # atomic() rolls its savepoint back on the way out, and so does the block.
    orden = listos(declarar, orden, outbox)
    tras_el_insert(lambda envio: transaction.set_rollback(True))
    sql, al_confirmar = guardar_y_seguir(orden)

    assert salvaguardas(sql) == []

    assert not EnvioWhatsApp.objects.filter(tipo="salvaguarda").exists()
    assert al_confirmar == outbox == []


@pytest.mark.django_db(transaction=True)
def test_un_error_al_insertar__el_erp_sigue_y_queda_omitido(declarar, orden, outbox):
    # A value the column refuses fails inside the INSERT's message: the transaction rolls
    # back to the message's own savepoint, with no savepoint of the block's to fall back on.
    nul = {"variables": lambda o: ["\x00" if o.numero == "OT-1" else "Ana"]}  # NUL: refused
    orden = listos(declarar, orden, outbox, **nul)
    sql, al_confirmar = guardar_y_seguir(orden)

    assert salvaguardas(antes_del_insert(sql)) == []
    [envio] = EnvioWhatsApp.objects.filter(tipo="salvaguarda")
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.ERROR_DISPARADOR)
    assert al_confirmar == outbox == []


@pytest.mark.django_db(transaction=True)
def test_un_lock_timeout__el_erp_sigue_en_su_transaccion(declarar, orden, outbox):
    # The table's lock fails before the attempt's savepoint: the message rolls back to its
    # own, outer one, and the ERP's transaction is usable with no savepoint of the block's.
    orden = listos(declarar, orden, outbox)
    with tabla_bloqueada():
        guardar_y_seguir(orden, lock_timeout="200ms")

    guardada = Orden.objects.get(pk=orden.pk)
    assert (guardada.estado, guardada.notas) == ("COMPLETADA", "el ERP sigue en su transacción")
    # Its omitido hit the same lock: nothing recorded, and the ERP's save kept.
    assert not EnvioWhatsApp.objects.filter(tipo="salvaguarda", clave__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_el_rollback_del_erp_despues__no_deja_envio(declarar, orden):
    declarar()

    def vista():
        with transaction.atomic():
            orden.estado = "COMPLETADA"
            orden.save()
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM tabla_que_no_existe")

    with pytest.raises(DatabaseError):
        vista()

    assert not EnvioWhatsApp.objects.filter(tipo="salvaguarda").exists()


@pytest.mark.django_db(transaction=True)
def test_fuera_de_una_transaccion__usa_atomic(declarar, orden):
    # Autocommit: the disparador's block is the transaction (atomic() opens it).
    declarar()
    with CaptureQueriesContext(connection) as consultas:
        orden.estado = "COMPLETADA"
        orden.save()

    sql = [q["sql"] for q in consultas.captured_queries]
    assert salvaguardas(sql) == []
    assert EnvioWhatsApp.objects.filter(tipo="salvaguarda").count() == 1


@pytest.fixture
def rechazar_borrados(postgres):
    """Install a trigger that refuses every DELETE of an envío, as a statement_timeout
    would; dropped after the test."""
    instalado = []

    def instalar():
        with postgres.cursor() as cursor:
            cursor.execute(
                "CREATE FUNCTION wn_rechaza_borrado() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'borrado rechazado'; END $$; "
                "CREATE TRIGGER wn_rechaza_borrado BEFORE DELETE ON whatsapp_notify_enviowhatsapp "
                "FOR EACH ROW EXECUTE FUNCTION wn_rechaza_borrado();"
            )
        instalado.append(True)

    yield instalar
    if instalado:
        with postgres.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER wn_rechaza_borrado ON whatsapp_notify_enviowhatsapp; "
                "DROP FUNCTION wn_rechaza_borrado();"
            )


@pytest.mark.django_db(transaction=True)
def test_si_el_borrado_falla__el_envio_queda_y_el_erp_sigue(
    declarar, orden, tras_el_insert, outbox, rechazar_borrados, caplog
):
    orden = listos(declarar, orden, outbox)
    rechazar_borrados()
    tras_el_insert(_falla)
    _, al_confirmar = guardar_y_seguir(orden)

    # Valid, and recorded once: its publication went with the failed block, Beat sends it.
    [envio] = EnvioWhatsApp.objects.filter(tipo="salvaguarda")
    assert envio.clave
    assert envio.estado == EstadoEnvio.PENDIENTE
    assert al_confirmar == outbox == []
    assert "No se pudo deshacer el envío" in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("receptor", ["pre_save", "post_save"])
def test_con_un_receptor_del_envio__usa_atomic(declarar, orden, outbox, receptor):
    # A receiver of the host on the envío's saves runs beside the INSERT, where the block
    # could not undo all it might do (SQL beneath Django's cursor): atomic() is used.
    orden = listos(declarar, orden, outbox)
    fallar = [True]

    def falla(instance, **kwargs):
        if fallar and instance.clave:
            fallar.clear()
            with connection.connection.cursor() as cursor:  # beneath Django's cursor
                cursor.execute("INSERT INTO testapp_cliente (nombre, telefono) VALUES ('raw', '')")
            raise ValueError("auditoría caída")

    senal = getattr(signals, receptor)
    senal.connect(falla, sender=EnvioWhatsApp, weak=False)
    try:
        sql, al_confirmar = guardar_y_seguir(orden)
    finally:
        senal.disconnect(falla, sender=EnvioWhatsApp)

    assert sql[1].startswith('SAVEPOINT "s')  # Django's own, before the INSERT
    assert salvaguardas(sql) == []
    assert not Cliente.objects.filter(nombre="raw").exists()  # rolled back with the block
    [envio] = EnvioWhatsApp.objects.filter(tipo="salvaguarda")
    assert (envio.estado, envio.clave) == (EstadoEnvio.OMITIDO, None)
    assert al_confirmar == outbox == []


@pytest.mark.django_db(transaction=True)
def test_un_disparador_dentro_de_otro__el_fallo_de_fuera_deshace_los_dos(
    declarar, orden, tras_el_insert, outbox
):
    # A block that succeeds inside another one with no savepoint taken hands what undoes
    # its envío to the outer block: when that one fails, both envíos go.
    orden = listos(declarar, orden, outbox)
    segundo = declarar(tipo="salvaguarda_dentro", valor="ENTREGADA")
    otra = cargada(Orden.objects.create(numero="OT-2", cliente=orden.cliente))

    def dentro_y_falla(envio):
        assert segundo.disparar(otra) is not None
        raise ValueError("auditoría caída")

    tras_el_insert(dentro_y_falla)
    sql, al_confirmar = guardar_y_seguir(orden)

    assert salvaguardas(sql) == []
    assert not EnvioWhatsApp.objects.filter(tipo="salvaguarda_dentro").exists()
    [envio] = EnvioWhatsApp.objects.filter(tipo="salvaguarda")
    assert (envio.estado, envio.clave) == (EstadoEnvio.OMITIDO, None)
    assert al_confirmar == outbox == []
