"""Settings of the delivery benchmark's processes (the recorder and the worker).

PostgreSQL at 127.0.0.1 (database ``$BENCH_DB``), Redis as broker and rate limiter
(``$BENCH_REDIS``), MetaBackend pointed at the bench stub (``$BENCH_GRAPH_URL``).
"""

import os

SECRET_KEY = "bench-only-not-secret"
USE_TZ = True
DEBUG = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "whatsapp_notify"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_DB", "bench_whatsapp_notify"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        # Kept between requests, as a production site does (the webhook benchmark's server).
        "CONN_MAX_AGE": 60,
    }
}
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/12")
CELERY_BROKER_URL = REDIS
CELERY_TASK_ALWAYS_EAGER = False
_tasa = os.environ.get("BENCH_RATE_LIMIT", "80/s")
WHATSAPP_NOTIFY = {
    "BACKENDS": {
        "default": {
            "BACKEND": "whatsapp_notify.backends.meta.MetaBackend",
            "OPTIONS": {
                "PHONE_NUMBER_ID": "106540352242922",
                "ACCESS_TOKEN": "bench-token",
                "BASE_URL": os.environ.get("BENCH_GRAPH_URL", "http://127.0.0.1:9"),
                "APP_SECRET": "bench-app-secret",
            },
        },
        # A second number of the same business (bench_numeros), on the same stub.
        "segunda": {
            "BACKEND": "whatsapp_notify.backends.meta.MetaBackend",
            "OPTIONS": {
                "PHONE_NUMBER_ID": "106540352242923",
                "ACCESS_TOKEN": "bench-token",
                "BASE_URL": os.environ.get("BENCH_GRAPH_URL", "http://127.0.0.1:9"),
                "APP_SECRET": "bench-app-secret",
            },
        },
    },
    "REQUIRE_CONSENT": False,
    "RATE_LIMIT": None if _tasa == "none" else _tasa,
    "REDIS_URL": REDIS,
    # Requests in flight per worker process (the app's default, 64, unless set).
    "DELIVERY_CONCURRENCY": int(os.environ.get("BENCH_DELIVERY_CONCURRENCY", "64")),
    # bench_webhook_http --en-la-peticion: apply bodies inline instead of enqueuing them.
    "WEBHOOK_ASYNC": False if os.environ.get("BENCH_WEBHOOK_EN_LA_PETICION") else None,
}
ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
