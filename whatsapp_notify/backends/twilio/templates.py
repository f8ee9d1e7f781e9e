"""Twilio's Content API templates (``GET /v1/ContentAndApprovals``) as PlantillaRemota.

Each content carries its ``HX…`` SID, ``friendly_name``, ``language``, sample
``variables`` and its ``types`` (``twilio/text``, ``twilio/media``, ``twilio/quick-reply``...
each with a ``body``); ``approval_requests`` holds WhatsApp's verdict (``name``,
``category``, ``status``, ``rejection_reason``). Pages link the next one through
``meta.next_page_url``. :func:`plantilla_remota` reads one content into the shared shape
the catalog stores; no model is imported here.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ...events import normalizar_idioma
from ..base import PlantillaRemota

RUTA_LISTADO = "/v1/ContentAndApprovals"
TAMANO_PAGINA = 100
# An account holds at most a few thousand contents; the cap only stops a loop of pages.
MAX_PAGINAS = 100
POSITIONAL, NAMED = "POSITIONAL", "NAMED"
_PARAMETRO = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# Twilio's approval statuses as the catalog names them (``Plantilla.aprobada``).
ESTADOS = {
    "approved": "APPROVED",
    "pending": "PENDING",
    "received": "PENDING",
    "rejected": "REJECTED",
    "paused": "PAUSED",
    "disabled": "DISABLED",
    "deleted": "DELETED",
    # Never submitted to WhatsApp: Twilio sends it inside the 24-hour window only.
    "unsubmitted": "UNSUBMITTED",
}
_IMAGEN = (".jpg", ".jpeg", ".png", ".webp")
_VIDEO = (".mp4", ".3gp")


def plantilla_remota(contenido: dict[str, Any]) -> PlantillaRemota:
    """The shared description of one Content API content.

    The name is WhatsApp's (``approval_requests.name``), else the ``friendly_name``; a
    content without name or language gives them empty and the catalog skips it.
    """
    aprobacion = _dict(contenido.get("approval_requests"))
    tipos = _dict(contenido.get("types"))
    cuerpo = cuerpo_de(tipos)
    nombres = parametros_en(cuerpo)
    formato = NAMED if any(not nombre.isdigit() for nombre in nombres) else POSITIONAL
    idioma = _texto(contenido.get("language"))
    estado = _texto(aprobacion.get("status")).lower() or "unsubmitted"
    return PlantillaRemota(
        nombre=_texto(aprobacion.get("name")) or _texto(contenido.get("friendly_name")),
        idioma=normalizar_idioma(idioma) if idioma else "",
        estado=ESTADOS.get(estado, estado.upper()),
        categoria=_texto(aprobacion.get("category")).upper(),
        proveedor_id=_texto(contenido.get("sid")),
        formato_parametros=formato,
        parametros_cuerpo=len(nombres),
        nombres_parametros=tuple(nombres) if formato == NAMED else (),
        formato_encabezado=formato_encabezado(tipos),
        cuerpo=cuerpo,
        componentes=[{"types": tipos, "variables": _dict(contenido.get("variables"))}],
        motivo=_texto(aprobacion.get("rejection_reason")),
    )


def cuerpo_de(tipos: dict[str, Any]) -> str:
    """The ``body`` of the first type that has one (every type of a content shares it)."""
    for tipo in tipos.values():
        if isinstance(tipo, dict) and isinstance(tipo.get("body"), str):
            return tipo["body"]
    return ""


def parametros_en(texto: str) -> list[str]:
    """The distinct placeholders of ``texto``, in order of first appearance."""
    return list(dict.fromkeys(_PARAMETRO.findall(texto)))


def formato_encabezado(tipos: dict[str, Any]) -> str:
    """``IMAGE``, ``VIDEO`` or ``DOCUMENT`` when a type carries media; "" otherwise."""
    for tipo in tipos.values():
        media = tipo.get("media") if isinstance(tipo, dict) else None
        if isinstance(media, list) and media and isinstance(media[0], str):
            ruta = urlsplit(media[0]).path.lower()
            if ruta.endswith(_IMAGEN):
                return "IMAGE"
            return "VIDEO" if ruta.endswith(_VIDEO) else "DOCUMENT"
    return ""


# -- the listing's pages -------------------------------------------------------------------


def contenidos(pagina: Any) -> list[dict[str, Any]]:
    """The content objects of one page (``contents``); ``[]`` for anything else."""
    lista = pagina.get("contents") if isinstance(pagina, dict) else None
    return [c for c in lista if isinstance(c, dict)] if isinstance(lista, list) else []


def siguiente(pagina: Any) -> str:
    """The path and query of ``meta.next_page_url``, or "" on the last page.

    Only the path is kept: the next page is asked of ``CONTENT_BASE_URL``, so the
    credentials never follow a URL to another host.
    """
    meta = pagina.get("meta") if isinstance(pagina, dict) else None
    url = meta.get("next_page_url") if isinstance(meta, dict) else None
    if not isinstance(url, str) or not url:
        return ""
    partes = urlsplit(url)
    return f"{partes.path}?{partes.query}" if partes.query else partes.path


def _dict(valor: Any) -> dict[str, Any]:
    return valor if isinstance(valor, dict) else {}


def _texto(valor: Any) -> str:
    return valor if isinstance(valor, str) else ""
