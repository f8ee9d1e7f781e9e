"""The public API as a type checker sees it: typed keywords, so mistakes fail before running.

mypy runs once, in a subprocess, over ``tests/uso_tipado.py`` (calls as an ERP writes them,
which must be clean) and a snippet of calls that must each be rejected, on the line (where
the call starts) and with the error code its ``# error:`` comment names.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import whatsapp_notify

RAIZ = Path(__file__).resolve().parents[1]
USO = RAIZ / "tests" / "uso_tipado.py"

ERRORES = """
from whatsapp_notify import disparador, enviar_plantilla, enviar_texto, respuesta
from whatsapp_notify.compat.heyoo import WhatsApp

enviar_plantilla("5215512345678", "vehiculo_listo", variable=["Ana"])  # error: call-arg
enviar_texto("5215512345678", "Hola", tipo=5)  # error: arg-type
enviar_texto("5215512345678", texto="Hola", cuenta=None)  # error: arg-type
disparador(  # error: call-arg
    "taller.OrdenTrabajo", campo="estado", valor="COMPLETADA", plantilla="p", tipo="t",
    destinatario=str, al_crar=False,
)
respuesta(botn="aprobar")  # error: call-overload
WhatsApp(cuenta="bot").send_message("Hola", "5215512345678", clave_envio="x")  # error: call-arg
"""

_LINEA = re.compile(r"^(?P<archivo>[^:]+):(?P<linea>\d+): error: .*\[(?P<codigo>[a-z-]+)\]$")


@pytest.fixture(scope="module")
def errores_de_mypy(tmp_path_factory) -> dict[str, set[tuple[int, str]]]:
    """mypy's errors per file name: ``{"uso_tipado.py": {(line, code), ...}, ...}``."""
    carpeta = tmp_path_factory.mktemp("tipos")
    (carpeta / "errores.py").write_text(ERRORES, encoding="utf-8")
    (carpeta / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")
    # From the project's root, so mypy finds the package however it is installed; the
    # package's own modules are read (silently) only for the signatures they declare.
    resultado = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(carpeta / "mypy.ini"),
         "--no-incremental", "--follow-imports=silent", "--show-error-codes",
         "--no-error-summary", "--hide-error-context", "--no-pretty",
         str(USO), str(carpeta / "errores.py")],
        cwd=RAIZ, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert resultado.returncode in (0, 1), resultado.stderr or resultado.stdout
    errores: dict[str, set[tuple[int, str]]] = {"uso_tipado.py": set(), "errores.py": set()}
    for linea in resultado.stdout.splitlines():
        if ": note: " in linea:  # "defined in ...", "did you mean ...": the error says it
            continue
        encontrado = _LINEA.match(linea)
        assert encontrado, f"salida de mypy inesperada: {linea}"
        nombre = Path(encontrado["archivo"]).name
        errores[nombre].add((int(encontrado["linea"]), encontrado["codigo"]))
    return errores


def _esperados(texto: str) -> set[tuple[int, str]]:
    return {
        (numero, linea.rsplit("# error: ", 1)[1].strip())
        for numero, linea in enumerate(texto.splitlines(), start=1)
        if "# error: " in linea
    }


def test_mypy__the_calls_an_erp_writes_are_clean(errores_de_mypy):
    assert errores_de_mypy["uso_tipado.py"] == set()


def test_mypy__a_wrong_keyword_or_type_is_rejected_on_its_line(errores_de_mypy):
    assert errores_de_mypy["errores.py"] == _esperados(ERRORES)


def test_init__cada_nombre_de_all_tiene_su_firma_para_el_verificador():
    # The lazy __getattr__ is invisible to type checkers: a name exported without its
    # TYPE_CHECKING import would be typed as a bare object.
    arbol = ast.parse(Path(whatsapp_notify.__file__).read_text(encoding="utf-8"))
    bloque = next(
        n for n in arbol.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
    )
    importados = {alias.asname or alias.name for nodo in bloque.body for alias in nodo.names}
    assert importados == set(whatsapp_notify.__all__)
