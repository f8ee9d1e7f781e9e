"""A project set up as the README says, before Meta gave it the sending credentials.

The README reads every option with ``env(..., default=None)``: ``migrate`` runs and
``check`` only warns (W001). The webhook needs only ``APP_SECRET`` and ``VERIFY_TOKEN``
(``docs/en/webhook-meta.md``), so it must be registered in Meta and receive bodies while
``PHONE_NUMBER_ID`` and ``ACCESS_TOKEN`` are still missing; only sending waits (the account
pauses). Everything goes through the real view, URLconf and delivery path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
import responses
from django.test import override_settings
from django.urls import reverse

from tests.proyecto import django_en
from whatsapp_notify import enviar_plantilla
from whatsapp_notify.backends import backends
from whatsapp_notify.exceptions import ConfigurationError
from whatsapp_notify.models import EnvioWhatsApp, EstadoCuenta, EstadoEnvio, EventoWebhook, Mensaje

pytestmark = pytest.mark.django_db

META = "whatsapp_notify.backends.meta.MetaBackend"
SECRETO = "secreto-de-la-app"
VERIFICA = "vtok"
FALTA_NUMERO = 'Falta WHATSAPP_NOTIFY["BACKENDS"]["default"]["OPTIONS"]["PHONE_NUMBER_ID"]'
CUERPO = json.dumps(
    {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881"},
                            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5215512345678"}],
                            "messages": [
                                {
                                    "from": "5215512345678",
                                    "id": "wamid.sin-credenciales",
                                    "timestamp": "1750000000",
                                    "type": "text",
                                    "text": {"body": "Hola"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
).encode()


def como_el_readme(**opciones) -> override_settings:
    """README's settings with these environment variables set (the others unset: None)."""
    leidas = {
        nombre: opciones.get(nombre)
        for nombre in (
            "PHONE_NUMBER_ID",
            "ACCESS_TOKEN",
            "APP_SECRET",
            "VERIFY_TOKEN",
            "BUSINESS_ACCOUNT_ID",
        )
    }
    return override_settings(
        WHATSAPP_NOTIFY={
            "BACKENDS": {"default": {"BACKEND": META, "OPTIONS": leidas}},
            "DEFAULT_REGION": "MX",
            "DEFAULT_LANGUAGE": "es_MX",
            "REQUIRE_CONSENT": False,
            "RATE_LIMIT": None,
        }
    )


def publicar(client, secreto: str = SECRETO):
    firma = "sha256=" + hmac.new(secreto.encode(), CUERPO, hashlib.sha256).hexdigest()
    return client.post(
        reverse("whatsapp_notify:webhook"),
        CUERPO,
        content_type="application/json",
        headers={"X-Hub-Signature-256": firma},
    )


def handshake(client, token: str = VERIFICA):
    parametros = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "123"}
    return client.get(reverse("whatsapp_notify:webhook"), parametros)


def test_webhook__sin_credenciales_de_envio__responde_al_handshake(client):
    with como_el_readme(APP_SECRET=SECRETO, VERIFY_TOKEN=VERIFICA):
        respuesta = handshake(client)

    assert (respuesta.status_code, respuesta.content) == (200, b"123")


def test_webhook__sin_credenciales_de_envio__guarda_y_aplica_el_cuerpo_firmado(client):
    with como_el_readme(APP_SECRET=SECRETO, VERIFY_TOKEN=VERIFICA):
        respuesta = publicar(client)

    assert (respuesta.status_code, respuesta.content) == (200, b"OK")
    [evento] = EventoWebhook.objects.all()
    assert evento.procesado_en is not None
    assert not evento.error
    assert Mensaje.objects.get().wamid == "wamid.sin-credenciales"


def test_webhook__sin_app_secret__rechaza_el_post_sin_guardar_nada(client):
    with como_el_readme(VERIFY_TOKEN=VERIFICA):
        respuesta = publicar(client, secreto="")

    assert respuesta.status_code == 403
    assert not EventoWebhook.objects.exists()
    assert not Mensaje.objects.exists()


def test_webhook__sin_verify_token__rechaza_el_handshake(client):
    with como_el_readme(APP_SECRET=SECRETO):
        respuesta = handshake(client, token="")

    assert respuesta.status_code == 403
    assert b"123" not in respuesta.content


def test_envio__sin_credenciales_de_envio__pausa_la_cuenta_sin_tocar_la_red(
    django_capture_on_commit_callbacks,
):
    with como_el_readme(APP_SECRET=SECRETO, VERIFY_TOKEN=VERIFICA), responses.RequestsMock() as red:
        # Eager Celery (tests.settings): the envío is delivered when the transaction commits.
        with django_capture_on_commit_callbacks(execute=True):
            envio = enviar_plantilla("+52 55 1234 5678", "vehiculo_listo_cliente")
        assert len(red.calls) == 0

    envio = EnvioWhatsApp.objects.get(pk=envio.pk)
    assert (envio.estado, envio.intentos) == (EstadoEnvio.PENDIENTE, 0)
    estado = EstadoCuenta.objects.get(cuenta="default")
    assert estado.pausada
    assert estado.error_detalle.startswith(FALTA_NUMERO)


def test_backend__sin_credenciales__verify_credentials_nombra_la_clave_sin_tocar_la_red():
    with como_el_readme(APP_SECRET=SECRETO), responses.RequestsMock() as red:
        with pytest.raises(ConfigurationError) as error:
            backends["default"].verify_credentials()
        assert len(red.calls) == 0

    assert str(error.value).startswith(FALTA_NUMERO)
    assert "Identificador del número de teléfono" in str(error.value)


def test_backend__valor_mal_formado__sigue_siendo_un_error_al_construirlo():
    with como_el_readme(APP_SECRET=7), pytest.raises(ConfigurationError) as error:
        backends["default"]

    assert '["APP_SECRET"] debe ser texto' in str(error.value)


# -- the README's settings snippet, run as a newcomer pastes it ---------------------------

RAIZ = Path(__file__).resolve().parent.parent
# What ``django-admin startproject`` puts before the lines a newcomer pastes.
CABECERA_STARTPROJECT = """
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "proyecto-nuevo"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db"}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "urls_readme"
"""


def ajustes_del_readme() -> str:
    """The README's ``# settings.py`` block, with its ``...`` placeholders left out."""
    readme = (RAIZ / "README.md").read_text(encoding="utf-8")
    seccion = readme.split("## Installation in your project", 1)[1]
    bloque = seccion.split("```python\n", 1)[1].split("```", 1)[0]
    ajustes = bloque.split("# urls.py", 1)[0]
    assert "INSTALLED_APPS" in ajustes
    assert "WHATSAPP_NOTIFY" in ajustes
    return ajustes.replace("[...,", "[")


@pytest.fixture
def proyecto_del_readme(tmp_path):
    """A project whose settings are startproject's head plus the README's snippet."""
    (tmp_path / "ajustes_readme.py").write_text(CABECERA_STARTPROJECT + ajustes_del_readme())
    (tmp_path / "urls_readme.py").write_text("urlpatterns = []\n")
    python = django_en(tmp_path, "ajustes_readme", sin=("META_", "DJANGO_", "CELERY_", "REDIS_"))
    python.dir = tmp_path
    return python


def test_readme__los_ajustes_leen_el_archivo_env(proyecto_del_readme):
    (proyecto_del_readme.dir / ".env").write_text(
        "META_PHONE_NUMBER_ID=106540352242922\n"
        "META_ACCESS_TOKEN=EAAG-desde-el-env\n"
        "CELERY_BROKER_URL=redis://127.0.0.1:6379/9\n"
    )

    revisado = proyecto_del_readme("check")
    leido = proyecto_del_readme(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; print(settings.CELERY_BROKER_URL)",
    )

    assert revisado.returncode == 0, revisado.stderr
    assert "whatsapp_notify.W001" not in revisado.stderr  # the credentials came from .env
    assert "whatsapp_notify.W003" not in revisado.stderr  # the snippet sets MEDIA_ROOT
    assert leido.stdout.strip() == "redis://127.0.0.1:6379/9", leido.stderr


def test_readme__sin_env_ni_variables__migrate_corre_y_el_broker_no_es_amqp(proyecto_del_readme):
    migrado = proyecto_del_readme("migrate", "-v", "0")
    leido = proyecto_del_readme(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; print(settings.CELERY_BROKER_URL)",
    )

    assert migrado.returncode == 0, migrado.stderr
    assert "whatsapp_notify.W001" in migrado.stderr
    assert leido.stdout.strip().startswith("redis://"), leido.stderr
