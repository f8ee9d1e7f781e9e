"""The template catalog: ``Plantilla`` rows synced from the WhatsApp Business Account.

Three ways in and one way out:

- :func:`sincronizar` reads every template of an account (``list_templates`` of its
  backend, each a ``PlantillaRemota``) and stores one row per name and language, with the
  body parameters a send needs and the body text. Rows of templates the provider no longer
  lists stay, marked ``DELETED``, so a send of them is refused here instead of failing at
  the provider.
- :func:`aplicar_evento` applies a ``message_template_status_update`` webhook. A template
  the catalog does not know yet gets a minimal row (name, language, status, reason) so a
  rejected or paused one is refused before the first sync; its parameters stay unknown
  (no ``componentes`` nor ``cuerpo``) and are not checked until a sync fills them.
- :func:`verificar_fila`, called by ``outbox.registrar`` with the row :func:`buscar` found
  (the same lookup gives the send its category), before anything is written: raises on a
  variables mismatch, and says when a known template is not approved.

A template that is not in the catalog is never refused: the catalog is optional.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import signals
from django.utils import timezone

from .backends import backends
from .backends.base import PlantillaRemota, UnsupportedCapability
from .conf import DEFAULT_ALIAS, get_settings
from .events import EventoPlantilla, normalizar_idioma
from .exceptions import VariablesError
from .limits import recortar, recortar_campos
from .messages import BotonPlantilla, BotonRapido, BotonUrl
from .models import MotivoOmision, Plantilla

logger = logging.getLogger(__name__)

POSITIONAL, NAMED = "POSITIONAL", "NAMED"
APPROVED, DELETED = "APPROVED", "DELETED"
RETIRADA = "No aparece en la cuenta de WhatsApp Business en la última sincronización."


# -- a listed template -----------------------------------------------------------------------


def campos_de_plantilla(remota: PlantillaRemota) -> dict[str, Any] | None:
    """The ``Plantilla`` fields of a listed template; None without name or language."""
    if not remota.nombre or not remota.idioma:
        return None
    formato = NAMED if remota.formato_parametros.upper() == NAMED else POSITIONAL
    return _a_la_medida(
        nombre=remota.nombre,
        idioma=normalizar_idioma(remota.idioma),
        meta_id=remota.proveedor_id,
        categoria=remota.categoria.upper(),
        estado=remota.estado.upper(),
        formato_encabezado=remota.formato_encabezado.upper(),
        formato_parametros=formato,
        parametros_cuerpo=remota.parametros_cuerpo,
        nombres_parametros=list(remota.nombres_parametros) if formato == NAMED else [],
        cuerpo=remota.cuerpo,
        componentes=list(remota.componentes),
        motivo=remota.motivo,
    )


# -- sync ------------------------------------------------------------------------------------


@dataclass
class Sincronizacion:
    """What :func:`sincronizar` did for one account."""

    cuenta: str
    creadas: int = 0
    actualizadas: int = 0
    retiradas: int = 0  # listed before, missing now: marked DELETED
    ignoradas: int = 0  # items without name or language
    por_estado: Counter[str] = field(default_factory=Counter)
    momento: datetime = field(default_factory=timezone.now)  # sincronizada_en of the rows

    @property
    def total(self) -> int:
        return self.creadas + self.actualizadas


def sincronizar(cuenta: str = DEFAULT_ALIAS) -> Sincronizacion:
    """Store every template ``cuenta``'s provider lists; return what changed.

    Nothing is written unless the whole listing was read.

    Raises:
        ImproperlyConfigured: ``cuenta`` is not configured, or lacks what the listing needs
            (``BUSINESS_ACCOUNT_ID`` for Meta).
        NotImplementedError: the account's backend cannot list templates.
        ProviderError: the provider refused or could not be reached.
    """
    get_settings().backend_config(cuenta)
    plantillas = listar(cuenta)
    resumen = Sincronizacion(cuenta)
    with transaction.atomic():
        vistas = {_guardar(cuenta, plantilla, resumen) for plantilla in plantillas}
        resumen.retiradas = _retirar(cuenta, vistas - {None}, resumen.momento)
    logger.info(
        "Plantillas de la cuenta %r: %s nuevas, %s actualizadas, %s retiradas",
        cuenta,
        resumen.creadas,
        resumen.actualizadas,
        resumen.retiradas,
    )
    return resumen


def listar(cuenta: str) -> list[PlantillaRemota]:
    """The templates of ``cuenta`` from its backend's ``list_templates``."""
    backend = backends[cuenta]
    if not backend.supports("list_templates"):
        raise UnsupportedCapability(
            f"El backend {type(backend).__name__} de la cuenta {cuenta!r} no puede listar "
            "plantillas: su catálogo no se sincroniza."
        )
    return backend.list_templates()


def _guardar(cuenta: str, plantilla: PlantillaRemota, resumen: Sincronizacion) -> int | None:
    """Create or update the row of one listed template; return its pk (None: ignored)."""
    campos = campos_de_plantilla(plantilla)
    if campos is None:
        resumen.ignoradas += 1
        return None
    clave = {"cuenta": cuenta, "nombre": campos.pop("nombre"), "idioma": campos.pop("idioma")}
    campos["sincronizada_en"] = resumen.momento
    fila, creada = Plantilla.objects.update_or_create(**clave, defaults=campos)
    resumen.creadas += creada
    resumen.actualizadas += not creada
    resumen.por_estado[fila.estado or "?"] += 1
    return fila.pk


def _retirar(cuenta: str, vistas: set[int | None], momento: datetime) -> int:
    filas = Plantilla.objects.filter(cuenta=cuenta).exclude(pk__in=vistas).exclude(estado=DELETED)
    retiradas = filas.update(estado=DELETED, motivo=RETIRADA, sincronizada_en=momento)
    cache.vaciar()  # an UPDATE sends no post_save
    return retiradas


# -- webhook ---------------------------------------------------------------------------------


def aplicar_evento(evento: EventoPlantilla, cuenta: str) -> Plantilla:
    """Record a template status change; create a minimal row for an unknown template.

    The row belongs to ``cuenta``: the account the event was routed to (its backend's
    ``account_key``: Meta names the WABA). Applying it again leaves the
    same estado and motivo. Events are applied as they arrive (Meta gives them no order
    against a sync); the next sync sets every listed row to what Meta says then.
    """
    clave = {
        "cuenta": cuenta,
        "nombre": recortar(Plantilla, "nombre", evento.nombre),
        "idioma": recortar(Plantilla, "idioma", evento.idioma),
    }
    fila, creada = Plantilla.objects.get_or_create(**clave, defaults=_campos_evento(evento))
    if not creada:
        Plantilla.objects.filter(pk=fila.pk).update(**_campos_evento(evento, fila))
        cache.vaciar()  # an UPDATE sends no post_save
        fila.refresh_from_db()
    logger.info("Plantilla %s (%s) de %r: %s", fila.nombre, fila.idioma, fila.cuenta, fila.estado)
    return fila


def _campos_evento(evento: EventoPlantilla, fila: Plantilla | None = None) -> dict[str, Any]:
    motivo = " — ".join(parte for parte in (evento.motivo, evento.detalle) if parte)
    return _a_la_medida(
        estado=evento.estado,
        motivo=motivo,
        meta_id=evento.plantilla_id or (fila.meta_id if fila else ""),
        categoria=evento.categoria or (fila.categoria if fila else ""),
        sincronizada_en=timezone.now(),
    )


# -- the check before a send -----------------------------------------------------------------


def buscar(nombre: str, idioma: str, cuenta: str = DEFAULT_ALIAS) -> Plantilla | None:
    """The catalog row of template ``nombre`` in ``idioma`` (``es-MX`` = ``es_MX``), or None."""
    filtro = {"cuenta": cuenta, "nombre": nombre, "idioma": normalizar_idioma(idioma)}
    return Plantilla.objects.filter(**filtro).first()


#: Seconds a catalog row read for recording an envío is reused by this process.
CACHE_SEGUNDOS = 30.0


class _Cache:
    """Catalog rows by (account, name, language) for the ERP's saves, per process.

    A save that records a template envío needs its row (category, status, parameters);
    reading it on every save is a query the ERP pays each time. A change saved in this
    process (the sync, the admin) clears it at once; one saved by another process is seen
    within :data:`CACHE_SEGUNDOS`. Only approved rows (and "not in the catalog") are kept:
    an approval is seen at once, and a template paused meanwhile is caught by the worker,
    which reads the catalog fresh before sending.
    """

    def __init__(self) -> None:
        self._filas: dict[tuple[str, str, str], tuple[float, Plantilla | None]] = {}
        self._lock = threading.Lock()

    def buscar(self, nombre: str, idioma: str, cuenta: str = DEFAULT_ALIAS) -> Plantilla | None:
        clave = (cuenta, nombre, normalizar_idioma(idioma))
        ahora = time.monotonic()
        with self._lock:
            guardada = self._filas.get(clave)
        if guardada is not None and guardada[0] > ahora:
            return guardada[1]
        fila = buscar(nombre, idioma, cuenta)
        if fila is None or fila.aprobada:
            # Only what lets the envío be queued: a row that would omit it (paused, not
            # yet approved) is read again every time, so an approval counts at once. An
            # approved row that stopped being so meanwhile is caught by the worker.
            with self._lock:
                self._filas[clave] = (ahora + CACHE_SEGUNDOS, fila)
        return fila

    def vaciar(self, **_señal: Any) -> None:
        with self._lock:
            self._filas.clear()


cache = _Cache()
buscar_en_cache = cache.buscar
signals.post_save.connect(cache.vaciar, sender=Plantilla, dispatch_uid="wn-catalogo-guardado")
signals.post_delete.connect(cache.vaciar, sender=Plantilla, dispatch_uid="wn-catalogo-borrado")


def cuerpo_de(fila: Plantilla) -> str:
    """The body text of a catalog row, with its placeholders, or "" when it has none.

    ``cuerpo`` is filled by the sync from the provider's listing, or by the host for a
    provider without templates (WHAPI).
    """
    return fila.cuerpo or ""


def verificar_fila(
    fila: Plantilla | None, variables: Any, botones: tuple[BotonPlantilla | None, ...] = ()
) -> MotivoOmision | None:
    """Check a template send against its catalog row (:func:`buscar`), before recording.

    Returns:
        ``MotivoOmision.PLANTILLA_NO_APROBADA`` when the row's status is not APPROVED; None
        when it may go, or when ``fila`` is None (a template the catalog does not know).

    Raises:
        VariablesError: the catalog knows the template's parameters and ``variables`` do
            not match them (count for ``{{1}}..{{n}}``, names for named parameters), or
            ``botones`` do not fit its buttons (:func:`revisar_botones`).
    """
    if fila is None:
        return None
    if fila.componentes or fila.cuerpo:  # synced: its parameters are known
        revisar_variables(fila, variables)
    if fila.componentes:
        revisar_botones(fila, botones)
    return None if fila.aprobada else MotivoOmision.PLANTILLA_NO_APROBADA


def revisar_variables(fila: Plantilla, variables: Any) -> None:
    """Raise :class:`VariablesError` when ``variables`` do not fit ``fila``'s body."""
    variables = [] if variables is None else variables
    if fila.formato_parametros == NAMED:
        _revisar_nombres(fila, variables)
    else:
        _revisar_cantidad(fila, variables)


def _revisar_cantidad(fila: Plantilla, variables: Any) -> None:
    esperadas = fila.parametros_cuerpo
    if isinstance(variables, dict):
        raise VariablesError(
            f"La plantilla {_nombre(fila)} usa {{{{1}}}}..{{{{{esperadas}}}}}: pasa variables "
            f"como una lista de {esperadas}, no como dict."
        )
    if len(variables) != esperadas:
        raise VariablesError(
            f"La plantilla {_nombre(fila)} espera {esperadas} variable(s) en el cuerpo y "
            f"recibió {len(variables)}: ajusta variables (o sincroniza el catálogo con "
            "manage.py whatsapp_sync_plantillas si la plantilla cambió)."
        )


def _revisar_nombres(fila: Plantilla, variables: Any) -> None:
    esperados = [str(nombre) for nombre in fila.nombres_parametros]
    if not isinstance(variables, dict):
        raise VariablesError(
            f"La plantilla {_nombre(fila)} usa parámetros con nombre ({', '.join(esperados)}): "
            "pasa variables como dict {nombre: valor}."
        )
    faltan = [nombre for nombre in esperados if nombre not in variables]
    sobran = [nombre for nombre in variables if nombre not in esperados]
    if faltan or sobran:
        raise VariablesError(
            f"Las variables no coinciden con la plantilla {_nombre(fila)}: "
            f"faltan {_lista_nombres(faltan)}; sobran {_lista_nombres(sobran)}."
        )


def revisar_botones(fila: Plantilla, botones: tuple[BotonPlantilla | None, ...]) -> None:
    """Raise :class:`VariablesError` when ``botones`` do not fit ``fila``'s buttons.

    Each parameter goes to the button at its position: a ``BotonRapido`` to a quick reply,
    a ``BotonUrl`` to a URL button whose address ends in a variable; and every such URL
    button needs its ``BotonUrl`` (Meta refuses the send, 132000, without it).
    """
    definidos = [
        boton
        for componente in fila.componentes
        if isinstance(componente, dict) and str(componente.get("type", "")).upper() == "BUTTONS"
        for boton in componente.get("buttons") or []
        if isinstance(boton, dict)
    ]
    for indice, boton in enumerate(botones):
        if boton is None:
            continue
        if indice >= len(definidos):
            raise VariablesError(
                f"La plantilla {_nombre(fila)} tiene {len(definidos)} botón(es): botones[{indice}] "
                "no tiene a cuál ir (pon None en los botones que no llevan parámetro)."
            )
        tipo, quiere = str(definidos[indice].get("type", "")).upper(), _tipo_de_boton(boton)
        fija = tipo == "URL" and not _url_variable(definidos[indice])
        if tipo != quiere or fija:
            como = (
                "de URL fija"
                if fija
                else {"URL": "de URL", "QUICK_REPLY": "de respuesta rápida"}.get(tipo, tipo or "?")
            )
            raise VariablesError(
                f"botones[{indice}] de la plantilla {_nombre(fila)} es un botón {como}: no "
                f"recibe {type(boton).__name__}."
            )
    for indice, definido in enumerate(definidos):
        falta = indice >= len(botones) or not isinstance(botones[indice], BotonUrl)
        if _url_variable(definido) and falta:
            raise VariablesError(
                f"El botón {indice} de la plantilla {_nombre(fila)} abre una URL que termina en "
                f"una variable: pasa botones[{indice}] = BotonUrl(sufijo)."
            )


def _tipo_de_boton(boton: BotonPlantilla) -> str:
    return "QUICK_REPLY" if isinstance(boton, BotonRapido) else "URL"


def _url_variable(boton: dict) -> bool:
    return str(boton.get("type", "")).upper() == "URL" and "{{" in str(boton.get("url", ""))


def _nombre(fila: Plantilla) -> str:
    return f"{fila.nombre!r} ({fila.idioma}, cuenta {fila.cuenta!r})"


def _lista_nombres(nombres: list[str]) -> str:
    return ", ".join(nombres) if nombres else "ninguna"


# -- small helpers ---------------------------------------------------------------------------


def _a_la_medida(**campos: Any) -> dict[str, Any]:
    # A provider's values are not ours to trust in length; PostgreSQL would refuse the row.
    return recortar_campos(Plantilla, campos)
