"""Operator actions on envíos and accounts, shared by the admin and management commands.

Each action is a conditional UPDATE on the rows it changes, so pressing it twice, or
while a worker or a webhook touches the same envío, never sends anything twice.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from .. import signals
from ..exceptions import MessageError
from ..inbound import handoff
from ..models import Conversacion, Direccion, EnvioWhatsApp, EstadoEnvio, MotivoOmision
from ..phones import mask
from ..states import ACEPTADOS, EN_CAMINO, EN_ESPERA, REENVIABLES
from . import outbox
from .delivery import reanudar_cuenta

logger = logging.getLogger(__name__)

# Reasons an envío was not re-sent, besides the ``MotivoOmision`` values.
YA_ENVIADO = "ya_enviado"
EN_CURSO = "en_curso"
#: A later envío of the same referencia and tipo was accepted or is on its way: the notice
#: is already covered, and sending this one again would give the customer it twice.
SUPERADO = "superado"

# The estados of a later envío that cover its notice (see SUPERADO).
_VIGENTES = ACEPTADOS | EN_CAMINO
# Envíos whose later ones are read in one query: an IN list well below SQLite's limit.
_POR_CONSULTA = 500


class Reenvio(NamedTuple):
    """What :func:`reenviar` did: how many went back to the queue, and why the rest did not.

    ``omitidos`` maps a reason (:data:`YA_ENVIADO`, :data:`EN_CURSO`, :data:`SUPERADO` or a
    :class:`~whatsapp_notify.models.MotivoOmision` value) to how many envíos it kept back.
    """

    reenviados: int
    omitidos: dict[str, int]


def reenviar(envios: Iterable[EnvioWhatsApp]) -> Reenvio:
    """Send again the envíos that never reached their recipient.

    ``fallido``, ``cancelado``, ``incierto`` and ``omitido`` envíos are checked again as a
    new send would be (phone, ``ENABLED``, consent of the envío's category, 24-hour window
    for free-form messages, ``expira_en``). Those that pass go back to ``pendiente``
    (``programado`` if still due in the future) with no attempts and no error, and are
    enqueued when the current transaction commits. An ``omitido`` envío that still cannot
    go stays ``omitido`` with the current reason; any other one that cannot go is left as it
    was. Envíos already
    accepted by the provider (``enviado``, ``entregado``, ``leido``) or still in progress
    are never touched. An ``incierto`` envío may have reached the recipient (Meta has no
    idempotency key): resending it is the operator's call.

    An envío with a referencia and a ``tipo`` is not sent again when a later envío (higher
    id) of the same referencia and tipo was accepted or is still on its way
    (:data:`SUPERADO`): that one is the notice. The envíos are taken newest first, so of
    several of one notice only the latest goes back to the queue. The later envíos are read
    in one query per 500 envíos.
    """
    pendientes = sorted(envios, key=lambda envio: envio.pk, reverse=True)
    vigentes = _ultimos_vigentes(pendientes)
    reenviados, omitidos = 0, Counter()
    for envio in pendientes:
        aviso = _aviso(envio)
        if aviso is not None and vigentes.get(aviso, 0) > envio.pk:
            razon = SUPERADO
        else:
            razon = _reenviar_uno(envio)
        if razon is None:
            reenviados += 1
            if aviso is not None:
                vigentes[aviso] = max(vigentes.get(aviso, 0), envio.pk)
        else:
            omitidos[razon] += 1
    return Reenvio(reenviados, dict(omitidos))


# (content type id, object id, tipo): the notice an envío is one send of.
Aviso = tuple[int, str, str]


def _aviso(envio: EnvioWhatsApp) -> Aviso | None:
    """The notice ``envio`` belongs to; None without referencia or tipo (each one its own)."""
    if envio.content_type_id is None or envio.object_id in (None, "") or not envio.tipo:
        return None
    # str(): the column is text, but an envío built with referencia= holds the pk itself.
    return envio.content_type_id, str(envio.object_id), envio.tipo


def _ultimos_vigentes(envios: list[EnvioWhatsApp]) -> dict[Aviso, int]:
    """The id of the latest accepted or on-its-way envío of each notice of ``envios``."""
    avisos = sorted({aviso for envio in envios if (aviso := _aviso(envio)) is not None})
    vigentes: dict[Aviso, int] = {}
    for inicio in range(0, len(avisos), _POR_CONSULTA):
        grupo = avisos[inicio : inicio + _POR_CONSULTA]
        filas = (
            EnvioWhatsApp.objects.filter(_filtro_de_avisos(grupo), estado__in=_VIGENTES)
            .values_list("content_type_id", "object_id", "tipo")
            .annotate(ultimo=Max("pk"))
            .order_by()
        )
        vigentes.update({(ct, oid, tipo): ultimo for ct, oid, tipo, ultimo in filas})
    return vigentes


def _filtro_de_avisos(avisos: list[Aviso]) -> Q:
    """Rows of these notices: one ``object_id IN (...)`` per content type and tipo."""
    ids: dict[tuple[int, str], list[str]] = {}
    for tipo_contenido, object_id, tipo in avisos:
        ids.setdefault((tipo_contenido, tipo), []).append(object_id)
    filtro = Q()
    for (tipo_contenido, tipo), object_ids in ids.items():
        filtro |= Q(content_type_id=tipo_contenido, tipo=tipo, object_id__in=object_ids)
    return filtro


def reanudar(cuentas: Iterable[str]) -> list[str]:
    """Unpause ``cuentas`` and, on commit, dispatch the envíos that waited; return the resumed."""
    reanudadas = [cuenta for cuenta in cuentas if reanudar_cuenta(cuenta, manual=True)]
    if reanudadas:
        from ..tasks import al_confirmar, pedir_despacho

        al_confirmar(pedir_despacho)
    return reanudadas


def _reenviar_uno(envio: EnvioWhatsApp) -> str | None:
    """Re-queue one envío; return why it was not, or None when it was."""
    if envio.estado in ACEPTADOS:
        return YA_ENVIADO
    if envio.estado not in REENVIABLES:
        return EN_CURSO
    if envio.motivo == MotivoOmision.ERROR_DISPARADOR:
        # Its content was never built (the disparador's callable raised): the ERP must fire again.
        return MotivoOmision.ERROR_DISPARADOR
    telefono, motivo = revisar_destinatario(envio)
    if motivo is None and outbox.vencido(envio):
        motivo = MotivoOmision.VENCIDO  # past its moment: sending it now would mislead
    if motivo is not None:
        _seguir_omitido(envio, telefono, motivo)
        return motivo
    return None if _reiniciar(envio, telefono) else EN_CURSO


def revisar_destinatario(envio: EnvioWhatsApp) -> tuple[str, MotivoOmision | None]:
    """Check an envío's recipient as a new send would be checked (see ``outbox``).

    Returns the normalised phone (empty when invalid) and the reason it cannot be sent
    now, or None when it can.
    """
    # ``telefono`` is already E.164 digits: with its "+" it keeps its country, whatever
    # DEFAULT_REGION says; ``telefono_original`` is only re-read when it never parsed.
    telefono = f"+{envio.telefono}" if envio.telefono else envio.telefono_original
    return outbox.revisar_destinatario(
        telefono, envio.clase, cuenta=envio.cuenta, categoria=envio.categoria,
        respuesta=bool(envio.responde_a),
    )  # fmt: skip


def _seguir_omitido(envio: EnvioWhatsApp, telefono: str, motivo: str) -> None:
    if envio.estado != EstadoEnvio.OMITIDO:
        return  # a fallido/cancelado envío keeps its own history
    EnvioWhatsApp.objects.filter(pk=envio.pk, estado=EstadoEnvio.OMITIDO).update(
        telefono=telefono or envio.telefono, motivo=motivo, actualizado_en=timezone.now()
    )


def _reiniciar(envio: EnvioWhatsApp, telefono: str) -> bool:
    """Put the envío back in the queue from the estado we read; False if it moved meanwhile."""
    ahora = timezone.now()
    futuro = envio.programado_para is not None and envio.programado_para > ahora
    estado = EstadoEnvio.PROGRAMADO if futuro else EstadoEnvio.PENDIENTE
    aplicado = EnvioWhatsApp.objects.filter(pk=envio.pk, estado=envio.estado).update(
        estado=estado, telefono=telefono, actualizado_en=ahora, **_CAMPOS_REINICIADOS
    )
    if not aplicado:
        return False
    logger.info(
        "Envío %s (%s, %s) reenviado a %s",
        envio.pk,
        envio.estado,
        envio.motivo or envio.error_codigo or "-",
        mask(telefono),
    )
    _avisar_cambio(envio, estado)
    if estado == EstadoEnvio.PENDIENTE:
        from ..tasks import al_confirmar, encolar

        al_confirmar(encolar, envio.pk)
    return True


# A resend is a fresh attempt: the previous attempt's outcome and timestamps no longer apply.
_CAMPOS_REINICIADOS = {
    "motivo": "",
    "intentos": 0,
    # The previous attempt's message id and what its webhooks said: a late status for the old
    # wamid must not settle the new attempt.
    "wamid": None,
    "error_titulo": "",
    "conversacion_id": "",
    "conversacion_expira_en": None,
    "conversacion_origen": "",
    "facturable": None,
    "precio_modelo": "",
    "precio_tipo": "",
    "precio_categoria": "",
    "proximo_intento": None,
    "error_codigo": None,
    "error_detalle": "",
    "despachado_en": None,
    "reclamado_en": None,
    "enviado_en": None,
    "entregado_en": None,
    "leido_en": None,
    "fallido_en": None,
    "cancelado_en": None,
}


def _avisar_cambio(envio: EnvioWhatsApp, estado: str) -> None:
    anterior = envio.estado
    envio.refresh_from_db()
    signals.avisar_estado(envio, anterior, estado)


def cancelar(envios: Iterable[EnvioWhatsApp]) -> int:
    """Cancel the envíos that still wait (programado or pendiente); return how many.

    Conditional on "still waiting", not on the estado read: an envío a worker claimed, or
    one already sent, is left as it is. The envío keeps its ``clave``: the same request made
    again returns the cancelled envío, never a new send (a recordatorio, which reschedules
    under its clave, cancels through its own ``cancelar``).
    """
    cancelados = 0
    for envio in envios:
        ahora = timezone.now()
        if EnvioWhatsApp.objects.filter(pk=envio.pk, estado__in=EN_ESPERA).update(
            estado=EstadoEnvio.CANCELADO, cancelado_en=ahora, actualizado_en=ahora
        ):
            cancelados += 1
            logger.info("Envío %s (%s) cancelado por un operador", envio.pk, envio.tipo)
            _avisar_cambio(envio, EstadoEnvio.CANCELADO)
    return cancelados


class VentanaCerrada(MessageError):
    """Free text to a customer who has not written in 24 hours: only a template goes."""


def contestar(
    conversacion: Conversacion,
    *,
    quien: str,
    texto: str | None = None,
    plantilla: str | None = None,
    variables: list | dict | None = None,
    idioma: str | None = None,
    clave: str | None = None,
) -> EnvioWhatsApp:
    """Reply in ``conversacion`` as the operator ``quien``, who takes it from the bot.

    Free ``texto`` answers the customer's last message and needs the 24-hour window open
    (else :class:`VentanaCerrada`); a ``plantilla`` goes at any time. ``clave`` makes the
    reply idempotent (a retried request sends once); None: a new one each call.

    Raises:
        VentanaCerrada: ``texto`` with the window closed; nothing is recorded.
        MessageError: what ``enviar_texto`` / ``enviar_plantilla`` raise.
    """
    comunes = {
        "cuenta": conversacion.cuenta, "tipo": "agente",
        "clave": clave or f"respuesta:{conversacion.pk}:{uuid.uuid4().hex}",
        "nombre": conversacion.nombre or None,
    }  # fmt: skip
    telefono = f"+{conversacion.telefono}"
    if plantilla is None and not conversacion.ventana_abierta():
        raise VentanaCerrada(
            gettext(
                "La ventana de 24 horas está cerrada: el texto libre no llegaría. Envía una "
                "plantilla aprobada."
            )
        )
    with transaction.atomic():
        if plantilla is not None:
            envio = outbox.enviar_plantilla(
                telefono, plantilla, idioma=idioma, variables=variables, **comunes
            )
        else:
            ultimo = (
                conversacion.mensajes.filter(direccion=Direccion.ENTRANTE, wamid__isnull=False)
                .order_by("-fecha", "-pk")
                .first()
            )
            envio = outbox.enviar_texto(telefono, texto or "", responde_a=ultimo, **comunes)
        if conversacion.agente != quien:
            for fila in Conversacion.objects.select_for_update().filter(pk=conversacion.pk):
                handoff.tomar(fila, quien)
    return envio


def por_reintentar(
    *,
    estados: Iterable[str] = (EstadoEnvio.FALLIDO,),
    codigos: Iterable[int] = (),
    tipos: Iterable[str] = (),
    desde: datetime | None = None,
    hasta: datetime | None = None,
    cuenta: str | None = None,
    ids: Iterable[int] = (),
) -> QuerySet[EnvioWhatsApp]:
    """The envíos an operator's "send these again" names: by estado (fallido by default),
    provider error codes, tipos, creation in ``[desde, hasta)``, account and ids."""
    envios = EnvioWhatsApp.objects.filter(estado__in=list(estados) or [EstadoEnvio.FALLIDO])
    if codigos := list(codigos):
        envios = envios.filter(error_codigo__in=codigos)
    if tipos := list(tipos):
        envios = envios.filter(tipo__in=tipos)
    if desde is not None:
        envios = envios.filter(creado_en__gte=desde)
    if hasta is not None:
        envios = envios.filter(creado_en__lt=hasta)
    if cuenta:
        envios = envios.filter(cuenta=cuenta)
    if ids := list(ids):
        envios = envios.filter(pk__in=ids)
    return envios
