"""Media in: with ``MEDIA_DOWNLOAD``, a worker stores each inbound file (SHA-256 checked,
size capped), retries what failed for a while, and never holds up the webhook.

Inbound bodies are Meta's, signed and posted to the webhook view; the files are served by
the Cloud API sandbox, as Meta's media URLs are.
"""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import timedelta

import pytest
from django.db import models
from django.utils import timezone

from tests.test_sandbox import META_BACKEND, TOKEN
from tests.test_webhooks import CLIENTE, SECRETO, VERIFICA, envoltura, mensajes, publicar
from whatsapp_notify import signals, tasks
from whatsapp_notify.inbound import media
from whatsapp_notify.models import EstadoDescarga, Mensaje
from whatsapp_notify.sandbox import Sandbox
from whatsapp_notify.sandbox.media import Media

pytestmark = pytest.mark.django_db
FOTO = b"\xff\xd8\xff\xe0" + b"recibo de pago" * 100


@pytest.fixture
def caja(wa_settings):
    """A Meta account whose media the sandbox serves; images are downloaded."""
    with Sandbox(None, token=TOKEN) as sandbox:
        opciones = {
            "PHONE_NUMBER_ID": "123", "ACCESS_TOKEN": TOKEN, "BASE_URL": sandbox.base_url,
            "APP_SECRET": SECRETO, "VERIFY_TOKEN": VERIFICA,
        }  # fmt: skip
        wa_settings(
            BACKENDS={"default": {"BACKEND": META_BACKEND, "OPTIONS": opciones}},
            MEDIA_DOWNLOAD=("image",),
            MAX_ATTEMPTS=3,
        )
        yield sandbox


def subir(caja, contenido: bytes = FOTO, media_id: str = "4490709327384033") -> str:
    caja.media[media_id] = Media(media_id, contenido, "image/jpeg", "recibo.jpg")
    return media_id


def foto(wamid: str, media_id: str, sha256: str | None = None, tipo: str = "image") -> dict:
    datos = {
        "id": media_id, "mime_type": "image/jpeg", "caption": "Monto: 500 / Fecha: 2025-01-15",
        "sha256": sha256 or base64.b64encode(hashlib.sha256(FOTO).digest()).decode(),
    }  # fmt: skip
    return {"from": CLIENTE, "id": wamid, "timestamp": str(int(time.time())), "type": tipo,
            tipo: datos}  # fmt: skip


def recibir(client, capturar, mensaje: dict) -> Mensaje:
    with capturar(execute=True):
        assert publicar(client, envoltura([mensajes(mensaje)])).status_code == 200
    return Mensaje.objects.get(wamid=mensaje["id"])


def test_la_foto_se_guarda_con_su_sha256_y_avisa(client, caja, django_capture_on_commit_callbacks):
    avisos = []

    def receptor(sender, mensaje, **kwargs):
        avisos.append(mensaje.pk)

    signals.media_descargada.connect(receptor)
    try:
        mensaje = recibir(client, django_capture_on_commit_callbacks, foto("wamid.F1", subir(caja)))
    finally:
        signals.media_descargada.disconnect(receptor)

    assert (mensaje.descarga, mensaje.descarga_intentos, mensaje.descarga_error) == (
        EstadoDescarga.DESCARGADA, 1, "",
    )  # fmt: skip
    with mensaje.archivo.open("rb") as archivo:
        assert archivo.read() == FOTO
    assert mensaje.archivo.name.endswith(".jpg")
    assert mensaje.texto == "Monto: 500 / Fecha: 2025-01-15"
    assert avisos == [mensaje.pk]


def test_un_tipo_que_no_se_pide_no_se_descarga(client, caja, django_capture_on_commit_callbacks):
    documento = foto("wamid.D1", subir(caja), tipo="document")

    mensaje = recibir(client, django_capture_on_commit_callbacks, documento)

    assert (mensaje.descarga, mensaje.archivo.name) == ("", "")


def test_demasiado_grande__no_se_guarda_y_lo_dice(
    client, caja, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(MEDIA_MAX_BYTES=100)

    mensaje = recibir(client, django_capture_on_commit_callbacks, foto("wamid.F2", subir(caja)))

    assert mensaje.descarga == EstadoDescarga.OMITIDA
    assert "MEDIA_MAX_BYTES" in mensaje.descarga_error
    assert mensaje.archivo.name == ""


def test_la_media_que_ya_no_existe_falla_sin_reintentos(
    client, caja, django_capture_on_commit_callbacks
):
    import requests

    media_id = subir(caja)  # then deleted, as Meta does after 30 days
    borrada = requests.delete(
        f"{caja.base_url}/v25.0/{media_id}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert borrada.ok

    mensaje = recibir(client, django_capture_on_commit_callbacks, foto("wamid.F3", media_id))

    assert (mensaje.descarga, mensaje.descarga_intentos) == (EstadoDescarga.FALLIDA, 1)
    assert mensaje.descarga_error


def test_un_sha256_que_no_coincide_se_reintenta_y_al_final_falla(
    client, caja, django_capture_on_commit_callbacks
):
    malo = base64.b64encode(hashlib.sha256(b"otra cosa").digest()).decode()
    mensaje = recibir(
        client, django_capture_on_commit_callbacks, foto("wamid.F4", subir(caja), sha256=malo)
    )
    assert (mensaje.descarga, mensaje.descarga_intentos) == (EstadoDescarga.PENDIENTE, 1)
    assert mensaje.descarga_en > timezone.now()
    assert media.por_descargar() == []  # not before its wait is over

    for _ in range(2):  # Beat, each time its wait is over
        [pk] = media.por_descargar(timezone.now() + timedelta(hours=2))
        tasks.descargar_media(pk)

    mensaje.refresh_from_db()
    assert (mensaje.descarga, mensaje.descarga_intentos) == (EstadoDescarga.FALLIDA, 3)
    assert "SHA-256" in mensaje.descarga_error
    assert "tras 3 intentos" in mensaje.descarga_error
    assert mensaje.archivo.name == ""


def test_proveedor_caido__reintenta_y_luego_se_guarda(
    client, caja, wa_settings, django_capture_on_commit_callbacks
):
    from django.conf import settings

    bueno = settings.WHATSAPP_NOTIFY["BACKENDS"]["default"]
    caido = {
        **bueno,
        "OPTIONS": {**bueno["OPTIONS"], "BASE_URL": "http://127.0.0.1:9", "TIMEOUT": 1},
    }
    wa_settings(BACKENDS={"default": caido})
    media_id = subir(caja)

    mensaje = recibir(client, django_capture_on_commit_callbacks, foto("wamid.F5", media_id))
    assert (mensaje.descarga, mensaje.descarga_intentos) == (EstadoDescarga.PENDIENTE, 1)

    wa_settings(BACKENDS={"default": bueno})
    [pk] = media.por_descargar(timezone.now() + timedelta(hours=1))
    assert tasks.descargar_media(pk) == EstadoDescarga.DESCARGADA
    assert tasks.descargar_media(pk) == ""  # once: a second task finds nothing to do


def test_un_worker_que_murio_descargando__otro_toma_la_descarga(caja):
    mensaje = Mensaje.objects.create(
        direccion="entrante", telefono="525512345678", tipo="image", media_id=subir(caja),
        descarga=EstadoDescarga.DESCARGANDO, descarga_en=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip

    assert media.por_descargar() == [mensaje.pk]
    assert media.descargar_pendiente(mensaje.pk) == EstadoDescarga.DESCARGADA


def test_uno_que_descarga_otro_worker_no_se_toca(caja):
    mensaje = Mensaje.objects.create(
        direccion="entrante", telefono="525512345678", tipo="image", media_id=subir(caja),
        descarga=EstadoDescarga.DESCARGANDO, descarga_en=timezone.now() + timedelta(minutes=5),
    )  # fmt: skip

    assert media.por_descargar() == []
    assert media.descargar_pendiente(mensaje.pk) == ""


def test_check__media_download_mal_escrito_es_e014(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.WHATSAPP_NOTIFY = {**settings.WHATSAPP_NOTIFY, "MEDIA_DOWNLOAD": "image"}

    with pytest.raises(SystemCheckError, match="E014"):
        call_command("check")


def test_un_worker_que_muere_siempre__la_descarga_termina_fallida(caja):
    mensaje = Mensaje.objects.create(
        direccion="entrante", telefono="525512345678", tipo="image", media_id=subir(caja),
        descarga=EstadoDescarga.PENDIENTE, descarga_en=timezone.now(),
    )  # fmt: skip

    for _ in range(3):  # MAX_ATTEMPTS: each claim counts, as if the worker died on it
        Mensaje.objects.filter(pk=mensaje.pk).update(
            descarga=EstadoDescarga.PENDIENTE, descarga_intentos=models.F("descarga_intentos") + 1
        )
    assert media.descargar_pendiente(mensaje.pk) == EstadoDescarga.FALLIDA
    mensaje.refresh_from_db()
    assert "Ningún worker terminó" in mensaje.descarga_error


def test_media_download_mal_escrito_en_marcha_no_pierde_el_mensaje(
    client, caja, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(MEDIA_DOWNLOAD=None)

    mensaje = recibir(client, django_capture_on_commit_callbacks, foto("wamid.F9", subir(caja)))

    assert (mensaje.descarga, mensaje.texto) == ("", "Monto: 500 / Fecha: 2025-01-15")
