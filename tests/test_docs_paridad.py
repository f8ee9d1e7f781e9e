"""The English and Spanish docs say the same thing: same pages, same code, same outline.

``docs/en`` and ``docs/es`` hold the same page files. On each page the fenced code blocks
come in the same order with the same info string and the same code once comments are
removed (comments may be translated: on each line, everything from a ``#`` at the start or
after whitespace is dropped, then trailing whitespace), the headings keep the same levels in
the same order, and links between pages are relative and reach a page of the same tree.
MyST directives (``{whatsapp-settings}``) are compared by name and argument only: their
content, if any, is prose; a ``{toctree}`` lists pages, and must list the same ones.

No page may be a placeholder (the line ``<!-- placeholder -->``) that stands in for a
translation still to come.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from whatsapp_notify.models import MotivoOmision

RAIZ = Path(__file__).resolve().parent.parent
DOCS = RAIZ / "docs"
IDIOMAS = ("en", "es")
MARCA_PROVISIONAL = "<!-- placeholder -->"

_APERTURA = re.compile(r"^(?P<sangria>\s*)(?P<valla>`{3,}|~{3,})(?P<info>[^`]*)$")
_TITULO = re.compile(r"^(#{1,6})\s+\S")
_COMENTARIO = re.compile(r"(^|\s)#.*$")
_ENLACE = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _sin_comentario(linea: str) -> str:
    """``linea`` up to its comment: a ``#`` at the start or after whitespace, outside quotes
    (``"Orden #1234"`` and ``"color: #2e7d32"`` are code, and must match)."""
    for marca in _COMENTARIO.finditer(linea):
        antes = linea[: marca.start()]
        if antes.count('"') % 2 == 0 and antes.count("'") % 2 == 0:
            return antes
    return linea


@dataclass(frozen=True)
class Bloque:
    """One fenced block of a page: its info string, its lines, the line it opens on."""

    info: str
    lineas: tuple[str, ...]
    linea: int

    @property
    def es_directiva(self) -> bool:
        return self.info.startswith("{")

    def codigo(self) -> tuple[str, ...]:
        """The block's lines without comments, as both languages must share them."""
        return tuple(_sin_comentario(linea).rstrip() for linea in self.lineas)


def bloques(texto: str) -> list[Bloque]:
    """The fenced blocks of a Markdown text, nested fences read as their outer block's."""
    encontrados, abierto = [], None
    for numero, linea in enumerate(texto.splitlines(), start=1):
        if abierto is None:
            apertura = _APERTURA.match(linea)
            if apertura:
                abierto = (apertura, numero, [])
            continue
        apertura, inicio, lineas = abierto
        valla = apertura["valla"]
        if linea.strip().startswith(valla) and set(linea.strip()) == {valla[0]}:
            info = apertura["info"].strip()
            encontrados.append(Bloque(info, tuple(lineas), inicio))
            abierto = None
        else:
            lineas.append(linea.removeprefix(apertura["sangria"]))
    return encontrados


def fuera_de_bloques(texto: str) -> list[tuple[int, str]]:
    """The page's lines that are prose (outside every fenced block), numbered."""
    lineas, dentro = [], None
    for numero, linea in enumerate(texto.splitlines(), start=1):
        apertura = _APERTURA.match(linea)
        if dentro is None and apertura:
            dentro = apertura["valla"]
        elif dentro is not None:
            if linea.strip().startswith(dentro) and set(linea.strip()) == {dentro[0]}:
                dentro = None
        else:
            lineas.append((numero, linea))
    return lineas


def titulos(texto: str) -> list[int]:
    """The level of each ATX heading, in order."""
    return [
        len(encontrado[1])
        for _, linea in fuera_de_bloques(texto)
        if (encontrado := _TITULO.match(linea))
    ]


def enlaces(texto: str) -> list[tuple[int, str]]:
    """The Markdown link targets of the prose, numbered by line."""
    return [
        (numero, destino)
        for numero, linea in fuera_de_bloques(texto)
        for destino in _ENLACE.findall(linea)
    ]


def paginas(idioma: str) -> set[str]:
    raiz = DOCS / idioma
    return {ruta.relative_to(raiz).as_posix() for ruta in raiz.rglob("*.md")}


def leer(idioma: str, pagina: str) -> str:
    return (DOCS / idioma / pagina).read_text(encoding="utf-8")


def provisional(pagina: str) -> bool:
    return any(
        MARCA_PROVISIONAL in leer(idioma, pagina).splitlines()
        for idioma in IDIOMAS
        if (DOCS / idioma / pagina).exists()
    )


def por_pagina(lista: set[str]) -> list:
    """One param per page."""
    return [pytest.param(pagina, id=pagina) for pagina in sorted(lista)]


COMUNES = paginas("en") & paginas("es")


# -- the checks, written once for the docs and the READMEs ---------------------------------


def diferencias_de_codigo(nombre: str, ingles: str, espanol: str) -> list[str]:
    """What differs between two texts' code blocks, each problem naming page and block."""
    en, es = bloques(ingles), bloques(espanol)
    problemas = []
    if len(en) != len(es):
        problemas.append(
            f"{nombre}: {len(en)} bloques en inglés y {len(es)} en español "
            f"(infos en: {[b.info for b in en]}; es: {[b.info for b in es]})"
        )
    for numero, (b_en, b_es) in enumerate(zip(en, es, strict=False), start=1):
        donde = f"{nombre}, bloque {numero} (línea {b_en.linea} en en, {b_es.linea} en es)"
        if b_en.info != b_es.info:
            problemas.append(f"{donde}: info ```{b_en.info} frente a ```{b_es.info}")
        elif b_en.info.startswith("{toctree}") and _paginas_de(b_en) != _paginas_de(b_es):
            problemas.append(
                f"{donde}: el índice lista {_paginas_de(b_en)} en inglés y {_paginas_de(b_es)} "
                "en español"
            )
        elif not b_en.es_directiva and b_en.codigo() != b_es.codigo():
            diff = "\n".join(
                difflib.unified_diff(b_es.codigo(), b_en.codigo(), "es", "en", lineterm="", n=1)
            )
            problemas.append(f"{donde}: el código difiere sin comentarios\n{diff}")
    return problemas


def _paginas_de(toctree: Bloque) -> list[str]:
    """The pages a ``{toctree}`` lists, in order (its ``:option:`` lines left out)."""
    lineas = (linea.strip() for linea in toctree.lineas)
    return [linea for linea in lineas if linea and not linea.startswith(":")]


@pytest.mark.parametrize("idioma", IDIOMAS)
def test_paginas__ninguna_es_provisional(idioma):
    provisionales = [p for p in sorted(paginas(idioma)) if provisional(p)]

    assert provisionales == [], f"páginas provisionales en docs/{idioma}: {provisionales}"


def test_paginas__los_dos_idiomas_tienen_las_mismas():
    solo_en, solo_es = paginas("en") - paginas("es"), paginas("es") - paginas("en")

    assert not solo_en, f"páginas sólo en docs/en: {sorted(solo_en)}"
    assert not solo_es, f"páginas sólo en docs/es: {sorted(solo_es)}"


@pytest.mark.parametrize("pagina", por_pagina(COMUNES))
def test_pagina__los_mismos_bloques_de_codigo_en_el_mismo_orden(pagina):
    problemas = diferencias_de_codigo(pagina, leer("en", pagina), leer("es", pagina))

    assert not problemas, "\n\n".join(problemas)


@pytest.mark.parametrize("pagina", por_pagina(COMUNES))
def test_pagina__los_mismos_titulos_con_los_mismos_niveles(pagina):
    en, es = titulos(leer("en", pagina)), titulos(leer("es", pagina))

    assert en == es, f"{pagina}: niveles de los títulos en inglés {en}, en español {es}"


@pytest.mark.parametrize(
    ("idioma", "pagina"),
    [
        pytest.param(idioma, pagina, id=f"{idioma}/{pagina}")
        for idioma in IDIOMAS
        for pagina in sorted(paginas(idioma))
    ],
)
def test_enlaces__relativos_y_a_una_pagina_del_mismo_idioma(idioma, pagina):
    carpeta = (DOCS / idioma / pagina).parent
    problemas = []
    for linea, destino in enlaces(leer(idioma, pagina)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", destino) or destino.startswith("#"):
            continue  # a URL, or an anchor of the same page
        archivo = destino.split("#", 1)[0]
        objetivo = (carpeta / archivo).resolve()
        if destino.startswith("/") or not objetivo.is_relative_to(DOCS / idioma):
            problemas.append(f"línea {linea}: {destino} sale de docs/{idioma}")
        elif not objetivo.is_file():
            problemas.append(f"línea {linea}: {destino} no existe")

    assert not problemas, f"docs/{idioma}/{pagina}: " + "; ".join(problemas)


# -- the checker itself --------------------------------------------------------------------


def test_bloques__un_comentario_traducido_no_cuenta_y_el_codigo_si():
    espanol = "# T\n\n```python\nx = 1  # uno\n# nota\ny = 'a#b'\n```\n"
    traducido = "# T\n\n```python\nx = 1  # one\n# note\ny = 'a#b'\n```\n"
    cambiado = "# T\n\n```python\nx = 2  # one\n# note\ny = 'a#b'\n```\n"

    assert diferencias_de_codigo("p.md", traducido, espanol) == []
    [problema] = diferencias_de_codigo("p.md", cambiado, espanol)
    assert problema.startswith("p.md, bloque 1 (línea 3 en en, 3 en es): el código difiere")
    assert "+x = 2" in problema


def test_bloques__una_almohadilla_dentro_de_comillas_es_codigo():
    espanol = '```python\nenviar_texto(t, "Orden #1234 lista")\ncss = "color: #2e7d32"\n```\n'
    cambiado = '```python\nenviar_texto(t, "Orden #9999 lista")\ncss = "color: #ff0000"\n```\n'

    problemas = diferencias_de_codigo("p.md", cambiado, espanol)

    assert len(problemas) == 1
    assert "Orden #9999" in problemas[0]
    assert "#ff0000" in problemas[0]


def test_bloques__un_indice_con_otras_paginas_se_nombra():
    espanol = "```{toctree}\n:maxdepth: 1\n\nquickstart\ntriggers\n```\n"
    sin_una = "```{toctree}\n:maxdepth: 2\n\nquickstart\n```\n"

    assert diferencias_de_codigo("index.md", espanol.replace("1", "2"), espanol) == []
    [problema] = diferencias_de_codigo("index.md", sin_una, espanol)
    assert "triggers" in problema


def test_bloques__otro_lenguaje_u_otro_numero_de_bloques_se_nombran():
    espanol = "```bash\nmake demo\n```\n"

    assert diferencias_de_codigo("p.md", "```shell\nmake demo\n```\n", espanol) == [
        "p.md, bloque 1 (línea 1 en en, 1 en es): info ```shell frente a ```bash"
    ]
    [problema] = diferencias_de_codigo("p.md", "", espanol)
    assert problema.startswith("p.md: 0 bloques en inglés y 1 en español")


def test_bloques__una_valla_anidada_y_los_titulos_dentro_de_un_bloque_no_cuentan():
    texto = "# A\n\n````md\n```python\n# no es título\n```\n````\n\n## B\n"

    [bloque] = bloques(texto)
    assert bloque.info == "md"
    assert bloque.lineas == ("```python", "# no es título", "```")
    assert titulos(texto) == [1, 2]


# -- the READMEs and the troubleshooting page -----------------------------------------------


def test_readme__ingles_y_espanol_con_el_mismo_codigo():
    ingles = (RAIZ / "README.md").read_text(encoding="utf-8")
    espanol = (RAIZ / "README.es.md").read_text(encoding="utf-8")

    problemas = diferencias_de_codigo("README", ingles, espanol)

    assert not problemas, "\n\n".join(problemas)
    assert titulos(ingles) == titulos(espanol)


@pytest.mark.parametrize("idioma", IDIOMAS)
def test_solucion_de_problemas__cada_motivo_tiene_su_consejo(idioma):
    texto = leer(idioma, "troubleshooting.md")
    aconsejados = set(re.findall(r"^\| `([a-z_]+)` \|", texto, flags=re.MULTILINE))

    sin_consejo = sorted(set(MotivoOmision.values) - aconsejados)

    assert not sin_consejo, f"docs/{idioma}/troubleshooting.md: motivos sin consejo {sin_consejo}"
