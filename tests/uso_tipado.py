"""The public API called as an ERP calls it, for the type checker (``test_tipos.py``).

Never imported nor run: mypy reads it, and each annotation below is a promise the
signatures keep (a function typed ``Any`` would pass them all, so ``test_tipos.py`` also
checks calls that must be rejected).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models

from whatsapp_notify import (
    AlAgente,
    BotonRapido,
    EstadoWhatsApp,
    ReenvioAviso,
    disparador,
    enviar_botones,
    enviar_documento,
    enviar_imagen,
    enviar_lista,
    enviar_plantilla,
    enviar_reaccion,
    enviar_texto,
    enviar_ubicacion,
    estado_whatsapp,
    estados_whatsapp,
    marcar_leido,
    otorgar_consentimiento,
    recordatorio,
    reenviar_aviso,
    respuesta,
    revocar_consentimiento,
)
from whatsapp_notify.compat.heyoo import WhatsApp
from whatsapp_notify.models import ConsentimientoCliente, Conversacion, EnvioWhatsApp, Mensaje
from whatsapp_notify.scheduling.reminders import Recordatorio
from whatsapp_notify.scheduling.triggers import Disparador

TELEFONO = "+52 55 1234 5678"


def avisar(orden: models.Model, pdf: bytes) -> list[EnvioWhatsApp]:
    return [
        enviar_plantilla(
            TELEFONO, "cotizacion_lista_cliente", variables=["Ana", "OT-42"], idioma="es_MX",
            documento=pdf, nombre_documento="cotizacion.pdf", referencia=orden,
            tipo="cotizacion", clave=f"cotizacion:{orden.pk}", nombre="Ana Pérez",
            botones=[BotonRapido(f"cotizacion:aprobar:{orden.pk}")], categoria="utility",
            expira_en=timedelta(hours=4),
        ),
        enviar_texto(TELEFONO, "Su vehículo está listo", tipo="aviso", cuenta="citas"),
        enviar_documento(TELEFONO, pdf, nombre_documento="factura.pdf", caption="Su factura"),
        enviar_imagen(TELEFONO, pdf, nombre_documento="recibo.png", caption="Recibo"),
        enviar_ubicacion(TELEFONO, 19.43, -99.13, nombre_lugar="Taller", direccion="Centro"),
        enviar_botones(TELEFONO, "¿Aprueba la cotización?", botones=[("si", "Sí"), "No"]),
        enviar_lista(
            TELEFONO, "Elija un horario", boton="Ver horarios",
            secciones={"Mañana": [("9", "9:00"), ("10", "10:00", "Con lavado")]},
        ),
        enviar_reaccion(TELEFONO, "👍", responde_a="wamid.HBgLNTIxNTUxMjM0NTY3OBUCABIYIDNB"),
    ]  # fmt: skip


def consultar(orden: models.Model, ordenes: list[models.Model]) -> str:
    uno: EstadoWhatsApp | None = estado_whatsapp(orden, "vehiculo_listo")
    todos: dict[str, EstadoWhatsApp] = estado_whatsapp(orden)
    varios: dict[models.Model, EstadoWhatsApp | None] = estados_whatsapp(ordenes, "aviso")
    reenvio: ReenvioAviso = reenviar_aviso(orden, "vehiculo_listo", copia_de=None)
    return f"{uno} {len(todos)} {len(varios)} {reenvio.mensaje}"


def consentir(telefono: str) -> list[ConsentimientoCliente]:
    return [
        otorgar_consentimiento(telefono, categoria="marketing", evidencia="formulario web"),
        revocar_consentimiento(telefono, origen="erp", cuenta="default"),
    ]


def declarar() -> tuple[Disparador, Recordatorio]:
    listo = disparador(
        "taller.OrdenTrabajo", campo="estado", valor="COMPLETADA",
        plantilla="vehiculo_listo_cliente", tipo="vehiculo_listo",
        destinatario=lambda orden: orden.cliente,
        variables=lambda orden: [orden.cliente.nombre, orden.numero],
    )  # fmt: skip
    cita = recordatorio(
        "agenda.Cita", campo_fecha="fecha", antes=[timedelta(hours=24), timedelta(hours=1)],
        plantilla="recordatorio_cita", tipo="recordatorio",
        destinatario=lambda cita: cita.cliente, cancelar_si=lambda cita: cita.cancelada,
    )  # fmt: skip
    return listo, cita


@respuesta(boton="aprobar")
def aprobar(mensaje: Mensaje, conversacion: Conversacion) -> str:
    return "¡Gracias! Su cotización quedó aprobada."


def humano(mensaje: Mensaje, conversacion: Conversacion) -> AlAgente:
    return AlAgente(motivo="pidió un humano")


def responder(mensaje: Mensaje, conversacion: Conversacion) -> str:
    # Both ways of declaring give the handler back with its own type.
    por_llamada = respuesta(humano, palabra=["humano", "asesor"])
    motivo: str = por_llamada(mensaje, conversacion).motivo
    marcar_leido(mensaje, escribiendo=True)
    return aprobar(mensaje, conversacion) + motivo


def migrar_de_heyoo(pdf: bytes) -> list[int]:
    whatsapp = WhatsApp(cuenta="bot")
    return [
        whatsapp.send_message("Hola", "5215512345678", tipo="saludo"),
        whatsapp.send_template("bienvenida", "5215512345678", lang="es_MX", clave="alta:7"),
        whatsapp.send_document(pdf, "5215512345678", filename="recibo.pdf"),
    ]
