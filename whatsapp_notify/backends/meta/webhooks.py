"""Meta webhooks: the signature, the subscription handshake and the body read into events.

:func:`parse` turns one body into the events of :mod:`whatsapp_notify.events`: every
``entry``, every change and every status, message or preference in it, in body order. What
this version does not understand (a field, a key, an item of another shape) becomes an
:class:`~whatsapp_notify.events.EventoDesconocido` that keeps the raw item; only a body that
is not a JSON object raises. Shapes: ``reference/cloud_api.md`` §5 and the examples of
``paths./whatsapp/webhooks`` in Meta's OpenAPI description. No model is imported here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ...events import (
    BAJA_MARKETING,
    UNKNOWN,
    ErrorProveedor,
    Evento,
    EventoDesconocido,
    EventoError,
    EventoEstado,
    EventoMensaje,
    EventoPlantilla,
    EventoPreferencia,
    Media,
    fecha_posible,
    normalizar_idioma,
)
from ...exceptions import WebhookMalformado, WebhookRechazado
from ...messages import texto_almacenable
from .errors import MARKETING_DETENIDO, describe_error

logger = logging.getLogger(__name__)

Json = dict[str, Any]

OBJETO = "whatsapp_business_account"
CABECERA_FIRMA = "X-Hub-Signature-256"
_FIRMA_RE = re.compile(r"sha256=([0-9a-fA-F]{64})")
MEDIA = ("image", "video", "audio", "sticker", "document")
# Keys of a ``messages`` change that give context to its lists but are no events themselves.
CLAVES_CONTEXTO = frozenset({"messaging_product", "metadata", "contacts"})
_TIPOS_JSON = {list: "una lista", str: "un texto", int: "un número", float: "un número"}


# -- signature and handshake -------------------------------------------------------------


def secretos(valor: Any) -> list[str]:
    """The app secrets of an ``APP_SECRET`` option: one text, or a list while rotating."""
    valores = [valor] if isinstance(valor, str) else valor
    if not isinstance(valores, list | tuple):
        return []
    return [secreto for secreto in valores if isinstance(secreto, str) and secreto]


def verificar_firma(raw: bytes, headers: Mapping[str, str], claves: Sequence[str]) -> None:
    """Check ``X-Hub-Signature-256: sha256=<hex>`` against HMAC-SHA256 of the raw bytes.

    Raises:
        WebhookRechazado: no secret, no header, a malformed header, or no secret matches.
    """
    if not claves:
        raise WebhookRechazado("No hay APP_SECRET configurado: no se puede verificar la firma.")
    cabecera = _cabecera(headers, CABECERA_FIRMA)
    if cabecera is None:
        raise WebhookRechazado(f"Falta la cabecera {CABECERA_FIRMA}.")
    firma = _FIRMA_RE.fullmatch(cabecera.strip())
    if firma is None:
        raise WebhookRechazado(f"La cabecera {CABECERA_FIRMA} no tiene la forma sha256=<hex>.")
    recibida = firma.group(1).lower()
    # Every secret is compared, each in constant time: no early exit tells which one matched.
    coincidencias = [hmac.compare_digest(_hmac(clave, raw), recibida) for clave in claves]
    if not any(coincidencias):
        raise WebhookRechazado(f"La firma {CABECERA_FIRMA} no coincide con ningún APP_SECRET.")


def verificar_desafio(params: Mapping[str, str], token: str) -> str:
    """The ``hub.challenge`` to echo when ``hub.mode`` is subscribe and the token matches.

    Raises:
        WebhookRechazado: no token configured, another mode, wrong token, or no challenge.
    """
    if not token:
        raise WebhookRechazado("No hay VERIFY_TOKEN configurado: se rechaza la verificación.")
    recibido = params.get("hub.verify_token")
    valido = isinstance(recibido, str) and hmac.compare_digest(recibido.encode(), token.encode())
    desafio = params.get("hub.challenge")
    if params.get("hub.mode") != "subscribe" or not valido or not desafio:
        raise WebhookRechazado("Verificación rechazada: hub.mode o hub.verify_token no coinciden.")
    return str(desafio)


def _hmac(clave: str, raw: bytes) -> str:
    return hmac.new(clave.encode(), raw, hashlib.sha256).hexdigest()


def _cabecera(headers: Mapping[str, str], nombre: str) -> str | None:
    # Django's request.headers ignores case already; a plain dict may not.
    valor = headers.get(nombre)
    if valor is None:
        valor = next((v for k, v in headers.items() if k.lower() == nombre.lower()), None)
    return valor if isinstance(valor, str) else None


# -- the body ------------------------------------------------------------------------------


def parse(raw: bytes | str) -> list[Evento]:
    """Every event of a webhook body, in body order.

    Raises:
        WebhookMalformado: not JSON, or not a JSON object.
    """
    return eventos(cuerpo(raw))


def cuerpo(raw: bytes | str) -> Json:
    """The decoded body.

    Raises:
        WebhookMalformado: not JSON (or not UTF-8), or not a JSON object.
    """
    # Only a body that may hold NUL or half a surrogate pair is cleaned string by string.
    limpiar = {"object_hook": _texto_almacenable_objeto} if _puede_ensuciar(raw) else {}
    try:
        datos = json.loads(raw, **limpiar)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise WebhookMalformado("El cuerpo del webhook no es JSON válido.") from exc
    if not isinstance(datos, dict):
        tipo = _TIPOS_JSON.get(type(datos), "un valor suelto")
        raise WebhookMalformado(f"El cuerpo del webhook debe ser un objeto JSON, no {tipo}.")
    return datos


# In JSON text, NUL and surrogates can only come escaped (strict decoding refuses a raw
# control character; UTF-8 has no surrogates): ``\u0000``, ``\uD800``-``\uDFFF``. A str
# body may also hold a surrogate as it is. A match is only a maybe (a whole pair, an escaped
# backslash before "u0000"): that body is cleaned, with the same result.
_ESCAPE_SUCIO = r"\\u(?:0000|[dD][89a-fA-F])"
_SUCIO_BYTES = re.compile(_ESCAPE_SUCIO.encode())
_SUCIO_TEXTO = re.compile(_ESCAPE_SUCIO + "|[\ud800-\udfff]")


def _puede_ensuciar(raw: bytes | str) -> bool:
    """False when no string of the decoded body can hold what ``texto_almacenable`` removes."""
    patron = _SUCIO_TEXTO if isinstance(raw, str) else _SUCIO_BYTES
    return patron.search(raw) is not None


def _texto_almacenable(valor: Any) -> Any:
    if isinstance(valor, str):
        return texto_almacenable(valor)
    if isinstance(valor, list):
        return [_texto_almacenable(elemento) for elemento in valor]
    return valor


def _texto_almacenable_objeto(objeto: dict[str, Any]) -> dict[str, Any]:
    # Every string of the body enters here, while decoding (NUL and lone surrogates would
    # make the row unwritable: ``texto_almacenable``): nested objects were cleaned by
    # their own hook call; their keys, strings and lists are cleaned here.
    return {_texto_almacenable(clave): _texto_almacenable(v) for clave, v in objeto.items()}


def eventos(datos: Json) -> list[Evento]:
    """The events of a decoded body: each change of each entry, in order."""
    objeto = datos.get("object", OBJETO)
    if objeto != OBJETO:
        return [_desconocido("object", "objeto distinto de whatsapp_business_account", datos)]
    entradas = datos.get("entry")
    if not isinstance(entradas, list):
        return [_desconocido("entry", "el cuerpo no trae la lista entry", datos)]
    return [evento for entrada in entradas for evento in _de_entrada(entrada)]


def _de_entrada(entrada: Any) -> list[Evento]:
    cambios = entrada.get("changes") if isinstance(entrada, dict) else None
    if not isinstance(cambios, list):
        return [_desconocido("entry", "entrada sin la lista changes", entrada)]
    waba_id = _texto(entrada.get("id"))
    return [evento for cambio in cambios for evento in _de_cambio(cambio, waba_id)]


def _de_cambio(cambio: Any, waba_id: str = "") -> list[Evento]:
    valor = cambio.get("value") if isinstance(cambio, dict) else None
    if not isinstance(valor, dict):
        return [_desconocido("changes", "cambio sin el objeto value", cambio)]
    campo = cambio.get("field") if isinstance(cambio.get("field"), str) else ""
    numero_id = _texto(_dict(valor.get("metadata")).get("phone_number_id"))
    contexto = _Contexto(numero_id, waba_id=waba_id)
    lector = CAMPOS.get(campo)
    if lector is None:
        return [_desconocido(campo, "campo no soportado", cambio, contexto.numero_id)]
    return lector(valor, contexto)


@dataclass(frozen=True)
class _Contexto:
    """What the items of one change share: the business number and the senders' profiles."""

    numero_id: str
    contactos: dict[str, Json] = field(default_factory=dict)
    waba_id: str = ""  # the entry's id: the WhatsApp Business Account

    def contacto(self, de: str) -> Json:
        if de in self.contactos:
            return self.contactos[de]
        # Username users may arrive without "from" (2026): a lone contact is theirs.
        if not de and len(self.contactos) == 1:
            return next(iter(self.contactos.values()))
        return {}


# -- field "messages": statuses, messages and errors ------------------------------------------


def _de_messages(valor: Json, contexto: _Contexto) -> list[Evento]:
    contexto = _Contexto(contexto.numero_id, _contactos(valor.get("contacts")))
    resultado: list[Evento] = []
    for clave, contenido in valor.items():
        if clave in CLAVES_CONTEXTO:
            continue
        lector = LISTAS.get(clave)
        if lector is None:
            resultado.append(
                _desconocido(clave, "clave no soportada", {clave: contenido}, contexto.numero_id)
            )
        else:
            resultado += lector(contenido, contexto)
    if set(valor) <= CLAVES_CONTEXTO:
        motivo = "sin messages, statuses ni errors"
        resultado.append(_desconocido("messages", motivo, valor, contexto.numero_id))
    return resultado


def _contactos(valor: Any) -> dict[str, Json]:
    return {_texto(c.get("wa_id")): c for c in _lista(valor) if isinstance(c, dict)}


def _estados(lista: Any, contexto: _Contexto) -> list[Evento]:
    return _cada(lista, "statuses", contexto, _estado)


def _mensajes(lista: Any, contexto: _Contexto) -> list[Evento]:
    return _cada(lista, "messages", contexto, _mensaje)


def _errores_de_cuenta(lista: Any, contexto: _Contexto) -> list[Evento]:
    errores = _errores(lista)
    if errores:
        raw = {"errors": lista}
        return [EventoError(numero_id=contexto.numero_id, raw=raw, errores=errores)]
    if lista == []:
        return []
    motivo = "errors sin errores legibles"
    return [_desconocido("errors", motivo, {"errors": lista}, contexto.numero_id)]


def _cada(
    lista: Any, campo: str, contexto: _Contexto, lector: Callable[[Json, _Contexto], Evento]
) -> list[Evento]:
    """``lector`` applied to each item; an item it cannot read becomes EventoDesconocido."""
    if not isinstance(lista, list):
        return [_desconocido(campo, "no es una lista", {campo: lista}, contexto.numero_id)]
    return [_seguro(lector, item, campo, contexto) for item in lista]


def _seguro(
    lector: Callable[[Json, _Contexto], Evento], item: Any, campo: str, contexto: _Contexto
) -> Evento:
    if not isinstance(item, dict):
        return _desconocido(
            campo, "elemento que no es un objeto", {campo: item}, contexto.numero_id
        )
    try:
        return lector(item, contexto)
    except Exception as exc:  # one odd item must not lose the rest of the body
        error = type(exc).__name__
        logger.warning("Webhook de Meta: un elemento de %s no se pudo leer (%s)", campo, error)
        logger.debug("Elemento de webhook no legible", exc_info=True)
        return _desconocido(campo, f"forma no reconocida ({error})", item, contexto.numero_id)


# -- statuses ----------------------------------------------------------------------------


def _estado(item: Json, contexto: _Contexto) -> Evento:
    wamid = _texto(item.get("id"))
    if not wamid:
        return _desconocido("statuses", "estado sin id", item, contexto.numero_id)
    return EventoEstado(
        numero_id=contexto.numero_id,
        raw=item,
        wamid=wamid,
        estado=_texto(item.get("status")) or UNKNOWN,
        fecha=_fecha(item.get("timestamp")),
        destinatario=_texto(item.get("recipient_id")),
        referencia=_texto(item.get("biz_opaque_callback_data")),
        errores=_errores(item.get("errors")),
        **_conversacion(_dict(item.get("conversation"))),
        **_precio(_dict(item.get("pricing"))),
    )


def _conversacion(conversacion: Json) -> Json:
    return {
        "conversacion_id": _texto(conversacion.get("id")),
        "conversacion_expira": _fecha(conversacion.get("expiration_timestamp")),
        "conversacion_origen": _texto(_dict(conversacion.get("origin")).get("type")),
    }


def _precio(precio: Json) -> Json:
    # ``billable`` is being deprecated by Meta; ``type`` and ``category`` stay.
    billable = precio.get("billable")
    return {
        "facturable": billable if isinstance(billable, bool) else None,
        "precio_modelo": _texto(precio.get("pricing_model")),
        "precio_tipo": _texto(precio.get("type")),
        "precio_categoria": _texto(precio.get("category")),
    }


# -- messages ----------------------------------------------------------------------------


def _mensaje(item: Json, contexto: _Contexto) -> Evento:
    wamid = _texto(item.get("id"))
    if not wamid:
        return _desconocido("messages", "mensaje sin id", item, contexto.numero_id)
    tipo = _texto(item.get("type")) or UNKNOWN
    contenido = _contenido(tipo, item)
    if contenido is None:
        motivo = f"mensaje {tipo} sin su objeto {tipo}"
        return _desconocido("messages", motivo, item, contexto.numero_id)
    de = _texto(item.get("from"))
    perfil = contexto.contacto(de)
    datos: Json = {
        "nombre": _texto(_dict(perfil.get("profile")).get("name")),
        "user_id": _texto(perfil.get("user_id")),
        "contexto_wamid": _texto(_dict(item.get("context")).get("id")),
        "errores": _errores(item.get("errors")),
        **contenido,
    }
    fecha = _fecha(item.get("timestamp"))
    return EventoMensaje(
        numero_id=contexto.numero_id, raw=item, wamid=wamid, de=de, tipo=tipo, fecha=fecha, **datos
    )


def _contenido(tipo: str, item: Json) -> Json | None:
    """The type-specific fields of a message; None when its object has the wrong shape."""
    forma, lector = TIPOS.get(tipo, (None, None))
    datos = item.get(tipo)
    if lector is None:
        if tipo not in ("unsupported", UNKNOWN):
            logger.info(
                "Webhook de Meta: tipo de mensaje %r no soportado; se guarda tal cual", tipo
            )
        return _generico(datos)
    if not isinstance(datos, forma):
        return None
    return lector(datos)


def _de_text(datos: Json) -> Json:
    return {"texto": _texto(datos.get("body"))}


def _de_media(datos: Json) -> Json:
    caption = _texto(datos.get("caption"))
    media_id, url = _texto(datos.get("id")), _texto(datos.get("url"))
    if not media_id and not url:
        return {"texto": caption}
    media = Media(
        id=media_id,
        mime=_texto(datos.get("mime_type")),
        sha256=_texto(datos.get("sha256")),
        nombre=_texto(datos.get("filename")),
        caption=caption,
        url=url,
    )
    return {"texto": caption, "media": media}


def _de_location(datos: Json) -> Json:
    lugar = ", ".join(p for p in (_texto(datos.get("name")), _texto(datos.get("address"))) if p)
    latitud, longitud = _texto(datos.get("latitude")), _texto(datos.get("longitude"))
    if not lugar and latitud and longitud:
        lugar = f"{latitud},{longitud}"
    return {"texto": lugar}


def _de_contacts(datos: list[Any]) -> Json:
    nombres = [_nombre_contacto(_dict(c.get("name"))) for c in datos if isinstance(c, dict)]
    return {"texto": ", ".join(nombre for nombre in nombres if nombre)}


def _nombre_contacto(nombre: Json) -> str:
    partes = (_texto(nombre.get("first_name")), _texto(nombre.get("last_name")))
    return _texto(nombre.get("formatted_name")) or " ".join(p for p in partes if p)


def _de_reaction(datos: Json) -> Json:
    # An empty or missing emoji means the reaction was removed.
    return {"texto": _texto(datos.get("emoji")), "contexto_wamid": _texto(datos.get("message_id"))}


def _de_interactive(datos: Json) -> Json:
    subtipo = _texto(datos.get("type"))
    elegido = _dict(datos.get(subtipo)) if subtipo else {}
    if subtipo == "nfm_reply":
        return _de_flow(elegido)
    return {"texto": _texto(elegido.get("title")), "respuesta_id": _texto(elegido.get("id"))}


def _de_flow(respuesta: Json) -> Json:
    # A Flow's answer is identified by the flow_token we chose when sending it.
    try:
        datos = json.loads(_texto(respuesta.get("response_json")) or "{}")
    except ValueError:
        datos = {}
    token = _texto(datos.get("flow_token")) if isinstance(datos, dict) else ""
    return {"texto": _texto(respuesta.get("body")), "respuesta_id": token}


def _de_button(datos: Json) -> Json:
    # A template quick reply: ``payload`` is what we set when sending (or the button text).
    return {"texto": _texto(datos.get("text")), "respuesta_id": _texto(datos.get("payload"))}


def _de_order(datos: Json) -> Json:
    productos = [_producto(p) for p in _lista(datos.get("product_items")) if isinstance(p, dict)]
    partes = (_texto(datos.get("text")), "; ".join(productos))
    return {"texto": " — ".join(parte for parte in partes if parte)}


def _producto(producto: Json) -> str:
    """``2 × di9ozbzfi4 (30 USD)``."""
    cantidad = _texto(producto.get("quantity")) or "1"
    linea = f"{cantidad} × {_texto(producto.get('product_retailer_id'))}"
    precio = " ".join(
        p for p in (_texto(producto.get("item_price")), _texto(producto.get("currency"))) if p
    )
    return f"{linea} ({precio})" if precio else linea


def _de_system(datos: Json) -> Json:
    return {"texto": _texto(datos.get("body"))}


def _generico(datos: Any) -> Json:
    """Best effort for a type this version does not know: the first readable text."""
    datos = _dict(datos)
    claves = ("body", "text", "caption", "title")
    return {"texto": next((_texto(datos[c]) for c in claves if _texto(datos.get(c))), "")}


LISTAS: dict[str, Callable[[Any, _Contexto], list[Evento]]] = {
    "statuses": _estados,
    "messages": _mensajes,
    "errors": _errores_de_cuenta,
}
TIPOS: dict[str, tuple[type, Callable[[Any], Json]]] = {
    "text": (dict, _de_text),
    **dict.fromkeys(MEDIA, (dict, _de_media)),
    "location": (dict, _de_location),
    "contacts": (list, _de_contacts),
    "reaction": (dict, _de_reaction),
    "interactive": (dict, _de_interactive),
    "button": (dict, _de_button),
    "order": (dict, _de_order),
    "system": (dict, _de_system),
}


# -- field "user_preferences" ---------------------------------------------------------------


def _de_user_preferences(valor: Json, contexto: _Contexto) -> list[Evento]:
    return _cada(valor.get("user_preferences"), "user_preferences", contexto, _preferencia)


def _preferencia(item: Json, contexto: _Contexto) -> Evento:
    wa_id, valor = _texto(item.get("wa_id")), _texto(item.get("value"))
    if not wa_id or not valor:
        motivo = "preferencia sin wa_id o value"
        return _desconocido("user_preferences", motivo, item, contexto.numero_id)
    return EventoPreferencia(
        numero_id=contexto.numero_id,
        raw=item,
        wa_id=wa_id,
        categoria=_texto(item.get("category")),
        valor=valor,
        fecha=_fecha(item.get("timestamp")),
    )


# -- field "message_template_status_update" (reference/cloud_api.md §4.3) --------------------

CAMPO_PLANTILLAS = "message_template_status_update"


def _de_template_status(valor: Json, contexto: _Contexto) -> list[Evento]:
    return [_seguro(_plantilla, valor, CAMPO_PLANTILLAS, contexto)]


def _plantilla(valor: Json, contexto: _Contexto) -> Evento:
    nombre = _texto(valor.get("message_template_name"))
    idioma = _texto(valor.get("message_template_language"))
    estado = _texto(valor.get("event")).upper()
    if not (nombre and idioma and estado):
        motivo = "plantilla sin nombre, idioma o event"
        return _desconocido(CAMPO_PLANTILLAS, motivo, valor, contexto.numero_id)
    return EventoPlantilla(
        numero_id=contexto.numero_id,
        raw=valor,
        waba_id=contexto.waba_id,
        plantilla_id=_texto(valor.get("message_template_id")),
        nombre=nombre,
        idioma=normalizar_idioma(idioma),
        estado=estado,
        categoria=_texto(valor.get("message_template_category")).upper(),
        motivo=_motivo_plantilla(valor.get("reason")),
        detalle=_detalle_plantilla(valor),
    )


def _motivo_plantilla(reason: Any) -> str:
    # "NONE" (and null, for a template scheduled for deletion) mean no reason.
    motivo = _texto(reason)
    return "" if motivo.upper() == "NONE" else motivo


def _detalle_plantilla(valor: Json) -> str:
    """Rejection, pause or disable information, as one line."""
    rechazo, otro = _dict(valor.get("rejection_info")), _dict(valor.get("other_info"))
    fecha = _fecha(_dict(valor.get("disable_info")).get("disable_date"))
    partes = (
        _texto(rechazo.get("reason")),
        _texto(rechazo.get("recommendation")),
        _texto(otro.get("title")),
        _texto(otro.get("description")),
        f"deshabilitada el {fecha:%Y-%m-%d}" if fecha else "",
    )
    return " — ".join(parte for parte in partes if parte)


# The change fields this version reads; any other becomes EventoDesconocido(campo=field).
CAMPOS: dict[str, Callable[[Json, _Contexto], list[Evento]]] = {
    "messages": _de_messages,
    "user_preferences": _de_user_preferences,
    CAMPO_PLANTILLAS: _de_template_status,
}


# -- small readers that never raise ------------------------------------------------------------


def _desconocido(campo: str, motivo: str, raw: Any, numero_id: str = "") -> EventoDesconocido:
    datos = raw if isinstance(raw, dict) else {campo or "valor": raw}
    return EventoDesconocido(numero_id=numero_id, raw=datos, campo=campo, motivo=motivo)


def _errores(valor: Any) -> tuple[ErrorProveedor, ...]:
    return tuple(_error(error) for error in _lista(valor) if isinstance(error, dict))


def _error(error: Json) -> ErrorProveedor:
    datos = error.get("error_data")
    # ``error_data`` is an object here, but a plain string in some Graph answers.
    detalle = datos.get("details") if isinstance(datos, dict) else datos
    codigo, detalle = _entero(error.get("code")), _texto(detalle)
    return ErrorProveedor(
        code=codigo,
        title=_texto(error.get("title")),
        message=_texto(error.get("message")),
        details=detalle,
        legible=describe_error(codigo, detalle),
        significado=BAJA_MARKETING if codigo == MARKETING_DETENIDO else "",
    )


def _texto(valor: Any) -> str:
    """Text of a scalar (numbers as Meta would write them); ``""`` for anything else."""
    if isinstance(valor, str):
        return valor
    if isinstance(valor, bool) or not isinstance(valor, int | float):
        return ""
    return str(int(valor)) if isinstance(valor, float) and valor.is_integer() else str(valor)


def _entero(valor: Any) -> int | None:
    if isinstance(valor, bool):
        return None
    try:
        return int(valor)
    except (TypeError, ValueError, OverflowError):
        return None


def _fecha(valor: Any) -> datetime | None:
    """A Unix-seconds timestamp (Meta sends strings) as an aware UTC datetime.

    None (absent) when it is not a number or no real clock wrote it (``fecha_posible``).
    """
    segundos = _entero(valor)
    if segundos is None:
        return None
    try:
        return fecha_posible(datetime.fromtimestamp(segundos, tz=UTC))
    except (OverflowError, OSError, ValueError):
        return None


def _dict(valor: Any) -> Json:
    return valor if isinstance(valor, dict) else {}


def _lista(valor: Any) -> list[Any]:
    return valor if isinstance(valor, list) else []
