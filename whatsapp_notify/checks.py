"""System checks: every misconfiguration explained with the exact key to set.

Ids are stable; document them before changing one.

- E001 ``WHATSAPP_NOTIFY`` is not a dict, or has an unknown key.
- E002 ``BACKENDS`` is empty, not a dict, or lacks ``"default"``.
- E003 a ``BACKEND`` path is missing or does not import.
- E004 a backend option is unknown or a required one is missing.
- E005 ``DEFAULT_REGION`` is not a region ``phonenumbers`` knows.
- E006 ``RATE_LIMIT`` is malformed.
- E007 a number setting (``MAX_ATTEMPTS`` ...) is not a positive number.
"""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .conf import DEFAULT_ALIAS, DEFAULTS, SETTING_NAME, parse_rate, raw_user_settings

NUMEROS = (
    "MAX_ATTEMPTS",
    "RETRY_BACKOFF",
    "RETRY_BACKOFF_MAX",
    "REDISPATCH_AFTER",
    "RECONCILE_AFTER",
    "PAUSE_PROBE_EVERY",
)


def _error(msg: str, hint: str, id_: str) -> checks.Error:
    return checks.Error(msg, hint=hint, id=f"whatsapp_notify.{id_}")


@checks.register()
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        user = raw_user_settings()
    except ImproperlyConfigured as exc:
        return [_error(str(exc), f"Define {SETTING_NAME} = {{...}} en settings.py.", "E001")]
    merged = {**DEFAULTS, **user}
    return [
        *_unknown_keys(user),
        *_backends(merged["BACKENDS"]),
        *_region(merged["DEFAULT_REGION"]),
        *_rate(merged["RATE_LIMIT"]),
        *_numbers(merged),
    ]


def _unknown_keys(user: dict) -> list[checks.CheckMessage]:
    return [
        _error(
            f"{SETTING_NAME}[{key!r}] no es una opción conocida.",
            f"Opciones válidas: {', '.join(sorted(DEFAULTS))}.",
            "E001",
        )
        for key in user
        if key not in DEFAULTS
    ]


def _backends(config) -> list[checks.CheckMessage]:
    if not isinstance(config, dict) or DEFAULT_ALIAS not in config:
        return [
            _error(
                f'{SETTING_NAME}["BACKENDS"] debe ser un dict con la cuenta "default".',
                f'{SETTING_NAME}["BACKENDS"] = {{"default": {{"BACKEND": '
                '"whatsapp_notify.backends.meta.MetaBackend", "OPTIONS": {...}}}}',
                "E002",
            )
        ]
    return [problem for alias, entry in config.items() for problem in _backend(alias, entry)]


def _backend(alias: str, entry) -> list[checks.CheckMessage]:
    from .backends import backend_class
    from .backends.base import BaseBackend

    where = f'{SETTING_NAME}["BACKENDS"]["{alias}"]'
    if not isinstance(entry, dict) or not entry.get("BACKEND"):
        return [
            _error(
                f'Falta {where}["BACKEND"].',
                'Por ejemplo "whatsapp_notify.backends.meta.MetaBackend".',
                "E003",
            )
        ]
    try:
        cls = backend_class(entry["BACKEND"], alias)
    except ImproperlyConfigured as exc:
        return [_error(str(exc), f'Corrige la ruta en {where}["BACKEND"].', "E003")]
    if not (isinstance(cls, type) and issubclass(cls, BaseBackend)):
        return [
            _error(
                f'{where}["BACKEND"] = {entry["BACKEND"]!r} no es una clase de backend.',
                "Indica una subclase de whatsapp_notify.backends.base.BaseBackend.",
                "E003",
            )
        ]
    return _options(where, alias, cls, entry.get("OPTIONS") or {})


def _options(where: str, alias: str, cls, options) -> list[checks.CheckMessage]:
    hint = f'Revisa {where}["OPTIONS"].'
    if not isinstance(options, dict):
        mensaje = f'{where}["OPTIONS"] debe ser un dict, no {type(options).__name__}.'
        return [_error(mensaje, hint, "E004")]
    return [_error(problem, hint, "E004") for problem in cls.option_problems(alias, options)]


def _region(region) -> list[checks.CheckMessage]:
    import phonenumbers

    if isinstance(region, str) and region.upper() in phonenumbers.SUPPORTED_REGIONS:
        return []
    return [
        _error(
            f"{SETTING_NAME}['DEFAULT_REGION'] = {region!r} no es una región conocida.",
            "Usa un código ISO 3166 de dos letras, p. ej. 'MX', 'AR', 'CO', 'PE', 'ES'.",
            "E005",
        )
    ]


def _rate(rate) -> list[checks.CheckMessage]:
    try:
        parse_rate(rate)
    except ValueError as exc:
        return [_error(str(exc), f"{SETTING_NAME}['RATE_LIMIT'] = '80/s' (o None).", "E006")]
    return []


def _numbers(merged: dict) -> list[checks.CheckMessage]:
    return [
        _error(
            f"{SETTING_NAME}[{name!r}] = {merged[name]!r} debe ser un número positivo.",
            f"Valor por omisión: {DEFAULTS[name]!r}.",
            "E007",
        )
        for name in NUMEROS
        if isinstance(merged[name], bool)
        or not isinstance(merged[name], int | float)
        or merged[name] <= 0
    ]
