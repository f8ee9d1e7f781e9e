"""The webhook's request path under gunicorn, against a bare Django view on the same server.

Starts gunicorn (2 sync workers, the usual small deployment) on the bench's project
(``bench.urls``): the app's ``whatsapp/webhook/`` and ``vacia/``, a view that reads the body
and answers 200. Posts N signed one-status bodies (how Meta posts) to each from 16 client
threads and prints requests per second and their ratio. With a broker configured (the
bench's Redis) the webhook verifies the signature, stores the body and enqueues its task
(``WEBHOOK_ASYNC`` by default); ``--en-la-peticion`` measures applying it inline instead.
Needs PostgreSQL and Redis; see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import requests

from bench import resumen
from bench.bench_entrega import RAIZ, _entorno
from bench.bench_webhooks import preparar_base

SECRETO = b"bench-app-secret"
META = 0.5  # the webhook's rate against the bare view's (issue goal)


def _puerto_libre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(en_la_peticion: bool):
    puerto = _puerto_libre()
    entorno = _entorno(BENCH_WEBHOOK_EN_LA_PETICION="1" if en_la_peticion else "")
    proceso = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{puerto}",
         "--log-level", "warning", "bench.wsgi"],
        cwd=RAIZ, env=entorno,
    )  # fmt: skip
    url = f"http://127.0.0.1:{puerto}"
    try:
        limite = time.monotonic() + 30
        while True:
            try:
                # A worker's first request loads Django: on a busy machine it takes seconds.
                requests.get(f"{url}/vacia/", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                if time.monotonic() > limite or proceso.poll() is not None:
                    raise SystemExit("gunicorn no respondió en 30 s.") from None
                time.sleep(0.1)
        yield url
    finally:
        proceso.terminate()
        proceso.wait()


def cuerpo(ronda: int, i: int) -> bytes:
    estado = {
        "id": f"wamid.http.{ronda}.{i}",
        "status": "delivered",
        "timestamp": str(int(time.time())),
        "recipient_id": f"5215510{i:06d}",
    }
    valor = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "106540352242922"},
        "statuses": [estado],
    }
    sobre = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": valor}]}],
    }
    return json.dumps(sobre).encode()


def publicar(url: str, cuerpos: list[bytes]) -> float:
    """Requests per second posting ``cuerpos`` from 16 threads; every answer must be 200."""
    locales = threading.local()

    def uno(datos: bytes) -> int:
        if not hasattr(locales, "sesion"):
            locales.sesion = requests.Session()
        firma = "sha256=" + hmac.new(SECRETO, datos, hashlib.sha256).hexdigest()
        respuesta = locales.sesion.post(
            url,
            data=datos,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": firma},
            timeout=10,
        )
        return respuesta.status_code

    inicio = time.perf_counter()
    with ThreadPoolExecutor(16) as hilos:
        estados = list(hilos.map(uno, cuerpos))
    segundos = time.perf_counter() - inicio
    if set(estados) != {200}:
        raise SystemExit(f"respuestas distintas de 200: {sorted(set(estados))}")
    return len(cuerpos) / segundos


def main() -> None:
    parser = argparse.ArgumentParser(description="Webhook request path against a bare view.")
    parser.add_argument("--repeticiones", type=int, default=3)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--en-la-peticion", action="store_true")
    args = parser.parse_args()
    preparar_base()
    webhook, vacia = [], []
    with gunicorn(args.en_la_peticion) as url:
        publicar(f"{url}/vacia/", [cuerpo(0, i) for i in range(200)])  # warm-up
        for ronda in range(1, args.repeticiones + 1):
            datos = [cuerpo(ronda, i) for i in range(args.n)]
            vacia.append(publicar(f"{url}/vacia/", datos))
            webhook.append(publicar(f"{url}/whatsapp/webhook/", datos))
    import redis

    redis.Redis.from_url(os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/12")).flushdb()
    w, v = statistics.median(webhook), statistics.median(vacia)
    modo = "en la petición" if args.en_la_peticion else "guardar y encolar"
    veredicto = "ok" if w / v >= META else "NO"
    print()
    print(f"{'escenario':<30} {'webhook/s':>10} {'vista vacía/s':>14} {'ratio':>6}  meta")
    print(f"{modo:<30} {w:>10.0f} {v:>14.0f} {w / v:>5.2f}x  ≥ {META}×  {veredicto}")
    resumen.entregar([
        resumen.Fila(
            f"webhook HTTP, {modo}", f"{w:.0f}/s", f"vista vacía {v:.0f}/s", w / v,
            f"≥ {META}×", w / v >= META,
        )
    ])  # fmt: skip


if __name__ == "__main__":
    main()
