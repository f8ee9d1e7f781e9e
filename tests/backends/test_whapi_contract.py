"""WhapiBackend against the shared provider contract (tests/backends/contract.py)."""

from __future__ import annotations

import json

import responses

from tests.backends.contract import Peticion, ProviderContract

WHAPI = "https://whapi.test"
SECRETO = "secreto-del-webhook"
CANAL = "CANAL-DE-PRUEBA"
_ERRORES = {
    "transitorio": (503, "Service Unavailable"),
    "auth": (401, "Unauthorized"),
    "permanente": (400, "Bad Request"),
}


def _autenticada(cuerpo: dict) -> Peticion:
    crudo = json.dumps(cuerpo, ensure_ascii=False).encode()
    return Peticion(crudo, "application/json", {"Authorization": f"Bearer {SECRETO}"})


class TestWhapiContract(ProviderContract):
    BACKEND = "whatsapp_notify.backends.whapi.WhapiBackend"
    OPTIONS = {
        "TOKEN": "token-de-prueba",
        "WEBHOOK_SECRET": SECRETO,
        "BASE_URL": WHAPI,
        "RATE_LIMIT": "100/s",
        "PLANTILLAS": {"vehiculo_listo_cliente": "Hola {{1}}, su {{2}} está listo ({{3}})."},
    }
    SECRETOS = frozenset({"TOKEN", "WEBHOOK_SECRET"})
    ESTADOS = {"sent": "sent", "delivered": "delivered", "read": "read"}
    # WHAPI signs nothing: a secret header authenticates the request, not its body.
    FIRMA_DEL_CUERPO = False

    def responder_envio(self, rsps, id_mensaje):
        aceptado = {"sent": True, "message": {"id": id_mensaje, "from_me": True}}
        for tipo in ("text", "document", "image", "interactive"):
            rsps.add(responses.POST, f"{WHAPI}/messages/{tipo}", json=aceptado)

    def responder_error(self, rsps, clase):
        status, mensaje = _ERRORES[clase]
        cuerpo = {"error": {"code": status, "message": mensaje}}
        rsps.add(responses.POST, f"{WHAPI}/messages/text", json=cuerpo, status=status)

    def destinatario(self, llamada):
        return json.loads(llamada.request.body)["to"]

    def peticion_estado(self, id_mensaje, estado, *, url):
        status = {
            "id": id_mensaje,
            "status": estado,
            "recipient_id": "573001234567@s.whatsapp.net",
            "timestamp": {"sent": "1750000000", "delivered": "1750000010"}.get(
                estado, "1750000020"
            ),
        }
        evento = {"type": "statuses", "event": "post"}
        return _autenticada({"statuses": [status], "event": evento, "channel_id": CANAL})

    def peticion_texto(self, id_mensaje, de, texto, *, url):
        mensaje = {
            "id": id_mensaje,
            "from_me": False,
            "type": "text",
            "chat_id": f"{de}@s.whatsapp.net",
            "timestamp": 1750000000,
            "text": {"body": texto},
            "from": de,
            "from_name": "Ana",
        }
        evento = {"type": "messages", "event": "post"}
        return _autenticada({"messages": [mensaje], "event": evento, "channel_id": CANAL})

    def sin_firma(self, peticion):
        return Peticion(peticion.cuerpo, peticion.content_type, {}, peticion.consulta)
