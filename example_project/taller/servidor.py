"""The example ERP served over HTTP in a background thread, for the demo's webhook loop."""

from __future__ import annotations

import threading

from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler


class _Silencioso(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # the demo prints its own summary
        return None


class ServidorLocal:
    """Serve this Django project on 127.0.0.1 while the ``with`` block runs.

    ``puerto`` 0 takes a free one. Raises ``OSError`` when the port is taken.
    """

    def __init__(self, host: str = "127.0.0.1", puerto: int = 0) -> None:
        self._servidor = ThreadedWSGIServer((host, puerto), _Silencioso, allow_reuse_address=False)
        self._servidor.set_app(WSGIHandler())
        self._hilo = threading.Thread(target=self._servidor.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, puerto = self._servidor.server_address[:2]
        return f"http://{host}:{puerto}"

    def __enter__(self) -> ServidorLocal:
        self._hilo.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._servidor.shutdown()
        self._servidor.server_close()
        self._hilo.join(timeout=5)
