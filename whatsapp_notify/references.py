"""The reference a message carries so that its status webhooks find the envío.

Meta echoes ``biz_opaque_callback_data`` in every status of the message. Every app
subscribed to the same WhatsApp Business Account receives those webhooks, its own
included, and other apps put their own values there (order ids: plain numbers). So the
reference is ``wn:<envío id>:<tag>``, the tag a short HMAC of the id keyed with the
host's ``SECRET_KEY``: another app, or another installation of this one with its own key,
cannot produce one of ours by accident. :func:`referencia_de` builds it and
:func:`envio_referido` parses it; nothing else should know the format.
"""

from __future__ import annotations

import hmac
import re
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

# Meta accepts up to 512 characters; ours stay under 40.
LARGO_MAXIMO = 512
_SAL = "whatsapp_notify.referencias"
# 16 hex digits: 64 bits, so a foreign value matches one of ours with odds of 2**-64.
_LARGO_ETIQUETA = 16
PATRON = re.compile(rf"wn:([1-9][0-9]{{0,17}}):([0-9a-f]{{{_LARGO_ETIQUETA}}})")


def referencia_de(envio_id: int) -> str:
    """The ``biz_opaque_callback_data`` of the envío ``envio_id``."""
    return f"wn:{envio_id}:{_etiqueta(str(envio_id), settings.SECRET_KEY)}"


def envio_referido(referencia: str) -> int | None:
    """The envío id ``referencia`` names, when it is one this installation built.

    Anything else is None: another app's value, a bare number (the format before the
    tag; nothing that used it was released) or a tag made with another key. A tag made
    with one of ``SECRET_KEY_FALLBACKS`` is accepted, so rotating the key does not orphan
    the statuses of messages already sent.
    """
    if len(referencia) > LARGO_MAXIMO or not (encontrada := PATRON.fullmatch(referencia)):
        return None
    envio_id, etiqueta = encontrada.groups()
    claves = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    # compare_digest: the time taken says nothing about how much of the tag was right.
    if any(hmac.compare_digest(etiqueta, _etiqueta(envio_id, clave)) for clave in claves):
        return int(envio_id)
    return None


def _etiqueta(envio_id: str, clave: str) -> str:
    firma = salted_hmac(_SAL, envio_id, secret=clave, algorithm="sha256")
    return firma.hexdigest()[:_LARGO_ETIQUETA]


# -- links to an envío's document ---------------------------------------------------------

_SAL_DOCUMENTO = "whatsapp_notify.documentos"
#: How long a document link works. Twilio queues a message for at most 4 hours and fetches
#: its media when it sends it; one more hour covers its fetch retries and clock skew.
VIGENCIA_DOCUMENTO = timedelta(hours=5)


def token_documento(referencia: str, sha256: str) -> str:
    """An unguessable, expiring token naming the document ``sha256`` of the envío ``referencia``.

    Signed (``django.core.signing``, timestamped, its own salt) with ``SECRET_KEY``: only
    this installation can make one, and :func:`documento_del_token` refuses it once
    :data:`VIGENCIA_DOCUMENTO` has passed. URL-safe (base64 and ``:``).
    """
    return signing.dumps([referencia, sha256], salt=_SAL_DOCUMENTO, compress=False)


def documento_del_token(
    token: str, vigencia: timedelta = VIGENCIA_DOCUMENTO
) -> tuple[int, str] | None:
    """``(envío id, document sha256)`` of a :func:`token_documento` token still valid, or None.

    None for a token that is forged, altered, expired, made with another key or whose
    reference is not one of ours: the caller answers all of them the same way.
    """
    try:
        referencia, sha256 = signing.loads(token, salt=_SAL_DOCUMENTO, max_age=vigencia)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(referencia, str) or not isinstance(sha256, str):
        return None
    envio_id = envio_referido(referencia)
    return None if envio_id is None else (envio_id, sha256)
