"""Error hierarchy and the one place where a provider error is classified.

Classification follows the Graph error code table (Cloud API error codes): a code is
*transient* (retry with backoff), *permanent* (fail the envío with a readable reason),
*auth* (credentials or permissions: pause the account, alert once) or a *pair rate* limit
(back off that recipient only). A timeout after the request left is *ambiguous*.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.utils.translation import gettext_lazy as _


class WhatsAppError(Exception):
    """Base class of every error this app raises."""


class ConfigurationError(WhatsAppError, ImproperlyConfigured):
    """Settings are wrong. Never swallowed: it names the key to fix."""


class MissingDependencyError(ConfigurationError):
    """An optional package is needed; the message names the ``pip install`` extra."""

    def __init__(self, package: str, extra: str):
        super().__init__(
            f"Falta el paquete {package!r}. Instálalo con: "
            f'pip install "django-whatsapp-notify[{extra}]"'
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


class ProviderError(WhatsAppError):
    """The provider refused or could not take a request.

    Attributes:
        code: provider error code (Graph ``error.code``), or None for transport errors.
        detail: provider detail (``error_data.details`` or the message).
        http_status: HTTP status of the response, None when no response arrived.
        trace_id: provider trace id (``fbtrace_id``) to quote to support.
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
    ):
        super().__init__(message or detail or f"Error del proveedor (código {code})")
        self.code = code
        self.detail = detail
        self.http_status = http_status
        self.trace_id = trace_id

    @property
    def readable(self) -> str:
        """A Spanish sentence for the admin and the envío's ``error_detalle``."""
        return describe_error(self.code, self.detail or str(self))


class TransientError(ProviderError):
    """Worth retrying later with backoff (5xx, connection errors, throughput limits)."""

    retryable = True


class PairRateLimitError(TransientError):
    """131056: too many messages to the same recipient; back off that recipient only."""


class AmbiguousError(TransientError):
    """The request may have reached the provider (read timeout). Reconcile before resending."""


class PermanentError(ProviderError):
    """Retrying as-is will not help (bad parameter, template missing, user unreachable)."""


class AuthError(ProviderError):
    """Credentials, permissions or account-wide problems: pause the account and alert."""


# Graph codes, from the Cloud API error code reference.
TRANSIENT_CODES = frozenset(
    {1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131057, 133004, 133015, 133016, 2494100}
)
PAIR_RATE_CODES = frozenset({131056})
AUTH_CODES = frozenset({0, 3, 10, 190, *range(200, 300)})
# Account-wide problems: every send of the account would fail the same way (blocked or
# locked account, billing, unregistered number), so they pause it like an auth error.
ACCOUNT_CODES = frozenset({368, 131005, 131031, 131037, 131042, 131045, 133010})

ERROR_GENERICO = _("Error del proveedor.")

# Readable Spanish messages for the codes an ERP user is likely to meet.
ERROR_MESSAGES = {
    0: _("El token de acceso no es válido, expiró o fue revocado."),
    1: _("Solicitud inválida o error temporal del servidor de Meta."),
    2: _("El servicio de Meta no está disponible temporalmente."),
    3: _("La aplicación no tiene permiso para esta operación."),
    4: _("Se alcanzó el límite de llamadas de la aplicación."),
    10: _("Permiso denegado: revisa los permisos de la aplicación."),
    100: _("Parámetro inválido en la solicitud."),
    190: _("El token de acceso expiró: genera uno nuevo (usuario del sistema)."),
    130429: _("Se alcanzó el límite de mensajes por segundo del número."),
    130472: _("El número del cliente participa en un experimento de Meta; no se envió."),
    131000: _("Error desconocido en Meta."),
    131008: _("Falta un parámetro obligatorio."),
    131009: _("Un valor de parámetro no es válido (revisa el teléfono)."),
    131016: _("El servicio de Meta no está disponible temporalmente."),
    131021: _("El destinatario es el mismo número que envía."),
    131026: _("No se pudo entregar: el número no usa WhatsApp o su aplicación es antigua."),
    131030: _("El número no está en la lista de destinatarios permitidos de prueba."),
    131031: _("La cuenta de WhatsApp Business está bloqueada."),
    131037: _("El número no tiene un nombre visible aprobado."),
    131042: _("Hay un problema con el método de pago de la cuenta."),
    131045: _("El número no está bien registrado (certificado)."),
    131047: _("Pasaron más de 24 horas desde el último mensaje del cliente: usa una plantilla."),
    131048: _("Límite por spam: demasiados mensajes bloqueados o reportados."),
    131049: _("Meta no entregó el mensaje para cuidar la experiencia del usuario."),
    131050: _("El cliente dejó de recibir mensajes de marketing."),
    131051: _("Tipo de mensaje no soportado."),
    131053: _("No se pudo subir el archivo (tipo, tamaño o formato)."),
    131056: _("Demasiados mensajes seguidos al mismo cliente."),
    131057: _("La cuenta está en mantenimiento."),
    132000: _("El número de variables no coincide con la plantilla."),
    132001: _("La plantilla no existe en ese idioma o no está aprobada."),
    132005: _("El texto de la plantilla con variables es demasiado largo."),
    132007: _("El contenido viola la política de formato de plantillas."),
    132012: _("El formato de un parámetro no coincide con la plantilla."),
    132015: _("La plantilla está pausada por baja calidad."),
    132016: _("La plantilla fue deshabilitada."),
    132018: _("Una variable tiene saltos de línea, tabuladores o demasiados espacios."),
    133004: _("El servidor de Meta no está disponible temporalmente."),
    135000: _("Error genérico del usuario en los parámetros."),
    133010: _("El número no está registrado en la plataforma."),
    368: _("La cuenta está bloqueada temporalmente por infringir políticas."),
    131005: _("Acceso denegado: revisa los permisos del token."),
}


def describe_error(code: int | None, detail: str = "") -> str:
    """Return ``"(#code) Spanish sentence. Detalle: detail"`` for ``error_detalle``."""
    if code is None:
        return detail
    text = f"(#{code}) {ERROR_MESSAGES.get(code, ERROR_GENERICO)}"
    return f"{text} Detalle: {detail}" if detail else text


def classify(
    code: int | None,
    *,
    http_status: int | None = None,
    detail: str = "",
    message: str = "",
    trace_id: str = "",
) -> ProviderError:
    """Build the right ``ProviderError`` subclass for a provider answer.

    A known code decides; without one, HTTP 5xx and 429 are transient, 401/403 are auth,
    any other status is permanent.
    """
    kwargs = {"code": code, "detail": detail, "http_status": http_status, "trace_id": trace_id}
    return _error_class(code, http_status)(message, **kwargs)


def _error_class(code: int | None, http_status: int | None) -> type[ProviderError]:
    if code is not None:
        if code in PAIR_RATE_CODES:
            return PairRateLimitError
        if code in TRANSIENT_CODES:
            return TransientError
        if code in AUTH_CODES or code in ACCOUNT_CODES:
            return AuthError
        return PermanentError
    if http_status is None or http_status >= 500 or http_status == 429:
        return TransientError
    if http_status in (401, 403):
        return AuthError
    return PermanentError
