"""Message value objects: WhatsApp's limits are enforced on construction."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import IntEnum

import pytest
from django.utils.translation import gettext_lazy

from whatsapp_notify.exceptions import MessageError, ValorDemasiadoLargo, VariablesError
from whatsapp_notify.messages import (
    MAX_CAPTION,
    MAX_TEXTO,
    Boton,
    Botones,
    Documento,
    Fila,
    Lista,
    Plantilla,
    Salida,
    Seccion,
    Texto,
    normalizar_variables,
)

PDF = b"%PDF-1.4 cotizacion"


def _botones(*titulos: str) -> tuple[Boton, ...]:
    return tuple(Boton(id=f"b{n}", titulo=titulo) for n, titulo in enumerate(titulos))


def _filas(cantidad: int, desde: int = 0) -> tuple[Fila, ...]:
    return tuple(Fila(id=f"f{n}", titulo=f"Fila {n}") for n in range(desde, desde + cantidad))


# -- Documento ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nombre", "mime"),
    [
        pytest.param("cotizacion.pdf", "application/pdf", id="pdf"),
        pytest.param("COTIZACION.PDF", "application/pdf", id="extension-en-mayusculas"),
        pytest.param("notas.txt", "text/plain", id="texto"),
        pytest.param("foto.png", "image/png", id="imagen"),
        pytest.param("sin_extension", "application/octet-stream", id="sin-extension"),
    ],
)
def test_documento__adivina_el_mime_por_el_nombre(nombre, mime):
    assert Documento(PDF, nombre).mime == mime


def test_documento__mime_explicito_se_respeta():
    assert Documento(PDF, "archivo.bin", mime="application/pdf").mime == "application/pdf"


def test_documento__sha256_del_contenido():
    assert Documento(PDF, "c.pdf").sha256 == hashlib.sha256(PDF).hexdigest()


def test_documento__acepta_bytearray():
    assert Documento(bytearray(PDF), "c.pdf").sha256 == hashlib.sha256(PDF).hexdigest()


def test_documento__caption_en_el_limite_se_acepta():
    assert len(Documento(PDF, "c.pdf", caption="x" * MAX_CAPTION).caption) == MAX_CAPTION


@pytest.mark.parametrize(
    ("argumentos", "mensaje"),
    [
        pytest.param({"contenido": b"", "nombre": "c.pdf"}, "vacío", id="vacio"),
        pytest.param({"contenido": "texto", "nombre": "c.pdf"}, "bytes", id="no-es-bytes"),
        pytest.param({"contenido": PDF, "nombre": ""}, "nombre_documento", id="sin-nombre"),
        pytest.param(
            {"contenido": PDF, "nombre": "c.pdf", "caption": "x" * (MAX_CAPTION + 1)},
            "caption",
            id="caption-demasiado-largo",
        ),
    ],
)
def test_documento__invalido_lanza_message_error(argumentos, mensaje):
    with pytest.raises(MessageError, match=mensaje):
        Documento(**argumentos)


def test_message_error__es_un_value_error():
    with pytest.raises(ValueError, match="vacío"):
        Documento(b"", "c.pdf")


# -- Plantilla y variables ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "esperado"),
    [
        pytest.param(None, [], id="ninguna"),
        pytest.param(["Ana", "Mazda 3"], ["Ana", "Mazda 3"], id="lista"),
        pytest.param(("Ana", 42, 0), ["Ana", "42", "0"], id="tupla-y-numeros"),
        pytest.param({"nombre": "Ana", "orden": 7}, {"nombre": "Ana", "orden": "7"}, id="dict"),
        pytest.param(["Mazda    3"], ["Mazda    3"], id="cuatro-espacios-tal-cual"),
        pytest.param(["  Ana  "], ["  Ana  "], id="espacios-alrededor-tal-cual"),
        pytest.param(["x" * 1024], ["x" * 1024], id="1024-caracteres"),
        pytest.param([-7, 10**30], ["-7", str(10**30)], id="enteros"),
        pytest.param([IntEnum("N", "UNO")(1)], ["1"], id="int-enum-como-numero"),
        pytest.param([gettext_lazy("Listo")], ["Listo"], id="texto-traducible"),
    ],
)
def test_normalizar_variables__texto_que_meta_acepta(variables, esperado):
    assert normalizar_variables(variables) == esperado


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param({"Ana", "Mazda"}, id="set"),
        pytest.param("Ana", id="cadena"),
        pytest.param({"nombre cliente": "Ana"}, id="clave-con-espacio"),
        pytest.param({"1": "Ana"}, id="clave-numerica-texto"),
        pytest.param({1: "Ana"}, id="clave-entera"),
        pytest.param({"NombreCliente": "Ana"}, id="clave-con-mayusculas"),
        pytest.param({"teléfono": "Ana"}, id="clave-con-acento"),
        pytest.param(["Ana", ""], id="valor-vacio"),
        pytest.param(["Ana", None], id="valor-none"),
        pytest.param(["   \n\t"], id="valor-solo-espacios"),
        pytest.param(["   "], id="valor-solo-blancos"),
        pytest.param({"nombre": ""}, id="dict-valor-vacio"),
        pytest.param(["Ana\nPérez"], id="salto-de-linea"),
        pytest.param(["Ana\r\nPérez"], id="retorno-de-carro"),
        pytest.param(["OT\t42"], id="tabulador"),
        pytest.param(["Mazda     3"], id="cinco-espacios"),
        pytest.param(["Ana\x00"], id="caracter-nul"),
        pytest.param(["Ana\u2028Pérez"], id="separador-de-linea-unicode"),
        pytest.param(["x" * 1025], id="mas-de-1024-caracteres"),
        pytest.param([10**1100], id="entero-de-mas-de-1024-digitos"),
        pytest.param([True], id="bool"),
        pytest.param([b"\xff"], id="bytes"),
        pytest.param([bytearray(b"Ana")], id="bytearray"),
        pytest.param([{"k": 1}], id="dict-como-valor"),
        pytest.param([["Ana"]], id="lista-como-valor"),
        pytest.param([object()], id="objeto"),
        pytest.param([float("nan")], id="nan"),
        pytest.param([float("inf")], id="infinito"),
        pytest.param([Decimal("NaN")], id="decimal-nan"),
        pytest.param([time(9, 30)], id="hora-sin-fecha"),
        pytest.param([timedelta(hours=1)], id="timedelta"),
    ],
)
def test_normalizar_variables__malformadas_lanzan_variables_error(variables):
    with pytest.raises(VariablesError):
        normalizar_variables(variables)


def test_variables_error__es_un_value_error():
    with pytest.raises(ValueError, match="vacía"):
        Plantilla("vehiculo_listo_cliente", "es_MX", variables=[""])


def test_plantilla__normaliza_sus_variables():
    plantilla = Plantilla("vehiculo_listo_cliente", "es_MX", variables=("Ana", 3))

    assert plantilla.variables == ["Ana", "3"]


@pytest.mark.parametrize(
    ("variables", "nombrada", "tipo"),
    [
        pytest.param(["Ana", None], "{{2}}", "NoneType", id="posicional"),
        pytest.param({"nombre": "Ana", "orden": b"7"}, "{{orden}}", "bytes", id="con-nombre"),
        pytest.param(["Ana", "Mazda", {"k": 1}], "{{3}}", "dict", id="tercera"),
    ],
)
def test_variables_error__nombra_la_variable_y_su_tipo(variables, nombrada, tipo):
    with pytest.raises(VariablesError) as error:
        normalizar_variables(variables)

    assert nombrada in str(error.value)
    assert tipo in str(error.value)


def test_variables_error__salto_de_linea_nombra_el_arreglo():
    with pytest.raises(VariablesError, match="132018") as error:
        normalizar_variables(["Ana\nPérez"])

    assert "Pérez" not in str(error.value)  # the customer's data stays out of the message


@pytest.mark.parametrize(
    ("idioma", "variables", "esperado"),
    [
        pytest.param("es_MX", [date(2025, 1, 15)], ["15/01/2025"], id="fecha-es-mx"),
        pytest.param("en_US", [date(2025, 1, 15)], ["01/15/2025"], id="fecha-en-us"),
        pytest.param("es", [date(2025, 1, 15)], ["15/01/2025"], id="fecha-es"),
        pytest.param("es_MX", [Decimal("1234.5")], ["1234.5"], id="decimal-es-mx"),
        pytest.param("es_MX", [Decimal("-0.10")], ["-0.10"], id="decimal-conserva-sus-ceros"),
        pytest.param(
            "es_MX",
            [1.25, 1e20, 1e-7],
            ["1.25", "100000000000000000000", "0.0000001"],
            id="floats-sin-notacion-cientifica",
        ),
        pytest.param("es_ES", [Decimal("1234.5")], ["1234,5"], id="decimal-es-es"),
        pytest.param("pt_BR", [2.5], ["2,5"], id="float-pt-br"),
        pytest.param("es_CO", [Decimal("1234.5")], ["1234,5"], id="decimal-es-co"),
        pytest.param(
            "es_MX", [datetime(2025, 1, 15, 16, 30)], ["15/01/2025 16:30"], id="datetime-es-mx"
        ),
    ],
)
def test_variables__fechas_y_numeros_en_el_formato_del_idioma(idioma, variables, esperado):
    assert Plantilla("recordatorio_cita", idioma, variables=variables).variables == esperado


def test_variables__datetime_con_zona_en_la_hora_local(settings):
    settings.TIME_ZONE = "America/Mexico_City"
    cuando = datetime(2025, 1, 15, 22, 30, tzinfo=UTC)  # 16:30 in Mexico City

    assert Plantilla("cita", "es_MX", variables=[cuando]).variables == ["15/01/2025 16:30"]


@pytest.mark.parametrize(
    ("nombre", "sugerencia"),
    [
        pytest.param("Vehiculo_Listo", "vehiculo_listo", id="mayusculas"),
        pytest.param("vehículo_listo", "vehiculo_listo", id="acento"),
        pytest.param("vehiculo listo cliente", "vehiculo_listo_cliente", id="espacios"),
        pytest.param("taller/vehiculo_listo", "taller_vehiculo_listo", id="barra"),
        pytest.param("vehiculo-listo", "vehiculo_listo", id="guion"),
        pytest.param(" vehiculo_listo", "vehiculo_listo", id="espacio-inicial"),
    ],
)
def test_plantilla__nombre_que_meta_rechazaria_lanza_con_la_sugerencia(nombre, sugerencia):
    with pytest.raises(MessageError, match="minúsculas, dígitos y guion bajo") as error:
        Plantilla(nombre, "es_MX")

    assert str(error.value).endswith(f"{sugerencia}.")


@pytest.mark.parametrize(
    "nombre",
    [
        pytest.param("vehiculo_listo_cliente", id="minusculas-y-guion-bajo"),
        pytest.param("recordatorio_24h", id="con-digitos"),
        pytest.param("a" * 512, id="512-caracteres"),
    ],
)
def test_plantilla__nombre_valido_se_acepta(nombre):
    assert Plantilla(nombre, "es_MX").nombre == nombre


def test_plantilla__nombre_de_mas_de_512_caracteres_lanza():
    with pytest.raises(ValorDemasiadoLargo, match="512"):
        Plantilla("a" * 513, "es_MX")


@pytest.mark.parametrize("nombre", [pytest.param(None, id="none"), pytest.param(42, id="entero")])
def test_plantilla__nombre_que_no_es_texto_lanza(nombre):
    with pytest.raises(MessageError, match="plantilla"):
        Plantilla(nombre, "es_MX")


@pytest.mark.parametrize(
    ("nombre", "idioma"),
    [
        pytest.param("", "es_MX", id="sin-nombre"),
        pytest.param("vehiculo_listo_cliente", "", id="sin-idioma"),
    ],
)
def test_plantilla__sin_nombre_o_idioma_lanza(nombre, idioma):
    with pytest.raises(MessageError):
        Plantilla(nombre, idioma)


# -- Texto -------------------------------------------------------------------------------


def test_texto__en_el_limite_se_acepta():
    assert len(Texto("x" * MAX_TEXTO).cuerpo) == MAX_TEXTO


@pytest.mark.parametrize(
    "cuerpo",
    [
        pytest.param("", id="vacio"),
        pytest.param(" \n ", id="solo-espacios"),
        pytest.param("x" * (MAX_TEXTO + 1), id="demasiado-largo"),
        pytest.param("Hola\x00", id="nul"),
    ],
)
def test_texto__invalido_lanza_message_error(cuerpo):
    with pytest.raises(MessageError):
        Texto(cuerpo)


@pytest.mark.parametrize(
    "cuerpo",
    [pytest.param(None, id="none"), pytest.param(1, id="entero"), pytest.param(b"x", id="bytes")],
)
def test_texto__que_no_es_str_lanza_message_error_que_lo_dice(cuerpo):
    with pytest.raises(MessageError, match=r"texto no puede ser \w+: usa el texto del mensaje"):
        Texto(cuerpo)


# -- Botones -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "titulos",
    [
        pytest.param(("Sí",), id="uno"),
        pytest.param(("Confirmar", "Reagendar", "Cancelar"), id="tres"),
        pytest.param(("x" * 20,), id="titulo-de-20"),
    ],
)
def test_botones__validos_se_aceptan(titulos):
    assert len(Botones("¿Confirmas tu cita?", _botones(*titulos)).botones) == len(titulos)


@pytest.mark.parametrize(
    ("crear", "mensaje"),
    [
        pytest.param(lambda: Botones("¿Y?", ()), "1 a 3", id="ninguno"),
        pytest.param(lambda: Botones("¿Y?", _botones("a", "b", "c", "d")), "1 a 3", id="cuatro"),
        pytest.param(lambda: Boton("b1", "x" * 21), "título", id="titulo-de-21"),
        pytest.param(lambda: Boton("b1", ""), "título", id="titulo-vacio"),
        pytest.param(lambda: Boton("", "Sí"), "id", id="id-vacio"),
        pytest.param(lambda: Boton("x" * 257, "Sí"), "id", id="id-de-257"),
        pytest.param(lambda: Botones("¿Y?", _botones("Sí", "Sí")), "repiten", id="repetidos"),
        pytest.param(lambda: Botones("", _botones("Sí")), "vacío", id="cuerpo-vacio"),
        pytest.param(
            lambda: Botones("x" * 1025, _botones("Sí")), "1024", id="cuerpo-demasiado-largo"
        ),
        pytest.param(
            lambda: Botones("¿Y?", _botones("Sí"), encabezado="x" * 61),
            "encabezado",
            id="encabezado-de-61",
        ),
        pytest.param(lambda: Botones("¿Y?", _botones("Sí"), pie="x" * 61), "pie", id="pie-de-61"),
    ],
)
def test_botones__fuera_de_los_limites_lanza(crear, mensaje):
    with pytest.raises(MessageError, match=mensaje):
        crear()


# -- Lista -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secciones",
    [
        pytest.param((Seccion("", _filas(10)),), id="diez-filas-una-seccion"),
        pytest.param(
            (Seccion("Mañana", _filas(5)), Seccion("Tarde", _filas(5, desde=5))),
            id="diez-filas-dos-secciones",
        ),
    ],
)
def test_lista__hasta_diez_filas_se_acepta(secciones):
    lista = Lista("Elige un horario", "Horarios", secciones)

    assert sum(len(seccion.filas) for seccion in lista.secciones) == 10


@pytest.mark.parametrize(
    ("crear", "mensaje"),
    [
        pytest.param(
            lambda: Lista("Elige", "Horarios", (Seccion("", _filas(11)),)),
            "10 filas",
            id="once-filas",
        ),
        pytest.param(
            lambda: Lista(
                "Elige", "Horarios", (Seccion("A", _filas(6)), Seccion("B", _filas(5, desde=6)))
            ),
            "10 filas",
            id="once-filas-en-dos-secciones",
        ),
        pytest.param(lambda: Lista("Elige", "Horarios", ()), "secciones", id="sin-secciones"),
        pytest.param(
            lambda: Lista(
                "Elige", "Horarios", (Seccion("A", _filas(1)), Seccion("", _filas(1, desde=1)))
            ),
            "título",
            id="varias-secciones-sin-titulo",
        ),
        pytest.param(lambda: Seccion("A", ()), "filas", id="seccion-sin-filas"),
        pytest.param(
            lambda: Lista("Elige", "x" * 21, (Seccion("", _filas(1)),)),
            "botón",
            id="boton-de-21",
        ),
        pytest.param(
            lambda: Lista("", "Horarios", (Seccion("", _filas(1)),)), "vacío", id="sin-cuerpo"
        ),
        pytest.param(lambda: Fila("f1", "x" * 25), "título", id="titulo-de-fila-de-25"),
        pytest.param(
            lambda: Fila("f1", "Lunes", descripcion="x" * 73), "descripción", id="descripcion-de-73"
        ),
    ],
)
def test_lista__fuera_de_los_limites_lanza(crear, mensaje):
    with pytest.raises(MessageError, match=mensaje):
        crear()


# -- Salida ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("telefono", "referencia"),
    [
        pytest.param("+525512345678", "", id="telefono-con-mas"),
        pytest.param("52 55 1234 5678", "", id="telefono-con-espacios"),
        pytest.param("525512345678", "x" * 513, id="referencia-demasiado-larga"),
    ],
)
def test_salida__invalida_lanza(telefono, referencia):
    with pytest.raises(MessageError):
        Salida(telefono, Texto("Hola"), referencia)


def test_salida__digitos_e164_y_referencia_del_envio():
    salida = Salida("525512345678", Texto("Hola"), "42")

    assert (salida.telefono, salida.referencia) == ("525512345678", "42")
