"""The REST API (``whatsapp_notify.api``): envíos, queue, consents, conversations, figures.

Requests go through DRF's test client to the real URLs; the database is the suite's, the
provider the locmem backend (eager Celery delivers on commit).
"""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.clientes_api import url, usuario
from tests.testapp.models import Cliente, Orden
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
DIGITOS = "525512345678"
PDF = b"%PDF-1.4\n% cotizacion 17\n"


@pytest.fixture
def api(django_user_model):
    """A client logged in as an operator with every permission on envíos and the rest."""
    cliente = APIClient()
    cliente.force_authenticate(
        usuario(
            django_user_model, "operador",
            "view_enviowhatsapp", "add_enviowhatsapp", "change_enviowhatsapp",
            "view_consentimientocliente", "add_consentimientocliente",
            "view_cambioconsentimiento",
            "view_conversacion", "change_conversacion",
        )
    )  # fmt: skip
    return cliente


@pytest.fixture
def publicar(django_capture_on_commit_callbacks):
    """Make a request and run what it left for the commit (the enqueue, eager here)."""

    def hacer(metodo, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return metodo(*args, **kwargs)

    return hacer


def envio(**campos) -> EnvioWhatsApp:
    campos.setdefault("clase", ClaseEnvio.PLANTILLA)
    campos.setdefault("telefono", DIGITOS)
    campos.setdefault("plantilla", "vehiculo_listo_cliente")
    campos.setdefault("idioma", "es_MX")
    return EnvioWhatsApp.objects.create(**campos)


# --- create -------------------------------------------------------------------------------


def test_crear__una_plantilla_se_registra_y_se_entrega(api, publicar, outbox):
    respuesta = publicar(
        api.post,
        url("api-envio-list"),
        {"telefono": TELEFONO, "plantilla": "vehiculo_listo_cliente",
         "variables": ["Ana", "Mazda 3"], "tipo": "vehiculo_listo"},
        format="json",
    )  # fmt: skip

    assert respuesta.status_code == 201, respuesta.content
    datos = respuesta.json()
    assert datos["estado"] == "pendiente"
    assert datos["telefono"] == DIGITOS
    assert datos["tipo"] == "vehiculo_listo"
    assert EnvioWhatsApp.objects.get(pk=datos["id"]).estado == EstadoEnvio.ENVIADO
    assert len(outbox) == 1


def test_crear__la_misma_clave_devuelve_el_primer_envio_y_no_envia_dos_veces(api, publicar, outbox):
    pedido = {"telefono": TELEFONO, "plantilla": "vehiculo_listo_cliente", "clave": "ot-42"}

    primero = publicar(api.post, url("api-envio-list"), pedido, format="json")
    segundo = publicar(api.post, url("api-envio-list"), pedido, format="json")

    assert (primero.status_code, segundo.status_code) == (201, 200)
    assert primero.json()["id"] == segundo.json()["id"]
    assert EnvioWhatsApp.objects.count() == 1
    assert len(outbox) == 1


def test_crear__un_telefono_invalido_queda_omitido_con_su_motivo(api, outbox):
    respuesta = api.post(
        url("api-envio-list"), {"telefono": "123", "plantilla": "vehiculo_listo_cliente"}
    )

    assert respuesta.status_code == 201
    assert respuesta.json()["estado"] == "omitido"
    assert respuesta.json()["motivo"] == "telefono_invalido"
    assert respuesta.json()["motivo_display"] == "Teléfono inválido"


def test_crear__texto_fuera_de_la_ventana_queda_omitido(api):
    respuesta = api.post(url("api-envio-list"), {"clase": "texto", "telefono": TELEFONO,
                                                  "texto": "Hola"})  # fmt: skip

    assert respuesta.status_code == 201
    assert respuesta.json()["motivo"] == "fuera_de_ventana"


def test_crear__un_nombre_de_plantilla_que_meta_rechazaria_es_400_con_codigo(api):
    respuesta = api.post(
        url("api-envio-list"), {"telefono": TELEFONO, "plantilla": "Vehículo Listo"}
    )

    assert respuesta.status_code == 400
    assert respuesta.json()["code"] == "mensaje_invalido"
    assert "plantilla" in respuesta.json()["detail"].lower()
    assert EnvioWhatsApp.objects.count() == 0


def test_crear__campos_de_otra_clase_y_obligatorios_que_faltan(api):
    respuesta = api.post(
        url("api-envio-list"),
        {"clase": "texto", "telefono": TELEFONO, "plantilla": "x", "latitud": "1.5"},
        format="json",
    )

    assert respuesta.status_code == 400
    errores = respuesta.json()
    assert set(errores) == {"plantilla", "latitud", "texto"}
    assert "No aplica" in errores["plantilla"][0]
    assert "Obligatorio" in errores["texto"][0]


def test_crear__un_documento_en_base64(api, publicar, outbox):
    respuesta = publicar(
        api.post,
        url("api-envio-list"),
        {"clase": "documento", "telefono": TELEFONO,
         "documento": base64.b64encode(PDF).decode(), "nombre_documento": "cotizacion.pdf",
         "caption": "Su cotización"},
        format="json",
    )  # fmt: skip

    assert respuesta.status_code == 201, respuesta.content
    guardado = EnvioWhatsApp.objects.get(pk=respuesta.json()["id"])
    assert guardado.nombre_documento == "cotizacion.pdf"
    assert guardado.documento.read() == PDF


def test_crear__un_documento_subido_en_multipart(api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    respuesta = api.post(
        url("api-envio-list"),
        {"clase": "documento", "telefono": TELEFONO,
         "documento": SimpleUploadedFile("c.pdf", PDF, "application/pdf"),
         "nombre_documento": "cotizacion.pdf"},
        format="multipart",
    )  # fmt: skip

    assert respuesta.status_code == 201, respuesta.content
    assert EnvioWhatsApp.objects.get(pk=respuesta.json()["id"]).documento.read() == PDF


def test_crear__base64_roto_es_400(api):
    respuesta = api.post(
        url("api-envio-list"),
        {"clase": "documento", "telefono": TELEFONO, "documento": "no es base64!!",
         "nombre_documento": "c.pdf"},
        format="json",
    )  # fmt: skip

    assert respuesta.status_code == 400
    assert "documento" in respuesta.json()


def test_crear__con_referencia_al_objeto_del_erp(api):
    orden = Orden.objects.create(numero="OT-7", cliente=Cliente.objects.create(nombre="Ana"))

    respuesta = api.post(
        url("api-envio-list"),
        {"telefono": TELEFONO, "plantilla": "vehiculo_listo_cliente",
         "referencia_tipo": "testapp.orden", "referencia_id": str(orden.pk)},
        format="json",
    )  # fmt: skip
    inexistente = api.post(
        url("api-envio-list"),
        {"telefono": TELEFONO, "plantilla": "vehiculo_listo_cliente",
         "referencia_tipo": "testapp.orden", "referencia_id": "999999"},
        format="json",
    )  # fmt: skip

    assert respuesta.status_code == 201
    assert respuesta.json()["referencia"] == {"tipo": "testapp.orden", "id": str(orden.pk)}
    assert EnvioWhatsApp.objects.get(pk=respuesta.json()["id"]).referencia == orden
    assert inexistente.status_code == 400
    assert "referencia_id" in inexistente.json()


def test_crear__botones_y_botones_de_plantilla(api):
    botones = api.post(
        url("api-envio-list"),
        {"clase": "botones", "telefono": TELEFONO, "texto": "¿Aprueba la cotización?",
         "botones": [["aprobar", "Aprobar"], ["rechazar", "Rechazar"]]},
        format="json",
    )  # fmt: skip
    con_url = api.post(
        url("api-envio-list"),
        {"telefono": TELEFONO, "plantilla": "cotizacion_lista", "botones": [{"url": "42"}]},
        format="json",
    )  # fmt: skip
    mal = api.post(
        url("api-envio-list"),
        {"telefono": TELEFONO, "plantilla": "cotizacion_lista", "botones": [{"x": 1}]},
        format="json",
    )  # fmt: skip

    assert botones.status_code == 201, botones.content
    assert con_url.status_code == 201, con_url.content
    assert mal.status_code == 400
    assert "botones" in mal.json()


def test_crear__una_cuenta_desconocida_es_400(api):
    respuesta = api.post(
        url("api-envio-list"),
        {"telefono": TELEFONO, "plantilla": "vehiculo_listo_cliente", "cuenta": "nadie"},
    )

    assert respuesta.status_code == 400
    assert respuesta.json()["code"] == "configuracion"


# --- list and detail ----------------------------------------------------------------------


def test_listar__filtra_por_estado_tipo_telefono_y_fechas(api):
    viejo = envio(estado=EstadoEnvio.ENTREGADO, tipo="vehiculo_listo")
    EnvioWhatsApp.objects.filter(pk=viejo.pk).update(creado_en=timezone.now() - timedelta(days=10))
    fallido = envio(estado=EstadoEnvio.FALLIDO, tipo="vehiculo_listo")
    envio(estado=EstadoEnvio.ENTREGADO, tipo="recordatorio", telefono="5215587654321")

    def ids(**params):
        respuesta = api.get(url("api-envio-list"), params)
        assert respuesta.status_code == 200, respuesta.content
        return {fila["id"] for fila in respuesta.json()["results"]}

    assert ids(estado="fallido") == {fallido.pk}
    assert ids(tipo="vehiculo_listo") == {viejo.pk, fallido.pk}
    assert ids(telefono="(55) 1234-5678") == {viejo.pk, fallido.pk}
    desde = (timezone.now() - timedelta(days=2)).date().isoformat()
    assert ids(tipo="vehiculo_listo", creado_desde=desde) == {fallido.pk}
    assert api.get(url("api-envio-list"), {"estado": "perdido"}).status_code == 400
    assert api.get(url("api-envio-list"), {"telefono": "12"}).status_code == 400
    assert api.get(url("api-envio-list"), {"creado_desde": "ayer"}).status_code == 400


def test_listar__por_referencia(api):
    orden = Orden.objects.create(numero="OT-8", cliente=Cliente.objects.create(nombre="Ana"))
    suyo = envio(referencia=orden)
    envio()

    respuesta = api.get(
        url("api-envio-list"), {"referencia_tipo": "testapp.orden", "referencia_id": orden.pk}
    )

    assert [fila["id"] for fila in respuesta.json()["results"]] == [suyo.pk]


def test_listar__paginado_con_cursor_sin_repetir_ni_saltar(api):
    creados = [envio().pk for _ in range(5)]

    vistos, pagina = [], api.get(url("api-envio-list"), {"tamano": 2})
    while True:
        datos = pagina.json()
        vistos += [fila["id"] for fila in datos["results"]]
        if not datos["next"]:
            break
        envio()  # a new row arriving between pages moves nothing
        pagina = api.get(datos["next"])

    assert vistos == sorted(creados, reverse=True)


def test_detalle__con_sus_estados_y_mensajes(api):
    ahora = timezone.now()
    uno = envio(
        estado=EstadoEnvio.LEIDO, enviado_en=ahora, entregado_en=ahora + timedelta(seconds=2),
        leido_en=ahora + timedelta(seconds=9), error_codigo=None,
    )  # fmt: skip
    Mensaje.objects.create(direccion=Direccion.SALIENTE, telefono=DIGITOS, envio=uno,
                           wamid="wamid.1", tipo="template")  # fmt: skip

    datos = api.get(url("api-envio-detail", uno.pk)).json()

    assert [momento["estado"] for momento in datos["estados"]] == [
        "registrado", "enviado", "entregado", "leido",
    ]  # fmt: skip
    assert [mensaje["wamid"] for mensaje in datos["mensajes"]] == ["wamid.1"]


def test_detalle__el_error_con_su_causa_legible(api):
    uno = envio(estado=EstadoEnvio.FALLIDO, error_codigo=131026, error_titulo="Undeliverable")

    error = api.get(url("api-envio-detail", uno.pk)).json()["error"]

    assert error["codigo"] == 131026
    assert error["titulo"] == "Undeliverable"
    assert "131026" in error["causa"]


# --- resend and cancel --------------------------------------------------------------------


def test_reenviar__un_fallido_vuelve_a_la_cola_y_sale(api, publicar, outbox):
    uno = envio(estado=EstadoEnvio.FALLIDO, error_codigo=131026, intentos=5)

    respuesta = publicar(api.post, url("api-envio-reenviar", uno.pk))

    assert respuesta.status_code == 200, respuesta.content
    assert respuesta.json()["estado"] == "pendiente"
    uno.refresh_from_db()
    assert uno.estado == EstadoEnvio.ENVIADO
    assert len(outbox) == 1


def test_reenviar__uno_entregado_es_409_y_no_envia(api, publicar, outbox):
    uno = envio(estado=EstadoEnvio.ENTREGADO)

    respuesta = publicar(api.post, url("api-envio-reenviar", uno.pk))

    assert respuesta.status_code == 409
    assert respuesta.json()["code"] == "ya_enviado"
    assert outbox == []


def test_cancelar__uno_programado_se_cancela_y_uno_enviado_no(api):
    programado = envio(
        estado=EstadoEnvio.PROGRAMADO, programado_para=timezone.now() + timedelta(days=1),
        clave="recordatorio:1",
    )  # fmt: skip
    enviado = envio(estado=EstadoEnvio.ENVIADO)

    bien = api.post(url("api-envio-cancelar", programado.pk))
    mal = api.post(url("api-envio-cancelar", enviado.pk))

    assert bien.status_code == 200
    assert bien.json()["estado"] == "cancelado"
    programado.refresh_from_db()
    assert programado.clave == "recordatorio:1"  # the same request again returns it
    assert mal.status_code == 409
    assert mal.json()["code"] == "no_cancelable"
    assert api.post(url("api-envio-cancelar", programado.pk)).status_code == 409


# --- permissions and throttle -------------------------------------------------------------


def test_permisos__anonimo_y_sin_permisos_no_leen(django_user_model):
    anonimo = APIClient()
    sin_permisos = APIClient()
    sin_permisos.force_authenticate(usuario(django_user_model, "nadie"))

    assert anonimo.get(url("api-envio-list")).status_code in (401, 403)
    assert sin_permisos.get(url("api-envio-list")).status_code == 403
    assert sin_permisos.get(url("api-cola")).status_code == 403


def test_permisos__ver_no_basta_para_crear_ni_reenviar(django_user_model):
    lector = APIClient()
    lector.force_authenticate(usuario(django_user_model, "lector", "view_enviowhatsapp"))
    uno = envio(estado=EstadoEnvio.FALLIDO)

    assert lector.get(url("api-envio-list")).status_code == 200
    assert lector.get(url("api-cola")).status_code == 200
    assert lector.post(url("api-envio-list"), {"telefono": TELEFONO,
                                               "plantilla": "x"}).status_code == 403  # fmt: skip
    assert lector.post(url("api-envio-reenviar", uno.pk)).status_code == 403
    assert lector.post(url("api-cola-reintentar"), {"dry_run": True}).status_code == 403
    uno.refresh_from_db()
    assert uno.estado == EstadoEnvio.FALLIDO


def test_permisos__las_clases_que_el_proyecto_nombra(wa_settings, django_user_model):
    wa_settings(API_PERMISSION_CLASSES=["rest_framework.permissions.IsAdminUser"])
    cliente = APIClient()
    cliente.force_authenticate(usuario(django_user_model, "conpermiso", "view_enviowhatsapp"))

    assert cliente.get(url("api-envio-list")).status_code == 403  # not staff


def test_throttle__pasado_el_limite_429(api, wa_settings):
    wa_settings(API_THROTTLE_RATE="2/m")

    codigos = [api.get(url("api-envio-list")).status_code for _ in range(3)]

    assert codigos == [200, 200, 429]


# --- queue --------------------------------------------------------------------------------


def test_cola__lo_que_espera_y_los_fallidos_recientes(api):
    envio(estado=EstadoEnvio.PENDIENTE)
    envio(estado=EstadoEnvio.PENDIENTE, intentos=2, proximo_intento=timezone.now())
    fallido = envio(estado=EstadoEnvio.FALLIDO, fallido_en=timezone.now(), intentos=5)
    envio(estado=EstadoEnvio.ENTREGADO, enviado_en=timezone.now(), intentos=1)

    datos = api.get(url("api-cola")).json()

    assert (datos["pendientes"], datos["en_reintento"]) == (2, 1)
    assert (datos["terminados"], datos["fallidos"]) == (2, 1)
    assert datos["tasa_exito"] == 0.5
    assert datos["intentos_promedio"] == 3.0
    assert [fila["id"] for fila in datos["fallidos_recientes"]] == [fallido.pk]
    assert api.get(url("api-cola"), {"horas": "0"}).status_code == 400


def test_reintentar__dry_run_cuenta_y_no_toca_nada(api, publicar, outbox):
    fallidos = [envio(estado=EstadoEnvio.FALLIDO, error_codigo=131026) for _ in range(3)]
    envio(estado=EstadoEnvio.FALLIDO, error_codigo=131047)

    respuesta = publicar(
        api.post, url("api-cola-reintentar"), {"error_codigo": 131026, "dry_run": True},
        format="json",
    )  # fmt: skip

    assert respuesta.json() == {
        "dry_run": True, "seleccionados": 3, "se_reintentarian": 3,
        "ids": [uno.pk for uno in fallidos],
    }  # fmt: skip
    assert EnvioWhatsApp.objects.filter(estado=EstadoEnvio.FALLIDO).count() == 4
    assert outbox == []


def test_reintentar__reenvia_hasta_el_limite_y_dice_cuantos_quedan(api, publicar, outbox):
    for _ in range(3):
        envio(estado=EstadoEnvio.FALLIDO, error_codigo=131026)

    respuesta = publicar(api.post, url("api-cola-reintentar"), {"limite": 2}, format="json")

    assert respuesta.status_code == 200, respuesta.content
    assert respuesta.json() == {
        "dry_run": False, "seleccionados": 3, "reenviados": 2, "omitidos": {}, "quedan": 1,
    }  # fmt: skip
    assert len(outbox) == 2


# --- consents -----------------------------------------------------------------------------


def test_consentimientos__otorgar_consultar_revocar(api):
    otorgado = api.post(
        url("api-consentimiento-list"),
        {"accion": "otorgar", "telefono": TELEFONO, "categoria": "marketing",
         "origen": "formulario", "evidencia": "casilla marcada en la web"},
        format="json",
    )  # fmt: skip
    consulta = api.get(
        url("api-consentimiento-estado"), {"telefono": "55 1234 5678", "categoria": "marketing"}
    )
    revocado = api.post(
        url("api-consentimiento-list"),
        {"accion": "revocar", "telefono": TELEFONO, "categoria": "marketing"},
        format="json",
    )  # fmt: skip
    despues = api.get(
        url("api-consentimiento-estado"), {"telefono": TELEFONO, "categoria": "marketing"}
    )
    listado = api.get(url("api-consentimiento-list"), {"telefono": "(55) 1234 5678"})

    assert otorgado.status_code == 201
    assert otorgado.json()["estado"] == "otorgado"
    assert consulta.json()["estado"] == "otorgado"
    assert revocado.json()["estado"] == "revocado"
    assert despues.json()["estado"] == "revocado"
    assert [fila["categoria"] for fila in listado.json()["results"]] == ["marketing"]


def test_consentimientos__historial_de_cada_decision(api):
    for accion in ("otorgar", "revocar", "otorgar"):
        api.post(
            url("api-consentimiento-list"),
            {"accion": accion, "telefono": TELEFONO, "categoria": "utility",
             "evidencia": f"{accion} por teléfono"},
            format="json",
        )  # fmt: skip

    historial = api.get(url("api-consentimiento-historial"), {"telefono": "55 1234 5678"})

    filas = historial.json()["results"]
    assert [(f["anterior"], f["estado"]) for f in filas] == [
        ("revocado", "otorgado"), ("otorgado", "revocado"), ("", "otorgado"),
    ]  # fmt: skip
    assert filas[0]["evidencia"] == "otorgar por teléfono"


def test_consentimientos__telefono_invalido_es_400(api):
    creado = api.post(url("api-consentimiento-list"), {"accion": "otorgar", "telefono": "12"})
    consulta = api.get(url("api-consentimiento-estado"), {"telefono": "12"})

    assert creado.status_code == 400
    assert creado.json()["code"] == "telefono_invalido"
    assert consulta.status_code == 400


# --- conversations ------------------------------------------------------------------------


@pytest.fixture
def conversacion():
    abierta = Conversacion.objects.create(
        telefono=DIGITOS, nombre="Ana", ventana_hasta=timezone.now() + timedelta(hours=3)
    )
    Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono=DIGITOS, texto="¿Ya está mi auto?",
        wamid="wamid.entrante", conversacion=abierta, fecha=timezone.now(),
    )  # fmt: skip
    return abierta


def test_conversaciones__lista_y_mensajes(api, conversacion):
    lista = api.get(url("api-conversacion-list")).json()["results"]
    mensajes = api.get(url("api-conversacion-mensajes", conversacion.pk)).json()["results"]

    assert [fila["id"] for fila in lista] == [conversacion.pk]
    assert lista[0]["ventana_abierta"] is True
    assert [mensaje["texto"] for mensaje in mensajes] == ["¿Ya está mi auto?"]


def test_conversaciones__responder_con_texto_contesta_y_la_toma(
    api, publicar, outbox, conversacion
):
    respuesta = publicar(
        api.post, url("api-conversacion-responder", conversacion.pk),
        {"texto": "Sí, ya puede pasar", "clave": "r1"}, format="json",
    )  # fmt: skip
    repetida = publicar(
        api.post, url("api-conversacion-responder", conversacion.pk),
        {"texto": "Sí, ya puede pasar", "clave": "r1"}, format="json",
    )  # fmt: skip

    assert respuesta.status_code == 201, respuesta.content
    assert repetida.json()["id"] == respuesta.json()["id"]
    assert len(outbox) == 1
    nuevo = EnvioWhatsApp.objects.get(pk=respuesta.json()["id"])
    assert nuevo.responde_a == "wamid.entrante"
    conversacion.refresh_from_db()
    assert (conversacion.estado, conversacion.agente) == ("agente", "operador")


def test_conversaciones__ventana_cerrada_solo_plantilla(api, conversacion):
    Conversacion.objects.filter(pk=conversacion.pk).update(
        ventana_hasta=timezone.now() - timedelta(hours=1)
    )

    texto = api.post(url("api-conversacion-responder", conversacion.pk), {"texto": "Hola"})
    plantilla = api.post(
        url("api-conversacion-responder", conversacion.pk),
        {"plantilla": "vehiculo_listo_cliente", "variables": ["Ana"]},
        format="json",
    )
    ninguno = api.post(url("api-conversacion-responder", conversacion.pk), {})

    assert texto.status_code == 409
    assert texto.json()["code"] == "ventana_cerrada"
    assert plantilla.status_code == 201
    assert ninguno.status_code == 400


# --- figures ------------------------------------------------------------------------------


def test_estadisticas__por_dia_tipo_estado_y_errores(api):
    ahora = timezone.now()
    envio(estado=EstadoEnvio.ENTREGADO, tipo="vehiculo_listo", enviado_en=ahora)
    envio(estado=EstadoEnvio.FALLIDO, tipo="recordatorio", fallido_en=ahora, error_codigo=131026)

    datos = api.get(url("api-estadisticas"), {"dias": 7}).json()

    assert datos["por_estado"] == {"entregado": 1, "fallido": 1}
    assert datos["por_tipo"] == {"recordatorio": 1, "vehiculo_listo": 1}
    assert {fila["valor"] for fila in datos["por_dia"]["tipo"]} == {
        "recordatorio",
        "vehiculo_listo",
    }
    assert datos["tasa_fallos"] == 0.5
    assert datos["umbral_fallos"] == 0.2
    (error,) = datos["errores_principales"]
    assert (error["codigo"], error["cuantos"]) == (131026, 1)
    assert api.get(url("api-estadisticas"), {"dias": "mil"}).status_code == 400


# --- the OpenAPI description --------------------------------------------------------------

ESQUEMA = Path(__file__).resolve().parent.parent / "whatsapp_notify" / "api" / "openapi.yaml"
REGENERAR = (
    "python -m django spectacular --settings=tests.settings --validate "
    "--file whatsapp_notify/api/openapi.yaml"
)


def test_esquema__el_publicado_es_el_que_genera_el_codigo():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiYamlRenderer
    from drf_spectacular.validation import validate_schema

    esquema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(esquema)
    generado = OpenApiYamlRenderer().render(esquema, renderer_context={})

    assert generado.decode() == ESQUEMA.read_text(), f"Regenera el esquema: {REGENERAR}"


def test_esquema__se_sirve_sin_el_generador(api):
    respuesta = api.get(url("api-esquema"))

    assert respuesta.status_code == 200
    assert respuesta["Content-Type"].startswith("application/vnd.oai.openapi")
    assert b"/whatsapp/api/envios/{id}/reenviar/" in respuesta.content


def test_sin_rest_framework__la_app_sigue_y_la_api_dice_que_extra_falta():
    import subprocess
    import sys

    programa = """
import sys
sys.modules["rest_framework"] = None  # as if it were not installed: import fails
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings_sin_api"
django.setup()
from django.urls import NoReverseMatch, reverse
print(reverse("whatsapp_notify:webhook"))
try:
    reverse("whatsapp_notify:api-cola")
except NoReverseMatch:
    print("sin api")
try:
    import whatsapp_notify.api
except Exception as exc:
    print(type(exc).__name__, exc)
"""
    salida = subprocess.run(
        [sys.executable, "-c", programa], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip

    assert salida.returncode == 0, salida.stderr
    lineas = salida.stdout.splitlines()
    assert lineas[:2] == ["/whatsapp/webhook/", "sin api"]
    assert lineas[2].startswith("MissingDependencyError")
    assert "django-whatsapp-notify[api]" in lineas[2]


# --- costs and health ---------------------------------------------------------------------


def test_costos__por_mes_tipo_y_moneda(api):
    from decimal import Decimal

    ahora = timezone.now()
    for _ in range(2):
        envio(estado=EstadoEnvio.ENTREGADO, entregado_en=ahora, tipo="vehiculo_listo",
              costo=Decimal("0.0085"), moneda="USD")  # fmt: skip
    envio(estado=EstadoEnvio.ENTREGADO, entregado_en=ahora, tipo="promo", costo=Decimal("2"),
          moneda="MXN")  # fmt: skip
    envio(estado=EstadoEnvio.ENTREGADO, entregado_en=ahora, tipo="sin_costo")  # unknown

    datos = api.get(url("api-costos"), {"por": "tipo"}).json()
    detalle = api.get(url("api-envio-list"), {"tipo": "promo"}).json()["results"][0]

    assert {(f["grupo"], f["moneda"], f["total"], f["facturables"]) for f in datos["filas"]} == {
        ("vehiculo_listo", "USD", "0.017000", 2), ("promo", "MXN", "2.000000", 1),
    }  # fmt: skip
    assert datos["totales"] == {"USD": "0.017000", "MXN": "2.000000"}
    assert (detalle["costo"], detalle["moneda"]) == ("2.000000", "MXN")
    assert api.get(url("api-costos"), {"por": "telefono"}).status_code == 400
    assert api.get(url("api-costos"), {"meses": "0"}).status_code == 400


def test_salud__con_detalle_y_503_si_algo_falla(api, wa_settings):
    sana = api.get(url("api-salud"), {"solo": "base_de_datos"})
    envio(estado=EstadoEnvio.PENDIENTE, creado_en=timezone.now() - timedelta(hours=2))
    wa_settings(HEALTH_MAX_QUEUE_AGE=60)
    vieja = api.get(url("api-salud"), {"solo": "cola"})

    assert sana.status_code == 200
    assert "duracion_ms" in sana.json()["comprobaciones"]["base_de_datos"]
    assert vieja.status_code == 503
    assert vieja.json()["comprobaciones"]["cola"]["estado"] == "fallo"
    assert api.get(url("api-salud"), {"solo": "nada"}).status_code == 400
    assert APIClient().get(url("api-salud")).status_code in (401, 403)


def test_reenviar__un_aviso_que_otro_envio_posterior_cubre_es_409_superado(api, outbox):
    orden = Orden.objects.create(numero="OT-5", cliente=Cliente.objects.create(nombre="Ana"))
    viejo = envio(estado=EstadoEnvio.FALLIDO, referencia=orden, tipo="vehiculo_listo")
    envio(estado=EstadoEnvio.ENTREGADO, referencia=orden, tipo="vehiculo_listo")

    respuesta = api.post(url("api-envio-reenviar", viejo.pk))

    assert respuesta.status_code == 409
    assert respuesta.json()["code"] == "superado"
    assert "posterior" in respuesta.json()["detail"]
    assert outbox == []
