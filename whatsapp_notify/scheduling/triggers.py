"""Disparadores: "when model X's ``campo`` becomes ``valor``, send this template".

How a transition is detected, without an extra query per save:

* ``post_init`` (connected with ``sender=<model>``, so other models pay nothing) keeps a
  snapshot of the watched fields, read from ``instance.__dict__``.
* ``post_save`` compares the saved value with the snapshot, then refreshes the snapshot.
  A field left out of ``update_fields`` was not written: it neither fires nor refreshes.
* A field that was deferred at load (``only()``/``defer()``) has no snapshot. It is never
  guessed: a save that does not write it does nothing, and a save that writes it *with the
  target value* reads the stored value once in ``pre_save`` (one ``SELECT`` by pk) to know
  whether it really changes. Every other save costs no query.

Rules, per object and disparador:

* It fires on a real transition to ``valor``: the stored value was something else.
  Saving again in the same state does not fire.
* It fires at most once: its envío has the clave ``{tipo}:{app_label}.{model_name}:{pk}``,
  so leaving ``valor`` and coming back (or an instance whose snapshot is stale) records
  nothing new. The save then calls ``condicion``, ``destinatario`` and ``variables`` again
  and its INSERT finds the clave (one statement, no lookup before it); a disparador with
  ``documento`` looks the clave up first, so the document is never rendered for nothing.
  One model cannot have two disparadores with the same ``tipo`` for different
  ``campo``/``valor`` (they would share that clave): give each its own ``tipo``.
* Creating an object directly in ``valor`` fires when ``al_crear=True`` (the default) and
  does not when ``al_crear=False``; in the latter case it fires if the object later leaves
  ``valor`` and comes back.
* The envío is recorded in the caller's transaction and enqueued on commit: a rollback of
  the ERP's transaction leaves neither an envío nor a send. After such a rollback, fetch the
  object again rather than reusing the instance, whose snapshot already holds the new value
  (``refresh_from_db()`` does not reset it either).
* What it costs the ERP's save: one ``INSERT … ON CONFLICT (clave) DO NOTHING`` (PostgreSQL
  and SQLite; on PostgreSQL prepared once per session, see ``sentencias``) that also reads
  the recipient's consent (an ``UPDATE`` more when the consent refuses the send), in a
  savepoint: on PostgreSQL the INSERT's own, taken in its round trip (``salvaguarda``),
  elsewhere a ``SAVEPOINT`` and its release; the template's catalog row is read from a
  per-process cache. The task is published after the commit by a thread of the process
  (``tasks.al_confirmar``), not by the ERP's request.
* A failing callable (``destinatario``, ``variables``, ``documento``, ``condicion``) never
  breaks the ERP's save: the work runs in a savepoint, the exception is logged, and an
  ``omitido`` envío with motivo ``error_disparador`` is recorded *without* the clave, so the
  next real transition (once the code is fixed) can still send. Back in ``valor`` after its
  envío, a callable that fails records nothing.
* ``condicion(obj)`` false: nothing is recorded.
* Not seen (no model signals): ``QuerySet.update()``, ``bulk_create()``, ``bulk_update()``,
  raw SQL; nor saves of a subclass or proxy of the declared model (their signals carry
  another sender: declare the disparador on that model too). Ignored: ``raw`` saves
  (``loaddata`` fixtures), which only refresh the snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction
from django.db.models import signals

from ..conf import DEFAULT_ALIAS
from ..models import EnvioWhatsApp
from ..salvaguarda import SalvaguardaDiferida, aplicable
from .tracking import (
    DESCONOCIDO,
    PREVIO,
    Vigilancia,
    campo_concreto,
    detalle_error,
    fue_escrito,
    llamar,
    registrar_error,
    resolver_modelo,
    validar_declaracion,
)

logger = logging.getLogger(__name__)


@dataclass(eq=False, repr=False)
class Disparador:
    """A declared disparador; returned by :func:`disparador`. ``desconectar()`` removes it."""

    modelo_declarado: type[models.Model] | str
    campo: str
    valor: Any
    plantilla: str
    tipo: str
    destinatario: Callable[[Any], Any]
    variables: Callable[[Any], Any] | None = None
    idioma: str | None = None
    cuenta: str = DEFAULT_ALIAS
    documento: Callable[[Any], tuple[bytes, str] | None] | None = None
    al_crear: bool = True
    condicion: Callable[[Any], bool] | None = None
    botones: Callable[[Any], Any] | None = None
    # Filled when the model is resolved (at once, or when a lazily named model registers).
    modelo: type[models.Model] | None = field(default=None, init=False)
    campo_modelo: models.Field | None = field(default=None, init=False)
    attname: str = field(default="", init=False)
    activo: bool = field(default=True, init=False)

    def __repr__(self) -> str:
        return f"<Disparador {self.tipo}: {self.modelo_declarado}.{self.campo} → {self.valor!r}>"

    def desconectar(self) -> None:
        """Stop watching; the model's signals are disconnected when nothing else watches it."""
        self.activo = False
        if self.modelo is not None and (seguimiento := _seguimientos.get(self.modelo)):
            seguimiento.quitar(self)

    def clave(self, obj: models.Model) -> str:
        """The envío's clave: once per object (see the module docstring)."""
        opts = obj._meta
        return f"{self.tipo}:{opts.app_label}.{opts.model_name}:{obj.pk}"

    # Resolution and validation -------------------------------------------------------

    def resolver(self, modelo: type[models.Model]) -> None:
        """Validate against the model class and start watching it."""
        if not self.activo:
            return
        self.campo_modelo = campo_concreto(modelo, self.campo)
        self.attname = self.campo_modelo.attname
        self.valor = _valor(self.campo_modelo, self.valor, modelo)
        self.modelo = modelo
        _seguimiento(modelo).agregar(self)

    # Transition and sending ----------------------------------------------------------

    def es_transicion(self, anterior: Any, actual: Any, creado: bool) -> bool:
        """True when saving ``actual`` over ``anterior`` moves the object into ``valor``."""
        if self._normalizar(actual) != self.valor:
            return False
        if creado:
            return self.al_crear
        return anterior is DESCONOCIDO or self._normalizar(anterior) != self.valor

    def _normalizar(self, valor: Any) -> Any:
        try:
            return self.campo_modelo.to_python(valor)
        except ValidationError:
            return valor

    def disparar(self, obj: models.Model, *, creado: bool = False) -> EnvioWhatsApp | None:
        """Record the envío in a savepoint; on any error record an omitido one instead.

        One ``INSERT … ON CONFLICT (clave) DO NOTHING`` that reads the consent too (a clave
        already taken is no error: that envío is returned), in a savepoint
        (:func:`_salvaguarda`: on PostgreSQL no query of its own); an ``UPDATE`` more when
        the consent refuses the send.
        ``creado``: ``obj`` was just created, so a disparador with ``documento`` does not
        look its clave up before rendering it.
        """
        clave = self.clave(obj)
        envios = EnvioWhatsApp.objects.using(alias := router.db_for_write(EnvioWhatsApp))
        del_erp = obj._state.db or DEFAULT_DB_ALIAS
        try:
            if self.documento is not None and not creado and (existente := envios.por_clave(clave)):
                return existente  # never render the document again for nothing
            with _salvaguarda(del_erp, alias):
                return self._registrar(obj, clave)
        except Exception as exc:
            if existente := None if creado else _envio_de(envios, clave):
                # Back in valor after its envío: a callable that fails now records nothing.
                logger.warning(
                    "El disparador %s falló con %s #%s (%s); ya tenía su envío, no se registra "
                    "otro.",
                    self.tipo,
                    obj._meta.label,
                    obj.pk,
                    detalle_error(exc),
                )
                return existente
            return self._omitir(obj, exc)

    def _registrar(self, obj: models.Model, clave: str) -> EnvioWhatsApp | None:
        """Call the host's callables and record the envío; None when condicion is false."""
        from ..outbound.outbox import plantilla_de, registrar

        if self.condicion is not None and not llamar("condicion", self.condicion, obj):
            return None
        destinatario = llamar("destinatario", self.destinatario, obj)
        variables = llamar("variables", self.variables, obj) if self.variables else None
        adjunto = llamar("documento", self.documento, obj) if self.documento else None
        documento, nombre_documento = adjunto if adjunto is not None else (None, None)
        botones = llamar("botones", self.botones, obj) if self.botones else None
        contenido = plantilla_de(
            self.plantilla, self.idioma, variables, documento, nombre_documento, botones
        )
        # Inside disparar's savepoint: registrar neither looks the clave up (the INSERT finds
        # it) nor nests a savepoint.
        return registrar(
            contenido,
            destinatario,
            referencia=obj,
            tipo=self.tipo,
            clave=clave,
            cuenta=self.cuenta,
            clave_comprobada=True,
        )

    def _omitir(self, obj: models.Model, exc: Exception) -> EnvioWhatsApp | None:
        detalle = detalle_error(exc)
        # The traceback goes to the log; the row keeps only which step failed and how.
        logger.error(
            "El disparador %s falló con %s #%s (%s); se registra como omitido.",
            self.tipo,
            obj._meta.label,
            obj.pk,
            detalle,
            exc_info=exc,
        )
        return registrar_error(obj, detalle, self.plantilla, self.idioma, self.tipo, self.cuenta)


def _salvaguarda(del_erp: str, alias: str):
    """The savepoint a disparador's block runs in.

    The callables query the ERP's database, the envío goes to its own (a router may part
    them): a savepoint on each. When both are one PostgreSQL database where the INSERT runs
    prepared (and no receiver of the host listens to the envío's saves), one savepoint
    taken only if the block needs it (``salvaguarda``): the INSERT brings its own.
    """
    if alias == del_erp:
        conexion = connections[alias]
        if aplicable(conexion, EnvioWhatsApp):
            return SalvaguardaDiferida(conexion)
        return transaction.atomic(using=alias)
    return _ambas(del_erp, alias)


@contextmanager
def _ambas(del_erp: str, alias: str):
    with transaction.atomic(using=del_erp), transaction.atomic(using=alias):
        yield


def _envio_de(envios, clave: str) -> EnvioWhatsApp | None:
    """The envío under ``clave``, or None, also when the database cannot say (never raises).

    In a savepoint: a lookup that fails (a lock timeout on the table) leaves the ERP's
    transaction usable."""
    try:
        with transaction.atomic(using=envios.db):
            return envios.por_clave(clave)
    except Exception:
        return None


class _Seguimiento(Vigilancia):
    """Everything watched on one model: the snapshot receivers and its disparadores."""

    def __init__(self, modelo: type[models.Model]) -> None:
        super().__init__(modelo)
        self.disparadores: dict[str, Disparador] = {}  # by tipo
        self.por_campo: dict[str, tuple[Disparador, ...]] = {}  # by attname

    def agregar(self, nuevo: Disparador) -> None:
        """Add (or replace, when declared again) a disparador; connect on the first one."""
        anterior = self.disparadores.get(nuevo.tipo)
        if anterior is not None and (anterior.attname, anterior.valor) != (
            nuevo.attname,
            nuevo.valor,
        ):
            raise ImproperlyConfigured(
                f"{self.modelo._meta.label} ya tiene el disparador tipo={nuevo.tipo!r} para "
                f"{anterior.campo}={anterior.valor!r}; ambos compartirían la clave del envío. "
                "Usa un tipo distinto para cada valor (p. ej. 'orden_completada')."
            )
        self.disparadores[nuevo.tipo] = nuevo
        self._indexar()
        self._conectar()

    def quitar(self, disparador: Disparador) -> None:
        if self.disparadores.get(disparador.tipo) is not disparador:
            return  # already replaced by a newer declaration
        del self.disparadores[disparador.tipo]
        self._indexar()
        if not self.disparadores:
            self._desconectar()
            del _seguimientos[self.modelo]

    def _indexar(self) -> None:
        por_campo: dict[str, list[Disparador]] = {}
        for disparador in self.disparadores.values():
            por_campo.setdefault(disparador.attname, []).append(disparador)
        self.por_campo = {attname: tuple(lista) for attname, lista in por_campo.items()}

    def vigilados(self) -> Iterable[str]:
        return self.por_campo

    def _receptores(self):
        return (
            *super()._receptores(),
            (signals.pre_save, self.antes_de_guardar),
            (signals.post_save, self.al_guardar),
        )

    # Receivers ---------------------------------------------------------------------

    def antes_de_guardar(self, sender, instance, raw, using, update_fields, **kwargs) -> None:
        """Read the stored value of a field deferred at load, only when the save may fire."""
        previo = instance.__dict__.get(PREVIO, {})
        if self.por_campo.keys() <= previo.keys():
            return  # the common case: every watched value is known
        if raw or instance._state.adding or instance.pk is None:
            return
        consultar = [
            attname
            for attname in self.por_campo.keys() - previo.keys()
            if self._podria_disparar(instance, attname, update_fields)
        ]
        if consultar:
            guardado = self._leer_guardado(instance, consultar, using)
            instance.__dict__[PREVIO] = {**previo, **guardado}

    def _podria_disparar(self, instance, attname: str, update_fields) -> bool:
        disparadores = self.por_campo[attname]
        escrito = fue_escrito(disparadores[0].campo_modelo, update_fields)
        if not escrito or attname not in instance.__dict__:
            return False
        actual = instance.__dict__[attname]
        return any(d._normalizar(actual) == d.valor for d in disparadores)

    def _leer_guardado(self, instance, attnames: list[str], using: str) -> dict[str, Any]:
        manager = self.modelo._base_manager.db_manager(using)
        fila = manager.filter(pk=instance.pk).values(*attnames).first()
        return fila or {}  # no row: the save will insert, and post_save sees created=True

    def al_guardar(self, sender, instance, created, raw, update_fields, **kwargs) -> None:
        datos = instance.__dict__
        previo = datos.get(PREVIO, {})
        cambios: dict[str, Any] = {}
        transiciones: list[Disparador] = []
        for attname, disparadores in self.por_campo.items():
            if attname not in datos or not fue_escrito(disparadores[0].campo_modelo, update_fields):
                continue  # not written by this save: keep the snapshot
            actual, anterior = datos[attname], previo.get(attname, DESCONOCIDO)
            if not created and (actual is anterior or actual == anterior):
                continue  # the common case: the value did not change
            cambios[attname] = actual
            transiciones += [d for d in disparadores if d.es_transicion(anterior, actual, created)]
        if cambios:
            # Refresh before sending, so a callable that saves the object sees the new state.
            datos[PREVIO] = {**previo, **cambios}
        if not raw:
            for disparador in transiciones:
                disparador.disparar(instance, creado=created)


_seguimientos: dict[type[models.Model], _Seguimiento] = {}


def _seguimiento(modelo: type[models.Model]) -> _Seguimiento:
    if modelo not in _seguimientos:
        _seguimientos[modelo] = _Seguimiento(modelo)
    return _seguimientos[modelo]


def declarados() -> list[Disparador]:
    """Every disparador watching a model now (read by the system checks)."""
    return [d for seguimiento in _seguimientos.values() for d in seguimiento.disparadores.values()]


# Declaration -----------------------------------------------------------------------


def disparador(
    modelo: type[models.Model] | str,
    *,
    campo: str,
    valor: Any,
    plantilla: str,
    tipo: str,
    destinatario: Callable[[Any], Any],
    variables: Callable[[Any], list[Any] | tuple[Any, ...] | dict[str, Any]] | None = None,
    idioma: str | None = None,
    cuenta: str = DEFAULT_ALIAS,
    documento: Callable[[Any], tuple[bytes, str] | None] | None = None,
    al_crear: bool = True,
    condicion: Callable[[Any], bool] | None = None,
    botones: Callable[[Any], Any] | None = None,
) -> Disparador:
    """Declare: when ``modelo``'s ``campo`` becomes ``valor``, send ``plantilla``.

    Call it from ``AppConfig.ready()`` or a ``whatsapp.py`` module. The rules (once per
    object, ``al_crear``, deferred fields, what is not seen) are in the module docstring.

    Args:
        modelo: the model class or ``"app_label.Modelo"``.
        campo, valor: the concrete field watched and the value that fires.
        plantilla, tipo: the approved template and the envío's category slug.
        destinatario: ``obj ->`` a phone string, or an object with ``.telefono`` (``.nombre``).
        variables: ``obj ->`` the template variables (list, or dict for named ones).
        idioma, cuenta: template language (default ``DEFAULT_LANGUAGE``) and account alias.
        documento: ``obj ->`` ``(bytes, nombre)`` for the header document, or None.
        al_crear: whether creating an object directly in ``valor`` fires.
        condicion: ``obj -> bool``; when false nothing is recorded.
        botones: ``obj ->`` the template's button parameters (``enviar_plantilla``'s
            ``botones``): ``lambda cot: [BotonRapido(f"cotizacion:aprobar:{cot.pk}")]``.

    Returns:
        The :class:`Disparador`; ``desconectar()`` undoes the declaration (for tests).
        Declaring the same model and ``tipo`` again replaces the previous declaration.

    Raises:
        ImproperlyConfigured: unknown model or field, invalid ``valor``/``tipo``/``plantilla``,
            or a ``tipo`` already used on the model for another value.
        TypeError: a callable argument that is not callable.
    """
    _validar_argumentos(
        plantilla, tipo, destinatario, variables, documento, condicion, al_crear, botones
    )
    nuevo = Disparador(
        modelo, campo, valor, plantilla, tipo, destinatario, variables, idioma, cuenta,
        documento, al_crear, condicion, botones,
    )  # fmt: skip
    resolver_modelo(modelo, nuevo.resolver)
    return nuevo


def _validar_argumentos(
    plantilla, tipo, destinatario, variables, documento, condicion, al_crear, botones=None
):
    validar_declaracion(
        "disparador", plantilla, tipo, destinatario,
        variables=variables, documento=documento, condicion=condicion, botones=botones,
    )  # fmt: skip
    if not isinstance(al_crear, bool):
        raise TypeError("disparador(): al_crear debe ser True o False.")


def _valor(field: models.Field, valor: Any, modelo: type[models.Model]) -> Any:
    etiqueta = f"{modelo._meta.label}.{field.name}"
    try:
        valor = field.to_python(valor)
    except ValidationError as exc:
        raise ImproperlyConfigured(
            f"disparador(): valor={valor!r} no es válido para {etiqueta}."
        ) from exc
    if field.choices and valor not in {clave for clave, _ in field.flatchoices}:
        opciones = ", ".join(repr(clave) for clave, _ in field.flatchoices)
        raise ImproperlyConfigured(
            f"disparador(): valor={valor!r} no está entre las opciones de {etiqueta}: {opciones}."
        )
    return valor
