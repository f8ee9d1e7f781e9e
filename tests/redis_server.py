"""A private ``redis-server`` process the tests can start, freeze, thaw, stop and restart.

Broker faults are real here, not mocked: ``stop()`` leaves the port refusing connections,
``hang()`` (SIGSTOP) leaves it accepting them (the kernel's backlog) and never answering::

    with RedisServer() as servidor:      # a free port, started
        servidor.url                     # redis://127.0.0.1:<port>/0
        servidor.hang(); servidor.resume()
        servidor.stop(); servidor.start()

A ``RedisServer(port)`` that is never started is a broker that is down: nothing listens.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time

ARRANQUE = 10.0  # seconds for redis-server to answer PING


def puerto_libre() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One ``redis-server`` on ``127.0.0.1:port`` (a free port by default), no persistence."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or puerto_libre()
        self._proceso: subprocess.Popen | None = None
        self._dir: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING; raise RuntimeError if it doesn't."""
        if self._proceso is not None:
            return self
        ejecutable = shutil.which("redis-server")
        if ejecutable is None:
            raise RuntimeError("redis-server no está en el PATH: instálalo para estas pruebas.")
        self._dir = self._dir or tempfile.mkdtemp(prefix="redis-test-")
        self._proceso = subprocess.Popen(
            [ejecutable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self._dir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._esperar_ping()
        return self

    def hang(self) -> None:
        """Freeze the process (SIGSTOP): connections are accepted, nothing is answered."""
        self._senal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a frozen process (SIGCONT); it answers what was queued meanwhile."""
        self._senal(signal.SIGCONT)

    def stop(self) -> None:
        """Terminate the server; the port then refuses connections."""
        if self._proceso is None:
            return
        proceso, self._proceso = self._proceso, None
        proceso.send_signal(signal.SIGCONT)  # a frozen process can't act on SIGTERM
        proceso.terminate()
        try:
            proceso.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proceso.kill()
            proceso.wait()

    def restart(self) -> RedisServer:
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its working directory."""
        self.stop()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _senal(self, senal: int) -> None:
        if self._proceso is None:
            raise RuntimeError("El redis-server de la prueba no está arrancado: llama a start().")
        self._proceso.send_signal(senal)

    def _esperar_ping(self) -> None:
        limite = time.monotonic() + ARRANQUE
        while time.monotonic() < limite:
            if self._proceso.poll() is not None:
                break
            if _responde_ping(self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server no arrancó en el puerto {self.port}.")


def _responde_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
