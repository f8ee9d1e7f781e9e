"""The provider contract, tested once: every provider's test module subclasses this suite.

A provider's subclass says how its wire looks (the hooks below); the tests here hold every
provider to the same behaviour: each content type is sent or refused as unsupported, errors
land in the shared classes, a webhook is verified before anything is stored, statuses only
move forward, an inbound text becomes a ``Mensaje``, a stored body reads as the live one, and
the optional capabilities a backend declares are the ones it implements.

HTTP is mocked at the transport (``responses``); the webhook goes through the real view and
database. Payload hooks build what the provider itself sends (fixtures or real-shaped bodies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
import responses

from whatsapp_notify.backends import backends
from whatsapp_notify.backends.base import (
    CAPABILITIES,
    BaseBackend,
    UnsupportedCapability,
    UnsupportedContent,
    WebhookRequest,
)
from whatsapp_notify.events import DELIVERED, READ, SENT
from whatsapp_notify.exceptions import AuthError, PermanentError, ProviderError, TransientError
from whatsapp_notify.messages import (
    Boton,
    Botones,
    Documento,
    Fila,
    Lista,
    Plantilla,
    Salida,
    Seccion,
    Texto,
)
from whatsapp_notify.models import (
    ClaseEnvio,
    Direccion,
    EnvioWhatsApp,
    EstadoEnvio,
    EventoWebhook,
    Mensaje,
)

# A Colombian mobile: no national prefix rules (MX 521, AR 549) to blur what is compared.
TELEFONO = "573001234567"
WEBHOOK = "/whatsapp/webhook/"
URL_PUBLICA = f"http://testserver{WEBHOOK}"

CONTENIDOS = {
    "plantilla": Plantilla("vehiculo_listo_cliente", "es_MX", ["Ana", "Mazda 3", "OT-42"]),
    "documento": Documento(b"%PDF-1.4 cotizacion", "cotizacion.pdf", caption="Su cotización"),
    "texto": Texto("Su vehículo está listo."),
    "botones": Botones(
        "¿Aprueba la cotización?", (Boton("aprobar", "Aprobar"), Boton("no", "Rechazar"))
    ),
    "lista": Lista("Elija un horario", "Ver horarios", (Seccion("Mañana", (Fila("9", "9:00"),)),)),
}
CLASES_DE_ERROR = {"transitorio": TransientError, "auth": AuthError, "permanente": PermanentError}


@dataclass
class Peticion:
    """One webhook request as the provider would make it."""

    cuerpo: bytes
    content_type: str
    cabeceras: dict[str, str] = field(default_factory=dict)
    consulta: str = ""


class ProviderContract:
    """Subclass with ``BACKEND``, ``OPTIONS`` and the hooks; every test below then runs."""

    BACKEND: ClassVar[str]
    OPTIONS: ClassVar[dict[str, Any]]
    #: Options that hold secrets and must be declared ``secret=True``.
    SECRETOS: ClassVar[frozenset[str]]
    #: Content kinds (keys of CONTENIDOS) this provider cannot send: they must raise.
    NO_SOPORTA: ClassVar[frozenset[str]] = frozenset()
    #: The provider's own names for sent, delivered and read.
    ESTADOS: ClassVar[dict[str, str]]

    # -- hooks -------------------------------------------------------------------------------

    def responder_envio(self, rsps: responses.RequestsMock, id_mensaje: str) -> None:
        """Register the provider's answer accepting any send, with ``id_mensaje``."""
        raise NotImplementedError

    def responder_error(self, rsps: responses.RequestsMock, clase: str) -> None:
        """Register an answer the provider gives for a ``clase`` error (CLASES_DE_ERROR key)."""
        raise NotImplementedError

    def destinatario(self, llamada: Any) -> str:
        """The recipient's digits in a recorded send request (``rsps.calls[i].request``)."""
        raise NotImplementedError

    def peticion_estado(self, id_mensaje: str, estado: str, *, url: str) -> Peticion:
        """A signed (or authenticated) status webhook for ``id_mensaje`` in ``estado``."""
        raise NotImplementedError

    def peticion_texto(self, id_mensaje: str, de: str, texto: str, *, url: str) -> Peticion:
        """A signed inbound text message."""
        raise NotImplementedError

    def sin_firma(self, peticion: Peticion) -> Peticion:
        """The same request without its signature or secret header."""
        raise NotImplementedError

    # -- fixtures ----------------------------------------------------------------------------

    @pytest.fixture
    def cuenta(self, wa_settings):
        wa_settings(BACKENDS={"default": {"BACKEND": self.BACKEND, "OPTIONS": self.OPTIONS}})
        return backends["default"]

    def publicar(self, client, peticion: Peticion):
        ruta = f"{WEBHOOK}?{peticion.consulta}" if peticion.consulta else WEBHOOK
        cabeceras = {
            f"HTTP_{k.upper().replace('-', '_')}": v for k, v in peticion.cabeceras.items()
        }
        return client.post(ruta, peticion.cuerpo, content_type=peticion.content_type, **cabeceras)

    def envio_enviado(self, wamid: str) -> EnvioWhatsApp:
        return EnvioWhatsApp.objects.create(
            telefono=TELEFONO,
            clase=ClaseEnvio.TEXTO,
            texto="Su vehículo está listo.",
            estado=EstadoEnvio.ENVIADO,
            wamid=wamid,
            intentos=1,
        )

    # -- sending -----------------------------------------------------------------------------

    #: False for a provider that authenticates with a secret header instead of a signature.
    FIRMA_DEL_CUERPO: ClassVar[bool] = True

    @pytest.mark.parametrize("tipo", sorted(CONTENIDOS))
    def test_contract__each_content_type_is_sent_or_refused_as_unsupported(self, cuenta, tipo):
        salida = Salida(TELEFONO, CONTENIDOS[tipo], referencia="wn:1:0123456789abcdef")
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            self.responder_envio(rsps, "id-del-proveedor-1")
            if tipo in self.NO_SOPORTA:
                with pytest.raises(UnsupportedContent):
                    cuenta.send(salida)
                return
            resultado = cuenta.send(salida)
            envios = [c for c in rsps.calls if c.request.method == "POST"]

        assert resultado.id == "id-del-proveedor-1"
        assert envios, "the send made no POST"
        assert self.destinatario(envios[-1]) == TELEFONO

    @pytest.mark.parametrize("clase", sorted(CLASES_DE_ERROR))
    def test_contract__provider_errors_land_in_the_shared_classes(self, cuenta, clase):
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            self.responder_error(rsps, clase)
            with pytest.raises(ProviderError) as error:
                cuenta.send(Salida(TELEFONO, CONTENIDOS["texto"]))

        assert isinstance(error.value, CLASES_DE_ERROR[clase])
        assert error.value.readable, "a classified error says what happened"

    # -- webhooks ----------------------------------------------------------------------------

    def test_contract__signed_webhook_is_stored_unsigned_is_refused_with_nothing_stored(
        self, cuenta, client, db
    ):
        firmada = self.peticion_texto("id-entrante-1", TELEFONO, "Hola", url=URL_PUBLICA)

        rechazada = self.publicar(client, self.sin_firma(firmada))
        assert rechazada.status_code == 403
        assert EventoWebhook.objects.count() == 0

        aceptada = self.publicar(client, firmada)
        assert aceptada.status_code == 200
        assert EventoWebhook.objects.count() == 1

    def test_contract__tampered_body_is_refused(self, cuenta, client, db):
        firmada = self.peticion_texto("id-entrante-1", TELEFONO, "Hola", url=URL_PUBLICA)
        alterada = Peticion(
            firmada.cuerpo.replace(b"Hola", b"Adios"),
            firmada.content_type,
            firmada.cabeceras,
            firmada.consulta,
        )
        if alterada.cuerpo == firmada.cuerpo:
            pytest.fail("peticion_texto must carry the text in the body")

        respuesta = self.publicar(client, alterada)

        # A provider that authenticates by a secret header (no body signature) accepts it.
        assert respuesta.status_code == (403 if self.FIRMA_DEL_CUERPO else 200)

    def test_contract__statuses_only_move_forward(self, cuenta, client, db):
        envio = self.envio_enviado("id-saliente-1")

        for estado in (READ, DELIVERED, SENT):
            peticion = self.peticion_estado("id-saliente-1", self.ESTADOS[estado], url=URL_PUBLICA)
            assert self.publicar(client, peticion).status_code == 200

        envio.refresh_from_db()
        assert envio.estado == EstadoEnvio.LEIDO
        assert envio.leido_en is not None

    def test_contract__status_delivered_twice_changes_nothing_the_second_time(
        self, cuenta, client, db
    ):
        envio = self.envio_enviado("id-saliente-2")
        peticion = self.peticion_estado("id-saliente-2", self.ESTADOS[DELIVERED], url=URL_PUBLICA)

        self.publicar(client, peticion)
        envio.refresh_from_db()
        primera = envio.entregado_en
        assert self.publicar(client, peticion).status_code == 200

        envio.refresh_from_db()
        assert (envio.estado, envio.entregado_en) == (EstadoEnvio.ENTREGADO, primera)

    def test_contract__inbound_text_becomes_an_entrante_mensaje(self, cuenta, client, db):
        peticion = self.peticion_texto("id-entrante-2", TELEFONO, "Quiero mi cita", url=URL_PUBLICA)

        assert self.publicar(client, peticion).status_code == 200

        mensaje = Mensaje.objects.get()
        assert (mensaje.direccion, mensaje.telefono, mensaje.texto, mensaje.wamid) == (
            Direccion.ENTRANTE,
            TELEFONO,
            "Quiero mi cita",
            "id-entrante-2",
        )

    def test_contract__a_stored_request_reads_as_the_live_one(self, cuenta, client, db):
        from whatsapp_notify.inbound.store import peticion_guardada

        peticion = self.peticion_estado("id-saliente-3", self.ESTADOS[SENT], url=URL_PUBLICA)
        self.publicar(client, peticion)
        viva = WebhookRequest(
            body=peticion.cuerpo, url=URL_PUBLICA, query=_consulta(peticion.consulta)
        )

        guardada = peticion_guardada(EventoWebhook.objects.get())

        assert cuenta.parse_webhook(guardada) == cuenta.parse_webhook(viva)

    # -- declaration -------------------------------------------------------------------------

    def test_contract__declared_capabilities_are_the_implemented_ones(self, cuenta):
        for capacidad in sorted(CAPABILITIES):
            propia = getattr(type(cuenta), capacidad) is not getattr(BaseBackend, capacidad)
            assert cuenta.supports(capacidad) == propia, capacidad
        for capacidad in sorted(CAPABILITIES - cuenta.capabilities):
            with pytest.raises(UnsupportedCapability):
                getattr(cuenta, capacidad)(*(["x"] if capacidad in _CON_ID else []))

    def test_contract__secret_options_are_declared_secret(self, cuenta):
        secretas = {nombre for nombre, opcion in type(cuenta).OPTIONS.items() if opcion.secret}
        assert secretas >= self.SECRETOS
        assert {"BASE_URL", "TIMEOUT"} <= set(type(cuenta).OPTIONS)


_CON_ID = frozenset({"download_media", "mark_read", "typing", "fetch_price"})


def _consulta(consulta: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(consulta))
