"""System checks: every misconfiguration explained with the exact key to set.

Ids are stable; document them before changing one. :data:`CATALOGO` says, for each id the
app can emit, when it fires and what to do; the reference page renders it and a test keeps
it equal to the ids this module uses.

W001 and E004 overlap on purpose: a missing credential is only a warning, so ``migrate``
runs on a fresh project, and ``check --deploy`` reports it as E004 as well (Django gives a
check no sign of ``--deploy``, so W001 cannot step aside; both hints say so).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, Storage
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .conf import (
    DEFAULT_ALIAS,
    DEFAULTS,
    MAX_SEGUNDOS,
    SETTING_NAME,
    parse_rate,
    raw_user_settings,
)
from .messages import es_codigo_de_idioma

if TYPE_CHECKING:
    from .backends.base import BaseBackend

# Every check id, with when it fires and what to do: one sentence each, rendered in the
# reference page of the docs (docs/_ext/whatsapp_docs.py). Keep the ids sorted.
CATALOGO: dict[str, Promise] = {
    "E001": gettext_lazy(
        "`WHATSAPP_NOTIFY` no es un dict o tiene una clave desconocida: corrige el nombre de "
        "la clave (la lista de ajustes está en esta página)."
    ),
    "E002": gettext_lazy(
        "`BACKENDS` está vacío, no es un dict o le falta la cuenta `default`, o un alias no es "
        'un texto de 1 a 64 caracteres: define `BACKENDS` con al menos `"default"`.'
    ),
    "E003": gettext_lazy(
        'Una entrada de `BACKENDS` no es un dict `{"BACKEND": ..., "OPTIONS": ...}`, o '
        "su `BACKEND` falta o no se importa: corrige la ruta (por ejemplo "
        "`whatsapp_notify.backends.meta.MetaBackend`)."
    ),
    "E004": gettext_lazy(
        "Una opción del backend es desconocida o tiene un valor inválido (`TIMEOUT`, "
        "`BASE_URL`, un token con espacios, `API_VERSION`); con `check --deploy`, también una "
        "credencial obligatoria ausente: corrige la opción que nombra el mensaje."
    ),
    "E005": gettext_lazy(
        "`DEFAULT_REGION` no es una región que conozca `phonenumbers`: usa un código ISO de "
        'dos letras como `"MX"`.'
    ),
    "E006": gettext_lazy(
        '`RATE_LIMIT` está mal escrito: usa `"80/s"`, `"600/m"`, `"1000/h"` o `None`.'
    ),
    "E007": gettext_lazy(
        "Un ajuste numérico no es un número positivo (`MAX_ATTEMPTS`, `DELIVERY_BATCH`, los "
        "de segundos y bytes, `RETENTION_DAYS`, `FAILURE_*`, `HEALTH_MAX_*`...), "
        "`MAX_ATTEMPTS` no es entero, `FAILURE_THRESHOLD` no está en (0, 1] o "
        "`REMINDER_TOLERANCE` es negativo: escribe el número."
    ),
    "E008": gettext_lazy(
        '`ENABLED`, `REQUIRE_CONSENT` o `WEBHOOK_ASYNC` no son booleanos (un `"False"` '
        "leído del entorno es un texto, es decir verdadero): léelos con `env.bool(...)`."
    ),
    "E009": gettext_lazy(
        "`DEFAULT_LANGUAGE` no es un código de idioma de plantilla: usa `es_MX`, `en_US` o "
        "`es`, con `_` y nunca `-`."
    ),
    "E010": gettext_lazy(
        "Un disparador o recordatorio declarado envía por una cuenta que no está en "
        "`BACKENDS`: añade la cuenta o corrige su `cuenta`."
    ),
    "E011": gettext_lazy(
        "`OPT_OUT_KEYWORDS`, `OPT_IN_KEYWORDS`, `HANDOFF_KEYWORDS` o `HANDOFF_CLOSE_KEYWORDS` "
        "no son una lista o tupla de palabras (un texto suelto se leería letra por letra): "
        "escribe una tupla."
    ),
    "E012": gettext_lazy(
        "`POLICY` no se importa o no nombra una función: corrige la ruta con puntos o usa `None`."
    ),
    "E013": gettext_lazy(
        "`AGENTS` está mal escrito (cada agente con un `telefono` válido y/o un `usuario`, sin "
        "repetir), `HANDOFF_TEMPLATE` no es un nombre de plantilla o `HANDOFF_REPLY` no es un "
        "texto: corrige el valor que nombra el mensaje."
    ),
    "E014": gettext_lazy(
        "`MEDIA_DOWNLOAD` no es una lista o tupla de tipos de mensaje con archivo: elige entre "
        "`image`, `document`, `audio`, `video` y `sticker`."
    ),
    "E015": gettext_lazy(
        "`COST_RATES` o `COST_CURRENCY` están mal escritos (una ruta que no se importa, un país "
        "que no es ISO, una categoría desconocida, una tarifa negativa o que no es número, una "
        "moneda que no son tres mayúsculas): corrige el valor que nombra el mensaje."
    ),
    "E020": gettext_lazy(
        "`API_PERMISSION_CLASSES` no es `None` ni una lista de rutas que se importan, o "
        '`API_THROTTLE_RATE` no es `None` ni una tasa como `"600/m"`: corrige el valor.'
    ),
    "E030": gettext_lazy(
        "`HEALTH_TOKEN` no es `None`, un texto ni una lista de textos no vacíos: léelo del "
        'entorno, por ejemplo `env("WHATSAPP_HEALTH_TOKEN")`.'
    ),
    "W001": gettext_lazy(
        "Falta una opción obligatoria de una cuenta (una credencial como `ACCESS_TOKEN`) o está "
        "vacía: `migrate` sigue funcionando y la cuenta queda en pausa al enviar hasta que la "
        "definas; con `check --deploy` sale también como `E004`."
    ),
    "W002": gettext_lazy(
        "Las opciones funcionan pero limitan la cuenta, como dice su backend (Twilio sin "
        "`WEBHOOK_URL` no recibe estados): añade la opción que nombra el aviso."
    ),
    "W003": gettext_lazy(
        "`MEDIA_ROOT` está vacío: los documentos de los envíos y los archivos recibidos se "
        "guardarían en el directorio de trabajo del proceso; define `MEDIA_ROOT` con una ruta "
        "absoluta fuera del código."
    ),
}

NUMEROS = (
    "MAX_ATTEMPTS",
    "DELIVERY_BATCH",
    "DELIVERY_CONCURRENCY",
    "RETRY_BACKOFF",
    "RETRY_BACKOFF_MAX",
    "REDISPATCH_AFTER",
    "RECONCILE_AFTER",
    "PAUSE_PROBE_EVERY",
    "CONVERSATION_EXPIRE_AFTER",
    "HANDOFF_TIMEOUT",
    "MEDIA_MAX_BYTES",
    "WEBHOOK_MAX_BYTES",
    "RETENTION_DAYS",
    "FAILURE_WINDOW",
    "FAILURE_MIN_SENDS",
    "HEALTH_MAX_QUEUE_AGE",
    "HEALTH_MAX_WEBHOOK_AGE",
)
ENTEROS = (
    "MAX_ATTEMPTS",
    "MEDIA_MAX_BYTES",
    "DELIVERY_BATCH",
    "DELIVERY_CONCURRENCY",
    "WEBHOOK_MAX_BYTES",
    "RETENTION_DAYS",
    "FAILURE_MIN_SENDS",
)
BOOLEANOS = ("ENABLED", "REQUIRE_CONSENT", "WEBHOOK_ASYNC")
CON_NONE = ("WEBHOOK_ASYNC",)  # None: decided at run time (see its default)
PALABRAS = ("OPT_OUT_KEYWORDS", "OPT_IN_KEYWORDS", "HANDOFF_KEYWORDS", "HANDOFF_CLOSE_KEYWORDS")
# Meta's template language codes: "es", "es_MX", "en_US", "fil"; always with "_", never "-".
EJEMPLO_BACKEND = "whatsapp_notify.backends.meta.MetaBackend"


def _clave(name: str) -> str:
    """``WHATSAPP_NOTIFY['MAX_ATTEMPTS']``: how a message names a setting key."""
    return f"{SETTING_NAME}[{name!r}]"


def _por_omision(name: str) -> str:
    return _("Valor por omisión: %(valor)s.") % {"valor": repr(DEFAULTS[name])}


def _error(msg: str, hint: str, id_: str, obj=None) -> checks.Error:
    return checks.Error(msg, hint=hint, obj=obj, id=f"whatsapp_notify.{id_}")


@checks.register()
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        user = raw_user_settings()
    except ImproperlyConfigured as exc:
        pista = _("Define %(setting)s = {...} en settings.py.") % {"setting": SETTING_NAME}
        return [_error(str(exc), pista, "E001")]
    merged = {**DEFAULTS, **user}
    return [
        *_unknown_keys(user),
        *_backends(merged["BACKENDS"]),
        *_region(merged["DEFAULT_REGION"]),
        *_rate(merged["RATE_LIMIT"]),
        *_numbers(merged),
        *_booleans(merged),
        *_language(merged["DEFAULT_LANGUAGE"]),
        *_disparadores(merged["BACKENDS"]),
        *_palabras(merged),
        *_agentes(merged),
        *_descargas(merged["MEDIA_DOWNLOAD"]),
        *_api(merged),
        *_costos(merged),
        *_token_de_salud(merged["HEALTH_TOKEN"]),
    ]


def _api(merged: dict) -> list[checks.CheckMessage]:
    from django.utils.module_loading import import_string

    problemas = []
    clases = merged["API_PERMISSION_CLASSES"]
    if clases is not None:
        if not isinstance(clases, list | tuple) or not all(isinstance(c, str) for c in clases):
            problemas.append(
                _("API_PERMISSION_CLASSES = %(valor)s: una lista de rutas")
                % {"valor": repr(clases)}
            )
        else:
            for ruta in clases:
                try:
                    import_string(ruta)
                except ImportError as exc:
                    problemas.append(
                        _("API_PERMISSION_CLASSES: %(ruta)s no se importa (%(error)s)")
                        % {"ruta": repr(ruta), "error": exc}
                    )
    try:
        parse_rate(merged["API_THROTTLE_RATE"])
    except ValueError:
        problemas.append(
            _("API_THROTTLE_RATE = %(valor)s: una tasa como '600/m'")
            % {"valor": repr(merged["API_THROTTLE_RATE"])}
        )
    return [
        _error(
            f"{SETTING_NAME}: {problema}.",
            _(
                'Por ejemplo "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"] '
                'y "API_THROTTLE_RATE": "600/m" (None en cualquiera de los dos: lo de fábrica / '
                "sin límite propio)."
            ),
            "E020",
        )
        for problema in problemas
    ]


def _costos(merged: dict) -> list[checks.CheckMessage]:
    from .costs import construir_tarifas

    try:
        construir_tarifas(merged["COST_RATES"], merged["COST_CURRENCY"])
    except ImproperlyConfigured as exc:
        return [
            _error(
                str(exc),
                _(
                    'Por ejemplo %(setting)s["COST_RATES"] = {"MX": {"marketing": "0.0305"}} '
                    'y "COST_CURRENCY": "USD"; None en COST_RATES usa solo la tabla de Meta.'
                )
                % {"setting": SETTING_NAME},
                "E015",
            )
        ]
    return []


def _token_de_salud(valor) -> list[checks.CheckMessage]:
    tokens = [valor] if isinstance(valor, str) else valor
    if valor is None or (
        isinstance(tokens, list | tuple)
        and tokens
        and all(isinstance(token, str) and token.strip() for token in tokens)
    ):
        return []
    # The value is a secret: its type only, never the value.
    return [
        _error(
            _(
                "%(setting)s['HEALTH_TOKEN'] debe ser None, un texto o una lista de textos "
                "no vacíos, no %(tipo)s."
            )
            % {"setting": SETTING_NAME, "tipo": type(valor).__name__},
            _('Por ejemplo env("WHATSAPP_HEALTH_TOKEN"); una lista rota el token sin cortes.'),
            "E030",
        )
    ]


TIPOS_DE_MEDIA = ("image", "document", "audio", "video", "sticker")


def _descargas(valor) -> list[checks.CheckMessage]:
    if isinstance(valor, list | tuple) and all(tipo in TIPOS_DE_MEDIA for tipo in valor):
        return []
    return [
        _error(
            _(
                "%(setting)s['MEDIA_DOWNLOAD'] = %(valor)s: una lista de tipos de mensaje con "
                "archivo (%(tipos)s)."
            )
            % {"setting": SETTING_NAME, "valor": repr(valor), "tipos": ", ".join(TIPOS_DE_MEDIA)},
            _('Por ejemplo ("image", "document") para guardar las fotos y los PDF que llegan.'),
            "E014",
        )
    ]


def _agentes(merged: dict) -> list[checks.CheckMessage]:
    from .agents import AgentesInvalidos, leer_agentes
    from .messages import exigir_nombre_plantilla

    problemas = []
    try:
        leer_agentes(merged["AGENTS"], merged["DEFAULT_REGION"])
    except AgentesInvalidos as exc:
        problemas.append(_error(
            f"{SETTING_NAME}['AGENTS']: {exc}",
            _('Por ejemplo [{"telefono": "+52 55 1234 5678", "nombre": "Luis"}, '
              '{"usuario": "ana"}].'),
            "E013",
        ))  # fmt: skip
    plantilla = merged["HANDOFF_TEMPLATE"]
    if plantilla is not None:
        try:
            exigir_nombre_plantilla(plantilla)
        except (ValueError, TypeError) as exc:
            problemas.append(_error(
                f"{SETTING_NAME}['HANDOFF_TEMPLATE'] = {plantilla!r}: {exc}",
                _("El nombre aprobado de la plantilla que avisa a los agentes, o None (texto "
                  "libre)."),
                "E013",
            ))  # fmt: skip
    if not isinstance(merged["HANDOFF_REPLY"], str):
        problemas.append(_error(
            _('%(setting)s[\'HANDOFF_REPLY\'] debe ser un texto ("" para no decir nada).')
            % {"setting": SETTING_NAME},
            _por_omision("HANDOFF_REPLY"),
            "E013",
        ))  # fmt: skip
    return problemas


def _palabras(merged: dict) -> list[checks.CheckMessage]:
    # A plain string would be iterated letter by letter: "a" alone would revoke consent.
    return [
        _error(
            _("%(clave)s = %(valor)s debe ser una lista o tupla de palabras.")
            % {"clave": _clave(name), "valor": repr(merged[name])},
            _("Por ejemplo %(clave)s = %(valor)s.")
            % {"clave": f'{SETTING_NAME}["{name}"]', "valor": repr(DEFAULTS[name])},
            "E011",
        )
        for name in PALABRAS
        if not isinstance(merged[name], list | tuple)
        or not all(isinstance(palabra, str) and palabra.strip() for palabra in merged[name])
    ]


def _unknown_keys(user: dict) -> list[checks.CheckMessage]:
    return [
        _error(
            _("%(clave)s no es una opción conocida.") % {"clave": _clave(key)},
            _("Opciones válidas: %(opciones)s.") % {"opciones": ", ".join(sorted(DEFAULTS))},
            "E001",
        )
        for key in user
        if key not in DEFAULTS
    ]


def _backends(config) -> list[checks.CheckMessage]:
    if not isinstance(config, dict) or DEFAULT_ALIAS not in config:
        return [
            _error(
                _('%(setting)s["BACKENDS"] debe ser un dict con la cuenta "default".')
                % {"setting": SETTING_NAME},
                f'{SETTING_NAME}["BACKENDS"] = {{"default": {{"BACKEND": '
                f'"{EJEMPLO_BACKEND}", "OPTIONS": {{...}}}}}}',
                "E002",
            )
        ]
    return [problem for alias, entry in config.items() for problem in _backend(alias, entry)]


def _backend(alias: str, entry) -> list[checks.CheckMessage]:
    from .models import EnvioWhatsApp

    where = f'{SETTING_NAME}["BACKENDS"]["{alias}"]'
    largo = EnvioWhatsApp._meta.get_field("cuenta").max_length
    if not isinstance(alias, str) or not alias or len(alias) > largo:
        # Every envío stores its account's alias: one the column cannot hold fails each send.
        return [
            _error(
                _(
                    "%(donde)s: el nombre de la cuenta debe ser un texto de 1 a %(largo)s "
                    "caracteres."
                )
                % {"donde": where, "largo": largo},
                _('Usa un alias corto, como "default" o "sucursal_norte".'),
                "E002",
            )
        ]
    cls, problemas = _clase_del_backend(where, alias, entry)
    if cls is None:
        return problemas
    return _options(where, alias, cls, entry.get("OPTIONS") or {})


def _clase_del_backend(
    where: str, alias: str, entry
) -> tuple[type[BaseBackend] | None, list[checks.CheckMessage]]:
    """The backend class of a ``BACKENDS`` entry, or None and the E003 that says why."""
    from .backends import backend_class

    if not isinstance(entry, dict):
        return None, [_not_a_dict(where, entry)]
    if not entry.get("BACKEND"):
        falta = _("Falta %(clave)s.") % {"clave": f'{where}["BACKEND"]'}
        ejemplo = _("Por ejemplo %(valor)s.") % {"valor": f'"{EJEMPLO_BACKEND}"'}
        return None, [_error(falta, ejemplo, "E003")]
    try:
        cls = backend_class(entry["BACKEND"], alias)
    except ImproperlyConfigured as exc:
        pista = _("Corrige la ruta en %(clave)s.") % {"clave": f'{where}["BACKEND"]'}
        return None, [_error(str(exc), pista, "E003")]
    if not _es_backend(cls):
        return None, [
            _error(
                _("%(clave)s = %(valor)s no es una clase de backend.")
                % {"clave": f'{where}["BACKEND"]', "valor": repr(entry["BACKEND"])},
                _("Indica una subclase de whatsapp_notify.backends.base.BaseBackend."),
                "E003",
            )
        ]
    return cls, []


def _es_backend(cls) -> bool:
    from .backends.base import BaseBackend

    return isinstance(cls, type) and issubclass(cls, BaseBackend)


def _not_a_dict(where: str, entry) -> checks.CheckMessage:
    # A bare path ("BACKENDS": {"default": "...MetaBackend"}) is the usual slip: reuse it.
    ruta = entry if isinstance(entry, str) and entry else EJEMPLO_BACKEND
    return _error(
        _('%(donde)s debe ser un dict con "BACKEND" y "OPTIONS", no %(tipo)s.')
        % {"donde": where, "tipo": type(entry).__name__},
        f'{where} = {{"BACKEND": {ruta!r}, "OPTIONS": {{...}}}}',
        "E003",
    )


def _options(where: str, alias: str, cls, options) -> list[checks.CheckMessage]:
    hint = _("Revisa %(clave)s.") % {"clave": f'{where}["OPTIONS"]'}
    if not isinstance(options, dict):
        mensaje = _("%(clave)s debe ser un dict, no %(tipo)s.") % {
            "clave": f'{where}["OPTIONS"]',
            "tipo": type(options).__name__,
        }
        return [_error(mensaje, hint, "E004")]
    faltan = [
        checks.Warning(
            cls.falta(alias, name), hint=_pista_w001(cls, name), id="whatsapp_notify.W001"
        )
        for name in cls.missing_option_names(options)
    ]
    invalidas = [_error(problem, hint, "E004") for problem in cls.invalid_options(alias, options)]
    avisos = [
        checks.Warning(aviso, hint=hint, id="whatsapp_notify.W002")
        for aviso in cls.option_warnings(alias, options)
    ]
    return invalidas + faltan + avisos


def variable_de_entorno(cls: type[BaseBackend], name: str) -> str:
    """The environment variable the README reads option ``name`` from: ``META_ACCESS_TOKEN``."""
    return f"{cls.__name__.removesuffix('Backend').upper()}_{name}"


def _pista_w001(cls: type[BaseBackend], name: str) -> str:
    # Django runs W001 under --deploy too and tells a check nothing about the flag: the hint
    # says E004 is the same option reported again, not a different problem.
    return _(
        "Define la variable de entorno de donde settings.py la lee (p. ej. "
        'env("%(variable)s", default=None)). Mientras falte, los envíos de la cuenta esperan '
        "en pausa; check --deploy informa esta misma opción también como error "
        "(whatsapp_notify.E004)."
    ) % {"variable": variable_de_entorno(cls, name)}


def _pista_e004(cls: type[BaseBackend], name: str) -> str:
    return _(
        "Una cuenta sin credenciales no envía nada: define la variable de entorno de donde "
        'settings.py la lee (p. ej. env("%(variable)s", default=None)). Es la misma opción '
        "que avisa whatsapp_notify.W001; en producción es un error."
    ) % {"variable": variable_de_entorno(cls, name)}


@checks.register(deploy=True)
def check_credenciales(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """E004 under ``check --deploy``: a production account must have its credentials.

    Plain ``check`` (and so ``migrate``) only warns (W001): a fresh project has none yet.
    Under ``--deploy`` W001 is shown as well: Django passes a check no sign of the flag
    (only ``app_configs`` and ``databases``), so both hints say they are one problem.
    """
    return [
        _error(cls.falta(alias, name), _pista_e004(cls, name), "E004")
        for alias, cls, options in _cuentas_validas()
        for name in cls.missing_option_names(options)
    ]


def _cuentas_validas() -> Iterator[tuple[str, type[BaseBackend], dict]]:
    """(alias, backend class, OPTIONS) of each account whose entry E002-E004 accept."""
    try:
        config = {**DEFAULTS, **raw_user_settings()}["BACKENDS"]
    except ImproperlyConfigured:
        return  # E001
    if not isinstance(config, dict):
        return  # E002
    for alias, entry in config.items():
        where = f'{SETTING_NAME}["BACKENDS"]["{alias}"]'
        cls, _e003 = _clase_del_backend(where, alias, entry)
        if cls is None:
            continue  # E003
        options = entry.get("OPTIONS") or {}
        if isinstance(options, dict):  # else E004
            yield alias, cls, options


def _region(region) -> list[checks.CheckMessage]:
    import phonenumbers

    if isinstance(region, str) and region.upper() in phonenumbers.SUPPORTED_REGIONS:
        return []
    return [
        _error(
            _("%(setting)s['DEFAULT_REGION'] = %(valor)s no es una región conocida.")
            % {"setting": SETTING_NAME, "valor": repr(region)},
            _("Usa un código ISO 3166 de dos letras, p. ej. 'MX', 'AR', 'CO', 'PE', 'ES'."),
            "E005",
        )
    ]


def _rate(rate) -> list[checks.CheckMessage]:
    try:
        parse_rate(rate)
    except ValueError as exc:
        pista = _("%(setting)s['RATE_LIMIT'] = '80/s' (o None).") % {"setting": SETTING_NAME}
        return [_error(str(exc), pista, "E006")]
    return []


def _numbers(merged: dict) -> list[checks.CheckMessage]:
    return [
        _error(
            (
                _(
                    "%(clave)s = %(valor)s debe ser un número entero mayor o igual que 1 y "
                    "finito, hasta %(maximo)s."
                )
                if name in ENTEROS
                else _(
                    "%(clave)s = %(valor)s debe ser un número positivo y finito, hasta %(maximo)s."
                )
            )
            % {"clave": _clave(name), "valor": repr(merged[name]), "maximo": MAX_SEGUNDOS},
            _por_omision(name),
            "E007",
        )
        for name in NUMEROS
        if not _positivo(merged[name], entero=name in ENTEROS)
    ] + _rangos(merged)


def _rangos(merged: dict) -> list[checks.CheckMessage]:
    """FAILURE_THRESHOLD is a share (0 < x <= 1); REMINDER_TOLERANCE may be 0 (never late)."""
    umbral, tolerancia = merged["FAILURE_THRESHOLD"], merged["REMINDER_TOLERANCE"]
    problemas = []
    if not _positivo(umbral, entero=False) or umbral > 1:
        problemas.append(("FAILURE_THRESHOLD", _("una proporción entre 0 y 1 (0.2 = 20 %)")))
    if isinstance(tolerancia, bool) or not isinstance(tolerancia, int | float) or tolerancia < 0:
        problemas.append(("REMINDER_TOLERANCE", _("un número de segundos mayor o igual que 0")))
    return [
        _error(
            _("%(clave)s = %(valor)s debe ser %(que)s.")
            % {"clave": _clave(name), "valor": repr(merged[name]), "que": que},
            _por_omision(name),
            "E007",
        )
        for name, que in problemas
    ]


def _positivo(valor, *, entero: bool) -> bool:
    """A real positive number, and not absurdly large: a duration over a century (or inf)
    would overflow the date arithmetic it feeds."""
    tipos = int if entero else int | float
    return (
        not isinstance(valor, bool)
        and isinstance(valor, tipos)
        and math.isfinite(valor)
        and 0 < valor <= MAX_SEGUNDOS
    )


def _booleans(merged: dict) -> list[checks.CheckMessage]:
    return [
        _error(
            _(
                "%(clave)s = %(valor)s debe ser True o False, no %(tipo)s: un texto como "
                "'False' cuenta como verdadero."
            )
            % {
                "clave": _clave(name),
                "valor": repr(merged[name]),
                "tipo": type(merged[name]).__name__,
            },
            _("Lee la variable de entorno como booleano: %(llamada)s con django-environ.")
            % {"llamada": f'env.bool("WHATSAPP_{name}", default={DEFAULTS[name]!r})'},
            "E008",
        )
        for name in BOOLEANOS
        if not isinstance(merged[name], bool) and not (name in CON_NONE and merged[name] is None)
    ]


def _language(idioma) -> list[checks.CheckMessage]:
    if es_codigo_de_idioma(idioma):  # the rule the send API applies to idioma=
        return []
    return [
        _error(
            _("%(setting)s['DEFAULT_LANGUAGE'] = %(valor)s no es un código de idioma de plantilla.")
            % {"setting": SETTING_NAME, "valor": repr(idioma)},
            _(
                "Usa el código con que la plantilla se aprobó en WhatsApp Manager, con guion "
                "bajo: 'es_MX', 'es', 'en_US'."
            ),
            "E009",
        )
    ]


def _disparadores(config) -> list[checks.CheckMessage]:
    """Disparadores and recordatorios must send through a configured account."""
    from .scheduling import reminders, triggers

    if not isinstance(config, dict):
        return []  # E002 already says how BACKENDS must look
    cuentas = ", ".join(sorted(map(str, config))) or _("(ninguna)")
    declarados = [
        *(("disparador", d) for d in triggers.declarados()),
        *(("recordatorio", r) for r in reminders.declarados()),
    ]
    return [
        _error(
            _(
                "El %(api)s %(tipo)s de %(modelo)s usa cuenta=%(cuenta)s, que no existe en "
                '%(setting)s["BACKENDS"]: cada envío suyo quedaría omitido.'
            )
            % {
                "api": api,
                "tipo": repr(declarado.tipo),
                "modelo": declarado.modelo._meta.label,
                "cuenta": repr(declarado.cuenta),
                "setting": SETTING_NAME,
            },
            _(
                "Cuentas configuradas: %(cuentas)s. Corrige cuenta= en %(api)s() o añade "
                '%(setting)s["BACKENDS"][%(cuenta)s].'
            )
            % {
                "cuentas": cuentas,
                "api": api,
                "setting": SETTING_NAME,
                "cuenta": repr(declarado.cuenta),
            },
            "E010",
            obj=declarado.modelo,
        )
        for api, declarado in declarados
        if declarado.cuenta not in config
    ]


@checks.register()
def check_politica(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """E012: ``POLICY`` is None or the dotted path of an importable callable."""
    from .outbound.maintenance import cargar_politica

    try:
        ruta = raw_user_settings().get("POLICY")
    except ImproperlyConfigured:
        return []  # E001 already says WHATSAPP_NOTIFY must be a dict
    try:
        cargar_politica(ruta)
    except ImproperlyConfigured as exc:
        return [
            _error(
                str(exc),
                _(
                    'Por ejemplo %(setting)s["POLICY"] = "miapp.whatsapp.politica", una '
                    "función politica(envio) que devuelve None o el motivo; None para no filtrar."
                )
                % {"setting": SETTING_NAME},
                "E012",
            )
        ]
    return []


@checks.register()
def check_media_root(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """W003: the app's files would land in whatever directory the process runs in.

    There a ``whatsapp_notify/`` folder appears (``whatsapp_notify/documentos/…``), and run
    from a directory with a checkout of the app, that folder, without ``__init__.py``, can
    be imported instead of the package. Where files are stored is not changed: only said.
    """
    from .models import EnvioWhatsApp, Mensaje

    campos = [EnvioWhatsApp._meta.get_field("documento"), Mensaje._meta.get_field("archivo")]
    sueltos = [campo for campo in campos if _en_el_directorio_de_trabajo(campo.storage)]
    if not sueltos:
        return []
    nombres = _(" y ").join(f"{campo.model.__name__}.{campo.name}" for campo in sueltos)
    return [
        checks.Warning(
            _(
                "MEDIA_ROOT está vacío: los archivos de %(campos)s se guardarían en "
                "whatsapp_notify/… dentro del directorio desde el que corre el proceso, y esa "
                "carpeta puede ocultar el paquete whatsapp_notify al importarlo."
            )
            % {"campos": nombres},
            hint=_(
                "Define MEDIA_ROOT en settings.py con una ruta absoluta fuera del código, "
                'como MEDIA_ROOT = "/var/lib/mi-erp/media" (o la ubicación del almacenamiento '
                'en STORAGES["default"]["OPTIONS"]["location"]).'
            ),
            id="whatsapp_notify.W003",
        )
    ]


def _en_el_directorio_de_trabajo(storage: Storage) -> bool:
    """A local storage whose location is empty ("" or "."): relative to the working directory."""
    if not isinstance(storage, FileSystemStorage):
        return False
    return os.path.normpath(str(storage.base_location)) == "."
