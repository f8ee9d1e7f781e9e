"""Settings of the example workshop ERP (``taller``).

Everything has a default, so ``python manage.py demo`` runs with nothing configured:
SQLite file, DEBUG on, e-mails to the console, Celery tasks run in-process and WhatsApp
messages printed by the console backend. Real values come from the environment or from
an optional ``.env`` at the repository root (see ``.env.example``).
"""

from pathlib import Path

import environ

PROJECT_DIR = Path(__file__).resolve().parent
BASE_DIR = PROJECT_DIR.parent

env = environ.Env()
# Variables already in the environment win over the file (read_env only sets missing ones).
environ.Env.read_env(env("ENV_FILE", default=str(BASE_DIR / ".env")))

SECRET_KEY = env("SECRET_KEY", default="solo-para-desarrollo-no-usar-en-produccion")
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "whatsapp_notify",
    "example_project.taller",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{PROJECT_DIR / 'taller.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's webhooks write from another thread while the ERP writes: take the write
    # lock when a transaction starts and wait for it, instead of failing with "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
    # Django 6.1 checks the models against every database, and SQLite ignores the covering
    # columns of EnvioWhatsApp's indexes (they serve PostgreSQL): one W040 per index.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "es-mx"
TIME_ZONE = env("TIME_ZONE", default="America/Mexico_City")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Quote PDFs attached to envíos are stored here until the worker sends them.
MEDIA_ROOT = env("MEDIA_ROOT", default=str(PROJECT_DIR / "media"))
MEDIA_URL = "media/"

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Taller Ejemplo <taller@example.com>")
ADMINS = [("Operaciones", correo) for correo in env.list("ADMIN_EMAILS", default=[])]

# -- Celery ---------------------------------------------------------------------------------
# Without a broker, tasks run in-process (eager): the demo needs no Redis and no worker.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
CELERY_TIMEZONE = TIME_ZONE
# No CELERY_BROKER_TRANSPORT_OPTIONS: whatsapp_notify bounds its own publishes to a broker
# that is down, with Celery's defaults.

# -- WhatsApp -------------------------------------------------------------------------------
CONSOLE_BACKEND = "whatsapp_notify.backends.console.ConsoleBackend"
META_BACKEND = "whatsapp_notify.backends.meta.MetaBackend"
# Optional Meta options are passed only when set, so the backend's own defaults apply.
META_OPTIONS = {
    "PHONE_NUMBER_ID": "META_PHONE_NUMBER_ID",
    "ACCESS_TOKEN": "META_ACCESS_TOKEN",
    "APP_SECRET": "META_APP_SECRET",
    "VERIFY_TOKEN": "META_VERIFY_TOKEN",
    "BUSINESS_ACCOUNT_ID": "META_BUSINESS_ACCOUNT_ID",
    "API_VERSION": "META_API_VERSION",
    "BASE_URL": "META_BASE_URL",
}


def whatsapp_backend() -> dict:
    """The Meta Cloud API when an access token is configured, else the console backend."""
    if not env("META_ACCESS_TOKEN", default=""):
        return {"BACKEND": CONSOLE_BACKEND, "OPTIONS": {}}
    opciones = {clave: env(var, default="") for clave, var in META_OPTIONS.items()}
    return {"BACKEND": META_BACKEND, "OPTIONS": {k: v for k, v in opciones.items() if v}}


WHATSAPP_NOTIFY = {
    "ENABLED": env.bool("WHATSAPP_ENABLED", default=True),
    "BACKENDS": {"default": whatsapp_backend()},
    "DEFAULT_REGION": env("WHATSAPP_DEFAULT_REGION", default="MX"),
    "DEFAULT_LANGUAGE": env("WHATSAPP_DEFAULT_LANGUAGE", default="es_MX"),
    "REQUIRE_CONSENT": env.bool("WHATSAPP_REQUIRE_CONSENT", default=True),
    "RATE_LIMIT": env("WHATSAPP_RATE_LIMIT", default="80/s"),
    "REDIS_URL": env("REDIS_URL", default=None),
    # The payment receipts customers send as photos or PDFs are stored (MEDIA_ROOT).
    "MEDIA_DOWNLOAD": ("image", "document"),
}

# -- The workshop (header of the quote PDF) -------------------------------------------------
# Only the keys set in the environment; taller/pdf.py has the defaults.
TALLER = {
    clave: env(f"TALLER_{clave}")
    for clave in ("NOMBRE", "DIRECCION", "TELEFONO", "RFC")
    if env(f"TALLER_{clave}", default="")
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"simple": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "simple"}},
    "loggers": {
        "whatsapp_notify": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
        "example_project": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    },
}
