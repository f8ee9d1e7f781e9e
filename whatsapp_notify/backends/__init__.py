"""The account registry: ``WHATSAPP_NOTIFY["BACKENDS"]`` alias -> backend instance.

Like Django's ``caches``: ``backends["default"]`` builds the configured backend once per
thread and keeps it (one HTTP session per worker); ``backends.reset()`` drops them when
settings change.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import get_settings
from ..exceptions import ConfigurationError, describe_error

if TYPE_CHECKING:
    from ..events import Evento
    from .base import BaseBackend


def backend_class(path: str, alias: str) -> type[BaseBackend]:
    """Import the class named by ``BACKEND``.

    Raises:
        ConfigurationError: the path does not import, naming the key to fix.
    """
    try:
        return import_string(path)
    except ImportError as exc:
        raise ConfigurationError(
            f'WHATSAPP_NOTIFY["BACKENDS"]["{alias}"]["BACKEND"] = {path!r} no se puede '
            f"importar ({exc}). Ejemplo: 'whatsapp_notify.backends.meta.MetaBackend'."
        ) from exc


class BackendHandler:
    """Thread-local cache of backend instances by account alias."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __getitem__(self, alias: str) -> BaseBackend:
        cache = self._cache()
        if alias not in cache:
            cache[alias] = self.create(alias)
        return cache[alias]

    def create(self, alias: str) -> BaseBackend:
        config = get_settings().backend_config(alias)
        if not config.get("BACKEND"):
            raise ConfigurationError(f'Falta WHATSAPP_NOTIFY["BACKENDS"]["{alias}"]["BACKEND"].')
        cls = backend_class(config["BACKEND"], alias)
        return cls(alias, **(config.get("OPTIONS") or {}))

    def cuenta_de(self, evento: Evento, cuenta: str) -> str:
        """The account an event received through ``cuenta``'s webhook belongs to.

        The receiving backend names the event's account (:meth:`BaseBackend.account_key`);
        when that key is another configured account's and the verified request proves it
        for that account too (:meth:`BaseBackend.comparte_firma`: Meta accounts of one
        app), the event is that account's, whatever URL it came through. Otherwise it
        stays ``cuenta``'s: a Twilio or WHAPI account never speaks for another.
        """
        try:
            receptor = self[cuenta]
        except ImproperlyConfigured:
            return cuenta  # an account since removed from the settings keeps its events
        clave = receptor.account_key(evento)
        if not clave or clave in receptor.account_keys():
            return cuenta
        for alias in get_settings().BACKENDS:
            try:
                otro = self[alias]
            except ImproperlyConfigured:
                continue  # reported by the checks; it cannot own an event
            if clave in otro.account_keys() and receptor.comparte_firma(otro):
                return alias
        return cuenta

    def describe_error(self, alias: str, code: int | None, detail: str = "") -> str:
        """Account ``alias``'s readable sentence for a provider error code.

        Its backend's own (:meth:`BaseBackend.describe_error`); the generic
        ``"(#code) detail"`` for an account since removed from the settings.
        """
        try:
            backend = self[alias]
        except ImproperlyConfigured:
            return describe_error(code, detail)
        return backend.describe_error(code, detail)

    def reset(self) -> None:
        """Close and forget this thread's instances (other threads rebuild lazily)."""
        for backend in self._cache().values():
            backend.close()
        self._local = threading.local()

    def _cache(self) -> dict[str, BaseBackend]:
        if not hasattr(self._local, "instances"):
            self._local.instances = {}
        return self._local.instances


backends = BackendHandler()
