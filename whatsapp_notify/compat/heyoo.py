"""heyoo's ``WhatsApp`` class on top of the outbox: migrate by changing one import.

Before::

    from heyoo import WhatsApp

After::

    from whatsapp_notify.compat.heyoo import WhatsApp

The method names and positional parameters are heyoo's; what changes (docs/en/heyoo.md):

- Nothing is sent inside the call. Each send records an ``EnvioWhatsApp`` in the caller's
  transaction and a worker delivers it after commit, with retries, idempotency and
  consent. A send returns the envío's id (``int``) instead of Meta's JSON answer.
- Credentials come from ``WHATSAPP_NOTIFY["BACKENDS"]``; the ``token`` argument is ignored.
  ``phone_number_id`` selects the account whose ``OPTIONS["PHONE_NUMBER_ID"]`` it is.
- What the outbox cannot express (media by URL or id, images, audio, video, locations,
  template header parameters other than a document given as bytes) raises
  :class:`NoSoportado`, naming what to do instead: nothing is dropped silently.
- The webhook helpers return what heyoo's return on Meta's JSON; where heyoo raises
  ``KeyError`` or ``IndexError`` (a field absent from that webhook) they return None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from ..conf import DEFAULT_ALIAS, get_settings
from ..exceptions import ConfigurationError, MessageError, VariablesError
from ..messages import Boton, Fila

__all__ = ["NoSoportado", "WhatsApp", "variables_de_componentes"]

#: heyoo's default template language (its ``send_template(lang="en_US")``).
IDIOMA_HEYOO = "en_US"


class NoSoportado(MessageError):
    """A heyoo call the outbox cannot carry out as given; the message says what to do instead."""


# -- template components ------------------------------------------------------------------


def variables_de_componentes(
    components: list[dict[str, Any]] | None,
) -> list[str] | dict[str, str]:
    """Translate Meta's template ``components`` (as heyoo takes them) into ``variables``.

    Body ``text`` parameters become a list (``{{1}}..{{n}}``), or a dict when they carry
    ``parameter_name`` (named parameters). ``currency`` and ``date_time`` parameters become
    their ``fallback_value``, the text Meta shows.

    Raises:
        VariablesError: ``components`` is not a list of dicts, or mixes named and positional
            parameters.
        NoSoportado: a header, button or other component, or a parameter type, the outbox
            cannot send from ``components`` (a header document: pass ``documento=``).
    """
    if components is None:
        return []
    if not isinstance(components, list | tuple):
        raise VariablesError(
            f"components debe ser una lista de componentes de Meta, no {type(components).__name__}."
        )
    parametros: list[dict[str, Any]] = []
    for componente in components:
        parametros += _parametros_de(componente)
    return _variables(parametros)


def _parametros_de(componente: Any) -> list[dict[str, Any]]:
    if not isinstance(componente, dict):
        raise VariablesError(f"Cada componente debe ser un dict, no {type(componente).__name__}.")
    tipo = str(componente.get("type", "")).lower()
    parametros = componente.get("parameters") or []
    if tipo == "body":
        return list(parametros)
    if tipo == "header":
        _rechazar_encabezado(parametros)
        return []  # a header without parameters carries nothing to send
    raise NoSoportado(
        f"El componente {tipo or '(sin type)'!r} de la plantilla no se puede enviar por el "
        "outbox: solo se envían los parámetros del cuerpo (body) y un documento de "
        "encabezado pasado como documento=<bytes>. Quita ese componente o envía la "
        "plantilla con whatsapp_notify.enviar_plantilla si la plantilla no lo necesita."
    )


def _rechazar_encabezado(parametros: list[Any]) -> None:
    for parametro in parametros:
        tipo = parametro.get("type") if isinstance(parametro, dict) else None
        if tipo == "document":
            raise NoSoportado(
                "El documento del encabezado llega como enlace o id de Meta, y el outbox no "
                "descarga nada durante la petición: pasa el archivo a send_template como "
                "documento=<bytes o Path> y nombre_documento='cotizacion.pdf', y quita el "
                "componente header de components."
            )
        raise NoSoportado(
            f"El parámetro de encabezado de tipo {tipo!r} no se puede enviar por el outbox: "
            "solo un documento (documento=<bytes o Path>). Usa una plantilla con encabezado "
            "fijo o de documento."
        )


def _variables(parametros: list[dict[str, Any]]) -> list[str] | dict[str, str]:
    nombres = [p.get("parameter_name") for p in parametros if isinstance(p, dict)]
    if not any(nombres):
        return [_valor(p) for p in parametros]
    if not all(nombres):
        raise VariablesError(
            "Los parámetros del cuerpo mezclan parameter_name con parámetros sin nombre: "
            "una plantilla usa solo {{1}}..{{n}} o solo nombres; pon parameter_name en todos "
            "o en ninguno."
        )
    return {p["parameter_name"]: _valor(p) for p in parametros}


def _valor(parametro: Any) -> str:
    if not isinstance(parametro, dict):
        raise VariablesError(f"Cada parámetro debe ser un dict, no {type(parametro).__name__}.")
    tipo = parametro.get("type")
    if tipo == "text":
        return parametro.get("text")
    if tipo in ("currency", "date_time"):
        # Meta shows fallback_value where it cannot localise; the outbox sends text.
        return (parametro.get(tipo) or {}).get("fallback_value")
    raise NoSoportado(
        f"El parámetro del cuerpo de tipo {tipo!r} no se puede enviar por el outbox: usa "
        "type 'text' (o 'currency'/'date_time' con fallback_value)."
    )


# -- interactive messages -----------------------------------------------------------------


def _texto(valor: Any) -> str:
    """heyoo's dicts carry text either as ``"texto"`` or as ``{"text": "texto"}``."""
    if isinstance(valor, dict):
        return str(valor.get("text") or "")
    return str(valor or "")


def _encabezado(button: dict[str, Any]) -> str:
    header = button.get("header")
    if isinstance(header, dict) and header.get("type", "text") != "text":
        raise NoSoportado(
            f"Un encabezado de tipo {header.get('type')!r} no se puede enviar por el outbox: "
            "usa un encabezado de texto o ninguno."
        )
    return _texto(header)


def _botones(button: dict[str, Any]) -> list[Boton]:
    botones = []
    for item in (button.get("action") or {}).get("buttons") or []:
        respuesta = item.get("reply") or {}
        if item.get("type", "reply") != "reply" or not respuesta:
            raise NoSoportado(
                f"El botón de tipo {item.get('type')!r} no se puede enviar: solo botones "
                "de respuesta ({'type': 'reply', 'reply': {'id': ..., 'title': ...}})."
            )
        botones.append(Boton(str(respuesta.get("id", "")), str(respuesta.get("title", ""))))
    return botones


def _secciones(action: dict[str, Any]) -> dict[str, list[Fila]]:
    secciones: dict[str, list[Fila]] = {}
    for seccion in action.get("sections") or []:
        filas = [
            Fila(str(f.get("id", "")), str(f.get("title", "")), str(f.get("description", "")))
            for f in seccion.get("rows") or []
        ]
        titulo = str(seccion.get("title", ""))
        if titulo in secciones:
            raise MessageError(f"La sección {titulo!r} se repite: dale a cada una un título.")
        secciones[titulo] = filas
    return secciones


def _api(nombre: str):
    """A send function of the public API; the ones this version lacks raise NoSoportado."""
    import whatsapp_notify

    try:
        return getattr(whatsapp_notify, nombre)
    except AttributeError:
        raise NoSoportado(
            f"Esta versión de whatsapp_notify todavía no tiene {nombre}: el outbox aún no "
            "registra mensajes interactivos. Mientras tanto envía el menú como texto "
            "(send_message) o como una plantilla aprobada con botones de respuesta rápida."
        ) from None


# -- the class ----------------------------------------------------------------------------


def cuenta_de_phone_number_id(phone_number_id: str) -> str:
    """The alias of ``BACKENDS`` whose ``OPTIONS["PHONE_NUMBER_ID"]`` is ``phone_number_id``.

    Raises:
        ConfigurationError: no account has it, naming it and the setting to add it to.
    """
    for alias, config in get_settings().BACKENDS.items():
        opciones = config.get("OPTIONS") or {}
        if str(opciones.get("PHONE_NUMBER_ID", "")) == str(phone_number_id):
            return alias
    raise ConfigurationError(
        f"Ninguna cuenta de WHATSAPP_NOTIFY['BACKENDS'] tiene PHONE_NUMBER_ID = "
        f"{str(phone_number_id)!r}: ponlo en OPTIONS de su cuenta, o crea WhatsApp() sin "
        "phone_number_id y con cuenta='<alias>'."
    )


class WhatsApp:
    """heyoo's ``WhatsApp``: the same methods, recorded through the outbox.

    Args:
        token: accepted for compatibility and ignored: the account's ``ACCESS_TOKEN`` in
            ``WHATSAPP_NOTIFY`` is used (the token never needs to live in code).
        phone_number_id: selects the account whose ``OPTIONS["PHONE_NUMBER_ID"]`` it is.
        cuenta: the account alias, when ``phone_number_id`` is not given (default
            ``"default"``).

    Raises:
        ConfigurationError: ``cuenta`` is not configured, ``phone_number_id`` matches no
            account, or both are given and name different accounts.
    """

    def __init__(
        self,
        token: str | None = None,
        phone_number_id: str | int | None = None,
        *,
        cuenta: str | None = None,
    ) -> None:
        self.phone_number_id = phone_number_id
        self.cuenta = _elegir_cuenta(phone_number_id, cuenta)

    # -- sends: each returns the envío's id -----------------------------------------------

    def send_message(
        self,
        message: str,
        recipient_id: str,
        recipient_type: str = "individual",
        preview_url: bool = True,
        *,
        tipo: str = "",
        clave: str | None = None,
        referencia: models.Model | None = None,
    ) -> int:
        """Queue a free text (``enviar_texto``); return the envío's id.

        ``preview_url`` is accepted and not applied: the outbox sends text without a link
        preview. Outside the 24-hour window the envío is ``omitido`` (``fuera_de_ventana``).
        """
        _exigir_individual(recipient_type)
        from whatsapp_notify import enviar_texto

        envio = enviar_texto(
            _internacional(recipient_id),
            message,
            cuenta=self.cuenta,
            tipo=tipo,
            clave=clave,
            referencia=referencia,
        )
        return envio.pk

    def send_template(
        self,
        template: str,
        recipient_id: str,
        components: list[dict[str, Any]] | None = None,
        lang: str = IDIOMA_HEYOO,
        *,
        documento: bytes | Path | None = None,
        nombre_documento: str | None = None,
        tipo: str = "",
        clave: str | None = None,
        referencia: models.Model | None = None,
    ) -> int:
        """Queue a template (``enviar_plantilla``) with ``components`` as its variables.

        ``components`` is translated by :func:`variables_de_componentes`. A header document
        goes as ``documento`` (bytes or a Path) and ``nombre_documento``, not as a link.
        """
        from whatsapp_notify import enviar_plantilla

        variables = variables_de_componentes(components)
        envio = enviar_plantilla(
            _internacional(recipient_id), template, variables=variables, idioma=lang,
            documento=documento, nombre_documento=nombre_documento, cuenta=self.cuenta,
            tipo=tipo, clave=clave, referencia=referencia,
        )  # fmt: skip
        return envio.pk

    def send_document(
        self,
        document: str | bytes | Path,
        recipient_id: str,
        caption: str | None = None,
        link: bool = True,
        filename: str | None = None,
        *,
        tipo: str = "",
        clave: str | None = None,
        referencia: models.Model | None = None,
    ) -> int:
        """Queue a document (``enviar_documento``) from a local path or bytes.

        Raises:
            NoSoportado: ``document`` is a URL or a media id (``link=False``), or a path
                that does not exist: the outbox stores the bytes and uploads them itself.
            MessageError: bytes without ``filename``.
        """
        from whatsapp_notify import enviar_documento

        archivo = _archivo_local(document, link)
        if isinstance(archivo, bytes) and not filename:
            raise MessageError(
                "Con bytes, send_document necesita filename='factura.pdf': el nombre que "
                "verá el cliente."
            )
        envio = enviar_documento(
            _internacional(recipient_id), archivo, nombre_documento=filename, caption=caption or "",
            cuenta=self.cuenta, tipo=tipo, clave=clave, referencia=referencia,
        )  # fmt: skip
        return envio.pk

    def send_reply_button(
        self,
        button: dict[str, Any],
        recipient_id: str,
        *,
        tipo: str = "",
        clave: str | None = None,
        referencia: models.Model | None = None,
    ) -> int:
        """Queue Meta's ``interactive`` object as given to heyoo: reply buttons or a list."""
        if not isinstance(button, dict):
            raise MessageError(f"button debe ser un dict, no {type(button).__name__}.")
        opciones = {"tipo": tipo, "clave": clave, "referencia": referencia}
        if button.get("type") == "list":
            return self._lista(recipient_id, button, opciones)
        if button.get("type", "button") != "button":
            raise NoSoportado(
                f"El mensaje interactivo de tipo {button.get('type')!r} no se puede enviar: "
                "solo 'button' (botones de respuesta) y 'list'."
            )
        enviar_botones = _api("enviar_botones")
        envio = enviar_botones(
            _internacional(recipient_id), _texto(button.get("body")), botones=_botones(button),
            **_adornos(button), cuenta=self.cuenta, **opciones,
        )  # fmt: skip
        return envio.pk

    def send_button(
        self,
        button: dict[str, Any],
        recipient_id: str,
        *,
        tipo: str = "",
        clave: str | None = None,
        referencia: models.Model | None = None,
    ) -> int:
        """Queue heyoo's list dict (``header``, ``body``, ``footer``, ``action``) as a list."""
        if not isinstance(button, dict):
            raise MessageError(f"button debe ser un dict, no {type(button).__name__}.")
        opciones = {"tipo": tipo, "clave": clave, "referencia": referencia}
        return self._lista(recipient_id, button, opciones)

    def create_button(self, button: dict[str, Any]) -> dict[str, Any]:
        """Meta's ``interactive`` list object for heyoo's list dict (nothing is sent)."""
        interactivo: dict[str, Any] = {"type": "list", "action": button.get("action")}
        for campo, envoltura in (("header", {"type": "text"}), ("body", {}), ("footer", {})):
            if button.get(campo):
                interactivo[campo] = {**envoltura, "text": button.get(campo)}
        return interactivo

    def _lista(self, recipient_id: str, button: dict[str, Any], opciones: dict) -> int:
        action = button.get("action") or {}
        enviar_lista = _api("enviar_lista")
        texto, boton = _texto(button.get("body")), str(action.get("button", ""))
        envio = enviar_lista(
            _internacional(recipient_id), texto, boton=boton, secciones=_secciones(action),
            **_adornos(button), cuenta=self.cuenta, **opciones,
        )  # fmt: skip
        return envio.pk

    # -- what the outbox does not send ----------------------------------------------------

    def send_image(
        self,
        image: str,
        recipient_id: str,
        recipient_type: str = "individual",
        caption: str | None = None,
        link: bool = True,
    ) -> int:
        """Not available: raises :class:`NoSoportado` naming the alternative."""
        raise NoSoportado(_SIN_MEDIOS.format(que="imágenes"))

    def send_audio(self, audio: str, recipient_id: str, link: bool = True) -> int:
        """Not available: raises :class:`NoSoportado` naming the alternative."""
        raise NoSoportado(_SIN_MEDIOS.format(que="audios"))

    def send_video(
        self, video: str, recipient_id: str, caption: str | None = None, link: bool = True
    ) -> int:
        """Not available: raises :class:`NoSoportado` naming the alternative."""
        raise NoSoportado(_SIN_MEDIOS.format(que="videos"))

    def send_sticker(
        self, sticker: str, recipient_id: str, recipient_type: str = "individual", link: bool = True
    ) -> int:
        """Not available: raises :class:`NoSoportado` naming the alternative."""
        raise NoSoportado(_SIN_MEDIOS.format(que="stickers"))

    def send_location(self, lat: str, long: str, name: str, address: str, recipient_id: str) -> int:
        """Not available: raises :class:`NoSoportado` naming the alternative."""
        raise NoSoportado(
            "El outbox no envía ubicaciones: manda la dirección y un enlace de mapa como "
            "texto (send_message) o usa una plantilla aprobada con la dirección como variable."
        )

    def send_reaction(
        self, emoji: str, message_id: str, recipient_id: str, recipient_type: str = "individual"
    ) -> int:
        """Not available: raises :class:`NoSoportado`."""
        raise NoSoportado("El outbox no envía reacciones: responde con texto (send_message).")

    def reply_to_message(
        self, message_id: str, recipient_id: str, message: str, preview_url: bool = True
    ) -> int:
        """Not available: raises :class:`NoSoportado` (a quoted reply needs the inline call)."""
        raise NoSoportado(
            "El outbox no envía respuestas que citan un mensaje: envía el texto con "
            "send_message(message, recipient_id)."
        )

    def send_contacts(self, contacts: list[dict[str, Any]], recipient_id: str) -> int:
        """Not available: raises :class:`NoSoportado`."""
        raise NoSoportado(
            "El outbox no envía tarjetas de contacto: envía los datos como texto (send_message)."
        )

    def send_custom_json(self, data: dict[str, Any], recipient_id: str | None = None) -> int:
        """Not available: raises :class:`NoSoportado` (arbitrary JSON bypasses every check)."""
        raise NoSoportado(
            "El outbox no envía JSON arbitrario: usa send_message, send_template, "
            "send_document, send_reply_button o send_button, que registran el envío."
        )

    def upload_media(self, media: str) -> dict[str, Any]:
        """Not needed: the outbox uploads a document itself when it delivers it."""
        raise NoSoportado(
            "No hace falta subir el archivo: el outbox lo sube él mismo al entregar (y "
            "reutiliza la subida). Pasa la ruta local o los bytes a "
            "send_document(ruta_o_bytes, telefono, filename='factura.pdf')."
        )

    def delete_media(self, media_id: str) -> dict[str, Any]:
        """Not needed: the outbox manages the media it uploads."""
        raise NoSoportado("El outbox administra los archivos que sube: no hay nada que borrar.")

    def query_media_url(self, media_id: str) -> str:
        """Not available: received media is downloaded by the inbound side."""
        raise NoSoportado(_SIN_DESCARGA)

    def download_media(self, media_url: str, mime_type: str, file_path: str = "temp") -> str:
        """Not available: received media is downloaded by the inbound side."""
        raise NoSoportado(_SIN_DESCARGA)

    def mark_as_read(self, message_id: str) -> None:
        """Mark an inbound message as read, when the account's backend can.

        Unlike the sends, this calls the provider now, as heyoo did; it returns None
        instead of Meta's JSON.

        Raises:
            NoSoportado: the account's backend does not offer ``mark_read``.
            ProviderError: the provider refused it.
        """
        from ..backends import backends

        backend = backends[self.cuenta]
        if not backend.supports("mark_read"):
            raise NoSoportado(
                f"El backend de la cuenta {self.cuenta!r} ({type(backend).__name__}) no marca "
                "mensajes como leídos (capacidad mark_read): quita la llamada o usa un backend "
                "que la ofrezca."
            )
        backend.mark_read(message_id)

    # -- webhook helpers: heyoo's readings of Meta's JSON ---------------------------------

    def preprocess(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """``entry[0].changes[0].value`` of a Meta webhook (None when absent)."""
        return _primero(data, "entry", 0, "changes", 0, "value")

    def changed_field(self, data: dict[str, Any]) -> str | None:
        """``entry[0].changes[0].field`` (``"messages"``, ``"account_update"``...)."""
        return _primero(data, "entry", 0, "changes", 0, "field")

    def is_message(self, data: dict[str, Any]) -> bool:
        """True when the first change carries messages."""
        return "messages" in (self.preprocess(data) or {})

    def get_mobile(self, data: dict[str, Any]) -> str | None:
        """The sender's ``wa_id`` (first contact)."""
        return _primero(self.preprocess(data), "contacts", 0, "wa_id")

    def get_name(self, data: dict[str, Any]) -> str | None:
        """The sender's profile name (first contact)."""
        return _primero(self.preprocess(data), "contacts", 0, "profile", "name")

    def get_message(self, data: dict[str, Any]) -> str | None:
        """The text of the first message (None when it is not a text)."""
        return self._campo(data, "text", "body")

    def get_message_id(self, data: dict[str, Any]) -> str | None:
        """The wamid of the first message."""
        return self._campo(data, "id")

    def get_message_timestamp(self, data: dict[str, Any]) -> str | None:
        """The timestamp of the first message, as Meta sends it (text)."""
        return self._campo(data, "timestamp")

    def get_message_type(self, data: dict[str, Any]) -> str | None:
        """The type of the first message (``text``, ``image``, ``interactive``...)."""
        return self._campo(data, "type")

    def get_interactive_response(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The ``interactive`` object of the first message (button or list reply)."""
        return self._campo(data, "interactive")

    def get_location(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The ``location`` object of the first message."""
        return self._campo(data, "location")

    def get_image(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The ``image`` object of the first message."""
        return self._campo(data, "image")

    def get_document(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The ``document`` object of the first message."""
        return self._campo(data, "document")

    def get_audio(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The ``audio`` object of the first message."""
        return self._campo(data, "audio")

    def get_video(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The ``video`` object of the first message."""
        return self._campo(data, "video")

    def get_delivery(self, data: dict[str, Any]) -> str | None:
        """The status of the first status update (``sent``, ``delivered``, ``read``...)."""
        return _primero(self.preprocess(data), "statuses", 0, "status")

    def _campo(self, data: dict[str, Any], *ruta: str) -> Any:
        return _primero(self.preprocess(data), "messages", 0, *ruta)


_SIN_MEDIOS = (
    "El outbox todavía no envía {que}: envía el archivo como documento con "
    "send_document(ruta_local_o_bytes, telefono, filename=...), o usa una plantilla "
    "aprobada con encabezado de documento (send_template(..., documento=...))."
)
_SIN_DESCARGA = (
    "Los archivos recibidos los descarga la app: el webhook guarda cada mensaje entrante "
    "(Mensaje) y whatsapp_notify.receivers.descargar_media(mensaje) trae su archivo."
)


def _primero(data: Any, *ruta: str | int) -> Any:
    """``data[ruta[0]][ruta[1]]...``, or None where a key or index is missing."""
    for paso in ruta:
        if isinstance(paso, int):
            if not isinstance(data, list) or len(data) <= paso:
                return None
        elif not isinstance(data, dict) or paso not in data:
            return None
        data = data[paso]
    return data


def _elegir_cuenta(phone_number_id: str | int | None, cuenta: str | None) -> str:
    if phone_number_id in (None, ""):
        alias = cuenta or DEFAULT_ALIAS
        try:
            get_settings().backend_config(alias)
        except ImproperlyConfigured as exc:
            raise ConfigurationError(str(exc)) from None
        return alias
    alias = cuenta_de_phone_number_id(str(phone_number_id))
    if cuenta is not None and cuenta != alias:
        raise ConfigurationError(
            f"phone_number_id {str(phone_number_id)!r} es de la cuenta {alias!r}, no de "
            f"{cuenta!r}: pasa solo uno de los dos."
        )
    return alias


def _internacional(recipient_id: Any) -> Any:
    """heyoo's ``recipient_id`` is the number with its country code and no ``+``.

    Read as such, with ``+`` in front: left as it is, the outbox would read
    ``447911123456`` as a number of ``DEFAULT_REGION`` and send it elsewhere.
    """
    texto = str(recipient_id).strip() if isinstance(recipient_id, str | int) else ""
    return f"+{texto}" if texto[:1].isdigit() else recipient_id


def _exigir_individual(recipient_type: str) -> None:
    if recipient_type != "individual":
        raise NoSoportado(
            f"recipient_type={recipient_type!r}: el outbox envía a una persona por envío "
            "(recipient_type='individual'); para varios, un envío por destinatario."
        )


def _adornos(button: dict[str, Any]) -> dict[str, str]:
    """``encabezado`` and ``pie`` when the message has them (omitted when empty)."""
    adornos = {"encabezado": _encabezado(button), "pie": _texto(button.get("footer"))}
    return {clave: valor for clave, valor in adornos.items() if valor}


def _archivo_local(document: Any, link: bool) -> bytes | Path:
    if isinstance(document, bytes | bytearray):
        return bytes(document)
    if isinstance(document, Path):
        return _ruta_existente(document)
    if not isinstance(document, str):
        raise MessageError(
            f"document debe ser una ruta local, un Path o bytes, no {type(document).__name__}."
        )
    if document.lower().startswith(("http://", "https://")):
        raise NoSoportado(
            "El outbox no envía documentos por enlace: la entrega dependería de que el "
            "enlace siga vivo y Meta lo descargue. Descarga el archivo y pasa sus bytes o su "
            "ruta local: send_document(contenido, telefono, filename='factura.pdf')."
        )
    if not link:
        raise NoSoportado(
            "Con link=False heyoo envía un id de archivo ya subido a Meta; el outbox sube los "
            "archivos él mismo: pasa la ruta local o los bytes en lugar del id."
        )
    return _ruta_existente(Path(document))


def _ruta_existente(ruta: Path) -> Path:
    if not ruta.is_file():
        raise NoSoportado(
            f"No existe el archivo {ruta.name!r}: send_document necesita una ruta local "
            "existente o los bytes del documento."
        )
    return ruta
