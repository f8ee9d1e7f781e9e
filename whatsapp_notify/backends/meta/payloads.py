"""Cloud API message payloads (``POST /{version}/{PHONE_NUMBER_ID}/messages``) and answers.

Pure functions from the message value objects of :mod:`whatsapp_notify.messages` to the
JSON Meta expects, and back from its send answer to a :class:`~..base.Resultado`. Media is
not uploaded here: the backend hands in the ``{"id", "filename"}`` of a document it
uploaded. Shapes: ``reference/cloud_api.md`` §1 and §2; tests validate them against
Meta's OpenAPI description.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...exceptions import AmbiguousError, MessageError
from ...messages import (
    Botones,
    BotonPlantilla,
    BotonRapido,
    Documento,
    Imagen,
    Lista,
    Plantilla,
    Reaccion,
    Salida,
    Seccion,
    Texto,
    Ubicacion,
    Variables,
    Video,
)
from ..base import Resultado

Json = dict[str, Any]


def mensaje(salida: Salida, tipo: str, contenido: Json) -> Json:
    """The common envelope of every message; ``referencia`` comes back in status webhooks."""
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": f"+{salida.telefono}",
        "type": tipo,
        tipo: contenido,
    }
    if salida.referencia:
        payload["biz_opaque_callback_data"] = salida.referencia
    if salida.responde_a:
        payload["context"] = {"message_id": salida.responde_a}  # quoted above the message
    return payload


def plantilla(salida: Salida, plantilla: Plantilla, documento: Json | None = None) -> Json:
    """A ``template`` message; ``documento`` is the uploaded header document, if any."""
    template: Json = {"name": plantilla.nombre}
    template["language"] = {"code": plantilla.idioma}
    if componentes := _componentes(plantilla, documento):
        template["components"] = componentes
    return mensaje(salida, "template", template)


def _componentes(plantilla: Plantilla, documento: Json | None) -> list[Json]:
    componentes = []
    if documento is not None:  # uploaded: {"id", "filename"}; image and video take the id only
        componentes.append(componente("header", [_media(plantilla.documento, documento)]))
    elif plantilla.encabezado:
        componentes.append(componente("header", [{"type": "text", "text": plantilla.encabezado}]))
    # A component without variables is left out: Meta counts parameters per component.
    if plantilla.variables:
        componentes.append(componente("body", parametros(plantilla.variables)))
    for indice, boton in enumerate(plantilla.botones):
        if boton is not None:
            componentes.append(boton_de_plantilla(indice, boton))
    return componentes


def boton_de_plantilla(indice: int, boton: BotonPlantilla) -> Json:
    """A ``button`` component: a quick reply's payload or a URL button's suffix."""
    if isinstance(boton, BotonRapido):
        sub_type, parametro = "quick_reply", {"type": "payload", "payload": boton.payload}
    else:
        sub_type, parametro = "url", {"type": "text", "text": boton.sufijo}
    return {"type": "button", "sub_type": sub_type, "index": str(indice), "parameters": [parametro]}


def reaccion(salida: Salida, reaccion: Reaccion) -> Json:
    """A ``reaction`` on the customer's message ``salida.responde_a`` (never quoted).

    Raises:
        MessageError: no message to react to.
    """
    if not salida.responde_a:
        raise MessageError("Una reacción necesita el mensaje del cliente (responde_a).")
    payload = mensaje(
        replace(salida, responde_a=""), "reaction",
        {"message_id": salida.responde_a, "emoji": reaccion.emoji},
    )  # fmt: skip
    return payload


def ubicacion(salida: Salida, ubicacion: Ubicacion) -> Json:
    """A ``location`` message; Meta takes the degrees as text (its OpenAPI description)."""
    cuerpo: Json = {"latitude": repr(ubicacion.latitud), "longitude": repr(ubicacion.longitud)}
    if ubicacion.nombre:
        cuerpo["name"] = ubicacion.nombre
    if ubicacion.direccion:
        cuerpo["address"] = ubicacion.direccion
    return mensaje(salida, "location", cuerpo)


def leido(wamid: str, *, escribiendo: bool = False) -> Json:
    """Mark the inbound ``wamid`` read; ``escribiendo`` also shows the typing indicator."""
    cuerpo: Json = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
    if escribiendo:
        cuerpo["typing_indicator"] = {"type": "text"}
    return cuerpo


def imagen(salida: Salida, media_id: str, caption: str = "") -> Json:
    """An ``image`` message of the uploaded image ``media_id``, ``caption`` under it."""
    cuerpo = {"id": media_id}
    if caption:
        cuerpo["caption"] = caption
    return mensaje(salida, "image", cuerpo)


def documento(salida: Salida, documento: Json, caption: str = "") -> Json:
    """A ``document`` message of the uploaded ``documento`` (``{"id", "filename"}``)."""
    cuerpo = dict(documento)
    if caption:
        cuerpo["caption"] = caption
    return mensaje(salida, "document", cuerpo)


def texto(salida: Salida, texto: Texto) -> Json:
    """A ``text`` message (free text, inside the 24-hour window)."""
    cuerpo: Json = {"body": texto.cuerpo}
    if texto.preview_url:
        cuerpo["preview_url"] = True
    return mensaje(salida, "text", cuerpo)


def botones(salida: Salida, botones: Botones, adjunto: Json | None = None) -> Json:
    """An ``interactive`` message of type ``button`` (reply buttons); ``adjunto`` is the
    uploaded media header (``{"id", "filename"}``), if any."""
    accion = {
        "buttons": [
            {"type": "reply", "reply": {"id": boton.id, "title": boton.titulo}}
            for boton in botones.botones
        ]
    }
    cuerpo = interactivo("button", botones.cuerpo, botones.encabezado, botones.pie)
    if adjunto is not None:
        cuerpo = {"type": cuerpo.pop("type"), "header": _media(botones.adjunto, adjunto), **cuerpo}
    return mensaje(salida, "interactive", {**cuerpo, "action": accion})


def _media(archivo: Documento, subido: Json) -> Json:
    """A media ``header`` object: image and video by id, a document with its file name."""
    if isinstance(archivo, Imagen | Video):
        tipo = "image" if isinstance(archivo, Imagen) else "video"
        return {"type": tipo, tipo: {"id": subido["id"]}}
    return {"type": "document", "document": subido}


def lista(salida: Salida, lista: Lista) -> Json:
    """An ``interactive`` message of type ``list`` (a list picker)."""
    accion = {"button": lista.boton, "sections": [seccion(s) for s in lista.secciones]}
    cuerpo = interactivo("list", lista.cuerpo, lista.encabezado, lista.pie)
    return mensaje(salida, "interactive", {**cuerpo, "action": accion})


# -- payload pieces ----------------------------------------------------------------------


def parametros(variables: Variables) -> list[dict[str, str]]:
    """Body parameters: in order for ``{{1}}..{{n}}``, with ``parameter_name`` when named."""
    if isinstance(variables, dict):
        return [
            {"type": "text", "parameter_name": nombre, "text": valor}
            for nombre, valor in variables.items()
        ]
    return [{"type": "text", "text": valor} for valor in variables]


def componente(tipo: str, parametros: list[Json]) -> Json:
    """One template component (``header``, ``body``) with its parameters."""
    return {"type": tipo, "parameters": parametros}


def interactivo(tipo: str, cuerpo: str, encabezado: str, pie: str) -> Json:
    """The ``interactive`` object without its ``action``: header, body and footer texts."""
    datos: Json = {"type": tipo}
    if encabezado:
        datos["header"] = {"type": "text", "text": encabezado}
    datos["body"] = {"text": cuerpo}
    if pie:
        datos["footer"] = {"text": pie}
    return datos


def seccion(seccion: Seccion) -> Json:
    """One section of a list picker; ``title`` only when the section has one."""
    filas = []
    for fila in seccion.filas:
        datos = {"id": fila.id, "title": fila.titulo}
        if fila.descripcion:
            datos["description"] = fila.descripcion
        filas.append(datos)
    return {"title": seccion.titulo, "rows": filas} if seccion.titulo else {"rows": filas}


# -- answers -----------------------------------------------------------------------------


def resultado(cuerpo: Any) -> Resultado:
    """Read ``messages[0].id`` and ``contacts[0].wa_id`` from a send answer.

    Raises:
        AmbiguousError: no message id. Meta took the request (200) and may have sent it,
            but we cannot tell; the envío waits for the status webhook, which finds it by
            ``biz_opaque_callback_data``, before anything is sent again.
    """
    cuerpo = cuerpo if isinstance(cuerpo, dict) else {}
    wamid = _primero(cuerpo, "messages").get("id")
    if not wamid:
        raise AmbiguousError(
            "Meta aceptó el mensaje pero no devolvió su id (messages[0].id).", http_status=200
        )
    wa_id = _primero(cuerpo, "contacts").get("wa_id") or ""
    return Resultado(id=str(wamid), wa_id=str(wa_id), raw=cuerpo)


def _primero(cuerpo: Json, clave: str) -> Json:
    lista = cuerpo.get(clave)
    primero = lista[0] if isinstance(lista, list) and lista else None
    return primero if isinstance(primero, dict) else {}
