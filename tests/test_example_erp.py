"""The example workshop ERP (example_project/taller): flows 1-3 through its real endpoints."""

from __future__ import annotations

import ast
import base64
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zlib
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from example_project.taller.models import (
    Cita,
    Cliente,
    Cotizacion,
    OrdenCompra,
    OrdenTrabajo,
    Proveedor,
    Vehiculo,
)
from whatsapp_notify import revocar_consentimiento, tasks
from whatsapp_notify.models import ConsentimientoCliente, EnvioWhatsApp, EstadoConsentimiento
from whatsapp_notify.phones import normalizar

pytestmark = [pytest.mark.urls("example_project.urls"), pytest.mark.django_db]

REPO = Path(__file__).resolve().parent.parent
TELEFONO = "+52 55 1234 5678"


# -- data ------------------------------------------------------------------------------------


def nuevo_proveedor(telefono: str = "+52 81 1234 5678", acepta: bool = True) -> Proveedor:
    return Proveedor.objects.create(
        nombre="Refacciones del Norte",
        telefono=telefono,
        email="ventas@refacciones.example.com",
        acepta_whatsapp=acepta,
    )


def nueva_orden_compra(proveedor: Proveedor) -> OrdenCompra:
    return OrdenCompra.objects.create(
        numero="OC-1", proveedor=proveedor, resumen="4 balatas cerámicas", total=Decimal("900")
    )


def nuevo_cliente(telefono: str = TELEFONO, acepta: bool = True) -> Cliente:
    return Cliente.objects.create(
        nombre="Ana Pérez", telefono=telefono, email="ana@example.com", acepta_whatsapp=acepta
    )


def nuevo_vehiculo(cliente: Cliente) -> Vehiculo:
    return Vehiculo.objects.create(
        cliente=cliente, marca="Mazda", modelo="3", anio=2019, placas="ABC-123"
    )


def nueva_orden(cliente: Cliente | None = None) -> OrdenTrabajo:
    cliente = cliente or nuevo_cliente()
    return OrdenTrabajo.objects.create(
        numero="OT-42",
        cliente=cliente,
        vehiculo=nuevo_vehiculo(cliente),
        estado=OrdenTrabajo.Estado.EN_PROCESO,
    )


def nueva_cotizacion() -> Cotizacion:
    cliente = nuevo_cliente()
    return Cotizacion.objects.create(
        numero="COT-7",
        cliente=cliente,
        vehiculo=nuevo_vehiculo(cliente),
        conceptos=[
            {"descripcion": "Amortiguadores delanteros", "cantidad": 2, "precio": "1600.00"},
            {"descripcion": "Mano de obra", "cantidad": 1.5, "precio": "450"},
        ],
    )


def post(client, nombre: str, pk: int) -> dict:
    respuesta = client.post(reverse(f"taller:{nombre}", args=[pk]))
    assert respuesta.status_code == 200, respuesta.content
    return respuesta.json()


# -- PDF inspection without reportlab ----------------------------------------------------------


def objetos_pdf(pdf: bytes) -> dict[int, bytes]:
    """The PDF's indirect objects by number, located through its cross-reference table.

    Checks the structure on the way: ``%PDF-`` header, ``%%EOF``, a ``startxref`` that
    points at the ``xref`` table, and every listed offset starting its object.
    """
    assert pdf.startswith(b"%PDF-1.")
    assert pdf.rstrip().endswith(b"%%EOF")
    inicio = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    assert pdf[inicio : inicio + 4] == b"xref"
    objetos = {}
    for desplazamiento in re.findall(rb"^(\d{10}) \d{5} n", pdf[inicio:], flags=re.M):
        encontrado = re.match(rb"(\d+) \d+ obj(.*?)endobj", pdf[int(desplazamiento) :], re.S)
        assert encontrado, f"el xref apunta a {int(desplazamiento)}, donde no empieza un objeto"
        objetos[int(encontrado[1])] = encontrado[2]
    assert objetos
    return objetos


def paginas_pdf(pdf: bytes) -> int:
    """The page count: the page tree's ``/Count``, checked against the page objects."""
    objetos = objetos_pdf(pdf).values()
    paginas = [o for o in objetos if re.search(rb"/Type\s*/Page\b(?!s)", o)]
    [arbol] = [o for o in objetos if re.search(rb"/Type\s*/Pages\b", o)]
    assert int(re.search(rb"/Count\s+(\d+)", arbol)[1]) == len(paginas)
    return len(paginas)


def texto_pdf(pdf: bytes) -> bytes:
    """The content streams, decoded (reportlab writes ASCII85 over Flate)."""
    partes = []
    for objeto in objetos_pdf(pdf).values():
        if not (flujo := re.search(rb"<<(.*?)>>\s*stream\r?\n(.*?)endstream", objeto, re.S)):
            continue
        cabecera, datos = flujo.groups()
        if b"ASCII85Decode" in cabecera:
            datos = base64.a85decode(datos.strip().removesuffix(b"~>"))
        if b"FlateDecode" in cabecera:
            datos = zlib.decompress(datos)
        partes.append(datos)
    return b"\n".join(partes)


# -- flow 1: purchase order to the supplier ---------------------------------------------------


def test_orden_compra__envia_correo_y_whatsapp(
    client, outbox, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(REQUIRE_CONSENT=True)
    orden = nueva_orden_compra(nuevo_proveedor())

    with django_capture_on_commit_callbacks(execute=True):
        datos = post(client, "enviar_orden_compra", orden.pk)

    assert datos["email_enviado"] is True
    assert datos["whatsapp_enviado"] is True
    assert datos["motivo"] is None
    assert "Correo enviado" in datos["mensaje"]
    assert f"envío #{datos['envio_id']}" in datos["mensaje"]
    assert [correo.to for correo in mail.outbox] == [["ventas@refacciones.example.com"]]
    assert "OC-1" in mail.outbox[0].subject
    [enviado] = outbox
    assert enviado.telefono == "528112345678"
    assert enviado.contenido.nombre == "orden_compra_proveedor"
    assert enviado.contenido.variables == ["Refacciones del Norte", "OC-1", "4 balatas cerámicas"]
    envio = EnvioWhatsApp.objects.get(pk=datos["envio_id"])
    assert (envio.tipo, envio.clave, envio.referencia) == (
        "orden_compra",
        f"orden_compra:{orden.pk}",
        orden,
    )


@pytest.mark.parametrize(
    ("telefono", "acepta", "motivo", "frase"),
    [
        ("+52 81 1234 5678", False, "sin_consentimiento", "Sin consentimiento"),
        ("12345", True, "telefono_invalido", "Teléfono inválido"),
        ("", True, "sin_telefono", "Sin teléfono"),
    ],
    ids=["sin_consentimiento", "telefono_invalido", "sin_telefono"],
)
def test_orden_compra__whatsapp_omitido_dice_el_motivo_y_el_correo_sale(
    client, outbox, wa_settings, django_capture_on_commit_callbacks, telefono, acepta, motivo, frase
):
    wa_settings(REQUIRE_CONSENT=True)
    orden = nueva_orden_compra(nuevo_proveedor(telefono, acepta=acepta))

    with django_capture_on_commit_callbacks(execute=True):
        datos = post(client, "enviar_orden_compra", orden.pk)

    assert datos["whatsapp_enviado"] is False
    assert datos["motivo"] == motivo
    assert f"WhatsApp no enviado: {frase}" in datos["mensaje"]
    assert datos["email_enviado"] is True
    assert len(mail.outbox) == 1
    assert outbox == []
    assert EnvioWhatsApp.objects.get(pk=datos["envio_id"]).estado == "omitido"


def test_orden_compra__reenviar_manda_correo_pero_no_repite_whatsapp(
    client, outbox, django_capture_on_commit_callbacks
):
    orden = nueva_orden_compra(nuevo_proveedor())

    with django_capture_on_commit_callbacks(execute=True):
        primero = post(client, "enviar_orden_compra", orden.pk)
    with django_capture_on_commit_callbacks(execute=True):
        segundo = post(client, "enviar_orden_compra", orden.pk)

    assert segundo["envio_id"] == primero["envio_id"]
    assert "ya se había registrado" in segundo["mensaje"]
    assert len(outbox) == 1
    assert len(mail.outbox) == 2


def test_orden_compra__sin_correo_lo_dice_y_envia_whatsapp(client):
    proveedor = nuevo_proveedor()
    proveedor.email = ""
    proveedor.save()

    datos = post(client, "enviar_orden_compra", nueva_orden_compra(proveedor).pk)

    assert datos["email_enviado"] is False
    assert "No hay correo registrado" in datos["mensaje"]
    assert datos["whatsapp_enviado"] is True
    assert mail.outbox == []


def test_orden_compra__get_no_permitido(client):
    orden = nueva_orden_compra(nuevo_proveedor())

    respuesta = client.get(reverse("taller:enviar_orden_compra", args=[orden.pk]))

    assert respuesta.status_code == 405
    assert not EnvioWhatsApp.objects.exists()


# -- flow 2: the quote PDF to the customer ----------------------------------------------------


def test_cotizacion__plantilla_con_el_pdf_real_de_la_cotizacion(
    client, outbox, django_capture_on_commit_callbacks
):
    cotizacion = nueva_cotizacion()

    with django_capture_on_commit_callbacks(execute=True):
        datos = post(client, "enviar_cotizacion", cotizacion.pk)

    assert (datos["whatsapp_enviado"], datos["email_enviado"]) == (True, True)
    [enviado] = outbox
    plantilla = enviado.contenido
    assert plantilla.nombre == "cotizacion_lista_cliente"
    assert plantilla.variables == ["Ana Pérez", "COT-7", "$3,875.00"]
    assert plantilla.documento.nombre == "cotizacion-COT-7.pdf"
    assert plantilla.documento.mime == "application/pdf"
    pdf = plantilla.documento.contenido
    assert paginas_pdf(pdf) == 1
    contenido = texto_pdf(pdf)
    for texto in (b"COT-7", b"ABC-123", b"Amortiguadores delanteros", b"$3,875.00"):
        assert texto in contenido
    [correo] = mail.outbox
    assert correo.attachments[0][0] == "cotizacion-COT-7.pdf"
    assert correo.attachments[0][1] == pdf


def test_cotizacion__sin_cambios_no_se_reenvia_y_editada_si(
    client, outbox, django_capture_on_commit_callbacks
):
    cotizacion = nueva_cotizacion()

    with django_capture_on_commit_callbacks(execute=True):
        primero = post(client, "enviar_cotizacion", cotizacion.pk)
        repetido = post(client, "enviar_cotizacion", cotizacion.pk)
        cotizacion.conceptos = [{"descripcion": "Afinación", "cantidad": 1, "precio": 1200}]
        cotizacion.save()
        editada = post(client, "enviar_cotizacion", cotizacion.pk)

    assert repetido["envio_id"] == primero["envio_id"]
    assert editada["envio_id"] != primero["envio_id"]
    assert [m.contenido.variables[2] for m in outbox] == ["$3,875.00", "$1,200.00"]


# -- flow 3: vehicle ready --------------------------------------------------------------------


def test_completar_orden__avisa_una_sola_vez(client, outbox, django_capture_on_commit_callbacks):
    orden = nueva_orden()

    with django_capture_on_commit_callbacks(execute=True):
        primero = post(client, "completar_orden", orden.pk)
    with django_capture_on_commit_callbacks(execute=True):
        segundo = post(client, "completar_orden", orden.pk)

    assert (primero["cambiada"], segundo["cambiada"]) == (True, False)
    assert primero["whatsapp_enviado"] is True
    assert "ya estaba completada" in segundo["mensaje"]
    [envio] = EnvioWhatsApp.objects.filter(tipo="vehiculo_listo")
    assert envio.pk == primero["envio_id"] == segundo["envio_id"]
    assert envio.referencia == orden
    [enviado] = outbox
    assert enviado.contenido.nombre == "vehiculo_listo_cliente"
    assert enviado.contenido.variables == ["Ana Pérez", "Mazda 3 (ABC-123)", "OT-42"]
    orden.refresh_from_db()
    assert orden.estado == OrdenTrabajo.Estado.COMPLETADA


def test_completar_orden__reabrir_y_completar_no_avisa_dos_veces(
    client, outbox, django_capture_on_commit_callbacks
):
    orden = nueva_orden()

    with django_capture_on_commit_callbacks(execute=True):
        post(client, "completar_orden", orden.pk)
        reabierta = OrdenTrabajo.objects.get(pk=orden.pk)
        reabierta.estado = OrdenTrabajo.Estado.EN_PROCESO
        reabierta.save()
        otra_vez = post(client, "completar_orden", orden.pk)

    assert otra_vez["cambiada"] is True
    assert "ya se había registrado" in otra_vez["mensaje"]
    assert EnvioWhatsApp.objects.filter(tipo="vehiculo_listo").count() == 1
    assert len(outbox) == 1


def test_completar_orden__cliente_sin_consentimiento_queda_omitido(client, outbox, wa_settings):
    wa_settings(REQUIRE_CONSENT=True)
    orden = nueva_orden(nuevo_cliente(acepta=False))

    datos = post(client, "completar_orden", orden.pk)

    assert (datos["cambiada"], datos["whatsapp_enviado"]) == (True, False)
    assert datos["motivo"] == "sin_consentimiento"
    assert "Sin consentimiento" in datos["mensaje"]
    assert outbox == []


def test_admin_marcar_como_completada__avisa_por_cada_orden(
    admin_client, outbox, django_capture_on_commit_callbacks
):
    orden = nueva_orden()
    url = reverse("admin:taller_ordentrabajo_changelist")

    with django_capture_on_commit_callbacks(execute=True):
        respuesta = admin_client.post(
            url, {"action": "marcar_completada", "_selected_action": [orden.pk]}, follow=True
        )

    assert respuesta.status_code == 200
    assert "1 orden completada" in respuesta.content.decode()
    orden.refresh_from_db()
    assert orden.estado == OrdenTrabajo.Estado.COMPLETADA
    assert [m.contenido.nombre for m in outbox] == ["vehiculo_listo_cliente"]


@pytest.mark.parametrize(
    "modelo", ["cliente", "proveedor", "vehiculo", "ordentrabajo", "ordencompra", "cotizacion"]
)
def test_admin__listado_y_alta_se_muestran(admin_client, modelo):
    nueva_orden_compra(nuevo_proveedor())
    nueva_cotizacion()

    listado = admin_client.get(reverse(f"admin:taller_{modelo}_changelist"))
    alta = admin_client.get(reverse(f"admin:taller_{modelo}_add"))

    assert (listado.status_code, alta.status_code) == (200, 200)


# -- consent from the customer's record ---------------------------------------------------------


def consentimiento(telefono: str = TELEFONO) -> str | None:
    fila = ConsentimientoCliente.objects.filter(telefono=normalizar(telefono)).first()
    return fila.estado if fila else None


def test_cliente__la_casilla_otorga_y_revoca_el_consentimiento():
    cliente = nuevo_cliente(acepta=True)
    assert consentimiento() == EstadoConsentimiento.OTORGADO
    fila = ConsentimientoCliente.objects.get(categoria="utility")
    assert (fila.origen, f"cliente #{cliente.pk}" in fila.evidencia) == ("erp", True)
    assert ConsentimientoCliente.objects.filter(estado="otorgado").count() == 2  # every category

    cliente = Cliente.objects.get(pk=cliente.pk)
    cliente.acepta_whatsapp = False
    cliente.save()

    assert consentimiento() == EstadoConsentimiento.REVOCADO


def test_cliente__editar_otro_campo_no_anula_una_baja():
    cliente = nuevo_cliente(acepta=True)
    revocar_consentimiento(TELEFONO, origen="whatsapp", evidencia="BAJA")

    cliente = Cliente.objects.get(pk=cliente.pk)
    cliente.email = "ana.perez@example.com"
    cliente.save()

    assert consentimiento() == EstadoConsentimiento.REVOCADO


def test_cliente__telefono_invalido_se_guarda_sin_consentimiento():
    cliente = nuevo_cliente(telefono="12345", acepta=True)

    assert Cliente.objects.filter(pk=cliente.pk).exists()
    assert not ConsentimientoCliente.objects.exists()


# -- envíos list -------------------------------------------------------------------------------


def test_envios__lista_json_con_telefono_enmascarado(client):
    post(client, "enviar_orden_compra", nueva_orden_compra(nuevo_proveedor()).pk)

    respuesta = client.get(reverse("taller:envios"))

    [envio] = respuesta.json()["envios"]
    assert envio["tipo"] == "orden_compra"
    assert envio["plantilla"] == "orden_compra_proveedor"
    assert envio["telefono"] == "52******5678"
    assert "528112345678" not in respuesta.content.decode()


# -- the demo command ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_demo__recorre_los_flujos_e_imprime_la_tabla(wa_settings):
    wa_settings(REQUIRE_CONSENT=True)
    primera, segunda = StringIO(), StringIO()

    call_command("demo", "--consola", stdout=primera)
    call_command("demo", "--consola", stdout=segunda)

    salida = primera.getvalue()
    assert re.search(r"id\s+tipo\s+plantilla\s+teléfono\s+estado\s+motivo", salida)
    filas = re.findall(r"^\d+\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s", salida, flags=re.M)
    assert sorted((tipo, estado, motivo) for tipo, _, _, estado, motivo in filas) == [
        ("cotizacion", "enviado", "-"),
        ("orden_compra", "enviado", "-"),
        ("vehiculo_listo", "enviado", "-"),
        ("vehiculo_listo", "omitido", "sin_consentimiento"),
        ("vehiculo_listo", "omitido", "telefono_invalido"),
    ]
    assert salida.count("[whatsapp:default]") == 3
    assert "cotizacion-COT-2001.pdf" in salida
    assert "nada nuevo" in segunda.getvalue()
    assert EnvioWhatsApp.objects.count() == 5


def test_settings__sin_opciones_de_transporte_que_la_app_ya_no_necesita():
    # The app bounds its own publishes (tasks._publicar); the README says the old
    # {"max_retries": 0} is not needed, and the example must not teach it.
    arbol = ast.parse((REPO / "example_project" / "settings.py").read_text(encoding="utf-8"))
    asignados = {
        destino.id
        for nodo in ast.walk(arbol)
        if isinstance(nodo, ast.Assign)
        for destino in nodo.targets
        if isinstance(destino, ast.Name)
    }

    assert "CELERY_BROKER_URL" in asignados
    assert "CELERY_BROKER_TRANSPORT_OPTIONS" not in asignados


@pytest.mark.parametrize(
    ("interprete", "orden"),
    [
        pytest.param(REPO / ".venv" / "bin" / "python", ".venv/bin/python", id="venv-de-make"),
        pytest.param(Path("/opt/py/bin/python3"), "/opt/py/bin/python3", id="otro-interprete"),
    ],
)
def test_demo__el_siguiente_paso_usa_el_python_que_corre_la_demo(
    wa_settings, monkeypatch, interprete, orden
):
    # The README says `.venv/bin/python manage.py ...` after `make demo`: the demo says the same.
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "executable", str(interprete))
    salida = StringIO()

    call_command("demo", "--consola", stdout=salida)

    assert (
        f"Siguiente paso: {orden} manage.py createsuperuser && {orden} manage.py runserver"
        in salida.getvalue()
    )


def test_manage_py_demo__el_primer_comando_del_readme_funciona(tmp_path):
    """Two processes on one SQLite file, as a developer runs it: the second sends only news."""
    entorno = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    entorno.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'taller.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        ENV_FILE=str(tmp_path / "sin.env"),  # a developer's .env must not change the result
        META_ACCESS_TOKEN="",
        CELERY_BROKER_URL="",
    )

    def manage(*argumentos: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *argumentos],
            cwd=REPO,
            env=entorno,
            capture_output=True,
            text=True,
            timeout=180,
        )

    primera = manage("demo")
    editar = manage("shell", "-c", EDITAR_COTIZACION)
    segunda = manage("demo")

    for proceso in (primera, editar, segunda):
        assert proceso.returncode == 0, proceso.stderr
    # The whole loop: ERP -> MetaBackend -> sandbox -> signed webhooks -> envío read, then
    # the customer's messages (the «Aprobar» tap, "horarios", a row, asking for a person),
    # the agent's (an answer, "cerrar") and what the ERP sent for each.
    assert "13 de 13 mensajes válidos" in primera.stdout
    assert "47 webhooks firmados entregados" in primera.stdout  # 3 statuses each + 8 inbound
    leidos = re.findall(
        r"^\d+\s+(\S+)\s+\S+\s+\S+\s+leido\s+-\s+(\S+)\s+(\S+)\s+(\S+)$", primera.stdout, re.M
    )
    assert sorted(tipo for tipo, *_ in leidos) == sorted(
        ["cotizacion", "orden_compra", "vehiculo_listo", *["respuesta"] * 6,
         "aviso_agente", "aviso_agente", "agente", "relevo_agente"]
    )  # fmt: skip
    assert all("-" not in tiempos for _, *tiempos in leidos)  # sent, delivered and read times
    assert "sin_consentimiento" in primera.stdout
    assert "telefono_invalido" in primera.stdout
    for frase in (
        "cotización COT-2001: APROBADA",
        "Aprobamos la cotización COT-2001",
        "Anotado: te esperamos a las 9:00.",
        "→ Luis: plantilla aviso_agente (Ana Pérez / +525512345678 / Quiero hablar con un humano)",
        "→ Ana Pérez: Hola Ana, soy Luis.",
        "→ Luis: Ana Pérez: ¿La alineación incluye balanceo?",
        "conversación de Ana Pérez: Bot",
        "→ Ana Pérez: 👍 (reacción a su mensaje)",
        "Recibimos tu comprobante por $4,925.00 del 15/01/2025",
        "archivo (Descargada): whatsapp_notify/recibidos/",
        "pago registrado: 4925.00 del 2025-01-15",
    ):
        assert frase in primera.stdout, frase
    # Only the edited quote is new among the notices (with this run's conversation); it is
    # sent although another process sent the first ones, and it was approved already.
    assert "11 de 11 mensajes válidos" in segunda.stdout
    ultimo_de_la_primera = max(map(int, re.findall(r"^(\d+)\s", primera.stdout, re.M)))
    cotizaciones = re.findall(
        r"^(\d+)\s+cotizacion\s+cotizacion_lista_cliente\s+\S+\s+leido", segunda.stdout, re.M
    )
    assert max(map(int, cotizaciones)) > ultimo_de_la_primera
    assert "ya estaba aprobada" in segunda.stdout
    # Stored by content (sha256): the first quote's PDF and the edited quote's, one file each.
    assert len(list((tmp_path / "media").rglob("*.pdf"))) == 2


EDITAR_COTIZACION = """
from example_project.taller.models import Cotizacion
cotizacion = Cotizacion.objects.get(numero="COT-2001")
cotizacion.conceptos.append({"descripcion": "Lavado", "cantidad": 1, "precio": 150})
cotizacion.save()
"""


# -- flow 4: appointments ----------------------------------------------------------------------


def nueva_cita(dias: int = 3) -> Cita:
    cliente = nuevo_cliente()
    fecha = (timezone.now() + timedelta(days=dias)).replace(microsecond=0)
    return Cita.objects.create(
        cliente=cliente, vehiculo=nuevo_vehiculo(cliente), fecha=fecha, motivo="Servicio 10,000 km"
    )


def recordatorios_cita(*estados: str) -> list[tuple[str, object]]:
    envios = EnvioWhatsApp.objects.filter(tipo__startswith="recordatorio_cita_", estado__in=estados)
    return sorted(envios.values_list("tipo", "programado_para"), key=lambda fila: fila[1])


def test_cita__confirma_recuerda_reprograma_cancela_y_beat_envia(
    admin_client, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        cita = nueva_cita()
    datos = ["Ana Pérez", cita.fecha_legible, "Mazda 3 (ABC-123)"]
    assert [(m.contenido.nombre, m.contenido.variables) for m in outbox] == [
        ("cita_confirmada", datos)
    ]
    assert recordatorios_cita("programado") == [
        ("recordatorio_cita_24h", cita.fecha - timedelta(hours=24)),
        ("recordatorio_cita_1h", cita.fecha - timedelta(hours=1)),
    ]

    # The clerk moves the appointment one day later in the admin.
    nueva = timezone.localtime(cita.fecha + timedelta(days=1))
    url = reverse("admin:taller_cita_change", args=[cita.pk])
    with django_capture_on_commit_callbacks(execute=True):
        respuesta = admin_client.post(
            url,
            {
                "cliente": cita.cliente_id,
                "vehiculo": cita.vehiculo_id,
                "fecha_0": nueva.strftime("%Y-%m-%d"),
                "fecha_1": nueva.strftime("%H:%M:%S"),
                "estado": "CONFIRMADA",
                "motivo": cita.motivo,
            },
        )
    assert respuesta.status_code == 302, respuesta.content.decode()
    cita.refresh_from_db()
    assert cita.fecha == nueva
    assert recordatorios_cita("programado") == [
        ("recordatorio_cita_24h", nueva - timedelta(hours=24)),
        ("recordatorio_cita_1h", nueva - timedelta(hours=1)),
    ]
    assert len(recordatorios_cita("cancelado")) == 2

    # Beat's despachar sends the reminder that came due, not the one still ahead.
    EnvioWhatsApp.objects.filter(tipo="recordatorio_cita_24h", estado="programado").update(
        programado_para=timezone.now() - timedelta(minutes=1)
    )
    tasks.despachar()
    assert [m.contenido.nombre for m in outbox] == ["cita_confirmada", "recordatorio_cita"]
    assert outbox[-1].contenido.variables == ["Ana Pérez", cita.fecha_legible, "Mazda 3 (ABC-123)"]

    # Cancelled from the admin, twice: the 1 h reminder is cancelled, the customer told once.
    changelist = reverse("admin:taller_cita_changelist")
    for _vez in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(changelist, {"action": "cancelar", "_selected_action": [cita.pk]})
    assert recordatorios_cita("programado", "pendiente") == []
    assert [m.contenido.nombre for m in outbox][2:] == ["cita_cancelada"]
    assert outbox[-1].contenido.variables == ["Ana Pérez", cita.fecha_legible]
    assert EnvioWhatsApp.objects.filter(tipo="cita_confirmada").count() == 1


def test_cita__admin_listado_y_alta_se_muestran(admin_client):
    nueva_cita()

    listado = admin_client.get(reverse("admin:taller_cita_changelist"))
    alta = admin_client.get(reverse("admin:taller_cita_add"))

    assert (listado.status_code, alta.status_code) == (200, 200)
    assert "Servicio 10,000 km" in listado.content.decode()


def demo_con_proveedor(tmp_path, proveedor: str, *mas: str) -> subprocess.CompletedProcess:
    """``manage.py demo --proveedor ...`` on a fresh database, with nothing from ``.env``."""
    entorno = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    entorno.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'taller.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        ENV_FILE=str(tmp_path / "sin.env"),
        META_ACCESS_TOKEN="",
        CELERY_BROKER_URL="",
    )
    demo = subprocess.run(
        [sys.executable, "manage.py", "demo", "--proveedor", proveedor, *mas],
        cwd=REPO, env=entorno, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    return demo


def test_demo__proveedor_whapi_lleva_plantillas_documento_y_texto_a_leido(tmp_path):
    """``make demo PROVEEDOR=whapi``: the same flows on WhapiBackend and the WHAPI sandbox."""
    demo = demo_con_proveedor(tmp_path, "whapi")

    # Three rendered templates (one as the quote's PDF) and a free text; each with its echo
    # and three statuses, authenticated by the webhook's secret header.
    assert "4 de 4 mensajes válidos según la forma documentada de WHAPI" in demo.stdout
    assert "16 webhooks autenticados con su cabecera secreta entregados" in demo.stdout
    leidos = re.findall(r"^\d+\s+(\S+)\s+\S+\s+\S+\s+leido\s+-\s", demo.stdout, re.M)
    assert sorted(leidos) == ["-", "cotizacion", "orden_compra", "vehiculo_listo"]


@pytest.mark.django_db(transaction=True)
def test_demo__el_telefono_invalido_a_proposito_es_una_nota_no_un_warning(caplog):
    salida = StringIO()

    with caplog.at_level(logging.INFO, logger="example_project"):
        call_command("demo", "--consola", stdout=salida)

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "Carla Ruiz tiene a propósito un teléfono inválido" in salida.getvalue()
    assert EnvioWhatsApp.objects.filter(motivo="telefono_invalido").count() == 1


def test_demo__aviso_esperado__solo_retiene_ese_aviso_y_solo_en_el_bloque(caplog):
    from example_project.taller import models
    from example_project.taller.management.commands.demo import aviso_esperado

    with caplog.at_level(logging.INFO, logger="example_project"):
        with aviso_esperado(models.logger, models.SIN_CONSENTIMIENTO) as retenidos:
            models.logger.warning(models.SIN_CONSENTIMIENTO, "cliente", 1)
            models.logger.warning("Otro problema real")
        models.logger.warning(models.SIN_CONSENTIMIENTO, "cliente", 2)

    assert [r.getMessage() for r in retenidos] == [models.SIN_CONSENTIMIENTO % ("cliente", 1)]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "Otro problema real"),
        ("WARNING", models.SIN_CONSENTIMIENTO % ("cliente", 2)),
    ]


def puerto_libre() -> int:
    with socket.socket() as libre:
        libre.bind(("127.0.0.1", 0))
        return libre.getsockname()[1]


def test_demo__puertos_y_latencia_de_las_opciones(tmp_path):
    erp, sandbox = puerto_libre(), puerto_libre()

    demo = demo_con_proveedor(
        tmp_path, "meta", "--puerto-erp", str(erp), "--puerto-sandbox", str(sandbox),
        "--latencia-ms", "40",
    )  # fmt: skip

    assert (
        f"ERP en http://127.0.0.1:{erp}; sandbox de la Cloud API en http://127.0.0.1:{sandbox}; "
        f"webhook en http://127.0.0.1:{erp}/whatsapp/webhook/"
    ) in demo.stdout
    assert "El sandbox tarda 40 ms en cada respuesta." in demo.stdout
    assert "13 de 13 mensajes válidos" in demo.stdout


@pytest.mark.parametrize("proveedor", ["meta", "whapi", "twilio"])
def test_demo__la_latencia_llega_al_sandbox_de_cada_proveedor(proveedor):
    import requests

    from example_project.taller.management.commands.demo import Red, sandbox_de

    puerto = puerto_libre()
    with sandbox_de(proveedor, "", Red(puerto_sandbox=puerto, latencia_ms=150)) as (sandbox, _):
        inicio = time.monotonic()
        requests.get(f"{sandbox.base_url}/v25.0/x", timeout=5)
        tardo = time.monotonic() - inicio

    assert sandbox.base_url == f"http://127.0.0.1:{puerto}"
    assert tardo >= 0.15


@pytest.mark.django_db(transaction=True)
def test_demo__puerto_ocupado__error_que_nombra_la_opcion():
    with socket.socket() as ocupado:
        ocupado.bind(("127.0.0.1", 0))
        ocupado.listen()
        puerto = ocupado.getsockname()[1]

        with pytest.raises(CommandError) as error:
            call_command("demo", "--puerto-sandbox", str(puerto), stdout=StringIO())

    assert f"No se pudo escuchar en el puerto {puerto} (--puerto-sandbox)" in str(error.value)


@pytest.mark.parametrize(
    ("argumentos", "mensaje"),
    [
        pytest.param(["--puerto-erp", "70000"], "--puerto-erp es un puerto de 0 a 65535", id="erp"),
        pytest.param(["--puerto-sandbox", "-1"], "--puerto-sandbox es un puerto", id="sandbox"),
        pytest.param(["--latencia-ms", "-5"], "--latencia-ms son milisegundos", id="latencia"),
        pytest.param(["--latencia-ms", "nan"], "--latencia-ms son milisegundos", id="latencia-nan"),
        pytest.param(
            ["--latencia-ms", "1e400"], "--latencia-ms son milisegundos", id="latencia-inf"
        ),
    ],
)
def test_demo__opciones_de_red_invalidas__error_antes_de_empezar(argumentos, mensaje):
    salida = StringIO()

    with pytest.raises(CommandError, match=mensaje):
        call_command("demo", *argumentos, stdout=salida)

    assert salida.getvalue() == ""  # nothing migrated, nothing created


@pytest.mark.skipif(shutil.which("make") is None, reason="make no está en el PATH")
def test_make_demo__pasa_puertos_y_latencia_a_la_demo():
    variables = ["ERP_PUERTO=8100", "SANDBOX_PUERTO=8101", "LATENCIA_MS=300"]
    plan = subprocess.run(
        ["make", "-n", "demo", *variables], cwd=REPO, capture_output=True, text=True, check=True
    )

    orden = " ".join(plan.stdout.replace("\\\n", " ").split())
    assert "manage.py demo --puerto-erp 8100 --puerto-sandbox 8101 --latencia-ms 300" in orden


@pytest.mark.skipif(shutil.which("make") is None, reason="make no está en el PATH")
def test_make_demo__otro_proveedor_usa_su_propia_base():
    """A Twilio run after a Meta one finds its notices new, not already sent by Meta's."""
    entorno = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    plan = subprocess.run(
        ["make", "-n", "demo", "PROVEEDOR=twilio"],
        cwd=REPO, capture_output=True, text=True, check=True, env=entorno,
    ).stdout  # fmt: skip
    meta = subprocess.run(
        ["make", "-n", "demo"], cwd=REPO, capture_output=True, text=True, check=True, env=entorno
    ).stdout

    assert f"DATABASE_URL=sqlite:///{REPO}/example_project/taller-twilio.sqlite3" in plan
    assert "--proveedor twilio" in plan
    assert "DATABASE_URL" not in meta


def test_demo__ayuda_y_readme_dicen_que_por_omision_usa_el_sandbox_no_la_consola():
    ayuda = subprocess.run(
        [sys.executable, "manage.py", "demo", "--help"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ayuda = " ".join(ayuda.split())
    leeme = " ".join((REPO / "example_project" / "README.md").read_text(encoding="utf-8").split())

    assert "Por omisión todo corre de verdad en esta máquina" in ayuda
    assert "MetaBackend envía al sandbox local de la Cloud API" in ayuda
    assert "sólo --consola usa el backend de consola" in ayuda
    assert "con `MetaBackend` contra la sandbox local de la Cloud API" in leeme
    assert "no para la demo (que siempre usa su sandbox" in leeme


def test_demo__ayuda_nombra_las_opciones_de_red_y_las_variables_de_make():
    ayuda = subprocess.run(
        [sys.executable, "manage.py", "demo", "--help"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    for texto in ("--puerto-erp", "ERP_PUERTO", "--puerto-sandbox", "SANDBOX_PUERTO"):
        assert texto in ayuda
    assert "--latencia-ms" in ayuda
    assert "LATENCIA_MS" in ayuda


def test_demo__proveedor_twilio_responde_dentro_de_la_ventana_y_llega_a_leido(tmp_path):
    """``make demo PROVEEDOR=twilio``: Content SID templates, an inbound text, a reply."""
    demo = demo_con_proveedor(tmp_path, "twilio")

    # Three templates by ContentSid and the reply; three signed statuses each, plus the
    # customer's own message that opened the window.
    assert "4 de 4 mensajes válidos según la forma documentada de Twilio" in demo.stdout
    assert "13 webhooks firmados con X-Twilio-Signature entregados" in demo.stdout
    assert "webhook del mensaje entrante: HTTP 200" in demo.stdout
    leidos = re.findall(r"^\d+\s+(\S+)\s+\S+\s+\S+\s+leido\s+-\s", demo.stdout, re.M)
    assert sorted(leidos) == ["-", "cotizacion", "orden_compra", "vehiculo_listo"]


# -- work-order pages: the WhatsApp notice of each order, and «Reenviar notificación» ---------


def orden_numero(numero: str, cliente: Cliente, placas: str) -> OrdenTrabajo:
    vehiculo = Vehiculo.objects.create(
        cliente=cliente, marca="Nissan", modelo="Versa", placas=placas
    )
    return OrdenTrabajo.objects.create(numero=numero, cliente=cliente, vehiculo=vehiculo)


def completar(orden: OrdenTrabajo) -> EnvioWhatsApp:
    orden.estado = OrdenTrabajo.Estado.COMPLETADA
    orden.save()
    return EnvioWhatsApp.objects.get(tipo="vehiculo_listo", object_id=str(orden.pk))


def test_paginas_de_ordenes__piden_entrar_como_personal(client):
    orden = nueva_orden()

    for url in (reverse("taller:ordenes"), reverse("taller:orden", args=[orden.pk])):
        respuesta = client.get(url)
        assert respuesta.status_code == 302
        assert respuesta.url.startswith(reverse("admin:login"))
    respuesta = client.post(reverse("taller:reenviar_aviso_orden", args=[orden.pk]))
    assert respuesta.status_code == 302
    assert EnvioWhatsApp.objects.count() == 0


def test_lista_de_ordenes__dice_si_salio_el_whatsapp_y_por_que_no(
    admin_client, wa_settings, django_capture_on_commit_callbacks
):
    wa_settings(REQUIRE_CONSENT=True)
    enviada = nueva_orden()  # Ana accepts WhatsApp
    sin_permiso = orden_numero("OT-43", nuevo_cliente("+52 55 8765 4321", acepta=False), "XYZ-1")
    orden_numero("OT-44", enviada.cliente, "XYZ-2")  # not completed: no notice yet
    with django_capture_on_commit_callbacks(execute=True):
        completar(enviada)
        completar(sin_permiso)

    html = admin_client.get(reverse("taller:ordenes")).content.decode()

    filas = dict(re.findall(r">(OT-\d+)</a></th>(.*?)</tr>", html, re.S))
    assert set(filas) == {"OT-42", "OT-43", "OT-44"}
    assert 'data-estado="enviado"' in filas["OT-42"]
    assert "WhatsApp: Enviado" in filas["OT-42"]
    assert "Enviar otra copia" in filas["OT-42"]
    assert "WhatsApp: Omitido" in filas["OT-43"]
    assert "No se envió: Sin consentimiento." in filas["OT-43"]
    assert "Reenviar notificación" in filas["OT-43"]
    assert "WhatsApp: sin aviso" in filas["OT-44"]
    assert "<form" not in filas["OT-44"]
    assert "55 1234" not in html
    assert "8765" not in html


def test_lista_de_ordenes__las_consultas_no_crecen_con_las_ordenes(
    admin_client, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cliente = nuevo_cliente()
    url = reverse("taller:ordenes")

    def consultas(cuantas: int) -> int:
        for n in range(cuantas):
            with django_capture_on_commit_callbacks(execute=True):
                completar(
                    orden_numero(
                        f"OT-{OrdenTrabajo.objects.count() + 100}", cliente, f"P-{n}-{cuantas}"
                    )
                )
        with CaptureQueriesContext(connection) as capturadas:
            assert admin_client.get(url).status_code == 200
        return len(capturadas)

    assert consultas(2) == consultas(6)


def test_detalle_de_orden__fallido_con_codigo_y_reenviar_una_vez(
    admin_client, outbox, django_capture_on_commit_callbacks
):
    orden = nueva_orden()
    with django_capture_on_commit_callbacks(execute=True):
        envio = completar(orden)
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(
        estado="fallido", error_codigo=131026, error_detalle="(#131026) Mensaje no entregable."
    )
    outbox.clear()
    url = reverse("taller:orden", args=[orden.pk])

    pagina = admin_client.get(url).content.decode()
    assert "WhatsApp: Fallido" in pagina
    assert "Error 131026" in pagina
    assert "(#131026) Mensaje no entregable." in pagina
    assert "Reenviar notificación" in pagina
    assert 'name="copia_de"' not in pagina  # only «Enviar otra copia» names what it saw

    formulario = {"tipo": "vehiculo_listo", "next": url}
    with django_capture_on_commit_callbacks(execute=True):
        primera = admin_client.post(
            reverse("taller:reenviar_aviso_orden", args=[orden.pk]), formulario, follow=True
        )
    with django_capture_on_commit_callbacks(execute=True):
        segunda = admin_client.post(
            reverse("taller:reenviar_aviso_orden", args=[orden.pk]), formulario, follow=True
        )

    assert primera.redirect_chain == [(url, 302)]
    assert "OT-42: El aviso vuelve a enviarse" in primera.content.decode()
    assert "ya se envió" in segunda.content.decode()
    assert "WhatsApp: Enviado" in admin_client.get(url).content.decode()
    assert len(outbox) == 1
    assert EnvioWhatsApp.objects.filter(tipo="vehiculo_listo").count() == 1


def test_detalle_de_orden__otra_copia_de_un_aviso_entregado_sale_una_vez(
    admin_client, outbox, django_capture_on_commit_callbacks
):
    orden = nueva_orden()
    with django_capture_on_commit_callbacks(execute=True):
        envio = completar(orden)
    EnvioWhatsApp.objects.filter(pk=envio.pk).update(
        estado="entregado", entregado_en=timezone.now()
    )
    outbox.clear()
    reenviar = reverse("taller:reenviar_aviso_orden", args=[orden.pk])
    pagina = admin_client.get(reverse("taller:orden", args=[orden.pk])).content.decode()
    assert "Enviar otra copia" in pagina
    assert f'name="copia_de" value="{envio.pk}"' in pagina
    formulario = {"tipo": "vehiculo_listo", "copia_de": envio.pk}

    with django_capture_on_commit_callbacks(execute=True):
        primera = admin_client.post(reenviar, formulario, follow=True)
        segunda = admin_client.post(reenviar, formulario, follow=True)  # the same form again

    assert "Se envía una copia nueva" in primera.content.decode()
    assert "cambió desde que lo consultaste" in segunda.content.decode()
    assert [m.contenido.nombre for m in outbox] == ["vehiculo_listo_cliente"]
    assert EnvioWhatsApp.objects.filter(tipo="vehiculo_listo").count() == 2


def test_reenviar_aviso__sin_csrf_se_rechaza(admin_user, outbox):
    from django.test import Client

    orden = nueva_orden()
    navegador = Client(enforce_csrf_checks=True)
    navegador.force_login(admin_user)

    respuesta = navegador.post(
        reverse("taller:reenviar_aviso_orden", args=[orden.pk]), {"tipo": "vehiculo_listo"}
    )

    assert respuesta.status_code == 403


@pytest.mark.parametrize(
    "formulario", [{}, {"tipo": "vehiculo_listo", "copia_de": "abc"}], ids=["sin-tipo", "copia-de"]
)
def test_reenviar_aviso__formulario_invalido_es_400(admin_client, formulario):
    orden = nueva_orden()

    respuesta = admin_client.post(
        reverse("taller:reenviar_aviso_orden", args=[orden.pk]), formulario
    )

    assert respuesta.status_code == 400


def test_reenviar_aviso__sin_aviso_lo_dice_y_no_sigue_una_url_ajena(admin_client, outbox):
    orden = nueva_orden()

    respuesta = admin_client.post(
        reverse("taller:reenviar_aviso_orden", args=[orden.pk]),
        {"tipo": "vehiculo_listo", "next": "https://otro.example.com/"},
    )

    assert respuesta.url == reverse("taller:orden", args=[orden.pk])
    pagina = admin_client.get(respuesta.url).content.decode()
    assert "No hay ningún aviso «vehiculo_listo»" in pagina
    assert outbox == []
