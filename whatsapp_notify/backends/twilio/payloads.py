"""Twilio Messages API forms (``POST /2010-04-01/Accounts/{Sid}/Messages.json``) and answers.

Pure functions from the message value objects to the form fields Twilio expects (as a
list of pairs, in order), and back from its ``201`` Message resource to a
:class:`~..base.Resultado`. Shapes: ``reference/cloud_api.md`` §10.1. URLs (the document
link, the status callback) are built by the backend and handed in.
"""

from __future__ import annotations

import json
from typing import Any

from ...exceptions import AmbiguousError
from ...messages import Texto, Variables
from ..base import Resultado, UnsupportedContent

Formulario = list[tuple[str, str]]

CANAL = "whatsapp:"
MAX_BODY = 1600  # Twilio's Body limit (characters), below WhatsApp's 4,096
MAX_VARIABLES = 100  # ContentVariables holds at most 100 key/value pairs
MAX_MEDIA_BYTES = 16 * 1024 * 1024  # a WhatsApp message through Twilio: 16 MB in all
#: The variable of a named template whose value is the header document's URL path.
VARIABLE_DOCUMENTO = "documento"


def direccion(telefono: str) -> str:
    """``whatsapp:+<digits>``: how Twilio addresses a WhatsApp user or sender."""
    numero = telefono.removeprefix(CANAL).strip()
    return f"{CANAL}{numero if numero.startswith('+') else '+' + numero}"


def mensaje(
    telefono: str, remitente: Formulario, contenido: Formulario, status_callback: str = ""
) -> Formulario:
    """The whole form: ``To``, the sender (``From`` or ``MessagingServiceSid``), the
    content fields and ``StatusCallback`` when there is one."""
    campos = [("To", direccion(telefono)), *remitente, *contenido]
    if status_callback:
        campos.append(("StatusCallback", status_callback))
    return campos


def plantilla(content_sid: str, variables: dict[str, str]) -> Formulario:
    """A Content template: ``ContentSid`` and ``ContentVariables`` (a JSON **string**).

    No ``Body`` and no ``MediaUrl``: Twilio takes both from the template.
    """
    campos = [("ContentSid", content_sid)]
    if variables:
        campos.append(("ContentVariables", json.dumps(variables, ensure_ascii=False)))
    return campos


def variables_de_contenido(variables: Variables, documento: str = "") -> dict[str, str]:
    """``{"1": "Ana", "2": "OT-42"}`` for positional variables, their names for named ones.

    ``documento`` is the URL path of a header document: it is the next positional variable
    after the body's (``{{n+1}}``), or the variable ``documento`` of a named template.

    Raises:
        UnsupportedContent: more than 100 variables (Twilio's limit), or a named template
            with a document that also has a variable called ``documento``.
    """
    if isinstance(variables, dict):
        valores = dict(variables)
        if documento and VARIABLE_DOCUMENTO in valores:
            raise UnsupportedContent(
                f"La variable «{VARIABLE_DOCUMENTO}» de una plantilla de Twilio lleva la URL "
                "del documento adjunto: renombra esa variable en la plantilla y en la llamada."
            )
        if documento:
            valores[VARIABLE_DOCUMENTO] = documento
    else:
        valores = {str(posicion): valor for posicion, valor in enumerate(variables, start=1)}
        if documento:
            valores[str(len(variables) + 1)] = documento
    if len(valores) > MAX_VARIABLES:
        raise UnsupportedContent(
            f"Twilio admite como máximo {MAX_VARIABLES} variables en ContentVariables; la "
            f"plantilla recibió {len(valores)}."
        )
    return valores


def texto(texto: Texto) -> Formulario:
    """Free text (``Body``), inside the 24-hour window.

    Raises:
        UnsupportedContent: longer than Twilio's 1,600 characters.
    """
    if len(texto.cuerpo) > MAX_BODY:
        raise UnsupportedContent(
            f"Twilio admite textos de hasta {MAX_BODY} caracteres y este tiene "
            f"{len(texto.cuerpo)}: divídelo en varios mensajes."
        )
    return [("Body", texto.cuerpo)]


def documento(url: str) -> Formulario:
    """A document Twilio fetches from ``url`` (``MediaUrl``), without ``Body``."""
    return [("MediaUrl", url)]


def imagen(url: str, caption: str = "") -> Formulario:
    """An image Twilio fetches from ``url`` (``MediaUrl``), ``caption`` as its ``Body``."""
    return [("MediaUrl", url), *([("Body", caption)] if caption else [])]


# -- answers -----------------------------------------------------------------------------


def resultado(cuerpo: Any) -> Resultado:
    """Read ``sid`` (``SM…``/``MM…``) from the Message resource Twilio answers with.

    Raises:
        AmbiguousError: no ``sid``. Twilio took the request and may send it; the envío
            waits for its status callback, which carries the envío's reference.
    """
    cuerpo = cuerpo if isinstance(cuerpo, dict) else {}
    sid = cuerpo.get("sid")
    if not isinstance(sid, str) or not sid:
        raise AmbiguousError(
            "Twilio aceptó el mensaje pero no devolvió su identificador (sid).", http_status=201
        )
    return Resultado(id=sid, wa_id="", raw=cuerpo)
