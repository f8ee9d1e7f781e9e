"""OcultarVerifyToken: the verify token Meta puts in the handshake's query string never
reaches a log line, whatever logger records the request (runserver, gunicorn, urllib3)."""

from __future__ import annotations

import io
import logging

import pytest
from django.utils.module_loading import import_string

from whatsapp_notify.backends.meta.logs import OcultarVerifyToken, ocultar_verify_token

TOKEN = "s3cr3t-verifica"
CONSULTA = f"hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=1158201444"
LINEA = f"GET /whatsapp/webhook/?{CONSULTA} HTTP/1.1"


def registro(msg: str, args) -> logging.LogRecord:
    return logging.LogRecord("acceso", logging.INFO, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    ("texto", "esperado"),
    [
        pytest.param(
            LINEA,
            "GET /whatsapp/webhook/?hub.mode=subscribe&hub.verify_token=***"
            "&hub.challenge=1158201444 HTTP/1.1",
            id="linea-de-peticion",
        ),
        pytest.param(
            f"/w/?hub%2Everify_token={TOKEN}", "/w/?hub%2Everify_token=***", id="codificado"
        ),
        pytest.param(f"?hub.verify_token={TOKEN}", "?hub.verify_token=***", id="al-final"),
        pytest.param("/whatsapp/webhook/", "/whatsapp/webhook/", id="sin-consulta"),
        pytest.param(f"?HUB.VERIFY_TOKEN={TOKEN}", "?HUB.VERIFY_TOKEN=***", id="mayusculas"),
        pytest.param(
            f"?hub%2everify%5ftoken={TOKEN}&x=1",
            "?hub%2everify%5ftoken=***&x=1",
            id="todo-codificado",
        ),
        pytest.param(
            f"?next=%2Fw%3Fhub.verify_token%3D{TOKEN}%26a%3D1",
            "?next=%2Fw%3Fhub.verify_token%3D***%26a%3D1",
            id="dentro-de-otro-parametro",
        ),
        pytest.param(f"?hub%252Everify_token={TOKEN}", "?hub%252Everify_token=***", id="doble"),
    ],
)
def test_ocultar__solo_el_valor_del_token(texto, esperado):
    assert ocultar_verify_token(texto) == esperado


@pytest.mark.parametrize(
    ("msg", "args"),
    [
        pytest.param('"%s" %s %s', (LINEA, "200", "10"), id="django-server"),
        pytest.param(
            '%(h)s "%(r)s" %(s)s', {"h": "10.0.0.1", "r": LINEA, "s": "403"}, id="gunicorn"
        ),
        pytest.param(LINEA, None, id="en-el-mensaje"),
    ],
)
def test_filtro__oculta_el_token_y_no_descarta_la_linea(msg, args):
    linea = registro(msg, args)

    assert OcultarVerifyToken().filter(linea) is True
    mensaje = linea.getMessage()
    assert TOKEN not in mensaje
    assert "hub.verify_token=***&hub.challenge=1158201444" in mensaje


def test_filtro__la_ruta_documentada_en_un_manejador():
    # The path the docs give for LOGGING["filters"][...]["()"].
    filtro = import_string("whatsapp_notify.backends.meta.logs.OcultarVerifyToken")()
    salida = io.StringIO()
    manejador = logging.StreamHandler(salida)
    manejador.addFilter(filtro)
    acceso = logging.getLogger("pruebas.acceso")
    acceso.addHandler(manejador)
    try:
        acceso.warning('"%s" %s', LINEA, 403)
    finally:
        acceso.removeHandler(manejador)

    assert TOKEN not in salida.getvalue()
    assert "hub.verify_token=***" in salida.getvalue()


class Atomos(dict):
    """gunicorn's access atoms: headers looked up case-insensitively, a missing one is "-"."""

    def __getitem__(self, clave):
        if clave.startswith("{"):
            clave = clave.lower()
        return super().get(clave, "-")


def test_filtro__atomos_de_gunicorn_con_cabeceras_y_atomos_ausentes():
    formato = '%(h)s "%(r)s" %(s)s "%({User-Agent}i)s" %(M)s'
    atomos = Atomos({"h": "1.2.3.4", "r": LINEA, "s": "200", "{user-agent}i": "facebookplatform"})
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, formato, (atomos,), None
    )

    assert OcultarVerifyToken().filter(record) is True

    linea = record.getMessage()
    assert TOKEN not in linea
    assert '"facebookplatform" -' in linea
    assert "hub.verify_token=***" in linea


def test_filtro__el_token_como_argumento_de_un_formato_con_mas_marcadores():
    record = registro("GET /w/?hub.verify_token=%s&hub.challenge=%s", (TOKEN, "1"))

    OcultarVerifyToken().filter(record)

    assert record.getMessage() == "GET /w/?hub.verify_token=***&hub.challenge=1"


def test_filtro__un_registro_sin_token_queda_como_estaba():
    args = ("GET", "/whatsapp/webhook/")
    record = registro("%s %s", args)

    OcultarVerifyToken().filter(record)

    assert (record.msg, record.args) == ("%s %s", args)
