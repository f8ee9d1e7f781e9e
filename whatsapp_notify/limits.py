"""Column limits, read from the model fields, applied where values enter the app.

One rule on SQLite and PostgreSQL (SQLite ignores ``max_length``; PostgreSQL refuses the
row with ``DataError``): values the ERP gives the send API are checked and refused with
:class:`~whatsapp_notify.exceptions.ValorDemasiadoLargo`; values a provider sends are made
to fit, the same way for the lookup and for the row, so nothing inbound is a database error.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

from .exceptions import ValorDemasiadoLargo

# A provider id longer than its column keeps its start and ends in a digest of the whole id:
# "<start>~<sha256 hex>". Equal ids give equal values (a redelivery is recognised); ids that
# only differ past the column's length stay apart (truncation alone would merge them).
_SEPARADOR = "~"
_DIGEST = 64


def limite(modelo: type[models.Model], campo: str) -> int | None:
    """``max_length`` of ``modelo.campo``, or None for a field without one."""
    return getattr(modelo._meta.get_field(campo), "max_length", None)


def recortar(modelo: type[models.Model], campo: str, valor: Any) -> Any:
    """``valor`` cut to the column's ``max_length`` (anything that is not text, as it is)."""
    tope = limite(modelo, campo)
    return valor[:tope] if tope and isinstance(valor, str) else valor


def recortar_campos(modelo: type[models.Model], campos: dict[str, Any]) -> dict[str, Any]:
    """:func:`recortar` applied to each ``campo: valor`` of ``campos``."""
    return {campo: recortar(modelo, campo, valor) for campo, valor in campos.items()}


def id_a_la_medida(modelo: type[models.Model], campo: str, valor: str) -> str:
    """A provider id that fits ``modelo.campo`` and still identifies it.

    An id within the limit is returned as it is. A longer one becomes its start, ``~`` and
    the SHA-256 (hex) of the whole id, exactly ``max_length`` long: deterministic, so the
    same id found in a later webhook is looked up and deduplicated under the same value.
    """
    tope = limite(modelo, campo)
    if not tope or len(valor) <= tope:
        return valor
    digest = hashlib.sha256(valor.encode("utf-8", "surrogatepass")).hexdigest()
    inicio = max(tope - len(_SEPARADOR) - _DIGEST, 0)
    return (valor[:inicio] + _SEPARADOR + digest)[:tope]


def entero_a_la_medida(modelo: type[models.Model], campo: str, valor: int | None) -> int | None:
    """``valor`` if ``modelo.campo`` (an integer field) can hold it on every database, else None.

    The range is Django's for the field's type (``IntegerField``: 32 bits), the one
    PostgreSQL enforces; SQLite would take 64 bits, so the same rule is applied there.
    """
    if valor is None:
        return None
    tipo = modelo._meta.get_field(campo).get_internal_type()
    minimo, maximo = BaseDatabaseOperations.integer_field_ranges[tipo]
    return valor if minimo <= valor <= maximo else None


def exigir_largo(
    modelo: type[models.Model], campo: str, valor: str | None, parametro: str, arreglo: str
) -> None:
    """Refuse a send API value longer than its column, before anything is written.

    Raises:
        ValorDemasiadoLargo: naming ``parametro``, the limit and ``arreglo`` (the fix).
    """
    tope = limite(modelo, campo)
    if tope and isinstance(valor, str) and len(valor) > tope:
        raise ValorDemasiadoLargo(parametro, tope, len(valor), arreglo)
