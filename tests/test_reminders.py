"""Recordatorios: programado envíos kept in step with a datetime field, without extra queries.

Time is controlled by the data: appointments are created relative to now, and a row's
``programado_para`` is moved into the past to make it due. Nothing sleeps.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from tests.testapp.models import Cita, Cliente
from whatsapp_notify import recordatorio, tasks
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio, MotivoOmision
from whatsapp_notify.scheduling import reminders
from whatsapp_notify.signals import envio_estado_cambiado
from whatsapp_notify.states import EN_ESPERA

TELEFONO = "+52 55 1234 5678"
H24, H1 = timedelta(hours=24), timedelta(hours=1)
RECORDATORIOS = ["recordatorio_24h", "recordatorio_1h"]


def _cancelada(cita):
    return cita.estado == "CANCELADA"


@pytest.fixture
def declarar():
    """Declare recordatorios on Cita with sensible defaults; all are disconnected afterwards."""
    declarados = []

    def declarar_(**opciones):
        argumentos = {
            "campo_fecha": "fecha",
            "antes": [H24, H1],
            "plantilla": "recordatorio_cita",
            "tipo": "recordatorio",
            "destinatario": lambda cita: cita.cliente,
            "variables": lambda cita: [cita.cliente.nombre, cita.fecha.isoformat()],
            "cancelar_si": _cancelada,
            "plantilla_cancelacion": "cita_cancelada",
            "variables_cancelacion": lambda cita: [cita.cliente.nombre],
            **opciones,
        }
        declarados.append(recordatorio(argumentos.pop("modelo", "testapp.Cita"), **argumentos))
        return declarados[-1]

    yield declarar_
    for declarado in declarados:
        declarado.desconectar()


@pytest.fixture
def cliente(db):
    return Cliente.objects.create(nombre="Ana", telefono=TELEFONO)


def en(**delta) -> timezone.datetime:
    """A date ``delta`` from now, in whole seconds (as an appointment is written)."""
    return (timezone.now() + timedelta(**delta)).replace(microsecond=0)


def nueva_cita(cliente, **campos) -> Cita:
    return Cita.objects.create(cliente=cliente, **{"fecha": en(days=3), **campos})


def fresca(cita: Cita) -> Cita:
    """The appointment as another request loads it (a snapshot of the stored values)."""
    return Cita.objects.get(pk=cita.pk)


def activos(cita: Cita) -> dict[str, list[EnvioWhatsApp]]:
    """The cita's programado/pendiente reminders by tipo (not the cancellation notice)."""
    por_tipo: dict[str, list[EnvioWhatsApp]] = {}
    for envio in EnvioWhatsApp.objects.filter(
        object_id=str(cita.pk), estado__in=EN_ESPERA, tipo__in=RECORDATORIOS
    ).order_by("programado_para"):
        por_tipo.setdefault(envio.tipo, []).append(envio)
    return por_tipo


def avisos():
    return EnvioWhatsApp.objects.filter(tipo="recordatorio_cancelacion")


def mover(cita: Cita, **delta) -> Cita:
    cita = fresca(cita)
    cita.fecha = cita.fecha + timedelta(**delta)
    cita.save()
    return cita


def cancelar(cita: Cita) -> Cita:
    cita = fresca(cita)
    cita.estado = "CANCELADA"
    cita.save()
    return cita


# Scheduling ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_crear__un_envio_programado_por_intervalo(declarar, cliente, outbox):
    declarar()
    cita = nueva_cita(cliente)

    programados = EnvioWhatsApp.objects.order_by("programado_para")
    assert [(e.tipo, e.estado) for e in programados] == [
        ("recordatorio_24h", EstadoEnvio.PROGRAMADO),
        ("recordatorio_1h", EstadoEnvio.PROGRAMADO),
    ]
    assert [e.programado_para for e in programados] == [cita.fecha - H24, cita.fecha - H1]
    utc = cita.fecha.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert programados[0].clave == f"recordatorio_24h:testapp.cita:{cita.pk}:{utc}Z"
    assert programados[0].variables == ["Ana", cita.fecha.isoformat()]
    assert programados[0].telefono == "525512345678"
    assert programados[0].referencia == cita
    assert outbox == []  # nothing goes out before it is due


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("minutos_de_retraso", "tolerancia", "esperado"),
    [
        (2, 300, ["recordatorio_1h"]),
        (30, 300, []),
        (2, 0, []),
    ],
    ids=["dentro_de_la_tolerancia", "fuera_de_la_tolerancia", "sin_tolerancia"],
)
def test_intervalo_ya_pasado__solo_dentro_de_la_tolerancia_y_sale_ya(
    declarar, cliente, outbox, wa_settings, django_capture_on_commit_callbacks,
    minutos_de_retraso, tolerancia, esperado,
):  # fmt: skip
    wa_settings(REMINDER_TOLERANCE=tolerancia)
    declarar()
    # The 1 h reminder's time passed `minutos_de_retraso` minutes ago; the 24 h one long ago.
    with django_capture_on_commit_callbacks(execute=True):
        nueva_cita(cliente, fecha=en(hours=1, minutes=-minutos_de_retraso))

    assert list(EnvioWhatsApp.objects.values_list("tipo", flat=True)) == esperado
    assert [m.contenido.nombre for m in outbox] == ["recordatorio_cita"] * len(esperado)


@pytest.mark.django_db
def test_sin_fecha__nada_y_borrarla_cancela(declarar, cliente):
    declarar()
    assert not EnvioWhatsApp.objects.filter(object_id=nueva_cita(cliente, fecha=None).pk).exists()

    cita = fresca(nueva_cita(cliente))
    cita.fecha = None
    cita.save()

    assert activos(cita) == {}
    assert not avisos().exists()


# Moving the date ---------------------------------------------------------------------


@pytest.mark.django_db
def test_mover_fecha__cancela_los_viejos_y_programa_los_nuevos(declarar, cliente):
    declarar()
    cita = nueva_cita(cliente)
    viejos = list(EnvioWhatsApp.objects.all())

    cita = mover(cita, days=1)

    for viejo in viejos:
        viejo.refresh_from_db()
        assert (viejo.estado, viejo.clave) == (EstadoEnvio.CANCELADO, None)
        assert viejo.cancelado_en is not None
    vigentes = activos(cita)
    assert sorted(vigentes) == ["recordatorio_1h", "recordatorio_24h"]
    assert all(len(lista) == 1 for lista in vigentes.values())  # one active per offset
    assert vigentes["recordatorio_24h"][0].programado_para == cita.fecha - H24
    assert vigentes["recordatorio_24h"][0].variables[1] == cita.fecha.isoformat()


@pytest.mark.django_db
def test_mover_y_volver__una_sola_activa_por_intervalo(declarar, cliente):
    declarar()
    cita = nueva_cita(cliente)
    original = cita.fecha

    mover(cita, hours=5)
    cita = mover(cita, hours=-5)

    vigentes = activos(cita)
    assert {tipo: [e.programado_para for e in lista] for tipo, lista in vigentes.items()} == {
        "recordatorio_24h": [original - H24],
        "recordatorio_1h": [original - H1],
    }
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.CANCELADO).count() == 4


@pytest.mark.django_db
def test_recordatorio_ya_enviado__no_se_repite_al_volver_a_su_fecha(declarar, cliente, outbox):
    declarar()
    cita = nueva_cita(cliente)
    EnvioWhatsApp.objects.filter(tipo="recordatorio_24h").update(
        programado_para=timezone.now() - timedelta(minutes=1)
    )
    tasks.despachar()  # the 24 h reminder goes out

    mover(cita, hours=5)
    cita = mover(cita, hours=-5)

    assert len(outbox) == 1
    assert list(activos(cita)) == ["recordatorio_1h"]
    assert EnvioWhatsApp.objects.filter(tipo="recordatorio_24h", estado="enviado").count() == 1


@pytest.mark.django_db
def test_mover_fecha__avisa_la_cancelacion_de_cada_envio(declarar, cliente):
    declarar()
    cita = nueva_cita(cliente)
    recibidos = []

    def receptor(sender, envio, estado_anterior, estado, **kwargs):
        recibidos.append((envio.tipo, estado_anterior, estado))

    envio_estado_cambiado.connect(receptor)
    try:
        mover(cita, days=1)
    finally:
        envio_estado_cambiado.disconnect(receptor)

    assert sorted(recibidos) == [
        ("recordatorio_1h", "programado", "cancelado"),
        ("recordatorio_24h", "programado", "cancelado"),
    ]


# Cost ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("campo", "valor"),
    [(None, None), ("notas", "trae la factura"), ("estado", "CONFIRMADA")],
    ids=["igual", "otro_campo", "otro_estado"],
)
def test_guardar_sin_mover_la_fecha__solo_el_update(
    declarar, cliente, django_assert_num_queries, campo, valor
):
    declarar()
    cita = fresca(nueva_cita(cliente))
    antes = list(EnvioWhatsApp.objects.values_list("pk", "estado", "clave"))
    if campo:
        setattr(cita, campo, valor)

    with django_assert_num_queries(1):
        cita.save()

    assert list(EnvioWhatsApp.objects.values_list("pk", "estado", "clave")) == antes


@pytest.mark.django_db
def test_update_fields_sin_la_fecha__no_la_reprograma(declarar, cliente, django_assert_num_queries):
    declarar()
    cita = fresca(nueva_cita(cliente))
    cita.fecha += timedelta(days=1)
    cita.notas = "solo las notas"

    with django_assert_num_queries(1):
        cita.save(update_fields=["notas"])

    assert activos(cita)["recordatorio_24h"][0].programado_para == fresca(cita).fecha - H24


@pytest.mark.django_db
def test_fecha_diferida__no_escrita_nada_y_escrita_reprograma(declarar, cliente):
    declarar()
    cita = nueva_cita(cliente)

    diferida = Cita.objects.defer("fecha").get(pk=cita.pk)
    diferida.notas = "sin tocar la fecha"
    diferida.save()
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.CANCELADO).count() == 0

    diferida = Cita.objects.defer("fecha").get(pk=cita.pk)
    diferida.fecha = cita.fecha + timedelta(days=2)
    diferida.save()
    assert activos(cita)["recordatorio_1h"][0].programado_para == diferida.fecha - H1
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.CANCELADO).count() == 2


# Cancelling ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancelar_si__cancela_y_avisa_una_sola_vez(
    declarar, cliente, outbox, django_capture_on_commit_callbacks
):
    declarar()
    cita = nueva_cita(cliente)

    with django_capture_on_commit_callbacks(execute=True):
        cita = cancelar(cita)
        cita.save()  # the same instance again
        otra = fresca(cita)
        otra.notas = "llamó para confirmar la cancelación"
        otra.save()  # another request

    assert activos(cita) == {}
    aviso = avisos().get()
    assert (aviso.plantilla, aviso.variables) == ("cita_cancelada", ["Ana"])
    assert [m.contenido.nombre for m in outbox] == ["cita_cancelada"]


@pytest.mark.django_db
def test_cancelar_si__reactivar_vuelve_a_programar_sin_otro_aviso(declarar, cliente):
    declarar()
    cita = cancelar(nueva_cita(cliente))

    cita = fresca(cita)
    cita.estado = "CONFIRMADA"
    cita.save()
    cancelar(cita)

    assert avisos().count() == 1  # once per object and date
    cita = fresca(cita)
    cita.estado = "PROGRAMADA"
    cita.save()
    assert sorted(activos(cita)) == ["recordatorio_1h", "recordatorio_24h"]


@pytest.mark.django_db
def test_creada_cancelada__ni_recordatorios_ni_aviso(declarar, cliente):
    declarar()
    nueva_cita(cliente, estado="CANCELADA")

    assert not EnvioWhatsApp.objects.exists()


@pytest.mark.django_db
def test_cancelar_una_cita_pasada__sin_aviso(declarar, cliente):
    declarar()
    cancelar(nueva_cita(cliente, fecha=en(hours=-2)))

    assert not EnvioWhatsApp.objects.exists()


@pytest.mark.django_db
def test_sin_plantilla_de_cancelacion__solo_cancela(declarar, cliente):
    declarar(plantilla_cancelacion=None, variables_cancelacion=None)
    cita = cancelar(nueva_cita(cliente))

    assert activos(cita) == {}
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.CANCELADO).count() == 2
    assert not avisos().exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("estado", "avisa"), [("PROGRAMADA", True), ("CANCELADA", False)], ids=["activa", "cancelada"]
)
def test_borrar__cancela_y_avisa_si_seguia_activa(
    declarar, cliente, outbox, django_capture_on_commit_callbacks, estado, avisa
):
    declarar()
    cita = nueva_cita(cliente)
    Cita.objects.filter(pk=cita.pk).update(estado=estado)  # not seen: the signals don't fire
    pk = cita.pk

    with django_capture_on_commit_callbacks(execute=True):
        fresca(cita).delete()

    assert not EnvioWhatsApp.objects.filter(object_id=str(pk), estado__in=EN_ESPERA)
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.CANCELADO).count() == 2
    assert avisos().count() == int(avisa)
    assert [m.contenido.nombre for m in outbox] == ["cita_cancelada"] * avisa


# Transactions and Beat -------------------------------------------------------------------


def en_la_vista_del_erp(guardar) -> None:
    with transaction.atomic():
        guardar()
        raise RuntimeError("el ERP falla después de guardar")


@pytest.mark.django_db(transaction=True)
def test_rollback__no_deja_envios_ni_envia(declarar, cliente, outbox):
    declarar()
    # The 1 h reminder would be due at once: it would be sent on commit.
    with pytest.raises(RuntimeError):
        en_la_vista_del_erp(lambda: nueva_cita(cliente, fecha=en(minutes=61)))

    assert not EnvioWhatsApp.objects.exists()
    assert not Cita.objects.exists()
    assert outbox == []


@pytest.mark.django_db(transaction=True)
def test_rollback_de_un_cambio_de_fecha__los_viejos_siguen_vigentes(declarar, cliente):
    declarar()
    cita = nueva_cita(cliente)
    viejos = {e.tipo: e.pk for lista in activos(cita).values() for e in lista}

    with pytest.raises(RuntimeError):
        en_la_vista_del_erp(lambda: mover(cita, days=1))

    assert {tipo: lista[0].pk for tipo, lista in activos(cita).items()} == viejos
    assert EnvioWhatsApp.objects.count() == 2


@pytest.mark.django_db
def test_despachar__envia_el_recordatorio_debido_y_no_el_futuro(declarar, cliente, outbox):
    declarar()
    cita = nueva_cita(cliente)
    EnvioWhatsApp.objects.filter(tipo="recordatorio_24h").update(
        programado_para=timezone.now() - timedelta(seconds=1)
    )

    despachados = tasks.despachar()

    assert despachados == 1
    [enviado] = outbox
    assert (enviado.telefono, enviado.contenido.nombre) == ("525512345678", "recordatorio_cita")
    estados = dict(EnvioWhatsApp.objects.values_list("tipo", "estado"))
    assert estados == {"recordatorio_24h": "enviado", "recordatorio_1h": "programado"}
    assert list(activos(cita)) == ["recordatorio_1h"]


@pytest.fixture
def reloj(monkeypatch):
    """Move the clock: ``reloj(instante)`` makes ``timezone.now()`` return it from then on."""

    def mover_a(instante):
        monkeypatch.setattr(timezone, "now", lambda: instante)

    return mover_a


@pytest.mark.django_db
def test_recordatorio__caduca_a_su_hora_mas_la_tolerancia(declarar, cliente, wa_settings):
    wa_settings(REMINDER_TOLERANCE=300)
    declarar()
    cita = nueva_cita(cliente)

    caducidades = dict(EnvioWhatsApp.objects.values_list("tipo", "expira_en"))
    tolerancia = timedelta(seconds=300)
    assert caducidades == {
        "recordatorio_24h": cita.fecha - H24 + tolerancia,
        "recordatorio_1h": cita.fecha - H1 + tolerancia,
    }


@pytest.mark.django_db
def test_recordatorio__nunca_caduca_despues_de_la_cita(declarar, cliente, wa_settings):
    wa_settings(REMINDER_TOLERANCE=3600)
    declarar(antes=[timedelta(minutes=10)])

    cita = nueva_cita(cliente)

    assert EnvioWhatsApp.objects.get().expira_en == cita.fecha


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("retraso", "sale"),
    [
        pytest.param(timedelta(minutes=4), True, id="dentro-de-la-tolerancia"),
        pytest.param(timedelta(hours=3), False, id="beat-caido-horas"),
    ],
)
def test_despachar__recordatorio_con_beat_retrasado(
    declarar, cliente, outbox, reloj, wa_settings, retraso, sale
):
    wa_settings(REMINDER_TOLERANCE=300)
    declarar()
    cita = nueva_cita(cliente)
    EnvioWhatsApp.objects.filter(tipo="recordatorio_24h").update(estado=EstadoEnvio.CANCELADO)

    reloj(cita.fecha - H1 + retraso)  # Beat comes back `retraso` after the 1 h reminder's time
    tasks.despachar()

    envio = EnvioWhatsApp.objects.get(tipo="recordatorio_1h")
    if sale:
        assert envio.estado == EstadoEnvio.ENVIADO
        assert [m.contenido.nombre for m in outbox] == ["recordatorio_cita"]
    else:
        assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.VENCIDO)
        assert outbox == []


def test_cancelar__un_recordatorio_que_beat_acaba_de_promover_se_cancela(declarar, cliente):
    declarar()
    nueva_cita(cliente)
    leido = EnvioWhatsApp.objects.get(tipo="recordatorio_1h")  # read while programado...
    EnvioWhatsApp.objects.filter(pk=leido.pk).update(estado=EstadoEnvio.PENDIENTE)  # ...promoted

    assert reminders._cancelar(leido, timezone.now()) == 1

    assert EnvioWhatsApp.objects.get(pk=leido.pk).estado == EstadoEnvio.CANCELADO


@pytest.mark.django_db
def test_cancelar__un_envio_ya_reclamado_por_un_worker_no_se_toca(declarar, cliente):
    declarar()
    cita = nueva_cita(cliente)
    EnvioWhatsApp.objects.filter(tipo="recordatorio_1h").update(estado=EstadoEnvio.ENVIANDO)

    cancelar(cita)

    estados = dict(EnvioWhatsApp.objects.values_list("tipo", "estado"))
    assert estados["recordatorio_1h"] == EstadoEnvio.ENVIANDO
    assert estados["recordatorio_24h"] == EstadoEnvio.CANCELADO


# Failures never reach the ERP ----------------------------------------------------------


def _falla(cita):
    raise ZeroDivisionError("sin datos")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("etapa", "tipo", "enviados"),
    [
        ("destinatario", "recordatorio", []),
        ("variables", "recordatorio", ["cita_cancelada"]),
        ("condicion", "recordatorio", []),
        ("cancelar_si", "recordatorio", []),
        ("variables_cancelacion", "recordatorio_cancelacion", []),
    ],
    ids=["destinatario", "variables", "condicion", "cancelar_si", "variables_cancelacion"],
)
def test_callable_que_falla__envio_omitido_y_el_guardado_sigue(
    declarar, cliente, outbox, caplog, etapa, tipo, enviados
):
    declarar(**{etapa: _falla})
    with (
        caplog.at_level(logging.ERROR, logger="whatsapp_notify.scheduling.reminders"),
        transaction.atomic(),
    ):
        cita = nueva_cita(cliente)
        cancelar(cita)
        otra = fresca(cita)
        otra.notas = "el ERP sigue en su transacción"
        otra.save()

    assert fresca(cita).notas == "el ERP sigue en su transacción"
    omitido = EnvioWhatsApp.objects.filter(tipo=tipo).first()
    assert (omitido.estado, omitido.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.ERROR_DISPARADOR)
    assert omitido.error_detalle == f"{etapa}: ZeroDivisionError"
    assert omitido.clave is None  # a later date move (once the code is fixed) still schedules
    assert omitido.referencia == cita
    assert activos(cita) == {}
    # Each template stands alone: the reminders' failing callables don't stop the notice.
    assert [m.contenido.nombre for m in outbox] == enviados
    assert "ZeroDivisionError" in caplog.text
    assert "5512345678" not in caplog.text


@pytest.mark.django_db
def test_variables_que_fallan_al_mover__los_viejos_se_cancelan(declarar, cliente):
    llamadas = []

    def variables(cita):
        llamadas.append(cita.pk)
        if len(llamadas) > 1:
            raise ZeroDivisionError("sin datos")
        return ["Ana"]

    declarar(variables=variables)
    cita = mover(nueva_cita(cliente), days=1)

    assert activos(cita) == {}  # none would go out at the old time
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.CANCELADO).count() == 2
    assert EnvioWhatsApp.objects.filter(motivo=MotivoOmision.ERROR_DISPARADOR).count() == 1


@pytest.mark.django_db
def test_cancelar_si_que_falla_al_mover__cancela_sin_aviso(declarar, cliente):
    estados = {"falla": False}

    def cancelar_si(cita):
        if estados["falla"]:
            raise ZeroDivisionError("sin datos")
        return cita.estado == "CANCELADA"

    declarar(cancelar_si=cancelar_si)
    cita = nueva_cita(cliente)
    estados["falla"] = True
    cita = mover(cita, days=1)

    assert activos(cita) == {}
    assert not avisos().exists()


@pytest.mark.django_db
def test_condicion_falsa__sin_recordatorios_ni_aviso(declarar, cliente):
    declarar(condicion=lambda cita: cita.notas != "no molestar")
    cita = nueva_cita(cliente, notas="no molestar")
    cancelar(cita)

    assert not EnvioWhatsApp.objects.exists()


# For what the signals don't see --------------------------------------------------------


@pytest.mark.django_db
def test_programar_a_mano__tras_un_queryset_update(declarar, cliente):
    declarado = declarar()
    cita = nueva_cita(cliente)
    Cita.objects.filter(pk=cita.pk).update(fecha=cita.fecha + timedelta(days=7))

    envios = declarado.programar(fresca(cita))
    otra_vez = declarado.programar(fresca(cita))

    assert [e.tipo for e in envios] == ["recordatorio_24h", "recordatorio_1h"]
    assert [e.pk for e in otra_vez] == [e.pk for e in envios]  # idempotent
    assert envios[0].programado_para == fresca(cita).fecha - H24
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.CANCELADO).count() == 2


@pytest.mark.django_db
def test_cancelar_a_mano__cancela_y_avisa_una_vez(declarar, cliente):
    declarado = declarar()
    cita = nueva_cita(cliente)

    primero = declarado.cancelar(cita)
    segundo = declarado.cancelar(cita)

    assert primero.pk == segundo.pk
    assert primero.tipo == "recordatorio_cancelacion"
    assert activos(cita) == {}


# Declaration -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_declarar_dos_veces__conecta_una_vez_y_gana_la_ultima(declarar, cliente):
    declarar(plantilla="antigua")
    declarar()  # ready() run twice
    nueva_cita(cliente)

    assert list(EnvioWhatsApp.objects.values_list("plantilla", flat=True)) == [
        "recordatorio_cita",
        "recordatorio_cita",
    ]


@pytest.mark.django_db
def test_desconectar__deja_de_programar_y_de_observar(declarar, cliente):
    declarar().desconectar()
    cita = nueva_cita(cliente)

    assert not EnvioWhatsApp.objects.exists()
    assert reminders._Agenda.INSTANTANEA not in fresca(cita).__dict__


def test_declarar_con_la_clase__equivale_al_nombre(declarar):
    declarado = declarar(modelo=Cita, antes=[timedelta(minutes=90), timedelta(days=2)])

    assert declarado.modelo is Cita
    assert [declarado.tipo_de(antes) for antes in declarado.antes] == [
        "recordatorio_48h",
        "recordatorio_90m",
    ]


@pytest.mark.parametrize(
    ("antes", "texto"),
    [(timedelta(hours=24), "24h"), (timedelta(minutes=30), "30m"), (timedelta(seconds=45), "45s")],
    ids=["horas", "minutos", "segundos"],
)
def test_etiqueta__la_unidad_mayor_exacta(antes, texto):
    assert reminders.etiqueta(antes) == texto


@pytest.mark.parametrize(
    ("opciones", "error", "mensaje"),
    [
        ({"modelo": "testapp.NoExiste"}, ImproperlyConfigured, "recordatorio\\(\\): no existe"),
        ({"campo_fecha": "estado"}, ImproperlyConfigured, "DateTimeField"),
        ({"campo_fecha": "hora"}, ImproperlyConfigured, "no tiene el campo 'hora'"),
        ({"antes": [-H1]}, ImproperlyConfigured, "timedelta positivo"),
        ({"antes": [H1, H1]}, ImproperlyConfigured, "sin repetidos"),
        ({"antes": []}, ImproperlyConfigured, "al menos un intervalo"),
        ({"antes": [timedelta(milliseconds=5)]}, ImproperlyConfigured, "segundos enteros"),
        ({"tipo": "r" * 62}, ImproperlyConfigured, "demasiado largo"),
        ({"plantilla_cancelacion": None}, ImproperlyConfigured, "sin plantilla_cancelacion"),
        ({"cancelar_si": True}, TypeError, "cancelar_si debe ser una función"),
        ({"destinatario": "cliente"}, TypeError, "destinatario=lambda"),
        ({"plantilla": ""}, ImproperlyConfigured, "falta plantilla"),
    ],
    ids=[
        "modelo_desconocido",
        "campo_que_no_es_fecha_hora",
        "campo_desconocido",
        "intervalo_negativo",
        "intervalo_repetido",
        "sin_intervalos",
        "fracciones_de_segundo",
        "tipo_largo",
        "variables_sin_plantilla_de_cancelacion",
        "cancelar_si_no_callable",
        "destinatario_no_callable",
        "sin_plantilla",
    ],
)
def test_declaracion_invalida__falla_al_declarar(declarar, opciones, error, mensaje):
    with pytest.raises(error, match=mensaje):
        declarar(**opciones)


def test_declarado_antes_de_cargar_los_modelos__se_resuelve_al_registrarse(declarar, monkeypatch):
    from django.db import models
    from django.test.utils import isolate_apps

    from whatsapp_notify.scheduling import tracking

    with isolate_apps("tests.testapp") as registro:
        monkeypatch.setattr(tracking, "apps", registro)
        # The registry while INSTALLED_APPS are being imported.
        monkeypatch.setattr(registro, "models_ready", False)
        monkeypatch.setattr(registro, "ready", False)
        declarado = declarar(modelo="testapp.Turno", cancelar_si=None)
        assert declarado.modelo is None

        class Turno(models.Model):
            fecha = models.DateTimeField()

            class Meta:
                app_label = "testapp"

            def __str__(self):
                return str(self.fecha)

        assert declarado.modelo is Turno
        assert reminders._Agenda.INSTANTANEA in Turno(fecha=en(days=1)).__dict__


def test_programar__una_instancia_con_fecha_ya_superada_no_programa_nada(declarar, cliente):
    # Two requests move the same appointment at once: the one whose date is no longer the
    # stored one plans nothing, so only the reminders of the stored date stay active.
    rec = declarar()
    cita = nueva_cita(cliente)
    otra = fresca(cita)
    otra.fecha = en(days=5)
    otra.save()
    cita.fecha = en(days=4)  # this request's date, overwritten by the other one

    assert rec._programar(cita) == []

    fechas = {
        envio.programado_para + antes
        for envio, antes in (
            (activos(cita)["recordatorio_24h"][0], H24),
            (activos(cita)["recordatorio_1h"][0], H1),
        )
    }
    assert fechas == {fresca(cita).fecha}
