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
  nothing new, and the callables are not called again. One model cannot have two
  disparadores with the same ``tipo`` for different ``campo``/``valor`` (they would share
  that clave): give each its own ``tipo``.
* Creating an object directly in ``valor`` fires when ``al_crear=True`` (the default) and
  does not when ``al_crear=False``; in the latter case it fires if the object later leaves
  ``valor`` and comes back.
* The envío is recorded in the caller's transaction and enqueued on commit: a rollback of
  the ERP's transaction leaves neither an envío nor a send. After such a rollback, fetch the
  object again rather than reusing the instance, whose snapshot already holds the new value
  (``refresh_from_db()`` does not reset it either).
* A failing callable (``destinatario``, ``variables``, ``documento``, ``condicion``) never
  breaks the ERP's save: the work runs in a savepoint, the exception is logged, and an
  ``omitido`` envío with motivo ``error_disparador`` is recorded *without* the clave, so the
  next real transition (once the code is fixed) can still send.
* ``condicion(obj)`` false: nothing is recorded.
* Not seen (no model signals): ``QuerySet.update()``, ``bulk_create()``, ``bulk_update()``,
  raw SQL; nor saves of a subclass or proxy of the declared model (their signals carry
  another sender: declare the disparador on that model too). Ignored: ``raw`` saves
  (``loaddata`` fixtures), which only refresh the snapshot.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import models, transaction
from django.db.models import signals

from ..conf import DEFAULT_ALIAS, get_settings
from ..messages import Plantilla
from ..models import EnvioWhatsApp, MotivoOmision

logger = logging.getLogger(__name__)

_PREVIO = "_whatsapp_notify_previo"  # instance.__dict__ key of the snapshot
_DESCONOCIDO = object()  # no snapshot of the field (deferred at load): stored value unknown
_TIPO_RE = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")


class _ErrorEnCallable(Exception):
    """A host callable raised; ``etapa`` names which one (for the omitido envío)."""

    def __init__(self, etapa: str) -> None:
        super().__init__(etapa)
        self.etapa = etapa


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
        return anterior is _DESCONOCIDO or self._normalizar(anterior) != self.valor

    def _normalizar(self, valor: Any) -> Any:
        try:
            return self.campo_modelo.to_python(valor)
        except ValidationError:
            return valor

    def disparar(self, obj: models.Model) -> EnvioWhatsApp | None:
        """Record the envío in a savepoint; on any error record an omitido one instead."""
        try:
            with transaction.atomic():
                return self._registrar(obj)
        except Exception as exc:
            return self._omitir(obj, exc)

    def _registrar(self, obj: models.Model) -> EnvioWhatsApp | None:
        from ..outbound.outbox import enviar_plantilla

        clave = self.clave(obj)
        # Back in valor after an envío: don't call the host's callables again.
        if existente := EnvioWhatsApp.objects.por_clave(clave):
            return existente
        if self.condicion is not None and not _llamar("condicion", self.condicion, obj):
            return None
        destinatario = _llamar("destinatario", self.destinatario, obj)
        variables = _llamar("variables", self.variables, obj) if self.variables else None
        adjunto = _llamar("documento", self.documento, obj) if self.documento else None
        documento, nombre_documento = adjunto if adjunto is not None else (None, None)
        return enviar_plantilla(
            destinatario,
            self.plantilla,
            variables=variables,
            idioma=self.idioma,
            documento=documento,
            nombre_documento=nombre_documento,
            referencia=obj,
            tipo=self.tipo,
            clave=clave,
            cuenta=self.cuenta,
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


def detalle_error(exc: Exception) -> str:
    """``"<step>: <exception class>"``: which host callable (or the recording) failed, and how."""
    causa = exc.__cause__ if isinstance(exc, _ErrorEnCallable) else exc
    return f"{getattr(exc, 'etapa', 'registro')}: {type(causa).__name__}"


def registrar_error(
    obj: models.Model, detalle: str, plantilla: str, idioma: str | None, tipo: str, cuenta: str
) -> EnvioWhatsApp | None:
    """Record an ``omitido`` envío (``error_disparador``, no clave) for ``obj``; never raises."""
    from ..outbound.outbox import registrar_omitido

    contenido = Plantilla(plantilla, idioma or get_settings().DEFAULT_LANGUAGE)
    try:
        with transaction.atomic():
            return registrar_omitido(
                contenido, "", MotivoOmision.ERROR_DISPARADOR, detalle=detalle,
                referencia=obj, tipo=tipo, cuenta=cuenta,
            )  # fmt: skip
    except Exception:
        logger.exception("No se pudo registrar el envío omitido de tipo %s.", tipo)
        return None


def _llamar(etapa: str, funcion: Callable[[Any], Any], obj: models.Model) -> Any:
    try:
        return funcion(obj)
    except Exception as exc:
        raise _ErrorEnCallable(etapa) from exc


class Vigilancia:
    """Receivers on one model keeping, per instance, a snapshot of some of its fields.

    ``post_init`` is connected with ``sender=<model>``, so other models pay nothing. The
    snapshot is read from ``instance.__dict__`` (no query) and stored there under
    ``INSTANTANEA``; a field deferred at load has no entry. Subclasses name the fields
    (``vigilados()``) and add their receivers (``_receptores()``).
    """

    INSTANTANEA = _PREVIO
    NOMBRE = "disparadores"  # of the dispatch_uid

    def __init__(self, modelo: type[models.Model]) -> None:
        self.modelo = modelo
        self.uid = f"whatsapp_notify.{self.NOMBRE}:{modelo._meta.label_lower}"

    def vigilados(self) -> Iterable[str]:
        raise NotImplementedError

    def previo(self, instance: models.Model) -> dict[str, Any]:
        """The snapshot: stored values of the watched fields known without a query."""
        return instance.__dict__.get(self.INSTANTANEA, {})

    def _conectar(self) -> None:
        # dispatch_uid: declaring twice (ready() run twice in tests) never connects twice.
        for signal, receiver in self._receptores():
            signal.connect(receiver, sender=self.modelo, weak=False, dispatch_uid=self.uid)

    def _desconectar(self) -> None:
        for signal, _receiver in self._receptores():
            signal.disconnect(sender=self.modelo, dispatch_uid=self.uid)

    def _receptores(self):
        return ((signals.post_init, self.al_iniciar),)

    def al_iniciar(self, sender, instance, **kwargs) -> None:
        datos = instance.__dict__
        # A field missing from the snapshot was deferred at load: its stored value is unknown.
        datos[self.INSTANTANEA] = {a: datos[a] for a in self.vigilados() if a in datos}


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
        previo = instance.__dict__.get(_PREVIO, {})
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
            instance.__dict__[_PREVIO] = {**previo, **guardado}

    def _podria_disparar(self, instance, attname: str, update_fields) -> bool:
        disparadores = self.por_campo[attname]
        escrito = _escrito(disparadores[0].campo_modelo, update_fields)
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
        previo = datos.get(_PREVIO, {})
        cambios: dict[str, Any] = {}
        transiciones: list[Disparador] = []
        for attname, disparadores in self.por_campo.items():
            if attname not in datos or not _escrito(disparadores[0].campo_modelo, update_fields):
                continue  # not written by this save: keep the snapshot
            actual, anterior = datos[attname], previo.get(attname, _DESCONOCIDO)
            if not created and (actual is anterior or actual == anterior):
                continue  # the common case: the value did not change
            cambios[attname] = actual
            transiciones += [d for d in disparadores if d.es_transicion(anterior, actual, created)]
        if cambios:
            # Refresh before sending, so a callable that saves the object sees the new state.
            datos[_PREVIO] = {**previo, **cambios}
        if not raw:
            for disparador in transiciones:
                disparador.disparar(instance)


def _escrito(field: models.Field, update_fields) -> bool:
    return update_fields is None or field.name in update_fields or field.attname in update_fields


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

    Returns:
        The :class:`Disparador`; ``desconectar()`` undoes the declaration (for tests).
        Declaring the same model and ``tipo`` again replaces the previous declaration.

    Raises:
        ImproperlyConfigured: unknown model or field, invalid ``valor``/``tipo``/``plantilla``,
            or a ``tipo`` already used on the model for another value.
        TypeError: a callable argument that is not callable.
    """
    _validar_argumentos(plantilla, tipo, destinatario, variables, documento, condicion, al_crear)
    nuevo = Disparador(
        modelo, campo, valor, plantilla, tipo, destinatario, variables, idioma, cuenta,
        documento, al_crear, condicion,
    )  # fmt: skip
    resolver_modelo(modelo, nuevo.resolver)
    return nuevo


def resolver_modelo(
    modelo: type[models.Model] | str,
    al_resolver: Callable[[type[models.Model]], None],
    api: str = "disparador",
) -> None:
    """Call ``al_resolver(clase)`` now, or when a model named while loading registers.

    Raises:
        TypeError, ImproperlyConfigured: not a concrete model class, or an unknown name
            (``api`` names the declaring function in the message).
    """
    if not isinstance(modelo, str):
        al_resolver(_clase_modelo(modelo, api))
    elif apps.models_ready:
        al_resolver(_modelo_por_nombre(modelo, api))
    else:
        # Declared while models are still loading: finish when the model is registered
        # (an unknown model is then reported by Django's check models.E022).
        apps.lazy_model_operation(al_resolver, _clave_modelo(modelo, api))


def _validar_argumentos(plantilla, tipo, destinatario, variables, documento, condicion, al_crear):
    validar_declaracion(
        "disparador", plantilla, tipo, destinatario,
        variables=variables, documento=documento, condicion=condicion,
    )  # fmt: skip
    if not isinstance(al_crear, bool):
        raise TypeError("disparador(): al_crear debe ser True o False.")


def validar_declaracion(
    api: str, plantilla: Any, tipo: Any, destinatario: Any, **funciones: Any
) -> None:
    """Check the arguments every declaration shares; ``funciones`` are optional callables.

    Raises:
        ImproperlyConfigured: empty ``plantilla``, ``tipo`` not a slug.
        TypeError: ``destinatario`` or a given ``funciones`` value is not callable.
    """
    if not isinstance(plantilla, str) or not plantilla.strip():
        raise ImproperlyConfigured(f"{api}(): falta plantilla (el nombre aprobado en Meta).")
    if not isinstance(tipo, str) or not _TIPO_RE.match(tipo):
        raise ImproperlyConfigured(
            f"{api}(): tipo={tipo!r} debe ser un slug de hasta 64 caracteres "
            "(letras, dígitos, '-' o '_'), p. ej. 'vehiculo_listo'."
        )
    if not callable(destinatario):
        raise TypeError(
            f"{api}(): destinatario debe ser una función obj -> teléfono o cliente, "
            "p. ej. destinatario=lambda orden: orden.cliente."
        )
    for nombre, funcion in funciones.items():
        if funcion is not None and not callable(funcion):
            raise TypeError(f"{api}(): {nombre} debe ser una función obj -> valor, o None.")


def _clase_modelo(modelo: Any, api: str) -> type[models.Model]:
    if not (isinstance(modelo, type) and issubclass(modelo, models.Model)):
        raise TypeError(
            f"{api}(): modelo debe ser una clase de modelo o 'app_label.Modelo', no {modelo!r}."
        )
    if modelo._meta.abstract:
        raise ImproperlyConfigured(
            f"{api}(): {modelo.__name__} es abstracto y nunca se guarda; declara el "
            f"{api} en el modelo concreto."
        )
    return modelo


def _clave_modelo(nombre: str, api: str) -> tuple[str, str]:
    app_label, _, model_name = nombre.partition(".")
    if not app_label or not model_name or "." in model_name:
        raise ImproperlyConfigured(
            f"{api}(): modelo={nombre!r} debe tener la forma 'app_label.Modelo', "
            "p. ej. 'taller.OrdenTrabajo'."
        )
    return app_label, model_name.lower()


def _modelo_por_nombre(nombre: str, api: str) -> type[models.Model]:
    try:
        return apps.get_model(*_clave_modelo(nombre, api))
    except LookupError as exc:
        raise ImproperlyConfigured(
            f"{api}(): no existe el modelo {nombre!r}; revisa el app_label (está la app "
            "en INSTALLED_APPS?) y el nombre de la clase."
        ) from exc


def campo_concreto(modelo: type[models.Model], campo: str, api: str = "disparador") -> models.Field:
    """The concrete field ``campo`` of ``modelo``.

    Raises:
        ImproperlyConfigured: no such field, or not a column (reverse relation, many-to-many).
    """
    try:
        field = modelo._meta.get_field(campo)
    except FieldDoesNotExist as exc:
        nombres = ", ".join(f.name for f in modelo._meta.concrete_fields)
        raise ImproperlyConfigured(
            f"{api}(): {modelo._meta.label} no tiene el campo {campo!r}; campos: {nombres}."
        ) from exc
    if not getattr(field, "concrete", False) or field.many_to_many:
        raise ImproperlyConfigured(
            f"{api}(): {modelo._meta.label}.{campo} no es una columna del modelo; usa un "
            "campo concreto (CharField, IntegerField, ForeignKey...)."
        )
    return field


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
