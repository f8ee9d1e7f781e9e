"""MetaBackend against the shared provider contract (tests/backends/contract.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import responses

from tests.backends.contract import Peticion, ProviderContract

GRAPH = "https://graph.test"
SECRETO = "secreto-de-la-app"
NUMERO_ID = "1234567890"
_ERRORES = {
    "transitorio": (503, 2, "Service temporarily unavailable"),
    "auth": (401, 190, "Error validating access token"),
    "permanente": (400, 100, "Invalid parameter"),
}


def _firmada(cuerpo: dict) -> Peticion:
    crudo = json.dumps(cuerpo, ensure_ascii=False).encode()
    firma = hmac.new(SECRETO.encode(), crudo, hashlib.sha256).hexdigest()
    return Peticion(crudo, "application/json", {"X-Hub-Signature-256": f"sha256={firma}"})


def _cambio(valor: dict) -> dict:
    metadatos = {"display_phone_number": "15550001111", "phone_number_id": NUMERO_ID}
    cambio = {"field": "messages", "value": {"messaging_product": "whatsapp", **valor}}
    cambio["value"]["metadata"] = metadatos
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [cambio]}]}


class TestMetaContract(ProviderContract):
    BACKEND = "whatsapp_notify.backends.meta.MetaBackend"
    OPTIONS = {
        "PHONE_NUMBER_ID": NUMERO_ID,
        "ACCESS_TOKEN": "token-de-prueba",
        "APP_SECRET": SECRETO,
        "BASE_URL": GRAPH,
    }
    SECRETOS = frozenset({"ACCESS_TOKEN", "APP_SECRET", "VERIFY_TOKEN"})
    ESTADOS = {"sent": "sent", "delivered": "delivered", "read": "read"}

    def responder_envio(self, rsps, id_mensaje):
        aceptado = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "573001234567", "wa_id": "573001234567"}],
            "messages": [{"id": id_mensaje}],
        }
        rsps.add(
            responses.POST, re.compile(rf"{GRAPH}/v[\d.]+/{NUMERO_ID}/messages"), json=aceptado
        )
        rsps.add(
            responses.POST, re.compile(rf"{GRAPH}/v[\d.]+/{NUMERO_ID}/media"), json={"id": "1"}
        )

    def responder_error(self, rsps, clase):
        status, codigo, mensaje = _ERRORES[clase]
        cuerpo = {"error": {"message": mensaje, "type": "OAuthException", "code": codigo}}
        rsps.add(responses.POST, re.compile(rf"{GRAPH}/.*"), json=cuerpo, status=status)

    def destinatario(self, llamada):
        return json.loads(llamada.request.body)["to"].lstrip("+")

    def peticion_estado(self, id_mensaje, estado, *, url):
        status = {
            "id": id_mensaje,
            "status": estado,
            "timestamp": {"sent": "1750000000", "delivered": "1750000010"}.get(
                estado, "1750000020"
            ),
            "recipient_id": "573001234567",
        }
        return _firmada(_cambio({"statuses": [status]}))

    def peticion_texto(self, id_mensaje, de, texto, *, url):
        mensaje = {
            "from": de,
            "id": id_mensaje,
            "timestamp": "1750000000",
            "type": "text",
            "text": {"body": texto},
        }
        contactos = [{"profile": {"name": "Ana"}, "wa_id": de}]
        return _firmada(_cambio({"contacts": contactos, "messages": [mensaje]}))

    def sin_firma(self, peticion):
        return Peticion(peticion.cuerpo, peticion.content_type, {}, peticion.consulta)
