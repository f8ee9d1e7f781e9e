"""Outbound message value objects, validated on construction.

They say *what* to send, independent of the provider; a backend turns them into its
payload. Limits are WhatsApp's (Cloud API reference): a message that breaks one raises
:class:`~whatsapp_notify.exceptions.MessageError` before anything is queued.
"""

from __future__ import annotations

import hashlib
import math
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.utils import dateformat, formats, timezone, translation
from django.utils.functional import Promise

from .events import normalizar_idioma
from .exceptions import MessageError, TipoInvalido, ValorDemasiadoLargo, VariablesError

MAX_TEXTO = 4096
MAX_CAPTION = 1024
MAX_DOCUMENTO_BYTES = 100 * 1024 * 1024
MAX_BOTONES = 3
MAX_TITULO_BOTON = 20
MAX_FILAS_LISTA = 10
MAX_BOTONES_PLANTILLA = 10
MAX_PAYLOAD = 256  # Mensaje.respuesta_id, where the payload comes back
MAX_SUFIJO_URL = 2000


def _exigir(condicion: bool, mensaje: str) -> None:
    if not condicion:
        raise MessageError(mensaje)


@dataclass(frozen=True)
class Documento:
    """A file to send: its bytes, the name the recipient sees and its MIME type."""

    contenido: bytes = field(repr=False)
    nombre: str
    mime: str = ""
    caption: str = ""

    def __post_init__(self) -> None:
        _exigir(isinstance(self.contenido, bytes | bytearray), "El documento debe ser bytes.")
        _exigir_textos_del_documento(self.nombre, self.caption)
        object.__setattr__(self, "caption", str(self.caption))
        _exigir(len(self.contenido) > 0, "El documento está vacío.")
        _exigir(len(self.contenido) <= MAX_DOCUMENTO_BYTES, "El documento supera los 100 MB.")
        _exigir(bool(self.nombre), "Falta nombre_documento (el nombre que verá el cliente).")
        _exigir(len(self.caption) <= MAX_CAPTION, f"El caption supera {MAX_CAPTION} caracteres.")
        if not self.mime:
            adivinado = mimetypes.guess_type(self.nombre)[0] or "application/octet-stream"
            object.__setattr__(self, "mime", adivinado)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.contenido).hexdigest()


def _exigir_textos_del_documento(nombre: object, caption: object) -> None:
    exigir_tipo(nombre, str, "nombre_documento", "usa el nombre de archivo que verá el cliente.")
    exigir_caracteres(nombre, "nombre_documento", saltos=False)
    exigir_tipo(caption, (str, Promise), "caption", "usa el texto que acompaña al documento.")
    exigir_caracteres(str(caption), "caption", saltos=True)


#: What WhatsApp shows as an image (reference/cloud_api.md §3.2): JPEG or PNG, up to 5 MB.
MIMES_IMAGEN = ("image/jpeg", "image/png")
MAX_IMAGEN_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Imagen(Documento):
    """An image shown inline, with an optional caption (a payment receipt, a photo of the
    repaired car): a :class:`Documento` that is a JPEG or PNG of at most 5 MB."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _exigir(
            self.mime in MIMES_IMAGEN,
            f"Una imagen de WhatsApp es JPEG o PNG, no {self.mime} ({self.nombre}): conviértela, "
            "o envíala como documento con enviar_documento.",
        )
        _exigir(
            len(self.contenido) <= MAX_IMAGEN_BYTES,
            f"La imagen pesa {len(self.contenido) / 1024 / 1024:.1f} MB y WhatsApp admite 5 MB: "
            "redúcela, o envíala como documento con enviar_documento.",
        )


#: What WhatsApp plays as a video (reference/cloud_api.md §3.2): MP4 or 3GPP, up to 16 MB.
MIMES_VIDEO = ("video/mp4", "video/3gpp")
MAX_VIDEO_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Video(Documento):
    """A video played inline (a template's header: the repaired car on the lift): a
    :class:`Documento` that is an MP4 or 3GPP of at most 16 MB."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _exigir(
            self.mime in MIMES_VIDEO,
            f"Un video de WhatsApp es MP4 o 3GPP, no {self.mime} ({self.nombre}).",
        )
        _exigir(
            len(self.contenido) <= MAX_VIDEO_BYTES,
            f"El video pesa {len(self.contenido) / 1024 / 1024:.1f} MB y WhatsApp admite 16 MB.",
        )


def clase_de_media(mime: str) -> type[Documento]:
    """The value class a stored file of ``mime`` is rebuilt as."""
    if mime in MIMES_IMAGEN:
        return Imagen
    if mime in MIMES_VIDEO:
        return Video
    return Documento


#: A template's text header parameter is part of a header of at most 60 characters.
MAX_ENCABEZADO_PLANTILLA = 60

Variables = list[str] | dict[str, str]
# Named template parameters ({{nombre_cliente}}): lowercase letters, digits, underscores.
_NOMBRE_VARIABLE = re.compile(r"[a-z_][a-z0-9_]*")
# Template names as WhatsApp Manager accepts them (reference/cloud_api.md §4.1).
_NOMBRE_PLANTILLA = re.compile(r"[a-z0-9_]+")
MAX_NOMBRE_PLANTILLA = 512
# A body parameter longer than the body itself (1,024 characters) cannot fit the template.
MAX_VARIABLE = 1024
# Meta answers 132018 for a parameter with newlines, tabs or more than 4 spaces in a row.
_ESPACIOS_DE_MAS = re.compile(r" {5,}")
_SEPARADORES_PROHIBIDOS = frozenset({"Cc", "Zl", "Zp"})  # control chars, line/paragraph sep.


# After JSON decoding or in Python text, any surrogate code point is half of a missing pair.
_SURROGATE_SUELTO = re.compile("[\ud800-\udfff]")


def texto_almacenable(texto: str) -> str:
    """``texto`` without what no database column can hold: NUL dropped, lone surrogates as U+FFFD.

    JSON may escape them (``\\u0000``, half a pair such as ``\\ud83d``) in a body that is
    valid UTF-8; PostgreSQL refuses both (text and jsonb), and a row that cannot be written
    would lose the message, the opt-out or the status it carries. A whole escaped pair was
    already joined into its character by the decoder, so every surrogate left is a lone one.
    """
    return _SURROGATE_SUELTO.sub("\ufffd", texto.replace("\x00", ""))


# WhatsApp's template language codes: "es", "es_MX", "es_419", "fil" (also DEFAULT_LANGUAGE, E009).
_IDIOMA = re.compile(r"[a-z]{2,3}(_[A-Z]{2}|_\d{3})?")
# What a line of text may hold besides printable characters: message text keeps its lines.
_SALTOS = frozenset("\n\r\t")


def texto_de_error(exc: BaseException) -> str:
    """``"Tipo: mensaje"`` of ``exc``, as a row records why something failed: storable in any
    database (no NUL), at most 2,000 characters, even when the exception cannot say what
    it is."""
    try:
        texto = f"{type(exc).__name__}: {exc}"
    except Exception:
        texto = f"{type(exc).__name__} (sin mensaje legible)"
    return texto_almacenable(texto)[:2000]


def es_codigo_de_idioma(idioma: object) -> bool:
    """True for a template language code as WhatsApp writes it (``es``, ``es_MX``, ``es_419``)."""
    return isinstance(idioma, str) and _IDIOMA.fullmatch(idioma) is not None


def exigir_tipo(
    valor: object, tipos: type | tuple[type, ...], parametro: str, arreglo: str
) -> None:
    """Refuse a send API argument that is not one of ``tipos``.

    Raises:
        TipoInvalido: naming ``parametro``, the type received and ``arreglo`` (what to pass).
    """
    if not isinstance(valor, tipos):
        raise TipoInvalido(f"{parametro} no puede ser {_tipo(valor)}: {arreglo}")


def exigir_caracteres(texto: str, parametro: str, *, saltos: bool) -> None:
    """Refuse text with a character that would garble the message or break its row.

    Half a surrogate pair (a badly decoded emoji) cannot be stored or sent; NUL and other
    control characters (ESC, BEL...) reach the customer as garbage, and PostgreSQL refuses
    NUL. With ``saltos`` (message text) newlines and tabs are allowed; in names and keys not.

    Raises:
        MessageError: naming ``parametro`` and the fix.
    """
    for caracter in texto:
        categoria = unicodedata.category(caracter)
        if categoria == "Cs":
            raise MessageError(
                f"{parametro} tiene un surrogate suelto (la mitad de un emoji mal decodificado), "
                "que no se puede guardar ni enviar: decodifica el texto de origen con "
                "errors='replace' o corrígelo antes de enviar."
            )
        if categoria == "Cc" and not (saltos and caracter in _SALTOS):
            permitidos = "" if saltos else " (aquí tampoco saltos de línea ni tabuladores)"
            raise MessageError(
                f"{parametro} tiene un carácter de control U+{ord(caracter):04X}{permitidos}, "
                "que llegaría al cliente como basura: quítalo antes de enviar."
            )


def exigir_nombre_plantilla(nombre: object) -> None:
    """Refuse a template name Meta would refuse: not lowercase letters, digits and ``_``.

    Raises:
        ValorDemasiadoLargo: longer than 512 characters.
        MessageError: empty, not text, or other characters; the message suggests the name.
    """
    _exigir(
        isinstance(nombre, str), f"El nombre de la plantilla debe ser texto, no {_tipo(nombre)}."
    )
    _exigir(bool(nombre), "Falta el nombre de la plantilla.")
    if len(nombre) > MAX_NOMBRE_PLANTILLA:
        arreglo = "usa el nombre con que la aprobó WhatsApp Manager."
        raise ValorDemasiadoLargo("plantilla", MAX_NOMBRE_PLANTILLA, len(nombre), arreglo)
    if not _NOMBRE_PLANTILLA.fullmatch(nombre):
        raise MessageError(
            f"El nombre de plantilla {nombre!r} no es válido en Meta: usa minúsculas, dígitos "
            f"y guion bajo: {_sugerir_nombre(nombre)}."
        )


def exigir_idioma(idioma: object) -> None:
    """Refuse a template language that is not a WhatsApp code (:func:`es_codigo_de_idioma`).

    Written as Meta's template webhooks do (``es-MX``, ``es_mx``) it is the same code:
    :class:`Plantilla` sends it in the ``es_MX`` form (``events.normalizar_idioma``).

    Raises:
        TipoInvalido: not text.
        MessageError: empty, or another shape (``es-MX``, ``español``, ``ES_MX``).
    """
    exigir_tipo(idioma, str, "idioma", "usa el código de idioma de la plantilla, como 'es_MX'.")
    _exigir(bool(idioma), "Falta el idioma de la plantilla (p. ej. es_MX).")
    if not es_codigo_de_idioma(normalizar_idioma(idioma)):
        raise MessageError(
            f"idioma={idioma!r} no es un código de idioma de WhatsApp: usa el código con que se "
            "aprobó la plantilla, con guion bajo: 'es_MX', 'es', 'en_US'."
        )


def _sugerir_nombre(nombre: str) -> str:
    descompuesto = unicodedata.normalize("NFKD", nombre)
    sin_acentos = "".join(ch for ch in descompuesto if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "_", sin_acentos.lower()).strip("_") or "vehiculo_listo_cliente"


def normalizar_variables(variables: object, idioma: str | None = None) -> Variables:
    """Return variables as a list of str (positional) or a dict of str (named).

    Each value becomes exactly the text the template receives, never rewritten: text as it
    is; ``int`` as its digits; ``float`` and ``Decimal`` with every digit given, no thousands
    separator and the decimal separator of ``idioma`` (``es_MX`` ``1234.50``, ``es_ES``
    ``1234,50``); ``date`` and ``datetime`` in the short format of ``idioma`` (``es_MX``
    ``15/01/2025``, ``en_US`` ``01/15/2025``; an aware datetime in local time), per Django's
    locale formats. Without ``idioma``, the active language's.

    Raises:
        VariablesError: not a list/tuple/dict, a dict key that is not a valid name, or a
            value Meta would refuse (empty, over 1,024 characters, a newline, tab or other
            control character, more than 4 spaces in a row) or of another type (bool, None,
            bytes, containers, other objects). The message names the variable and the fix.
    """
    if variables is None:
        return []
    if isinstance(variables, dict):
        for nombre in variables:
            if not isinstance(nombre, str) or not _NOMBRE_VARIABLE.fullmatch(nombre):
                raise VariablesError(
                    f"El nombre de variable {nombre!r} no es válido: usa minúsculas, "
                    "dígitos y guion bajo, como en la plantilla ({{nombre_cliente}})."
                )
        return {
            nombre: _texto_variable(valor, f"{{{{{nombre}}}}}", idioma)
            for nombre, valor in variables.items()
        }
    if isinstance(variables, list | tuple):
        return [
            _texto_variable(valor, f"{{{{{posicion}}}}}", idioma)
            for posicion, valor in enumerate(variables, start=1)
        ]
    raise VariablesError(
        "variables debe ser una lista (para {{1}}..{{n}}) o un dict (parámetros con nombre), "
        f"no {type(variables).__name__}."
    )


def _texto_variable(valor: object, etiqueta: str, idioma: str | None) -> str:
    texto = _como_texto(valor, etiqueta, idioma)
    if not texto.strip():
        raise VariablesError(f"La variable {etiqueta} está vacía; Meta no acepta vacías.")
    if len(texto) > MAX_VARIABLE:
        raise VariablesError(
            f"La variable {etiqueta} tiene {len(texto)} caracteres y Meta admite {MAX_VARIABLE}: "
            "acórtala."
        )
    if any(unicodedata.category(ch) in _SEPARADORES_PROHIBIDOS for ch in texto):
        raise VariablesError(
            f"La variable {etiqueta} tiene un salto de línea, un tabulador u otro carácter de "
            "control, que Meta rechaza (132018): reemplázalos por espacios antes de enviar."
        )
    if _SURROGATE_SUELTO.search(texto):
        raise VariablesError(
            f"La variable {etiqueta} tiene un surrogate suelto (la mitad de un emoji mal "
            "decodificado), que no se puede guardar ni enviar: decodifica el texto de origen con "
            "errors='replace' o corrígelo antes de enviar."
        )
    if _ESPACIOS_DE_MAS.search(texto):
        raise VariablesError(
            f"La variable {etiqueta} tiene más de 4 espacios seguidos, que Meta rechaza "
            "(132018): déjalos en uno antes de enviar."
        )
    return texto


def _como_texto(valor: object, etiqueta: str, idioma: str | None) -> str:
    # bool is an int and "True" would reach the customer: refused with the other types.
    if isinstance(valor, str | Promise):
        return str(valor)
    if isinstance(valor, int) and not isinstance(valor, bool):
        return _entero(valor, etiqueta)
    if isinstance(valor, float | Decimal):
        return _decimal(valor, etiqueta, idioma)
    if isinstance(valor, datetime):
        return _fecha(_hora_local(valor, etiqueta), "SHORT_DATETIME_FORMAT", idioma)
    if isinstance(valor, date):
        return _fecha(valor, "SHORT_DATE_FORMAT", idioma)
    raise VariablesError(
        f"La variable {etiqueta} es {_tipo(valor)}: se aceptan texto, números (int, float, "
        "Decimal) y fechas (date, datetime); convierte el valor al texto que debe leer el cliente."
    )


def _entero(valor: int, etiqueta: str) -> str:
    # int(): an IntEnum member is its number; a huge int is refused before converting.
    if valor.bit_length() > MAX_VARIABLE * 4:
        raise VariablesError(f"La variable {etiqueta} supera {MAX_VARIABLE} dígitos: acórtala.")
    return str(int(valor))


def _decimal(valor: float | Decimal, etiqueta: str, idioma: str | None) -> str:
    numero = valor if isinstance(valor, Decimal) else Decimal(repr(valor))
    if not numero.is_finite():
        raise VariablesError(f"La variable {etiqueta} es {valor}: envía un número finito.")
    _, digitos, exponente = numero.as_tuple()
    if len(digitos) + abs(exponente) > MAX_VARIABLE:
        raise VariablesError(f"La variable {etiqueta} supera {MAX_VARIABLE} dígitos: redondéala.")
    separador = formats.get_format("DECIMAL_SEPARATOR", lang=_lenguaje(idioma), use_l10n=True)
    return f"{numero:f}".replace(".", separador)


def _hora_local(valor: datetime, etiqueta: str) -> datetime:
    try:
        return timezone.localtime(valor) if timezone.is_aware(valor) else valor
    except OverflowError:
        # datetime(1, 1, 1, tzinfo=UTC) is still year 0 west of Greenwich: no date holds it.
        raise VariablesError(
            f"La variable {etiqueta} es una fecha que en la zona horaria local cae fuera de los "
            "años 1 a 9999: envía la fecha que debe leer el cliente."
        ) from None


def _fecha(valor: date, formato: str, idioma: str | None) -> str:
    lenguaje = _lenguaje(idioma)
    patron = formats.get_format(formato, lang=lenguaje, use_l10n=True)
    # Active for the names some formats print ("p.m."), restored afterwards.
    with translation.override(lenguaje or translation.get_language()):
        return dateformat.format(valor, patron)


def _lenguaje(idioma: str | None) -> str | None:
    # WhatsApp's language codes (es_MX) as Django's (es-mx).
    return idioma.replace("_", "-").lower() if idioma else None


def _tipo(valor: object) -> str:
    return type(valor).__name__


@dataclass(frozen=True)
class BotonRapido:
    """The payload of a template's quick-reply button: what comes back when the customer
    taps it (``Mensaje.respuesta_id``, matched by ``respuesta(boton=...)``), instead of the
    button's text. ``"cotizacion:aprobar:42"`` says which quote the tap approves."""

    payload: str

    def __post_init__(self) -> None:
        payload = _texto_corto(self.payload, "El payload de un botón", 1, MAX_PAYLOAD)
        object.__setattr__(self, "payload", payload)


@dataclass(frozen=True)
class BotonUrl:
    """The variable end of a template's URL button: for ``https://erp.example/c/{{1}}``,
    ``BotonUrl("42")`` opens ``https://erp.example/c/42``."""

    sufijo: str

    def __post_init__(self) -> None:
        sufijo = _texto_corto(self.sufijo, "El sufijo de un botón URL", 1, MAX_SUFIJO_URL)
        _exigir(not any(c.isspace() for c in sufijo), "El sufijo de un botón URL lleva espacios.")
        _exigir(
            not re.match(r"(?i)https?://", sufijo),
            f"BotonUrl({sufijo!r}): va sólo el final que completa la URL de la plantilla "
            "(para https://erp.example/c/{{1}}, BotonUrl('42')), no la URL entera.",
        )
        object.__setattr__(self, "sufijo", sufijo)


BotonPlantilla = BotonRapido | BotonUrl


def normalizar_botones(botones: object) -> tuple[BotonPlantilla | None, ...]:
    """Template button parameters, by the buttons' order in the template (``None`` for a
    button that takes none: a phone number, a fixed URL, a quick reply left as its text).

    Raises:
        TipoInvalido: not a list or tuple, or an item that is not a button or None.
        MessageError: more buttons than a template has (10).
    """
    if botones is None:
        return ()
    exigir_tipo(
        botones, (list, tuple), "botones", "usa una lista: [BotonUrl(...), BotonRapido(...)]."
    )
    tupla = tuple(botones)
    for boton in tupla:
        if boton is not None:
            exigir_tipo(
                boton, (BotonRapido, BotonUrl), "cada elemento de botones",
                "usa BotonRapido(payload), BotonUrl(sufijo) o None, en el orden de la plantilla.",
            )  # fmt: skip
    while tupla and tupla[-1] is None:
        tupla = tupla[:-1]
    _exigir(
        len(tupla) <= MAX_BOTONES_PLANTILLA,
        f"Una plantilla tiene hasta {MAX_BOTONES_PLANTILLA} botones; botones trae {len(tupla)}.",
    )
    return tupla


def encabezado_de(interactivo: object) -> str:
    """The text header parameter an envío's ``interactivo`` keeps ("" when none).

    Raises:
        MessageError: a hand-edited value that is not text.
    """
    if not isinstance(interactivo, dict) or "encabezado" not in interactivo:
        return ""
    valor = interactivo["encabezado"]
    if not isinstance(valor, str):
        raise MessageError(
            "El encabezado guardado en el envío no es texto: se editó a mano; regístralo de nuevo."
        )
    return valor


def _boton_de(dato: Any) -> BotonPlantilla | None:
    if dato is None:
        return None
    if set(dato) == {"payload"}:
        return BotonRapido(dato["payload"])
    if set(dato) == {"url"}:
        return BotonUrl(dato["url"])
    raise KeyError(f"un botón guardado es {{'payload': ...}} o {{'url': ...}}, no {dato!r}")


def botones_a_datos(botones: tuple[BotonPlantilla | None, ...]) -> list[dict | None]:
    """Template button parameters as the envío row keeps them (JSON)."""
    return [
        None
        if b is None
        else {"payload": b.payload}
        if isinstance(b, BotonRapido)
        else {"url": b.sufijo}
        for b in botones
    ]


def botones_de_datos(datos: object, *, dentro: bool = False) -> tuple[BotonPlantilla | None, ...]:
    """The parameters :func:`botones_a_datos` wrote, checked again; with ``dentro``,
    ``datos`` is the envío's whole ``interactivo`` (``{"botones": [...]}``).

    Raises:
        MessageError: the data is not what :func:`botones_a_datos` writes (a row edited by
            hand): the envío fails once with this sentence, it is never retried.
    """
    try:
        if dentro:
            if not datos:
                return ()
            if not isinstance(datos, dict):
                raise TypeError(f"interactivo no es un objeto: {datos!r}"[:200])
            datos = datos.get("botones")
        if not datos:
            return ()
        return normalizar_botones([_boton_de(d) for d in datos])
    except MessageError:
        raise
    except (KeyError, TypeError, AttributeError) as exc:
        raise MessageError(
            f"Los botones de plantilla guardados en el envío no se pueden leer ({exc!r}): "
            "el envío se registró con otros datos o se editó a mano; regístralo de nuevo."
        ) from exc


@dataclass(frozen=True)
class Plantilla:
    """An approved template: name, language, body variables, an optional header (a
    document, an :class:`Imagen` or a :class:`Video` in ``documento``; or the text of a text
    header's ``{{1}}`` in ``encabezado``), parameters of its buttons (``botones``, in the
    template's order).

    The name must be one Meta accepts (:func:`exigir_nombre_plantilla`); the variables are
    turned into the exact texts the template receives (:func:`normalizar_variables`).
    ``cuerpo`` is the template's body text with its placeholders, handed in by delivery
    from the catalog for providers without templates that render it (WHAPI); "" otherwise.
    ``proveedor_id`` is the provider's id of the template when the catalog knows it (a
    Twilio Content SID), handed in by delivery; a backend that names templates by name
    and language (Meta) ignores it.
    """

    nombre: str
    idioma: str
    variables: Variables = field(default_factory=list)
    documento: Documento | None = None
    cuerpo: str = field(default="", repr=False)
    proveedor_id: str = ""
    botones: tuple[BotonPlantilla | None, ...] = ()
    encabezado: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "botones", normalizar_botones(self.botones))
        exigir_tipo(
            self.encabezado, str, "encabezado", "usa el texto que va en {{1}} del encabezado."
        )
        if self.encabezado:
            _texto_variable(self.encabezado, "encabezado", self.idioma)
            _exigir(
                len(self.encabezado) <= MAX_ENCABEZADO_PLANTILLA,
                f"encabezado: un encabezado de plantilla tiene hasta {MAX_ENCABEZADO_PLANTILLA} "
                "caracteres.",
            )
            _exigir(
                self.documento is None,
                "Una plantilla lleva un solo encabezado: texto (encabezado=) o un archivo "
                "(documento=, imagen= o video=).",
            )
        exigir_tipo(self.cuerpo, str, "cuerpo", "usa el texto del cuerpo de la plantilla.")
        exigir_nombre_plantilla(self.nombre)
        exigir_idioma(self.idioma)
        object.__setattr__(self, "idioma", normalizar_idioma(self.idioma))
        variables = normalizar_variables(self.variables, self.idioma)
        object.__setattr__(self, "variables", variables)


@dataclass(frozen=True)
class Texto:
    """Free text; only deliverable inside the 24-hour customer-service window."""

    cuerpo: str
    preview_url: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "cuerpo", _cuerpo(self.cuerpo, MAX_TEXTO, "El texto"))


@dataclass(frozen=True)
class Reaccion:
    """An emoji on the customer's message (the envío's ``responde_a``); "" takes it away.

    One emoji: a character or a sequence (skin tone, flag, family) of up to 16 code points,
    with no letters, digits, spaces or control characters.
    """

    emoji: str

    def __post_init__(self) -> None:
        exigir_tipo(self.emoji, str, "emoji", 'usa un emoji, p. ej. "👍" ("" la quita).')
        emoji = self.emoji
        _exigir(
            emoji == "" or (len(emoji) <= 16 and _un_emoji(emoji)),
            f'emoji={emoji[:20]!r}: una reacción es un solo emoji (o "" para quitarla).',
        )


_ZWJ, _VS16, _TECLA = "\u200d", "\ufe0f", "\u20e3"


def _un_emoji(texto: str) -> bool:
    """One emoji: a symbol, with its skin tone, variation selector or flag-tag characters,
    joined to others only by ZWJ (👨‍👩‍👧); two regional indicators (a flag); or a keycap."""
    if len(texto) == 3 and texto[0] in "0123456789#*" and texto[1:] == _VS16 + _TECLA:
        return True
    if len(texto) == 2 and all(0x1F1E6 <= ord(c) <= 0x1F1FF for c in texto):
        return True
    bases, anterior = 0, ""
    for c in texto:
        categoria = unicodedata.category(c)
        if categoria == "So" and not 0x1F1E6 <= ord(c) <= 0x1F1FF:
            bases += anterior != _ZWJ
        elif not (
            c in (_ZWJ, _VS16)
            or 0x1F3FB <= ord(c) <= 0x1F3FF  # skin tones
            or 0xE0020 <= ord(c) <= 0xE007F  # the tags of a subdivision flag
        ):
            return False
        if c == _ZWJ and anterior in ("", _ZWJ):
            return False
        anterior = c
    return bases == 1 and anterior != _ZWJ


@dataclass(frozen=True)
class Ubicacion:
    """A map pin: the workshop, the pick-up point. ``nombre`` and ``direccion`` are shown
    under it (both optional)."""

    latitud: float
    longitud: float
    nombre: str = ""
    direccion: str = ""

    def __post_init__(self) -> None:
        for parametro, limite in (("latitud", 90), ("longitud", 180)):
            valor = getattr(self, parametro)
            exigir_tipo(
                valor, (int, float, Decimal), parametro, "usa grados decimales, p. ej. 19.4326."
            )
            _exigir(
                not isinstance(valor, bool) and math.isfinite(valor) and -limite <= valor <= limite,
                f"{parametro}={valor!r}: debe estar entre -{limite} y {limite} grados.",
            )
            object.__setattr__(self, parametro, float(valor))
        for parametro in ("nombre", "direccion"):
            texto = _texto_corto(getattr(self, parametro), parametro, 0, MAX_UBICACION_TEXTO)
            object.__setattr__(self, parametro, texto)


#: The longest ``nombre`` or ``direccion`` of a :class:`Ubicacion` (one line each).
MAX_UBICACION_TEXTO = 1000


def _cuerpo(valor: object, maximo: int, que: str) -> str:
    """A message's body text: str (or lazy), its lines kept, not blank, up to ``maximo``.

    Raises:
        TipoInvalido, MessageError: naming ``que`` ("El texto") where it is the limit.
    """
    exigir_tipo(valor, (str, Promise), "texto", "usa el texto del mensaje (str).")
    cuerpo = str(valor)
    exigir_caracteres(cuerpo, "texto", saltos=True)
    _exigir(bool(cuerpo.strip()), f"{que} está vacío.")
    _exigir(len(cuerpo) <= maximo, f"{que} supera {maximo} caracteres.")
    return cuerpo


def _texto_corto(valor: object, parametro: str, minimo: int, maximo: int) -> str:
    """A short text of an interactive message (an id, a title): str, one line, in bounds."""
    exigir_tipo(valor, (str, Promise), parametro, "usa un texto (str).")
    texto = str(valor)
    exigir_caracteres(texto, parametro, saltos=False)
    rango = f"de {minimo} a {maximo}" if minimo else f"hasta {maximo}"
    _exigir(minimo <= len(texto) <= maximo, f"{parametro}: {rango} caracteres.")
    _exigir(not minimo or bool(texto.strip()), f"{parametro} está en blanco.")
    return texto


def _tupla_de(valores: Any, clase: type, parametro: str, arreglo: str) -> tuple:
    """``valores`` (a list or tuple) as a tuple, each one a ``clase``.

    Raises:
        TipoInvalido: not a list or tuple, or an item of another type (``arreglo`` says
            what to pass).
    """
    exigir_tipo(valores, (list, tuple), parametro, f"usa una lista de {clase.__name__}.")
    tupla = tuple(valores)
    for valor in tupla:
        exigir_tipo(valor, clase, f"cada elemento de {parametro}", arreglo)
    return tupla


def _unicos(ids: list[str], que: str) -> None:
    repetidos = sorted({valor for valor in ids if ids.count(valor) > 1})
    _exigir(not repetidos, f"{que} se repiten: {', '.join(repetidos)} (WhatsApp los exige únicos).")


@dataclass(frozen=True)
class Boton:
    """A reply button: ``id`` comes back in the customer's reply, ``titulo`` is shown."""

    id: str
    titulo: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", _texto_corto(self.id, "El id de un botón", 1, 256))
        titulo = _texto_corto(self.titulo, "El título de un botón", 1, MAX_TITULO_BOTON)
        object.__setattr__(self, "titulo", titulo)


@dataclass(frozen=True)
class Botones:
    """Interactive reply buttons (at most three), with a text header (``encabezado``) or a
    media one (``adjunto``: an :class:`Imagen`, a :class:`Video` or a :class:`Documento`)."""

    cuerpo: str
    botones: tuple[Boton, ...]
    encabezado: str = ""
    pie: str = ""
    adjunto: Documento | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "cuerpo", _cuerpo(self.cuerpo, MAX_CAPTION, "El texto del mensaje interactivo")
        )
        botones = _tupla_de(self.botones, Boton, "botones", "usa Boton(id, titulo).")
        object.__setattr__(self, "botones", botones)
        _exigir(0 < len(botones) <= MAX_BOTONES, "Se necesitan de 1 a 3 botones.")
        _unicos([boton.titulo for boton in botones], "Los títulos de los botones")
        _unicos([boton.id for boton in botones], "Los ids de los botones")
        object.__setattr__(
            self, "encabezado", _texto_corto(self.encabezado, "El encabezado", 0, 60)
        )
        object.__setattr__(self, "pie", _texto_corto(self.pie, "El pie", 0, 60))
        if self.adjunto is not None:
            exigir_tipo(self.adjunto, Documento, "adjunto", "usa Imagen, Video o Documento.")
            _exigir(
                not self.encabezado,
                "Los botones llevan un solo encabezado: texto (encabezado=) o un archivo.",
            )


@dataclass(frozen=True)
class Fila:
    """A row of a list: ``id`` comes back in the customer's reply."""

    id: str
    titulo: str
    descripcion: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", _texto_corto(self.id, "El id de una fila", 1, 200))
        object.__setattr__(
            self, "titulo", _texto_corto(self.titulo, "El título de una fila", 1, 24)
        )
        descripcion = _texto_corto(self.descripcion, "La descripción de una fila", 0, 72)
        object.__setattr__(self, "descripcion", descripcion)


@dataclass(frozen=True)
class Seccion:
    titulo: str
    filas: tuple[Fila, ...]

    def __post_init__(self) -> None:
        titulo = _texto_corto(self.titulo, "El título de una sección", 0, 24)
        object.__setattr__(self, "titulo", titulo)
        filas = _tupla_de(self.filas, Fila, "filas", "usa Fila(id, titulo, descripcion).")
        object.__setattr__(self, "filas", filas)
        _exigir(len(filas) > 0, "Una sección de la lista no tiene filas.")


@dataclass(frozen=True)
class Lista:
    """An interactive list: a button that opens up to ten rows in sections."""

    cuerpo: str
    boton: str
    secciones: tuple[Seccion, ...]
    encabezado: str = ""
    pie: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "cuerpo", _cuerpo(self.cuerpo, MAX_CAPTION, "El texto del mensaje interactivo")
        )
        object.__setattr__(self, "boton", _texto_corto(self.boton, "El botón de la lista", 1, 20))
        secciones = _tupla_de(self.secciones, Seccion, "secciones", "usa Seccion(titulo, filas).")
        object.__setattr__(self, "secciones", secciones)
        _exigir(0 < len(secciones) <= 10, "Una lista lleva de 1 a 10 secciones.")
        filas = [fila for seccion in secciones for fila in seccion.filas]
        _exigir(len(filas) <= MAX_FILAS_LISTA, "Una lista lleva como máximo 10 filas en total.")
        _unicos([fila.id for fila in filas], "Los ids de las filas")
        if len(secciones) > 1:
            _exigir(
                all(seccion.titulo for seccion in secciones),
                "Con varias secciones, cada una necesita título.",
            )
        object.__setattr__(
            self, "encabezado", _texto_corto(self.encabezado, "El encabezado", 0, 60)
        )
        object.__setattr__(self, "pie", _texto_corto(self.pie, "El pie", 0, 60))


Interactivo = Botones | Lista


def interactivo_a_datos(contenido: Interactivo) -> dict:
    """What of ``contenido`` the envío row keeps besides its body (``texto``), as JSON."""
    adornos = {"encabezado": contenido.encabezado, "pie": contenido.pie}
    if isinstance(contenido, Botones):
        return {"botones": [[boton.id, boton.titulo] for boton in contenido.botones], **adornos}
    secciones = [
        {
            "titulo": seccion.titulo,
            "filas": [[f.id, f.titulo, f.descripcion] for f in seccion.filas],
        }
        for seccion in contenido.secciones
    ]
    return {"boton": contenido.boton, "secciones": secciones, **adornos}


def interactivo_de_datos(cuerpo: str, datos: object, clase: str = "") -> Interactivo:
    """The message :func:`interactivo_a_datos` described, checked again on the way in.

    ``clase`` (``"botones"`` or ``"lista"``) is the kind the row says it holds.

    Raises:
        MessageError: the data is not what :func:`interactivo_a_datos` writes (a row edited
            by hand): the envío fails once with this sentence, it is never retried.
    """
    try:
        return _interactivo(cuerpo, datos, clase)
    except MessageError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise MessageError(
            f"Los botones o filas guardados en el envío no se pueden leer ({exc!r}): el "
            "envío se registró con otros datos o se editó a mano; regístralo de nuevo."
        ) from exc


def _par(valor: Any, minimo: int, maximo: int) -> list:
    """A stored button or row: a JSON list of ``minimo`` to ``maximo`` items."""
    if not isinstance(valor, list) or not minimo <= len(valor) <= maximo:
        raise TypeError(f"se esperaba una lista de {minimo} a {maximo} textos: {valor!r}")
    return valor


def _interactivo(cuerpo: str, datos: Any, clase: str) -> Interactivo:
    adornos = {"encabezado": datos.get("encabezado", ""), "pie": datos.get("pie", "")}
    if "botones" in datos and clase in ("", "botones"):
        botones = tuple(Boton(*_par(boton, 2, 2)) for boton in datos["botones"])
        return Botones(cuerpo, botones, **adornos)
    if clase == "botones":
        raise KeyError("botones")
    secciones = tuple(
        Seccion(seccion["titulo"], tuple(Fila(*_par(fila, 2, 3)) for fila in seccion["filas"]))
        for seccion in datos["secciones"]
    )
    return Lista(cuerpo, datos["boton"], secciones, **adornos)


Contenido = Plantilla | Documento | Imagen | Video | Texto | Botones | Lista | Ubicacion | Reaccion


@dataclass(frozen=True)
class Salida:
    """One message to one phone, as handed to a backend.

    ``referencia`` travels with the message (Meta: ``biz_opaque_callback_data``) so a
    status webhook can find the envío even if the worker died before saving the wamid.
    ``responde_a``: the wamid of the customer's message this one answers, quoted above it.
    """

    telefono: str
    contenido: Contenido
    referencia: str = ""
    responde_a: str = ""

    def __post_init__(self) -> None:
        _exigir(self.telefono.isdigit(), "El teléfono de salida debe ser E.164 sin «+».")
        _exigir(len(self.referencia) <= 512, "La referencia supera 512 caracteres.")
