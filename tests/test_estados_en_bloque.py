"""Statuses applied in bulk (``apply.aplicar_estados_en_bloque``): the same result as one by
one, in a few statements, and the odd ones (failed, unknown, known by reference only)
still through the one-by-one path.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from whatsapp_notify import signals, tasks
from whatsapp_notify.events import (
    BAJA_MARKETING,
    DELIVERED,
    FAILED,
    PLAYED,
    READ,
    SENT,
    ErrorProveedor,
    EventoEstado,
    EventoMensaje,
)
from whatsapp_notify.inbound import store
from whatsapp_notify.inbound.apply import aplicar
from whatsapp_notify.models import ClaseEnvio, EnvioWhatsApp, EstadoEnvio, EventoWebhook, Mensaje
from whatsapp_notify.references import referencia_de
from whatsapp_notify.sandbox.webhooks import EnvioAceptado, Negocio, sobre
from whatsapp_notify.sandbox.webhooks import estado as estado_sandbox

pytestmark = pytest.mark.django_db

# Set by the database on every status (its own "now"), so not compared between runs.
RELOJ = {"id", "wamid", "telefono", "actualizado_en", "confirmado_en", "creado_en"}


@pytest.fixture
def cambios():
    recibidos = []

    def receptor(sender, envio, estado_anterior, estado, **kwargs):
        recibidos.append((envio.wamid, estado_anterior, estado))

    signals.envio_estado_cambiado.connect(receptor)
    yield recibidos
    signals.envio_estado_cambiado.disconnect(receptor)


def envios(prefijo: str, n: int, estado: str = EstadoEnvio.ENVIADO) -> list[EnvioWhatsApp]:
    return [
        EnvioWhatsApp.objects.create(
            telefono=f"5255100{i:05d}",
            clase=ClaseEnvio.PLANTILLA,
            plantilla="vehiculo_listo_cliente",
            estado=estado,
            intentos=1,
            wamid=f"wamid.{prefijo}.{i}",
        )
        for i in range(n)
    ]


def historia(prefijo: str, n: int, semilla: int) -> list[EventoEstado]:
    """Statuses in a shuffled order (Meta does not keep it), with their pricing."""
    azar = random.Random(semilla)
    t0 = timezone.now() - timedelta(hours=1)
    eventos = []
    for i in range(n):
        for paso, status in enumerate(azar.sample([SENT, DELIVERED, READ, PLAYED], k=3)):
            eventos.append(
                EventoEstado(
                    wamid=f"wamid.{prefijo}.{i}",
                    estado=status,
                    fecha=t0 + timedelta(seconds=10 * paso + i),
                    destinatario=f"52155100{i:05d}",
                    conversacion_id=f"conv-{i}" if status == SENT else "",
                    facturable=True if status in (SENT, DELIVERED) else None,
                    precio_categoria="utility" if status == DELIVERED else "",
                )
            )
    azar.shuffle(eventos)
    return eventos


def filas(prefijo: str) -> list[dict]:
    resultado = []
    for fila in EnvioWhatsApp.objects.filter(wamid__startswith=f"wamid.{prefijo}.").order_by("pk"):
        valores = {
            campo.attname: getattr(fila, campo.attname)
            for campo in fila._meta.concrete_fields
            if campo.attname not in RELOJ
        }
        resultado.append(valores)
    return resultado


def renombrar(eventos: list[EventoEstado], de: str, a: str) -> list[EventoEstado]:
    from dataclasses import replace

    return [replace(e, wamid=e.wamid.replace(f".{de}.", f".{a}.")) for e in eventos]


@pytest.mark.parametrize("semilla", [1, 2, 3])
def test_en_bloque__mismo_resultado_que_uno_a_uno(semilla, cambios):
    envios("bloque", 12)
    envios("uno", 12)
    eventos = historia("bloque", 12, semilla)

    en_bloque = aplicar(eventos, "default")
    cambios_en_bloque = sorted((w.replace(".bloque.", "."), a, e) for w, a, e in cambios)
    cambios.clear()
    for evento in renombrar(eventos, "bloque", "uno"):
        aplicar([evento], "default")
    cambios_uno_a_uno = sorted((w.replace(".uno.", "."), a, e) for w, a, e in cambios)

    assert filas("bloque") == filas("uno")
    assert cambios_en_bloque == cambios_uno_a_uno
    assert (en_bloque.eventos, en_bloque.estados, en_bloque.errores) == (36, 36, 0)
    assert {f["estado"] for f in filas("bloque")} == {EstadoEnvio.LEIDO}


def test_en_bloque__sin_receptores_mismo_resultado_que_uno_a_uno():
    """With nobody listening the bulk path leaves the content columns unread: they keep
    what they held."""
    programado = timezone.now() - timedelta(hours=2)
    for envio in [*envios("bloque", 6), *envios("uno", 6)]:
        envio.variables, envio.texto, envio.nombre = ["Ana", "OT-1"], "cuerpo", "Ana"
        envio.interactivo = {"botones": [{"id": "si", "titulo": "Sí"}]}
        envio.programado_para = envio.despachado_en = programado
        envio.save()
    eventos = historia("bloque", 6, semilla=4)
    assert not signals.envio_estado_cambiado.has_listeners(EnvioWhatsApp)

    en_bloque = aplicar(eventos, "default")
    for evento in renombrar(eventos, "bloque", "uno"):
        aplicar([evento], "default")

    assert filas("bloque") == filas("uno")
    assert {f["estado"] for f in filas("bloque")} == {EstadoEnvio.LEIDO}
    assert {(f["texto"], f["nombre"]) for f in filas("bloque")} == {("cuerpo", "Ana")}
    assert {f["despachado_en"] for f in filas("bloque")} == {programado}
    assert (en_bloque.estados, en_bloque.errores) == (18, 0)


def test_en_bloque__el_receptor_recibe_el_envio_entero():
    envios("entero", 3)
    EnvioWhatsApp.objects.update(variables=["Ana"], texto="cuerpo")
    vistos = []

    def receptor(sender, envio, estado_anterior, estado, **kwargs):
        vistos.append((envio.get_deferred_fields(), envio.variables, envio.texto, estado))

    signals.envio_estado_cambiado.connect(receptor)
    try:
        aplicar(
            [EventoEstado(wamid=f"wamid.entero.{i}", estado=DELIVERED) for i in range(3)],
            "default",
        )
    finally:
        signals.envio_estado_cambiado.disconnect(receptor)

    assert vistos == [(set(), ["Ana"], "cuerpo", EstadoEnvio.ENTREGADO)] * 3


def test_en_bloque__textos_con_comillas_llaves_y_null_llegan_tal_cual(cambios):
    """What an array literal has to quote (PostgreSQL writes each column as one array)."""
    raros = ['a"b', "c,d", "{e}", "NULL", "f\\g", "h'i", " j ", "ñ😀"]
    envios("bloque", 8)
    envios("uno", 8)
    t0 = timezone.now() - timedelta(minutes=5)
    eventos = [
        EventoEstado(
            wamid=f"wamid.bloque.{i}",
            estado=status,
            fecha=t0 + timedelta(seconds=paso),
            conversacion_id=raro if status == SENT else "",
            precio_categoria=raro if status == DELIVERED else "",
        )
        for i, raro in enumerate(raros)
        for paso, status in enumerate([SENT, DELIVERED])
    ]

    aplicar(eventos, "default")
    for evento in renombrar(eventos, "bloque", "uno"):
        aplicar([evento], "default")

    assert filas("bloque") == filas("uno")
    assert [f["conversacion_id"] for f in filas("bloque")] == raros


def test_en_bloque__pocas_consultas_por_cuerpo():
    envios("tormenta", 100)
    eventos = [EventoEstado(wamid=f"wamid.tormenta.{i}", estado=DELIVERED) for i in range(100)]

    with CaptureQueriesContext(connection) as consultas:
        aplicados = aplicar(eventos, "default")

    assert aplicados.estados == 100
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.ENTREGADO).count() == 100
    # The transaction, the locking SELECT and the UPDATE(s): not several per status.
    assert len(consultas) <= 8, "\n".join(q["sql"][:80] for q in consultas.captured_queries)


def test_en_bloque__los_demas_van_uno_a_uno_en_el_mismo_cuerpo(cambios):
    conocido, otro, fallido = envios("mezcla", 3)
    sin_wamid = EnvioWhatsApp.objects.create(
        telefono="525510099999",
        clase=ClaseEnvio.PLANTILLA,
        plantilla="vehiculo_listo_cliente",
        estado=EstadoEnvio.ENVIANDO,  # its worker died before saving the wamid
        intentos=1,
    )
    baja = ErrorProveedor(code=131050, title="marketing stopped", significado=BAJA_MARKETING)
    eventos = [
        EventoEstado(wamid=conocido.wamid, estado=DELIVERED),
        EventoEstado(wamid="wamid.de.otra.app", estado=DELIVERED),
        EventoMensaje(wamid="wamid.entrante", de="5215510011111", tipo="text", texto="hola"),
        EventoEstado(wamid=otro.wamid, estado=READ),
        EventoEstado(
            wamid="wamid.copia.recuperada",
            estado=SENT,
            destinatario="52155100" + "99999",
            referencia=referencia_de(sin_wamid.pk),
        ),
        EventoEstado(wamid=fallido.wamid, estado=FAILED, errores=(baja,)),
    ]

    aplicados = aplicar(eventos, "default")

    def estado_de(envio):
        return EnvioWhatsApp.objects.get(pk=envio.pk)

    assert estado_de(conocido).estado == EstadoEnvio.ENTREGADO
    assert estado_de(otro).estado == EstadoEnvio.LEIDO
    assert estado_de(otro).entregado_en is not None  # a read proves the delivery
    recuperado = estado_de(sin_wamid)
    assert (recuperado.estado, recuperado.wamid) == (EstadoEnvio.ENVIADO, "wamid.copia.recuperada")
    assert estado_de(fallido).estado == EstadoEnvio.FALLIDO
    assert estado_de(fallido).error_codigo == 131050
    assert aplicados.consentimientos == 1  # the marketing stop, one by one as before
    assert (aplicados.eventos, aplicados.estados, aplicados.desconocidos) == (6, 4, 1)
    assert aplicados.mensajes == 1
    assert sorted(e for _w, _a, e in cambios) == sorted(
        [EstadoEnvio.ENTREGADO, EstadoEnvio.LEIDO, EstadoEnvio.ENVIADO, EstadoEnvio.FALLIDO]
    )


def test_en_bloque__un_estado_atrasado_no_hace_retroceder_ni_pisa_marcas():
    [envio] = envios("atrasado", 1, estado=EstadoEnvio.LEIDO)
    leido_en = timezone.now() - timedelta(minutes=5)
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(leido_en=leido_en, entregado_en=leido_en)
    otro = envios("atrasado2", 1)[0]

    aplicar(
        [
            EventoEstado(wamid=envio.wamid, estado=DELIVERED, fecha=timezone.now()),
            EventoEstado(wamid=otro.wamid, estado=DELIVERED),
        ],
        "default",
    )

    fila = EnvioWhatsApp.objects.get(pk=envio.pk)
    assert (fila.estado, fila.entregado_en, fila.leido_en) == (
        EstadoEnvio.LEIDO,
        leido_en,
        leido_en,
    )


# -- many stored bodies, one task (store.procesar_lote) ----------------------------------

NUMERO = "106540352242922"


@pytest.fixture
def meta(wa_settings):
    opciones = {"PHONE_NUMBER_ID": NUMERO, "ACCESS_TOKEN": "t", "APP_SECRET": "secreto"}
    wa_settings(
        BACKENDS={
            "default": {"BACKEND": "whatsapp_notify.backends.meta.MetaBackend", "OPTIONS": opciones}
        }
    )


def guardar(value: dict) -> EventoWebhook:
    """Store a body as the view does before processing it."""
    negocio = Negocio(NUMERO, "15550000000", "102290129340398")
    evento, _nuevo = store.guardar_evento("default", sobre(negocio, value))
    return evento


def un_estado(envio: EnvioWhatsApp, status: str = DELIVERED) -> dict:
    aceptado = EnvioAceptado(envio.wamid, envio.telefono, True, referencia_de(envio.pk))
    return {"statuses": [estado_sandbox(aceptado, status, time.time())]}


def resultados(cuerpos: list[EventoWebhook]) -> list[tuple]:
    return [
        (fila.eventos, fila.desconocidos, fila.error, fila.procesado_en is not None)
        for fila in EventoWebhook.objects.filter(pk__in=[c.pk for c in cuerpos]).order_by("pk")
    ]


def test_lote__la_primera_tarea_aplica_los_cuerpos_que_esperan_y_las_demas_no_consultan(meta):
    lista = envios("cuerpos", 30)
    cuerpos = [guardar(un_estado(envio)) for envio in lista]
    ajeno = guardar(
        {
            "statuses": [
                estado_sandbox(EnvioAceptado("wamid.x", "52155", True), DELIVERED, time.time())
            ]
        }
    )
    mensaje = guardar(
        {
            "messages": [
                {"from": "5215510011111", "id": "wamid.in.1", "timestamp": "1750000000",
                 "type": "text", "text": {"body": "Hola"}}
            ]
        }
    )  # fmt: skip

    assert tasks.procesar_webhook(cuerpos[3].pk) is True

    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.ENTREGADO).count() == 30
    assert resultados(cuerpos) == [(1, 0, "", True)] * 30
    assert resultados([ajeno, mensaje]) == [(1, 1, "", True), (1, 0, "", True)]
    assert Mensaje.objects.filter(wamid="wamid.in.1").count() == 1
    with CaptureQueriesContext(connection) as consultas:
        assert [tasks.procesar_webhook(c.pk) for c in cuerpos] == [False] * 30
    assert len(consultas) == 0  # this process took them: it knows without asking


def test_lote__otro_proceso_que_ya_los_tomo_cuesta_una_consulta(meta):
    [envio] = envios("otro", 1)
    cuerpo = guardar(un_estado(envio))
    assert store.procesar_evento_webhook(cuerpo.pk) is True  # e.g. inline, or another worker

    with CaptureQueriesContext(connection) as consultas:
        assert tasks.procesar_webhook(cuerpo.pk) is False
    assert len(consultas) == 1


def test_lote__un_cuerpo_ilegible_queda_con_su_error_y_los_demas_se_aplican(meta, monkeypatch):
    lista = envios("ilegible", 3)
    cuerpos = [guardar(un_estado(envio)) for envio in lista]
    from whatsapp_notify.backends.meta import MetaBackend

    original = MetaBackend.parse_webhook

    def leer(self, peticion):
        if b"ilegible.1" in peticion.body:
            raise ValueError("cuerpo raro")
        return original(self, peticion)

    monkeypatch.setattr(MetaBackend, "parse_webhook", leer)

    assert store.procesar_lote(cuerpos[0].pk) == 3

    filas = resultados(cuerpos)
    assert filas[0] == filas[2] == (1, 0, "", True)
    assert filas[1][2] == "ValueError: cuerpo raro"
    assert filas[1][3] is True
    estados = dict(
        EnvioWhatsApp.objects.filter(pk__in=[e.pk for e in lista]).values_list("pk", "estado")
    )
    assert [estados[e.pk] for e in lista] == [
        EstadoEnvio.ENTREGADO,
        EstadoEnvio.ENVIADO,
        EstadoEnvio.ENTREGADO,
    ]


def test_lote__toma_como_mucho_su_limite(meta):
    lista = envios("limite", 5)
    cuerpos = [guardar(un_estado(envio)) for envio in lista]

    assert store.procesar_lote(cuerpos[4].pk, limite=3) == 3

    hechos = [r[3] for r in resultados(cuerpos)]
    assert hechos == [True, True, False, False, True]  # its own, then the oldest waiting


@pytest.mark.django_db(transaction=True)
def test_lote__dos_workers_a_la_vez_se_reparten_los_cuerpos_sin_repetir(postgres, meta):
    del postgres
    lista = envios("paralelo", 60)
    cuerpos = [guardar(un_estado(envio, READ)) for envio in lista]
    cambios = []
    signals.envio_estado_cambiado.connect(
        receptor := lambda sender, envio, **k: cambios.append(envio.pk)
    )
    barrera = threading.Barrier(2)
    tomados = []

    def worker(primero):
        barrera.wait()
        try:
            tomados.append(store.procesar_lote(primero, limite=40))
        finally:
            connection.close()

    hilos = [threading.Thread(target=worker, args=(c.pk,)) for c in (cuerpos[0], cuerpos[-1])]
    try:
        for hilo in hilos:
            hilo.start()
        for hilo in hilos:
            hilo.join(30)
        # Disjoint batches (SKIP LOCKED); one may have taken the other's own body (then
        # that task returns 0). The bodies left are taken by their own tasks, as in
        # production.
        assert 0 < sum(tomados) <= 60
        for cuerpo in cuerpos:
            store.procesar_lote(cuerpo.pk, limite=40)
    finally:
        signals.envio_estado_cambiado.disconnect(receptor)

    assert resultados(cuerpos) == [(1, 0, "", True)] * 60
    assert (
        EnvioWhatsApp.objects.filter(pk__in=[e.pk for e in lista], estado=EstadoEnvio.LEIDO).count()
        == 60
    )
    assert sorted(cambios) == sorted(e.pk for e in lista)  # each change announced once
