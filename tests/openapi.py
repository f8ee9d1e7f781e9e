"""Meta's OpenAPI validator for the tests: the package's one, plus a ``responses`` callback.

The validator itself (and how it mends Meta's description) lives in
:mod:`whatsapp_notify.sandbox.schema`; this module re-exports it under the names the tests
import, and adds :func:`validating_callback` for tests that mock HTTP with ``responses``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from whatsapp_notify.sandbox.schema import (
    PayloadInvalido,
    message_examples,
    problema,
    validate_message,
)

__all__ = [
    "PayloadInvalido",
    "message_examples",
    "problema",
    "validate_message",
    "validating_callback",
]

Respuesta = tuple[int, dict[str, str], str]


def validating_callback(
    answer: dict[str, Any] | str | BaseException, status: int = 200
) -> Callable[[Any], Respuesta]:
    """A ``responses`` callback for ``/messages`` that validates each request body first.

    Use it where a test would write ``mock.add(POST, url, json=answer, status=status)``::

        mock.add_callback(responses.POST, MESSAGES_URL, callback=validating_callback(ok))

    ``answer`` is the JSON body to return, or a text body (not JSON), or an exception to
    raise as the transport would (``requests.ReadTimeout(...)``), always after validating.

    Raises (from the callback, inside the request):
        PayloadInvalido: an ``AssertionError`` listing each JSON path Meta's schema rejects.
    """

    def callback(request: Any) -> Respuesta:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        try:
            payload = json.loads(body or "")
        except ValueError:
            payload = body
        if error := problema(payload):
            raise PayloadInvalido(f"POST {request.url}: Meta rechazaría este cuerpo:\n{error}")
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, str):
            return status, {"Content-Type": "text/html"}, answer
        return status, {"Content-Type": "application/json"}, json.dumps(answer)

    return callback
