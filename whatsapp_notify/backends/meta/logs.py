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
from typing import Any

REDACTED = "***"
# The parameter as sent, or percent-encoded by a client or a proxy ("hub%2Everify_token").
_VERIFY_TOKEN = re.compile(r"(hub(?:\.|%2[eE])verify_token=)[^&\s\"'#]*")


def ocultar_verify_token(texto: str) -> str:
    """``texto`` with the value of every ``hub.verify_token=`` replaced by ``***``."""
    return _VERIFY_TOKEN.sub(rf"\g<1>{REDACTED}", texto)


class OcultarVerifyToken(logging.Filter):
    """A logging filter that masks ``hub.verify_token`` in a record's message and its
    arguments (a tuple, as Django's request lines, or a dict, as gunicorn's access
    atoms). It drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = ocultar_verify_token(record.msg)
        if isinstance(record.args, dict):
            record.args = {clave: _ocultar(valor) for clave, valor in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_ocultar(valor) for valor in record.args)
        return True


def _ocultar(valor: Any) -> Any:
    return ocultar_verify_token(valor) if isinstance(valor, str) else valor
