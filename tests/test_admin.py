"""The admin (monitoring, resend, resume), the operator actions behind it and the catalogs."""

from __future__ import annotations

import gettext
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

import whatsapp_notify
from tests.testapp.models import Cliente, Orden
from whatsapp_notify import exceptions, signals
from whatsapp_notify.admin import RAZONES_NO_REENVIO
from whatsapp_notify.backends.meta import errors as meta_errors
from whatsapp_notify.consent import otorgar_consentimiento, revocar_consentimiento
from whatsapp_notify.models import (
    CambioConsentimiento,
    ConsentimientoCliente,
    Conversacion,
    Direccion,
    EnvioWhatsApp,
    EstadoCuenta,
    EstadoEnvio,
    EventoWebhook,
    MediaSubido,
    Mensaje,
    MotivoOmision,
    PasoConversacion,
    Plantilla,
)
from whatsapp_notify.outbound import actions
from whatsapp_notify.phones import mask
from whatsapp_notify.references import referencia_de

pytestmark = pytest.mark.django_db

TELEFONO = "525512345678"
OTRO_TELEFONO = "525587654321"
LOCALE = Path(whatsapp_notify.__file__).parent / "locale"


@pytest.fixture
def admin_user(django_user_model):
    # No password: hashing one costs a second per test and admin_client logs in by force.
    return django_user_model.objects.create_superuser("admin", "admin@example.com", password=None)


def crear_envio(**campos) -> EnvioWhatsApp:
    valores = {
        "telefono": TELEFONO,
        "telefono_original": "+52 55 1234 5678",
        "nombre": "Ana Pérez",
        "clase": "plantilla",
        "plantilla": "vehiculo_listo_cliente",
        "idioma": "es_MX",
        "variables": ["Ana", "Mazda 3", "OT-42"],
        "tipo": "vehiculo_listo",
        **campos,
    }
    return EnvioWhatsApp.objects.create(**valores)


def url(modelo: str, vista: str = "changelist", *args) -> str:
    return reverse(f"admin:whatsapp_notify_{modelo}_{vista}", args=args)


def ids_listados(response) -> set[int]:
    return {fila.pk for fila in response.context["cl"].result_list}


def mensajes_de(response) -> list[str]:
    return [str(mensaje) for mensaje in get_messages(response.wsgi_request)]


def accion(client, modelo: str, nombre: str, seleccion) -> object:
    datos = {"action": nombre, "_selected_action": [str(pk) for pk in seleccion]}
    return client.post(url(modelo), datos)


# -- envíos: changelist ----------------------------------------------------------------


def test_envio_changelist__lists_every_estado_with_masked_phones(admin_client):
    envios = [crear_envio(estado=estado) for estado in EstadoEnvio.values]

    response = admin_client.get(url("enviowhatsapp"))

    assert response.status_code == 200
    assert ids_listados(response) == {envio.pk for envio in envios}
    contenido = response.content.decode()
    for estado in EstadoEnvio:
        assert str(estado.label) in contenido
    assert "52******5678" in contenido
    assert TELEFONO not in contenido


@pytest.mark.parametrize(
    ("parametros", "esperados"),
    [
        ({"estado__exact": "fallido"}, {"fallido"}),
        ({"tipo": "recordatorio"}, {"recordatorio"}),
        ({"cuenta": "ventas"}, {"ventas"}),
        ({"clase__exact": "texto"}, {"texto"}),
        ({"motivo__exact": "sin_consentimiento"}, {"omitido"}),
        (
            {"creado_en__gte": "2020-01-01 00:00-06:00", "creado_en__lt": "2020-01-02 00:00-06:00"},
            {"antiguo"},
        ),
        ({"creado_en__year": "2020"}, {"antiguo"}),
    ],
    ids=["estado", "tipo", "cuenta", "clase", "motivo", "creado_en", "date_hierarchy"],
)
def test_envio_changelist__filters(admin_client, parametros, esperados):
    por_nombre = {
        "fallido": crear_envio(estado=EstadoEnvio.FALLIDO),
        "recordatorio": crear_envio(tipo="recordatorio"),
        "ventas": crear_envio(cuenta="ventas"),
        "texto": crear_envio(clase="texto", plantilla="", texto="Hola"),
        "omitido": crear_envio(estado=EstadoEnvio.OMITIDO, motivo="sin_consentimiento"),
        "antiguo": crear_envio(creado_en=timezone.make_aware(timezone.datetime(2020, 1, 1, 12))),
    }

    response = admin_client.get(url("enviowhatsapp"), parametros)

    assert response.status_code == 200
    assert ids_listados(response) == {por_nombre[nombre].pk for nombre in esperados}


@pytest.mark.parametrize(
    "termino",
    ["+52 55 1234 5678", "5512345678", "+521 55 1234 5678", "(55) 1234-5678", "5678"],
    ids=["e164-con-espacios", "nacional", "con-uno-movil", "con-parentesis", "ultimos-digitos"],
)
def test_envio_changelist__search_finds_a_phone_in_any_format(admin_client, termino):
    buscado = crear_envio()
    crear_envio(telefono=OTRO_TELEFONO)

    response = admin_client.get(url("enviowhatsapp"), {"q": termino})

    assert ids_listados(response) == {buscado.pk}


@pytest.mark.parametrize(
    ("campo", "valor", "termino"),
    [
        ("clave", "vehiculo_listo:42", "vehiculo_listo:42"),
        ("wamid", "wamid.HBgLNTI1NTEy", "HBgLNTI1"),
        ("nombre", "Bruno Díaz", "bruno"),
        ("plantilla", "cotizacion_lista_cliente", "cotizacion"),
    ],
    ids=["clave", "wamid", "nombre", "plantilla"],
)
def test_envio_changelist__search_by_other_fields(admin_client, campo, valor, termino):
    buscado = crear_envio(**{campo: valor})
    crear_envio(nombre="Otro", clave="otra", plantilla="otra")

    response = admin_client.get(url("enviowhatsapp"), {"q": termino})

    assert ids_listados(response) == {buscado.pk}


def test_envio_detail__shows_the_full_phone_read_only(admin_client):
    cliente = Cliente.objects.create(nombre="Ana", telefono="+52 55 1234 5678")
    envio = crear_envio(
        estado=EstadoEnvio.FALLIDO, error_codigo=131026, error_detalle="No es usuario de WhatsApp"
    )
    envio.referencia = cliente
    envio.save()
    Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono=TELEFONO, texto="Gracias", envio=envio
    )

    response = admin_client.get(url("enviowhatsapp", "change", envio.pk))

    contenido = response.content.decode()
    assert response.status_code == 200
    assert TELEFONO in contenido
    assert "No es usuario de WhatsApp" in contenido
    assert "Gracias" in contenido
    assert 'name="telefono"' not in contenido
    assert 'name="_save"' not in contenido
    assert "Ana" in contenido


def test_envio_add__is_forbidden(admin_client):
    assert admin_client.get(url("enviowhatsapp", "add")).status_code == 403


def test_envio_change__post_does_not_edit_the_row(admin_client):
    envio = crear_envio(estado=EstadoEnvio.FALLIDO)

    admin_client.post(url("enviowhatsapp", "change", envio.pk), {"estado": "enviado"})

    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.FALLIDO


# -- envíos: the resend action ---------------------------------------------------------


@pytest.mark.parametrize(
    "estado", [EstadoEnvio.FALLIDO, EstadoEnvio.CANCELADO], ids=["fallido", "cancelado"]
)
def test_reenviar__sends_again_through_the_pipeline(
    admin_client, outbox, django_capture_on_commit_callbacks, estado
):
    envio = crear_envio(
        estado=estado,
        intentos=5,
        error_codigo=131000,
        error_detalle="Algo salió mal",
        fallido_en=timezone.now(),
        proximo_intento=timezone.now() + timedelta(hours=1),
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = accion(admin_client, "enviowhatsapp", "reenviar", [envio.pk])

    envio.refresh_from_db()
    assert response.status_code == 302
    assert envio.estado == EstadoEnvio.ENVIADO
    assert (envio.intentos, envio.error_codigo, envio.error_detalle) == (1, None, "")
    assert envio.fallido_en is None
    assert [(m.telefono, m.contenido.nombre, m.referencia) for m in outbox] == [
        (TELEFONO, "vehiculo_listo_cliente", referencia_de(envio.pk))
    ]
    assert mensajes_de(response) == ["1 envío vuelve a la cola."]


def test_reenviar__incierto_asks_first_and_sends_nothing(admin_client, outbox):
    incierto = crear_envio(estado=EstadoEnvio.INCIERTO, intentos=5, error_detalle="Read timed out")
    fallido = crear_envio(estado=EstadoEnvio.FALLIDO, intentos=1)

    response = accion(admin_client, "enviowhatsapp", "reenviar", [incierto.pk, fallido.pk])

    assert response.status_code == 200
    assert response.templates[0].name == (
        "admin/whatsapp_notify/enviowhatsapp/reenviar_confirmacion.html"
    )
    html = response.content.decode()
    assert "pudo haber llegado ya al cliente" in html
    assert "puede recibirlo dos veces" in html
    assert mask(TELEFONO) in html
    assert TELEFONO not in html
    for pk in (incierto.pk, fallido.pk):
        assert f'name="_selected_action" value="{pk}"' in html
    assert 'name="confirmar" value="si"' in html
    assert [e.estado for e in (leer(incierto), leer(fallido))] == ["incierto", "fallido"]
    assert outbox == []


@pytest.mark.parametrize(
    ("idioma", "textos"),
    [
        pytest.param("es", ("Inicio", "Sí, reenviar", "No, volver"), id="es"),
        pytest.param("en", ("Home", "Yes, re-send", "No, go back", "receive it twice"), id="en"),
    ],
)
def test_reenviar__incierto_confirmation_speaks_the_active_language(
    admin_client, settings, idioma, textos
):
    settings.LANGUAGE_CODE = idioma
    incierto = crear_envio(estado=EstadoEnvio.INCIERTO, intentos=5)

    html = accion(admin_client, "enviowhatsapp", "reenviar", [incierto.pk]).content.decode()

    assert all(texto in html for texto in textos), [t for t in textos if t not in html]


def test_reenviar__incierto_cancel_goes_back_and_changes_nothing(admin_client, outbox):
    incierto = crear_envio(estado=EstadoEnvio.INCIERTO, intentos=5)
    pagina = accion(admin_client, "enviowhatsapp", "reenviar", [incierto.pk])

    volver = re.search(r'href="([^"]+)" class="button cancel-link"', pagina.content.decode())
    response = admin_client.get(volver.group(1))

    assert volver.group(1) == url("enviowhatsapp")
    assert response.status_code == 200
    assert (leer(incierto).estado, leer(incierto).intentos) == (EstadoEnvio.INCIERTO, 5)
    assert outbox == []


def test_reenviar__incierto_confirmed_is_sent_again(
    admin_client, outbox, django_capture_on_commit_callbacks
):
    incierto = crear_envio(estado=EstadoEnvio.INCIERTO, intentos=5, error_detalle="Read timed out")
    datos = {"action": "reenviar", "_selected_action": [str(incierto.pk)], "confirmar": "si"}

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url("enviowhatsapp"), datos)

    incierto = leer(incierto)
    assert response.status_code == 302
    assert (incierto.estado, incierto.intentos, incierto.error_detalle) == ("enviado", 1, "")
    assert [m.referencia for m in outbox] == [referencia_de(incierto.pk)]
    assert mensajes_de(response) == ["1 envío vuelve a la cola."]


def test_envio_changelist__duplicado_column_and_filter(admin_client):
    doble = crear_envio(estado=EstadoEnvio.ENTREGADO, duplicado=True, wamids_duplicados=["w.A"])
    crear_envio(estado=EstadoEnvio.ENTREGADO)

    response = admin_client.get(url("enviowhatsapp"), {"duplicado__exact": "1"})
    detalle = admin_client.get(url("enviowhatsapp", "change", doble.pk)).content.decode()

    assert ids_listados(response) == {doble.pk}
    assert "column-duplicado" in response.content.decode()
    assert "w.A" in detalle
    assert "ids de mensaje duplicados (wamid)" in detalle.lower()


def leer(envio: EnvioWhatsApp) -> EnvioWhatsApp:
    return EnvioWhatsApp.objects.get(pk=envio.pk)


@pytest.mark.parametrize(
    "estado",
    [EstadoEnvio.ENVIADO, EstadoEnvio.ENTREGADO, EstadoEnvio.LEIDO],
    ids=["enviado", "entregado", "leido"],
)
def test_reenviar__skips_what_was_already_sent_and_says_why(
    admin_client, outbox, django_capture_on_commit_callbacks, estado
):
    ya_enviados = [crear_envio(estado=estado, wamid=f"wamid.{n}") for n in range(2)]
    fallido = crear_envio(estado=EstadoEnvio.FALLIDO)

    with django_capture_on_commit_callbacks(execute=True):
        response = accion(
            admin_client, "enviowhatsapp", "reenviar", [e.pk for e in [*ya_enviados, fallido]]
        )

    assert {e.estado for e in EnvioWhatsApp.objects.filter(pk__in=[e.pk for e in ya_enviados])} == {
        estado
    }
    assert [m.referencia for m in outbox] == [referencia_de(fallido.pk)]
    razon = RAZONES_NO_REENVIO[actions.YA_ENVIADO]
    assert mensajes_de(response) == [
        "1 envío vuelve a la cola.",
        f"2 envíos no se reenviaron: {razon}.",
    ]


def test_reenviar__a_notice_a_later_envio_delivered_is_not_sent_again_and_says_why(
    admin_client, outbox, django_capture_on_commit_callbacks
):
    orden = Orden.objects.create(numero="OT-1", cliente=Cliente.objects.create(nombre="Ana"))
    viejo = crear_envio(estado=EstadoEnvio.FALLIDO, referencia=orden, clave="vehiculo_listo:1")
    crear_envio(estado=EstadoEnvio.ENTREGADO, referencia=orden, clave="vehiculo_listo:1:bis")

    with django_capture_on_commit_callbacks(execute=True):
        response = accion(admin_client, "enviowhatsapp", "reenviar", [viejo.pk])

    assert leer(viejo).estado == EstadoEnvio.FALLIDO
    assert outbox == []
    razon = RAZONES_NO_REENVIO[actions.SUPERADO]
    assert mensajes_de(response) == [f"1 envío no se reenvió: {razon}."]


def test_reenviar__omitido_without_consent_stays_omitido_with_the_reason(
    admin_client, outbox, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(REQUIRE_CONSENT=True)
    envio = crear_envio(estado=EstadoEnvio.OMITIDO, motivo=MotivoOmision.SIN_CONSENTIMIENTO)

    with django_capture_on_commit_callbacks(execute=True):
        response = accion(admin_client, "enviowhatsapp", "reenviar", [envio.pk])

    envio.refresh_from_db()
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.SIN_CONSENTIMIENTO)
    assert outbox == []
    assert mensajes_de(response) == ["1 envío no se reenvió: sigue omitido: Sin consentimiento."]


def test_reenviar__omitido_goes_once_consent_was_granted(
    admin_client, outbox, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(REQUIRE_CONSENT=True)
    envio = crear_envio(estado=EstadoEnvio.OMITIDO, motivo=MotivoOmision.SIN_CONSENTIMIENTO)
    otorgar_consentimiento("+52 55 1234 5678")

    with django_capture_on_commit_callbacks(execute=True):
        accion(admin_client, "enviowhatsapp", "reenviar", [envio.pk])

    envio.refresh_from_db()
    assert (envio.estado, envio.motivo) == (EstadoEnvio.ENVIADO, "")
    assert [m.referencia for m in outbox] == [referencia_de(envio.pk)]


@pytest.mark.parametrize(
    ("original", "motivo"),
    [("", MotivoOmision.SIN_TELEFONO), ("12", MotivoOmision.TELEFONO_INVALIDO)],
    ids=["sin-telefono", "telefono-invalido"],
)
def test_reenviar__omitido_with_a_bad_phone_stays_omitido(outbox, original, motivo):
    envio = crear_envio(
        telefono="", telefono_original=original, estado=EstadoEnvio.OMITIDO, motivo=motivo
    )

    resultado = actions.reenviar(EnvioWhatsApp.objects.all())

    envio.refresh_from_db()
    assert resultado == (0, {motivo: 1})
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, motivo)


def test_reenviar__omitido_with_a_phone_that_now_parses_is_normalised_and_queued(
    django_capture_on_commit_callbacks, outbox
):
    envio = crear_envio(
        telefono="",
        telefono_original="(55) 1234-5678",
        estado=EstadoEnvio.OMITIDO,
        motivo=MotivoOmision.TELEFONO_INVALIDO,
    )

    with django_capture_on_commit_callbacks(execute=True):
        resultado = actions.reenviar([envio])

    envio.refresh_from_db()
    assert resultado == (1, {})
    assert (envio.estado, envio.telefono) == (EstadoEnvio.ENVIADO, TELEFONO)


def test_reenviar__whatsapp_disabled_keeps_omitido_as_deshabilitado(wa_settings, outbox):
    wa_settings(ENABLED=False)
    envio = crear_envio(estado=EstadoEnvio.OMITIDO, motivo=MotivoOmision.SIN_CONSENTIMIENTO)

    resultado = actions.reenviar([envio])

    envio.refresh_from_db()
    assert resultado == (0, {MotivoOmision.DESHABILITADO: 1})
    assert envio.motivo == MotivoOmision.DESHABILITADO


def test_reenviar__fallido_whose_consent_was_revoked_is_left_as_it_was(wa_settings, outbox):
    wa_settings(REQUIRE_CONSENT=True)
    revocar_consentimiento(TELEFONO)
    envio = crear_envio(estado=EstadoEnvio.FALLIDO, error_codigo=131050)

    resultado = actions.reenviar([envio])

    envio.refresh_from_db()
    assert resultado == (0, {MotivoOmision.BAJA: 1})
    assert (envio.estado, envio.motivo, envio.error_codigo) == (EstadoEnvio.FALLIDO, "", 131050)


def test_reenviar__free_text_outside_the_window_stays_omitido(outbox):
    envio = crear_envio(
        clase="texto",
        plantilla="",
        texto="¿Confirmas tu cita?",
        estado=EstadoEnvio.OMITIDO,
        motivo=MotivoOmision.FUERA_DE_VENTANA,
    )

    assert actions.reenviar([envio]) == (0, {MotivoOmision.FUERA_DE_VENTANA: 1})


def test_reenviar__omitido_by_a_failed_disparador_is_never_sent(outbox):
    envio = crear_envio(estado=EstadoEnvio.OMITIDO, motivo=MotivoOmision.ERROR_DISPARADOR)

    assert actions.reenviar([envio]) == (0, {MotivoOmision.ERROR_DISPARADOR: 1})
    envio.refresh_from_db()
    assert envio.estado == EstadoEnvio.OMITIDO


def test_reenviar__cancelado_due_in_the_future_goes_back_to_programado(
    outbox, django_capture_on_commit_callbacks
):
    futuro = timezone.now() + timedelta(days=1)
    envio = crear_envio(estado=EstadoEnvio.CANCELADO, programado_para=futuro)

    with django_capture_on_commit_callbacks(execute=True):
        resultado = actions.reenviar([envio])

    envio.refresh_from_db()
    assert resultado == (1, {})
    assert envio.estado == EstadoEnvio.PROGRAMADO
    assert outbox == []


@pytest.mark.parametrize(
    "estado",
    [EstadoEnvio.PENDIENTE, EstadoEnvio.ENVIANDO, EstadoEnvio.PROGRAMADO],
    ids=["pendiente", "enviando", "programado"],
)
def test_reenviar__leaves_envios_in_progress_alone(outbox, estado):
    envio = crear_envio(estado=estado, intentos=2)

    assert actions.reenviar([envio]) == (0, {actions.EN_CURSO: 1})
    envio.refresh_from_db()
    assert (envio.estado, envio.intentos) == (estado, 2)


def test_reenviar__an_envio_that_moved_meanwhile_is_not_reset(outbox):
    leido = crear_envio(estado=EstadoEnvio.FALLIDO)
    EnvioWhatsApp.objects.filter(pk=leido.pk).update(estado=EstadoEnvio.ENVIADO)

    assert actions.reenviar([leido]) == (0, {actions.EN_CURSO: 1})
    leido.refresh_from_db()
    assert leido.estado == EstadoEnvio.ENVIADO


def test_reenviar__sends_the_estado_changed_signal(django_capture_on_commit_callbacks):
    recibidos = []

    def receptor(sender, envio, estado_anterior, estado, **kwargs):
        recibidos.append((envio.pk, estado_anterior, estado))

    envio = crear_envio(estado=EstadoEnvio.FALLIDO)
    signals.envio_estado_cambiado.connect(receptor)
    try:
        actions.reenviar([envio])
    finally:
        signals.envio_estado_cambiado.disconnect(receptor)

    assert recibidos == [(envio.pk, EstadoEnvio.FALLIDO, EstadoEnvio.PENDIENTE)]


@pytest.mark.parametrize(
    ("permisos", "ofrecida"),
    [(["view_enviowhatsapp"], False), (["view_enviowhatsapp", "change_enviowhatsapp"], True)],
    ids=["solo-ver", "puede-cambiar"],
)
def test_reenviar__is_offered_only_with_the_change_permission(client, permisos, ofrecida):
    crear_envio(estado=EstadoEnvio.FALLIDO)
    usuario = User.objects.create_user("operadora", is_staff=True)
    usuario.user_permissions.add(*Permission.objects.filter(codename__in=permisos))
    client.force_login(usuario)

    response = client.get(url("enviowhatsapp"))

    formulario = response.context["action_form"]
    opciones = (
        [nombre for nombre, _etiqueta in formulario.fields["action"].choices] if formulario else []
    )
    assert response.status_code == 200
    assert ("reenviar" in opciones) is ofrecida


# -- accounts: the resume action -------------------------------------------------------


def test_reanudar__unpauses_the_account_and_dispatches_what_waited(
    admin_client, outbox, django_capture_on_commit_callbacks
):
    EstadoCuenta.objects.create(
        cuenta="default", pausada=True, pausada_en=timezone.now(), error_codigo=190
    )
    # Its task already ran while the account was paused.
    envio = crear_envio(estado=EstadoEnvio.PENDIENTE, despachado_en=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        response = accion(admin_client, "estadocuenta", "reanudar", ["default"])

    cuenta = EstadoCuenta.objects.get(cuenta="default")
    envio.refresh_from_db()
    assert (cuenta.pausada, cuenta.error_codigo) == (False, None)
    assert cuenta.reanudada_en is not None
    assert envio.estado == EstadoEnvio.ENVIADO
    assert [m.referencia for m in outbox] == [referencia_de(envio.pk)]
    assert mensajes_de(response) == [
        "Cuenta reanudada: default. Sus envíos en espera se despachan ahora."
    ]


def test_reanudar__an_active_account_is_reported_and_nothing_dispatched(
    admin_client, django_capture_on_commit_callbacks
):
    EstadoCuenta.objects.create(cuenta="default", pausada=False)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = accion(admin_client, "estadocuenta", "reanudar", ["default"])

    assert callbacks == []
    assert mensajes_de(response) == ["Ninguna cuenta estaba en pausa."]


# -- the other models ------------------------------------------------------------------


def test_consentimiento_changelist__masks_filters_and_searches(admin_client):
    otorgado = otorgar_consentimiento("+52 55 1234 5678", categoria="utility")
    revocado = revocar_consentimiento("+52 55 8765 4321", origen="whatsapp", categoria="utility")
    marketing = revocar_consentimiento("+52 55 1234 5678", origen="meta", categoria="marketing")

    completa = admin_client.get(url("consentimientocliente"))
    por_estado = admin_client.get(url("consentimientocliente"), {"estado__exact": "revocado"})
    por_origen = admin_client.get(url("consentimientocliente"), {"origen__exact": "erp"})
    por_telefono = admin_client.get(url("consentimientocliente"), {"q": "+52 55 8765 4321"})
    por_categoria = admin_client.get(
        url("consentimientocliente"), {"categoria__exact": "marketing"}
    )

    assert ids_listados(completa) == {otorgado.pk, revocado.pk, marketing.pk}
    assert TELEFONO not in completa.content.decode()
    assert "Marketing" in completa.content.decode()  # the category column
    assert ids_listados(por_estado) == {revocado.pk, marketing.pk}
    assert ids_listados(por_origen) == {otorgado.pk}
    assert ids_listados(por_telefono) == {revocado.pk}
    assert ids_listados(por_categoria) == {marketing.pk}


def test_consentimiento_add__normalises_the_phone_and_stamps_the_grant(admin_client):
    datos = {
        "telefono": "(55) 1234-5678",
        "categoria": "marketing",
        "estado": "otorgado",
        "origen": "admin",
        "evidencia": "x",
    }

    response = admin_client.post(url("consentimientocliente", "add"), datos)

    consentimiento = ConsentimientoCliente.objects.get()
    assert response.status_code == 302
    assert consentimiento.telefono == TELEFONO
    assert consentimiento.categoria == "marketing"
    assert consentimiento.otorgado_en is not None
    assert consentimiento.revocado_en is None


def test_consentimiento_add__rejects_an_invalid_phone(admin_client):
    datos = {"telefono": "12", "estado": "otorgado", "origen": "admin"}

    response = admin_client.post(url("consentimientocliente", "add"), datos)

    assert response.status_code == 200
    assert "telefono" in response.context["adminform"].form.errors
    assert not ConsentimientoCliente.objects.exists()


def test_consentimiento_change__revoking_stamps_revocado_en(admin_client):
    consentimiento = otorgar_consentimiento(TELEFONO)
    datos = {"estado": "revocado", "origen": "admin", "evidencia": "Llamada"}

    admin_client.post(url("consentimientocliente", "change", consentimiento.pk), datos)

    consentimiento.refresh_from_db()
    assert (consentimiento.estado, consentimiento.telefono) == ("revocado", TELEFONO)
    assert consentimiento.revocado_en is not None


def test_mensaje_changelist__filters_searches_and_is_read_only(admin_client):
    envio = crear_envio()
    entrante = Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono=TELEFONO, texto="BAJA", tipo="text"
    )
    saliente = Mensaje.objects.create(
        direccion=Direccion.SALIENTE, wa_id="5215587654321", tipo="template", envio=envio
    )

    por_direccion = admin_client.get(url("mensaje"), {"direccion__exact": "entrante"})
    por_tipo = admin_client.get(url("mensaje"), {"tipo": "template"})
    por_wa_id = admin_client.get(url("mensaje"), {"q": "+52 55 8765 4321"})
    detalle = admin_client.get(url("mensaje", "change", entrante.pk))

    assert ids_listados(por_direccion) == {entrante.pk}
    assert ids_listados(por_tipo) == {saliente.pk}
    assert ids_listados(por_wa_id) == {saliente.pk}
    assert 'name="_save"' not in detalle.content.decode()
    assert admin_client.get(url("mensaje", "add")).status_code == 403


def test_conversacion__lista_filtra_y_muestra_el_hilo_con_sus_estados(admin_client):
    conversacion = Conversacion.objects.create(
        telefono=TELEFONO, nombre="Ana Pérez", estado="agente", no_leidos=2,
        ventana_hasta=timezone.now() + timedelta(hours=3),
    )  # fmt: skip
    Conversacion.objects.create(telefono=OTRO_TELEFONO, nombre="Bruno")
    envio = crear_envio(estado=EstadoEnvio.LEIDO)
    Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono=TELEFONO, texto="¿Cuánto cuesta?",
        conversacion=conversacion, fecha=timezone.now(),
    )  # fmt: skip
    Mensaje.objects.create(
        direccion=Direccion.SALIENTE, telefono=TELEFONO, tipo="template", envio=envio,
        conversacion=conversacion, fecha=timezone.now(),
    )  # fmt: skip

    lista = admin_client.get(url("conversacion"))
    con_agente = admin_client.get(url("conversacion"), {"estado__exact": "agente"})
    por_telefono = admin_client.get(url("conversacion"), {"q": "+52 55 1234 5678"})
    detalle = admin_client.get(url("conversacion", "change", conversacion.pk)).content.decode()

    assert mask(TELEFONO) in lista.content.decode()
    assert TELEFONO not in lista.content.decode()
    assert ids_listados(con_agente) == ids_listados(por_telefono) == {conversacion.pk}
    assert "¿Cuánto cuesta?" in detalle
    assert "Leído" in detalle  # the outgoing message's status, in the thread
    assert 'name="_save"' not in detalle
    assert admin_client.get(url("conversacion", "add")).status_code == 403


def test_conversacion__tomar_y_devolver_quedan_registrados(admin_client, admin_user):
    conversacion = Conversacion.objects.create(telefono=TELEFONO, nombre="Ana")

    tomada = accion(admin_client, "conversacion", "tomar", [conversacion.pk])
    conversacion.refresh_from_db()
    estado_tomada, agente = conversacion.estado, conversacion.agente
    devuelta = accion(admin_client, "conversacion", "devolver_al_bot", [conversacion.pk])
    conversacion.refresh_from_db()

    assert (estado_tomada, agente) == ("agente", "admin")
    assert (conversacion.estado, conversacion.agente) == ("bot", "")
    assert mensajes_de(tomada) == ["1 conversación es tuya."]
    assert mensajes_de(devuelta)[-1] == "1 conversación vuelve al bot."
    assert list(PasoConversacion.objects.values_list("tipo", "quien", "motivo")) == [
        ("tomada", "admin", ""), ("bot", "admin", "admin"),
    ]  # fmt: skip


def test_conversacion__las_acciones_piden_el_permiso_de_cambiar(client, django_user_model):
    usuario = django_user_model.objects.create_user("lector", is_staff=True)
    usuario.user_permissions.add(Permission.objects.get(codename="view_conversacion"))
    client.force_login(usuario)

    respuesta = client.get(url("conversacion"))

    assert respuesta.status_code == 200
    assert respuesta.context["action_form"] is None  # neither «Tomar» nor «Devolver al bot»


def test_media_subido_changelist__is_read_only(admin_client):
    ahora = timezone.now()
    MediaSubido.objects.create(
        cuenta="default", sha256="ab" * 32, media_id="123", expira_en=ahora + timedelta(days=28)
    )

    response = admin_client.get(url("mediasubido"))

    assert response.status_code == 200
    assert "abababababab" in response.content.decode()
    assert admin_client.get(url("mediasubido", "add")).status_code == 403


# -- no N+1 ----------------------------------------------------------------------------


def _poblar(modelo: str, desde: int, hasta: int) -> None:
    ahora = timezone.now()
    for n in range(desde, hasta):
        if modelo == "enviowhatsapp":
            crear_envio(estado=EstadoEnvio.values[n % len(EstadoEnvio.values)], tipo=f"t{n % 3}")
        elif modelo == "mensaje":
            Mensaje.objects.create(
                direccion=Direccion.SALIENTE, telefono=TELEFONO, envio=crear_envio()
            )
        elif modelo == "consentimientocliente":
            ConsentimientoCliente.objects.create(telefono=f"5255{n:08d}", estado="otorgado")
        elif modelo == "conversacion":
            conversacion = Conversacion.objects.create(telefono=f"5255{n:08d}", nombre=f"C{n}")
            Mensaje.objects.create(
                direccion=Direccion.ENTRANTE, telefono=conversacion.telefono,
                conversacion=conversacion,
            )  # fmt: skip
        elif modelo == "estadocuenta":
            EstadoCuenta.objects.create(cuenta=f"cuenta{n}", pausada=bool(n % 2))
        else:
            MediaSubido.objects.create(
                cuenta="default", sha256=f"{n:064d}", media_id=str(n), expira_en=ahora
            )


@pytest.mark.parametrize(
    "modelo",
    [
        "enviowhatsapp", "mensaje", "consentimientocliente", "estadocuenta", "mediasubido",
        "conversacion",
    ],
)  # fmt: skip
def test_changelist__query_count_does_not_grow_with_rows(
    admin_client, django_assert_max_num_queries, modelo
):
    _poblar(modelo, 0, 2)
    admin_client.get(url(modelo))  # warm caches (session, content types)
    with CaptureQueriesContext(connection) as pocas:
        assert admin_client.get(url(modelo)).status_code == 200
    _poblar(modelo, 2, 42)

    with django_assert_max_num_queries(len(pocas.captured_queries)):
        response = admin_client.get(url(modelo))

    assert len(response.context["cl"].result_list) >= 40


# -- translations ----------------------------------------------------------------------


def _msgids_del_modelo(modelo) -> set[str]:
    opts = modelo._meta
    textos = {opts.verbose_name, opts.verbose_name_plural}
    for campo in opts.fields:
        if campo.auto_created:
            continue
        textos |= {campo.verbose_name, campo.help_text}
        textos |= {etiqueta for _valor, etiqueta in campo.flatchoices}
    return textos


def _msgids_del_admin(model_admin) -> set[str]:
    textos = {titulo for titulo, _opciones in model_admin.fieldsets or ()}
    for nombre in model_admin.list_display + tuple(model_admin.actions or ()):
        atributo = getattr(model_admin, nombre, None)
        textos.add(getattr(atributo, "short_description", None))
    return textos


def msgids() -> set[str]:
    """Every user-facing string of the models, the admin and the error table, untranslated."""
    app = whatsapp_notify.apps.WhatsAppNotifyConfig
    modelos = [
        EnvioWhatsApp,
        Mensaje,
        ConsentimientoCliente,
        MediaSubido,
        EstadoCuenta,
        EventoWebhook,
        Conversacion,
        CambioConsentimiento,
    ]
    errores = [exceptions.ERROR_GENERICO, *meta_errors.ERROR_MESSAGES.values()]
    textos = {app.verbose_name, *RAZONES_NO_REENVIO.values(), *errores}
    for modelo in modelos:
        textos |= _msgids_del_modelo(modelo)
        textos |= _msgids_del_admin(admin.site._registry[modelo])
    textos |= _msgids_del_modelo(PasoConversacion)
    with translation.override(None):
        return {str(texto) for texto in textos if texto}


# Beside tests/test_catalogos.py (makemessages over a copy: nothing missing, fuzzy or stale),
# this one catches a model or admin string that is not wrapped for translation at all.
@pytest.mark.parametrize("idioma", ["es", "en", "pt_BR"])
def test_catalog__holds_every_model_and_admin_string(idioma):
    with (LOCALE / idioma / "LC_MESSAGES" / "django.mo").open("rb") as archivo:
        catalogo = gettext.GNUTranslations(archivo)

    faltan = sorted(texto for texto in msgids() if texto not in catalogo._catalog)

    assert faltan == [], f"Faltan en locale/{idioma}: ejecuta makemessages y compilemessages"


def test_catalog__spanish_is_the_source_text_once():
    # Spanish is the language the strings are written in: a msgstr repeating its msgid (a
    # merge gone wrong) would show every sentence two or three times in the admin.
    with (LOCALE / "es" / "LC_MESSAGES" / "django.mo").open("rb") as archivo:
        catalogo = gettext.GNUTranslations(archivo)

    repetidos = [
        msgid
        for msgid, msgstr in catalogo._catalog.items()
        if isinstance(msgid, str) and msgid and msgstr.count(msgid) > 1
    ]

    assert repetidos == []


def test_translation__es_renders_the_spanish_names():
    with translation.override("es"):
        assert str(EnvioWhatsApp._meta.verbose_name) == "envío de WhatsApp"
        assert str(EstadoEnvio.LEIDO.label) == "Leído"
        assert str(RAZONES_NO_REENVIO[actions.EN_CURSO]).startswith("sigue en curso")


def test_translation__en_renders_the_english_names():
    with translation.override("en"):
        assert str(EnvioWhatsApp._meta.verbose_name) == "outgoing notification"
        assert str(EstadoEnvio.LEIDO.label) == "Read"
        assert str(MotivoOmision.SIN_CONSENTIMIENTO.label) == "No consent"
        assert str(whatsapp_notify.apps.WhatsAppNotifyConfig.verbose_name) == (
            "WhatsApp notifications"
        )


def test_translation__admin_changelist_speaks_english_when_active(admin_client, settings):
    settings.LANGUAGE_CODE = "en"
    crear_envio(estado=EstadoEnvio.FALLIDO)

    contenido = admin_client.get(url("enviowhatsapp")).content.decode()

    assert "Failed" in contenido
    assert "Resend" in contenido


# -- the inbox: replying from a conversation -----------------------------------------------


def _conversacion(ventana: bool = True) -> Conversacion:
    ahora = timezone.now()
    conversacion = Conversacion.objects.create(
        telefono=TELEFONO, nombre="Ana Pérez", no_leidos=3,
        ventana_hasta=ahora + timedelta(hours=3) if ventana else ahora - timedelta(hours=1),
    )  # fmt: skip
    hace = timedelta(minutes=5) if ventana else timedelta(days=2)
    Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono=TELEFONO, wamid="wamid.ANA1", texto="¿Precio?",
        conversacion=conversacion, fecha=ahora - hace,
    )  # fmt: skip
    return conversacion


def test_bandeja__abrirla_marca_leido_y_ofrece_responder(admin_client):
    conversacion = _conversacion()

    pagina = admin_client.get(url("conversacion", "change", conversacion.pk)).content.decode()

    conversacion.refresh_from_db()
    assert conversacion.no_leidos == 0
    assert 'name="texto"' in pagina
    assert "¿Precio?" in pagina


def test_bandeja__responder_manda_texto_una_vez_y_la_toma(
    admin_client, outbox, django_capture_on_commit_callbacks
):
    conversacion = _conversacion()
    datos = {"texto": "Son $450, ¿te agendo?", "token": "abc123"}

    with django_capture_on_commit_callbacks(execute=True):
        primera = admin_client.post(url("conversacion", "responder", conversacion.pk), datos)
        admin_client.post(url("conversacion", "responder", conversacion.pk), datos)  # double click

    assert primera.status_code == 302
    envio = EnvioWhatsApp.objects.get()
    assert (envio.tipo, envio.texto, envio.responde_a, envio.estado) == (
        "agente", "Son $450, ¿te agendo?", "wamid.ANA1", EstadoEnvio.ENVIADO,
    )  # fmt: skip
    assert len(outbox) == 1
    conversacion.refresh_from_db()
    assert (conversacion.estado, conversacion.agente) == ("agente", "admin")
    assert "Respuesta en camino." in mensajes_de(primera)


def test_bandeja__fuera_de_la_ventana_no_manda_texto_y_ofrece_plantillas(admin_client, outbox):
    conversacion = _conversacion(ventana=False)
    Plantilla.objects.create(
        cuenta="default", nombre="seguimiento", idioma="es_MX", estado="APPROVED",
        parametros_cuerpo=1, cuerpo="Hola {{1}}, ¿seguimos?",
    )  # fmt: skip

    pagina = admin_client.get(url("conversacion", "change", conversacion.pk)).content.decode()
    texto = admin_client.post(
        url("conversacion", "responder", conversacion.pk), {"texto": "Hola", "token": "t1"}
    )

    assert 'name="texto"' not in pagina
    assert "seguimiento (es_MX)" in pagina
    assert not EnvioWhatsApp.objects.exists()
    assert "La ventana de 24 horas está cerrada" in mensajes_de(texto)[-1]


def test_bandeja__la_plantilla_sale_con_sus_variables(
    admin_client, outbox, django_capture_on_commit_callbacks
):
    conversacion = _conversacion(ventana=False)
    fila = Plantilla.objects.create(
        cuenta="default", nombre="seguimiento", idioma="es_MX", estado="APPROVED",
        parametros_cuerpo=1, cuerpo="Hola {{1}}, ¿seguimos?",
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            url("conversacion", "responder", conversacion.pk),
            {"plantilla": fila.pk, "variables": "Ana\n", "token": "t2"},
        )
        mala = admin_client.post(
            url("conversacion", "responder", conversacion.pk),
            {"plantilla": fila.pk, "variables": "", "token": "t3"},
        )

    [envio] = EnvioWhatsApp.objects.all()
    assert (envio.plantilla, envio.variables, envio.estado) == (
        "seguimiento", ["Ana"], EstadoEnvio.ENVIADO,
    )  # fmt: skip
    assert "espera 1 variable" in mensajes_de(mala)[-1]


def test_bandeja__sin_permiso_de_cambiar_no_responde(client, django_user_model, outbox):
    conversacion = _conversacion()
    usuario = django_user_model.objects.create_user("lector2", is_staff=True)
    usuario.user_permissions.add(Permission.objects.get(codename="view_conversacion"))
    client.force_login(usuario)

    pagina = client.get(url("conversacion", "change", conversacion.pk)).content.decode()
    intento = client.post(url("conversacion", "responder", conversacion.pk), {"texto": "x"})

    assert 'name="texto"' not in pagina
    assert intento.status_code == 403
    assert not EnvioWhatsApp.objects.exists()


def test_conversacion__filtro_de_atencion(admin_client):
    espera = Conversacion.objects.create(telefono="525500000001", estado="agente")
    mia = Conversacion.objects.create(telefono="525500000002", estado="agente", agente="admin")
    Conversacion.objects.create(telefono="525500000003", estado="agente", agente="luis")
    sin_leer = Conversacion.objects.create(telefono="525500000004", no_leidos=2)

    vistas = {
        valor: ids_listados(admin_client.get(url("conversacion"), {"atencion": valor}))
        for valor in ("espera", "mias", "sin_leer")
    }

    assert vistas == {"espera": {espera.pk}, "mias": {mia.pk}, "sin_leer": {sin_leer.pk}}


def test_bandeja__el_mismo_formulario_con_otro_texto_no_se_manda(
    admin_client, outbox, django_capture_on_commit_callbacks
):
    conversacion = _conversacion()
    destino = url("conversacion", "responder", conversacion.pk)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(destino, {"texto": "Son $450", "token": "t9"})
        otra = admin_client.post(destino, {"texto": "Perdón, son $540", "token": "t9"})

    assert [e.texto for e in EnvioWhatsApp.objects.all()] == ["Son $450"]
    assert "ya se usó para otro mensaje" in mensajes_de(otra)[-1]


def test_bandeja__ver_sin_poder_responder_no_la_marca_leida(client, django_user_model):
    conversacion = _conversacion()
    usuario = django_user_model.objects.create_user("lector3", is_staff=True)
    usuario.user_permissions.add(Permission.objects.get(codename="view_conversacion"))
    client.force_login(usuario)

    client.get(url("conversacion", "change", conversacion.pk))

    conversacion.refresh_from_db()
    assert conversacion.no_leidos == 3


@pytest.mark.parametrize("plantilla", ["abc", "", "999999"])
def test_bandeja__una_plantilla_que_no_es_de_la_lista_lo_dice(admin_client, outbox, plantilla):
    conversacion = _conversacion(ventana=False)

    respuesta = admin_client.post(
        url("conversacion", "responder", conversacion.pk), {"plantilla": plantilla, "token": "x"}
    )

    assert respuesta.status_code == 302
    assert mensajes_de(respuesta)[-1] == "Elige una plantilla de la lista de esta cuenta."
    assert not EnvioWhatsApp.objects.exists()


def test_cuentas__un_error_enorme_con_nul_sale_corto_y_sin_nul_en_la_lista(admin_client):
    from django.db import connection

    # PostgreSQL refuses NUL in text; SQLite stores what a provider sent.
    nul = "\x00" if connection.vendor == "sqlite" else ""
    EstadoCuenta.objects.create(
        cuenta="default", pausada=True, pausada_en=timezone.now(), error_codigo=None,
        error_detalle=f"Token inválido {nul}" + "x" * 100_000,
    )  # fmt: skip

    response = admin_client.get(reverse("admin:whatsapp_notify_estadocuenta_changelist"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "\x00" not in html
    assert "x" * 1001 not in html
    assert "Token inválido" in html
