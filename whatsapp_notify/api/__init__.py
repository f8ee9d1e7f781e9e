"""The REST API (extra ``api``): envíos, queue, consents, conversations, stats, health.

Mounted by ``whatsapp_notify.urls`` at ``api/`` when Django REST framework is installed
(``pip install "django-whatsapp-notify[api]"``) and ``"rest_framework"`` is in
``INSTALLED_APPS``, so ``path("whatsapp/", include("whatsapp_notify.urls"))`` serves it at
``whatsapp/api/``. Authentication is
whatever ``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]`` says; permissions are
Django's model permissions on the app's models unless ``API_PERMISSION_CLASSES`` names
others (see ``permissions``). Request fields carry the Python API's parameter names.
"""

from ..exceptions import MissingDependencyError

try:
    import rest_framework  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise MissingDependencyError("djangorestframework", "api") from exc
