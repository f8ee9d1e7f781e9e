"""The envío's INSERT, prepared once per PostgreSQL session and executed by name after.

A disparador's INSERT runs inside the ERP's save. PostgreSQL spends most of it parsing
and planning a fifty-column statement that is the same every time; a statement prepared
once per session (``PREPARE``) is only executed afterwards (``EXECUTE name(…)``), planned
once for good from its sixth execution on.

Where it applies: psycopg 3 binding parameters client-side (Django's default), inside a
transaction. Elsewhere (psycopg 2, ``server_side_binding``, autocommit, other databases)
the INSERT runs as it is written. The statement travels in one round trip with a
savepoint of its own (``SAVEPOINT; [PREPARE;] EXECUTE; RELEASE``), so that when it cannot
run, the transaction rolls back to that savepoint and the INSERT runs as written:

* A prepared statement is named after its SQL (a hash), so two sessions that give a name
  give it to the same statement, even behind a pooler that moves transactions between
  server sessions.
* A statement that vanished (``DEALLOCATE``, ``DISCARD ALL``, a pooler in transaction
  mode that sent the transaction to another server session) or a name already taken
  there: the INSERT runs as written, and this process stops preparing (logged once).
* Any other error (a value the column refuses, a lock timeout) is the INSERT's own: it
  is raised as it would be, with the transaction as usable as it was before the call.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError

logger = logging.getLogger(__name__)

_SAVEPOINT = "whatsapp_notify_insert"

#: SQLSTATEs that say the prepared statement itself failed, not the INSERT: the name is
#: unknown in this session (26000) or taken in it (42P05).
_DE_LA_PREPARACION = frozenset({"26000", "42P05"})


class Preparadas:
    """Which statements each session holds, and whether this process still prepares."""

    def __init__(self) -> None:
        self.activas = True
        self._lock = threading.Lock()
        self._por_sesion: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

    def aplicable(self, conexion, cursor) -> bool:
        """True when ``cursor`` (a Django cursor on ``conexion``) can run the INSERT
        prepared: psycopg 3 binding client-side, inside a transaction."""
        if not self.activas or conexion.vendor != "postgresql" or conexion.get_autocommit():
            return False
        try:
            from psycopg import ClientCursor
        except ImportError:  # psycopg 2
            return False
        return isinstance(cursor.cursor, ClientCursor)

    def insertar(self, cursor, sql: str, valores: Sequence[Any]) -> tuple | None:
        """Run ``sql`` (an ``INSERT … RETURNING``) prepared; its first row, or None."""
        sesion = cursor.cursor.connection
        nombre = "whatsapp_notify_" + hashlib.sha256(sql.encode()).hexdigest()[:24]
        with self._lock:
            preparadas = self._por_sesion.setdefault(sesion, set())
        preparar = nombre not in preparadas
        try:
            self._ejecutar(cursor, nombre, sql if preparar else None, valores)
        except DatabaseError as exc:
            estado = _deshacer(cursor, sesion, exc)
            if estado == "42P05" and preparar:
                # Prepared there already (by this process before an error, or by another
                # client of a pooler): under this name it is this very SQL.
                preparadas.add(nombre)
                return self.insertar(cursor, sql, valores)
            if estado not in _DE_LA_PREPARACION:
                raise
            preparadas.discard(nombre)
            self._dejar(estado)
            cursor.execute(sql, valores)
            return cursor.fetchone()
        preparadas.add(nombre)
        # The SAVEPOINT's result comes first (and the PREPARE's): the row is the EXECUTE's.
        while cursor.description is None and cursor.nextset():
            pass
        return cursor.fetchone()

    @staticmethod
    def _ejecutar(cursor, nombre: str, preparar: str | None, valores: Sequence[Any]) -> None:
        """One round trip: a savepoint, the PREPARE of ``preparar`` (when given), the
        EXECUTE and the release."""
        preparacion = f"PREPARE {nombre} AS {_numerada(preparar)}; " if preparar else ""
        marcas = ", ".join(["%s"] * len(valores))
        cursor.execute(
            f"SAVEPOINT {_SAVEPOINT}; {preparacion}EXECUTE {nombre}({marcas}); "
            f"RELEASE SAVEPOINT {_SAVEPOINT}",
            valores,
        )

    def olvidar(self) -> None:
        """Prepare again in every session, as at the process's start (for tests)."""
        with self._lock:
            self.activas = True
            self._por_sesion = weakref.WeakKeyDictionary()

    def _dejar(self, estado: str) -> None:
        if self.activas:
            self.activas = False
            logger.warning(
                "La sentencia preparada del envío no estaba en la sesión de PostgreSQL (%s: "
                "DEALLOCATE, DISCARD ALL o un pooler en modo transacción); este proceso "
                "inserta los envíos sin prepararla.",
                estado,
            )


def _deshacer(cursor, sesion, exc: DatabaseError) -> str:
    """Roll back to the statement's savepoint after ``exc``; its SQLSTATE. Raises ``exc``
    when there is nothing to roll back: it was never sent, the connection is gone, or the
    caller's transaction had failed before (its SAVEPOINT was refused)."""
    from psycopg.pq import TransactionStatus

    estado = getattr(exc.__cause__, "sqlstate", None)
    if estado is None or estado == "25P02":
        raise exc
    if sesion.info.transaction_status != TransactionStatus.INERROR:
        raise exc
    cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}")
    return estado


def _numerada(sql: str) -> str:
    """``sql`` with its ``%s`` placeholders numbered (``$1``, ``$2``…) for ``PREPARE``;
    ``%%`` is left for the client-side formatting that sends it, which makes it ``%``."""
    numeros = itertools.count(1)
    return re.sub(r"%%|%s", lambda m: m[0] if m[0] == "%%" else f"${next(numeros)}", sql)


preparadas = Preparadas()
