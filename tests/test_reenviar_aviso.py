"""reenviar_aviso: the ERP's «resend the notice», in each estado, never two sends by accident."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from tests.testapp.models import Cliente, Orden
from whatsapp_notify import (
    enviar_documento,
    enviar_plantilla,
    estado_whatsapp,
    otorgar_consentimiento,
    reenviar_aviso,
    revocar_consentimiento,
)
from whatsapp_notify.exceptions import MessageError, TipoInvalido
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio, MotivoOmision
from whatsapp_notify.outbound.resend import ResultadoReenvio

pytestmark = pytest.mark.django_db

TELEFONO = "+52 55 1234 5678"
DIGITOS = "525512345678"


@pytest.fixture
def orden() -> Orden:
    cliente = Cliente.objects.create(nombre="Ana", telefono=TELEFONO)
    return Orden.objects.create(numero="OT-1", cliente=cliente)


def aviso(obj, tipo: str = "vehiculo_listo", **campos) -> EnvioWhatsApp:
    """A pendiente envío of ``obj`` (its task never runs here), then moved to ``campos``."""
    envio = enviar_plantilla(
        TELEFONO, "vehiculo_listo_cliente", variables=["Ana", "OT-1"], referencia=obj, tipo=tipo,
        clave=f"{tipo}:{obj.pk}",
    )  # fmt: skip
    if campos:
        EnvioWhatsApp.objects.filter(pk=envio.pk).update(**campos)
        envio.refresh_from_db()
    return envio


def test_sin_envio__no_hay_nada_que_reenviar(orden, outbox, entregar):
    aviso(orden, "cotizacion", estado=EstadoEnvio.FALLIDO)

    resultado = entregar(reenviar_aviso, orden, "vehiculo_listo")

    assert (resultado.resultado, resultado.reenviado, resultado.envio_id) == (
        "sin_envio",
        False,
        None,
    )
    assert resultado.estado is None
    assert "vehiculo_listo" in resultado.mensaje
    assert outbox == []


@pytest.mark.parametrize(
    "campos",
    [
        pytest.param(
            {
                "estado": EstadoEnvio.FALLIDO,
                "error_codigo": 131026,
                "error_detalle": "(#131026) No.",
                "fallido_en": timezone.now(),
            },
            id="fallido",
        ),
        pytest.param(
            {"estado": EstadoEnvio.CANCELADO, "cancelado_en": timezone.now()}, id="cancelado"
        ),
        pytest.param(
            {"estado": EstadoEnvio.OMITIDO, "motivo": MotivoOmision.FUERA_DE_VENTANA}, id="omitido"
        ),
    ],
)
def test_no_llego__vuelve_a_la_cola_y_sale_una_vez(orden, outbox, entregar, campos):
    envio = aviso(orden, **campos)

    resultado = entregar(reenviar_aviso, orden, "vehiculo_listo")
    otra_vez = entregar(reenviar_aviso, orden, "vehiculo_listo")

    assert (resultado.resultado, resultado.reenviado, resultado.envio_id) == (
        "reenviado", True, envio.pk
    )  # fmt: skip
    assert resultado.estado.estado == "pendiente"  # as the call left it: sent on commit
    assert EnvioWhatsApp.objects.get(pk=envio.pk).estado == EstadoEnvio.ENVIADO
    assert (otra_vez.resultado, otra_vez.reenviado) == ("ya_enviado", False)
    assert [mensaje.telefono for mensaje in outbox] == [DIGITOS]
    assert EnvioWhatsApp.objects.filter(referencia_filtro(orden)).count() == 1


def referencia_filtro(obj):
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Q

    return Q(content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk))


def test_omitido_sin_consentimiento__sigue_omitido_y_sale_cuando_lo_hay(
    orden, outbox, entregar, wa_settings
):
    wa_settings(REQUIRE_CONSENT=True)
    envio = entregar(aviso, orden)
    assert envio.motivo == MotivoOmision.SIN_CONSENTIMIENTO

    sin = entregar(reenviar_aviso, orden, "vehiculo_listo")
    otorgar_consentimiento(TELEFONO, origen="erp")
    con = entregar(reenviar_aviso, orden, "vehiculo_listo")

    assert (sin.resultado, sin.reenviado, sin.motivo) == (
        "no_enviable",
        False,
        "sin_consentimiento",
    )
    assert "Sin consentimiento" in sin.mensaje
    assert sin.estado.estado == "omitido"
    assert (con.resultado, con.envio_id) == ("reenviado", envio.pk)
    assert len(outbox) == 1


def test_fallido_tras_una_baja__no_sale_y_dice_por_que(orden, outbox, entregar):
    aviso(orden, estado=EstadoEnvio.FALLIDO)
    revocar_consentimiento(TELEFONO, origen="cliente")

    resultado = entregar(reenviar_aviso, orden, "vehiculo_listo")

    assert (resultado.resultado, resultado.motivo) == ("no_enviable", "baja")
    assert resultado.estado.estado == "fallido"  # it keeps its own history
    assert outbox == []


def test_omitido_por_error_del_disparador__no_se_puede_reenviar(orden, outbox, entregar):
    aviso(orden, estado=EstadoEnvio.OMITIDO, motivo=MotivoOmision.ERROR_DISPARADOR)

    resultado = entregar(reenviar_aviso, orden, "vehiculo_listo")

    assert (resultado.resultado, resultado.motivo) == ("no_enviable", "error_disparador")
    assert outbox == []


@pytest.mark.parametrize(
    "campos",
    [
        pytest.param({}, id="pendiente"),
        pytest.param({"estado": EstadoEnvio.PROGRAMADO,
                      "programado_para": timezone.now() + timedelta(days=1)}, id="programado"),
        pytest.param({"estado": EstadoEnvio.ENVIANDO}, id="enviando"),
    ],
)  # fmt: skip
def test_en_camino__no_se_hace_nada(orden, outbox, campos):
    envio = aviso(orden, **campos)

    resultado = reenviar_aviso(orden, "vehiculo_listo")

    assert (resultado.resultado, resultado.reenviado, resultado.envio_id) == (
        "en_curso", False, envio.pk
    )  # fmt: skip
    assert EnvioWhatsApp.objects.get(pk=envio.pk).estado == envio.estado
    assert EnvioWhatsApp.objects.count() == 1


@pytest.mark.parametrize("estado", [EstadoEnvio.ENVIADO, EstadoEnvio.ENTREGADO, EstadoEnvio.LEIDO])
def test_aceptado__sin_confirmar_no_se_envia(orden, outbox, entregar, estado):
    envio = aviso(orden, estado=estado)

    resultado = entregar(reenviar_aviso, orden, "vehiculo_listo")

    assert (resultado.resultado, resultado.reenviado, resultado.envio_id) == (
        "ya_enviado", False, envio.pk
    )  # fmt: skip
    assert "otra copia" in resultado.mensaje
    assert EnvioWhatsApp.objects.count() == 1
    assert outbox == []


def test_entregado__con_copia_de_sale_una_copia_nueva_una_sola_vez(orden, outbox, entregar):
    original = aviso(orden, estado=EstadoEnvio.ENTREGADO)

    copia = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=original.pk)
    mismo_clic = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=original.pk)

    assert (copia.resultado, copia.reenviado) == ("copia", True)
    nueva = EnvioWhatsApp.objects.get(pk=copia.envio_id)
    assert nueva.pk != original.pk
    assert (nueva.clave, nueva.tipo, nueva.referencia) == (
        f"copia:{original.pk}",
        "vehiculo_listo",
        orden,
    )
    assert (nueva.plantilla, nueva.variables) == ("vehiculo_listo_cliente", ["Ana", "OT-1"])
    assert nueva.estado == EstadoEnvio.ENVIADO
    assert (mismo_clic.resultado, mismo_clic.reenviado, mismo_clic.envio_id) == (
        "cambiado", False, nueva.pk
    )  # fmt: skip
    assert [m.contenido.nombre for m in outbox] == ["vehiculo_listo_cliente"]
    assert estado_whatsapp(orden, "vehiculo_listo").envio_id == nueva.pk


def test_copia__la_clave_ya_tomada_da_la_misma_copia(orden, outbox, entregar):
    # Two requests that both read the original as the latest: the clave lets one send.
    original = aviso(orden, estado=EstadoEnvio.LEIDO)
    primera = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=original.pk)
    EnvioWhatsApp.objects.filter(pk=primera.envio_id).update(
        creado_en=original.creado_en - timedelta(1)
    )

    segunda = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=original.pk)

    assert segunda.envio_id == primera.envio_id
    assert len(outbox) == 1
    assert EnvioWhatsApp.objects.count() == 2


def test_copia__de_un_documento_lleva_el_mismo_archivo(orden, outbox, entregar):
    original = entregar(
        enviar_plantilla, TELEFONO, "factura_cliente", variables=["Ana"],
        documento=b"%PDF-1.4 factura", nombre_documento="factura.pdf", referencia=orden,
        tipo="factura",
    )  # fmt: skip
    EnvioWhatsApp.objects.filter(pk=original.pk).update(estado=EstadoEnvio.ENTREGADO)

    copia = entregar(reenviar_aviso, orden, "factura", copia_de=original.pk)

    assert copia.resultado == "copia", copia.mensaje
    documentos = [m.contenido.documento for m in outbox]
    assert [(d.contenido, d.nombre) for d in documentos] == [
        (b"%PDF-1.4 factura", "factura.pdf")
    ] * 2
    assert EnvioWhatsApp.objects.get(pk=copia.envio_id).documento == original.documento


def test_copia__un_texto_libre_fuera_de_la_ventana_no_se_copia(orden, outbox, entregar):
    original = enviar_documento(
        TELEFONO, b"%PDF-1.4 factura", nombre_documento="factura.pdf", referencia=orden,
        tipo="factura",
    )  # fmt: skip
    EnvioWhatsApp.objects.filter(pk=original.pk).update(estado=EstadoEnvio.ENTREGADO, motivo="")

    copia = entregar(reenviar_aviso, orden, "factura", copia_de=original.pk)

    assert (copia.resultado, copia.motivo) == ("no_enviable", "fuera_de_ventana")
    assert "Fuera de la ventana de 24 horas" in copia.mensaje
    assert copia.envio_id == original.pk
    assert EnvioWhatsApp.objects.count() == 1
    assert outbox == []


def insignia(obj) -> str:
    plantilla = '{% load whatsapp_notify %}{% insignia_whatsapp obj "vehiculo_listo" %}'
    return Template(plantilla).render(Context({"obj": obj}))


def test_copia__si_el_cliente_pidio_la_baja__no_se_registra_y_sigue_leido(orden, outbox, entregar):
    original = aviso(orden, estado=EstadoEnvio.LEIDO, leido_en=timezone.now())
    revocar_consentimiento(TELEFONO, origen="cliente")

    copia = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=original.pk)

    assert (copia.resultado, copia.reenviado, copia.motivo) == ("no_enviable", False, "baja")
    assert (copia.envio_id, copia.estado.estado) == (original.pk, EstadoEnvio.LEIDO)
    assert "El cliente pidió la baja" in copia.mensaje
    assert not EnvioWhatsApp.objects.filter(clave=f"copia:{original.pk}").exists()
    assert estado_whatsapp(orden, "vehiculo_listo").envio_id == original.pk
    assert "WhatsApp: Leído" in insignia(orden)
    assert outbox == []


#: Set by a test: the phone whose consent the policy revokes the first time it is asked.
REVOCAR_AL_PREGUNTAR: list[str] = []


def revocar_al_preguntar(envio: EnvioWhatsApp) -> None:
    """A ``POLICY`` that lets the check pass and revokes consent right after it."""
    if REVOCAR_AL_PREGUNTAR:
        revocar_consentimiento(REVOCAR_AL_PREGUNTAR.pop(), origen="cliente")


def test_copia__omitida_por_un_cambio_a_mitad__el_estado_sigue_siendo_el_entregado(
    orden, outbox, entregar, wa_settings
):
    # The copy passes the check and the customer opts out before it is recorded.
    original = aviso(orden, estado=EstadoEnvio.LEIDO, leido_en=timezone.now())
    wa_settings(POLICY=f"{__name__}.revocar_al_preguntar")
    REVOCAR_AL_PREGUNTAR[:] = [TELEFONO]

    copia = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=original.pk)

    omitida = EnvioWhatsApp.objects.get(clave=f"copia:{original.pk}")
    assert (omitida.estado, omitida.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.BAJA)
    assert (copia.resultado, copia.reenviado, copia.motivo) == ("no_enviable", False, "baja")
    assert (copia.envio_id, copia.estado.estado) == (original.pk, EstadoEnvio.LEIDO)
    assert estado_whatsapp(orden, "vehiculo_listo").envio_id == original.pk
    assert estado_whatsapp(orden)["vehiculo_listo"].leido is True
    assert "WhatsApp: Leído" in insignia(orden)
    assert outbox == []


def test_copia__una_copia_omitida_sale_una_vez_cuando_ya_puede(orden, outbox, entregar):
    original = aviso(orden, estado=EstadoEnvio.ENTREGADO)
    # Recorded omitted by an earlier version, or by a consent revoked at that moment.
    omitida = enviar_plantilla(
        TELEFONO, "vehiculo_listo_cliente", variables=["Ana", "OT-1"], referencia=orden,
        tipo="vehiculo_listo", clave=f"copia:{original.pk}",
    )  # fmt: skip
    EnvioWhatsApp.objects.filter(pk=omitida.pk).update(
        estado=EstadoEnvio.OMITIDO, motivo=MotivoOmision.BAJA
    )
    assert estado_whatsapp(orden, "vehiculo_listo").envio_id == original.pk

    copia = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=original.pk)
    otra = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=original.pk)

    assert (copia.resultado, copia.reenviado, copia.envio_id) == ("copia", True, omitida.pk)
    assert (otra.resultado, otra.reenviado, otra.envio_id) == ("cambiado", False, omitida.pk)
    assert EnvioWhatsApp.objects.get(pk=omitida.pk).estado == EstadoEnvio.ENVIADO
    assert len(outbox) == 1
    assert EnvioWhatsApp.objects.count() == 2


def test_copia__un_aviso_que_ya_caduco_no_se_copia(orden, outbox, entregar):
    original = aviso(
        orden, estado=EstadoEnvio.ENTREGADO, expira_en=timezone.now() - timedelta(minutes=1)
    )

    copia = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=original.pk)

    assert (copia.resultado, copia.motivo) == ("no_enviable", "vencido")
    assert EnvioWhatsApp.objects.count() == 1
    assert outbox == []


@pytest.mark.parametrize("confirmado", [False, True], ids=["sin-copia-de", "con-copia-de"])
def test_incierto__pudo_llegar_y_no_se_reenvia(orden, outbox, entregar, confirmado):
    envio = aviso(orden, estado=EstadoEnvio.INCIERTO)

    resultado = entregar(
        reenviar_aviso, orden, "vehiculo_listo", copia_de=envio.pk if confirmado else None
    )

    assert (resultado.resultado, resultado.reenviado, resultado.envio_id) == (
        "incierto", False, envio.pk
    )  # fmt: skip
    assert "duplicarlo" in resultado.mensaje
    assert EnvioWhatsApp.objects.get(pk=envio.pk).estado == EstadoEnvio.INCIERTO
    assert outbox == []
    assert EnvioWhatsApp.objects.count() == 1


@pytest.mark.parametrize(
    "estado", [EstadoEnvio.FALLIDO, EstadoEnvio.PENDIENTE, EstadoEnvio.OMITIDO]
)
def test_copia_de_un_aviso_no_aceptado__no_hace_nada(orden, outbox, entregar, estado):
    envio = aviso(orden, estado=estado)

    resultado = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=envio.pk)

    assert (resultado.resultado, resultado.reenviado, resultado.envio_id) == (
        "cambiado", False, envio.pk
    )  # fmt: skip
    assert EnvioWhatsApp.objects.get(pk=envio.pk).estado == estado
    assert outbox == []


def test_copia_de_que_ya_no_es_el_ultimo__no_hace_nada(orden, outbox, entregar):
    viejo = aviso(orden, "vehiculo_listo", estado=EstadoEnvio.FALLIDO)
    EnvioWhatsApp.objects.filter(pk=viejo.pk).update(creado_en=timezone.now() - timedelta(hours=1))
    nuevo = enviar_plantilla(TELEFONO, "x", variables=[], referencia=orden, tipo="vehiculo_listo")

    resultado = entregar(reenviar_aviso, orden, "vehiculo_listo", copia_de=viejo.pk)

    assert (resultado.resultado, resultado.envio_id) == ("cambiado", nuevo.pk)
    assert EnvioWhatsApp.objects.get(pk=viejo.pk).estado == EstadoEnvio.FALLIDO


def test_otros_objetos_no_se_tocan(orden, outbox, entregar):
    otra = Orden.objects.create(numero="OT-2", cliente=orden.cliente)
    ajeno = aviso(otra, estado=EstadoEnvio.FALLIDO)

    resultado = entregar(reenviar_aviso, orden, "vehiculo_listo")

    assert resultado.resultado == "sin_envio"
    assert EnvioWhatsApp.objects.get(pk=ajeno.pk).estado == EstadoEnvio.FALLIDO


def test_como_dict__con_su_estado_anidado(orden, entregar):
    aviso(orden, estado=EstadoEnvio.FALLIDO)

    datos = entregar(reenviar_aviso, orden, "vehiculo_listo").como_dict()

    assert datos["resultado"] == "reenviado"
    assert datos["estado"]["estado"] == "pendiente"
    assert set(datos) == {"resultado", "reenviado", "envio_id", "motivo", "mensaje", "estado"}


def test_resultados__cada_uno_tiene_su_texto():
    import whatsapp_notify

    assert whatsapp_notify.ResultadoReenvio is ResultadoReenvio
    assert ResultadoReenvio.COPIA.label == "Se envía una copia nueva"
    assert len(ResultadoReenvio.values) == 8


@pytest.mark.parametrize(
    ("argumentos", "error", "texto"),
    [
        pytest.param(("orden", ""), MessageError, "tipo está vacío", id="tipo-vacio"),
        pytest.param(("orden", 3), TipoInvalido, "tipo", id="tipo-no-texto"),
        pytest.param((7, "vehiculo_listo"), TipoInvalido, "instancia del ERP", id="un-id"),
        pytest.param(("nueva", "vehiculo_listo"), MessageError, "no está guardado",
                     id="sin-guardar"),
    ],
)  # fmt: skip
def test_errores_del_programador__se_lanzan_al_llamar(orden, argumentos, error, texto):
    objetos = {"orden": orden, "nueva": Orden(numero="X", cliente=orden.cliente)}
    obj, tipo = argumentos
    with pytest.raises(error, match=texto):
        reenviar_aviso(objetos.get(obj, obj), tipo)


@pytest.mark.parametrize("copia_de", ["3", True, 3.0])
def test_copia_de__debe_ser_un_id(orden, copia_de):
    with pytest.raises(TipoInvalido, match="copia_de"):
        reenviar_aviso(orden, "vehiculo_listo", copia_de=copia_de)
