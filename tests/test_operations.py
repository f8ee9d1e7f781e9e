"""Operating the outbox (``operations``): retention purge, failure-rate alert, POLICY.

Time is controlled by passing ``ahora`` and by dating rows and files in the past; nothing
sleeps. Celery is eager and the backend is locmem: ``outbox`` holds what reached it.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.utils import timezone

from tests.celery_app import app as celery_app
from tests.testapp.models import Cliente, Orden
from whatsapp_notify import enviar_plantilla, tasks
from whatsapp_notify.checks import check_politica
from whatsapp_notify.messages import Documento
from whatsapp_notify.models import (
    ClaseEnvio,
    Direccion,
    EnvioWhatsApp,
    EstadoEnvio,
    EventoWebhook,
    Mensaje,
    MotivoOmision,
)
from whatsapp_notify.outbound import maintenance
from whatsapp_notify.outbound.outbox import almacenar_documento
from whatsapp_notify.states import TERMINALES

pytestmark = pytest.mark.django_db

TELEFONO = "+52 55 1234 5678"
RETENCION = 180  # RETENTION_DAYS by default
PDF = b"%PDF-1.4\n% cotizacion 17\n"
OTRO_PDF = b"%PDF-1.4\n% factura 18\n"


@pytest.fixture(autouse=True)
def _cache_limpia():
    # The alert remembers its last e-mail in the default cache (locmem here).
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def media(settings, tmp_path):
    """This test's own MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def hace(dias: float, ahora=None):
    return (ahora or timezone.now()) - timedelta(days=dias)


def nuevo_envio(documento: bytes | None = None, **opciones) -> EnvioWhatsApp:
    if documento is not None:
        opciones.update(documento=documento, nombre_documento="cotizacion.pdf")
    return enviar_plantilla(TELEFONO, "cotizacion_lista_cliente", variables=["Ana"], **opciones)


def envejecer(envio: EnvioWhatsApp, estado: str, dias: float) -> EnvioWhatsApp:
    """Put ``envio`` in ``estado``, created and last changed ``dias`` days ago."""
    cuando = hace(dias)
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(
        estado=estado, creado_en=cuando, actualizado_en=cuando
    )
    return envio


def existe(envio: EnvioWhatsApp) -> bool:
    return EnvioWhatsApp.objects.filter(pk=envio.pk).exists()


def ruta(media, envio: EnvioWhatsApp):
    return media / EnvioWhatsApp.objects.get(pk=envio.pk).documento.name


def fechar_archivo(camino, dias: float) -> None:
    marca = hace(dias).timestamp()
    os.utime(camino, (marca, marca))


# -- retention purge ---------------------------------------------------------------------


@pytest.mark.parametrize("estado", sorted(TERMINALES), ids=str)
def test_purgar__borra_envios_terminados_viejos_y_conserva_los_recientes(estado):
    viejo = envejecer(nuevo_envio(), estado, RETENCION + 1)
    reciente = envejecer(nuevo_envio(), estado, RETENCION - 1)

    purga = maintenance.purgar()

    assert (existe(viejo), existe(reciente)) == (False, True)
    assert purga.envios == 1


@pytest.mark.parametrize(
    "estado",
    [EstadoEnvio.PROGRAMADO, EstadoEnvio.PENDIENTE, EstadoEnvio.ENVIANDO, EstadoEnvio.INCIERTO],
    ids=str,
)
def test_purgar__nunca_borra_envios_sin_terminar(estado):
    envio = envejecer(nuevo_envio(), estado, RETENCION * 3)

    assert maintenance.purgar().envios == 0
    assert existe(envio)


def test_purgar__retention_days_fija_el_corte(wa_settings):
    wa_settings(RETENTION_DAYS=30)
    viejo = envejecer(nuevo_envio(), EstadoEnvio.LEIDO, 31)
    reciente = envejecer(nuevo_envio(), EstadoEnvio.LEIDO, 29)

    maintenance.purgar()

    assert (existe(viejo), existe(reciente)) == (False, True)


def test_purgar__ahora_mueve_el_corte():
    envio = envejecer(nuevo_envio(), EstadoEnvio.ENTREGADO, 10)

    assert maintenance.purgar(ahora=hace(-(RETENCION - 11))).envios == 0
    assert maintenance.purgar(ahora=hace(-(RETENCION - 9))).envios == 1
    assert not existe(envio)


def test_purgar__borra_el_documento_que_ningun_envio_usa(media):
    envio = nuevo_envio(PDF)
    archivo = ruta(media, envio)
    envejecer(envio, EstadoEnvio.ENTREGADO, RETENCION + 1)
    viejo = hace(RETENCION + 1).timestamp()
    os.utime(archivo, (viejo, viejo))

    purga = maintenance.purgar()

    assert not archivo.exists()
    assert (purga.envios, purga.archivos) == (1, 1)


def test_purgar__conserva_el_documento_reutilizado_hace_poco(media):
    # An envío being recorded now reuses the old file (same bytes) but is not committed yet:
    # reusing refreshed the file's time, so the purge keeps it.
    envio = nuevo_envio(PDF)
    archivo = ruta(media, envio)
    envejecer(envio, EstadoEnvio.ENTREGADO, RETENCION + 1)
    viejo = hace(RETENCION + 1).timestamp()
    os.utime(archivo, (viejo, viejo))
    storage = EnvioWhatsApp._meta.get_field("documento").storage
    almacenar_documento(Documento(PDF, "cotizacion.pdf"), storage)

    purga = maintenance.purgar()

    assert archivo.exists()
    assert (purga.envios, purga.archivos) == (1, 0)


def test_purgar__conserva_el_documento_que_otro_envio_aun_usa(media):
    # Documents are stored by content: both envíos point at the same file.
    viejo = envejecer(nuevo_envio(PDF), EstadoEnvio.LEIDO, RETENCION + 1)
    reciente = envejecer(nuevo_envio(PDF), EstadoEnvio.LEIDO, 1)
    archivo = ruta(media, reciente)
    fechar_archivo(archivo, RETENCION + 1)

    purga = maintenance.purgar()

    assert (existe(viejo), existe(reciente)) == (False, True)
    assert archivo.exists()
    assert purga.archivos == 0


def test_purgar__borra_documentos_huerfanos_viejos_y_conserva_los_recientes(media):
    # Left by a caller whose transaction rolled back after the file was written.
    storage = EnvioWhatsApp._meta.get_field("documento").storage
    huerfano_viejo = media / almacenar_documento(Documento(PDF, "a.pdf"), storage)
    huerfano_reciente = media / almacenar_documento(Documento(OTRO_PDF, "b.pdf"), storage)
    fechar_archivo(huerfano_viejo, RETENCION + 1)
    fechar_archivo(huerfano_reciente, 1)  # may belong to a send being recorded right now
    en_curso = nuevo_envio(b"%PDF-1.4\n% en curso\n")  # pendiente: its file is in use
    usado = ruta(media, en_curso)
    fechar_archivo(usado, RETENCION * 2)

    purga = maintenance.purgar()

    assert not huerfano_viejo.exists()
    assert huerfano_reciente.exists()
    assert usado.exists()
    assert purga.archivos == 1


def test_purgar__borra_eventos_de_webhook_procesados_y_viejos():
    def evento(sha, recibido_hace, procesado):
        recibido = hace(recibido_hace)
        return EventoWebhook.objects.create(
            cuenta="default",
            sha256=sha,
            cuerpo="{}",
            recibido_en=recibido,
            procesado_en=recibido if procesado else None,
        )

    viejo = evento("a", RETENCION + 1, procesado=True)
    sin_procesar = evento("b", RETENCION + 1, procesado=False)
    reciente = evento("c", RETENCION - 1, procesado=True)

    purga = maintenance.purgar()

    quedan = set(EventoWebhook.objects.values_list("pk", flat=True))
    assert quedan == {sin_procesar.pk, reciente.pk}
    assert viejo.pk not in quedan
    assert purga.eventos == 1


def test_purgar__borra_mensajes_viejos_y_sus_archivos(media):
    storage = Mensaje._meta.get_field("archivo").storage
    foto = storage.save("whatsapp_notify/recibidos/2024/01/foto.jpg", ContentFile(b"jpeg"))
    viejo = Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono="525512345678", fecha=hace(RETENCION + 1)
    )
    Mensaje.objects.filter(pk=viejo.pk).update(archivo=foto)
    reciente = Mensaje.objects.create(
        direccion=Direccion.ENTRANTE, telefono="525512345678", fecha=hace(RETENCION - 1)
    )

    purga = maintenance.purgar()

    assert list(Mensaje.objects.values_list("pk", flat=True)) == [reciente.pk]
    assert not (media / foto).exists()
    assert (purga.mensajes, purga.archivos) == (1, 1)


def test_tarea_purgar__devuelve_lo_borrado():
    envejecer(nuevo_envio(), EstadoEnvio.FALLIDO, RETENCION + 1)

    assert tasks.purgar() == {"envios": 1, "eventos": 0, "mensajes": 0, "archivos": 0}


# -- failure-rate alert ------------------------------------------------------------------


def terminar(
    ahora, *, exitosos: int = 0, fallidos=(), hace_=timedelta(minutes=10), cuenta="default"
) -> None:
    """Record envíos of ``cuenta`` that finished ``hace_`` before ``ahora``: sent ones, and
    failed ones with the given error codes."""
    cuando = ahora - hace_
    filas = [
        EnvioWhatsApp(
            clase=ClaseEnvio.PLANTILLA,
            estado=EstadoEnvio.ENTREGADO,
            enviado_en=cuando,
            cuenta=cuenta,
        )
        for _ in range(exitosos)
    ]
    filas += [
        EnvioWhatsApp(
            clase=ClaseEnvio.PLANTILLA,
            estado=EstadoEnvio.FALLIDO,
            fallido_en=cuando,
            error_codigo=codigo,
            cuenta=cuenta,
        )
        for codigo in fallidos
    ]
    EnvioWhatsApp.objects.bulk_create(filas)


@pytest.mark.parametrize(
    ("exitosos", "fallidos", "alerta"),
    [
        pytest.param(0, 19, False, id="bajo_el_minimo_de_envios"),
        pytest.param(81, 19, False, id="bajo_el_umbral"),
        pytest.param(80, 20, True, id="justo_en_el_umbral"),
        pytest.param(10, 10, True, id="sobre_el_umbral"),
    ],
)
def test_alertar_fallos__decide_por_minimo_y_umbral(exitosos, fallidos, alerta):
    ahora = timezone.now()
    terminar(ahora, exitosos=exitosos, fallidos=[131026] * fallidos)

    assert maintenance.alertar_fallos(ahora) is alerta
    assert len(mail.outbox) == int(alerta)


def test_alertar_fallos__un_correo_a_los_admins_con_los_cinco_codigos_principales():
    ahora = timezone.now()
    codigos = [131026] * 6 + [131047] * 5 + [None] * 4 + [132001] * 3 + [131051] * 2
    terminar(ahora, exitosos=20, fallidos=[*codigos, 100])

    assert maintenance.alertar_fallos(ahora) is True

    (correo,) = mail.outbox
    assert correo.to == ["ops@example.com"]
    assert "51%" in correo.subject  # 21 of 41
    lineas = [linea.strip() for linea in correo.body.splitlines() if linea.startswith("  ")]
    assert [linea.split(" — ")[0] for linea in lineas] == [
        "#131026: 6",
        "#131047: 5",
        "sin código: 4",
        "#132001: 3",
        "#131051: 2",
    ]
    assert "(#131026)" in lineas[0]  # the readable Spanish sentence of the code
    assert "#100" not in correo.body  # sixth code: left out
    assert "terminaron 41 envíos" in correo.body


def test_alertar_fallos__una_vez_por_ventana(wa_settings):
    wa_settings(FAILURE_WINDOW=3600)
    ahora = timezone.now()
    terminar(ahora, exitosos=5, fallidos=[131026] * 20)

    assert maintenance.alertar_fallos(ahora) is True
    # Beat runs it every five minutes: the failures are still in the window, no new e-mail.
    assert maintenance.alertar_fallos(ahora + timedelta(minutes=5)) is False
    assert maintenance.alertar_fallos(ahora + timedelta(minutes=59)) is False
    assert len(mail.outbox) == 1

    # The next window fails again: a new e-mail.
    siguiente = ahora + timedelta(hours=1)
    terminar(siguiente, exitosos=5, fallidos=[131047] * 20)
    assert maintenance.alertar_fallos(siguiente) is True
    assert len(mail.outbox) == 2
    assert "#131047: 20" in mail.outbox[1].body


def test_alertar_fallos__cada_cuenta_se_mide_y_avisa_por_separado(wa_settings):
    wa_settings(FAILURE_WINDOW=3600)
    ahora = timezone.now()
    # Together 14 % failed (under the 20 % threshold); the Twilio account alone, 100 %.
    terminar(ahora, exitosos=120, cuenta="default")
    terminar(ahora, fallidos=[63016] * 20, cuenta="citas")

    assert maintenance.alertar_fallos(ahora) is True
    assert maintenance.alertar_fallos(ahora + timedelta(minutes=5)) is False

    (correo,) = mail.outbox
    assert "(cuenta citas)" in correo.subject
    assert "de la cuenta 'citas'" in correo.body
    # The other account fails later in the same window: its own alert still goes.
    terminar(ahora + timedelta(minutes=5), fallidos=[131026] * 200, cuenta="default")
    assert maintenance.alertar_fallos(ahora + timedelta(minutes=5)) is True
    assert "(cuenta default)" in mail.outbox[1].subject


META = {
    "BACKEND": "whatsapp_notify.backends.meta.MetaBackend",
    "OPTIONS": {"PHONE_NUMBER_ID": "1", "ACCESS_TOKEN": "token"},
}
LOCMEM = {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"}


@pytest.mark.parametrize(
    ("cuentas", "esperado"),
    [
        pytest.param(
            {"default": META},
            "#131026: 20 — (#131026) No se pudo entregar: el número no usa WhatsApp",
            id="meta-explica-sus-codigos",
        ),
        pytest.param(
            {"default": LOCMEM},
            "#131026: 20 — (#131026) Error del proveedor.",
            id="otro-proveedor-no-lee-codigos-de-meta",
        ),
        pytest.param(
            {"otra": LOCMEM},
            "#131026: 20 — (#131026) Error del proveedor.",
            id="cuenta-retirada-texto-generico",
        ),
    ],
)
def test_alertar_fallos__cada_codigo_lo_explica_el_backend_de_la_cuenta(
    wa_settings, cuentas, esperado
):
    wa_settings(BACKENDS=cuentas)
    ahora = timezone.now()
    terminar(ahora, exitosos=5, fallidos=[131026] * 20)

    assert maintenance.alertar_fallos(ahora) is True

    (correo,) = mail.outbox
    (linea,) = [linea.strip() for linea in correo.body.splitlines() if linea.startswith("  ")]
    assert linea.startswith(esperado)


def test_alertar_fallos__solo_cuenta_lo_terminado_dentro_de_la_ventana():
    ahora = timezone.now()
    terminar(ahora, fallidos=[131026] * 30, hace_=timedelta(hours=2))  # before the window
    terminar(ahora, exitosos=5, fallidos=[131026] * 5)
    EnvioWhatsApp.objects.bulk_create(
        EnvioWhatsApp(clase=ClaseEnvio.PLANTILLA, estado=estado, fallido_en=ahora)
        for estado in [EstadoEnvio.OMITIDO, EstadoEnvio.CANCELADO, EstadoEnvio.PENDIENTE] * 10
    )

    fallos = maintenance.medir_fallos(ahora - timedelta(hours=1), ahora)

    assert (fallos.terminados, fallos.fallidos) == (10, 5)
    assert maintenance.alertar_fallos(ahora) is False  # 10 < FAILURE_MIN_SENDS
    assert mail.outbox == []


def test_alertar_fallos__el_correo_no_lleva_telefonos():
    ahora = timezone.now()
    envio = nuevo_envio()
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(
        estado=EstadoEnvio.FALLIDO, fallido_en=ahora - timedelta(minutes=1), error_codigo=131026
    )
    terminar(ahora, fallidos=[131026] * 20)

    maintenance.alertar_fallos(ahora)

    (correo,) = mail.outbox
    assert "5512345678" not in correo.subject + correo.body


def test_tarea_alerta_fallos__mide_la_ventana_que_acaba_ahora():
    terminar(timezone.now(), fallidos=[131026] * 20, hace_=timedelta(minutes=1))

    assert tasks.alerta_fallos() is True
    assert tasks.alerta_fallos() is False
    assert len(mail.outbox) == 1


# -- Beat schedule -----------------------------------------------------------------------


def test_beat_schedule__purga_diaria_a_hora_fija_y_alerta_cada_cinco_minutos():
    purga = tasks.BEAT_SCHEDULE["whatsapp_notify.purgar"]
    alerta = tasks.BEAT_SCHEDULE["whatsapp_notify.alerta_fallos"]

    assert purga["task"] == "whatsapp_notify.purgar"
    assert isinstance(purga["schedule"], crontab)
    assert (purga["schedule"].hour, purga["schedule"].minute) == ({3}, {17})
    assert alerta == {"task": "whatsapp_notify.alerta_fallos", "schedule": 300.0}


def test_beat_schedule__cada_tarea_esta_registrada_en_celery():
    nombres = {entrada["task"] for entrada in tasks.BEAT_SCHEDULE.values()}

    assert nombres <= set(celery_app.tasks)


# -- per-tenant POLICY -------------------------------------------------------------------

#: What ``politica_fija`` answers; tests change it with monkeypatch.
NEGATIVA: object = None
#: The pk of each envío ``politica_fija`` was asked about, when it was asked.
consultas: list[int | None] = []
NO_INVOCABLE = "no soy una función"
RUTA = f"{__name__}.politica_fija"


def politica_fija(envio: EnvioWhatsApp):
    consultas.append(envio.pk)
    return NEGATIVA


#: (organisation, tipo) pairs an ERP switched off: here the organisation is the customer.
APAGADOS = {("Transportes Norte", "promocion")}


def politica_por_organizacion(envio: EnvioWhatsApp) -> str | None:
    orden = envio.referencia
    if isinstance(orden, Orden) and (orden.cliente.nombre, envio.tipo) in APAGADOS:
        return f"{orden.cliente.nombre} no recibe avisos de tipo {envio.tipo}"
    return None


@pytest.fixture
def politica(wa_settings, monkeypatch):
    """``POLICY`` = :func:`politica_fija`; call it with the answer it must give."""
    consultas.clear()
    wa_settings(POLICY=RUTA)

    def responder(valor):
        monkeypatch.setattr(f"{__name__}.NEGATIVA", valor)

    return responder


def test_politica__con_motivo_omite_el_envio_sin_enviarlo(
    politica, outbox, django_capture_on_commit_callbacks
):
    politica("La organización tiene los avisos suspendidos")

    with django_capture_on_commit_callbacks(execute=True):
        envio = nuevo_envio()

    envio = EnvioWhatsApp.objects.get(pk=envio.pk)
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.POLITICA)
    assert envio.error_detalle == "La organización tiene los avisos suspendidos"
    assert outbox == []


def test_politica__none_deja_salir_el_envio(politica, outbox, django_capture_on_commit_callbacks):
    politica(None)

    with django_capture_on_commit_callbacks(execute=True):
        envio = nuevo_envio()

    assert EnvioWhatsApp.objects.get(pk=envio.pk).estado == EstadoEnvio.ENVIADO
    assert len(outbox) == 1
    # Asked when recording (no pk yet) and again by the worker right before sending.
    assert consultas == [None, envio.pk]


def test_politica__se_revisa_otra_vez_al_entregar(politica, outbox):
    politica(None)
    envio = nuevo_envio()  # recorded and queued: this test's transaction never commits
    assert envio.estado == EstadoEnvio.PENDIENTE

    politica("Contrato vencido")
    resultado = tasks.enviar_envio(envio.pk)

    envio = EnvioWhatsApp.objects.get(pk=envio.pk)
    assert resultado == "omitido"
    assert (envio.estado, envio.motivo) == (EstadoEnvio.OMITIDO, MotivoOmision.POLITICA)
    assert envio.error_detalle == "Contrato vencido"
    assert outbox == []


def test_politica__no_se_consulta_si_el_destinatario_ya_lo_impide(politica):
    politica("no debería preguntarse")

    envio = enviar_plantilla("", "cotizacion_lista_cliente", variables=["Ana"])

    assert envio.motivo == MotivoOmision.SIN_TELEFONO
    assert envio.error_detalle == ""
    assert consultas == []


def test_politica__recibe_la_referencia_para_decidir_por_organizacion_y_tipo(
    wa_settings, outbox, django_capture_on_commit_callbacks
):
    wa_settings(POLICY=f"{__name__}.politica_por_organizacion")
    norte = Orden.objects.create(
        numero="OT-1", cliente=Cliente.objects.create(nombre="Transportes Norte")
    )
    sur = Orden.objects.create(numero="OT-2", cliente=Cliente.objects.create(nombre="Taller Sur"))

    with django_capture_on_commit_callbacks(execute=True):
        envios = {
            (orden.numero, tipo): nuevo_envio(referencia=orden, tipo=tipo)
            for orden in (norte, sur)
            for tipo in ("promocion", "vehiculo_listo")
        }

    estados = {
        clave: EnvioWhatsApp.objects.values_list("estado", "error_detalle").get(pk=envio.pk)
        for clave, envio in envios.items()
    }
    assert estados == {
        ("OT-1", "promocion"): (
            EstadoEnvio.OMITIDO,
            "Transportes Norte no recibe avisos de tipo promocion",
        ),
        ("OT-1", "vehiculo_listo"): (EstadoEnvio.ENVIADO, ""),
        ("OT-2", "promocion"): (EstadoEnvio.ENVIADO, ""),
        ("OT-2", "vehiculo_listo"): (EstadoEnvio.ENVIADO, ""),
    }
    assert len(outbox) == 3


@pytest.mark.parametrize(
    "respuesta", [False, True, "", "   ", 0], ids=["false", "true", "vacio", "espacios", "cero"]
)
def test_politica__respuesta_que_no_es_none_ni_texto_lanza_type_error(politica, respuesta):
    politica(respuesta)

    with pytest.raises(TypeError, match="debe devolver None"):
        nuevo_envio()
    assert not EnvioWhatsApp.objects.exists()


RUTAS_MALAS = [
    pytest.param("no_existe.politica", "no se puede importar", id="modulo_inexistente"),
    pytest.param(f"{__name__}.no_existe", "no se puede importar", id="nombre_inexistente"),
    pytest.param(f"{__name__}.NO_INVOCABLE", "no es invocable", id="no_invocable"),
    pytest.param(42, "ruta con puntos", id="no_es_texto"),
]


@pytest.mark.parametrize(("ruta", "explica"), RUTAS_MALAS)
def test_politica__ruta_mala_lanza_improperly_configured_sin_registrar_nada(
    wa_settings, ruta, explica
):
    wa_settings(POLICY=ruta)

    with pytest.raises(ImproperlyConfigured, match=explica) as error:
        nuevo_envio()
    assert "POLICY" in str(error.value)
    assert not EnvioWhatsApp.objects.exists()


@pytest.mark.parametrize(("ruta", "explica"), RUTAS_MALAS)
def test_checks__e012_politica_que_no_importa_o_no_es_invocable(wa_settings, ruta, explica):
    wa_settings(POLICY=ruta)

    (error,) = check_politica()

    assert error.id == "whatsapp_notify.E012"
    assert explica in error.msg
    assert "miapp.whatsapp.politica" in error.hint


@pytest.mark.parametrize("ruta", [None, RUTA], ids=["sin_politica", "ruta_valida"])
def test_checks__e012_politica_valida_no_da_errores(wa_settings, ruta):
    wa_settings(POLICY=ruta)

    assert check_politica() == []
