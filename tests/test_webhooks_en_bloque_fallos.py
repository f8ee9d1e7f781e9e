"""Faults and odd input for statuses applied in bulk (``apply.aplicar_estados_en_bloque``,
``store.procesar_lote``): order against failures, what a signal receiver sees, two workers
with crossed envíos, huge bodies and values, the in-process cache of processed bodies."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from tests.test_estados_en_bloque import NUMERO, RELOJ, envios, guardar
from tests.test_estados_en_bloque import meta as _meta
from whatsapp_notify import signals, tasks
from whatsapp_notify.events import DELIVERED, FAILED, READ, SENT, ErrorProveedor, EventoEstado
from whatsapp_notify.inbound import apply, store
from whatsapp_notify.inbound.apply import aplicar
from whatsapp_notify.models import ClaseEnvio, EnvioWhatsApp, EstadoEnvio, EventoWebhook
from whatsapp_notify.references import referencia_de
from whatsapp_notify.sandbox.webhooks import EnvioAceptado
from whatsapp_notify.sandbox.webhooks import estado as estado_sandbox

pytestmark = pytest.mark.django_db

meta = _meta  # the account default on the Meta backend (a fixture)


@pytest.fixture
def cambios():
    recibidos = []

    def receptor(sender, envio, estado_anterior, estado, **kwargs):
        # what a receiver sees on the instance when it is told of the change
        recibidos.append((envio.wamid, estado_anterior, estado, envio.estado, envio.leido_en))

    signals.envio_estado_cambiado.connect(receptor)
    yield recibidos
    signals.envio_estado_cambiado.disconnect(receptor)


def fila(envio):
    f = EnvioWhatsApp.objects.get(pk=envio.pk)
    return {
        c.attname: getattr(f, c.attname) for c in f._meta.concrete_fields if c.attname not in RELOJ
    }


def cuerpo(envio, status, cuando, codigo_error=0):
    aceptado = EnvioAceptado(envio.wamid, envio.telefono, True, referencia_de(envio.pk))
    return {"statuses": [estado_sandbox(aceptado, status, cuando, codigo_error)]}


# -- 1. order of failed vs. bulk statuses -------------------------------------------------


def test_un_cuerpo_failed_luego_delivered_igual_que_uno_a_uno(cambios):
    """One body [failed X, delivered X, delivered Y]: bulk path vs one event at a time."""
    x, y = envios("bloque", 2)
    x2, y2 = envios("uno", 2)
    t = timezone.now() - timedelta(minutes=5)
    err = (ErrorProveedor(code=131026, title="undeliverable"),)

    def eventos(a, b):
        return [
            EventoEstado(wamid=a.wamid, estado=FAILED, fecha=t, errores=err),
            EventoEstado(wamid=a.wamid, estado=DELIVERED, fecha=t + timedelta(seconds=5)),
            EventoEstado(wamid=b.wamid, estado=DELIVERED, fecha=t),
        ]

    aplicar(eventos(x, y), "default")
    en_bloque = [c[1:3] for c in cambios if c[0] == x.wamid]
    cambios.clear()
    for e in eventos(x2, y2):
        aplicar([e], "default")
    uno_a_uno = [c[1:3] for c in cambios if c[0] == x2.wamid]

    print("bloque", fila(x)["estado"], en_bloque, "| uno a uno", fila(x2)["estado"], uno_a_uno)
    assert fila(x) == fila(x2)
    assert en_bloque == uno_a_uno


def test_lote_failed_en_un_cuerpo_delivered_en_otro(meta, cambios):
    """Two stored bodies, failed (older) then delivered (newer), of the same envío, applied
    by one worker task, vs. the same two bodies of another envío applied one at a time."""
    x, x2, otro = envios("lote", 3)
    ahora = time.time()
    b1 = guardar(cuerpo(x, FAILED, ahora - 60, 131026))
    b2 = guardar(cuerpo(x, DELIVERED, ahora - 30))
    b3 = guardar(cuerpo(otro, DELIVERED, ahora - 30))
    assert store.procesar_lote(b1.pk) == 3
    en_bloque = [c[1:3] for c in cambios if c[0] == x.wamid]
    cambios.clear()
    c1 = guardar(cuerpo(x2, FAILED, ahora - 60, 131026))
    c2 = guardar(cuerpo(x2, DELIVERED, ahora - 30))
    assert store.procesar_evento_webhook(c1.pk)
    assert store.procesar_evento_webhook(c2.pk)
    uno_a_uno = [c[1:3] for c in cambios if c[0] == x2.wamid]
    a, b = fila(x), fila(x2)
    print("lote:", a["estado"], a["error_codigo"], en_bloque)
    print("uno a uno:", b["estado"], b["error_codigo"], uno_a_uno)
    assert (a["estado"], en_bloque) == (b["estado"], uno_a_uno)
    del b2, b3


# -- 2. what a receiver sees ----------------------------------------------------------------


def test_senal_ve_el_estado_que_anuncia(meta, cambios):
    """delivered and read of one envío in one batch: two signals; the instance handed to the
    first one should be in the estado the signal announces (as one by one)."""
    [x, y] = envios("senal", 2)
    ahora = time.time()
    b1 = guardar(cuerpo(x, DELIVERED, ahora - 60))
    guardar(cuerpo(x, READ, ahora - 30))
    guardar(cuerpo(y, DELIVERED, ahora - 30))
    store.procesar_lote(b1.pk)
    de_x = [c for c in cambios if c[0] == x.wamid]
    print(de_x)
    assert [c[1:3] for c in de_x] == [
        (EstadoEnvio.ENVIADO, EstadoEnvio.ENTREGADO),
        (EstadoEnvio.ENTREGADO, EstadoEnvio.LEIDO),
    ]
    for _w, _a, anunciado, en_instancia, _l in de_x:
        assert en_instancia == anunciado


# -- 3. a failure after the bulk step: signals for rolled-back changes -------------------


# -- 4. two accounts ----------------------------------------------------------------------

OTRO_NUMERO = "222222222222222"


@pytest.fixture
def dos_cuentas(wa_settings):
    def meta_de(numero, secreto):
        return {
            "BACKEND": "whatsapp_notify.backends.meta.MetaBackend",
            "OPTIONS": {"PHONE_NUMBER_ID": numero, "ACCESS_TOKEN": "t", "APP_SECRET": secreto},
        }

    wa_settings(BACKENDS={"default": meta_de(NUMERO, "s1"), "otra": meta_de(OTRO_NUMERO, "s2")})


def test_wamid_de_otra_cuenta_no_se_toca(dos_cuentas, cambios):
    [mio] = envios("mio", 1)
    ajeno = EnvioWhatsApp.objects.create(
        telefono="525510077777", clase=ClaseEnvio.PLANTILLA, plantilla="p", cuenta="otra",
        estado=EstadoEnvio.ENVIADO, intentos=1, wamid="wamid.ajeno.0",
    )  # fmt: skip
    ahora = time.time()
    b1 = guardar(cuerpo(ajeno, READ, ahora - 10))  # arrives on default's URL, default's number
    guardar(cuerpo(mio, READ, ahora - 10))
    store.procesar_lote(b1.pk)
    assert EnvioWhatsApp.objects.get(pk=ajeno.pk).estado == EstadoEnvio.ENVIADO
    assert EnvioWhatsApp.objects.get(pk=mio.pk).estado == EstadoEnvio.LEIDO
    assert [c[0] for c in cambios] == [mio.wamid]


# -- 5. big and odd bodies ---------------------------------------------------------------


def test_cuerpo_de_mil_estados_y_valores_enormes(meta, cambios):
    lista = envios("mil", 1000)
    ahora = time.time()
    items = []
    for e in lista:
        aceptado = EnvioAceptado(e.wamid, e.telefono, True, referencia_de(e.pk))
        item = estado_sandbox(aceptado, DELIVERED, ahora - 5)
        item["pricing"] = {
            "billable": True,
            "pricing_model": "P" * 5000,
            "category": "c" * 5000,
            "type": "t" * 5000,
        }
        item["conversation"] = {
            "id": "x" * 5000,
            "origin": {"type": "o" * 5000},
            "expiration_timestamp": "99999999999999",
        }
        items.append(item)
    b = guardar({"statuses": items})
    assert store.procesar_lote(b.pk) == 1
    r = EventoWebhook.objects.get(pk=b.pk)
    assert (r.eventos, r.desconocidos, r.error, r.procesado_en is not None) == (1000, 0, "", True)
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.ENTREGADO).count() == 1000
    assert len(cambios) == 1000


def test_wamid_demasiado_largo_en_bloque(meta):
    largo = "wamid." + "L" * 400
    from whatsapp_notify.limits import id_a_la_medida

    corto = id_a_la_medida(EnvioWhatsApp, "wamid", largo)
    e = EnvioWhatsApp.objects.create(
        telefono="525510011111", clase=ClaseEnvio.PLANTILLA, plantilla="p",
        estado=EstadoEnvio.ENVIADO, intentos=1, wamid=corto,
    )  # fmt: skip
    [otro] = envios("largo", 1)
    aplicar(
        [EventoEstado(wamid=largo, estado=READ), EventoEstado(wamid=otro.wamid, estado=READ)],
        "default",
    )
    assert EnvioWhatsApp.objects.get(pk=e.pk).estado == EstadoEnvio.LEIDO


def test_cuerpos_duplicados(meta, cambios):
    [x, y] = envios("dup", 2)
    valor = cuerpo(x, READ, time.time() - 5)
    b1 = guardar(valor)
    b1b = guardar(valor)
    assert b1.pk == b1b.pk
    guardar(cuerpo(y, READ, time.time() - 5))
    assert store.procesar_lote(b1.pk) == 2
    assert store.procesar_lote(b1.pk) == 0
    assert len(cambios) == 2


# -- 6. injected failure inside the bulk UPDATE: falls back one by one -------------------


def test_error_en_el_update_en_bloque_cae_a_uno_a_uno(meta, cambios, monkeypatch):
    lista = envios("update", 10)
    cuerpos = [guardar(cuerpo(e, READ, time.time() - 5)) for e in lista]
    original = apply._escribir_en_bloque
    llamadas = []

    def roto(envios_, campos):
        llamadas.append(1)
        if len(campos) > 1:  # the 10-row bulk write: write, then blow up
            original(envios_, campos)
            from django.db import IntegrityError

            raise IntegrityError("violates check constraint")
        return original(envios_, campos)

    monkeypatch.setattr(apply, "_escribir_en_bloque", roto)
    assert store.procesar_lote(cuerpos[0].pk) == 10
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.LEIDO).count() == 10
    assert [c[1:3] for c in cambios] == [(EstadoEnvio.ENVIADO, EstadoEnvio.LEIDO)] * 10
    filas = EventoWebhook.objects.filter(pk__in=[c.pk for c in cuerpos])
    assert all(f.procesado_en and f.error == "" for f in filas)


# -- 7. _Recientes -----------------------------------------------------------------------


def test_recientes_no_salta_un_cuerpo_que_vuelve_a_estar_pendiente(meta, monkeypatch):
    """A body a batch processed, then reprocessed by the admin with a passing database
    error (left with procesado_en NULL): a task for it must not be skipped."""
    [x, y] = envios("recientes", 2)
    b1 = guardar(cuerpo(x, READ, time.time() - 5))
    guardar(cuerpo(y, READ, time.time() - 5))
    assert store.procesar_lote(b1.pk) == 2
    EnvioWhatsApp.objects.filter(pk=x.pk).update(estado=EstadoEnvio.ENVIADO, leido_en=None)

    original = apply.aplicar

    def transitorio(eventos, cuenta):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(apply, "aplicar", transitorio)
    store.reprocesar([b1.pk])
    monkeypatch.setattr(apply, "aplicar", original)
    assert EventoWebhook.objects.get(pk=b1.pk).procesado_en is None  # pending again
    assert tasks.procesar_webhook(b1.pk) is True, "skipped by the in-process cache"


# -- 8. PostgreSQL: overlapping batches of two workers -----------------------------------


@pytest.mark.django_db(transaction=True)
def test_pg_dos_workers_con_envios_cruzados(postgres, meta, monkeypatch):
    """Worker A's batch: read E1 (bulk) + failed E2 (one by one); worker B's: read E2 (bulk)
    + failed E1. Both hold their bulk locks when going one by one."""
    import threading

    from django.db import connection

    del postgres
    e1, e2, e3, e4 = envios("cruz", 4, estado=EstadoEnvio.ENVIANDO)
    ahora = time.time()
    a1 = guardar(cuerpo(e1, READ, ahora - 50))
    guardar(cuerpo(e3, READ, ahora - 50))
    guardar(cuerpo(e2, FAILED, ahora - 40, 131026))
    b1 = guardar(cuerpo(e2, READ, ahora - 30))
    guardar(cuerpo(e4, READ, ahora - 30))
    guardar(cuerpo(e1, FAILED, ahora - 20, 131026))
    todos = list(EventoWebhook.objects.order_by("pk"))
    assert len(todos) == 6

    original = apply.aplicar_estados_en_bloque
    a_en_bloque = threading.Event()

    def lento(pares):
        hechos = original(pares)
        if threading.current_thread().name == "A":
            a_en_bloque.set()
            time.sleep(1.0)  # A holds its locks while B starts its batch
        return hechos

    monkeypatch.setattr(apply, "aplicar_estados_en_bloque", lento)
    tomados, errores = {}, []

    # limit 3: A takes its own body and the next two oldest; B, once A is in, the rest.
    def worker(nombre, primero):
        if nombre == "B":
            a_en_bloque.wait(20)
        try:
            tomados[nombre] = store.procesar_lote(primero, limite=3)
        except Exception as exc:
            errores.append(exc)
        finally:
            connection.close()

    hilos = [
        threading.Thread(target=worker, args=("A", a1.pk), name="A"),
        threading.Thread(target=worker, args=("B", b1.pk), name="B"),
    ]
    for h in hilos:
        h.start()
    for h in hilos:
        h.join(60)
    resultado = list(
        EventoWebhook.objects.order_by("pk").values_list("pk", "procesado_en", "error")
    )
    print("tomados", tomados, "errores", errores)
    for r in resultado:
        print(r)
    print(list(EnvioWhatsApp.objects.order_by("pk").values_list("wamid", "estado")))
    assert not errores
    assert tomados == {"A": 3, "B": 3}
    assert all(p is not None for _pk, p, _e in resultado), "a body left for Beat (deadlock)"
    assert all(e == "" for _pk, _p, e in resultado)
    # One by one: E2's failure (an older body) is terminal; E2's later read changes nothing.
    assert EnvioWhatsApp.objects.get(pk=e2.pk).estado == EstadoEnvio.FALLIDO


# -- 9. mixed values through the bulk UPDATE (PG casts: NULL, bool, tz datetimes) --------


def test_lote_valores_mezclados_igual_que_uno_a_uno(meta, cambios):
    import random

    azar = random.Random(7)
    estados_iniciales = [
        EstadoEnvio.ENVIANDO,
        EstadoEnvio.INCIERTO,
        EstadoEnvio.ENVIADO,
        EstadoEnvio.PENDIENTE,
    ]
    pares = []
    for i in range(16):
        ini = estados_iniciales[i % 4]
        a = envios(f"mixa{i}", 1, estado=ini)[0]
        b = envios(f"mixb{i}", 1, estado=ini)[0]
        EnvioWhatsApp.objects.filter(pk__in=[a.pk, b.pk]).update(
            error_codigo=131000 if i % 2 else None, error_titulo="timeout" if i % 2 else ""
        )
        pares.append((a, b))
    ahora = time.time() - 100
    guion = []
    for a, b in pares:
        for st in azar.sample([SENT, DELIVERED, READ], k=3):
            guion.append((a, b, st, ahora + azar.random() * 50, azar.random() < 0.5))
    primeros = []
    for a, _b, st, t, plantilla in guion:
        ac = EnvioAceptado(a.wamid, a.telefono, plantilla, referencia_de(a.pk))
        primeros.append(guardar({"statuses": [estado_sandbox(ac, st, t)]}))
    store.procesar_lote(primeros[0].pk)
    for _a, b, st, t, plantilla in guion:
        ac = EnvioAceptado(b.wamid, b.telefono, plantilla, referencia_de(b.pk))
        store.procesar_evento_webhook(guardar({"statuses": [estado_sandbox(ac, st, t)]}).pk)
    for a, b in pares:
        fa, fb = fila(a), fila(b)
        (
            fa.pop("conversacion_id"),
            fb.pop("conversacion_id"),
        )  # the sandbox derives it from the wamid
        assert fa == fb
    de = lambda p: sorted(c[1:3] for c in cambios if f".{p}" in c[0])  # noqa: E731
    assert sorted(c[1:3] for c in cambios if ".mixa" in c[0]) == sorted(
        c[1:3] for c in cambios if ".mixb" in c[0]
    )
    del de
