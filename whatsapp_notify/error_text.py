"""The readable text of a recorded error, written when the row is read, in the reader's language.

An envío (or a paused account, :class:`~whatsapp_notify.models.EstadoCuenta`) records what
the provider said, as evidence: its code (``error_codigo``) and its own title and text
(``error_titulo``, ``error_detalle``), untranslated. The explanation of a known code is the
account's backend's (:meth:`BaseBackend.describe_error`), asked each time the row is shown,
so the admin, the dashboard, the API and the ERP's pages speak the reader's language.

The app's own notes (a failed status without any error, an envío held back or put to the
admins) have no provider code: they are stored as their Spanish msgid (:data:`NOTAS`) and
translated when read. Rows written by earlier versions hold the explanation itself
(``"(#131026) No se pudo entregar… Detalle: …"``); they are shown as they are.
"""

from __future__ import annotations

import re
from typing import Protocol

from django.utils.translation import gettext, gettext_noop

#: A failed status that came without any error.
SIN_DETALLE = gettext_noop("El proveedor informó que el mensaje no se pudo entregar.")
#: Appended to a held envío: the admin shows why it waits, and it marks it as logged.
RETENIDO = gettext_noop(
    "Retenido: los webhooks de estado de esta cuenta van atrasados; no se reenvía hasta "
    "que se pongan al día."
)
#: Appended once the admins were told: the envío waits for their decision.
AVISADO = gettext_noop(
    "Avisado a los administradores: decide en el admin si se reenvía («Reenviar»); pudo "
    "haber llegado ya."
)
NOTAS = (SIN_DETALLE, RETENIDO, AVISADO)


class ConError(Protocol):
    """An envío or an account state; ``error_titulo`` is read when the row has one."""

    cuenta: str
    error_codigo: int | None
    error_detalle: str


def explicar(fila: ConError) -> str:
    """The readable error of an envío or an account state, in the active language."""
    titulo = getattr(fila, "error_titulo", "")
    return texto_del_error(fila.cuenta, fila.error_codigo, fila.error_detalle, titulo)


def texto_del_error(cuenta: str, codigo: int | None, detalle: str = "", titulo: str = "") -> str:
    """``"(#131026) <explanation>. Detalle: <the provider's text>"``, in the active language.

    Without a code, the stored text (its app notes translated); a row whose text already
    is an explanation (written by an earlier version) as it is.
    """
    texto = traducir_notas(detalle)
    if codigo is None or _ya_explicado(codigo, detalle):
        return texto
    from .backends import backends

    return backends.describe_error(cuenta, codigo, texto or titulo)


def causa(cuenta: str, codigo: int | None) -> str:
    """The explanation of ``codigo`` alone (``""`` without a code), in the active language."""
    return texto_del_error(cuenta, codigo) if codigo is not None else ""


def traducir_notas(texto: str) -> str:
    """``texto`` with each of the app's own notes in it in the active language."""
    for nota in NOTAS:
        if nota in texto:
            texto = texto.replace(nota, gettext(nota))
    return texto


def palabras_del_proveedor(codigo: int | None, texto: str) -> str:
    """``texto`` as the provider wrote it, without a leading ``(#131030)`` (Graph starts its
    messages so): the code has its own column, and a stored text that starts with its code
    is an explanation written by an earlier version (:func:`_ya_explicado`)."""
    if codigo is None:
        return texto
    return _prefijo(codigo).sub("", texto, count=1).lstrip()


def _prefijo(codigo: int) -> re.Pattern:
    return re.compile(rf"^\((?:#|[A-Z]+ ){codigo}\)")


def _ya_explicado(codigo: int, detalle: str) -> bool:
    """True for a text that starts with its own code: ``"(#131026) …"``, ``"(WHAPI 401) …"``.

    Versions before this one stored the explanation (in the worker's language) instead of
    the provider's words; new rows never start so (:func:`palabras_del_proveedor`).
    """
    return _prefijo(codigo).match(detalle) is not None
