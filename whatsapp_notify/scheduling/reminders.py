"""Recordatorios: templates sent some time before a model's datetime field (an appointment).

What is kept in step with the object, per declared offset in ``antes``:

* One ``programado`` envío for ``fecha - antes``, of tipo ``{tipo}_{etiqueta}``
  (``recordatorio_24h``, ``recordatorio_90m``) and clave
  ``{tipo}_{etiqueta}:{app_label}.{model_name}:{pk}:{fecha in UTC}Z``. Beat's
  ``whatsapp_notify.despachar`` (every minute) sends it once due.
* An offset whose time already passed when the object is saved is not sent late: it is
  created (due at once) only if it passed by at most ``REMINDER_TOLERANCE`` seconds
  (default 300), and skipped otherwise. An empty date schedules nothing.
* The same rule holds at delivery: each envío carries ``expira_en`` = its time +
  ``REMINDER_TOLERANCE``, never later than the appointment (:func:`caducidad`). If Beat or
  the workers were down past it, the reminder is ``omitido`` (motivo ``vencido``), never sent
  late.
* When the date moves, the envíos still ``programado`` or ``pendiente`` for the old date are
  cancelled (estado ``cancelado``, ``cancelado_en``) and new ones are recorded for the new
  date, with their content (recipient, variables) built again: reminders usually show the
  date. The clave carries the date, so a reminder already *sent* for one date never blocks
  the one for another, and moving back to a date whose reminder went out sends nothing
  again. A cancelled envío gives its clave up, so the same date can be scheduled afresh.
  There is at most one active envío per offset and object.
* ``cancelar_si(obj)`` becoming true cancels the active envíos and sends
  ``plantilla_cancelacion`` (when declared) once per object and date, and only while the date
  is still ahead: cancelling a past appointment notifies nobody. Deleting an object that was
  not cancelled does the same. An object created already cancelled gets nothing; one that
  stops being cancelled gets its reminders again.
* ``condicion(obj)`` false when the schedule is computed: no reminders (active ones are
  cancelled) and no cancellation notice.

How a change is seen (the snapshot of :class:`~whatsapp_notify.scheduling.tracking.Vigilancia`, as
disparadores do): ``post_init`` keeps the stored value of the date field, and, when
``cancelar_si`` is declared, of every concrete field, since any of them may decide it. A
save in which none of them changed costs no query and calls nothing. When some changed,
``cancelar_si`` is called with the object and with a copy holding the previous values, to
tell a real transition from a re-save; a field deferred at load has no previous value, and
then the schedule is simply recomputed (idempotent: claves).

The envíos are recorded in the caller's transaction and sent on commit: a rolled-back save
leaves nothing behind, and a rolled-back date move leaves the old reminders active. A
callable that raises (``destinatario``, ``variables``, ``cancelar_si``, ``condicion``...)
never breaks the ERP's save: the exception is logged and an ``omitido`` envío with motivo
``error_disparador`` and no clave records it; a failing ``cancelar_si`` counts as cancelled
(without notice), so nobody is reminded of what might be cancelled.

The content of a scheduled envío is fixed when it is recorded. Not seen (no model signals):
``QuerySet.update()``, ``bulk_create()``, raw SQL; after those, call
``recordatorio.programar(obj)`` or ``recordatorio.cancelar(obj)`` yourself.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models import signals
from django.utils import timezone

from .. import signals as senales
from ..conf import DEFAULT_ALIAS, get_settings
from ..models import EnvioWhatsApp, EstadoEnvio
from ..states import EN_ESPERA
from .tracking import (
    DESCONOCIDO,
    TIPO_RE,
    ErrorEnCallable,
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


def etiqueta(antes: timedelta) -> str:
    """The offset as it appears in the tipo: ``24h``, ``90m``, ``45s``."""
    segundos = int(antes.total_seconds())
    for sufijo, unidad in (("h", 3600), ("m", 60)):
        if segundos % unidad == 0:
            return f"{segundos // unidad}{sufijo}"
    return f"{segundos}s"


def _instante(fecha: datetime) -> str:
    if timezone.is_naive(fecha):
        return fecha.isoformat()
    return f"{fecha.astimezone(UTC).replace(tzinfo=None).isoformat()}Z"


@dataclass(eq=False, repr=False)
class Recordatorio:
    """A declared recordatorio; returned by :func:`recordatorio`."""

    modelo_declarado: type[models.Model] | str
    campo_fecha: str
    antes: tuple[timedelta, ...]
    plantilla: str
    tipo: str
    destinatario: Callable[[Any], Any]
    variables: Callable[[Any], Any] | None = None
    idioma: str | None = None
    cuenta: str = DEFAULT_ALIAS
    cancelar_si: Callable[[Any], bool] | None = None
    plantilla_cancelacion: str | None = None
    variables_cancelacion: Callable[[Any], Any] | None = None
    condicion: Callable[[Any], bool] | None = None
    # Filled when the model is resolved (at once, or when a lazily named model registers).
    modelo: type[models.Model] | None = field(default=None, init=False)
    campo_modelo: models.DateTimeField | None = field(default=None, init=False)
    attname: str = field(default="", init=False)
    activo: bool = field(default=True, init=False)

    def __repr__(self) -> str:
        offsets = ", ".join(map(etiqueta, self.antes))
        return f"<Recordatorio {self.tipo}: {self.modelo_declarado}.{self.campo_fecha} - {offsets}>"

    def desconectar(self) -> None:
        """Stop watching; the model's signals are disconnected when nothing else watches it."""
        self.activo = False
        if self.modelo is not None and (agenda := _agendas.get(self.modelo)):
            agenda.quitar(self)

    def resolver(self, modelo: type[models.Model]) -> None:
        """Validate against the model class and start watching it."""
        if not self.activo:
            return
        campo = campo_concreto(modelo, self.campo_fecha, "recordatorio")
        if not isinstance(campo, models.DateTimeField):
            raise ImproperlyConfigured(
                f"recordatorio(): {modelo._meta.label}.{campo.name} es {type(campo).__name__}; "
                "campo_fecha debe ser un DateTimeField (da la hora de cada recordatorio)."
            )
        self.campo_modelo, self.attname, self.modelo = campo, campo.attname, modelo
        _agenda(modelo).agregar(self)

    # Names ------------------------------------------------------------------------------

    def tipo_de(self, antes: timedelta) -> str:
        """The tipo of the envíos of one offset: ``{tipo}_{etiqueta}``."""
        return f"{self.tipo}_{etiqueta(antes)}"

    @property
    def tipo_cancelacion(self) -> str:
        return f"{self.tipo}_cancelacion"

    def clave(self, obj: models.Model, antes: timedelta, fecha: datetime) -> str:
        """The clave of the reminder ``antes`` the date ``fecha`` of ``obj``."""
        return f"{self.tipo_de(antes)}:{_etiqueta_objeto(obj)}:{_instante(fecha)}"

    def clave_cancelacion(self, obj: models.Model, fecha: datetime) -> str:
        return f"{self.tipo_cancelacion}:{_etiqueta_objeto(obj)}:{_instante(fecha)}"

    # Public operations --------------------------------------------------------------

    def programar(self, obj: models.Model) -> list[EnvioWhatsApp]:
        """Bring ``obj``'s reminders in step with its date and state; return the active ones.

        Idempotent: for what the signals do not see (``QuerySet.update()``...). Cancels
        without notice when ``cancelar_si`` holds. Never raises for a host callable.

        Raises:
            ValueError: ``obj`` was never saved.
        """
        _exigir_guardado(obj)
        if self._cancelada(obj) is not False:
            self._cancelar_activos(obj)
            return []
        return self._programar(obj)

    def cancelar(self, obj: models.Model, *, avisar: bool = True) -> EnvioWhatsApp | None:
        """Cancel ``obj``'s active reminders; with ``avisar``, send the cancellation notice.

        Returns the notice's envío (the first one, if it was already recorded), or None.

        Raises:
            ValueError: ``obj`` was never saved.
        """
        _exigir_guardado(obj)
        self._cancelar_activos(obj)
        if avisar and self.plantilla_cancelacion:
            return self._avisar_cancelacion(obj)
        return None

    # Signals ------------------------------------------------------------------------

    def al_guardar(
        self, obj: models.Model, previo: dict[str, Any], cambios: dict[str, Any], creado: bool
    ) -> None:
        """React to a save in which ``cambios`` (watched attname -> new value) changed."""
        if not creado and self.cancelar_si is None and self.attname not in cambios:
            return
        cancelada = self._cancelada(obj)
        if creado:
            if cancelada is False:
                self._programar(obj)
        elif cancelada is not False:
            if self._cancelada_antes(obj, previo, cambios) is not True:
                self.cancelar(obj, avisar=cancelada is True)  # no notice when it raised
        elif self.attname in cambios or self._cancelada_antes(obj, previo, cambios) is not False:
            self._programar(obj)  # moved, reactivated, or previous state unknown

    def al_borrar(self, obj: models.Model) -> None:
        """The object was deleted: cancel; notify unless it was already cancelled."""
        self.cancelar(obj, avisar=self._cancelada(obj) is False)

    # Scheduling ---------------------------------------------------------------------

    def _programar(self, obj: models.Model) -> list[EnvioWhatsApp]:
        with transaction.atomic():
            if not self._fecha_vigente(obj):
                return []
            plan = self._plan(obj)
            self._cancelar_activos(obj, conservar=plan.keys())
            return self._crear(obj, plan) if plan else []

    def _fecha_vigente(self, obj: models.Model) -> bool:
        """Lock the object's row; False when another save stored a different date meanwhile.

        Two saves of one object moving its date at once would each plan from their own
        date; planning under the row lock, only from the date actually stored, leaves the
        reminders of the last date and no others (the other save plans them).
        """
        filas = type(obj)._base_manager.select_for_update().filter(pk=obj.pk)
        guardadas = list(filas.values_list(self.attname, flat=True))
        return not guardadas or guardadas[0] == getattr(obj, self.attname)

    def _plan(self, obj: models.Model) -> dict[str, timedelta]:
        """Clave -> offset of the reminders ``obj`` should have now."""
        fecha = getattr(obj, self.attname)
        if fecha is None or not self._cumple_condicion(obj):
            return {}
        limite = timezone.now() - get_settings().seconds("REMINDER_TOLERANCE")
        return {
            self.clave(obj, antes, fecha): antes for antes in self.antes if fecha - antes >= limite
        }

    def _crear(self, obj: models.Model, plan: dict[str, timedelta]) -> list[EnvioWhatsApp]:
        existentes = list(EnvioWhatsApp.objects.filter(clave__in=list(plan)))
        faltan = [clave for clave in plan if clave not in {e.clave for e in existentes}]
        if faltan:
            existentes += self._registrar(obj, {clave: plan[clave] for clave in faltan})
        return sorted(existentes, key=lambda envio: envio.programado_para)

    def _registrar(self, obj: models.Model, plan: dict[str, timedelta]) -> list[EnvioWhatsApp]:
        """Record the envíos of ``plan`` in a savepoint; on any error record an omitido one."""
        try:
            with transaction.atomic():
                destinatario = llamar("destinatario", self.destinatario, obj)
                variables = llamar("variables", self.variables, obj) if self.variables else None
                return [
                    self._enviar(obj, destinatario, variables, clave, antes)
                    for clave, antes in plan.items()
                ]
        except Exception as exc:
            self._omitir(obj, exc, self.plantilla, self.tipo)
            return []

    def _enviar(self, obj, destinatario, variables, clave: str, antes: timedelta) -> EnvioWhatsApp:
        from ..outbound.outbox import enviar_plantilla

        fecha = getattr(obj, self.attname)
        return enviar_plantilla(
            destinatario, self.plantilla, variables=variables, idioma=self.idioma,
            referencia=obj, tipo=self.tipo_de(antes), clave=clave,
            programado_para=fecha - antes, cuenta=self.cuenta, expira_en=caducidad(fecha, antes),
        )  # fmt: skip

    # Cancelling ---------------------------------------------------------------------

    def _cancelar_activos(self, obj: models.Model, conservar: Iterable[str] = ()) -> int:
        """Cancel the active envíos of ``obj`` except those whose clave is in ``conservar``."""
        activos = self._envios(obj).filter(estado__in=EN_ESPERA)
        if conservar := list(conservar):
            activos = activos.exclude(clave__in=conservar)
        ahora = timezone.now()
        return sum(_cancelar(envio, ahora) for envio in activos)

    def _envios(self, obj: models.Model):
        tipos = [self.tipo_de(antes) for antes in self.antes]
        return EnvioWhatsApp.objects.filter(
            content_type=ContentType.objects.get_for_model(obj),
            object_id=str(obj.pk),
            tipo__in=tipos,
        )

    def _avisar_cancelacion(self, obj: models.Model) -> EnvioWhatsApp | None:
        from ..outbound.outbox import enviar_plantilla

        fecha = getattr(obj, self.attname)
        if fecha is None or fecha <= timezone.now():
            return None  # a past (or undated) appointment: nobody is waiting for it
        clave = self.clave_cancelacion(obj, fecha)
        if existente := EnvioWhatsApp.objects.por_clave(clave):
            return existente  # notified already: don't call the host's callables again
        if not self._cumple_condicion(obj):
            return None
        try:
            with transaction.atomic():
                destinatario = llamar("destinatario", self.destinatario, obj)
                variables = self.variables_cancelacion
                variables = llamar("variables_cancelacion", variables, obj) if variables else None
                return enviar_plantilla(
                    destinatario, self.plantilla_cancelacion, variables=variables,
                    idioma=self.idioma, referencia=obj, tipo=self.tipo_cancelacion, clave=clave,
                    cuenta=self.cuenta,
                )  # fmt: skip
        except Exception as exc:
            self._omitir(obj, exc, self.plantilla_cancelacion, self.tipo_cancelacion)
            return None

    # The host's predicates ----------------------------------------------------------

    def _cancelada(self, obj: models.Model) -> bool | None:
        """``cancelar_si(obj)``, or None when it raised (recorded; treated as cancelled)."""
        if self.cancelar_si is None:
            return False
        try:
            return bool(llamar("cancelar_si", self.cancelar_si, obj))
        except ErrorEnCallable as exc:
            self._omitir(obj, exc, self.plantilla, self.tipo)
            return None

    def _cancelada_antes(self, obj: models.Model, previo: dict, cambios: dict) -> bool | None:
        """``cancelar_si`` on the values before this save; None when they are not all known."""
        if self.cancelar_si is None:
            return False
        if any(attname not in previo for attname in cambios):
            return None  # deferred at load: the previous state is unknown
        anterior = copy.copy(obj)  # no post_init: the snapshot is not touched
        anterior.__dict__.update({attname: previo[attname] for attname in cambios})
        for campo in obj._meta.concrete_fields:
            if campo.is_relation and campo.attname in cambios:
                anterior._state.fields_cache.pop(campo.name, None)  # the new related object
        try:
            return bool(self.cancelar_si(anterior))
        except Exception:
            logger.debug("cancelar_si falló con los valores anteriores", exc_info=True)
            return None

    def _cumple_condicion(self, obj: models.Model) -> bool:
        if self.condicion is None:
            return True
        try:
            return bool(llamar("condicion", self.condicion, obj))
        except ErrorEnCallable as exc:
            self._omitir(obj, exc, self.plantilla, self.tipo)
            return False

    def _omitir(self, obj: models.Model, exc: Exception, plantilla: str, tipo: str) -> None:
        detalle = detalle_error(exc)
        # The traceback goes to the log; the row keeps only which step failed and how.
        logger.error(
            "El recordatorio %s falló con %s #%s (%s); se registra como omitido.",
            tipo,
            obj._meta.label,
            obj.pk,
            detalle,
            exc_info=exc,
        )
        registrar_error(obj, detalle, plantilla, self.idioma, tipo, self.cuenta)


def caducidad(fecha: datetime, antes: timedelta) -> datetime:
    """When the reminder ``antes`` the date ``fecha`` stops making sense: never sent after.

    Its own time plus ``REMINDER_TOLERANCE`` (the same slack a save allows), and never after
    the appointment itself: a 1 h reminder sent two hours late would announce a past
    appointment, and a reminder shorter than the tolerance must not arrive once it started.
    """
    return min(fecha - antes + get_settings().seconds("REMINDER_TOLERANCE"), fecha)


def _exigir_guardado(obj: models.Model) -> None:
    if obj.pk is None:
        raise ValueError(f"{obj._meta.label} sin guardar: guárdalo antes de programar o cancelar.")


def _etiqueta_objeto(obj: models.Model) -> str:
    return f"{obj._meta.app_label}.{obj._meta.model_name}:{obj.pk}"


def _cancelar(envio: EnvioWhatsApp, ahora: datetime) -> int:
    """Cancel one envío while it is still waiting (a worker may have claimed it meanwhile).

    Conditional on "still programado or pendiente", not on the estado read: Beat may promote
    it from programado to pendiente in between, and it must be cancelled all the same.
    """
    cancelado = EnvioWhatsApp.objects.filter(pk=envio.pk, estado__in=EN_ESPERA).update(
        estado=EstadoEnvio.CANCELADO, cancelado_en=ahora, clave=None, actualizado_en=ahora
    )
    if cancelado:
        anterior = envio.estado
        envio.estado, envio.cancelado_en, envio.clave = EstadoEnvio.CANCELADO, ahora, None
        logger.info("Envío %s (%s) cancelado", envio.pk, envio.tipo)
        senales.avisar_estado(envio, anterior, EstadoEnvio.CANCELADO)
    return cancelado


class _Agenda(Vigilancia):
    """The recordatorios of one model and the receivers that keep them in step."""

    INSTANTANEA = "_whatsapp_notify_recordatorios"
    NOMBRE = "recordatorios"

    def __init__(self, modelo: type[models.Model]) -> None:
        super().__init__(modelo)
        self.recordatorios: dict[str, Recordatorio] = {}  # by tipo
        self.campos: dict[str, models.Field] = {}  # watched, by attname

    def agregar(self, nuevo: Recordatorio) -> None:
        """Add (or replace, when declared again) a recordatorio; connect on the first one."""
        self.recordatorios[nuevo.tipo] = nuevo
        self._indexar()
        self._conectar()

    def quitar(self, recordatorio: Recordatorio) -> None:
        if self.recordatorios.get(recordatorio.tipo) is not recordatorio:
            return  # already replaced by a newer declaration
        del self.recordatorios[recordatorio.tipo]
        self._indexar()
        if not self.recordatorios:
            self._desconectar()
            del _agendas[self.modelo]

    def _indexar(self) -> None:
        declarados = self.recordatorios.values()
        if any(r.cancelar_si is not None for r in declarados):
            campos = self.modelo._meta.concrete_fields  # any may decide cancelar_si
        else:
            campos = [r.campo_modelo for r in declarados]
        self.campos = {campo.attname: campo for campo in campos}

    def vigilados(self) -> Iterable[str]:
        return self.campos

    def _receptores(self):
        return (
            *super()._receptores(),
            (signals.post_save, self.al_guardar),
            (signals.post_delete, self.al_borrar),
        )

    def al_guardar(self, sender, instance, created, raw, update_fields, **kwargs) -> None:
        previo = self.previo(instance)
        cambios = self._cambios(instance, previo, created, update_fields)
        if cambios:
            # Refresh before acting, so a callable that saves the object sees the new state.
            instance.__dict__[self.INSTANTANEA] = {**previo, **cambios}
        if raw or not (created or cambios):
            return  # the common case: nothing watched changed, nothing is called or queried
        for recordatorio in tuple(self.recordatorios.values()):
            recordatorio.al_guardar(instance, previo, cambios, created)

    def _cambios(self, instance, previo: dict, created: bool, update_fields) -> dict[str, Any]:
        datos, cambios = instance.__dict__, {}
        for attname, campo in self.campos.items():
            if attname not in datos or not fue_escrito(campo, update_fields):
                continue  # not written by this save: keep the snapshot
            actual, anterior = datos[attname], previo.get(attname, DESCONOCIDO)
            if created or not (actual is anterior or actual == anterior):
                cambios[attname] = actual
        return cambios

    def al_borrar(self, sender, instance, **kwargs) -> None:
        for recordatorio in tuple(self.recordatorios.values()):
            recordatorio.al_borrar(instance)


_agendas: dict[type[models.Model], _Agenda] = {}


def _agenda(modelo: type[models.Model]) -> _Agenda:
    if modelo not in _agendas:
        _agendas[modelo] = _Agenda(modelo)
    return _agendas[modelo]


def declarados() -> list[Recordatorio]:
    """Every recordatorio watching a model now (for the system checks)."""
    return [r for agenda in _agendas.values() for r in agenda.recordatorios.values()]


# Declaration -----------------------------------------------------------------------


def recordatorio(
    modelo: type[models.Model] | str,
    *,
    campo_fecha: str,
    antes: Iterable[timedelta],
    plantilla: str,
    tipo: str,
    destinatario: Callable[[Any], Any],
    variables: Callable[[Any], list[Any] | tuple[Any, ...] | dict[str, Any]] | None = None,
    idioma: str | None = None,
    cuenta: str = DEFAULT_ALIAS,
    cancelar_si: Callable[[Any], bool] | None = None,
    plantilla_cancelacion: str | None = None,
    variables_cancelacion: Callable[[Any], Any] | None = None,
    condicion: Callable[[Any], bool] | None = None,
) -> Recordatorio:
    """Declare: send ``plantilla`` each ``antes`` before ``modelo``'s ``campo_fecha``.

    Call it from ``AppConfig.ready()`` or a ``whatsapp.py`` module. The rules (tolerance,
    moved dates, cancellation, cost, failures) are in the module docstring.

    Args:
        modelo: the model class or ``"app_label.Modelo"``.
        campo_fecha: a ``DateTimeField`` of the model (the appointment's date and time).
        antes: positive offsets in whole seconds, e.g. ``[timedelta(hours=24),
            timedelta(hours=1)]``; each gives the envíos tipo ``{tipo}_{etiqueta}``.
        plantilla, tipo: the approved reminder template and the tipo prefix.
        destinatario: ``obj ->`` a phone string, or an object with ``.telefono`` (``.nombre``).
        variables: ``obj ->`` the reminder's variables (list, or dict for named ones).
        idioma, cuenta: template language (default ``DEFAULT_LANGUAGE``) and account alias.
        cancelar_si: ``obj -> bool``; true cancels the reminders (and sends the notice).
        plantilla_cancelacion, variables_cancelacion: the cancellation notice (tipo
            ``{tipo}_cancelacion``) and ``obj ->`` its variables (default: none).
        condicion: ``obj -> bool``; false: no reminders nor notice for that object.

    Returns:
        The :class:`Recordatorio`: ``programar(obj)``/``cancelar(obj)`` for changes the
        signals don't see, ``desconectar()`` to undo the declaration (tests). Declaring
        the same model and ``tipo`` again replaces the previous declaration.

    Raises:
        ImproperlyConfigured: unknown model or field, a field that is not a DateTimeField,
            invalid ``plantilla``/``tipo``/``antes``.
        TypeError: a callable argument that is not callable.
    """
    validar_declaracion(
        "recordatorio", plantilla, tipo, destinatario, variables=variables,
        cancelar_si=cancelar_si, variables_cancelacion=variables_cancelacion,
        condicion=condicion,
    )  # fmt: skip
    antes = _validar_antes(antes, tipo)
    _validar_cancelacion(plantilla_cancelacion, variables_cancelacion, tipo)
    nuevo = Recordatorio(
        modelo, campo_fecha, antes, plantilla, tipo, destinatario, variables, idioma, cuenta,
        cancelar_si, plantilla_cancelacion, variables_cancelacion, condicion,
    )  # fmt: skip
    resolver_modelo(modelo, nuevo.resolver, "recordatorio")
    return nuevo


def _validar_antes(antes: Any, tipo: str) -> tuple[timedelta, ...]:
    offsets = tuple(antes) if isinstance(antes, Iterable) else (antes,)
    for offset in offsets:
        if not isinstance(offset, timedelta) or offset <= timedelta(0):
            raise ImproperlyConfigured(
                f"recordatorio(): antes={offset!r} debe ser un timedelta positivo, "
                "p. ej. antes=[timedelta(hours=24), timedelta(hours=1)]."
            )
        if offset % timedelta(seconds=1):
            raise ImproperlyConfigured(
                f"recordatorio(): antes={offset!r} no es de segundos enteros."
            )
        if not TIPO_RE.match(f"{tipo}_{etiqueta(offset)}"):
            raise ImproperlyConfigured(
                f"recordatorio(): tipo={tipo!r} es demasiado largo: '{tipo}_{etiqueta(offset)}' "
                "pasa de 64 caracteres."
            )
    if not offsets or len(set(offsets)) != len(offsets):
        raise ImproperlyConfigured(
            "recordatorio(): antes debe dar al menos un intervalo, sin repetidos "
            f"(se recibió {list(offsets)!r})."
        )
    return tuple(sorted(offsets, reverse=True))


def _validar_cancelacion(plantilla: Any, variables: Any, tipo: str) -> None:
    if plantilla is None:
        if variables is not None:
            raise ImproperlyConfigured(
                "recordatorio(): variables_cancelacion sin plantilla_cancelacion; indica la "
                "plantilla del aviso de cancelación o quita variables_cancelacion."
            )
        return
    if not isinstance(plantilla, str) or not plantilla.strip():
        raise ImproperlyConfigured(
            "recordatorio(): plantilla_cancelacion debe ser el nombre aprobado en Meta, o None."
        )
    if not TIPO_RE.match(f"{tipo}_cancelacion"):
        raise ImproperlyConfigured(
            f"recordatorio(): tipo={tipo!r} es demasiado largo para '{tipo}_cancelacion' "
            "(máximo 64 caracteres)."
        )
