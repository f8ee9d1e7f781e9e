"""The template catalog: ``Plantilla`` rows synced from the WhatsApp Business Account.

Three ways in and one way out:

- :func:`sincronizar` reads every template of an account's WABA (``list_templates`` of its
  backend) and stores one row per name and language, with the body parameters a send needs
  (``reference/cloud_api.md`` §4.2). Rows of templates Meta no longer lists stay, marked
  ``DELETED``, so a send of them is refused here instead of failing at Meta (132001).
- :func:`aplicar_evento` applies a ``message_template_status_update`` webhook. A template
  the catalog does not know yet gets a minimal row (name, language, status, reason) so a
  rejected or paused one is refused before the first sync; its parameters stay unknown
  (no ``componentes``) and are not checked until a sync fills them.
- :func:`verificar_fila`, called by ``outbox.registrar`` with the row :func:`buscar` found
  (the same lookup gives the send its category), before anything is written: raises on a
  variables mismatch, and says when a known template is not approved.

A template that is not in the catalog is never refused: the catalog is optional.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .backends import backends
from .backends.base import UnsupportedCapability
from .conf import DEFAULT_ALIAS, get_settings
from .events import EventoPlantilla, normalizar_idioma
from .exceptions import VariablesError
from .limits import recortar, recortar_campos
from .models import MotivoOmision, Plantilla

logger = logging.getLogger(__name__)

POSITIONAL, NAMED = "POSITIONAL", "NAMED"
APPROVED, DELETED = "APPROVED", "DELETED"
# {{1}}, {{ 2 }}, {{nombre_cliente}}: the placeholders of a template text.
_PARAMETRO = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
RETIRADA = "No aparece en la cuenta de WhatsApp Business en la última sincronización."


# -- reading a template (Graph's template object, cloud_api.md §4.1) -------------------------


def parametros_en(texto: Any) -> list[str]:
    """The distinct placeholders of ``texto``, in order of first appearance."""
    return list(dict.fromkeys(_PARAMETRO.findall(texto if isinstance(texto, str) else "")))


def componente(plantilla: dict[str, Any], tipo: str) -> dict[str, Any]:
    """The first component of ``tipo`` (``BODY``, ``HEADER``...), or ``{}``."""
    for comp in _lista(plantilla.get("components")):
        if isinstance(comp, dict) and str(comp.get("type", "")).upper() == tipo:
            return comp
    return {}


def formato_parametros(plantilla: dict[str, Any]) -> str:
    """``NAMED`` or ``POSITIONAL`` (Graph's default when ``parameter_format`` is absent)."""
    return NAMED if str(plantilla.get("parameter_format") or "").upper() == NAMED else POSITIONAL


def parametros_cuerpo(plantilla: dict[str, Any]) -> tuple[int, list[str]]:
    """How many body parameters a send needs, and their names for a NAMED template.

    Counted from the body text (each distinct ``{{...}}`` once); a body without text is
    counted from its example instead.
    """
    cuerpo = componente(plantilla, "BODY")
    nombres = parametros_en(cuerpo.get("text")) if "text" in cuerpo else _de_ejemplo(cuerpo)
    if formato_parametros(plantilla) == NAMED:
        return len(nombres), nombres
    return len(nombres), []


def _de_ejemplo(cuerpo: dict[str, Any]) -> list[str]:
    ejemplo = cuerpo.get("example") if isinstance(cuerpo.get("example"), dict) else {}
    con_nombre = _lista(ejemplo.get("body_text_named_params"))
    if con_nombre:
        return [str(p.get("param_name")) for p in con_nombre if isinstance(p, dict)]
    filas = _lista(ejemplo.get("body_text"))
    primera = filas[0] if filas and isinstance(filas[0], list) else []
    return [str(numero) for numero in range(1, len(primera) + 1)]


def formato_encabezado(plantilla: dict[str, Any]) -> str:
    """``TEXT``, ``DOCUMENT``, ``IMAGE``, ``VIDEO``, ``LOCATION``, or "" without header."""
    return str(componente(plantilla, "HEADER").get("format") or "").upper()


def campos_de_plantilla(plantilla: dict[str, Any]) -> dict[str, Any] | None:
    """The ``Plantilla`` fields of a Graph template object; None without name or language."""
    nombre, idioma = _texto(plantilla.get("name")), _texto(plantilla.get("language"))
    if not nombre or not idioma:
        return None
    cuantos, nombres = parametros_cuerpo(plantilla)
    return _a_la_medida(
        nombre=nombre,
        idioma=normalizar_idioma(idioma),
        meta_id=_texto(plantilla.get("id")),
        categoria=_texto(plantilla.get("category")).upper(),
        estado=_texto(plantilla.get("status")).upper(),
        formato_encabezado=formato_encabezado(plantilla),
        formato_parametros=formato_parametros(plantilla),
        parametros_cuerpo=cuantos,
        nombres_parametros=nombres,
        componentes=_lista(plantilla.get("components")),
        motivo=_sin_none(plantilla.get("rejected_reason")),
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
    """Store every template of ``cuenta``'s WABA; return what changed.

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


def listar(cuenta: str) -> list[dict[str, Any]]:
    """The raw templates of ``cuenta`` from its backend's ``list_templates``."""
    backend = backends[cuenta]
    if not backend.supports("list_templates"):
        raise UnsupportedCapability(
            f"El backend {type(backend).__name__} de la cuenta {cuenta!r} no puede listar "
            "plantillas: su catálogo no se sincroniza."
        )
    return backend.list_templates()


def _guardar(cuenta: str, plantilla: Any, resumen: Sincronizacion) -> int | None:
    """Create or update the row of one listed template; return its pk (None: ignored)."""
    campos = campos_de_plantilla(plantilla) if isinstance(plantilla, dict) else None
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
    return filas.update(estado=DELETED, motivo=RETIRADA, sincronizada_en=momento)


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


def cuerpo_de(fila: Plantilla) -> str:
    """The body text of a catalog row, with its placeholders, or "" when it has none.

    The row's own ``cuerpo`` column when it has one and it is set, else the text of the
    BODY component its synced ``componentes`` carry.
    """
    propio = getattr(fila, "cuerpo", "")  # the column lands with the catalog's body text
    texto = propio or componente({"components": fila.componentes}, "BODY").get("text")
    return texto if isinstance(texto, str) else ""


def verificar_fila(fila: Plantilla | None, variables: Any) -> MotivoOmision | None:
    """Check a template send against its catalog row (:func:`buscar`), before recording.

    Returns:
        ``MotivoOmision.PLANTILLA_NO_APROBADA`` when the row's status is not APPROVED; None
        when it may go, or when ``fila`` is None (a template the catalog does not know).

    Raises:
        VariablesError: the catalog knows the template's parameters and ``variables`` do
            not match them (count for ``{{1}}..{{n}}``, names for named parameters).
    """
    if fila is None:
        return None
    if fila.componentes:
        revisar_variables(fila, variables)
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


def _nombre(fila: Plantilla) -> str:
    return f"{fila.nombre!r} ({fila.idioma}, cuenta {fila.cuenta!r})"


def _lista_nombres(nombres: list[str]) -> str:
    return ", ".join(nombres) if nombres else "ninguna"


# -- small readers ---------------------------------------------------------------------------


def _texto(valor: Any) -> str:
    if isinstance(valor, bool) or valor is None:
        return ""
    return str(valor) if isinstance(valor, str | int) else ""


def _sin_none(valor: Any) -> str:
    texto = _texto(valor)
    return "" if texto.upper() == "NONE" else texto


def _lista(valor: Any) -> list[Any]:
    return valor if isinstance(valor, list) else []


def _a_la_medida(**campos: Any) -> dict[str, Any]:
    # Graph's values are not ours to trust in length; PostgreSQL would refuse the row.
    return recortar_campos(Plantilla, campos)
