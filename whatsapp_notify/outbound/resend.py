"""«Reenviar el aviso»: the ERP's button to send an object's notice again, never twice by accident.

:func:`reenviar_aviso` works on the latest envío of one tipo for one object (as
:func:`~whatsapp_notify.estado_whatsapp` shows it). A notice that never reached the customer
goes back to the queue through :func:`.actions.reenviar` (recipient checked again); one the
provider accepted is copied only when the caller names the envío it saw (``copia_de``),
and then once; one that may have arrived (``incierto``) is left to its status.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..exceptions import MessageError, TipoInvalido
from ..messages import exigir_tipo
from ..models import EnvioWhatsApp, EstadoEnvio, MotivoOmision
from ..states import ACEPTADOS, REENVIABLES
from . import outbox
from .actions import EN_CURSO, SUPERADO, YA_ENVIADO, reenviar
from .delivery import construir_salida
from .status import CLAVE_COPIA, EstadoWhatsApp, estado_whatsapp

logger = logging.getLogger(__name__)


class ResultadoReenvio(models.TextChoices):
    """What :func:`reenviar_aviso` did."""

    REENVIADO = "reenviado", gettext_lazy("Vuelve a enviarse")
    COPIA = "copia", gettext_lazy("Se envía una copia nueva")
    YA_ENVIADO = "ya_enviado", gettext_lazy("Ya se había enviado")
    INCIERTO = "incierto", gettext_lazy("Pudo haber llegado")
    EN_CURSO = "en_curso", gettext_lazy("Ya está en camino")
    NO_ENVIABLE = "no_enviable", gettext_lazy("No se puede enviar")
    CAMBIADO = "cambiado", gettext_lazy("Cambió desde que se consultó")
    SIN_ENVIO = "sin_envio", gettext_lazy("No hay aviso que reenviar")


@dataclass(frozen=True)
class ReenvioAviso:
    """The answer of :func:`reenviar_aviso`.

    ``reenviado``: a send of the notice is queued now (``reenviado`` or ``copia``).
    ``envio_id``: the envío that goes, or the latest one when nothing was done (None when
    there is none). ``motivo``: the :class:`~whatsapp_notify.models.MotivoOmision` value
    that kept a ``no_enviable`` notice back (else ``""``). ``mensaje``: one sentence for the
    ERP's user. ``estado``: the notice's status after the call.
    """

    resultado: str
    reenviado: bool
    envio_id: int | None
    motivo: str
    mensaje: str
    estado: EstadoWhatsApp | None

    def como_dict(self) -> dict[str, Any]:
        """Plain values, ``estado`` as its own dict (see :meth:`EstadoWhatsApp.como_dict`)."""
        return asdict(self)


def reenviar_aviso(obj: models.Model, tipo: str, *, copia_de: int | None = None) -> ReenvioAviso:
    """Send again the latest notice of ``tipo`` recorded with ``referencia=obj``.

    By the estado of that envío:

    * ``fallido``, ``cancelado``, ``omitido``: checked again as a new send would be
      (phone, consent, ``ENABLED``, 24-hour window, ``expira_en``) and, when it passes, the
      same envío goes back to the queue (``reenviado``); otherwise it stays as it was and
      ``motivo`` says why (``no_enviable``). An ``omitido`` with ``error_disparador`` never
      had its content built: the ERP must fire its disparador again.
    * ``programado``, ``pendiente``, ``enviando``: nothing to do, it is on its way (``en_curso``).
    * ``enviado``, ``entregado``, ``leido``: nothing is sent (``ya_enviado``) unless
      ``copia_de`` is its id: then a new envío with the same content goes to the same
      phone (``copia``), recorded with the clave ``copia:<id>``. It is checked as a new send
      first (:func:`.outbox.prever`): when it cannot go, nothing is recorded and the answer
      is ``no_enviable`` with the ``motivo``, the delivered envío staying the notice. A copy
      omitted all the same (a consent revoked between the check and the record) never
      hides the notice it copies in :func:`estado_whatsapp`, and goes once it can, when
      asked again. An envío gets at most one copy this way, whoever asks and however often.
    * ``incierto`` (the request left but the provider never confirmed it; the customer may
      have it): nothing is sent (``incierto``). Its status settles it, or Beat resends it
      once the account's webhooks prove that safe; else an operator decides in the admin.

    ``copia_de`` is the id of the envío the user saw delivered (:attr:`EstadoWhatsApp.envio_id`)
    and asked one more copy of. When that envío is no longer the latest one, or no longer
    accepted, nothing is done (``cambiado``): a form sent twice, or a page out of date,
    never sends a second copy. Pass it only for that request: without it a button can be
    pressed any number of times and sends a notice that never arrived at most once.
    Concurrent calls are settled by the database (conditional UPDATE, unique clave): of
    concurrent copies asked for one envío, only the call that records the copy answers
    ``copia``; the others answer ``cambiado`` (``reenviado`` False) with that copy.

    Recipient problems never raise: they are the answer's ``motivo``.

    Raises:
        TipoInvalido: ``obj`` is not a model instance, ``tipo`` not text, ``copia_de`` not int.
        MessageError: ``obj`` is not saved, or ``tipo`` is empty.
    """
    _exigir(obj, tipo, copia_de)
    ultimo = _ultimo(obj, tipo)
    if ultimo is None:
        return _respuesta(ResultadoReenvio.SIN_ENVIO, None, tipo=tipo)
    if ultimo.estado == EstadoEnvio.INCIERTO:
        return _respuesta(ResultadoReenvio.INCIERTO, ultimo)
    if copia_de is not None:
        if copia_de != ultimo.pk or ultimo.estado not in ACEPTADOS:
            return _respuesta(ResultadoReenvio.CAMBIADO, ultimo)
        return _copia(obj, ultimo)
    if ultimo.estado in ACEPTADOS:
        return _respuesta(ResultadoReenvio.YA_ENVIADO, ultimo)
    if ultimo.estado not in REENVIABLES:
        return _respuesta(ResultadoReenvio.EN_CURSO, ultimo)
    return _volver_a_la_cola(ultimo)


def _exigir(obj: Any, tipo: Any, copia_de: Any) -> None:
    exigir_tipo(obj, models.Model, "obj", "pasa la instancia del ERP (la orden), no su id.")
    if obj.pk is None:
        raise MessageError(f"obj ({type(obj).__name__}) no está guardado: no tiene avisos.")
    exigir_tipo(tipo, str, "tipo", "pasa el tipo del aviso, como 'vehiculo_listo'.")
    if not tipo:
        raise MessageError("tipo está vacío: pasa el tipo del aviso, como 'vehiculo_listo'.")
    if copia_de is not None and (isinstance(copia_de, bool) or not isinstance(copia_de, int)):
        raise TipoInvalido(
            f"copia_de no puede ser {type(copia_de).__name__}: pasa el id del envío que vio "
            "el usuario (estado.envio_id), o None."
        )


def _ultimo(obj: models.Model, tipo: str) -> EnvioWhatsApp | None:
    estado = estado_whatsapp(obj, tipo)
    return None if estado is None else EnvioWhatsApp.objects.get(pk=estado.envio_id)


def _volver_a_la_cola(envio: EnvioWhatsApp) -> ReenvioAviso:
    hecho = reenviar([envio])
    if hecho.reenviados:
        return _respuesta(ResultadoReenvio.REENVIADO, _leer(envio))
    razon = next(iter(hecho.omitidos))
    if razon in (EN_CURSO, YA_ENVIADO, SUPERADO):  # a worker, a webhook or another click moved it
        return _respuesta(ResultadoReenvio.EN_CURSO, _leer(envio))
    return _respuesta(ResultadoReenvio.NO_ENVIABLE, _leer(envio), motivo=razon)


def _copia(obj: models.Model, envio: EnvioWhatsApp) -> ReenvioAviso:
    """A new envío with ``envio``'s content, to its phone, under the clave ``copia:<id>``.

    Checked first as a new send (:func:`.outbox.prever`): a copy that cannot go is not
    recorded, and the delivered ``envio`` stays the notice its status shows. Only the call
    that records the copy answers ``copia``; one that finds it recorded answers ``cambiado``.
    """
    try:
        contenido = construir_salida(envio).contenido
    except OSError:  # its document is no longer stored
        logger.warning("Envío %s: su documento ya no está guardado; no se copia", envio.pk)
        return _respuesta(ResultadoReenvio.NO_ENVIABLE, envio, sin_documento=True)
    telefono = f"+{envio.telefono}" if envio.telefono else envio.telefono_original
    datos = {
        "referencia": obj, "tipo": envio.tipo, "nombre": envio.nombre or None,
        "cuenta": envio.cuenta, "categoria": envio.categoria, "expira_en": envio.expira_en,
        "responde_a": envio.responde_a or None,
    }  # fmt: skip
    previsto = outbox.prever(contenido, telefono, **datos)
    if previsto.estado == EstadoEnvio.OMITIDO:
        return _respuesta(ResultadoReenvio.NO_ENVIABLE, envio, motivo=previsto.motivo)
    clave = f"{CLAVE_COPIA}{envio.pk}"
    if (existente := EnvioWhatsApp.objects.por_clave(clave)) is not None:
        return _copia_registrada(envio, existente)
    copia = outbox.registrar(contenido, telefono, clave=clave, **datos)
    if not outbox.registrado_ahora(copia):  # a concurrent request recorded it first
        return _respuesta(ResultadoReenvio.CAMBIADO, _leer(copia))
    copia.refresh_from_db()  # with eager Celery (development) it may be sent already
    if copia.estado == EstadoEnvio.OMITIDO:
        # Something changed since prever (a consent revoked meanwhile): the omitted copy
        # does not hide the delivered notice (status), which is what the answer shows.
        return _respuesta(ResultadoReenvio.NO_ENVIABLE, envio, motivo=copia.motivo)
    logger.info("Envío %s: copia pedida desde el ERP (envío %s)", envio.pk, copia.pk)
    return _respuesta(ResultadoReenvio.COPIA, copia)


def _copia_registrada(envio: EnvioWhatsApp, copia: EnvioWhatsApp) -> ReenvioAviso:
    """The copy of ``envio`` was recorded before: sent, or on its way, it is not sent again;
    omitted (it could not go then), it gets its chance now, once (:func:`.actions.reenviar`)."""
    if copia.estado != EstadoEnvio.OMITIDO:
        return _respuesta(ResultadoReenvio.CAMBIADO, copia)
    hecho = reenviar([copia])
    if hecho.reenviados:
        logger.info("Envío %s: su copia omitida (envío %s) vuelve a la cola", envio.pk, copia.pk)
        return _respuesta(ResultadoReenvio.COPIA, _leer(copia))
    razon = next(iter(hecho.omitidos))
    if razon in (EN_CURSO, YA_ENVIADO, SUPERADO):  # another request moved it first
        return _respuesta(ResultadoReenvio.CAMBIADO, _leer(copia))
    return _respuesta(ResultadoReenvio.NO_ENVIABLE, envio, motivo=razon)


def _leer(envio: EnvioWhatsApp) -> EnvioWhatsApp:
    envio.refresh_from_db()
    return envio


def _respuesta(
    resultado: ResultadoReenvio,
    envio: EnvioWhatsApp | None,
    *,
    motivo: str = "",
    tipo: str = "",
    sin_documento: bool = False,
) -> ReenvioAviso:
    estado = EstadoWhatsApp.de_envio(envio) if envio is not None else None
    return ReenvioAviso(
        resultado=resultado.value,
        reenviado=resultado in (ResultadoReenvio.REENVIADO, ResultadoReenvio.COPIA),
        envio_id=envio.pk if envio is not None else None,
        motivo=motivo,
        mensaje=_mensaje(resultado, estado, motivo, tipo, sin_documento),
        estado=estado,
    )


def _mensaje(resultado, estado: EstadoWhatsApp | None, motivo: str, tipo: str, sin_documento):
    if estado is None:
        return _("No hay ningún aviso «%(tipo)s» de este registro que reenviar.") % {"tipo": tipo}
    datos = {"id": estado.envio_id, "resumen": estado.resumen}
    if resultado == ResultadoReenvio.REENVIADO:
        return _("El aviso vuelve a enviarse (envío #%(id)s): %(resumen)s") % datos
    if resultado == ResultadoReenvio.COPIA:
        return _("Se envía una copia nueva del aviso (envío #%(id)s): %(resumen)s") % datos
    if resultado == ResultadoReenvio.YA_ENVIADO:
        return _("El aviso ya se envió: %(resumen)s Confirma si quieres otra copia.") % datos
    if resultado == ResultadoReenvio.INCIERTO:
        return (
            _(
                "El aviso pudo haber llegado ya (envío #%(id)s): reenviarlo puede duplicarlo. "
                "Se espera la confirmación del proveedor; si no llega, un operador puede "
                "reenviarlo desde el admin."
            )
            % datos
        )
    if resultado == ResultadoReenvio.EN_CURSO:
        return _("El aviso ya está en camino: %(resumen)s No se envía dos veces.") % datos
    if resultado == ResultadoReenvio.CAMBIADO:
        return _("El aviso cambió desde que lo consultaste: %(resumen)s Revísalo antes.") % datos
    if sin_documento:
        return _("No se puede copiar el aviso #%(id)s: su documento ya no está guardado.") % datos
    datos["motivo"] = MotivoOmision(motivo).label if motivo in MotivoOmision.values else motivo
    return _("No se puede enviar el aviso (envío #%(id)s): %(motivo)s.") % datos
