"""A private ``redis-server`` on a free port, which a test can stop, hang and restart.

The shared Redis of the suite must never be hung or stopped (other tests use it), so fault
tests start their own::

    with RedisServer() as redis:
        redis.url      # redis://127.0.0.1:<port>/0
        redis.hang()   # SIGSTOP: connections open, nothing answers
        redis.resume() # SIGCONT
        redis.stop(); redis.restart()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ARRANQUE = 10.0  # seconds for redis-server to accept connections


class RedisServer:
    """One ``redis-server`` process without persistence, on ``port`` (0: a free one).

    The port is kept across :meth:`restart`, so clients configured with :attr:`url` find
    the server again, as after a real broker restart.
    """

    def __init__(self, port: int = 0, executable: str = "redis-server") -> None:
        self.executable = shutil.which(executable) or executable
        self.port = port or puerto_libre()
        self._proceso: subprocess.Popen | None = None
        self._dir = tempfile.mkdtemp(prefix="redis-fallos-")
        self._colgado = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server and wait until it accepts connections; return self."""
        if self._proceso is not None and self._proceso.poll() is None:
            return self
        argumentos = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1"]
        argumentos += ["--save", "", "--appendonly", "no", "--dir", self._dir]
        self._proceso = subprocess.Popen(
            argumentos, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._colgado = False
        self._esperar_conexion()
        return self

    def hang(self) -> None:
        """SIGSTOP the server: it keeps its sockets but answers nothing, like a hung host."""
        self._senal(signal.SIGSTOP)
        self._colgado = True

    def resume(self) -> None:
        """SIGCONT a hung server: pending requests are answered."""
        self._senal(signal.SIGCONT)
        self._colgado = False

    def stop(self) -> None:
        """Kill the server (what it held is gone: no persistence). Safe to call twice."""
        proceso, self._proceso = self._proceso, None
        if proceso is None or proceso.poll() is not None:
            return
        if self._colgado:
            proceso.send_signal(signal.SIGCONT)  # a stopped process ignores SIGTERM
        proceso.terminate()
        try:
            proceso.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proceso.kill()
            proceso.wait()
        self._colgado = False

    def restart(self) -> RedisServer:
        """Stop, then start again on the same port."""
        self.stop()
        return self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _senal(self, senal: int) -> None:
        if self._proceso is None or self._proceso.poll() is not None:
            raise RuntimeError("redis-server no está en marcha: llama a start() antes.")
        os.kill(self._proceso.pid, senal)

    def _esperar_conexion(self) -> None:
        limite = time.monotonic() + ARRANQUE
        while time.monotonic() < limite:
            if self._proceso.poll() is not None:
                raise RuntimeError(f"redis-server terminó al arrancar en el puerto {self.port}.")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server no acepta conexiones en el puerto {self.port}.")


def puerto_libre() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
