"""The REST API against bad input, tampering and concurrent requests.

Every hostile request gets a 4xx in DRF's shape, with a ``code``, and loses or duplicates
nothing. The client does not raise the server's exceptions: a 500 shows as a 500.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from tests import clientes_api
from tests.clientes_api import url
from tests.testapp.models import Cliente, Orden
from whatsapp_notify import enviar_plantilla
from whatsapp_notify.models import (
    ClaseEnvio,
    Conversacion,
    Direccion,
    EnvioWhatsApp,
    EstadoEnvio,
    Mensaje,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sin_limites_guardados")]

TELEFONO = "+52 55 1234 5678"
PDF = b"%PDF-1.4\n% cotizacion 17\n"


def cliente(django_user_model, nombre: str, *permisos: str):
    """A client that shows a server error as a 500 instead of raising it."""
    return clientes_api.cliente(django_user_model, nombre, *permisos, raise_request_exception=False)


TODO = (
    "view_enviowhatsapp", "add_enviowhatsapp", "change_enviowhatsapp",
    "view_consentimientocliente", "add_consentimientocliente", "view_cambioconsentimiento",
    "view_conversacion", "change_conversacion",
)  # fmt: skip


@pytest.fixture
def api(django_user_model):
    return cliente(django_user_model, "operador", *TODO)


def plantilla(**campos) -> dict:
    return {"telefono": TELEFONO, "plantilla": "vehiculo_listo_cliente", **campos}


# --- fields ---------------------------------------------------------------------------------


def test_un_campo_mal_escrito_es_400_y_no_se_envia_nada(api):
    respuesta = api.post(url("api-envio-list"), plantilla(variabels=["Ana"]), format="json")

    assert respuesta.status_code == 400
    assert "variabels" in respuesta.json()
    assert EnvioWhatsApp.objects.count() == 0


def test_una_reaccion_no_acepta_fecha_ni_categoria(api):
    for campo, valor in [
        ("programado_para", (timezone.now() + timedelta(days=3)).isoformat()),
        ("categoria", "marketing"),
    ]:
        respuesta = api.post(
            url("api-envio-list"),
            {"clase": "reaccion", "telefono": TELEFONO, "emoji": "👍", "responde_a": "wamid.X",
             campo: valor},
            format="json",
        )  # fmt: skip
        assert respuesta.status_code == 400, campo
        assert campo in respuesta.json()
    assert EnvioWhatsApp.objects.count() == 0


@pytest.mark.parametrize("clave", ["api:1:r1", "copia:7", "admin:3:x", "respuesta:1:y"])
def test_las_claves_de_la_app_estan_reservadas(api, clave):
    respuesta = api.post(url("api-envio-list"), plantilla(clave=clave), format="json")

    assert respuesta.status_code == 400
    assert "clave" in respuesta.json()


def test_la_misma_clave_para_otro_envio_es_409(api, outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        primero = api.post(url("api-envio-list"), plantilla(clave="ot-9"), format="json")
    otro_telefono = api.post(
        url("api-envio-list"), plantilla(clave="ot-9", telefono="+52 55 9999 0000"), format="json"
    )
    otra_plantilla = api.post(
        url("api-envio-list"), plantilla(clave="ot-9", plantilla="recordatorio"), format="json"
    )
    mismo = api.post(
        url("api-envio-list"), plantilla(clave="ot-9", telefono="55 1234 5678"), format="json"
    )

    assert primero.status_code == 201
    assert (otro_telefono.status_code, otro_telefono.json()["code"]) == (409, "clave_en_uso")
    assert otra_plantilla.status_code == 409
    assert (mismo.status_code, mismo.json()["id"]) == (200, primero.json()["id"])
    assert len(outbox) == 1


def test_coordenadas_como_las_da_javascript(api):
    respuesta = api.post(
        url("api-envio-list"),
        {"clase": "ubicacion", "telefono": TELEFONO, "latitud": 19.432607999999,
         "longitud": -99.13320799999999},
        format="json",
    )  # fmt: skip

    assert respuesta.status_code == 201, respuesta.content


def test_un_archivo_subido_da_su_nombre(api):
    respuesta = api.post(
        url("api-envio-list"),
        {"clase": "documento", "telefono": TELEFONO,
         "documento": SimpleUploadedFile("cotizacion-17.pdf", PDF, "application/pdf")},
        format="multipart",
    )  # fmt: skip

    assert respuesta.status_code == 201, respuesta.content
    assert respuesta.json()["nombre_documento"] == "cotizacion-17.pdf"


@pytest.mark.parametrize("cuerpo", [{"estado": []}, {"ids": [2**70]}, {"error_codigo": 10**30}])
def test_reintentar_con_valores_fuera_de_rango_es_400(api, cuerpo):
    respuesta = api.post(url("api-cola-reintentar"), cuerpo, format="json")

    assert respuesta.status_code == 400


# --- query strings ----------------------------------------------------------------------------


@pytest.mark.parametrize("posicion", [b"p=abc", b"p=1.5", b"p=' OR 1=1 --"])
@pytest.mark.parametrize(
    "ruta", ["api-envio-list", "api-consentimiento-list", "api-conversacion-list"]
)
def test_un_cursor_alterado_es_404(api, ruta, posicion):
    respuesta = api.get(url(ruta), {"cursor": base64.b64encode(posicion).decode()})

    assert respuesta.status_code == 404
    assert respuesta.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "fecha", ["2026-02-30", "2026-13-01T10:00", "2026-01-01T25:00", "2026-01-01T10:00+99:00",
              "0001-01-01T00:00+14:00", "ayer"],
)  # fmt: skip
def test_una_fecha_imposible_es_400(api, fecha):
    for campo in ("creado_desde", "creado_hasta"):
        respuesta = api.get(url("api-envio-list"), {campo: fecha})
        assert respuesta.status_code == 400, (campo, fecha)
        assert campo in respuesta.json()


def test_creado_hasta_una_fecha_incluye_ese_dia(api):
    uno = api.post(url("api-envio-list"), plantilla(), format="json").json()
    hoy = timezone.localdate()

    hasta_hoy = api.get(url("api-envio-list"), {"creado_hasta": hoy.isoformat()}).json()
    hasta_ayer = api.get(
        url("api-envio-list"), {"creado_hasta": (hoy - timedelta(days=1)).isoformat()}
    ).json()

    assert [fila["id"] for fila in hasta_hoy["results"]] == [uno["id"]]
    assert hasta_ayer["results"] == []


@pytest.mark.parametrize(("ruta", "campo"), [("api-cola", "horas"), ("api-estadisticas", "dias")])
def test_digitos_que_no_son_ascii_son_400(api, ruta, campo):
    for valor in ("²", "٣", "-1", "1e3"):
        assert api.get(url(ruta), {campo: valor}).status_code == 400, valor


@pytest.mark.parametrize(
    ("ruta", "campo"),
    [("api-envio-list", "cuenta"), ("api-envio-list", "clave"), ("api-cola", "cuenta"),
     ("api-consentimiento-list", "cuenta"), ("api-consentimiento-estado", "cuenta"),
     ("api-conversacion-list", "cuenta"), ("api-avisos", "tipo")],
)  # fmt: skip
def test_un_nulo_en_la_consulta_es_400(api, ruta, campo):
    respuesta = api.get(url(ruta), {campo: "a\x00b", "telefono": TELEFONO})

    assert respuesta.status_code == 400
    assert respuesta.json()["code"] == "caracter_nulo"


def test_opciones_que_no_existen_en_los_filtros_son_400(api):
    assert api.get(url("api-conversacion-list"), {"estado": "inventado"}).status_code == 400
    assert api.get(url("api-consentimiento-list"), {"categoria": "spam"}).status_code == 400
    assert api.get(url("api-consentimiento-list"), {"estado": "quizas"}).status_code == 400


# --- referencias ------------------------------------------------------------------------------


def test_un_tipo_de_contenido_sin_modelo_es_400(api):
    ContentType.objects.create(app_label="app_quitada", model="fantasma")

    aviso = api.get(url("api-avisos"), {"referencia_tipo": "app_quitada.fantasma",
                                       "referencia_id": "1"})  # fmt: skip
    envio = api.post(
        url("api-envio-list"),
        plantilla(referencia_tipo="app_quitada.fantasma", referencia_id="1"),
        format="json",
    )

    assert (aviso.status_code, envio.status_code) == (400, 400)
    assert "referencia_tipo" in aviso.json()
    assert "referencia_tipo" in envio.json()


def test_avisos_no_dice_si_un_objeto_existe(api, django_user_model):
    usuario = django_user_model.objects.create_user("otro")

    existe = api.get(url("api-avisos"), {"referencia_tipo": "auth.user",
                                        "referencia_id": usuario.pk})  # fmt: skip
    no_existe = api.get(url("api-avisos"), {"referencia_tipo": "auth.user",
                                           "referencia_id": 987654})  # fmt: skip

    assert (existe.status_code, no_existe.status_code) == (200, 200)
    assert existe.json()["avisos"] == no_existe.json()["avisos"] == {}


def test_una_copia_pide_el_permiso_de_crear_envios(django_user_model):
    solo_cambiar = cliente(
        django_user_model, "cambia", "view_enviowhatsapp", "change_enviowhatsapp"
    )
    orden = Orden.objects.create(numero="OT-1", cliente=Cliente.objects.create(nombre="Ana"))
    envio = enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", referencia=orden, tipo="listo")
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(estado=EstadoEnvio.ENTREGADO)

    respuesta = solo_cambiar.post(
        url("api-avisos-reenviar"),
        {"referencia_tipo": "testapp.orden", "referencia_id": str(orden.pk), "tipo": "listo",
         "copia_de": envio.pk},
        format="json",
    )  # fmt: skip

    assert respuesta.status_code == 403
    assert EnvioWhatsApp.objects.count() == 1


def test_responder_pide_el_permiso_de_crear_envios(django_user_model):
    conversacion = Conversacion.objects.create(
        telefono="525512345678", ventana_hasta=timezone.now() + timedelta(hours=1)
    )
    sin_add = cliente(django_user_model, "agente", "view_conversacion", "change_conversacion")

    respuesta = sin_add.post(url("api-conversacion-responder", conversacion.pk), {"texto": "Hola"})

    assert respuesta.status_code == 403
    assert EnvioWhatsApp.objects.count() == 0


def test_responder_con_la_misma_clave_es_200_la_segunda_vez(api):
    conversacion = Conversacion.objects.create(
        telefono="525512345678", ventana_hasta=timezone.now() + timedelta(hours=1)
    )
    Mensaje.objects.create(direccion=Direccion.ENTRANTE, telefono="525512345678",
                           wamid="wamid.in", conversacion=conversacion)  # fmt: skip
    pedido = {"texto": "Ya está listo", "clave": "r1"}

    primera = api.post(url("api-conversacion-responder", conversacion.pk), pedido, format="json")
    segunda = api.post(url("api-conversacion-responder", conversacion.pk), pedido, format="json")

    assert (primera.status_code, segunda.status_code) == (201, 200)
    assert primera.json()["id"] == segunda.json()["id"]


# --- error shapes -----------------------------------------------------------------------------


def test_un_404_lleva_su_codigo(api):
    for ruta in (url("api-envio-detail", 999999), url("api-conversacion-detail", 999999)):
        respuesta = api.get(ruta)
        assert respuesta.status_code == 404
        assert respuesta.json()["code"] == "not_found"


# --- concurrency (PostgreSQL) -----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_la_vez_con_la_misma_clave_un_solo_201_y_un_solo_envio(
    postgres, django_user_model, outbox
):
    from tests.test_race_postgres import en_hilos

    api = cliente(django_user_model, "concurrente", *TODO)
    pedido = plantilla(clave="carrera-1")

    respuestas = en_hilos(
        *[lambda: api.post(url("api-envio-list"), pedido, format="json") for _ in range(6)]
    )

    codigos = sorted(respuesta.status_code for respuesta in respuestas)
    assert codigos == [200] * 5 + [201]
    assert len({respuesta.json()["id"] for respuesta in respuestas}) == 1
    assert EnvioWhatsApp.objects.filter(clave="carrera-1").count() == 1
    assert EnvioWhatsApp.objects.get(clave="carrera-1").clase == ClaseEnvio.PLANTILLA


def test_options_describe_lo_que_acepta_el_post(api):
    acciones = api.options(url("api-envio-list")).json()["actions"]["POST"]

    assert "plantilla" in acciones
    assert not acciones["plantilla"]["read_only"]
    assert "id" not in acciones


def test_la_raiz_lista_las_colecciones(api):
    raiz = api.get(reverse("whatsapp_notify:api-root"), HTTP_ACCEPT="application/json")

    assert raiz.status_code == 200
    assert {"envios", "consentimientos", "conversaciones"} <= set(raiz.json())
