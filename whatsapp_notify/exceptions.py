"""Error hierarchy: the shared classes every provider maps its errors onto.

A provider error is *transient* (retry with backoff), *permanent* (fail the envío with a
readable reason), *auth* (credentials or permissions: pause the account, alert once) or a
*pair rate* limit (back off that recipient only). A timeout after the request left is
*ambiguous*. Each provider classifies its own codes once (its ``errors`` module, through
``BaseBackend.classify``); :func:`classify` here knows only HTTP statuses.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class WhatsAppError(Exception):
    """Base class of every error this app raises."""


class ConfigurationError(WhatsAppError, ImproperlyConfigured):
    """Settings are wrong. Never swallowed: it names the key to fix."""


class MissingDependencyError(ConfigurationError):
    """An optional package is needed; the message names the ``pip install`` extra."""

    def __init__(self, package: str, extra: str):
        super().__init__(
            _("Falta el paquete %(paquete)s. Instálalo con: %(orden)s")
            % {"paquete": repr(package), "orden": f'pip install "django-whatsapp-notify[{extra}]"'}
        )


class VariablesError(WhatsAppError, ValueError):
    """Template variables of the wrong shape or count (a programmer error)."""


class RegionDesconocida(WhatsAppError, ValueError):
    """A ``region`` given to a send is not one ``phonenumbers`` knows (a programmer error)."""


class MessageError(WhatsAppError, ValueError):
    """An outbound message that cannot be built (empty text, too long, bad document)."""


class ValorDemasiadoLargo(MessageError):
    """A value given to a send is longer than Meta or its column admits (a programmer error).

    Attributes:
        parametro: the send API's parameter (``clave``, ``tipo``, ``plantilla``...).
        limite: the most characters it admits.
    """

    def __init__(self, parametro: str, limite: int, largo: int, arreglo: str):
        super().__init__(
            f"{parametro} tiene {largo} caracteres y admite como máximo {limite}: {arreglo}"
        )
        self.parametro = parametro
        self.limite = limite


class TipoInvalido(MessageError, TypeError):
    """A send API argument of the wrong type (``clave=123``, ``caption=5``): a programmer error.

    A ``TypeError``, and a :class:`MessageError` for code that catches those. The message
    names the parameter, the type received and what to pass instead.
    """


class FechaInvalida(WhatsAppError, TypeError, ValueError):
    """A datetime keyword of the send API (``programado_para``) that is not a usable datetime.

    Both a ``TypeError`` (text, a date, a number) and a ``ValueError`` (a naive datetime
    while ``USE_TZ``): catch either. A programmer error; the message names the fix.
    """


class WebhookRechazado(WhatsAppError, PermissionDenied):
    """A webhook request that is not from the provider (signature or verify token): 403."""


class WebhookMalformado(WhatsAppError, ValueError):
    """A webhook body that is not a JSON object (well signed or not): 400."""


class SuscripcionError(WhatsAppError):
    """The provider will not call this account's webhook (``BaseBackend.check_subscription``).

    Attributes:
        arreglo: what to do about it: a sentence, or a command to paste (never a secret).
        aviso: True when the subscription could not be checked at all (a warning, not an
            error): an optional setting it needs is missing.
    """

    def __init__(self, mensaje: str, arreglo: str = "", *, aviso: bool = False):
        super().__init__(mensaje)
        self.arreglo = arreglo
        self.aviso = aviso


class ProviderError(WhatsAppError):
    """The provider refused or could not take a request.

    Attributes:
        code: provider error code, or None for transport errors.
        detail: provider detail (the explanation that came with the code).
        http_status: HTTP status of the response, None when no response arrived.
        trace_id: provider trace id to quote to support.
        legible: the classifying provider's readable sentence ("" for the generic one).
    """

    retryable = False

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        detail: str = "",
        http_status: int | None = None,
        trace_id: str = "",
        legible: str = "",
    ):
        self._generico = f"Error del proveedor (código {code})"
        super().__init__(message or detail or self._generico)
        self.code = code
        self.detail = detail
        self.http_status = http_status
        self.trace_id = trace_id
        self.legible = legible

    @property
    def provider_text(self) -> str:
        """The provider's own words, untranslated: its detail, else its message (``""``
        when it gave neither). What an envío keeps as evidence beside the code."""
        if self.detail:
            return self.detail
        texto = str(self)
        return "" if texto == self._generico else texto

    @property
    def readable(self) -> str:
        """A readable sentence, in the active language, for an alert or a code too large to
        store (an envío keeps the code and :attr:`provider_text`, explained when read).

        The provider's own (``legible``, set when it classified the error), else
        :func:`describe_error`'s ``"(#code) detail"``.
        """
        return self.legible or describe_error(self.code, self.detail or str(self))


class TransientError(ProviderError):
    """Worth retrying later with backoff (5xx, connection errors, throughput limits)."""

    retryable = True


class PairRateLimitError(TransientError):
    """Too many messages to the same recipient; back off that recipient only."""


class ThroughputLimitError(TransientError):
    """The account's (sender's, app's) rate was exceeded: every send of the account slows
    down for a moment, not this one only (Meta's 130429, Twilio's 63018, an HTTP 429)."""


class AmbiguousError(TransientError):
    """The request may have reached the provider (read timeout). Reconcile before resending."""


class PermanentError(ProviderError):
    """Retrying as-is will not help (bad parameter, template missing, user unreachable)."""


class AuthError(ProviderError):
    """Credentials, permissions or account-wide problems: pause the account and alert."""


ERROR_GENERICO = _("Error del proveedor.")


def describir_codigo(mensajes: Mapping[int, str], code: int | None, detail: str = "") -> str:
    """``"(#code) sentence. Detalle: detail"`` from a provider's table of sentences.

    Only ``detail`` without a code; the generic sentence for a code not in ``mensajes``.
    """
    if code is None:
        return detail
    return con_detalle(f"(#{code}) {mensajes.get(code, ERROR_GENERICO)}", detail)


def con_detalle(explicacion: str, detail: str) -> str:
    """``explicacion`` followed by the provider's own words, when there are any."""
    if not detail:
        return explicacion
    return gettext("%(explicacion)s Detalle: %(detalle)s") % {
        "explicacion": explicacion,
        "detalle": detail,
    }


def describe_error(code: int | None, detail: str = "") -> str:
    """The generic readable text of an error: ``"(#code) detail"``; ``detail`` without a code.

    A provider gives a better sentence for its own codes (``BaseBackend.describe_error``).
    """
    if code is None:
        return detail
    return f"(#{code}) {detail or ERROR_GENERICO}"


def classify(
    code: int | None,
    *,
    http_status: int | None = None,
    detail: str = "",
    message: str = "",
    trace_id: str = "",
) -> ProviderError:
    """The shared error for a provider answer, by its HTTP status alone; ``code`` is kept.

    HTTP 5xx and no answer at all are transient, 429 a throughput limit, 401/403 are auth,
    any other status is permanent. A provider that knows its codes classifies them first
    (its ``errors``).
    """
    kwargs = {"code": code, "detail": detail, "http_status": http_status, "trace_id": trace_id}
    return _error_class(http_status)(message, **kwargs)


def _error_class(http_status: int | None) -> type[ProviderError]:
    if http_status == 429:
        return ThroughputLimitError
    if http_status is None or http_status >= 500:
        return TransientError
    if http_status in (401, 403):
        return AuthError
    return PermanentError


class MediaDemasiadoGrande(WhatsAppError, ValueError):
    """A received file larger than the cap it is downloaded under (``MEDIA_MAX_BYTES``)."""
