"""Recording and reading consent (``ConsentimientoCliente``) by phone and category.

Consent is kept per category (``Categoria``: ``utility`` for service notices, ``marketing``
for promotions), one row per phone and category. A revoked row is an explicit opt-out: it
stops every later send of its category, whatever ``REQUIRE_CONSENT`` says; a phone with no
row only lacks consent, which matters only under ``REQUIRE_CONSENT``.

Without ``categoria``, :func:`otorgar_consentimiento` and :func:`revocar_consentimiento`
record every category (what a single consent meant before categories existed).

Consent is also kept per account (``cuenta``, a business number): without one, a row
concerns every account. A send through an account reads both its own row and the
every-account row of its category; a revocation in either stops it (stopping is the safe
side), a grant in either is consent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from django.db import connections, router, transaction
from django.utils import timezone

from . import signals
from .models import (
    CambioConsentimiento,
    Categoria,
    ConsentimientoCliente,
    EstadoConsentimiento,
    OrigenConsentimiento,
)
from .phones import normalizar

#: Every category, in the order rows are written (the first is what a call without one returns).
CATEGORIAS: tuple[str, ...] = tuple(Categoria.values)


def otorgar_consentimiento(
    telefono: str,
    *,
    categoria: Categoria | str | None = None,
    origen: str = OrigenConsentimiento.ERP,
    evidencia: str = "",
    region: str | None = None,
    fecha: datetime | None = None,
    cuenta: str | None = None,
) -> ConsentimientoCliente:
    """Record that ``telefono`` agreed to receive WhatsApp messages of ``categoria``.

    ``categoria`` is ``"utility"`` or ``"marketing"``; None (the default) records every
    category, with the same origin and evidence, and returns the ``utility`` row.
    ``cuenta`` limits it to one account (alias of ``BACKENDS``); None: every account.
    ``fecha`` is when the customer agreed (default: now). For each row whose estado
    changes, ``signals.consentimiento_cambiado`` is sent.

    Raises:
        TelefonoInvalido: the phone cannot be normalised.
        ValueError: ``categoria`` is not a ``Categoria``.
    """
    estado = EstadoConsentimiento.OTORGADO
    return _registrar(telefono, estado, categoria, origen, evidencia, region, fecha, cuenta)


def revocar_consentimiento(
    telefono: str,
    *,
    categoria: Categoria | str | None = None,
    origen: str = OrigenConsentimiento.ERP,
    evidencia: str = "",
    region: str | None = None,
    fecha: datetime | None = None,
    cuenta: str | None = None,
) -> ConsentimientoCliente:
    """Record that ``telefono`` opted out of ``categoria``; its later sends are ``omitido``.

    The envíos of that category get motivo ``baja``, whatever ``REQUIRE_CONSENT`` says.
    ``categoria`` None (the default) revokes every category and returns the ``utility``
    row. ``cuenta`` limits it to one account; None (the default) stops every account.
    ``fecha`` is when the customer asked (default: now). For each row whose estado
    changes, ``signals.consentimiento_cambiado`` is sent.

    Raises:
        TelefonoInvalido: the phone cannot be normalised.
        ValueError: ``categoria`` is not a ``Categoria``.
    """
    estado = EstadoConsentimiento.REVOCADO
    return _registrar(telefono, estado, categoria, origen, evidencia, region, fecha, cuenta)


def estado_consentimiento(
    telefono: str, categoria: Categoria | str, *, cuenta: str | None = None
) -> str | None:
    """The estado of the normalised ``telefono``'s consent for ``categoria``, or None.

    ``"otorgado"``, ``"revocado"`` (an explicit opt-out) or None when nothing was ever
    recorded. With ``cuenta``, that account's row and the every-account row both count,
    and a revocation in either wins. One indexed query, its SQL built once per database:
    every send asks this inside the ERP's save (a disparador), where the ORM's building of
    the same query each time would cost more than the query.
    """
    cuentas = _cuentas(cuenta)
    alias = router.db_for_read(ConsentimientoCliente)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            _consulta_de_estado(alias, len(cuentas)), [str(telefono), str(categoria), *cuentas]
        )
        return _estado_de({estado for (estado,) in cursor.fetchall()})


def subconsulta_de_estado(
    telefono: str, categoria: Categoria | str, *, cuenta: str | None = None, alias: str
) -> tuple[str, list[str]]:
    """:func:`estado_consentimiento` as a scalar subquery on ``alias``: its SQL and parameters.

    For a statement that reads the consent beside its own work: the envío's INSERT returns
    it with the new id, one round trip fewer inside the ERP's save. Its value is NULL
    (nothing recorded), 1 (granted) or 2 (revoked: a revocation in any row wins);
    :func:`estado_de_subconsulta` reads it back.
    """
    cuentas = _cuentas(cuenta)
    sql = _consulta_de_estado(alias, len(cuentas), subconsulta=True)
    return sql, [EstadoConsentimiento.REVOCADO, str(telefono), str(categoria), *cuentas]


def estado_de_subconsulta(valor: int | None) -> str | None:
    """The estado a :func:`subconsulta_de_estado` value stands for, as
    :func:`estado_consentimiento` gives it."""
    if valor is None:
        return None
    return EstadoConsentimiento.REVOCADO if valor == 2 else EstadoConsentimiento.OTORGADO


def _consulta_de_estado(alias: str, cuentas: int, *, subconsulta: bool = False) -> str:
    """``SELECT estado … WHERE telefono = %s AND categoria = %s AND cuenta IN (…)``; as a
    subquery, the estados folded into one value (:func:`subconsulta_de_estado`)."""
    clave = (alias, cuentas, subconsulta)
    if clave not in _CONSULTAS:
        opts = ConsentimientoCliente._meta
        nombre = connections[alias].ops.quote_name

        def columna(campo: str) -> str:
            return nombre(opts.get_field(campo).column)

        leido = columna("estado")
        if subconsulta:
            leido = f"MAX(CASE WHEN {leido} = %s THEN 2 ELSE 1 END)"
        sql = "SELECT {} FROM {} WHERE {} = %s AND {} = %s AND {} IN ({})".format(
            leido,
            nombre(opts.db_table),
            columna("telefono"),
            columna("categoria"),
            columna("cuenta"),
            ", ".join(["%s"] * cuentas),
        )
        _CONSULTAS[clave] = f"({sql})" if subconsulta else sql
    return _CONSULTAS[clave]


_CONSULTAS: dict[tuple[str, int, bool], str] = {}


def estados_consentimiento(
    telefonos: Iterable[str], categorias: Iterable[str], *, cuenta: str | None = None
) -> dict[tuple[str, str], str | None]:
    """:func:`estado_consentimiento` of every ``(telefono, categoria)`` pair, one query."""
    telefonos, categorias = set(telefonos), set(categorias)
    estados: dict[tuple[str, str], set[str]] = {}
    filas = ConsentimientoCliente.objects.filter(
        telefono__in=telefonos, categoria__in=categorias, cuenta__in=_cuentas(cuenta)
    ).values_list("telefono", "categoria", "estado")
    for telefono, categoria, estado in filas:
        estados.setdefault((telefono, categoria), set()).add(estado)
    return {
        (telefono, categoria): _estado_de(estados.get((telefono, categoria), set()))
        for telefono in telefonos
        for categoria in categorias
    }


def _estado_de(vistos: set[str]) -> str | None:
    """One estado from the rows of a phone and category: a revocation in any of them wins."""
    if EstadoConsentimiento.REVOCADO in vistos:
        return EstadoConsentimiento.REVOCADO
    return EstadoConsentimiento.OTORGADO if vistos else None


def pidio_baja(telefono: str, categoria: Categoria | str, *, cuenta: str | None = None) -> bool:
    """True when the normalised ``telefono`` explicitly opted out of ``categoria``."""
    estado = estado_consentimiento(telefono, categoria, cuenta=cuenta)
    return estado == EstadoConsentimiento.REVOCADO


def tiene_consentimiento(
    telefono: str, categoria: Categoria | str | None = None, *, cuenta: str | None = None
) -> bool:
    """True when the normalised ``telefono`` has a granted consent for ``categoria``.

    Without ``categoria``: True only when every category is granted.
    """
    elegidas = categorias(categoria)
    return all(
        estado_consentimiento(telefono, una, cuenta=cuenta) == EstadoConsentimiento.OTORGADO
        for una in elegidas
    )


def _cuentas(cuenta: str | None) -> tuple[str, ...]:
    """The ``cuenta`` values of the rows that concern ``cuenta`` (its own and every account's)."""
    return ("", cuenta) if cuenta else ("",)


def categorias(categoria: Categoria | str | None) -> tuple[str, ...]:
    """The categories a ``categoria`` argument names: itself, or every one for None.

    Raises:
        ValueError: not a ``Categoria`` value.
    """
    if categoria is None:
        return CATEGORIAS
    if categoria not in CATEGORIAS:
        raise ValueError(
            f"categoria={categoria!r} no es una categoría de consentimiento: usa "
            f"{' o '.join(repr(c) for c in CATEGORIAS)} (o None para todas)."
        )
    return (str(categoria),)


def _registrar(
    telefono, estado, categoria, origen, evidencia, region, fecha, cuenta
) -> ConsentimientoCliente:
    elegidas = categorias(categoria)
    digitos = normalizar(telefono, region)
    filas = [
        _registrar_categoria(digitos, una, estado, origen, evidencia, fecha, cuenta or "")
        for una in elegidas
    ]
    return filas[0]


def _registrar_categoria(
    digitos, categoria, estado, origen, evidencia, fecha, cuenta
) -> ConsentimientoCliente:
    marca = "otorgado_en" if estado == EstadoConsentimiento.OTORGADO else "revocado_en"
    campos = {"estado": estado, "origen": origen, "evidencia": evidencia}
    campos[marca] = fecha or timezone.now()
    alias = router.db_for_write(ConsentimientoCliente)
    with transaction.atomic(using=alias):
        # Two concurrent changes must each see the estado they replace. select_for_update
        # locks only rows that exist, and a phone's first decision has none yet: the
        # advisory lock exists whether the row does or not.
        _bloquear(alias, digitos, categoria)
        consentimientos = ConsentimientoCliente.objects.db_manager(alias)  # where the lock is
        filas = consentimientos.select_for_update().filter(telefono=digitos, categoria=categoria)
        anteriores = dict(filas.values_list("cuenta", "estado"))
        consentimiento, _ = consentimientos.update_or_create(
            telefono=digitos, categoria=categoria, cuenta=cuenta, defaults=campos
        )
        # A decision for every account ("") replaces each account's own decision too.
        cambiadas = [cuenta] if cuenta else list(anteriores.keys() | {""})
        if not cuenta:
            filas.exclude(cuenta="").update(**campos)
        anotar(consentimiento, anteriores.get(cuenta, anteriores.get("")), campos[marca])
    for fila in ConsentimientoCliente.objects.filter(
        telefono=digitos, categoria=categoria, cuenta__in=cambiadas
    ):
        # What held for that account before: its own row, else the every-account row.
        anterior = anteriores.get(fila.cuenta, anteriores.get(""))
        if anterior != estado:
            _avisar(fila, anterior, origen, categoria)
    return consentimiento


def _bloquear(alias: str, digitos: str, categoria: str) -> None:
    """Hold, until the transaction ends, the lock of ``digitos``'s consent for ``categoria``.

    On PostgreSQL a transaction-level advisory lock keyed by :func:`_llave`. SQLite has one
    writer at a time: a second write transaction waits, or fails with "database is locked"
    when it read before the first one wrote; it never writes from what it read before.
    """
    conexion = connections[alias]
    if conexion.vendor != "postgresql":
        return
    with conexion.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_llave(digitos, categoria)])


def _llave(digitos: str, categoria: str) -> int:
    """A stable signed 64-bit number for (phone, category): the same in every process
    (Python's ``hash`` of a str changes with each interpreter)."""
    resumen = hashlib.blake2b(f"consentimiento:{digitos}:{categoria}".encode(), digest_size=8)
    return int.from_bytes(resumen.digest(), "big", signed=True)


def anotar(
    consentimiento: ConsentimientoCliente, anterior: str | None, fecha: datetime
) -> CambioConsentimiento:
    """Add ``consentimiento``'s decision, as it stands now, to the history."""
    return CambioConsentimiento.objects.create(
        telefono=consentimiento.telefono,
        categoria=consentimiento.categoria,
        cuenta=consentimiento.cuenta,
        estado=consentimiento.estado,
        anterior=anterior or "",
        origen=consentimiento.origen,
        evidencia=consentimiento.evidencia,
        fecha=fecha,
    )


def _avisar(consentimiento, anterior, origen, categoria) -> None:
    signals.enviar_seguro(
        signals.consentimiento_cambiado,
        ConsentimientoCliente,
        consentimiento=consentimiento,
        anterior=anterior,
        origen=origen,
        categoria=categoria,
    )
