"""A disparador's savepoint, taken only when the block runs SQL that could fail the ERP's
transaction.

A disparador records its envío inside the ERP's save, in a savepoint of its own: whatever
goes wrong there (a callable that raises, a value the database refuses) is undone and
the ERP's transaction goes on. On PostgreSQL the envío's INSERT already travels with a
savepoint of its own (``sentencias``), and in the common case it is the block's only
statement; a second savepoint around it costs the ERP's save two round trips (the
``SAVEPOINT`` and its ``RELEASE``) and Django's bookkeeping for a nested ``atomic()``.

:class:`SalvaguardaDiferida` keeps what ``atomic()`` guarantees without them:

* **Any other statement** run in the block through Django's cursor (a callable's query, a
  catalog read, the consent's ``UPDATE``, a receiver of the host, the INSERT as written)
  first takes the block's savepoint, once. From there on the block is what a nested
  ``atomic()`` is: released at the end, rolled back to on an error.
* **The envío inserted before that savepoint** is deleted again when the block fails (its
  ``DELETE`` is noted by :func:`al_fallar`): the rollback would have undone it. A ``DELETE``
  that fails (a ``statement_timeout``) is rolled back on its own and logged: the envío stays,
  sent once by Beat, and the ERP's transaction goes on.
* **On a failure** (an exception, or the block marked for rollback, as ``atomic()``
  reads it), the ``on_commit`` callbacks registered in the block are dropped, as
  ``atomic()`` drops them, and the connection is no longer marked for rollback. When the
  block cannot be undone (the rollback itself failed, or SQL run on the driver's
  connection beneath Django's cursor failed the transaction with no savepoint taken), the
  ERP's block is marked for rollback, as ``atomic()`` marks it.

Only inside a transaction on PostgreSQL where the INSERT runs prepared (psycopg 3 binding
client-side), and with no receiver of the host on the envío's ``pre_save``/``post_save``;
elsewhere the disparador uses ``atomic()``. Not seen, as no execute wrapper sees them: SQL
on the driver's connection itself and ``cursor.copy()``. A write of theirs is not undone
with the block, and one that fails the transaction marks the ERP's block for rollback. A
database trigger on the envío table sees the ``DELETE`` that undoes a row.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from django.db import DatabaseError, Error, transaction
from django.db.models import signals

from .sentencias import fallida, preparadas, protegida

logger = logging.getLogger(__name__)

NOMBRE = "whatsapp_notify_disparador"

_activa: ContextVar[SalvaguardaDiferida | None] = ContextVar("whatsapp_notify_salvaguarda")


def aplicable(conexion, modelo) -> bool:
    """True when a disparador's block on ``conexion`` can defer its savepoint: inside the
    caller's transaction, with no rollback pending, where the INSERT runs prepared, and
    with no receiver of the host on ``modelo``'s (the envío's) ``pre_save``/``post_save``:
    such a receiver runs beside the INSERT, and what it might do there (SQL beneath
    Django's cursor, a failure once the row exists) is for ``atomic()`` to undo."""
    return (
        conexion.in_atomic_block
        and not conexion.needs_rollback
        and not conexion.closed_in_transaction
        and preparadas.protege(conexion)
        and not signals.pre_save.has_listeners(modelo)
        and not signals.post_save.has_listeners(modelo)
    )


def al_fallar(conexion, sql: str, parametros: list[Any]) -> None:
    """Run ``sql`` should the deferred block on ``conexion`` fail before taking its
    savepoint: how a statement that savepoint would not cover is undone. Nothing when no
    such block is open, or its savepoint is taken (the rollback to it covers the rest)."""
    bloque = _activa.get(None)
    if bloque is not None and bloque.conexion is conexion and not bloque.tomada:
        bloque.deshacer.append((sql, parametros))


class SalvaguardaDiferida:
    """``atomic()`` for a disparador's block, with its savepoint taken at the block's first
    statement that the INSERT's own savepoint does not protect (see the module)."""

    def __init__(self, conexion) -> None:
        self.conexion = conexion
        self.tomada = False
        self.deshacer: list[tuple[str, list[Any]]] = []

    def __enter__(self) -> SalvaguardaDiferida:
        self._marca = len(self.conexion.run_on_commit)
        self._envoltura = self.conexion.execute_wrapper(self._antes_de_ejecutar)
        self._envoltura.__enter__()
        self._ficha = _activa.set(self)
        return self

    def _antes_de_ejecutar(self, execute, sql, params, many, context):
        if not self.tomada and not protegida(sql):
            # On a cursor of its own, so that it is logged and counted as any query is.
            self.tomada = True
            try:
                _ejecutar(self.conexion, f"SAVEPOINT {NOMBRE}")
            except BaseException:
                self.tomada = False
                raise
        return execute(sql, params, many, context)

    def __exit__(self, tipo, exc, traza) -> None:
        _activa.reset(self._ficha)
        self._envoltura.__exit__(None, None, None)
        conexion = self.conexion
        if conexion.closed_in_transaction:
            return  # the database rolls back by itself; the ERP's block finds out
        if tipo is None and not conexion.needs_rollback:
            if self.tomada:
                try:
                    _ejecutar(conexion, f"RELEASE SAVEPOINT {NOMBRE}")
                except DatabaseError:
                    self._deshacer()
                    raise
            elif self.deshacer:
                # A block inside another one (a callable that saves a watched object): what
                # undoes its envío is now the outer block's, should that one fail.
                for sql, parametros in self.deshacer:
                    al_fallar(conexion, sql, parametros)
            return
        conexion.needs_rollback = False
        self._deshacer()

    def _deshacer(self) -> None:
        """Undo the block: back to its savepoint, if taken, then what ran before it."""
        conexion = self.conexion
        del conexion.run_on_commit[self._marca :]
        try:
            if self.tomada:
                _ejecutar(conexion, f"ROLLBACK TO SAVEPOINT {NOMBRE}; RELEASE SAVEPOINT {NOMBRE}")
            elif conexion.connection is not None and fallida(conexion.connection):
                # Failed beneath Django's cursor, with no savepoint to roll back to.
                conexion.needs_rollback = True
                return
        except Error:
            # As atomic() does when its rollback fails: the ERP's block rolls back, and the
            # block's own error is the one raised.
            conexion.needs_rollback = True
            return
        for sql, parametros in reversed(self.deshacer):
            try:
                with transaction.atomic(using=conexion.alias):
                    _ejecutar(conexion, sql, parametros)
            except Error as error:
                # The envío stays, its publication dropped: Beat sends it once, later. Better
                # than the ERP's transaction lost for a row that is valid.
                logger.warning(
                    "No se pudo deshacer el envío del disparador que falló (%s); queda "
                    "registrado y Beat lo despachará.",
                    type(error).__name__,
                )


def _ejecutar(conexion, sql: str, parametros: list[Any] | None = None) -> None:
    with conexion.cursor() as cursor:
        cursor.execute(sql, parametros)
