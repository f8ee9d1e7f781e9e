"""The envío INSERTs among captured SQL, as their text, whether run as written or prepared.

On PostgreSQL the INSERT runs prepared (``whatsapp_notify.sentencias``): a captured
statement then names it (``EXECUTE whatsapp_notify_…``) and its text is the session's.
"""

from __future__ import annotations

import re

from django.db import connection

_EJECUCION = re.compile(r"EXECUTE (whatsapp_notify_[0-9a-f]+)\(")


def inserts_del_envio(sql: list[str]) -> list[str]:
    """The INSERT of each statement in ``sql`` that writes an envío, in order."""
    inserts = []
    for sentencia in sql:
        if sentencia.startswith("INSERT") and "enviowhatsapp" in sentencia:
            inserts.append(sentencia)
        elif nombre := _EJECUCION.search(sentencia):
            inserts.append(preparada(nombre[1]))
    return inserts


def preparada(nombre: str) -> str:
    """The SQL this session prepared under ``nombre`` (what follows ``PREPARE … AS``)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [nombre])
        (texto,) = cursor.fetchone()
    return texto.split(" AS ", 1)[1]
