"""The shipped catalogs are complete and current: what CI checks on every change.

``makemessages`` runs over a copy of the package (never the real files): a string wrapped
in the code and missing from a catalog, a fuzzy entry, an empty plural form or an entry
whose string left the code fails here, as does a ``.mo`` not compiled from its ``.po``.
Needs GNU gettext (``msgmerge``, ``msgfmt``), as ``makemessages`` itself does.
"""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

import whatsapp_notify

PAQUETE = Path(whatsapp_notify.__file__).parent
LOCALE = PAQUETE / "locale"
IDIOMAS = ["es", "en", "pt_BR"]
# Python and templates are what makemessages reads; the rest of the package is not copied.
NO_COPIAR = shutil.ignore_patterns("__pycache__", "*.pyc", "static", "data", "openapi.yaml")
# The real catalogs as they were before makemessages ran on the copy.
ANTES = {archivo: archivo.read_bytes() for archivo in LOCALE.glob("*/LC_MESSAGES/django.*")}


def _sin_gettext() -> None:
    """Skip without GNU gettext on a developer's machine; under CI=true, fail instead."""
    faltan = [
        programa for programa in ("msgfmt", "msgmerge", "xgettext") if not shutil.which(programa)
    ]
    if not faltan:
        return
    mensaje = f"Faltan {', '.join(faltan)} (GNU gettext)"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{mensaje}: CI=true exige comprobar los catálogos.", pytrace=False)
    pytest.skip(mensaje)


@pytest.fixture(autouse=True)
def _gettext() -> None:
    _sin_gettext()


def po(raiz: Path, idioma: str) -> Path:
    return raiz / "locale" / idioma / "LC_MESSAGES" / "django.po"


@pytest.fixture(scope="module")
def regenerados(tmp_path_factory) -> Path:
    """A copy of the package whose catalogs ``makemessages`` brought up to date."""
    _sin_gettext()  # a module fixture runs before the autouse one
    copia = tmp_path_factory.mktemp("catalogos") / "whatsapp_notify"
    shutil.copytree(PAQUETE, copia, ignore=NO_COPIAR)
    with pytest.MonkeyPatch.context() as parche:
        parche.chdir(copia)
        call_command("makemessages", locale=IDIOMAS, no_obsolete=True, verbosity=0)
    return copia


def estadisticas(archivo: Path) -> tuple[int, int, int]:
    """(translated, fuzzy, untranslated) as ``msgfmt --check`` counts them."""
    salida = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(archivo)],
        capture_output=True,
        text=True,
        check=True,
    ).stderr

    def cuantos(palabra: str) -> int:
        encontrado = re.search(rf"(\d+) {palabra}", salida)
        return int(encontrado.group(1)) if encontrado else 0

    return cuantos("translated"), cuantos("fuzzy"), cuantos("untranslated")


def catalogo(archivo: Path, tmp_path: Path) -> dict:
    """The messages of a ``.po`` (compiled on the side) or of a ``.mo``."""
    if archivo.suffix == ".po":
        tmp_path.mkdir(parents=True, exist_ok=True)
        mo = tmp_path / f"{archivo.parent.parent.name}.mo"
        subprocess.run(["msgfmt", "-o", str(mo), str(archivo)], check=True)
        archivo = mo
    with archivo.open("rb") as datos:
        return dict(gettext.GNUTranslations(datos)._catalog)


@pytest.mark.parametrize("idioma", IDIOMAS)
def test_catalogo__nada_sin_traducir_ni_dudoso_tras_makemessages(regenerados, idioma):
    traducidos, dudosos, sin_traducir = estadisticas(po(regenerados, idioma))

    assert (dudosos, sin_traducir) == (0, 0), (
        f"locale/{idioma}: {sin_traducir} sin traducir y {dudosos} dudosos (fuzzy) al "
        "ejecutar makemessages; tradúcelos y ejecuta compilemessages"
    )
    assert traducidos > 0


@pytest.mark.parametrize("idioma", IDIOMAS)
def test_catalogo__al_dia_con_el_codigo(regenerados, idioma, tmp_path):
    enviado = catalogo(po(PAQUETE, idioma), tmp_path / "enviado")
    actual = catalogo(po(regenerados, idioma), tmp_path / "actual")

    assert sorted(set(actual) - set(enviado), key=str) == [], "faltan en el catálogo"
    assert sorted(set(enviado) - set(actual), key=str) == [], "ya no están en el código"


@pytest.mark.parametrize("idioma", IDIOMAS)
def test_catalogo__cada_mo_compilado_de_su_po(idioma, tmp_path):
    mo = po(PAQUETE, idioma).with_suffix(".mo")

    assert catalogo(mo, tmp_path) == catalogo(po(PAQUETE, idioma), tmp_path), (
        f"locale/{idioma}/LC_MESSAGES/django.mo no es el de su .po: ejecuta compilemessages"
    )


@pytest.mark.parametrize("idioma", IDIOMAS)
def test_catalogo__cada_plural_tiene_todas_sus_formas(idioma, tmp_path):
    formas = int(re.search(r"nplurals=(\d+)", po(PAQUETE, idioma).read_text()).group(1))
    plurales: dict[str, set[int]] = {}
    for clave, texto in catalogo(po(PAQUETE, idioma), tmp_path).items():
        if isinstance(clave, tuple) and texto:
            plurales.setdefault(clave[0], set()).add(clave[1])

    incompletos = [msgid for msgid, indices in plurales.items() if len(indices) != formas]

    assert plurales
    assert incompletos == []


def test_catalogo__la_copia_no_toca_los_archivos_reales(regenerados):
    despues = {archivo: archivo.read_bytes() for archivo in LOCALE.glob("*/LC_MESSAGES/django.*")}

    assert despues == ANTES
    assert len(ANTES) == 2 * len(IDIOMAS)


# The names makemessages (xgettext) looks for in Python: a translation function imported
# under any other name is never extracted, and its strings stay untranslated for good.
EXTRAIBLES = {
    "_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy", "pgettext",
    "pgettext_lazy", "npgettext", "npgettext_lazy",
}  # fmt: skip


def test_codigo__las_funciones_de_traduccion_se_importan_con_un_nombre_que_makemessages_lee():
    import ast

    malos = []
    for archivo in sorted(PAQUETE.rglob("*.py")):
        arbol = ast.parse(archivo.read_text(encoding="utf-8"))
        for nodo in ast.walk(arbol):
            if isinstance(nodo, ast.ImportFrom) and nodo.module == "django.utils.translation":
                for nombre in nodo.names:
                    usado = nombre.asname or nombre.name
                    if "gettext" in nombre.name and usado not in EXTRAIBLES:
                        malos.append(f"{archivo.relative_to(PAQUETE)}: {nombre.name} as {usado}")

    assert malos == []
