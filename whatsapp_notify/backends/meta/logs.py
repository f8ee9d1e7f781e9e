"""Keep the webhook's ``VERIFY_TOKEN`` out of log lines.

Meta sends it in the query string of the verification ``GET``
(``?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``), so every line that
records that request's URL carries it: runserver's ``django.server``, gunicorn's
``gunicorn.access``, urllib3's debug line of ``whatsapp_check --sitio``.
:class:`OcultarVerifyToken` masks it in the records of the logger it is attached to::

    FILTRO = "whatsapp_notify.backends.meta.logs.OcultarVerifyToken"
    LOGGING = {
        ...,
        "filters": {"sin_verify_token": {"()": FILTRO}},
        "handlers": {"console": {..., "filters": ["sin_verify_token"]}},
    }
"""

from __future__ import annotations

import logging
import re

REDACTED = "***"
# The parameter as sent, in any case, or percent-encoded once or twice by a client or a
# proxy ("hub%2Everify%5Ftoken", "hub%252Everify_token"); the value runs to the next
# parameter, also when that separator is itself encoded ("%26").
_VERIFY_TOKEN = re.compile(
    r"(hub(?:\.|%2e|%252e)verify(?:_|%5f|%255f)token(?:=|%3d|%253d))(?:(?!%26|%2526)[^&\s\"'#])*",
    re.IGNORECASE,
)


def ocultar_verify_token(texto: str) -> str:
    """``texto`` with the value of every ``hub.verify_token=`` replaced by ``***``."""
    return _VERIFY_TOKEN.sub(rf"\g<1>{REDACTED}", texto)


class OcultarVerifyToken(logging.Filter):
    """A logging filter that masks ``hub.verify_token`` in a record's message. It drops
    nothing.

    The message is masked once formatted (``record.getMessage()``), whatever carried the
    token: the format string, a tuple of arguments (Django's request lines) or a mapping
    (gunicorn's access atoms, whose own lookups the formatting keeps). Only a record that
    held a token is changed: it then carries the masked text and no arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            mensaje = record.getMessage()
        except Exception:
            return True  # logging reports a broken record itself
        oculto = ocultar_verify_token(mensaje)
        if oculto != mensaje:
            record.msg, record.args = oculto, None
        return True
