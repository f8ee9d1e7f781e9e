"""What became of the WhatsApp notices of an ERP object, for its pages and its API.

:func:`estado_whatsapp` answers, for one referencia (the object an envío was recorded with),
"was the notice sent, delivered, read, and if not, why not" with the latest envío of each
tipo; :func:`estados_whatsapp` does the same for a page of objects. Each is one query
(plus the content type, cached by Django after its first lookup), whatever the number of
tipos or objects. The answers are :class:`EstadoWhatsApp` values: plain fields, ready for
a template, a serializer field (:meth:`EstadoWhatsApp.como_dict`) or a JSON response.

A copy that «Enviar otra copia» recorded and that could not go (``omitido``, clave
``copia:<id>``) is not "the latest" of its tipo: the customer still has the notice it
copies, and that one is shown. :func:`~whatsapp_notify.reenviar_aviso` checks a copy before
recording it, so such a row exists only when something changed in between (a consent
revoked at that moment) or was recorded by an earlier version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, overload

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from ..messages import exigir_tipo
from ..models import EnvioWhatsApp, EstadoEnvio, MotivoOmision
from ..states import ACEPTADOS, EN_CAMINO, REENVIABLES

# Only what the answer needs: an envío's variables, text and JSON stay in the database.
_CAMPOS = (
    "id", "content_type_id", "object_id", "tipo", "cuenta", "estado", "motivo", "intentos",
    "error_codigo", "error_titulo", "error_detalle", "creado_en", "programado_para",
    "proximo_intento", "enviado_en", "entregado_en", "leido_en", "fallido_en", "cancelado_en",
)  # fmt: skip
# The latest first; the id breaks ties between envíos recorded in the same instant.
_RECIENTES = (F("creado_en").desc(), F("pk").desc())
#: The clave of a copy :func:`~whatsapp_notify.reenviar_aviso` records: ``copia:<id>``.
CLAVE_COPIA = "copia:"


@dataclass(frozen=True)
class EstadoWhatsApp:
    """The latest envío of one tipo for one ERP object, read for a person.

    ``enviado`` means the provider accepted it (``enviado``, ``entregado`` or ``leido``),
    ``entregado`` that it reached the phone, ``leido`` that the customer opened it;
    ``en_curso`` that it is still on its way (``programado``, ``pendiente``, ``enviando``,
    ``incierto``) and may yet be sent. When it was not sent, ``motivo``/``motivo_texto``
    (``omitido``) or ``error_codigo``/``error_texto`` (``fallido``, or the last error of an
    envío waiting for a retry) say why. ``reenviable``: a notice that never reached the
    customer and that :func:`~whatsapp_notify.reenviar_aviso` may queue again (after
    checking the recipient again). ``resumen`` is one sentence saying all of it.

    The texts are in the language active when it was built. Times are aware datetimes.
    """

    tipo: str
    envio_id: int
    estado: str
    estado_texto: str
    enviado: bool
    entregado: bool
    leido: bool
    en_curso: bool
    reenviable: bool
    motivo: str
    motivo_texto: str
    error_codigo: int | None
    error_texto: str
    intentos: int
    creado_en: datetime
    programado_para: datetime | None
    proximo_intento: datetime | None
    enviado_en: datetime | None
    entregado_en: datetime | None
    leido_en: datetime | None
    fallido_en: datetime | None
    cancelado_en: datetime | None
    resumen: str

    @classmethod
    def de_envio(cls, envio: EnvioWhatsApp) -> EstadoWhatsApp:
        """The answer for ``envio`` (a row loaded with at least the fields it reads)."""
        estado = envio.estado
        motivo_texto = envio.get_motivo_display() if envio.motivo else ""
        return cls(
            tipo=envio.tipo,
            envio_id=envio.pk,
            estado=estado,
            estado_texto=str(envio.get_estado_display()),
            enviado=estado in ACEPTADOS,
            entregado=estado in (EstadoEnvio.ENTREGADO, EstadoEnvio.LEIDO),
            leido=estado == EstadoEnvio.LEIDO,
            en_curso=estado in EN_CAMINO,
            reenviable=_reenviable(envio),
            motivo=envio.motivo,
            motivo_texto=str(motivo_texto),
            error_codigo=envio.error_codigo,
            error_texto=_error_texto(envio),
            intentos=envio.intentos,
            creado_en=envio.creado_en,
            programado_para=envio.programado_para,
            proximo_intento=envio.proximo_intento,
            enviado_en=envio.enviado_en,
            entregado_en=envio.entregado_en,
            leido_en=envio.leido_en,
            fallido_en=envio.fallido_en,
            cancelado_en=envio.cancelado_en,
            resumen=_un_punto(_resumen(envio, str(motivo_texto))),
        )

    def como_dict(self) -> dict[str, Any]:
        """The fields as a dict of plain values (datetimes stay datetimes: Django's and DRF's
        JSON encoders write them in ISO 8601)."""
        return asdict(self)


@overload
def estado_whatsapp(obj: models.Model, tipo: None = None) -> dict[str, EstadoWhatsApp]: ...
@overload
def estado_whatsapp(obj: models.Model, tipo: str) -> EstadoWhatsApp | None: ...


def estado_whatsapp(
    obj: models.Model, tipo: str | None = None
) -> dict[str, EstadoWhatsApp] | EstadoWhatsApp | None:
    """The WhatsApp notices of ``obj``: the latest envío of each tipo recorded with
    ``referencia=obj``.

    Without ``tipo``, a dict ``{tipo: EstadoWhatsApp}``, the most recent notice first
    (empty when nothing was recorded; envíos recorded without tipo are under ``""``).
    With ``tipo``, that tipo's :class:`EstadoWhatsApp`, or None. An unsaved ``obj`` has no
    notices. An omitted copy (``copia:<id>``) never hides the notice it copies (see the
    module's docstring). One query (and the content type's, the first time Django looks it up).

    Raises:
        TipoInvalido: ``obj`` is not a model instance (an id, say).
    """
    exigir_tipo(obj, models.Model, "obj", "pasa la instancia del ERP (la orden), no su id.")
    if obj.pk is None:
        return None if tipo is not None else {}
    return estados_whatsapp([obj], tipo=tipo)[obj]


@overload
def estados_whatsapp(
    objs: Iterable[models.Model], tipo: None = None
) -> dict[models.Model, dict[str, EstadoWhatsApp]]: ...
@overload
def estados_whatsapp(
    objs: Iterable[models.Model], tipo: str
) -> dict[models.Model, EstadoWhatsApp | None]: ...


def estados_whatsapp(
    objs: Iterable[models.Model], tipo: str | None = None
) -> dict[models.Model, dict[str, EstadoWhatsApp]] | dict[models.Model, EstadoWhatsApp | None]:
    """:func:`estado_whatsapp` for many objects (a list page) in one query.

    Returns a dict keyed by the objects themselves (``estados[orden]``), one entry for each
    saved object of ``objs`` (of one model or several): its ``{tipo: EstadoWhatsApp}``, or
    with ``tipo``, its :class:`EstadoWhatsApp` or None.
    """
    objetos = list(objs)
    for obj in objetos:
        exigir_tipo(obj, models.Model, "objs", "pasa instancias del ERP (las órdenes), no ids.")
    objetos = [obj for obj in objetos if obj.pk is not None]
    por_clave = {(ContentType.objects.get_for_model(obj).pk, str(obj.pk)): obj for obj in objetos}
    resultado: dict = {obj: ({} if tipo is None else None) for obj in objetos}
    for envio in _ultimos(por_clave, tipo):
        obj = por_clave[(envio.content_type_id, envio.object_id)]
        estado = EstadoWhatsApp.de_envio(envio)
        if tipo is None:
            resultado[obj][envio.tipo] = estado
        else:
            resultado[obj] = estado
    return resultado


def _ultimos(por_clave: dict[tuple[int, str], models.Model], tipo: str | None):
    """The latest envío per (referencia, tipo) of the referencias in ``por_clave``."""
    if not por_clave:
        return []
    ids: dict[int, list[str]] = {}
    for tipo_contenido, object_id in por_clave:
        ids.setdefault(tipo_contenido, []).append(object_id)
    filtro = Q()
    for tipo_contenido, object_ids in ids.items():
        filtro |= Q(content_type_id=tipo_contenido, object_id__in=object_ids)
    # An omitted copy is not the notice: the customer has the one it copies (module docstring).
    envios = EnvioWhatsApp.objects.filter(filtro).exclude(
        estado=EstadoEnvio.OMITIDO, clave__startswith=CLAVE_COPIA
    )
    if tipo is not None:
        envios = envios.filter(tipo=tipo)
    # ROW_NUMBER() over each referencia and tipo, newest first: the first row of each group,
    # whatever the number of tipos, in one statement (SQLite 3.25+ and PostgreSQL).
    numero = Window(RowNumber(), partition_by=["content_type_id", "object_id", "tipo"],
                    order_by=_RECIENTES)  # fmt: skip
    return envios.only(*_CAMPOS).annotate(_numero=numero).filter(_numero=1).order_by(*_RECIENTES)


# Resending can never fix these: a resend goes to the phone recorded on the envío (a phone
# corrected in the ERP needs a new send), and an envío whose content was never built has
# nothing to send. A consent change, on the contrary, can make a "baja" go.
_SIN_ARREGLO = frozenset(
    {MotivoOmision.ERROR_DISPARADOR, MotivoOmision.SIN_TELEFONO, MotivoOmision.TELEFONO_INVALIDO}
)


def _reenviable(envio: EnvioWhatsApp) -> bool:
    # incierto may have arrived: resending it is an explicit decision, not this button's.
    if envio.estado not in REENVIABLES or envio.estado == EstadoEnvio.INCIERTO:
        return False
    return envio.motivo not in _SIN_ARREGLO


def _error_texto(envio: EnvioWhatsApp) -> str:
    """The readable error the row records, in the active language (see ``error_text``)."""
    if envio.estado == EstadoEnvio.OMITIDO:
        return envio.error_detalle  # a policy's refusal, when that was the reason
    return envio.error_legible()


def _resumen(envio: EnvioWhatsApp, motivo_texto: str) -> str:
    """One sentence for the ERP's user: what happened to the notice, and why when it failed."""
    estado = envio.estado
    if estado == EstadoEnvio.LEIDO:
        return _("Leído el %(fecha)s.") % {"fecha": _fecha(envio.leido_en)}
    if estado == EstadoEnvio.ENTREGADO:
        return _("Entregado el %(fecha)s.") % {"fecha": _fecha(envio.entregado_en)}
    if estado == EstadoEnvio.ENVIADO:
        return _("Enviado el %(fecha)s; aún sin confirmación de entrega.") % {
            "fecha": _fecha(envio.enviado_en)
        }
    if estado == EstadoEnvio.FALLIDO:
        error = _error_texto(envio) or _("sin detalle")
        return _("No se pudo enviar: %(error)s") % {"error": error}
    if estado == EstadoEnvio.OMITIDO:
        detalle = f"{motivo_texto} ({envio.error_detalle})" if envio.error_detalle else motivo_texto
        return _("No se envió: %(motivo)s.") % {"motivo": detalle}
    if estado == EstadoEnvio.CANCELADO:
        return _("Cancelado; no se enviará.")
    if estado == EstadoEnvio.PROGRAMADO:
        return _("Programado para el %(fecha)s.") % {"fecha": _fecha(envio.programado_para)}
    if estado == EstadoEnvio.INCIERTO:
        return _("Sin confirmar: pudo haber llegado; se espera la respuesta del proveedor.")
    if estado == EstadoEnvio.ENVIANDO:
        return _("Enviándose.")
    if envio.proximo_intento and envio.proximo_intento > timezone.now():
        return _("En cola; próximo intento el %(fecha)s.") % {
            "fecha": _fecha(envio.proximo_intento)
        }
    return _("En cola para enviarse.")


def _un_punto(frase: str) -> str:
    """The sentence with one final period: a date format that ends in one (English's
    «p.m.») must not read «10:03 p.m..» when the sentence closes after it."""
    return frase[:-1] if frase.endswith("..") else frase


def _fecha(momento: datetime | None) -> str:
    if momento is None:
        return "?"
    return date_format(timezone.localtime(momento), "SHORT_DATETIME_FORMAT")
