"""The quote PDF (reportlab): workshop header, customer, vehicle, concept lines and total."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO
from xml.sax.saxutils import escape

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .models import Cotizacion

# Header data of the workshop; settings.TALLER overrides any key (see .env.example).
TALLER = {
    "NOMBRE": "Taller Mecánico Ejemplo",
    "DIRECCION": "Av. Siempre Viva 742, Ciudad de México",
    "TELEFONO": "+52 55 0000 0000",
    "RFC": "XAXX010101000",
}

ESTILO_TABLA = TableStyle(
    [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f4e79")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, -2), 0.25, colors.grey),
        ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
        ("LINEABOVE", (0, -1), (-1, -1), 1, colors.black),
    ]
)


def datos_taller() -> dict[str, str]:
    return {**TALLER, **getattr(settings, "TALLER", {})}


def pesos(cantidad: Decimal) -> str:
    """``Decimal("1234.5")`` -> ``"$1,234.50"``."""
    return f"${cantidad:,.2f}"


def cotizacion_pdf(cotizacion: Cotizacion) -> bytes:
    """Render the quote as a one-or-more page PDF and return its bytes.

    The output is byte-for-byte stable for the same quote (reportlab's ``invariant``),
    so re-sending an unchanged quote reuses the media already uploaded to WhatsApp.
    """
    buffer = BytesIO()
    documento = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        title=f"Cotización {cotizacion.numero}",
        author=datos_taller()["NOMBRE"],
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        invariant=True,
    )
    documento.build(_contenido(cotizacion))
    return buffer.getvalue()


def _contenido(cotizacion: Cotizacion) -> list:
    estilos = getSampleStyleSheet()
    return [
        *_encabezado(estilos),
        Paragraph(f"Cotización {escape(cotizacion.numero)}", estilos["Heading2"]),
        Paragraph(f"Fecha: {cotizacion.fecha:%d/%m/%Y}", estilos["Normal"]),
        Paragraph(f"Cliente: {escape(cotizacion.cliente.nombre)}", estilos["Normal"]),
        Paragraph(f"Vehículo: {escape(str(cotizacion.vehiculo or '—'))}", estilos["Normal"]),
        Spacer(1, 6 * mm),
        _tabla(cotizacion, estilos),
        Spacer(1, 6 * mm),
        Paragraph("Precios en pesos mexicanos (MXN).", estilos["Italic"]),
    ]


def _encabezado(estilos) -> list:
    taller = datos_taller()
    return [
        Paragraph(escape(taller["NOMBRE"]), estilos["Title"]),
        Paragraph(
            escape(f"{taller['DIRECCION']} · Tel. {taller['TELEFONO']} · RFC {taller['RFC']}"),
            estilos["Normal"],
        ),
        Spacer(1, 8 * mm),
    ]


def _tabla(cotizacion: Cotizacion, estilos) -> Table:
    filas: list[list] = [["Concepto", "Cantidad", "Precio", "Importe"]]
    # A Paragraph wraps long descriptions inside the column instead of overflowing it.
    filas += [
        [
            Paragraph(escape(descripcion), estilos["BodyText"]),
            f"{cantidad:g}",
            pesos(precio),
            pesos(importe),
        ]
        for descripcion, cantidad, precio, importe in cotizacion.lineas()
    ]
    filas.append(["Total", "", "", pesos(cotizacion.total)])
    tabla = Table(filas, colWidths=[95 * mm, 22 * mm, 28 * mm, 30 * mm], repeatRows=1)
    tabla.setStyle(ESTILO_TABLA)
    return tabla
