"""TwilioBackend against the shared provider contract (tests/backends/contract.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, urlencode

import responses

from tests.backends.contract import URL_PUBLICA, Peticion, ProviderContract

API = "https://api.twilio.test"
SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "token-de-autenticacion"
REMITENTE = "whatsapp:+14155238886"
_ERRORES = {
    "transitorio": (429, 63018, "Rate limit exceeded for Channel"),
    "auth": (401, 20003, "Authenticate"),
    "permanente": (400, 21211, "Invalid 'To' Phone Number"),
}


def firmar(url: str, campos: list[tuple[str, str]]) -> str:
    """X-Twilio-Signature written from Twilio's description, apart from the backend's code."""
    texto = url + "".join(k + v for k, v in sorted(campos))
    return base64.b64encode(
        hmac.new(TOKEN.encode(), texto.encode(), hashlib.sha1).digest()
    ).decode()


def firmada(campos: list[tuple[str, str]], url: str) -> Peticion:
    cuerpo = urlencode(campos).encode()
    cabeceras = {"X-Twilio-Signature": firmar(url, campos)}
    return Peticion(cuerpo, "application/x-www-form-urlencoded", cabeceras)


class TestTwilioContract(ProviderContract):
    BACKEND = "whatsapp_notify.backends.twilio.TwilioBackend"
    OPTIONS = {
        "ACCOUNT_SID": SID,
        "AUTH_TOKEN": TOKEN,
        "FROM": REMITENTE,
        "BASE_URL": API,
        "WEBHOOK_URL": URL_PUBLICA,
        "CONTENT_SIDS": {"vehiculo_listo_cliente": "HX1111111111111111111111111111111a"},
    }
    SECRETOS = frozenset({"AUTH_TOKEN", "API_KEY_SECRET"})
    # Buttons and lists only as Content templates; the contract's document has a caption,
    # which Twilio cannot send with a WhatsApp document.
    NO_SOPORTA = frozenset({"botones", "lista", "documento"})
    ESTADOS = {"sent": "sent", "delivered": "delivered", "read": "read"}

    def responder_envio(self, rsps, id_mensaje):
        creado = {"sid": id_mensaje, "status": "queued", "account_sid": SID}
        rsps.add(
            responses.POST,
            f"{API}/2010-04-01/Accounts/{SID}/Messages.json",
            json=creado,
            status=201,
        )

    def responder_error(self, rsps, clase):
        status, codigo, mensaje = _ERRORES[clase]
        cuerpo = {"code": codigo, "message": mensaje, "more_info": "", "status": status}
        rsps.add(responses.POST, re.compile(rf"{API}/.*"), json=cuerpo, status=status)

    def destinatario(self, llamada):
        return dict(parse_qsl(llamada.request.body))["To"].removeprefix("whatsapp:+")

    def peticion_estado(self, id_mensaje, estado, *, url):
        campos = [
            ("SmsSid", id_mensaje),
            ("SmsStatus", estado),
            ("MessageStatus", estado),
            ("ChannelPrefix", "whatsapp"),
            ("To", "whatsapp:+573001234567"),
            ("From", REMITENTE),
            ("MessageSid", id_mensaje),
            ("AccountSid", SID),
            ("ApiVersion", "2010-04-01"),
        ]
        return firmada(campos, url)

    def peticion_texto(self, id_mensaje, de, texto, *, url):
        campos = [
            ("SmsMessageSid", id_mensaje),
            ("NumMedia", "0"),
            ("ProfileName", "Ana"),
            ("MessageType", "text"),
            ("WaId", de),
            ("SmsStatus", "received"),
            ("Body", texto),
            ("To", REMITENTE),
            ("MessageSid", id_mensaje),
            ("AccountSid", SID),
            ("From", f"whatsapp:+{de}"),
            ("ApiVersion", "2010-04-01"),
        ]
        return firmada(campos, url)

    def sin_firma(self, peticion):
        return Peticion(peticion.cuerpo, peticion.content_type, {}, peticion.consulta)
