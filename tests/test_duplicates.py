"""Re-sends against late status webhooks: hold while the account's webhooks lag, record
a duplicate when a status proves one, and ask the operator before re-sending an incierto.

The Graph API is mocked at the transport (``responses``); statuses come back as real
signed webhook POSTs through the view. "The receiver is down" means the test withholds
the status bodies, runs Beat's dispatch, and posts them later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta

import pytest
import requests
import responses
from django.urls import reverse
from django.utils import timezone

from whatsapp_notify import enviar_plantilla, signals
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio, EventoWebhook
from whatsapp_notify.outbound import delivery
from whatsapp_notify.outbound.delivery import Resultado
from whatsapp_notify.references import referencia_de

pytestmark = pytest.mark.django_db

META = "whatsapp_notify.backends.meta.MetaBackend"
SECRETO = "secreto-de-la-app"
NUMERO_ID = "1234567890"
MENSAJES = f"https://graph.facebook.com/v25.0/{NUMERO_ID}/messages"
CLIENTE = "+52 55 1234 5678"
CLIENTE_WA_ID = "5215512345678"
OTRO = "+52 33 1234 5678"
OTRO_WA_ID = "5213312345678"
RECONCILIAR = 900
BEAT = "whatsapp_notify.outbound.reconciliation"


@pytest.fixture
def meta(wa_settings):
    opciones = {"PHONE_NUMBER_ID": NUMERO_ID, "ACCESS_TOKEN": "EAAG-prueba", "APP_SECRET": SECRETO}
    wa_settings(
        BACKENDS={"default": {"BACKEND": META, "OPTIONS": {**opciones, "TIMEOUT": 2}}},
        RECONCILE_AFTER=RECONCILIAR,
    )
    # The copy a fixed Beat no longer sends stays registered: not every answer is used.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def duplicados():
    """Every ``envio_duplicado`` signal of the test, as (envío id, wamid)."""
    recibidos = []

    def receptor(sender, envio, wamid, **kwargs):
        recibidos.append((envio.pk, wamid))

    signals.envio_duplicado.connect(receptor)
    yield recibidos
    signals.envio_duplicado.disconnect(receptor)


def aceptado(wamid: str, wa_id: str) -> dict:
    contacto = {"input": f"+{wa_id}", "wa_id": wa_id}
    return {"messaging_product": "whatsapp", "contacts": [contacto], "messages": [{"id": wamid}]}


def nuevo_envio(telefono: str = CLIENTE) -> EnvioWhatsApp:
    return enviar_plantilla(telefono, "vehiculo_listo_cliente", variables=["Ana", "Mazda", "OT-1"])


def enviados_a(mock, wa_id: str) -> int:
    """How many ``messages`` requests went to the phone ``wa_id``."""
    cuerpos = [json.loads(llamada.request.body) for llamada in mock.calls]
    return sum(1 for cuerpo in cuerpos if cuerpo["to"].lstrip("+").endswith(wa_id[-10:]))


def estado(wamid: str, status: str, envio: EnvioWhatsApp, wa_id: str = CLIENTE_WA_ID) -> dict:
    """A Meta status item, with the envío id echoed in ``biz_opaque_callback_data``."""
    return {
        "id": wamid,
        "status": status,
        "timestamp": str(int(timezone.now().timestamp())),
        "recipient_id": wa_id,
        "biz_opaque_callback_data": referencia_de(envio.pk),
    }


def cuerpo_de_estados(*items: dict) -> bytes:
    metadata = {"display_phone_number": "15550783881", "phone_number_id": NUMERO_ID}
    valor = {"messaging_product": "whatsapp", "metadata": metadata, "statuses": list(items)}
    cambio = {"field": "messages", "value": valor}
    cuerpo = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [cambio]}]}
    return json.dumps(cuerpo).encode()


def publicar(client, crudo: bytes):
    firma = "sha256=" + hmac.new(SECRETO.encode(), crudo, hashlib.sha256).hexdigest()
    respuesta = client.post(
        reverse("whatsapp_notify:webhook"),
        crudo,
        content_type="application/json",
        headers={"X-Hub-Signature-256": firma},
    )
    assert respuesta.status_code == 200
    return EventoWebhook.objects.get(sha256=hashlib.sha256(crudo).hexdigest())


def despachar(ahora: datetime | None = None) -> list[int]:
    """What Beat's ``despachar`` does at ``ahora`` (default: the database's clock, as Beat
    reads it): find the due envíos and deliver them."""
    ids = delivery.envios_por_despachar(ahora)
    for pk in ids:
        delivery.entregar(pk)
    return ids


def leer(envio: EnvioWhatsApp) -> EnvioWhatsApp:
    return EnvioWhatsApp.objects.get(pk=envio.pk)


def incierto_por(causa: str, mock) -> EnvioWhatsApp:
    """An envío whose first copy (``wamid.A``) reached Meta but was never recorded."""
    envio = nuevo_envio()
    if causa == "timeout":
        mock.add(responses.POST, MENSAJES, body=requests.ReadTimeout("Read timed out."))
        assert delivery.entregar(envio.pk).resultado == Resultado.INCIERTO
    else:
        # The worker claimed it, the request left, and the process died before saving.
        hace_poco = timezone.now() - timedelta(seconds=5)
        EnvioWhatsApp.objects.filter(pk=envio.pk).update(
            estado=EstadoEnvio.ENVIANDO, reclamado_en=hace_poco, intentos=1
        )
        mock.add(responses.POST, MENSAJES, json=aceptado("wamid.A", CLIENTE_WA_ID))
        requests.post(MENSAJES, json={"to": CLIENTE_WA_ID}, timeout=1)  # what left before dying
    return envio


CAUSAS = [pytest.param("timeout", id="timeout"), pytest.param("worker-muerto", id="worker-muerto")]


# -- the failure: webhooks down longer than RECONCILE_AFTER ------------------------------


@pytest.mark.parametrize("causa", CAUSAS)
def test_webhooks_atrasados__no_se_reenvia_y_el_estado_tardio_asienta_el_envio(client, meta, causa):
    envio = incierto_por(causa, meta)
    # Other customers' sends keep going; their statuses are held back too.
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.C", OTRO_WA_ID))
    otro = nuevo_envio(OTRO)
    assert delivery.entregar(otro.pk).resultado == Resultado.ENVIADO
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.B", CLIENTE_WA_ID))

    # The receiver is down: Beat runs after RECONCILE_AFTER with no status in.
    despues = timezone.now() + timedelta(seconds=RECONCILIAR + 1)
    despachar(despues)
    despachar(despues + timedelta(minutes=5))

    assert enviados_a(meta, CLIENTE_WA_ID) == 1
    assert leer(envio).estado == EstadoEnvio.INCIERTO

    # The receiver is back: Meta delivers the statuses it retried.
    llegado = publicar(
        client,
        cuerpo_de_estados(estado("wamid.A", "delivered", envio), estado("wamid.C", "sent", otro)),
    )

    envio = leer(envio)
    assert (llegado.eventos, llegado.desconocidos) == (2, 0)
    assert (envio.estado, envio.wamid, envio.duplicado) == (EstadoEnvio.ENTREGADO, "wamid.A", False)
    assert envio.confirmado_en is not None
    assert despachar(despues + timedelta(hours=1)) == []
    assert enviados_a(meta, CLIENTE_WA_ID) == 1


def test_cuenta_tranquila__el_incierto_espera_sin_reenviarse_y_se_registra_una_vez(meta, caplog):
    envio = incierto_por("timeout", meta)
    despues = timezone.now() + timedelta(seconds=RECONCILIAR + 1)

    with caplog.at_level(logging.WARNING, logger=BEAT):
        for minuto in range(5):
            despachar(despues + timedelta(minutes=minuto))

    envio = leer(envio)
    assert enviados_a(meta, CLIENTE_WA_ID) == 1
    assert envio.estado == EstadoEnvio.INCIERTO
    assert envio.proximo_intento > despues + timedelta(minutes=4)
    retenidos = [r for r in caplog.records if r.name == BEAT and str(envio.pk) in r.getMessage()]
    assert len(retenidos) == 1


AVISO = timedelta(seconds=RECONCILIAR) + timedelta(hours=1)  # reconciliation.AVISAR_TRAS


@pytest.mark.parametrize(
    "agotado", [pytest.param(False, id="retenido"), pytest.param(True, id="sin-intentos")]
)
def test_cuenta_tranquila__pasado_el_plazo_se_avisa_a_admins_una_vez_y_no_se_reenvia(
    meta, mailoutbox, wa_settings, agotado
):
    if agotado:
        wa_settings(MAX_ATTEMPTS=1)
    envio = incierto_por("timeout", meta)
    intentado = leer(envio).reclamado_en
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.B", CLIENTE_WA_ID))

    despachar(intentado + AVISO - timedelta(minutes=1))
    assert mailoutbox == []

    for horas in (0, 1, 24, 24 * 30):
        despachar(intentado + AVISO + timedelta(hours=horas, minutes=1))

    assert len(mailoutbox) == 1
    aviso = mailoutbox[0]
    assert "1 envío(s) sin confirmar esperan tu decisión" in aviso.subject
    assert f"Envíos: {envio.pk}" in aviso.body
    assert intentado.isoformat(timespec="minutes") in aviso.body
    assert "«Reenviar»" in aviso.body
    assert "estado «Sin confirmar»" in aviso.body  # the admin's name for incierto
    assert "5678" not in aviso.body  # never a phone number
    envio = leer(envio)
    assert (envio.estado, enviados_a(meta, CLIENTE_WA_ID)) == (EstadoEnvio.INCIERTO, 1)
    assert "Avisado a los administradores" in envio.error_detalle


def test_cuenta_tranquila__otro_retenido_mas_tarde_tiene_su_propio_aviso(meta, mailoutbox):
    primero = incierto_por("timeout", meta)
    despachar(leer(primero).reclamado_en + AVISO + timedelta(minutes=1))
    segundo = nuevo_envio(OTRO)
    EnvioWhatsApp.objects.filter(pk=segundo.pk).update(
        estado=EstadoEnvio.INCIERTO, intentos=1, reclamado_en=timezone.now() + timedelta(hours=3)
    )

    despachar(timezone.now() + timedelta(hours=3) + AVISO + timedelta(minutes=1))

    assert ["1 envío(s) sin confirmar" in aviso.subject for aviso in mailoutbox] == [True] * 2
    assert f"Envíos: {segundo.pk}\n" in mailoutbox[1].body


def test_whatsapp_check__senala_los_que_esperan_una_decision(meta):
    from whatsapp_notify.management.commands.whatsapp_check import revisar_reconciliacion

    envio = incierto_por("timeout", meta)
    despachar(leer(envio).reclamado_en + AVISO + timedelta(minutes=1))

    lineas = revisar_reconciliacion("default")

    assert [linea.nivel.name for linea in lineas] == ["WARN", "WARN"]
    assert "1 envío(s) sin confirmar esperan tu decisión" in lineas[-1].detalle
    assert "«Reenviar»" in lineas[-1].fix


def test_webhooks_al_dia__el_incierto_se_reenvia_una_vez(client, meta):
    # The first copy never went out (Meta never got it): no status will ever come for it.
    envio = incierto_por("timeout", meta)
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.C", OTRO_WA_ID))
    otro = nuevo_envio(OTRO)
    delivery.entregar(otro.pk)
    despues = timezone.now() + timedelta(seconds=RECONCILIAR + 1)
    despachar(despues)
    assert enviados_a(meta, CLIENTE_WA_ID) == 1

    # The statuses of later sends come back: the account's webhooks are current.
    publicar(client, cuerpo_de_estados(estado("wamid.C", "sent", otro, OTRO_WA_ID)))
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.B", CLIENTE_WA_ID))

    assert despachar(despues + timedelta(minutes=2)) == [envio.pk]
    assert despachar(despues + timedelta(minutes=3)) == []

    envio = leer(envio)
    assert enviados_a(meta, CLIENTE_WA_ID) == 2
    assert (envio.estado, envio.wamid, envio.intentos) == (EstadoEnvio.ENVIADO, "wamid.B", 2)


# -- a duplicate that happened anyway is recorded ------------------------------------------


@pytest.mark.parametrize("causa", CAUSAS)
def test_estado_de_la_primera_copia_tras_el_reenvio__se_registra_como_duplicado(
    client, meta, duplicados, causa
):
    envio = incierto_por(causa, meta)
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.C", OTRO_WA_ID))
    otro = nuevo_envio(OTRO)
    delivery.entregar(otro.pk)
    publicar(client, cuerpo_de_estados(estado("wamid.C", "sent", otro, OTRO_WA_ID)))
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.B", CLIENTE_WA_ID))
    despachar(timezone.now() + timedelta(seconds=RECONCILIAR + 1))
    publicar(client, cuerpo_de_estados(estado("wamid.B", "delivered", envio)))

    # The lag rule was satisfied, yet the first copy's status arrives after all.
    primero = publicar(client, cuerpo_de_estados(estado("wamid.A", "sent", envio)))
    segundo = publicar(client, cuerpo_de_estados(estado("wamid.A", "read", envio)))

    envio = leer(envio)
    assert enviados_a(meta, CLIENTE_WA_ID) == 2
    assert (envio.estado, envio.wamid) == (EstadoEnvio.ENTREGADO, "wamid.B")
    assert (envio.duplicado, envio.wamids_duplicados) == (True, ["wamid.A"])
    assert envio.leido_en is None  # the other copy's read says nothing of this one
    assert duplicados == [(envio.pk, "wamid.A")]
    assert [(e.eventos, e.desconocidos) for e in (primero, segundo)] == [(1, 0), (1, 0)]


# -- another app on the same WABA echoes its own callback data ------------------------------

AJENOS = [
    pytest.param("{pk}", id="numero-igual-al-id"),
    pytest.param("wn:{pk}:0123456789abcdef", id="etiqueta-falsa"),
]


@pytest.mark.parametrize("dato", AJENOS)
def test_dato_de_otra_app__no_asienta_nuestro_incierto(client, meta, dato):
    envio = incierto_por("timeout", meta)
    ajeno = estado("wamid.OTRA_APP", "sent", envio)
    ajeno["biz_opaque_callback_data"] = dato.format(pk=envio.pk)

    llegado = publicar(client, cuerpo_de_estados(ajeno))

    envio = leer(envio)
    assert (envio.estado, envio.wamid, envio.enviado_en) == (EstadoEnvio.INCIERTO, None, None)
    assert envio.confirmado_en is None
    assert llegado.desconocidos == 1


@pytest.mark.parametrize("dato", AJENOS)
def test_dato_de_otra_app__no_marca_duplicado_un_envio_entregado(client, meta, duplicados, dato):
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.NUESTRO", CLIENTE_WA_ID))
    envio = nuevo_envio()
    delivery.entregar(envio.pk)
    publicar(client, cuerpo_de_estados(estado("wamid.NUESTRO", "delivered", envio)))
    ajeno = estado("wamid.OTRA_APP", "delivered", envio)
    ajeno["biz_opaque_callback_data"] = dato.format(pk=envio.pk)

    publicar(client, cuerpo_de_estados(ajeno))

    envio = leer(envio)
    assert (envio.estado, envio.wamid) == (EstadoEnvio.ENTREGADO, "wamid.NUESTRO")
    assert (envio.duplicado, envio.wamids_duplicados, duplicados) == (False, [], [])


# -- counted where operators look ------------------------------------------------------------


def test_whatsapp_check__avisa_de_duplicados_y_de_inciertos_retenidos(meta):
    from whatsapp_notify.management.commands.whatsapp_check import revisar_reconciliacion

    assert revisar_reconciliacion("default") == []
    envio = incierto_por("timeout", meta)
    despachar(timezone.now() + timedelta(seconds=RECONCILIAR + 1))
    EnvioWhatsApp.objects.create(
        telefono="525599999999", clase="texto", estado=EstadoEnvio.ENTREGADO, duplicado=True
    )

    duplicados, retenidos = revisar_reconciliacion("default")

    assert (duplicados.nivel.name, retenidos.nivel.name) == ("WARN", "WARN")
    assert "1 envío(s) de los últimos 7 días llegaron dos veces" in duplicados.detalle
    assert "1 envío(s) sin confirmar esperan" in retenidos.detalle
    assert "atrasados" in leer(envio).error_detalle


def test_alerta_de_fallos__cuenta_los_duplicados():
    from django.core import mail

    from whatsapp_notify.outbound import maintenance

    ahora = timezone.now()
    filas = [
        EnvioWhatsApp(clase="texto", estado=EstadoEnvio.ENTREGADO, enviado_en=ahora, duplicado=d)
        for d in (True, True, False)
    ]
    filas += [
        EnvioWhatsApp(clase="texto", estado=EstadoEnvio.FALLIDO, fallido_en=ahora)
        for _ in range(20)
    ]
    EnvioWhatsApp.objects.bulk_create(filas)

    assert maintenance.medir_fallos(ahora - timedelta(hours=1), ahora).duplicados == 2
    assert maintenance.alertar_fallos(ahora) is True
    assert "llegaron dos veces al cliente (duplicados): 2" in mail.outbox[0].body


# -- one clock for re-send decisions: the database's ---------------------------------------

RELOJ = timezone.now  # the real clock, taken before any test moves a host's


def reloj_del_host(monkeypatch, desfase: timedelta) -> None:
    """This process plays a host whose clock is ``desfase`` off."""
    monkeypatch.setattr(timezone, "now", lambda: RELOJ() + desfase)


def cuenta_al_dia() -> EnvioWhatsApp:
    """Another send of the account, accepted two minutes ago, whose status came back."""
    return EnvioWhatsApp.objects.create(
        telefono=OTRO_WA_ID,
        clase="plantilla",
        plantilla="vehiculo_listo_cliente",
        estado=EstadoEnvio.ENTREGADO,
        intentos=1,
        wamid="wamid.C",
        enviado_en=RELOJ() - timedelta(minutes=2),
        confirmado_en=RELOJ(),
    )


def test_reloj_del_worker_atrasado__beat_no_reenvia_lo_que_sigue_en_vuelo(meta, monkeypatch):
    envio = nuevo_envio()
    reloj_del_host(monkeypatch, timedelta(minutes=-20))  # the worker's host
    assert delivery.reclamar(envio.pk)  # ...and its request is in flight
    monkeypatch.setattr(timezone, "now", RELOJ)  # Beat's host, on time
    cuenta_al_dia()
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.B", CLIENTE_WA_ID))

    assert despachar() == []

    assert (leer(envio).estado, leer(envio).intentos) == (EstadoEnvio.ENVIANDO, 1)
    assert enviados_a(meta, CLIENTE_WA_ID) == 0


def test_reloj_de_beat_adelantado__beat_lee_la_hora_de_la_base(postgres, meta, monkeypatch):
    envio = nuevo_envio()
    assert delivery.reclamar(envio.pk)
    cuenta_al_dia()
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.B", CLIENTE_WA_ID))
    reloj_del_host(monkeypatch, timedelta(minutes=20))  # Beat's host runs ahead

    assert despachar() == []

    assert leer(envio).estado == EstadoEnvio.ENVIANDO
    assert enviados_a(meta, CLIENTE_WA_ID) == 0


def test_reloj_del_worker_atrasado__el_incierto_espera_reconcile_after_de_la_base(
    meta, monkeypatch
):
    # Its proximo_intento comes from the worker's clock, 20 minutes early.
    reloj_del_host(monkeypatch, timedelta(minutes=-20))
    envio = incierto_por("timeout", meta)
    monkeypatch.setattr(timezone, "now", RELOJ)
    cuenta_al_dia()
    EnvioWhatsApp.objects.filter(wamid="wamid.C").update(enviado_en=RELOJ())
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.B", CLIENTE_WA_ID))

    assert despachar(RELOJ() + timedelta(seconds=RECONCILIAR - 60)) == []
    assert leer(envio).estado == EstadoEnvio.INCIERTO
    assert despachar(RELOJ() + timedelta(seconds=RECONCILIAR + 60)) == [envio.pk]
    assert enviados_a(meta, CLIENTE_WA_ID) == 2


def test_reloj_del_worker_atrasado__sus_marcas_son_la_hora_de_la_base(meta, monkeypatch):
    meta.add(responses.POST, MENSAJES, json=aceptado("wamid.A", CLIENTE_WA_ID))
    envio = nuevo_envio()
    antes = RELOJ() - timedelta(seconds=1)  # SQLite keeps milliseconds
    reloj_del_host(monkeypatch, timedelta(minutes=-20))

    assert delivery.entregar(envio.pk).resultado == Resultado.ENVIADO

    envio = leer(envio)
    assert antes <= envio.reclamado_en <= RELOJ()
    assert antes <= envio.enviado_en <= RELOJ()


def test_log_de_inciertos__nombra_veinte_envios_como_mucho():
    # A backlog of uncertain envíos made one log line with every id (thousands of them).
    from whatsapp_notify.outbound.reconciliation import _algunos

    assert _algunos(list(range(1571))) == ", ".join(map(str, range(20))) + " …"
    assert _algunos([7, 8]) == "7, 8"
