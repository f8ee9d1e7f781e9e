"""The outbox's own figures (``outbound.reports``): queue status, per day, top errors.

Rows are written with ``bulk_create`` dated where each test needs them; time is the
``ahora`` passed in, nothing sleeps.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from whatsapp_notify.models import ClaseEnvio, EnvioWhatsApp, EstadoCuenta, EstadoEnvio
from whatsapp_notify.outbound import reports

pytestmark = pytest.mark.django_db

AHORA = datetime(2026, 11, 20, 15, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))
E = EstadoEnvio


def envios(n: int = 1, **campos) -> list[EnvioWhatsApp]:
    campos.setdefault("clase", ClaseEnvio.PLANTILLA)
    campos.setdefault("creado_en", AHORA - timedelta(hours=1))
    return EnvioWhatsApp.objects.bulk_create(EnvioWhatsApp(**campos) for _ in range(n))


def test_cola__cuenta_lo_que_espera_y_desde_cuando():
    envios(3, estado=E.PENDIENTE, creado_en=AHORA - timedelta(minutes=10))
    # Waiting for a retry in the future: pending, in retry, not yet due.
    envios(2, estado=E.PENDIENTE, intentos=2, proximo_intento=AHORA + timedelta(minutes=5))
    # A retry that came due 40 minutes ago is the oldest due one.
    envios(1, estado=E.PENDIENTE, intentos=1, proximo_intento=AHORA - timedelta(minutes=40))
    envios(4, estado=E.PROGRAMADO, programado_para=AHORA + timedelta(days=1))
    envios(1, estado=E.ENVIANDO)
    envios(2, estado=E.INCIERTO)
    envios(5, estado=E.ENTREGADO, enviado_en=AHORA - timedelta(hours=2))  # not waiting

    estado = reports.cola(ahora=AHORA)

    assert (estado.pendientes, estado.en_reintento, estado.programados) == (6, 3, 4)
    assert (estado.enviando, estado.inciertos) == (1, 2)
    assert estado.mas_antiguo == AHORA - timedelta(minutes=40)
    assert estado.espera == timedelta(minutes=40)


def test_cola__exito_fallos_e_intentos_de_lo_terminado_en_la_ventana():
    envios(6, estado=E.ENTREGADO, intentos=1, enviado_en=AHORA - timedelta(hours=1))
    envios(2, estado=E.FALLIDO, intentos=4, fallido_en=AHORA - timedelta(hours=3))
    # Outside the 24-hour window, and never finished: not counted.
    envios(9, estado=E.FALLIDO, intentos=5, fallido_en=AHORA - timedelta(days=2))
    envios(3, estado=E.OMITIDO)

    estado = reports.cola(ahora=AHORA)

    assert (estado.terminados, estado.fallidos, estado.exitosos) == (8, 2, 6)
    assert estado.tasa_exito == pytest.approx(0.75)
    assert estado.tasa_fallos == pytest.approx(0.25)
    assert estado.intentos_promedio == pytest.approx((6 * 1 + 2 * 4) / 8)
    assert estado.mas_antiguo is None
    assert estado.espera is None


def test_cola__vacia_no_divide_entre_cero():
    estado = reports.cola(ahora=AHORA)

    assert estado.terminados == 0
    assert estado.tasa_exito is None
    assert estado.tasa_fallos is None
    assert estado.intentos_promedio is None
    assert estado.pausadas == ()


def test_cola__por_cuenta_y_cuentas_en_pausa():
    envios(2, estado=E.PENDIENTE, cuenta="default")
    envios(5, estado=E.PENDIENTE, cuenta="citas")
    EstadoCuenta.objects.create(cuenta="citas", pausada=True, pausada_en=AHORA)
    EstadoCuenta.objects.create(cuenta="bot", pausada=False)

    assert reports.cola(ahora=AHORA).pausadas == ("citas",)
    assert reports.cola(ahora=AHORA).pendientes == 7
    de_citas = reports.cola(cuenta="citas", ahora=AHORA)
    assert (de_citas.pendientes, de_citas.pausadas) == (5, ("citas",))
    assert reports.cola(cuenta="default", ahora=AHORA).pausadas == ()


def test_cola__pocas_consultas_sea_cual_sea_el_volumen():
    envios(50, estado=E.PENDIENTE)
    envios(50, estado=E.FALLIDO, fallido_en=AHORA - timedelta(minutes=1), error_codigo=131026)

    with CaptureQueriesContext(connection) as consultas:
        reports.cola(ahora=AHORA)

    assert len(consultas) <= 8


def test_por_dia__cuenta_por_dia_local_y_estado(settings):
    settings.TIME_ZONE = "America/Mexico_City"  # UTC-6
    # 03:00 UTC on the 20th is still the 19th in Mexico City.
    envios(
        2, estado=E.ENTREGADO, creado_en=datetime(2026, 11, 20, 3, tzinfo=zoneinfo.ZoneInfo("UTC"))
    )
    envios(
        3, estado=E.FALLIDO, creado_en=datetime(2026, 11, 20, 12, tzinfo=zoneinfo.ZoneInfo("UTC"))
    )
    envios(
        1, estado=E.ENTREGADO, creado_en=datetime(2026, 11, 20, 13, tzinfo=zoneinfo.ZoneInfo("UTC"))
    )

    with timezone.override("America/Mexico_City"):
        filas = reports.por_dia(AHORA - timedelta(days=3), AHORA)

    assert filas == [
        reports.Conteo(date(2026, 11, 19), E.ENTREGADO, 2),
        reports.Conteo(date(2026, 11, 20), E.ENTREGADO, 1),
        reports.Conteo(date(2026, 11, 20), E.FALLIDO, 3),
    ]


def test_por_dia__por_tipo_y_solo_dentro_del_rango():
    envios(2, tipo="vehiculo_listo", estado=E.ENTREGADO)
    envios(1, tipo="recordatorio", estado=E.PENDIENTE)
    envios(7, tipo="recordatorio", creado_en=AHORA - timedelta(days=40))

    filas = reports.por_dia(AHORA - timedelta(days=30), AHORA, por="tipo")

    dia = timezone.localdate(AHORA - timedelta(hours=1))
    assert filas == [
        reports.Conteo(dia, "recordatorio", 1),
        reports.Conteo(dia, "vehiculo_listo", 2),
    ]


def test_totales__por_tipo_y_por_cuenta():
    envios(3, tipo="vehiculo_listo", cuenta="default")
    envios(1, tipo="recordatorio", cuenta="citas")
    envios(1, tipo="recordatorio", cuenta="default")

    desde = AHORA - timedelta(days=1)
    assert reports.totales(desde, AHORA, por="tipo") == {"vehiculo_listo": 3, "recordatorio": 2}
    assert reports.totales(desde, AHORA, por="cuenta", cuenta="citas") == {"citas": 1}


def test_por_dia__un_campo_que_no_se_agrupa_se_rechaza():
    with pytest.raises(ValueError, match="estado, tipo, cuenta"):
        reports.por_dia(AHORA - timedelta(days=1), AHORA, por="telefono")


def test_errores_principales__por_cuenta_con_su_causa(wa_settings):
    wa_settings(
        BACKENDS={
            "default": {"BACKEND": "whatsapp_notify.backends.meta.MetaBackend", "OPTIONS": {}},
            "citas": {"BACKEND": "whatsapp_notify.backends.twilio.TwilioBackend", "OPTIONS": {}},
        }
    )
    fallo = {"estado": E.FALLIDO, "fallido_en": AHORA - timedelta(minutes=5)}
    envios(4, error_codigo=131026, cuenta="default", **fallo)
    envios(2, error_codigo=63016, cuenta="citas", **fallo)
    envios(1, error_codigo=None, cuenta="default", **fallo)
    envios(8, error_codigo=131026, estado=E.FALLIDO, fallido_en=AHORA - timedelta(days=3))

    errores = reports.errores_principales(AHORA - timedelta(days=1), AHORA)

    assert [(e.cuenta, e.codigo, e.cuantos) for e in errores] == [
        ("default", 131026, 4),
        ("citas", 63016, 2),
        ("default", None, 1),
    ]
    meta, twilio, sin_codigo = errores
    assert meta.causa
    assert "131026" in meta.causa
    assert twilio.causa
    assert "63016" in twilio.causa
    assert sin_codigo.causa == ""
    assert len(reports.errores_principales(AHORA - timedelta(days=1), AHORA, limite=1)) == 1


def test_cuentas_en_pausa__con_cuando_y_por_que():
    EstadoCuenta.objects.create(
        cuenta="citas", pausada=True, pausada_en=AHORA, error_codigo=20003, error_detalle="auth"
    )
    EstadoCuenta.objects.create(cuenta="bot", pausada=False)

    (citas,) = reports.cuentas_en_pausa()

    assert (citas.cuenta, citas.pausada_en, citas.error_codigo) == ("citas", AHORA, 20003)
    assert reports.cuentas_en_pausa(cuenta="bot") == []


def test_fallos_por_dia__de_las_filas_por_estado_sin_consultar():
    dia = date(2026, 11, 20)
    filas = [
        reports.Conteo(dia, E.ENTREGADO, 6),
        reports.Conteo(dia, E.LEIDO, 1),
        reports.Conteo(dia, E.FALLIDO, 3),
        reports.Conteo(dia, E.PENDIENTE, 5),  # not finished: not counted
        reports.Conteo(dia + timedelta(days=1), E.OMITIDO, 2),
    ]

    with CaptureQueriesContext(connection) as consultas:
        por_dia = reports.fallos_por_dia(filas)

    assert len(consultas) == 0
    assert por_dia == [
        reports.FallosDia(dia, 10, 3),
        reports.FallosDia(dia + timedelta(days=1), 0, 0),
    ]
    assert por_dia[0].tasa == pytest.approx(0.3)
    assert por_dia[1].tasa is None


def test_por_dia_y__una_consulta_para_varias_columnas():
    envios(2, tipo="vehiculo_listo", estado=E.ENTREGADO)
    envios(1, tipo="recordatorio", estado=E.ENTREGADO)
    envios(1, tipo="recordatorio", estado=E.FALLIDO, creado_en=AHORA - timedelta(days=2))
    desde = AHORA - timedelta(days=7)

    with CaptureQueriesContext(connection) as consultas:
        juntos = reports.por_dia_y(desde, AHORA, por=("estado", "tipo"))

    assert len(consultas) == 1
    assert juntos["estado"] == reports.por_dia(desde, AHORA, por="estado")
    assert juntos["tipo"] == reports.por_dia(desde, AHORA, por="tipo")
    dia = timezone.localdate(AHORA - timedelta(hours=1))
    assert juntos["estado"][-1] == reports.Conteo(dia, E.ENTREGADO, 3)


def test_mas_antiguo__de_varias_cuentas_en_una_consulta():
    envios(1, estado=E.PENDIENTE, cuenta="default", creado_en=AHORA - timedelta(minutes=10))
    envios(1, estado=E.PENDIENTE, cuenta="citas", creado_en=AHORA - timedelta(minutes=50))
    envios(1, estado=E.PENDIENTE, cuenta="bot", creado_en=AHORA - timedelta(hours=5))
    # Not due yet, and not pendiente: neither counts.
    envios(
        1, estado=E.PENDIENTE, cuenta="default", intentos=1,
        proximo_intento=AHORA + timedelta(minutes=5), creado_en=AHORA - timedelta(days=1),
    )  # fmt: skip
    envios(1, estado=E.FALLIDO, cuenta="default", creado_en=AHORA - timedelta(days=2))

    with CaptureQueriesContext(connection) as consultas:
        desde = reports.mas_antiguo(["default", "citas"], ahora=AHORA)

    assert desde == AHORA - timedelta(minutes=50)
    assert len(consultas) == 1
    assert reports.mas_antiguo([], ahora=AHORA) is None
    assert (
        reports.mas_antiguo(["bot"], ahora=AHORA)
        == reports.cola(cuenta="bot", ahora=AHORA).mas_antiguo
    )
