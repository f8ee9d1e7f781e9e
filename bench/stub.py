"""A minimal Graph API stand-in for benchmarks: answers every ``messages`` POST like the
Cloud API after a fixed latency, keeps connections alive, and counts what it received.

Run as ``python -m bench.stub --latencia 0.2``: it prints its URL on the first line.
``GET /__stats`` returns ``{"total", "pico_1s", "en_vuelo_max", "primero", "ultimo"}``:
requests received, the most received in any one-second window, the most answered at once,
and the monotonic times of the first and last. ``POST /__reset`` clears them.
"""

from __future__ import annotations

import argparse
import bisect
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Contador:
    def __init__(self) -> None:
        self.llegadas: list[float] = []
        self.en_vuelo = 0
        self.en_vuelo_max = 0
        self.lock = threading.Lock()

    def entra(self) -> None:
        with self.lock:
            self.llegadas.append(time.monotonic())
            self.en_vuelo += 1
            self.en_vuelo_max = max(self.en_vuelo_max, self.en_vuelo)

    def sale(self) -> None:
        with self.lock:
            self.en_vuelo -= 1

    def stats(self) -> dict:
        with self.lock:
            llegadas = sorted(self.llegadas)
            maximo = self.en_vuelo_max
        pico = 0
        for i, inicio in enumerate(llegadas):
            pico = max(pico, bisect.bisect_left(llegadas, inicio + 1.0) - i)
        return {
            "total": len(llegadas),
            "pico_1s": pico,
            "en_vuelo_max": maximo,
            "primero": llegadas[0] if llegadas else None,
            "ultimo": llegadas[-1] if llegadas else None,
        }

    def reset(self) -> None:
        with self.lock:
            self.llegadas.clear()
            self.en_vuelo_max = self.en_vuelo


def servidor(latencia: float, puerto: int = 0) -> ThreadingHTTPServer:
    contador = Contador()

    class Manejador(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the Graph API does
        disable_nagle_algorithm = True
        wbufsize = 64 * 1024  # headers and body leave in one write (no delayed-ACK stall)

        def log_message(self, *args) -> None:
            pass

        def _responder(self, estado: int, cuerpo: dict) -> None:
            datos = json.dumps(cuerpo).encode()
            self.send_response(estado)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(datos)))
            self.end_headers()
            self.wfile.write(datos)

        def do_GET(self) -> None:
            if self.path == "/__stats":
                return self._responder(200, contador.stats())
            return self._responder(200, {"verified_name": "Bench", "id": "1"})

        def do_POST(self) -> None:
            largo = int(self.headers.get("Content-Length") or 0)
            cuerpo = self.rfile.read(largo) if largo else b""
            if self.path == "/__reset":
                contador.reset()
                return self._responder(200, {})
            contador.entra()
            try:
                if latencia:
                    time.sleep(latencia)
                destino = str(json.loads(cuerpo or b"{}").get("to", ""))
                self._responder(
                    200,
                    {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": destino, "wa_id": destino.lstrip("+")}],
                        "messages": [{"id": f"wamid.bench{time.monotonic_ns()}"}],
                    },
                )
            finally:
                contador.sale()

    class Servidor(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512

    return Servidor(("127.0.0.1", puerto), Manejador)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latencia", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--puerto", type=int, default=0)
    args = parser.parse_args()
    srv = servidor(args.latencia, args.puerto)
    host, puerto = srv.server_address[:2]
    print(f"http://{host}:{puerto}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
