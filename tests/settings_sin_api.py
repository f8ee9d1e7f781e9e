"""The suite's settings without Django REST framework: a project that did not pick ``api``."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in ("rest_framework", "drf_spectacular")]  # noqa: F405
REST_FRAMEWORK = {}
