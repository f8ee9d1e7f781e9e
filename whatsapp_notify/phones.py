"""Phone normalisation: any human format to E.164 digits without ``+``.

Mexico and Argentina have a legacy mobile digit that WhatsApp may or may not report
(``521…``/``52…``, ``549…``/``54…``). We store the form WhatsApp dials reliably (without
the extra digit) and :func:`variantes` gives both, to match inbound ``wa_id`` on either.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from .exceptions import WhatsAppError

# Legacy Mexican prefixes left in the national number: the mobile "1" (also what remains of
# "01", whose 0 phonenumbers drops) and "044"/"045".
_PREFIJOS_MX = ("1", "44", "45")

# What people put between the digits of a phone.
_SEPARADORES = re.compile(r"[\s().\-/]")

# country calling code -> the extra mobile digit WhatsApp may add after it
_MOBILE_PREFIX = {52: "1", 54: "9"}
_ACCEPTED_TYPES = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.FIXED_LINE,  # WhatsApp Business landlines exist
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.UAN,
    PhoneNumberType.UNKNOWN,
}


class TelefonoInvalido(WhatsAppError, ValueError):
    """The text is not a valid phone number. The message never contains the number."""


def normalizar(telefono: str | int | None, region: str | None = None) -> str:
    """Return ``telefono`` as E.164 digits without ``+`` (``"525512345678"``).

    A number written without ``+`` (or ``00``) is read as a national number of ``region``.
    When it is not a valid one but its digits are a valid international number, that is
    the number: several ERPs store ``5491135722871`` or ``51902376744`` without the ``+``.
    A valid national number always wins (``6597925149`` under MX is Mexican, not +65).

    Args:
        telefono: any human format (``"+52 55 1234 5678"``, ``"(55) 1234-5678"``,
            ``"whatsapp:+54 9 11 …"``, ``"00 34 612 …"``, ``"5491135722871"``).
        region: ISO 3166 region used when the number has no country code;
            defaults to ``WHATSAPP_NOTIFY["DEFAULT_REGION"]``.

    Raises:
        TelefonoInvalido: empty, unparsable, or valid neither for its region nor as an
            international number without ``+``.
    """
    texto = _limpiar(telefono)
    if not texto:
        raise TelefonoInvalido("El teléfono está vacío.")
    return _normalizado(texto, region or _default_region())


# A pure function of its text and region: the ERP's saves and the worker's batches meet the
# same customers again and again, and parsing is most of the time of recording an envío.
@functools.lru_cache(maxsize=4096)
def _normalizado(texto: str, region: str) -> str:
    numero = _sin_prefijo_mexicano(_parse(texto, region))
    if not phonenumbers.is_valid_number(numero):
        numero = _internacional_sin_mas(texto) or numero
    if not phonenumbers.is_valid_number(numero):
        raise TelefonoInvalido(
            f"El teléfono no es válido para la región {_region_de(numero)} ({mask(texto)})."
        )
    if phonenumbers.number_type(numero) not in _ACCEPTED_TYPES:
        raise TelefonoInvalido(f"El teléfono no puede recibir WhatsApp ({mask(texto)}).")
    e164 = phonenumbers.format_number(numero, phonenumbers.PhoneNumberFormat.E164)
    return _sin_prefijo_movil(e164.lstrip("+"))


def es_valido(telefono: str | None, region: str | None = None) -> bool:
    """True when :func:`normalizar` accepts ``telefono``."""
    try:
        normalizar(telefono, region)
    except TelefonoInvalido:
        return False
    return True


def variantes(digitos: str) -> set[str]:
    """Both forms WhatsApp may use for the same MX/AR mobile (``52…`` and ``521…``).

    For other countries, the set holds only ``digitos``.
    """
    digitos = "".join(ch for ch in digitos if ch.isdigit())
    canonico = _sin_prefijo_movil(digitos)
    formas = {digitos, canonico}
    for codigo, extra in _MOBILE_PREFIX.items():
        cc = str(codigo)
        if canonico.startswith(cc) and len(canonico) == len(cc) + 10:
            formas.add(cc + extra + canonico[len(cc) :])
    return formas


def mask(telefono: str | None) -> str:
    """Mask a phone for logs and messages: ``52******5678``."""
    digitos = "".join(ch for ch in str(telefono or "") if ch.isdigit())
    if len(digitos) <= 6:
        return "*" * len(digitos)
    return digitos[:2] + "*" * (len(digitos) - 6) + digitos[-4:]


def _limpiar(telefono: str | int | None) -> str:
    texto = str(telefono or "").strip()
    if texto.lower().startswith("whatsapp:"):
        texto = texto[len("whatsapp:") :]
    if texto.startswith("00"):
        texto = "+" + texto[2:]
    return texto


def _parse(texto: str, region: str) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(texto, region.upper())
    except NumberParseException:
        raise TelefonoInvalido("No se pudo interpretar el texto como teléfono.") from None


def _internacional_sin_mas(texto: str) -> phonenumbers.PhoneNumber | None:
    """``texto``'s digits read as an international number, when valid and no ``+`` was given."""
    digitos = _SEPARADORES.sub("", texto)
    if not digitos.isdigit():
        return None  # "+…" was read as international already; letters are no phone
    try:
        numero = _sin_prefijo_mexicano(phonenumbers.parse(f"+{digitos}"))
    except NumberParseException:
        return None
    return numero if phonenumbers.is_valid_number(numero) else None


def _sin_prefijo_mexicano(numero: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    # Mexico dropped the mobile "1" and the 01/044/045 dialling prefixes in 2019; people (and
    # WhatsApp) still write +521 55 …, and old ERP records carry 044 55 …, which phonenumbers
    # no longer strips. A Mexican national number has exactly 10 digits, so this is unambiguous.
    nacional = str(numero.national_number)
    if numero.country_code != 52:
        return numero
    for prefijo in _PREFIJOS_MX:
        if len(nacional) == len(prefijo) + 10 and nacional.startswith(prefijo):
            return phonenumbers.PhoneNumber(
                country_code=52, national_number=int(nacional[len(prefijo) :])
            )
    return numero


def _sin_prefijo_movil(digitos: str) -> str:
    for codigo, extra in _MOBILE_PREFIX.items():
        prefijo = f"{codigo}{extra}"
        if digitos.startswith(prefijo) and len(digitos) == len(prefijo) + 10:
            return str(codigo) + digitos[len(prefijo) :]
    return digitos


def _region_de(numero: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.region_code_for_number(numero) or f"+{numero.country_code}"


def _default_region() -> str:
    from .conf import get_settings

    return get_settings().DEFAULT_REGION
