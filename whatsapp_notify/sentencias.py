"""The envío's INSERT, prepared once per PostgreSQL session and executed by name after.

A disparador's INSERT runs inside the ERP's save. PostgreSQL spends most of it parsing
and planning a fifty-column statement that is the same every time; a statement prepared
once per session (``PREPARE``) is only executed afterwards (``EXECUTE name(…)``), planned
once for good from its sixth execution on.

Where it applies: psycopg 3 binding parameters client-side (Django's default), inside a
transaction. Elsewhere (psycopg 2, ``server_side_binding``, autocommit, other databases)
the INSERT runs as it is written. The statement travels in one round trip with two
savepoints of its own, after a comment that names the INSERT: ``SAVEPOINT; LOCK TABLE …
IN ROW EXCLUSIVE MODE; SAVEPOINT; [PREPARE;] EXECUTE; RELEASE; RELEASE``. When it cannot
run, the transaction rolls back to the inner one (the attempt: the table's lock is kept
for a retry) or, for an error before it, to the outer one, and is usable again:

* A prepared statement is named after its SQL (a hash), so two sessions that give a name
  give it to the same statement, even behind a pooler that moves transactions between
  server sessions. A name the session already holds is prepared again (``DEALLOCATE``,
  ``PREPARE``), from the SQL as it is now.
* A statement prepared before a migration changed the table keeps the types of then: an
  EXECUTE of it that fails on a type, a value or its plan is prepared again once and run
  again; if that fails too, the error is the INSERT's.
* A statement that vanished (``DEALLOCATE``, ``DISCARD ALL``, a pooler in transaction
  mode that sent the transaction to another server session): the INSERT runs as written,
  and this process stops preparing (logged once).
* Any other error (a value the column refuses, a lock timeout) is the INSERT's own: it
  is raised as it would be, with the transaction as usable as it was before the call
  (the INSERT as written would leave it failed). A disparador's block counts on it
  (``salvaguarda``): it takes no savepoint of its own around the message.
* At most ``MAX_POR_SESION`` statements per session; a shape past it runs as written.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import logging
import re
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError

try:
    from psycopg import ClientCursor
except ImportError:  # psycopg 2, or no PostgreSQL at all: the INSERT runs as written
    ClientCursor = None

logger = logging.getLogger(__name__)

_SAVEPOINT = "whatsapp_notify_insert"
_INTENTO = "whatsapp_notify_intento"
_CABEZA = "/* INSERT INTO "
_ROLLBACKS = (f"ROLLBACK TO SAVEPOINT {_INTENTO};", f"ROLLBACK TO SAVEPOINT {_SAVEPOINT};")

#: SQLSTATE classes an EXECUTE of a statement prepared earlier can fail with because the
#: table changed since (its parameters' types are the PREPARE's): data exceptions (22), a
#: plan that no longer fits (0A), type mismatches (42). Not timeouts, deadlocks, lost
#: connections: those are the INSERT's, and it is not run twice for them.
_QUIZA_VENCIDA = frozenset({"22", "0A", "42"})


class Preparadas:
    """Which statements each session holds, and whether this process still prepares."""

    #: At most this many statements per session (one per shape of the INSERT, a few in
    #: practice); past it, a new shape runs as written.
    MAX_POR_SESION = 32

    def __init__(self) -> None:
        self.activas = True
        self._lock = threading.Lock()
        self._por_sesion: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

    def aplicable(self, conexion, cursor) -> bool:
        """True when ``cursor`` (a Django cursor on ``conexion``) can run the INSERT
        prepared: psycopg 3 binding client-side, inside a transaction."""
        return self._en_transaccion(conexion) and isinstance(cursor.cursor, ClientCursor)

    def protege(self, conexion) -> bool:
        """True when the next INSERT on ``conexion`` would run in its protected message
        (:func:`protegida`): :meth:`aplicable`, as the open connection tells. It may still
        run as written (past ``MAX_POR_SESION``, a statement gone from the session)."""
        sesion = conexion.connection
        return (
            sesion is not None
            and self._en_transaccion(conexion)
            and issubclass(sesion.cursor_factory, ClientCursor)
        )

    def _en_transaccion(self, conexion) -> bool:
        """Still preparing, psycopg 3 at hand, and ``conexion`` a PostgreSQL one inside a
        transaction."""
        return (
            self.activas
            and ClientCursor is not None
            and conexion.vendor == "postgresql"
            and not conexion.get_autocommit()
        )

    def insertar(self, conexion, cursor, sql: str, valores: Sequence[Any]) -> tuple | None:
        """Run ``sql`` (an ``INSERT … RETURNING``) on ``cursor``, a Django cursor on
        ``conexion``: prepared where it :meth:`aplicable`, else as written. Its first row,
        or None."""
        if not self.aplicable(conexion, cursor):
            return _escrita(cursor, sql, valores)
        sesion = cursor.cursor.connection
        nombre = _nombre(sql)
        with self._lock:
            preparadas = self._por_sesion.setdefault(sesion, set())
        conocida = nombre in preparadas
        if not conocida and len(preparadas) >= self.MAX_POR_SESION:
            return _escrita(cursor, sql, valores)
        try:
            return self._intentar(cursor, nombre, sql, valores, preparadas, preparar=not conocida)
        except DatabaseError as exc:
            estado = _deshacer(cursor, sesion, exc)
            if not conocida:
                _anotar(cursor, preparadas, nombre)
            if estado == "26000":
                return self._sin_preparar(cursor, sql, valores, preparadas, nombre, estado)
            # An EXECUTE of a statement prepared before (the table may have changed since:
            # its parameters' types are the PREPARE's), or a name this session already
            # holds (prepared by another client of a pooler): prepared again, as it is now.
            # A PREPARE of this call that failed otherwise is the INSERT's own error.
            if not (conocida and estado[:2] in _QUIZA_VENCIDA) and estado != "42P05":
                raise
        try:
            return self._intentar(
                cursor, nombre, sql, valores, preparadas, preparar=True, reemplazar=True
            )
        except DatabaseError as exc:
            estado = _deshacer(cursor, sesion, exc)
            if estado == "26000":
                return self._sin_preparar(cursor, sql, valores, preparadas, nombre, estado)
            _anotar(cursor, preparadas, nombre)
            raise

    @staticmethod
    def _intentar(
        cursor, nombre: str, sql: str, valores, preparadas: set, *, preparar: bool,
        reemplazar: bool = False,
    ) -> tuple | None:  # fmt: skip
        """One round trip: a savepoint, the table's lock and the attempt's savepoint, the
        statement (``DEALLOCATE``d first when ``reemplazar``, ``PREPARE``d when
        ``preparar``), its EXECUTE and the releases (:func:`_mensaje`); the EXECUTE's first
        row."""
        cabeza, ejecucion = _mensaje(sql, len(valores))
        partes = [cabeza]
        if reemplazar:
            partes.append(f"DEALLOCATE {nombre}")
        if preparar:
            partes.append(f"PREPARE {nombre} AS {_numerada(sql)}")
        partes.append(ejecucion)
        cursor.execute("; ".join(partes), valores)
        preparadas.add(nombre)
        # The SAVEPOINTs' and the LOCK's results come first (and the DEALLOCATE's, the
        # PREPARE's): the row is the EXECUTE's.
        while cursor.description is None and cursor.nextset():
            pass
        return cursor.fetchone()

    def _sin_preparar(self, cursor, sql, valores, preparadas: set, nombre: str, estado: str):
        """The INSERT as written, after a statement missing from the session."""
        preparadas.discard(nombre)
        self._dejar(estado)
        return _escrita(cursor, sql, valores)

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
    """Roll back to the attempt's savepoint after ``exc`` and release both, keeping the
    table's lock for a retry; its SQLSTATE. Raises ``exc`` when the error came before the
    attempt (the table's lock): back to the statement's savepoint first, so the transaction
    is usable. Raises ``exc`` as it is when there is nothing to roll back: it was never
    sent, the connection is gone, or the caller's transaction had failed before (its
    SAVEPOINT was refused)."""
    estado = getattr(exc.__cause__, "sqlstate", None)
    if estado is None or estado == "25P02":
        raise exc
    if not fallida(sesion):
        raise exc
    try:
        cursor.execute(
            f"ROLLBACK TO SAVEPOINT {_INTENTO}; RELEASE SAVEPOINT {_INTENTO}; "
            f"RELEASE SAVEPOINT {_SAVEPOINT}"
        )
    except DatabaseError:
        pass  # the error came before the attempt's savepoint (the table's lock, say)
    else:
        return estado
    with contextlib.suppress(DatabaseError):  # the connection is gone: nothing to undo
        cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}")
    raise exc  # the first error says why, with its cause as the database gave it


def fallida(sesion) -> bool:
    """True when psycopg says ``sesion``'s transaction failed (no round trip)."""
    from psycopg.pq import TransactionStatus

    return sesion.info.transaction_status == TransactionStatus.INERROR


def protegida(sql: str) -> bool:
    """True for the statements of this module that need no savepoint around them: the
    INSERT's message (:func:`_mensaje`), which brings its own, and the rollbacks to it."""
    if sql.startswith(_CABEZA):
        return f"*/ SAVEPOINT {_SAVEPOINT}; LOCK TABLE " in sql
    return sql.startswith(_ROLLBACKS)


def _anotar(cursor, preparadas: set, nombre: str) -> None:
    """After a message with a PREPARE failed: whether the session holds ``nombre`` now.

    A PREPARE outlives the rollback to the savepoint; one whose EXECUTE failed is there."""
    cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [nombre])
    if cursor.fetchone():
        preparadas.add(nombre)
    else:
        preparadas.discard(nombre)


def _escrita(cursor, sql: str, valores: Sequence[Any]) -> tuple | None:
    """``sql`` run as written; its first row, or None."""
    cursor.execute(sql, valores)
    return cursor.fetchone()


@functools.lru_cache(maxsize=512)
def _nombre(sql: str) -> str:
    """The statement's name in every session: its SQL's hash."""
    return "whatsapp_notify_" + hashlib.sha256(sql.encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=512)
def _mensaje(sql: str, parametros: int) -> tuple[str, str]:
    """What every message of ``sql`` (``parametros`` placeholders) sends around its
    DEALLOCATE and PREPARE, if any: the head (a comment that names the INSERT, for whatever
    reads statements by their first word, such as logs and read-only guards; the
    statement's savepoint; the table's lock; the attempt's savepoint) and the tail (the
    EXECUTE and the releases).

    The lock is taken before the attempt's savepoint, as the INSERT would take it: a retry
    after a rollback to that savepoint still holds it, so a migration queued behind it
    waits for this transaction, not this INSERT for the migration twice. The statement's
    savepoint, before the lock, is what a lock that fails (``lock_timeout``) rolls back
    to."""
    tabla = sql[len("INSERT INTO ") : sql.index("(")].strip()
    marcas = ", ".join(["%s"] * parametros)
    return (
        f"{_CABEZA}{tabla} */ SAVEPOINT {_SAVEPOINT}; LOCK TABLE {tabla} IN ROW EXCLUSIVE "
        f"MODE; SAVEPOINT {_INTENTO}",
        f"EXECUTE {_nombre(sql)}({marcas}); RELEASE SAVEPOINT {_INTENTO}; "
        f"RELEASE SAVEPOINT {_SAVEPOINT}",
    )


def _numerada(sql: str) -> str:
    """``sql`` with its ``%s`` placeholders numbered (``$1``, ``$2``…) for ``PREPARE``;
    ``%%`` is left for the client-side formatting that sends it, which makes it ``%``."""
    numeros = itertools.count(1)
    return re.sub(r"%%|%s", lambda m: m[0] if m[0] == "%%" else f"${next(numeros)}", sql)


preparadas = Preparadas()
