"""How customers' words are read: without case or accents, as whole words.

The consent keywords («BAJA»), the handoff keywords («humano», «cerrar») and the reply
handlers' ``palabra=`` all read a message's text the same way, here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable


def palabra_clave(texto: str) -> str:
    """``texto`` as compared with the consent keywords.

    Trimmed, casefolded and without accents; a closing period or exclamation marks do not
    count (a question does: «¿Baja?» can ask whether a price goes down).
    """
    descompuesto = unicodedata.normalize("NFKD", texto)
    sin_acentos = "".join(ch for ch in descompuesto if not unicodedata.combining(ch))
    return sin_acentos.casefold().strip().strip("¡!.").strip()


def palabras(texto: str) -> set[str]:
    """The whole words of ``texto``, read as :func:`palabra_clave` reads them."""
    return set(re.findall(r"\w+", palabra_clave(texto)))


def es_una_de(texto: str, claves: Iterable[str]) -> bool:
    """True when the whole ``texto`` is one of ``claves`` (both read by :func:`palabra_clave`)."""
    palabra = palabra_clave(texto)
    return bool(palabra) and palabra in {palabra_clave(clave) for clave in claves}
