"""What disparadores and recordatorios share: field snapshots, declaration checks, errors.

A declared rule watches one model through a :class:`Vigilancia` (a snapshot of the watched
fields taken at ``post_init``, no query) and validates its arguments with the same checks
and messages whichever API declared it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models, transaction
from django.db.models import signals

from ..conf import get_settings
from ..messages import Plantilla
from ..models import EnvioWhatsApp, MotivoOmision

logger = logging.getLogger(__name__)

PREVIO = "_whatsapp_notify_previo"  # instance.__dict__ key of the snapshot
DESCONOCIDO = object()  # no snapshot of the field (deferred at load): stored value unknown
TIPO_RE = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")


class ErrorEnCallable(Exception):
    """A host callable raised; ``etapa`` names which one (for the omitido envío)."""

    def __init__(self, etapa: str) -> None:
        super().__init__(etapa)
        self.etapa = etapa


def detalle_error(exc: Exception) -> str:
    """``"<step>: <exception class>"``: which host callable (or the recording) failed, and how."""
    causa = exc.__cause__ if isinstance(exc, ErrorEnCallable) else exc
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


def llamar(etapa: str, funcion: Callable[[Any], Any], obj: models.Model) -> Any:
    """``funcion(obj)``; what it raises comes back as :class:`ErrorEnCallable` (``etapa``)."""
    try:
        return funcion(obj)
    except Exception as exc:
        raise ErrorEnCallable(etapa) from exc


class Vigilancia:
    """Receivers on one model keeping, per instance, a snapshot of some of its fields.

    ``post_init`` is connected with ``sender=<model>``, so other models pay nothing. The
    snapshot is read from ``instance.__dict__`` (no query) and stored there under
    ``INSTANTANEA``; a field deferred at load has no entry. Subclasses name the fields
    (``vigilados()``) and add their receivers (``_receptores()``).
    """

    INSTANTANEA = PREVIO
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


def fue_escrito(field: models.Field, update_fields) -> bool:
    """Whether a ``save(update_fields=...)`` wrote ``field`` (every field when None)."""
    return update_fields is None or field.name in update_fields or field.attname in update_fields


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
    if not isinstance(tipo, str) or not TIPO_RE.match(tipo):
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
