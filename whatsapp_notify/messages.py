"""Outbound message value objects, validated on construction.

They say *what* to send, independent of the provider; a backend turns them into its
payload. Limits are WhatsApp's (Cloud API reference): a message that breaks one raises
:class:`~whatsapp_notify.exceptions.MessageError` before anything is queued.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from functools import cached_property

from .exceptions import MessageError, VariablesError

MAX_TEXTO = 4096
MAX_CAPTION = 1024
MAX_DOCUMENTO_BYTES = 100 * 1024 * 1024
MAX_BOTONES = 3
MAX_TITULO_BOTON = 20
MAX_FILAS_LISTA = 10


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


Variables = list[str] | dict[str, str]
# Named template parameters ({{nombre_cliente}}): lowercase letters, digits, underscores.
_NOMBRE_VARIABLE = re.compile(r"[a-z_][a-z0-9_]*")


def normalizar_variables(variables: object) -> Variables:
    """Return variables as a list of str (positional) or a dict of str (named).

    Raises:
        VariablesError: not a list/tuple/dict, or a dict key that is not a valid name.
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
        return {nombre: _texto_variable(valor) for nombre, valor in variables.items()}
    if isinstance(variables, list | tuple):
        return [_texto_variable(valor) for valor in variables]
    raise VariablesError(
        "variables debe ser una lista (para {{1}}..{{n}}) o un dict (parámetros con nombre), "
        f"no {type(variables).__name__}."
    )


def _texto_variable(valor: object) -> str:
    # Meta rejects parameters with newlines, tabs or more than 4 spaces in a row (132018).
    texto = " ".join(str(valor).split()) if valor is not None else ""
    if not texto:
        raise VariablesError("Una variable de plantilla está vacía; Meta no acepta vacías.")
    return texto


@dataclass(frozen=True)
class Plantilla:
    """An approved template: name, language, body variables, optional header document."""

    nombre: str
    idioma: str
    variables: Variables = field(default_factory=list)
    documento: Documento | None = None

    def __post_init__(self) -> None:
        _exigir(bool(self.nombre), "Falta el nombre de la plantilla.")
        _exigir(bool(self.idioma), "Falta el idioma de la plantilla (p. ej. es_MX).")
        object.__setattr__(self, "variables", normalizar_variables(self.variables))


@dataclass(frozen=True)
class Texto:
    """Free text; only deliverable inside the 24-hour customer-service window."""

    cuerpo: str
    preview_url: bool = False

    def __post_init__(self) -> None:
        _exigir(bool(self.cuerpo and self.cuerpo.strip()), "El texto está vacío.")
        _exigir(len(self.cuerpo) <= MAX_TEXTO, f"El texto supera {MAX_TEXTO} caracteres.")


@dataclass(frozen=True)
class Boton:
    id: str
    titulo: str

    def __post_init__(self) -> None:
        _exigir(0 < len(self.id) <= 256, "El id de un botón debe tener de 1 a 256 caracteres.")
        _exigir(
            0 < len(self.titulo) <= MAX_TITULO_BOTON,
            f"El título de un botón debe tener de 1 a {MAX_TITULO_BOTON} caracteres.",
        )


@dataclass(frozen=True)
class Botones:
    """Interactive reply buttons (at most three)."""

    cuerpo: str
    botones: tuple[Boton, ...]
    encabezado: str = ""
    pie: str = ""

    def __post_init__(self) -> None:
        _exigir(bool(self.cuerpo), "El cuerpo del mensaje con botones está vacío.")
        _exigir(len(self.cuerpo) <= MAX_CAPTION, "El cuerpo con botones supera 1024 caracteres.")
        _exigir(0 < len(self.botones) <= MAX_BOTONES, "Se necesitan de 1 a 3 botones.")
        titulos = [boton.titulo for boton in self.botones]
        _exigir(len(set(titulos)) == len(titulos), "Los títulos de los botones se repiten.")
        _exigir(len(self.encabezado) <= 60, "El encabezado supera 60 caracteres.")
        _exigir(len(self.pie) <= 60, "El pie supera 60 caracteres.")


@dataclass(frozen=True)
class Fila:
    id: str
    titulo: str
    descripcion: str = ""

    def __post_init__(self) -> None:
        _exigir(0 < len(self.id) <= 200, "El id de una fila debe tener de 1 a 200 caracteres.")
        _exigir(
            0 < len(self.titulo) <= 24, "El título de una fila debe tener de 1 a 24 caracteres."
        )
        _exigir(len(self.descripcion) <= 72, "La descripción de una fila supera 72 caracteres.")


@dataclass(frozen=True)
class Seccion:
    titulo: str
    filas: tuple[Fila, ...]

    def __post_init__(self) -> None:
        _exigir(len(self.titulo) <= 24, "El título de una sección supera 24 caracteres.")
        _exigir(len(self.filas) > 0, "Una sección de la lista no tiene filas.")


@dataclass(frozen=True)
class Lista:
    """An interactive list: a button that opens up to ten rows in sections."""

    cuerpo: str
    boton: str
    secciones: tuple[Seccion, ...]
    encabezado: str = ""
    pie: str = ""

    def __post_init__(self) -> None:
        _exigir(bool(self.cuerpo), "El cuerpo de la lista está vacío.")
        _exigir(0 < len(self.boton) <= 20, "El texto del botón de la lista: de 1 a 20 caracteres.")
        _exigir(0 < len(self.secciones) <= 10, "Una lista lleva de 1 a 10 secciones.")
        filas = sum(len(seccion.filas) for seccion in self.secciones)
        _exigir(filas <= MAX_FILAS_LISTA, "Una lista lleva como máximo 10 filas en total.")
        if len(self.secciones) > 1:
            _exigir(
                all(seccion.titulo for seccion in self.secciones),
                "Con varias secciones, cada una necesita título.",
            )


Contenido = Plantilla | Documento | Texto | Botones | Lista


@dataclass(frozen=True)
class Salida:
    """One message to one phone, as handed to a backend.

    ``referencia`` travels with the message (Meta: ``biz_opaque_callback_data``) so a
    status webhook can find the envío even if the worker died before saving the wamid.
    """

    telefono: str
    contenido: Contenido
    referencia: str = ""

    def __post_init__(self) -> None:
        _exigir(self.telefono.isdigit(), "El teléfono de salida debe ser E.164 sin «+».")
        _exigir(len(self.referencia) <= 512, "La referencia supera 512 caracteres.")
