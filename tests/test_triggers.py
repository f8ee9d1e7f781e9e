"""Disparadores: a declared state change records one envío, on commit, without extra queries."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction
from django.test.utils import CaptureQueriesContext, isolate_apps

from tests.bloqueo import tabla_bloqueada
from tests.disparadores import declarando
from tests.testapp.models import Cliente, Orden
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio, MotivoOmision
from whatsapp_notify.scheduling import tracking, triggers

TELEFONO = "+52 55 1234 5678"


@pytest.fixture
def declarar():
    """Declare disparadores on Orden with sensible defaults; all are disconnected afterwards."""
    yield from declarando()


@pytest.fixture
def cliente(db):
    return Cliente.objects.create(nombre="Ana", telefono=TELEFONO)


@pytest.fixture
def orden(cliente):
    return Orden.objects.create(numero="OT-1", cliente=cliente)


def completar(orden: Orden) -> Orden:
    orden.estado = "COMPLETADA"
    orden.save()
    return orden


def envios(tipo: str = "vehiculo_listo"):
    return EnvioWhatsApp.objects.filter(tipo=tipo)


# The transition ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_transicion__envia_la_plantilla_una_vez_con_las_variables(declarar, orden, outbox):
    declarar()
    completar(orden)

    envio = envios().get()
    assert envio.estado == EstadoEnvio.ENVIADO
    assert envio.clave == f"vehiculo_listo:testapp.orden:{orden.pk}"
    assert envio.referencia == orden
    assert len(outbox) == 1
    assert outbox[0].telefono == "525512345678"
    assert outbox[0].contenido.nombre == "vehiculo_listo_cliente"
    assert outbox[0].contenido.variables == ["Ana", "OT-1"]


@pytest.mark.django_db(transaction=True)
def test_guardar_otra_vez_en_el_estado__no_envia_de_nuevo(declarar, orden, outbox):
    declarar()
    completar(orden)
    orden.notas = "Entregado con lavado"
    orden.save()
    orden.save()

    assert envios().count() == 1
    assert len(outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_salir_y_volver_al_estado__no_envia_dos_veces(declarar, orden, outbox):
    llamadas = []
    declarar(destinatario=lambda o: llamadas.append(o.pk) or o.cliente)
    completar(orden)
    orden.estado = "EN_PROCESO"
    orden.save()
    completar(orden)
    completar(Orden.objects.get(pk=orden.pk))  # a fresh instance, too

    assert envios().count() == 1
    assert len(outbox) == 1
    # Back in valor, the callables run again (the INSERT then finds the clave): the save
    # costs one statement instead of a lookup before it. The fresh instance loaded in
    # COMPLETADA is no transition.
    assert llamadas == [orden.pk, orden.pk]


@pytest.mark.django_db(transaction=True)
def test_salir_y_volver_al_estado__el_documento_no_se_genera_otra_vez(declarar, orden, outbox):
    generados = []

    def documento(o):
        generados.append(o.pk)
        return b"%PDF-1.4 orden", f"{o.numero}.pdf"

    declarar(documento=documento)
    completar(orden)
    orden.estado = "EN_PROCESO"
    orden.save()
    completar(orden)

    assert envios().count() == 1
    assert len(outbox) == 1
    assert generados == [orden.pk]  # its clave is looked up before rendering it again


@pytest.mark.django_db(transaction=True)
def test_rollback_del_erp__no_deja_envio_ni_envia(declarar, orden, outbox):
    declarar()

    def vista_del_erp():
        with transaction.atomic():
            completar(orden)
            raise RuntimeError("el ERP falla después de guardar")

    with pytest.raises(RuntimeError):
        vista_del_erp()

    assert not envios().exists()
    assert outbox == []
    completar(Orden.objects.get(pk=orden.pk))  # the retry, with the object fetched again
    assert envios().count() == 1
    assert len(outbox) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("al_crear", "esperados"), [(True, 1), (False, 0)], ids=["si", "no"])
def test_crear_en_el_estado__sigue_al_crear(declarar, cliente, outbox, al_crear, esperados):
    declarar(al_crear=al_crear)
    Orden.objects.create(numero="OT-2", cliente=cliente, estado="COMPLETADA")

    assert envios().count() == esperados
    assert len(outbox) == esperados


@pytest.mark.django_db(transaction=True)
def test_creada_en_el_estado_sin_al_crear__envia_al_volver_al_estado(declarar, cliente, outbox):
    declarar(al_crear=False)
    orden = Orden.objects.create(numero="OT-2", cliente=cliente, estado="COMPLETADA")
    orden.estado = "EN_PROCESO"
    orden.save()
    completar(orden)

    assert envios().count() == 1
    assert len(outbox) == 1


@pytest.mark.django_db
def test_crear_en_otro_estado__no_envia(declarar, cliente):
    declarar()
    Orden.objects.create(numero="OT-2", cliente=cliente, estado="ABIERTA")

    assert not EnvioWhatsApp.objects.exists()


@pytest.mark.django_db
def test_update_fields_sin_el_campo__no_envia_hasta_guardarlo(declarar, orden):
    declarar()
    orden.estado = "COMPLETADA"
    orden.save(update_fields=["notas"])  # estado was not written
    assert not envios().exists()

    orden.save(update_fields=["estado"])
    assert envios().count() == 1


@pytest.mark.django_db
def test_queryset_update__no_dispara(declarar, orden):
    # Documented: update()/bulk_* send no model signals, so no disparador sees them.
    declarar()
    Orden.objects.filter(pk=orden.pk).update(estado="COMPLETADA")

    assert not EnvioWhatsApp.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("condicion", "esperados"), [(lambda o: True, 1), (lambda o: False, 0)], ids=["cumple", "no"]
)
def test_condicion__decide_si_se_registra(declarar, orden, condicion, esperados):
    declarar(condicion=condicion)
    completar(orden)

    assert envios().count() == esperados


@pytest.mark.django_db(transaction=True)
def test_documento__viaja_como_encabezado_de_la_plantilla(declarar, orden, outbox):
    declarar(documento=lambda o: (b"%PDF-1.4 orden", f"{o.numero}.pdf"))
    completar(orden)

    envio = envios().get()
    assert envio.nombre_documento == "OT-1.pdf"
    assert outbox[0].contenido.documento.nombre == "OT-1.pdf"


@pytest.mark.django_db
def test_dos_valores_con_su_tipo__cada_uno_envia_una_vez(declarar, orden):
    declarar()
    declarar(valor="CANCELADA", tipo="orden_cancelada", plantilla="orden_cancelada")
    completar(orden)
    orden.estado = "CANCELADA"
    orden.save()

    assert sorted(EnvioWhatsApp.objects.values_list("tipo", flat=True)) == [
        "orden_cancelada",
        "vehiculo_listo",
    ]


# Failures never reach the ERP ----------------------------------------------------------


def _falla(orden):
    raise ZeroDivisionError("sin datos")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("etapa", ["destinatario", "variables", "documento", "condicion"])
def test_callable_que_falla__envio_omitido_y_el_guardado_sigue(
    declarar, orden, outbox, caplog, etapa
):
    declarar(**{etapa: _falla})
    with (
        caplog.at_level(logging.ERROR, logger="whatsapp_notify.scheduling.triggers"),
        transaction.atomic(),
    ):
        completar(orden)
        orden.notas = "el ERP sigue en su transacción"
        orden.save()

    assert Orden.objects.get(pk=orden.pk).estado == "COMPLETADA"
    envio = envios().get()
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.ERROR_DISPARADOR)
    assert envio.error_detalle == f"{etapa}: ZeroDivisionError"
    assert envio.clave is None  # the next real transition may still send
    assert envio.referencia == orden
    assert outbox == []
    assert "ZeroDivisionError" in caplog.text
    assert "5512345678" not in caplog.text


def _consulta_que_falla(orden):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tabla_que_no_existe")


def _guardado_que_falla(orden):
    Cliente.objects.create(nombre=None)  # NOT NULL: an IntegrityError inside Model.save()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("falla", [_consulta_que_falla, _guardado_que_falla], ids=["sql", "save"])
@pytest.mark.parametrize("atrapada", [False, True], ids=["propaga", "la-atrapa"])
def test_callable_cuya_consulta_falla__el_erp_sigue_en_su_transaccion(
    declarar, orden, outbox, falla, atrapada
):
    # On PostgreSQL a failed query aborts the whole transaction, and a failed Model.save()
    # marks Django's for rollback: the disparador's savepoint undoes both, even when the
    # callable swallows the error itself, and the ERP's save and its next ones are kept.
    def destinatario(o):
        try:
            falla(o)
        except Exception:
            if not atrapada:
                raise
        return o.cliente

    declarar(destinatario=destinatario)
    with transaction.atomic():
        completar(orden)
        orden.notas = "el ERP sigue en su transacción"
        orden.save()

    guardada = Orden.objects.get(pk=orden.pk)
    assert (guardada.estado, guardada.notas) == ("COMPLETADA", "el ERP sigue en su transacción")
    envio = envios().get()
    if atrapada and falla is _consulta_que_falla and connection.vendor != "postgresql":
        # SQLite goes on after a failed raw statement: the callable's answer is used.
        assert (envio.estado, len(outbox)) == (EstadoEnvio.ENVIADO, 1)
    else:
        assert (envio.estado, envio.motivo) == (
            EstadoEnvio.OMITIDO,
            MotivoOmision.ERROR_DISPARADOR,
        )
        assert outbox == []


@pytest.mark.django_db(transaction=True)
def test_tabla_de_envios_bloqueada__el_erp_sigue_en_su_transaccion(
    declarar, orden, outbox, postgres
):
    # A migration holds the envíos' table and the ERP runs with a lock_timeout: the INSERT
    # fails, and so does the lookup of the clave after it; neither breaks the ERP's save.
    declarar()
    orden = Orden.objects.select_related("cliente").get(pk=orden.pk)
    with tabla_bloqueada(), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '200ms'")
        completar(orden)
        orden.notas = "el ERP sigue en su transacción"
        orden.save()

    guardada = Orden.objects.get(pk=orden.pk)
    assert (guardada.estado, guardada.notas) == ("COMPLETADA", "el ERP sigue en su transacción")
    assert not envios().exists()  # its omitido hit the same lock
    assert outbox == []


@pytest.mark.django_db(transaction=True)
def test_callable_que_falla__su_on_commit_no_corre(declarar, orden, outbox):
    corridos = []

    def variables(o):
        nota = Cliente.objects.create(nombre="auditoría", telefono="")
        transaction.on_commit(lambda: corridos.append(nota.pk))
        raise ValueError("datos incompletos")

    declarar(variables=variables)
    with transaction.atomic():
        completar(orden)

    assert not Cliente.objects.filter(nombre="auditoría").exists()  # its work undone
    assert corridos == []  # and so its on_commit
    assert envios().get().motivo == MotivoOmision.ERROR_DISPARADOR


@pytest.mark.django_db(transaction=True)
def test_transaccion_manual__un_callable_cuya_consulta_falla_no_la_rompe(declarar, orden, outbox):
    def destinatario(o):
        _consulta_que_falla(o)
        return o.cliente

    declarar(destinatario=destinatario)
    transaction.set_autocommit(False)  # the ERP manages its transaction by hand
    try:
        completar(orden)
        orden.notas = "el ERP sigue"
        orden.save()
        transaction.commit()
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)

    guardada = Orden.objects.get(pk=orden.pk)
    assert (guardada.estado, guardada.notas) == ("COMPLETADA", "el ERP sigue")


@pytest.mark.django_db(transaction=True)
def test_salir_y_volver__un_callable_que_ahora_falla_no_registra_nada(
    declarar, orden, outbox, caplog
):
    fallar = False

    def variables(o):
        if fallar:
            raise LookupError("el vehículo ya no existe")
        return ["Ana", "Mazda 3", o.numero]

    declarar(variables=variables)
    completar(orden)
    orden.estado = "EN_PROCESO"
    orden.save()
    fallar = True
    with caplog.at_level(logging.WARNING, logger="whatsapp_notify.scheduling.triggers"):
        completar(orden)

    [envio] = envios()  # the first one only: no omitido row for an object already notified
    assert envio.estado == EstadoEnvio.ENVIADO
    assert len(outbox) == 1
    assert "variables: LookupError" in caplog.text  # the host's bug is still said


@pytest.mark.django_db(transaction=True)
def test_variables_invalidas__envio_omitido(declarar, orden, outbox):
    declarar(variables=lambda orden: ["Ana", ""])  # Meta rejects empty variables
    completar(orden)

    envio = envios().get()
    assert envio.motivo == MotivoOmision.ERROR_DISPARADOR
    assert envio.error_detalle == "registro: VariablesError"
    assert outbox == []


# Cost ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("cambio", [None, "notas", "estado"], ids=["igual", "otro_campo", "otro"])
def test_guardar_sin_llegar_al_valor__solo_el_update(
    declarar, orden, django_assert_num_queries, cambio
):
    declarar()
    orden = Orden.objects.get(pk=orden.pk)
    if cambio:
        setattr(orden, cambio, "EN_PROCESO")
    with django_assert_num_queries(1):
        orden.save()


@pytest.mark.django_db
def test_otros_modelos__sin_snapshot_ni_consultas(declarar, cliente, django_assert_num_queries):
    declarar()
    cliente = Cliente.objects.get(pk=cliente.pk)
    cliente.nombre = "COMPLETADA"
    with django_assert_num_queries(1):
        cliente.save()

    assert triggers.PREVIO not in cliente.__dict__
    assert triggers.PREVIO in Orden(numero="OT-9", cliente=cliente).__dict__
    assert not EnvioWhatsApp.objects.exists()


# Deferred fields -----------------------------------------------------------------------


@pytest.mark.django_db
def test_campo_diferido_no_escrito__sin_consulta_ni_envio(
    declarar, orden, django_assert_num_queries
):
    declarar()
    cargada = Orden.objects.only("pk", "notas").get(pk=orden.pk)
    cargada.notas = "sin tocar el estado"
    with django_assert_num_queries(1):
        cargada.save()

    assert not EnvioWhatsApp.objects.exists()


@pytest.mark.django_db
def test_campo_diferido_que_llega_al_valor__lee_el_guardado_y_envia(declarar, orden):
    declarar()
    cargada = Orden.objects.defer("estado").get(pk=orden.pk)
    cargada.estado = "COMPLETADA"
    with CaptureQueriesContext(connection) as consultas:
        cargada.save()

    assert envios().count() == 1
    # One read of the stored value, before the ERP's UPDATE.
    assert consultas[0]["sql"].startswith('SELECT "testapp_orden"."estado"')
    assert consultas[1]["sql"].startswith('UPDATE "testapp_orden"')


@pytest.mark.django_db
@pytest.mark.parametrize("acceso", ["asignado", "leido"])
def test_campo_diferido_ya_en_el_valor__no_envia(declarar, cliente, acceso):
    guardada = Orden.objects.create(numero="OT-3", cliente=cliente, estado="COMPLETADA")
    declarar()  # declared later: the order was COMPLETADA before anyone watched it
    cargada = Orden.objects.defer("estado").get(pk=guardada.pk)
    if acceso == "asignado":
        cargada.estado = "COMPLETADA"
    else:
        assert cargada.estado == "COMPLETADA"  # loads the deferred field
    cargada.save()

    assert not EnvioWhatsApp.objects.exists()


# Declaration -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_declarar_dos_veces__conecta_una_vez_y_gana_la_ultima(declarar, orden):
    llamadas = []

    def destinatario(o):
        llamadas.append(o.pk)
        return o.cliente

    declarar(destinatario=destinatario, plantilla="antigua")
    declarar(destinatario=destinatario)  # ready() run twice
    completar(orden)

    assert llamadas == [orden.pk]
    assert envios().get().plantilla == "vehiculo_listo_cliente"


@pytest.mark.django_db
def test_desconectar__deja_de_disparar_y_de_observar(declarar, orden):
    declarado = declarar()
    declarado.desconectar()
    completar(orden)

    assert not EnvioWhatsApp.objects.exists()
    assert triggers.PREVIO not in Orden.objects.get(pk=orden.pk).__dict__


def test_declarar_con_la_clase_del_modelo__equivale_al_nombre(declarar):
    declarado = declarar(modelo=Orden)

    assert declarado.modelo is Orden
    assert declarado.clave(Orden(pk=7)) == "vehiculo_listo:testapp.orden:7"


@pytest.mark.parametrize(
    ("opciones", "error", "mensaje"),
    [
        ({"modelo": "testapp.NoExiste"}, ImproperlyConfigured, "no existe el modelo"),
        ({"modelo": "Orden"}, ImproperlyConfigured, "'app_label.Modelo'"),
        ({"modelo": object}, TypeError, "clase de modelo"),
        ({"campo": "estatus"}, ImproperlyConfigured, "no tiene el campo 'estatus'"),
        ({"campo": "id", "valor": "abc"}, ImproperlyConfigured, "no es válido"),
        ({"destinatario": "cliente"}, TypeError, "destinatario=lambda orden"),
        ({"variables": ["Ana"]}, TypeError, "variables debe ser una función"),
        ({"condicion": True}, TypeError, "condicion debe ser una función"),
        ({"tipo": "vehículo listo"}, ImproperlyConfigured, "slug"),
        ({"plantilla": ""}, ImproperlyConfigured, "falta plantilla"),
    ],
    ids=[
        "modelo_desconocido",
        "modelo_sin_app",
        "modelo_no_es_clase",
        "campo_desconocido",
        "valor_invalido",
        "destinatario_no_callable",
        "variables_no_callable",
        "condicion_no_callable",
        "tipo_no_slug",
        "sin_plantilla",
    ],
)
def test_declaracion_invalida__falla_al_declarar(declarar, opciones, error, mensaje):
    with pytest.raises(error, match=mensaje):
        declarar(**opciones)


def test_campo_que_no_es_columna__falla_al_declarar(declarar):
    with pytest.raises(ImproperlyConfigured, match="no es una columna"):
        declarar(modelo=Cliente, campo="orden", valor=1)


def test_mismo_tipo_para_otro_valor__falla_al_declarar(declarar):
    declarar()
    with pytest.raises(ImproperlyConfigured, match="Usa un tipo distinto"):
        declarar(valor="CANCELADA")


@isolate_apps("tests.testapp")
def test_valor_fuera_de_las_opciones__falla_al_declarar(declarar):
    class Cita(models.Model):
        estado = models.CharField(max_length=10, choices=[("OK", "Ok"), ("CANCELADA", "No")])

        class Meta:
            app_label = "testapp"

        def __str__(self):
            return self.estado

    with pytest.raises(ImproperlyConfigured, match="no está entre las opciones"):
        declarar(modelo=Cita, valor="CANCELADO")


def test_declarado_antes_de_cargar_los_modelos__se_resuelve_al_registrarse(declarar, monkeypatch):
    with isolate_apps("tests.testapp") as registro:
        monkeypatch.setattr(tracking, "apps", registro)
        # The registry while INSTALLED_APPS are being imported.
        monkeypatch.setattr(registro, "models_ready", False)
        monkeypatch.setattr(registro, "ready", False)
        declarado = declarar(modelo="testapp.Tardia")
        assert declarado.modelo is None

        class Tardia(models.Model):
            estado = models.CharField(max_length=20)

            class Meta:
                app_label = "testapp"

            def __str__(self):
                return self.estado

        assert declarado.modelo is Tardia
        assert triggers.PREVIO in Tardia(estado="ABIERTA").__dict__
