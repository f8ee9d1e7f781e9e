"""HTTP written once for the providers reached over HTTPS (Meta, Twilio, WHAPI).

A provider subclass says where to go (:meth:`HttpBackend.base_url`), how to authenticate
(:meth:`HttpBackend.auth_headers`) and how to read its error bodies
(:meth:`HttpBackend.parse_error`); :meth:`HttpBackend.request` does the rest: one pooled
``requests.Session`` per instance, a timeout on every call, and every failure turned into
an exception of :mod:`whatsapp_notify.exceptions`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from requests.exceptions import InvalidHeader, InvalidSchema, InvalidURL, MissingSchema

from .. import __version__
from ..conf import parse_rate
from ..exceptions import AmbiguousError, ConfigurationError, ProviderError, TransientError
from .base import BaseBackend

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
# Connecting is quick or it is not happening; a short connect timeout frees the worker.
CONNECT_TIMEOUT = 5.0
REDACTED = "***"
#: Open connections kept per host by a backend's session (a delivery batch's requests in
#: flight are bounded by ``DELIVERY_CONCURRENCY``; more than this reconnect).
CONEXIONES = 128
_sesion_lock = threading.Lock()


class HttpBackend(BaseBackend):
    """A backend that talks JSON over HTTPS. Subclasses fill the hooks below."""

    def __init__(self, alias: str = "default", **options: Any):
        super().__init__(alias, **options)
        self._session: requests.Session | None = None
        self.timeout = self._timeout()

    # -- hooks ----------------------------------------------------------------------

    def base_url(self) -> str:
        """Scheme and host (and any fixed prefix) every ``path`` is relative to."""
        raise NotImplementedError

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (sent on every call, never logged)."""
        return {}

    def parse_error(self, response: requests.Response) -> ProviderError:
        """Turn an error response into a classified exception (by HTTP status here)."""
        return self.classify(
            None,
            http_status=response.status_code,
            message=_("%(donde)s respondió HTTP %(status)s.")
            % {"donde": self._donde(), "status": response.status_code},
        )

    # -- the one way out ------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """The connection pool of this instance, created on first use.

        Shared by the threads of a delivery batch: it keeps up to ``CONEXIONES`` open
        connections per host, so a batch in flight reuses them instead of reconnecting.
        """
        if self._session is None:
            with _sesion_lock:
                if self._session is None:
                    sesion = requests.Session()
                    sesion.headers["User-Agent"] = user_agent()
                    _entorno_una_vez(sesion, self)
                    adaptador = HTTPAdapter(pool_connections=4, pool_maxsize=CONEXIONES)
                    sesion.mount("https://", adaptador)
                    sesion.mount("http://", adaptador)
                    self._session = sesion
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Make one call and return its parsed JSON body (``{}`` for an empty body).

        Raises:
            TransientError: the request never reached the provider (connection refused,
                DNS, connect timeout) or it answered 5xx/429 or a transient code.
            AmbiguousError: the request may have reached the provider (read timeout,
                broken or unreadable answer).
            ProviderError: the provider refused it (subclass from :meth:`classify`).
            ConfigurationError: the URL cannot be requested at all, or a credential is
                missing (nothing is sent).
        """
        self.exigir_credenciales()
        response = self._send(method, path, json=json, files=files, data=data, params=params)
        if not response.ok:
            raise self._fallo(method, path, self.parse_error(response))
        return self._json(method, path, response)

    def url(self, path: str) -> str:
        return f"{self.base_url().rstrip('/')}/{path.lstrip('/')}"

    # -- internals ------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = self.auth_headers()
        try:
            return self.session.request(
                method, self.url(path), headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.ConnectTimeout as exc:
            raise self._fallo(method, path, TransientError(self._sin_conexion(exc))) from exc
        except requests.ReadTimeout as exc:
            mensaje = _("%(donde)s no respondió en %(segundos)s s; pudo recibirlo.") % {
                "donde": self._donde(),
                "segundos": f"{self.timeout[1]:g}",
            }
            raise self._fallo(method, path, AmbiguousError(mensaje)) from exc
        except requests.ConnectionError as exc:
            raise self._fallo(method, path, TransientError(self._sin_conexion(exc))) from exc
        except (InvalidURL, InvalidSchema, MissingSchema):
            raise ConfigurationError(
                _("La URL de la cuenta de WhatsApp %(cuenta)s no es válida: revisa sus OPTIONS.")
                % {"cuenta": repr(self.alias)}
            ) from None
        except InvalidHeader:
            # requests quotes the header value, i.e. the token: the cause is not kept.
            raise ConfigurationError(
                _(
                    "Una cabecera de la cuenta de WhatsApp %(cuenta)s no es válida: ¿el token "
                    "tiene espacios o saltos de línea al principio o al final?"
                )
                % {"cuenta": repr(self.alias)}
            ) from None
        except requests.RequestException as exc:
            # The request went out and the answer broke on the way back (chunked, decoding).
            mensaje = _("%(donde)s: respuesta interrumpida (%(error)s).") % {
                "donde": self._donde(),
                "error": type(exc).__name__,
            }
            raise self._fallo(method, path, AmbiguousError(mensaje)) from exc

    def _json(self, method: str, path: str, response: requests.Response) -> Any:
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            # A 2xx we cannot read: the provider took the request, we cannot tell what it did.
            error = AmbiguousError(
                _("%(donde)s respondió HTTP %(status)s sin JSON.")
                % {"donde": self._donde(), "status": response.status_code},
                http_status=response.status_code,
            )
            raise self._fallo(method, path, error) from exc

    def _fallo(self, method: str, path: str, error: ProviderError) -> ProviderError:
        """Scrub secrets from ``error``, log it once (without payload) and return it."""
        error.args = tuple(self.scrub(str(arg)) for arg in error.args)
        error.detail = self.scrub(error.detail)
        error.legible = self.scrub(error.legible)
        logger.warning(
            "%s %s %s falló: %s (HTTP %s, código %s, traza %s)",
            self.alias,
            method,
            urlsplit(self.url(path)).path,
            type(error).__name__,
            error.http_status,
            error.code,
            error.trace_id or "-",
        )
        return error

    def scrub(self, texto: str) -> str:
        """``texto`` with every secret option value replaced by ``***``."""
        for secreto in self._secretos():
            texto = texto.replace(secreto, REDACTED)
        return texto

    def _secretos(self) -> list[str]:
        return [
            str(self.options[name])
            for name, spec in self.OPTIONS.items()
            if spec.secret and self.options.get(name)
        ]

    def _timeout(self) -> tuple[float, float]:
        valor = self.options.get("TIMEOUT")
        lectura = DEFAULT_TIMEOUT if valor is None else segundos(valor)
        if lectura is None:
            raise ConfigurationError(
                f'WHATSAPP_NOTIFY["BACKENDS"]["{self.alias}"]["OPTIONS"]["TIMEOUT"] '
                f"{revisar_timeout(valor)}"
            )
        return (min(CONNECT_TIMEOUT, lectura), lectura)

    def _donde(self) -> str:
        return urlsplit(self.base_url()).netloc or self.base_url()

    def _sin_conexion(self, exc: Exception) -> str:
        return _("No se pudo conectar con %(donde)s (%(error)s).") % {
            "donde": self._donde(),
            "error": type(exc).__name__,
        }


def _entorno_una_vez(sesion: requests.Session, backend: HttpBackend) -> None:
    """Read the proxy and CA-bundle variables (``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``...) once, for the provider's URL, instead of on every request:
    requests scans the whole environment per call otherwise, a good part of a send's cost.
    """
    try:
        sesion.proxies.update(requests.utils.get_environ_proxies(backend.base_url()))
    except Exception:  # a missing or unparsable URL: each request reads them as before
        return
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        sesion.verify = bundle
    sesion.trust_env = False


def user_agent() -> str:
    """``django-whatsapp-notify/<version> python-requests/<version>``."""
    return f"django-whatsapp-notify/{__version__} {requests.utils.default_user_agent()}"


# -- option checks shared by the HTTP providers (see ``Option.check``) ---------------------


def segundos(valor: Any) -> float | None:
    """``valor`` as a finite number of seconds greater than zero, or None if it is not one.

    Numeric text is accepted: option values often come from environment variables.
    """
    if isinstance(valor, bool):
        return None
    try:
        numero = float(valor)
    except (TypeError, ValueError):
        return None
    return numero if math.isfinite(numero) and numero > 0 else None


def revisar_timeout(valor: Any) -> str | None:
    """Check of a ``TIMEOUT`` option: seconds, greater than zero."""
    if segundos(valor) is None:
        return _("debe ser un número de segundos mayor que cero, no %(valor)s.") % {
            "valor": repr(valor)
        }
    return None


def revisar_url(valor: Any) -> str | None:
    """Check of a ``BASE_URL`` option: an ``http(s)://`` URL with a host."""
    try:
        partes = urlsplit(valor) if isinstance(valor, str) else None
        valida = partes is not None and partes.scheme in ("http", "https") and partes.hostname
        valida = valida and (partes.port is None or partes.port > 0)
    except ValueError:  # a malformed IPv6 host or port
        valida = False
    if not valida:
        return _(
            "debe ser una URL http:// o https:// con host, como 'https://graph.facebook.com', "
            "no %(valor)s."
        ) % {"valor": repr(valor)}
    return None


def revisar_token(valor: Any) -> str | None:
    """Check of a token option, without ever quoting it: text with no whitespace at all.

    A token copied with its line break (or read from a file ending in one) would otherwise
    fail on every request, as an invalid header.
    """
    if not isinstance(valor, str):
        return _("debe ser texto, no %(tipo)s.") % {"tipo": type(valor).__name__}
    if any(caracter.isspace() for caracter in valor):
        return _(
            "tiene espacios o saltos de línea; un token no lleva ninguno (¿se copió con el "
            "salto de línea final?). Su valor no se muestra."
        )
    return None


def revisar_ritmo(valor: Any) -> str | None:
    """Check of ``RATE_LIMIT``: ``'40/h'``, ``'1/m'``, ``'5/s'``."""
    try:
        parse_rate(valor)
    except ValueError:
        return _(
            "debe tener la forma '40/h', '1/m' o '5/s' con un número positivo, no %(valor)s."
        ) % {"valor": repr(valor)}
    return None
