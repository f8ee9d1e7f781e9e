"""The people behind the bot: ``WHATSAPP_NOTIFY["AGENTS"]``, read once per settings.

Each agent has a WhatsApp number (notified when a conversation is passed to a person,
and whose messages are relayed to the customer) and/or a Django username (who takes
conversations from the admin), and a name shown to the customer's side. Both sides read
them here: the receiving side to recognise an agent's message, the sending side to send to
an agent without asking for consent (agents are the business's own staff).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .conf import Settings, get_settings
from .phones import TelefonoInvalido, normalizar


@dataclass(frozen=True)
class Agente:
    """One entry of ``AGENTS``; ``telefono`` as E.164 digits ("" when it has none)."""

    telefono: str = ""
    usuario: str = ""
    nombre: str = ""

    @property
    def clave(self) -> str:
        """What ``Conversacion.agente`` holds for this agent: the username, else the number."""
        return self.usuario or self.telefono

    @property
    def para_el_cliente(self) -> str:
        return self.nombre or self.usuario or "Un asesor"


class AgentesInvalidos(ValueError):
    """``AGENTS`` is malformed (reported by the system checks as E013)."""


def leer_agentes(valor: Any, region: str | None = None) -> tuple[Agente, ...]:
    """``AGENTS`` as :class:`Agente` values.

    Raises:
        AgentesInvalidos: not a list or tuple; an entry that is neither a phone string nor
            a dict with ``telefono`` and/or ``usuario``; a phone that cannot be read; an
            unknown key; a phone or username given twice.
    """
    if not isinstance(valor, list | tuple):
        raise AgentesInvalidos("AGENTS es una lista: [{'telefono': ..., 'nombre': ...}, ...].")
    agentes = tuple(_agente(entrada, region) for entrada in valor)
    for campo in ("telefono", "usuario"):
        valores = [getattr(a, campo) for a in agentes if getattr(a, campo)]
        if repetidos := sorted({v for v in valores if valores.count(v) > 1}):
            raise AgentesInvalidos(f"AGENTS repite {campo}: {', '.join(repetidos)}.")
    return agentes


def _agente(entrada: Any, region: str | None) -> Agente:
    if isinstance(entrada, str):
        entrada = {"telefono": entrada}
    if not isinstance(entrada, dict):
        raise AgentesInvalidos(
            f"Cada agente es un teléfono o un dict con telefono, usuario y nombre, no "
            f"{type(entrada).__name__}."
        )
    if sobran := sorted(set(entrada) - {"telefono", "usuario", "nombre"}):
        raise AgentesInvalidos(f"Claves desconocidas en un agente: {', '.join(sobran)}.")
    textos = {clave: entrada.get(clave) or "" for clave in ("telefono", "usuario", "nombre")}
    if not all(isinstance(v, str) for v in textos.values()):
        raise AgentesInvalidos("telefono, usuario y nombre de un agente son textos.")
    if not textos["telefono"] and not textos["usuario"]:
        raise AgentesInvalidos("Cada agente necesita telefono (su WhatsApp) o usuario (Django).")
    if textos["telefono"]:
        try:
            textos["telefono"] = normalizar(textos["telefono"], region)
        except TelefonoInvalido as exc:
            raise AgentesInvalidos(
                f"El teléfono del agente {textos['telefono']!r} no es válido: {exc}"
            ) from None
    return Agente(**textos)


logger = logging.getLogger(__name__)
_leidos: tuple[Settings, tuple[Agente, ...]] | None = None


def agentes() -> tuple[Agente, ...]:
    """The agents of the current settings (empty when ``AGENTS`` is malformed: the checks
    report it, and no message is mistaken for an agent's)."""
    global _leidos
    settings = get_settings()
    if _leidos is None or _leidos[0] is not settings:
        try:
            leidos = leer_agentes(settings.AGENTS, settings.DEFAULT_REGION)
        except AgentesInvalidos as exc:
            logger.error("AGENTS no se puede leer (%s): no hay agentes hasta corregirlo", exc)
            leidos = ()
        _leidos = (settings, leidos)
    return _leidos[1]


def agente_por_telefono(telefono: str) -> Agente | None:
    """The agent whose WhatsApp is ``telefono`` (E.164 digits), if any."""
    if not telefono:
        return None
    return next((a for a in agentes() if a.telefono == telefono), None)


def agente_por_clave(clave: str) -> Agente | None:
    return next((a for a in agentes() if clave and a.clave == clave), None)
