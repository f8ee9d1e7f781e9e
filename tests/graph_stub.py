"""A tiny local stand-in for the Graph API, for tests that run a real worker process.

It answers ``POST /{version}/{phone_number_id}/messages`` like the Cloud API (a new
``wamid`` each time), ``GET /{version}/{phone_number_id}`` like a working token, records
every request, and can be told to answer the next requests with another status and body::

    with GraphStub() as graph:
        graph.responder(500, error_graph(131000, "Something went wrong"))
        ...  # BASE_URL = graph.url
        graph.peticiones  # [Peticion(metodo, ruta, cabeceras, cuerpo, status, respuesta, problema)]

Every ``messages`` body is validated against Meta's OpenAPI description first (as Meta
validates it): an invalid one gets Meta's answer, HTTP 400 with error code 100, before any
queued answer, and its ``problema`` is recorded (``graph.problemas()``).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.openapi import problema as problema_de_payload

MENSAJES = re.compile(r"^/(?P<version>v[\d.]+)/(?P<numero>[^/]+)/messages$")
NUMERO = re.compile(r"^/(?P<version>v[\d.]+)/(?P<numero>[^/?]+)(\?.*)?$")


@dataclass(frozen=True)
class Peticion:
    """One request the stub received, and what it answered."""

    metodo: str
    ruta: str
    cabeceras: dict[str, str] = field(repr=False)
    cuerpo: Any
    status: int = 0
    respuesta: Any = None
    #: What Meta's description rejects in a ``messages`` body ("" when valid).
    problema: str = ""


def error_graph(code: int, message: str, details: str = "") -> dict[str, Any]:
    """A Graph error body (``{"error": {...}}``) as the Cloud API sends it."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": {**error, "fbtrace_id": "AStubTrace"}}


class _Servidor(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a delivery batch connects dozens of times at once


class GraphStub:
    """A threaded HTTP server on 127.0.0.1 and a free port; start/stop or use ``with``."""

    def __init__(self) -> None:
        self.peticiones: list[Peticion] = []
        self._respuestas: list[tuple[int, Any]] = []
        self._lock = threading.Lock()
        self._server = _Servidor(("127.0.0.1", 0), _handler(self))
        self._hilo = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The ``BASE_URL`` to give the Meta backend."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def responder(self, status: int, cuerpo: Any) -> None:
        """Answer the next request (after those already queued) with ``status`` and ``cuerpo``."""
        with self._lock:
            self._respuestas.append((status, cuerpo))

    def mensajes(self) -> list[Peticion]:
        """The ``messages`` requests received so far."""
        with self._lock:
            return [p for p in self.peticiones if p.ruta.endswith("/messages")]

    def problemas(self) -> list[str]:
        """What was wrong with each invalid ``messages`` body, oldest first."""
        with self._lock:
            return [p.problema for p in self.peticiones if p.problema]

    def start(self) -> GraphStub:
        self._hilo.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GraphStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- called by the handler thread ----------------------------------------------------

    def atender(self, peticion: Peticion) -> tuple[int, Any]:
        problema = _problema(peticion)
        with self._lock:
            if problema:
                status, respuesta = 400, error_graph(100, "(#100) Invalid parameter", problema)
            elif self._respuestas:
                status, respuesta = self._respuestas.pop(0)
            else:
                status, respuesta = _respuesta_normal(peticion)
            peticion = replace(peticion, status=status, respuesta=respuesta, problema=problema)
            self.peticiones.append(peticion)
        return status, respuesta


def _problema(peticion: Peticion) -> str:
    if peticion.metodo == "POST" and MENSAJES.match(peticion.ruta):
        return problema_de_payload(peticion.cuerpo)
    return ""


def _respuesta_normal(peticion: Peticion) -> tuple[int, Any]:
    if peticion.metodo == "POST" and MENSAJES.match(peticion.ruta):
        destino = str((peticion.cuerpo or {}).get("to", ""))
        contacto = {"input": destino, "wa_id": destino.lstrip("+")}
        mensaje = {"id": f"wamid.{uuid.uuid4().hex}"}
        return 200, {"messaging_product": "whatsapp", "contacts": [contacto], "messages": [mensaje]}
    if peticion.metodo == "GET" and NUMERO.match(peticion.ruta):
        return 200, {"verified_name": "Taller de prueba", "display_phone_number": "+52 55 0000"}
    return 404, error_graph(100, "Unsupported request")


def _handler(stub: GraphStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            largo = int(self.headers.get("Content-Length") or 0)
            crudo = self.rfile.read(largo) if largo else b""
            try:
                cuerpo = json.loads(crudo) if crudo else None
            except ValueError:
                cuerpo = crudo
            self._contestar(cuerpo)

        def do_GET(self) -> None:
            self._contestar(None)

        def _contestar(self, cuerpo: Any) -> None:
            peticion = Peticion(self.command, self.path, dict(self.headers), cuerpo)
            status, respuesta = stub.atender(peticion)
            datos = json.dumps(respuesta).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(datos)))
            self.end_headers()
            self.wfile.write(datos)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
