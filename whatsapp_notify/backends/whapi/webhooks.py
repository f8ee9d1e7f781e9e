"""WHAPI's webhooks: the secret header that authenticates them, and their events.

WHAPI signs nothing. Its webhook configuration (``PATCH /settings``, ``webhooks[].headers``)
adds the headers we choose to every POST; we choose ``Authorization: Bearer <secret>`` and
compare it in constant time with each configured secret (a list while rotating).

A body carries ``messages[]`` (inbound, and the echo of every message the channel sent:
``from_me: true``, ignored), ``statuses[]`` of the messages we sent, the ``event`` that
says which, and the ``channel_id``. Chat ids (``5215512345678@s.whatsapp.net``) become
E.164 digits. Group, channel and broadcast chats are not one customer: they become
:class:`EventoDesconocido` (kept, never applied).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from ...events import (
    DELIVERED,
    FAILED,
    PLAYED,
    READ,
    SENT,
    ErrorProveedor,
    Evento,
    EventoDesconocido,
    EventoEstado,
    EventoMensaje,
    Media,
    fecha_posible,
)
from ...exceptions import WebhookMalformado, WebhookRechazado
from .errors import describir

logger = logging.getLogger(__name__)

PERSONA = "@s.whatsapp.net"
# Suffixes of chats that are not one customer's: groups, channels, broadcast lists/stories.
NO_PERSONA = ("@g.us", "@newsletter", "@broadcast", "@lid")

# WHAPI's status names; mapped by name, never by its numeric ``code``.
ESTADOS = {"sent": SENT, "delivered": DELIVERED, "read": READ, "played": PLAYED, "failed": FAILED}
# Statuses that change nothing: still queued at WHAPI, or deleted by us afterwards.
SIN_EFECTO = frozenset({"pending", "deleted"})
# WHAPI prefixes the id of a chosen reply with the kind of menu it rendered.
PREFIJOS_RESPUESTA = ("ButtonsV3:", "ListV3:")
MEDIA = ("image", "video", "gif", "short", "audio", "voice", "document", "sticker")


# -- authentication --------------------------------------------------------------------------


def secretos(valor: Any) -> list[str]:
    """The configured secrets: one text, or a list while rotating (empty ones dropped)."""
    valores = valor if isinstance(valor, list | tuple) else [valor]
    return [str(v) for v in valores if v]


def verificar(cabeceras: Mapping[str, str] | Any, claves: list[str]) -> None:
    """Accept the request only with ``Authorization: Bearer <one of claves>``.

    Every secret is compared (constant time each), so the time taken does not tell which
    one matched or how much of it.

    Raises:
        WebhookRechazado: no secret configured, header missing or not a Bearer, or wrong.
    """
    if not claves:
        raise WebhookRechazado(
            "no hay WEBHOOK_SECRET configurado: se rechazan todos los webhooks; ponlo en "
            "OPTIONS y en la cabecera Authorization del webhook en WHAPI."
        )
    recibido = _bearer(cabeceras)
    if not recibido:
        raise WebhookRechazado("falta la cabecera Authorization: Bearer <WEBHOOK_SECRET>.")
    aciertos = [hmac.compare_digest(recibido.encode(), clave.encode()) for clave in claves]
    if not any(aciertos):
        raise WebhookRechazado("la cabecera Authorization no coincide con WEBHOOK_SECRET.")


def _bearer(cabeceras: Any) -> str:
    valor = cabeceras.get("Authorization") if hasattr(cabeceras, "get") else None
    if valor is None and isinstance(cabeceras, Mapping):
        valor = next((v for k, v in cabeceras.items() if k.lower() == "authorization"), None)
    esquema, _, secreto = str(valor or "").partition(" ")
    return secreto.strip() if esquema.lower() == "bearer" else ""


# -- parsing ------------------------------------------------------------------------------


def parse(cuerpo: bytes) -> list[Evento]:
    """Every status and inbound message of one body; anything else as EventoDesconocido.

    Raises:
        WebhookMalformado: not JSON, or not a JSON object.
    """
    datos = _json(cuerpo)
    canal = str(datos.get("channel_id") or "")
    eventos: list[Evento] = []
    for item in _lista(datos, "statuses"):
        eventos += _estado(item, canal)
    for item in _lista(datos, "messages"):
        eventos += _mensaje(item, canal)
    if not eventos and not _lista(datos, "statuses") and not _lista(datos, "messages"):
        tipo = (
            str((datos.get("event") or {}).get("type") or "")
            if isinstance(datos.get("event"), dict)
            else ""
        )
        eventos.append(_desconocido(datos, canal, tipo or "?", "evento que no es de mensajes"))
    return eventos


def _json(cuerpo: bytes) -> dict[str, Any]:
    try:
        datos = json.loads(cuerpo)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookMalformado("El cuerpo del webhook de WHAPI no es JSON.") from exc
    if not isinstance(datos, dict):
        raise WebhookMalformado("El cuerpo del webhook de WHAPI no es un objeto JSON.")
    return datos


def _lista(datos: dict[str, Any], clave: str) -> list[Any]:
    valor = datos.get(clave)
    return valor if isinstance(valor, list) else []


def _desconocido(raw: Any, canal: str, campo: str, motivo: str) -> EventoDesconocido:
    crudo = raw if isinstance(raw, dict) else {"valor": raw}
    return EventoDesconocido(numero_id=canal, raw=crudo, campo=campo, motivo=motivo)


# -- statuses -----------------------------------------------------------------------------


def _estado(item: Any, canal: str) -> Iterator[Evento]:
    if not isinstance(item, dict) or not item.get("id") or not item.get("status"):
        yield _desconocido(item, canal, "statuses", "estado sin id o sin status")
        return
    nombre = str(item["status"]).lower()
    if nombre in SIN_EFECTO:
        return
    destinatario = digitos(item.get("recipient_id"))
    yield EventoEstado(
        numero_id=canal,
        raw=item,
        wamid=str(item["id"]),
        estado=ESTADOS.get(nombre, nombre),
        fecha=fecha(item.get("timestamp")),
        destinatario=destinatario or "",
        errores=_errores(item) if nombre == "failed" else (),
    )


def _errores(item: dict[str, Any]) -> tuple[ErrorProveedor, ...]:
    crudos = item.get("errors")
    if isinstance(crudos, dict):
        crudos = [crudos]  # one error object instead of a list of them
    elif not isinstance(crudos, list):
        crudos = []  # absent, or a shape WHAPI does not document: only the status counts
    errores = [e for e in crudos if isinstance(e, dict)]
    if not errores:
        # WHAPI's failed status often says no more than that.
        legible = "WHAPI informó que el mensaje no se pudo entregar (estado failed)."
        return (ErrorProveedor(code=None, title="failed", legible=legible),)
    return tuple(_error(error) for error in errores)


def _error(error: dict[str, Any]) -> ErrorProveedor:
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    detalle = str(error.get("details") or error.get("message") or "")
    return ErrorProveedor(
        code=code,
        title=str(error.get("title") or error.get("message") or ""),
        message=str(error.get("message") or ""),
        details=str(error.get("details") or ""),
        legible=describir(code, detalle),
    )


# -- inbound messages --------------------------------------------------------------------


def _es_eco(valor: Any) -> bool:
    """Whether ``from_me`` marks our own message: a JSON true, or the text or number of one."""
    if isinstance(valor, str):
        return valor.strip().lower() in {"true", "1", "yes"}
    return valor is True or (isinstance(valor, int) and valor == 1)


def _mensaje(item: Any, canal: str) -> Iterator[Evento]:
    if not isinstance(item, dict) or not item.get("id"):
        yield _desconocido(item, canal, "messages", "mensaje sin id")
        return
    if _es_eco(item.get("from_me")):
        return  # the echo of a message this channel sent (ours, or from the phone)
    chat = str(item.get("chat_id") or "")
    if chat.endswith(NO_PERSONA):
        yield _desconocido(item, canal, "messages", "chat que no es de una persona (grupo…)")
        return
    de = digitos(item.get("from")) or digitos(chat)
    tipo = str(item.get("type") or "")
    contenido = _contenido(tipo, item)
    if not de or contenido is None:
        yield _desconocido(item, canal, "messages", f"mensaje de tipo {tipo or '?'}")
        return
    yield EventoMensaje(
        numero_id=canal,
        raw=item,
        wamid=str(item["id"]),
        de=de,
        tipo=contenido.get("tipo", tipo),
        fecha=fecha(item.get("timestamp")),
        nombre=str(item.get("from_name") or ""),
        texto=contenido.get("texto", ""),
        respuesta_id=contenido.get("respuesta_id", ""),
        contexto_wamid=contenido.get("contexto") or _citado(item),
        media=contenido.get("media"),
    )


def _contenido(tipo: str, item: dict[str, Any]) -> dict[str, Any] | None:
    """What a person reads, a chosen reply or a media file; None for what we do not read."""
    datos = item.get(tipo) if isinstance(item.get(tipo), dict) else {}
    if tipo in ("text", "link_preview"):
        return {"texto": str(datos.get("body") or "")}
    if tipo in MEDIA:
        return {"texto": str(datos.get("caption") or ""), "media": _media(datos)}
    if tipo == "reply":
        return _respuesta(datos)
    if tipo == "location":
        partes = (datos.get("name"), datos.get("address"))
        return {"texto": " — ".join(str(p) for p in partes if p)}
    if tipo == "action" and datos.get("type") == "reaction":
        return {
            "tipo": "reaction",
            "texto": str(datos.get("emoji") or ""),
            "contexto": str(datos.get("target") or ""),
        }
    return None


def _respuesta(datos: dict[str, Any]) -> dict[str, Any] | None:
    tipo = str(datos.get("type") or "")
    elegido = datos.get(tipo) if isinstance(datos.get(tipo), dict) else None
    if elegido is None:
        return None
    identificador = str(elegido.get("id") or "")
    for prefijo in PREFIJOS_RESPUESTA:
        identificador = identificador.removeprefix(prefijo)
    return {
        "tipo": "interactive",
        "texto": str(elegido.get("title") or ""),
        "respuesta_id": identificador,
    }


def _media(datos: dict[str, Any]) -> Media | None:
    if not datos.get("id"):
        return None
    return Media(
        id=str(datos["id"]),
        mime=str(datos.get("mime_type") or ""),
        sha256=str(datos.get("sha256") or ""),
        nombre=str(datos.get("filename") or ""),
        caption=str(datos.get("caption") or ""),
        url=str(datos.get("link") or ""),
    )


def _citado(item: dict[str, Any]) -> str:
    contexto = item.get("context")
    return str(contexto.get("quoted_id") or "") if isinstance(contexto, dict) else ""


# -- values -------------------------------------------------------------------------------


def digitos(chat_id: Any) -> str:
    """``"5215512345678@s.whatsapp.net"`` or ``"+52 1 55…"`` -> ``"5215512345678"``."""
    texto = str(chat_id or "").removesuffix(PERSONA)
    return "".join(caracter for caracter in texto if caracter.isdigit())


def fecha(timestamp: Any) -> datetime | None:
    """A Unix timestamp (number or numeric text) as an aware datetime, or None."""
    try:
        segundos = float(timestamp)
        return fecha_posible(datetime.fromtimestamp(segundos, tz=UTC))
    except (TypeError, ValueError, OverflowError, OSError):
        return None
