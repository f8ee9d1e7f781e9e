"""Sphinx directives that render the reference tables from the code, in the page's language.

The settings (``conf.DESCRIPCIONES`` beside ``conf.DEFAULTS``), the system checks
(``checks.CATALOGO``), the providers' error codes (each provider's ``errors`` module) and
the ``motivo`` of an ``omitido`` envío (``models.MotivoOmision``) are read from the package,
so a new setting, check, code or motivo shows up in the docs without anyone copying it. The
descriptions are the app's own translatable strings; the page's language is activated while
a table is built, so the English site reads the English catalog.

Usage in a page (MyST)::

    ```{whatsapp-settings}
    ```
    ```{whatsapp-error-codes} meta
    ```
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import django
from django.conf import settings
from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

# The English-or-Spanish words the tables need besides the app's own strings.
TEXTOS = {
    "es": {
        "ajuste": "Ajuste",
        "omision": "Por omisión",
        "descripcion": "Qué hace",
        "id": "Id",
        "cuando": "Cuándo sale y qué hacer",
        "codigo": "Código",
        "app": "Qué hace la app",
        "mensaje": "Explicación que muestra el envío",
        "motivo": "`motivo`",
        "etiqueta": "Cómo lo muestra el admin",
        "transitorio": "temporal: reintenta con backoff",
        "ritmo": "límite de la cuenta: frena la cuenta y reintenta",
        "par": "límite por destinatario: espera a ese cliente y reintenta",
        "cuenta": "credenciales o cuenta: pausa la cuenta, el envío espera",
        "permanente": "permanente: `fallido`, sin reintento",
        "baja": "; registra la baja del cliente",
        "baja_marketing": "; registra la baja de marketing del cliente",
    },
    "en": {
        "ajuste": "Setting",
        "omision": "Default",
        "descripcion": "What it does",
        "id": "Id",
        "cuando": "When it fires and what to do",
        "codigo": "Code",
        "app": "What the app does",
        "mensaje": "Explanation the envío shows",
        "motivo": "`motivo`",
        "etiqueta": "How the admin shows it",
        "transitorio": "transient: retries with backoff",
        "ritmo": "account limit: slows the account down and retries",
        "par": "per-recipient limit: waits for that customer and retries",
        "cuenta": "credentials or account: pauses the account, the envío waits",
        "permanente": "permanent: `fallido`, no retry",
        "baja": "; records the customer's opt-out",
        "baja_marketing": "; records the customer's marketing opt-out",
    },
}


def configurar_django() -> None:
    """The least Django the app's modules need to import and translate."""
    if settings.configured:
        return
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "whatsapp_notify"],
        USE_I18N=True,
        LANGUAGE_CODE="es",
        DATABASES={},
    )
    django.setup()


# -- docutils helpers ------------------------------------------------------------------------

_LITERAL = re.compile(r"`([^`]+)`")


def en_linea(texto: str) -> list[nodes.Node]:
    """``texto`` as inline nodes: what is in backticks becomes code, the rest plain text."""
    partes: list[nodes.Node] = []
    for indice, trozo in enumerate(_LITERAL.split(texto)):
        if trozo:
            partes.append(nodes.literal(trozo, trozo) if indice % 2 else nodes.Text(trozo))
    return partes


def tabla(cabeceras: Sequence[str], filas: Iterable[Sequence[str]]) -> nodes.table:
    """A table whose cells are one paragraph each, backticks as code."""
    grupo = nodes.tgroup(cols=len(cabeceras))
    grupo += [nodes.colspec(colwidth=1) for _ in cabeceras]
    grupo += nodes.thead("", _fila(cabeceras))
    grupo += nodes.tbody("", *(_fila(fila) for fila in filas))
    return nodes.table("", grupo, classes=["whatsapp-tabla"])


def _fila(celdas: Sequence[str]) -> nodes.row:
    return nodes.row("", *(nodes.entry("", nodes.paragraph("", "", *en_linea(c))) for c in celdas))


def codigo(valor: Any) -> str:
    """A Python value as inline code (backticks inside it would split it)."""
    return f"`{valor!r}`".replace("``", "`")


# -- the rows, read from the package ---------------------------------------------------------


def filas_de_ajustes(textos: dict[str, str]) -> list[tuple[str, str, str]]:
    from whatsapp_notify.conf import DEFAULTS, DESCRIPCIONES

    return [
        (f"`{nombre}`", codigo(DEFAULTS[nombre]), str(DESCRIPCIONES[nombre])) for nombre in DEFAULTS
    ]


def filas_de_comprobaciones(textos: dict[str, str]) -> list[tuple[str, str]]:
    from whatsapp_notify.checks import CATALOGO

    return [(f"`whatsapp_notify.{ident}`", str(texto)) for ident, texto in sorted(CATALOGO.items())]


def filas_de_motivos(textos: dict[str, str]) -> list[tuple[str, str]]:
    from whatsapp_notify.models import MotivoOmision

    return [(f"`{valor}`", str(etiqueta)) for valor, etiqueta in MotivoOmision.choices]


def _accion(clase: type, textos: dict[str, str]) -> str:
    from whatsapp_notify.exceptions import (
        AuthError,
        PairRateLimitError,
        ThroughputLimitError,
        TransientError,
    )

    for tipo, clave in (
        (PairRateLimitError, "par"),
        (ThroughputLimitError, "ritmo"),
        (TransientError, "transitorio"),
        (AuthError, "cuenta"),
    ):
        if issubclass(clase, tipo):
            return textos[clave]
    return textos["permanente"]


def _filas_de_codigos(
    codigos: Iterable[int], describir: Callable[[int], tuple[str, str]]
) -> list[tuple[str, str, str]]:
    """One row per code; consecutive codes the app treats alike fold into one row (Graph's
    permission errors 200-299 are one row, not a hundred)."""
    grupos: list[list[int]] = []
    for numero in sorted(set(codigos)):
        anterior = grupos[-1] if grupos else None
        if anterior and numero == anterior[-1] + 1 and describir(numero) == describir(anterior[0]):
            anterior.append(numero)
        else:
            grupos.append([numero])
    return [(_nombre(grupo), *describir(grupo[0])) for grupo in grupos]


def _nombre(grupo: list[int]) -> str:
    if len(grupo) > 2:
        return f"`{grupo[0]}`–`{grupo[-1]}`"
    return ", ".join(f"`{numero}`" for numero in grupo)


def _descriptor(
    clase_de: Callable[[int], type],
    mensajes: dict[int, Any],
    generico: Any,
    extra: Callable[[int], str],
    textos: dict[str, str],
) -> Callable[[int], tuple[str, str]]:
    """A code's (what the app does, the sentence stored on the envío: the provider's generic
    one for a code without its own)."""

    def describir(numero: int) -> tuple[str, str]:
        accion = _accion(clase_de(numero), textos) + extra(numero)
        return accion, str(mensajes.get(numero, generico))

    return describir


def filas_de_meta(textos: dict[str, str]) -> list[tuple[str, str, str]]:
    from whatsapp_notify.backends.meta import errors
    from whatsapp_notify.exceptions import ERROR_GENERICO

    codigos = (
        errors.TRANSIENT_CODES
        | errors.PAIR_RATE_CODES
        | errors.AUTH_CODES
        | errors.ACCOUNT_CODES
        | set(errors.ERROR_MESSAGES)
        | {errors.MARKETING_DETENIDO}
    )

    def extra(n: int) -> str:
        return textos["baja_marketing"] if n == errors.MARKETING_DETENIDO else ""

    clase = lambda n: type(errors.classify(n))  # noqa: E731
    return _filas_de_codigos(
        codigos, _descriptor(clase, errors.ERROR_MESSAGES, ERROR_GENERICO, extra, textos)
    )


def filas_de_twilio(textos: dict[str, str]) -> list[tuple[str, str, str]]:
    from whatsapp_notify.backends.twilio import errors
    from whatsapp_notify.exceptions import ERROR_GENERICO

    codigos = (
        errors.TRANSIENT_CODES | errors.AUTH_CODES | errors.BAJA_CODES | set(errors.ERROR_MESSAGES)
    )

    def extra(n: int) -> str:
        return textos["baja"] if errors.significado(n) else ""

    clase = lambda n: type(errors.classify(n))  # noqa: E731
    return _filas_de_codigos(
        codigos, _descriptor(clase, errors.ERROR_MESSAGES, ERROR_GENERICO, extra, textos)
    )


def filas_de_whapi(textos: dict[str, str]) -> list[tuple[str, str, str]]:
    from whatsapp_notify.backends.whapi import errors

    codigos = errors.TRANSITORIOS | errors.DE_CUENTA | set(errors.MENSAJES)
    clase = lambda n: errors.clase_de(n, None)  # noqa: E731
    return _filas_de_codigos(
        codigos, _descriptor(clase, errors.MENSAJES, errors.GENERICO, lambda n: "", textos)
    )


PROVEEDORES = {"meta": filas_de_meta, "twilio": filas_de_twilio, "whapi": filas_de_whapi}


# -- the directives --------------------------------------------------------------------------


class TablaDelCodigo(Directive):
    """A table built from the package, in the language of the site being built."""

    has_content = False
    cabeceras: tuple[str, ...] = ()

    def filas(self, textos: dict[str, str]) -> list[Sequence[str]]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        from django.utils import translation

        idioma = self.state.document.settings.env.config.language or "es"
        textos = TEXTOS["en" if idioma.startswith("en") else "es"]
        with translation.override(idioma):
            filas = self.filas(textos)
        return [tabla([textos[c] for c in self.cabeceras], filas)]


class Ajustes(TablaDelCodigo):
    cabeceras = ("ajuste", "omision", "descripcion")

    def filas(self, textos):
        return filas_de_ajustes(textos)


class Comprobaciones(TablaDelCodigo):
    cabeceras = ("id", "cuando")

    def filas(self, textos):
        return filas_de_comprobaciones(textos)


class Motivos(TablaDelCodigo):
    cabeceras = ("motivo", "etiqueta")

    def filas(self, textos):
        return filas_de_motivos(textos)


class CodigosDeError(TablaDelCodigo):
    required_arguments = 1
    option_spec = {}
    cabeceras = ("codigo", "app", "mensaje")

    def filas(self, textos):
        proveedor = directives.choice(self.arguments[0], tuple(PROVEEDORES))
        return PROVEEDORES[proveedor](textos)


def setup(app: Sphinx) -> dict[str, Any]:
    configurar_django()
    app.add_directive("whatsapp-settings", Ajustes)
    app.add_directive("whatsapp-checks", Comprobaciones)
    app.add_directive("whatsapp-motivos", Motivos)
    app.add_directive("whatsapp-error-codes", CodigosDeError)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
