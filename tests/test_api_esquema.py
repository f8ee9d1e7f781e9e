"""The committed OpenAPI description says what the API really answers.

Real responses (blank motivos, nulls, nested errors, pages) are validated against their
operation's 200/201 schema in ``whatsapp_notify/api/openapi.yaml``, read as JSON Schema.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from importlib.resources import files

import pytest
import yaml
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from jsonschema import Draft202012Validator

from tests.clientes_api import cliente
from tests.testapp.models import Cliente, Orden
from whatsapp_notify import enviar_plantilla, otorgar_consentimiento, revocar_consentimiento
from whatsapp_notify.models import (
    ClaseEnvio,
    Conversacion,
    Direccion,
    EnvioWhatsApp,
    EstadoEnvio,
    Mensaje,
)

pytestmark = pytest.mark.django_db

TELEFONO = "+52 55 1234 5678"


def _json_schema(nodo):
    """OpenAPI 3.0's ``nullable`` as JSON Schema's null type, everywhere in ``nodo``."""
    if isinstance(nodo, list):
        return [_json_schema(uno) for uno in nodo]
    if not isinstance(nodo, dict):
        return nodo
    nodo = {clave: _json_schema(valor) for clave, valor in nodo.items()}
    if nodo.pop("nullable", False):
        return {"anyOf": [nodo, {"type": "null"}]}
    return nodo


@pytest.fixture(scope="module")
def documento():
    texto = files("whatsapp_notify.api").joinpath("openapi.yaml").read_text()
    return _json_schema(yaml.safe_load(texto))


def valida(documento, ruta: str, metodo: str, codigo: int, cuerpo) -> None:
    respuesta = documento["paths"][ruta][metodo]["responses"][str(codigo)]
    esquema = respuesta["content"]["application/json"]["schema"]
    Draft202012Validator({**documento, **esquema}).validate(cuerpo)


@pytest.fixture
def api(django_user_model, sin_limites_guardados):
    permisos = Permission.objects.filter(content_type__app_label="whatsapp_notify")
    return cliente(django_user_model, "lector", *permisos.values_list("codename", flat=True))


@pytest.fixture
def datos():
    ahora = timezone.now()
    orden = Orden.objects.create(numero="OT-1", cliente=Cliente.objects.create(nombre="Ana"))
    entregado = enviar_plantilla(TELEFONO, "vehiculo_listo_cliente", referencia=orden,
                                 tipo="vehiculo_listo")  # fmt: skip
    EnvioWhatsApp.objects.filter(pk=entregado.pk).update(
        estado=EstadoEnvio.ENTREGADO, enviado_en=ahora, entregado_en=ahora,
        costo=Decimal("0.0085"), moneda="USD", facturable=True,
    )  # fmt: skip
    enviar_plantilla("123", "vehiculo_listo_cliente")  # omitido, blank tipo
    EnvioWhatsApp.objects.create(
        clase=ClaseEnvio.TEXTO, texto="Hola", estado=EstadoEnvio.FALLIDO, fallido_en=ahora,
        error_codigo=131026, error_titulo="Undeliverable", telefono="525512345678",
    )  # fmt: skip
    conversacion = Conversacion.objects.create(
        telefono="525512345678", ventana_hasta=ahora + timedelta(hours=1)
    )
    Mensaje.objects.create(direccion=Direccion.ENTRANTE, telefono="525512345678",
                           texto="¿Ya?", wamid="wamid.in", conversacion=conversacion)  # fmt: skip
    Mensaje.objects.create(direccion=Direccion.SALIENTE, telefono="525512345678",
                           envio=entregado, wamid="wamid.out", tipo="template")  # fmt: skip
    otorgar_consentimiento(TELEFONO, categoria="marketing")
    revocar_consentimiento(TELEFONO, categoria="marketing")
    return {"orden": orden, "entregado": entregado, "conversacion": conversacion}


def test_las_lecturas_cumplen_su_esquema(api, datos, documento):
    entregado, conversacion = datos["entregado"], datos["conversacion"]
    lecturas = [
        ("/whatsapp/api/envios/", reverse("whatsapp_notify:api-envio-list"), {}),
        ("/whatsapp/api/envios/{id}/",
         reverse("whatsapp_notify:api-envio-detail", args=[entregado.pk]), {}),
        ("/whatsapp/api/cola/", reverse("whatsapp_notify:api-cola"), {}),
        ("/whatsapp/api/estadisticas/", reverse("whatsapp_notify:api-estadisticas"), {}),
        ("/whatsapp/api/costos/", reverse("whatsapp_notify:api-costos"), {"por": "tipo"}),
        ("/whatsapp/api/consentimientos/", reverse("whatsapp_notify:api-consentimiento-list"), {}),
        ("/whatsapp/api/consentimientos/historial/",
         reverse("whatsapp_notify:api-consentimiento-historial"), {}),
        ("/whatsapp/api/consentimientos/estado/",
         reverse("whatsapp_notify:api-consentimiento-estado"), {"telefono": TELEFONO}),
        ("/whatsapp/api/conversaciones/", reverse("whatsapp_notify:api-conversacion-list"), {}),
        ("/whatsapp/api/conversaciones/{id}/mensajes/",
         reverse("whatsapp_notify:api-conversacion-mensajes", args=[conversacion.pk]), {}),
        ("/whatsapp/api/avisos/", reverse("whatsapp_notify:api-avisos"),
         {"referencia_tipo": "testapp.orden", "referencia_id": datos["orden"].pk}),
    ]  # fmt: skip

    for ruta, direccion, params in lecturas:
        respuesta = api.get(direccion, params)
        assert respuesta.status_code == 200, (ruta, respuesta.content)
        valida(documento, ruta, "get", 200, respuesta.json())


def test_las_escrituras_y_los_errores_cumplen_su_esquema(api, datos, documento):
    creado = api.post(reverse("whatsapp_notify:api-envio-list"),
                      {"telefono": TELEFONO, "plantilla": "aviso", "variables": {"nombre": "Ana"}},
                      format="json")  # fmt: skip
    mal = api.post(reverse("whatsapp_notify:api-envio-list"), {"telefono": TELEFONO}, format="json")
    no_hay = api.get(reverse("whatsapp_notify:api-envio-detail", args=[999999]))
    ya_enviado = api.post(
        reverse("whatsapp_notify:api-envio-reenviar", args=[datos["entregado"].pk])
    )

    valida(documento, "/whatsapp/api/envios/", "post", 201, creado.json())
    valida(documento, "/whatsapp/api/envios/", "post", 400, mal.json())
    valida(documento, "/whatsapp/api/envios/{id}/", "get", 404, no_hay.json())
    assert ya_enviado.status_code == 409
    valida(documento, "/whatsapp/api/envios/{id}/reenviar/", "post", 409, ya_enviado.json())


def test_la_validacion_rechaza_lo_que_el_esquema_no_admite(documento):
    from jsonschema import ValidationError

    pagina = {"next": None, "previous": None, "results": [{"id": 1, "motivo": "inventado"}]}

    with pytest.raises(ValidationError):
        valida(documento, "/whatsapp/api/envios/", "get", 200, pagina)


def test_los_filtros_estan_descritos(documento):
    def nombres(ruta: str) -> set[str]:
        return {p["name"] for p in documento["paths"][ruta]["get"].get("parameters", [])}

    assert nombres("/whatsapp/api/envios/") >= {
        "estado", "tipo", "cuenta", "telefono", "clave", "referencia_tipo", "referencia_id",
        "creado_desde", "creado_hasta", "cursor",
    }  # fmt: skip
    assert nombres("/whatsapp/api/avisos/") >= {"referencia_tipo", "referencia_id", "tipo"}
    assert nombres("/whatsapp/api/cola/") >= {"cuenta", "horas"}
    assert nombres("/whatsapp/api/consentimientos/estado/") >= {"telefono", "categoria"}
