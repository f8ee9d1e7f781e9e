"""The peers the delivery benchmark measures beside the app, each in its own process.

``python -m bench.pares <par> --url URL --n N [--hilos H]`` sends N template messages to
the bench stub at URL and prints the seconds it took. Peers: ``requests`` (one Session,
one request after the other), ``requests_hilos`` (one Session shared by H threads),
``httpx`` (one Client, one request after the other), ``heyoo`` and ``pywa`` (their own
clients, pointed at the stub).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

NUMERO = "106540352242922"
TOKEN = "bench-token"


def cuerpo(i: int) -> dict:
    return {
        "messaging_product": "whatsapp",
        "to": f"5255{i:08d}",
        "type": "template",
        "template": {
            "name": "vehiculo_listo_cliente",
            "language": {"code": "es_MX"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
            ],
        },
    }


def con_requests(url: str, n: int, hilos: int) -> None:
    import requests
    from requests.adapters import HTTPAdapter

    sesion = requests.Session()
    sesion.mount("http://", HTTPAdapter(pool_maxsize=max(hilos, 10)))
    destino = f"{url}/v21.0/{NUMERO}/messages"
    cabeceras = {"Authorization": f"Bearer {TOKEN}"}

    def enviar(i: int) -> None:
        respuesta = sesion.post(destino, json=cuerpo(i), headers=cabeceras, timeout=10)
        respuesta.raise_for_status()
        respuesta.json()

    if hilos <= 1:
        for i in range(n):
            enviar(i)
    else:
        with ThreadPoolExecutor(hilos) as pool:
            list(pool.map(enviar, range(n)))


def con_httpx(url: str, n: int, hilos: int) -> None:
    import httpx

    destino = f"{url}/v21.0/{NUMERO}/messages"
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as cliente:
        for i in range(n):
            respuesta = cliente.post(destino, json=cuerpo(i))
            respuesta.raise_for_status()
            respuesta.json()


def con_heyoo(url: str, n: int, hilos: int) -> None:
    from heyoo import WhatsApp

    cliente = WhatsApp(TOKEN, NUMERO)
    cliente.url = f"{url}/v14.0/{NUMERO}/messages"
    for i in range(n):
        componentes = cuerpo(i)["template"]["components"]
        cliente.send_template("vehiculo_listo_cliente", f"5255{i:08d}", componentes, "es_MX")


def con_pywa(url: str, n: int, hilos: int) -> None:
    import httpx
    from pywa import WhatsApp

    # pywa's template objects differ between releases: a text message, one request each.
    sesion = httpx.Client(timeout=10)
    cliente = WhatsApp(NUMERO, TOKEN, session=sesion)
    sesion.base_url = f"{url}/v26.0"  # pywa sets Meta's host on the client it is given
    for i in range(n):
        cliente.send_message(to=f"5255{i:08d}", text="Su vehículo está listo.")


PARES = {
    "requests": con_requests,
    "requests_hilos": con_requests,
    "httpx": con_httpx,
    "heyoo": con_heyoo,
    "pywa": con_pywa,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("par", choices=PARES)
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--hilos", type=int, default=1)
    args = parser.parse_args()
    inicio = time.perf_counter()
    PARES[args.par](args.url, args.n, args.hilos)
    print(f"{time.perf_counter() - inicio:.6f}")


if __name__ == "__main__":
    main()
