"""Settings for the test suite.

SQLite and eager Celery by default (no set-up). ``WHATSAPP_TEST_DB=postgres`` runs the
same suite on the PostgreSQL server at 127.0.0.1:5432 (database ``test``);
``WHATSAPP_TEST_PG_SERVER_SIDE_BINDING=1`` there, with Django's ``server_side_binding``.
"""

import json
import os

import django

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "America/Mexico_City"
LANGUAGE_CODE = "es"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The live server serves the admin's CSS and JS, so browser screenshots show real pages.
    "django.contrib.staticfiles",
    "rest_framework",
    # Writes the API's OpenAPI description (whatsapp_notify/api/openapi.yaml).
    "drf_spectacular",
    "whatsapp_notify",
    "tests.testapp",
    "example_project.taller",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

if os.environ.get("WHATSAPP_TEST_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "test",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "TEST": {"NAME": os.environ.get("WHATSAPP_TEST_DB_NAME", "test_whatsapp_notify")},
        }
    }
    if os.environ.get("WHATSAPP_TEST_PG_SERVER_SIDE_BINDING") == "1":
        # Django's psycopg option: parameters bound by the server. Django leaves psycopg's
        # prepare_threshold at None, so statements are not prepared unless OPTIONS asks.
        DATABASES["default"]["OPTIONS"] = {"server_side_binding": True}
    if os.environ.get("WHATSAPP_TEST_WORKER"):
        # A Celery worker started by tests/test_worker_redis.py uses the test database itself.
        DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"]
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    # Django 6.1 checks the models against every database by default, and on SQLite each
    # index of EnvioWhatsApp is then W040: its covering columns (for PostgreSQL) are ignored.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Django 6.0 takes plain addresses, and 6.1 deprecates the (name, address) pairs 5.2 needs.
ADMINS = ["ops@example.com"] if django.VERSION >= (6, 0) else [("Operaciones", "ops@example.com")]
MEDIA_ROOT = os.path.join(os.environ.get("TMPDIR", "/tmp"), "whatsapp_notify_test_media")

CELERY_TASK_ALWAYS_EAGER = os.environ.get("WHATSAPP_TEST_CELERY_EAGER", "1") == "1"
CELERY_TASK_EAGER_PROPAGATES = True
# No CELERY_BROKER_TRANSPORT_OPTIONS: the app bounds its publishes with Celery's defaults.
if os.environ.get("WHATSAPP_TEST_BROKER_URL"):
    CELERY_BROKER_URL = os.environ["WHATSAPP_TEST_BROKER_URL"]

WHATSAPP_NOTIFY = {
    "BACKENDS": {"default": {"BACKEND": "whatsapp_notify.backends.locmem.LocmemBackend"}},
    "REQUIRE_CONSENT": False,
    "RATE_LIMIT": None,
}
# Overrides for a worker process started by tests/test_worker_redis.py (defaults unchanged).
if os.environ.get("WHATSAPP_TEST_BACKEND") == "meta":
    WHATSAPP_NOTIFY["BACKENDS"] = {
        "default": {
            "BACKEND": "whatsapp_notify.backends.meta.MetaBackend",
            "OPTIONS": {
                "PHONE_NUMBER_ID": "1234567890",
                "ACCESS_TOKEN": os.environ.get("WHATSAPP_TEST_ACCESS_TOKEN", "token-de-prueba"),
                "BASE_URL": os.environ["WHATSAPP_TEST_GRAPH_URL"],
                "TIMEOUT": float(os.environ.get("WHATSAPP_TEST_GRAPH_TIMEOUT", "5")),
            },
        }
    }
# The whole BACKENDS of a worker serving several accounts (tests/test_worker_redis.py).
if os.environ.get("WHATSAPP_TEST_BACKENDS_JSON"):
    WHATSAPP_NOTIFY["BACKENDS"] = json.loads(os.environ["WHATSAPP_TEST_BACKENDS_JSON"])
# Seconds the fault suite (tests/faults) shortens for its workers: WHATSAPP_TEST_<KEY>.
for _clave in ("RETRY_BACKOFF", "RETRY_BACKOFF_MAX", "RECONCILE_AFTER", "REDISPATCH_AFTER"):
    if os.environ.get(f"WHATSAPP_TEST_{_clave}"):
        WHATSAPP_NOTIFY[_clave] = float(os.environ[f"WHATSAPP_TEST_{_clave}"])
if os.environ.get("WHATSAPP_TEST_RATE_LIMIT"):
    WHATSAPP_NOTIFY["RATE_LIMIT"] = os.environ["WHATSAPP_TEST_RATE_LIMIT"]
if os.environ.get("WHATSAPP_TEST_MAX_ATTEMPTS"):
    WHATSAPP_NOTIFY["MAX_ATTEMPTS"] = int(os.environ["WHATSAPP_TEST_MAX_ATTEMPTS"])
# The health endpoint's token of a process started by tests/test_salud.py.
if os.environ.get("WHATSAPP_TEST_HEALTH_TOKEN"):
    WHATSAPP_NOTIFY["HEALTH_TOKEN"] = os.environ["WHATSAPP_TEST_HEALTH_TOKEN"]
if os.environ.get("WHATSAPP_TEST_TASK_QUEUE"):
    WHATSAPP_NOTIFY["TASK_QUEUE"] = os.environ["WHATSAPP_TEST_TASK_QUEUE"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["null"]},
}

# Fast hashing: the admin tests log users in.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The live server (whole-loop test) serves files under STATIC_URL.
STATIC_URL = "/static/"

REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
SPECTACULAR_SETTINGS = {
    "TITLE": "django-whatsapp-notify",
    "DESCRIPTION": "REST API de whatsapp_notify: envíos, cola, consentimientos, "
    "conversaciones, estadísticas.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Requests and responses apart: an upload is binary going in, never a URL coming out.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "whatsapp_notify.api.schema.respuestas_de_error",
    ],
    "ENUM_NAME_OVERRIDES": {
        "EstadoEnvioEnum": "whatsapp_notify.models.EstadoEnvio",
        "ClaseEnvioEnum": "whatsapp_notify.models.ClaseEnvio",
        "EstadoConsentimientoEnum": "whatsapp_notify.models.EstadoConsentimiento",
        "EstadoConversacionEnum": "whatsapp_notify.models.EstadoConversacion",
        "ClaseNuevoEnvioEnum": "whatsapp_notify.api.serializers.CLASES_NUEVAS",
        "EstadoReintentableEnum": "whatsapp_notify.api.serializers.REINTENTABLES",
    },
}
