"""Helpers for the host project's own tests.

They inspect what was **actually sent**: the outbox of
:class:`~whatsapp_notify.backends.locmem.LocmemBackend`, filled only when an envío went
through the whole pipeline (recorded, enqueued on commit, claimed by a worker, handed to
the backend). An envío that was recorded but not sent (``omitido``, ``programado``, still
``pendiente``) is not in it; :func:`assert_enviado` lists such envíos in its failure
message to say why.

Typical use with pytest::

    from whatsapp_notify.testing import assert_enviado, usar_locmem

    @pytest.mark.django_db
    @usar_locmem()
    def test_orden_completada__avisa_al_cliente(django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            completar(orden)
        assert_enviado("+52 55 1234 5678", "vehiculo_listo_cliente", tipo="vehiculo_listo")

Sends are enqueued with ``transaction.on_commit``: inside a test wrapped in a transaction
(``django.test.TestCase``, ``@pytest.mark.django_db``) run the callbacks
(``captureOnCommitCallbacks(execute=True)`` / ``django_capture_on_commit_callbacks``) and
set ``CELERY_TASK_ALWAYS_EAGER = True``, or call :func:`entregar_pendientes`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings as django_settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test.utils import TestContextDecorator, override_settings
from django.utils import timezone

from .backends import backend_class, locmem
from .backends.locmem import LocmemBackend, SentMessage
from .conf import DEFAULT_ALIAS, SETTING_NAME, get_settings
from .events import EventoMensaje
from .exceptions import ConfigurationError
from .messages import (
    Botones,
    Documento,
    Imagen,
    Lista,
    Plantilla,
    Reaccion,
    Texto,
    Ubicacion,
    normalizar_variables,
)
from .models import EnvioWhatsApp, Mensaje
from .outbound import delivery
from .phones import normalizar
from .references import envio_referido

LOCMEM_BACKEND = "whatsapp_notify.backends.locmem.LocmemBackend"

_CLASES = {
    Plantilla: "plantilla",
    Documento: "documento",
    Imagen: "imagen",
    Texto: "texto",
    Botones: "botones",
    Lista: "lista",
    Ubicacion: "ubicacion",
    Reaccion: "reaccion",
}


def enviados(
    telefono: str | None = None,
    *,
    plantilla: str | None = None,
    variables: list[Any] | tuple[Any, ...] | dict[str, Any] | None = None,
    idioma: str | None = None,
    clase: str | None = None,
    cuenta: str | None = None,
    texto: str | None = None,
    nombre_documento: str | None = None,
    tipo: str | None = None,
    clave: str | None = None,
    nombre: str | None = None,
    referencia: models.Model | None = None,
) -> list[SentMessage]:
    """Return the messages actually sent through the locmem backend, oldest first.

    Every given filter must match; ``None`` means "any".

    Args:
        telefono: any human format (``"+52 55 1234 5678"``, ``"5512345678"``); it is
            normalised like the outbox does, with ``DEFAULT_REGION``.
        plantilla, idioma: template name and language code.
        variables: the template variables, compared after the same conversion to text
            the outbox applies (``42`` matches ``"42"``).
        clase: ``"plantilla"``, ``"documento"``, ``"texto"``, ``"botones"`` or ``"lista"``.
        cuenta: the account alias the message went out through.
        texto: the exact free text, or a document's caption.
        nombre_documento: the file name the recipient saw.
        tipo, clave, nombre, referencia: fields of the envío the message came from
            (``referencia`` is the ERP object given to ``enviar_plantilla``).

    Raises:
        TelefonoInvalido: ``telefono`` is not a phone number.
    """
    esperado = {
        "telefono": normalizar(telefono) if telefono is not None else None,
        "plantilla": plantilla,
        "variables": _variables(variables, idioma),
        "idioma": idioma,
        "clase": clase,
        "cuenta": cuenta,
        "texto": texto,
        "nombre_documento": nombre_documento,
    }
    mensajes = [m for m in locmem.outbox if _coincide(_rasgos(m), esperado)]
    de_envio = {"tipo": tipo, "clave": clave, "nombre": nombre, "referencia": referencia}
    if all(valor is None for valor in de_envio.values()):
        return mensajes
    ids = _ids_de_envios(**de_envio)
    return [m for m in mensajes if envio_referido(m.referencia) in ids]


def _variables(variables: Any, idioma: str | None) -> Any:
    # Dates and decimals are formatted for the template's language, as the outbox does.
    if variables is None:
        return None
    return normalizar_variables(variables, idioma or get_settings().DEFAULT_LANGUAGE)


def assert_enviado(
    telefono: str | None = None,
    plantilla: str | None = None,
    variables: list[Any] | tuple[Any, ...] | dict[str, Any] | None = None,
    *,
    veces: int | None = None,
    **filtros: Any,
) -> SentMessage:
    """Assert a matching message was sent (exactly ``veces`` times if given); return the last.

    Takes the filters of :func:`enviados`. The failure message lists every message sent
    and the envíos recorded but not sent, with their estado and motivo.
    """
    if veces is not None and veces < 1:
        raise ValueError("veces debe ser 1 o más; para ninguno usa assert_no_enviado().")
    filtros = {"telefono": telefono, "plantilla": plantilla, "variables": variables, **filtros}
    encontrados = enviados(**filtros)
    if not encontrados or (veces is not None and len(encontrados) != veces):
        raise AssertionError(
            f"Se esperaba un WhatsApp enviado {_veces(veces)} con {_describir_filtros(filtros)}; "
            f"coincidieron {len(encontrados)}.\n{_informe()}"
        )
    return encontrados[-1]


def assert_no_enviado(telefono: str | None = None, **filtros: Any) -> None:
    """Assert no sent message matches the filters of :func:`enviados`."""
    filtros = {"telefono": telefono, **filtros}
    encontrados = enviados(**filtros)
    if encontrados:
        lineas = "\n".join(f"  {describir(m)}" for m in encontrados)
        raise AssertionError(
            f"No se esperaba ningún WhatsApp con {_describir_filtros(filtros)}, "
            f"pero se enviaron {len(encontrados)}:\n{lineas}"
        )


def recibir(
    telefono: str,
    texto: str = "",
    *,
    boton: str | None = None,
    tipo: str | None = None,
    responde_a: EnvioWhatsApp | str | None = None,
    nombre: str = "Cliente",
    cuenta: str = DEFAULT_ALIAS,
) -> Mensaje:
    """The customer writes: apply an inbound message as a webhook would, and return it.

    ``texto`` is what they typed, or the title of what they tapped; ``boton`` the id of a
    reply button or list row, or a template quick-reply's payload, they tapped. ``tipo`` is
    the message type as the provider reports it: ``text`` by default, ``interactive`` (a
    reply button or list row) with ``boton``; pass ``"button"`` for a template's quick reply.
    ``responde_a`` is the envío (or wamid) they answer. The message opens the window,
    joins its conversation and goes to the reply handlers, as one from the provider does:
    with eager Celery (and the on-commit callbacks run) the handlers answer at once::

        with django_capture_on_commit_callbacks(execute=True):
            recibir("+52 55 1234 5678", "Aprobar", boton=f"cotizacion:aprobar:{cot.pk}")
        assert_enviado("+52 55 1234 5678", texto="¡Gracias!...")

    Raises:
        ValueError: neither ``texto`` nor ``boton``, or a phone that cannot be read.
        TypeError: ``texto``, ``boton``, ``tipo`` or ``nombre`` is not text.
        ImproperlyConfigured: ``cuenta`` is not in ``BACKENDS``.
    """
    from .inbound import apply  # the receiving side, only when a test calls it

    for parametro, valor in (
        ("texto", texto),
        ("boton", boton),
        ("tipo", tipo),
        ("nombre", nombre),
    ):
        if valor is not None and not isinstance(valor, str):
            raise TypeError(f"recibir(): {parametro} es un texto, no {type(valor).__name__}.")
    get_settings().backend_config(cuenta)
    if not texto and not boton:
        raise ValueError("recibir(): da el texto del cliente o el botón que toca.")
    digitos = normalizar(telefono, get_settings().DEFAULT_REGION)
    contexto = responde_a.wamid if isinstance(responde_a, EnvioWhatsApp) else responde_a
    evento = EventoMensaje(
        wamid=f"wamid.prueba.{uuid.uuid4().hex}", de=digitos,
        tipo=tipo or ("interactive" if boton else "text"), fecha=timezone.now(), nombre=nombre,
        texto=texto or boton or "", respuesta_id=boton or "", contexto_wamid=contexto or "",
    )  # fmt: skip
    apply.aplicar([evento], cuenta)
    return Mensaje.objects.get(wamid=evento.wamid)


def limpiar() -> None:
    """Empty the locmem outbox."""
    locmem.clear()


def entregar_pendientes() -> int:
    """Deliver now, in this process, every due ``pendiente`` envío; return how many went out.

    For tests that neither run ``on_commit`` callbacks nor use eager Celery. Scheduled
    envíos are sent only once their ``programado_para`` has passed.
    """
    delivery.envios_por_despachar()  # as Beat would: scheduled envíos that came due
    ids = list(EnvioWhatsApp.objects.debidos().order_by("pk").values_list("pk", flat=True))
    resultados = [delivery.entregar(envio_id).resultado for envio_id in ids]
    return resultados.count(delivery.Resultado.ENVIADO)


class usar_locmem(TestContextDecorator):  # lower case: it reads like override_settings
    """Send every account through :class:`LocmemBackend` and start with an empty outbox.

    Usable as a context manager, a function decorator, or a ``unittest.TestCase`` class
    decorator (each test then starts with an empty outbox). Every alias of
    ``WHATSAPP_NOTIFY["BACKENDS"]`` becomes a locmem backend, so no test reaches a real
    provider; the host's other keys (``REQUIRE_CONSENT``, ``DEFAULT_REGION``...) are kept.
    The outbox is not emptied on exit, so assertions may follow the ``with`` block.
    """

    def __init__(self) -> None:
        self._activos: list[override_settings] = []  # a stack: the same instance may nest
        super().__init__()

    def enable(self) -> list[SentMessage]:
        override = override_settings(**{SETTING_NAME: ajustes_locmem()})
        override.enable()
        self._activos.append(override)
        locmem.clear()
        return locmem.outbox

    def disable(self) -> None:
        self._activos.pop().disable()


def ajustes_locmem() -> dict[str, Any]:
    """The host's ``WHATSAPP_NOTIFY`` with every account on :class:`LocmemBackend`."""
    actuales = dict(getattr(django_settings, SETTING_NAME, None) or {})
    alias = set(get_settings().BACKENDS) | {DEFAULT_ALIAS}
    backends = {nombre: {"BACKEND": LOCMEM_BACKEND, "OPTIONS": {}} for nombre in sorted(alias)}
    return {**actuales, "BACKENDS": backends}


def describir(mensaje: SentMessage) -> str:
    """One readable line for a sent message (used in assertion messages)."""
    contenido = mensaje.contenido
    if isinstance(contenido, Plantilla):
        que = f"plantilla {contenido.nombre!r} ({contenido.idioma}) {contenido.variables!r}"
        if contenido.documento is not None:
            que += f" con documento {contenido.documento.nombre!r}"
    elif isinstance(contenido, Documento):
        que = "imagen" if isinstance(contenido, Imagen) else "documento"
        que += f" {contenido.nombre!r} caption={contenido.caption!r}"
    elif isinstance(contenido, Texto):
        que = f"texto {contenido.cuerpo!r}"
    else:
        que = type(contenido).__name__.lower()
    envio = envio_referido(mensaje.referencia) or mensaje.referencia
    return f"{mensaje.telefono}: {que} [envío {envio}, cuenta {mensaje.cuenta!r}]"


def _rasgos(mensaje: SentMessage) -> dict[str, Any]:
    """What the filters of :func:`enviados` compare, read from one sent message."""
    contenido = mensaje.contenido
    es_plantilla = isinstance(contenido, Plantilla)
    return {
        "telefono": mensaje.telefono,
        "plantilla": contenido.nombre if es_plantilla else None,
        "variables": contenido.variables if es_plantilla else None,
        "idioma": contenido.idioma if es_plantilla else None,
        "clase": _CLASES.get(type(contenido)),
        "cuenta": mensaje.cuenta,
        "texto": _texto_de(contenido),
        "nombre_documento": _documento_de(contenido),
    }


def _coincide(rasgos: dict[str, Any], esperado: dict[str, Any]) -> bool:
    return all(valor is None or rasgos[campo] == valor for campo, valor in esperado.items())


def _texto_de(contenido: Any) -> str | None:
    if isinstance(contenido, Documento):
        return contenido.caption
    return getattr(contenido, "cuerpo", None)


def _documento_de(contenido: Any) -> str | None:
    documento = contenido.documento if isinstance(contenido, Plantilla) else contenido
    return documento.nombre if isinstance(documento, Documento) else None


def _ids_de_envios(*, referencia: models.Model | None = None, **campos: Any) -> set[int]:
    filtros = {campo: valor for campo, valor in campos.items() if valor is not None}
    if referencia is not None:
        filtros["content_type"] = ContentType.objects.get_for_model(referencia)
        filtros["object_id"] = str(referencia.pk)
    pks = EnvioWhatsApp.objects.filter(**filtros).values_list("pk", flat=True)
    return set(pks)


def _veces(veces: int | None) -> str:
    if veces is None:
        return "al menos una vez"
    return "1 vez" if veces == 1 else f"{veces} veces"


def _describir_filtros(filtros: dict[str, Any]) -> str:
    dados = [f"{campo}={valor!r}" for campo, valor in filtros.items() if valor is not None]
    return ", ".join(dados) or "cualquier filtro"


def _informe() -> str:
    """What was sent and what was recorded but not sent, for an assertion message."""
    lineas = [f"Enviados ({len(locmem.outbox)}):"]
    lineas += [f"  {describir(m)}" for m in locmem.outbox] or ["  (ninguno)"]
    lineas += _envios_no_enviados()
    if not locmem.outbox and not _todas_en_locmem():
        lineas.append(
            "  Aviso: alguna cuenta no usa LocmemBackend; "
            "usa whatsapp_notify.testing.usar_locmem()."
        )
    return "\n".join(lineas)


def _envios_no_enviados(limite: int = 20) -> list[str]:
    enviados_ids = {envio_referido(m.referencia) for m in locmem.outbox}
    try:
        filas = list(EnvioWhatsApp.objects.order_by("-pk")[: limite + len(enviados_ids)])
    except Exception:  # no database access in this test: report what we have
        return []
    pendientes = [fila for fila in filas if fila.pk not in enviados_ids][:limite]
    if not pendientes:
        return []
    return ["Registrados y no enviados (los más recientes):"] + [
        f"  {_describir_envio(fila)}" for fila in reversed(pendientes)
    ]


def _describir_envio(envio: EnvioWhatsApp) -> str:
    que = envio.plantilla or envio.nombre_documento or envio.clase
    motivo = f" ({envio.motivo})" if envio.motivo else ""
    error = f" error {envio.error_codigo}" if envio.error_codigo else ""
    telefono = envio.telefono or repr(envio.telefono_original)
    return f"envío {envio.pk} {telefono}: {que} → {envio.estado}{motivo}{error}"


def _todas_en_locmem() -> bool:
    try:
        clases = [
            backend_class(config.get("BACKEND", ""), alias)
            for alias, config in get_settings().BACKENDS.items()
        ]
    except ConfigurationError:
        return False
    return all(issubclass(clase, LocmemBackend) for clase in clases)


def _fixture_outbox() -> Iterator[list[SentMessage]]:
    with usar_locmem() as outbox:
        yield outbox


try:  # the fixture exists only where pytest does; the helpers above need no pytest
    import pytest
except ImportError:  # pragma: no cover
    pass
else:
    #: pytest fixture: every account on locmem, empty outbox; yields the outbox list.
    #: Enable it in your ``conftest.py`` with
    #: ``from whatsapp_notify.testing import whatsapp_outbox``.
    whatsapp_outbox = pytest.fixture(_fixture_outbox, name="whatsapp_outbox")
