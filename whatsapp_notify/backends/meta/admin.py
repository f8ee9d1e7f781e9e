"""Graph management calls of a Meta account, for operators (``whatsapp_check``).

:class:`MetaAdminMixin` is inherited by :class:`~whatsapp_notify.backends.meta.MetaBackend`;
it relies on its ``request()``, ``version()`` and ``options``. These calls count against
Graph's management rate limit (200 calls per hour per app and WABA): they are for
commands and checks, never for the send path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.utils.translation import gettext as _

from ...exceptions import ConfigurationError, ProviderError, SuscripcionError

# Graph codes of a refused management call (reference cloud_api.md §6): a permission the
# token lacks, and an id Graph cannot load (100; 803 "not found" on some endpoints).
PERMISOS = frozenset({3, 10, *range(200, 300)})
ID_DESCONOCIDO = frozenset({100, 803})
# In Graph's "Tried accessing nonexisting field (...) on node type (...)" for a number's id.
NODO_NUMERO = "WhatsAppBusinessPhoneNumber"


@dataclass(frozen=True)
class AppSuscrita:
    """One app subscribed to the WhatsApp Business Account's webhooks.

    ``override_callback_uri`` is the callback URL set for this WABA only ("" when the
    app's own callback URL from App Dashboard applies).
    """

    id: str
    nombre: str
    link: str = ""
    override_callback_uri: str = ""


class MetaAdminMixin:
    """Operator calls on the WhatsApp Business Account (``BUSINESS_ACCOUNT_ID``)."""

    def check_subscription(self, url: str = "") -> str:
        """An app must be subscribed to the WABA, and no override must post elsewhere.

        ``url``: the public webhook URL expected; an app's ``override_callback_uri`` must be
        that one when both are known.

        Raises:
            SuscripcionError: no app subscribed, an override to another URL, or Graph
                refused the query (with the ``curl``, the id or the permission that fixes
                it); ``aviso`` without ``BUSINESS_ACCOUNT_ID`` (nothing is asked then).
        """
        if not self.options.get("BUSINESS_ACCOUNT_ID"):  # type: ignore[attr-defined]
            raise SuscripcionError(
                _("sin BUSINESS_ACCOUNT_ID no se comprueba la suscripción de la WABA"),
                self.revisa_opcion("BUSINESS_ACCOUNT_ID"),
                aviso=True,
            )
        try:
            apps = self.subscribed_apps()
        except ProviderError as exc:
            raise SuscripcionError(
                _("no se pudo leer subscribed_apps: %(error)s") % {"error": exc.readable},
                self._arreglo_waba(exc),
            ) from exc
        if not apps:
            raise SuscripcionError(
                _("ninguna app está suscrita a la WABA: Meta no enviará webhooks"),
                self._suscribir(),
            )
        desvio = next((app for app in apps if app.override_callback_uri), None)
        if desvio and url and desvio.override_callback_uri != url:
            detalle = _("la WABA envía los webhooks a %(destino)s, no a %(url)s") % {
                "destino": desvio.override_callback_uri,
                "url": url,
            }
            raise SuscripcionError(detalle, self._suscribir(url))
        suscritas = ", ".join(f"{app.nombre} ({app.id})" for app in apps)
        return _("app(s) suscrita(s) a la WABA: %(apps)s") % {"apps": suscritas}

    def _arreglo_waba(self, error: ProviderError) -> str:
        """What fixes a refused ``subscribed_apps``: the id, the permission or the token.

        Graph answers an id it cannot load with 100 (subcode 33: it does not exist or the
        token may not see it) and an id of another kind with 100 "nonexisting field on
        node type"; a missing permission is 10 or 200-299.
        """
        if error.code in PERMISOS:
            return _(
                "el token necesita el permiso whatsapp_business_management sobre esta WABA; "
                "%(revisa)s"
            ) % {"revisa": self.revisa_opcion("ACCESS_TOKEN")}
        if error.code == 190:
            return self.revisa_opcion("ACCESS_TOKEN")
        if error.code not in ID_DESCONOCIDO:
            return self.revisa_opcion("BUSINESS_ACCOUNT_ID")
        if NODO_NUMERO in str(error):
            # The phone number's id where the WABA's goes: the most common mix-up.
            return _(
                "BUSINESS_ACCOUNT_ID tiene el id de un número de teléfono (PHONE_NUMBER_ID), "
                "no el de la WABA; %(revisa)s"
            ) % {"revisa": self.revisa_opcion("BUSINESS_ACCOUNT_ID")}
        return _(
            "ese BUSINESS_ACCOUNT_ID no es una WABA que este token pueda leer: comprueba el id "
            "(si es correcto, que el token tenga el permiso whatsapp_business_management "
            "sobre ella); %(revisa)s"
        ) % {"revisa": self.revisa_opcion("BUSINESS_ACCOUNT_ID")}

    def _suscribir(self, url: str = "") -> str:
        """The ``curl`` that subscribes the app (the token is never printed: a placeholder)."""
        base = str(self.options.get("BASE_URL") or "").rstrip("/")  # type: ignore[attr-defined]
        datos = f" -d override_callback_uri={url} -d verify_token=<VERIFY_TOKEN>" if url else ""
        return (
            f"curl -X POST '{base}{self.ruta_waba('subscribed_apps')}' "
            f"-H 'Authorization: Bearer <ACCESS_TOKEN>'{datos}"
        )

    def subscribed_apps(self) -> list[AppSuscrita]:
        """The apps subscribed to the WABA's webhooks (``GET /{version}/{WABA}/subscribed_apps``).

        An empty list means Meta sends this WABA's webhooks to no app at all.

        Raises:
            ConfigurationError: the account has no ``BUSINESS_ACCOUNT_ID``.
            ProviderError: as ``HttpBackend.request`` (190: token, 100: wrong WABA id...).
        """
        datos = self.request("GET", self.ruta_waba("subscribed_apps"))  # type: ignore[attr-defined]
        filas = datos.get("data") if isinstance(datos, dict) else None
        return [_app(fila) for fila in filas or [] if isinstance(fila, dict)]

    def ruta_waba(self, *partes: str) -> str:
        """``/{API_VERSION}/{BUSINESS_ACCOUNT_ID}[/partes...]``.

        Raises:
            ConfigurationError: ``BUSINESS_ACCOUNT_ID`` is not set, naming the key.
        """
        waba = self.options.get("BUSINESS_ACCOUNT_ID")  # type: ignore[attr-defined]
        if not waba:
            alias = self.alias  # type: ignore[attr-defined]
            raise ConfigurationError(
                f'Falta WHATSAPP_NOTIFY["BACKENDS"]["{alias}"]["OPTIONS"]["BUSINESS_ACCOUNT_ID"]: '
                "App Dashboard › WhatsApp › Configuración de la API › «Identificador de la "
                "cuenta de WhatsApp Business»."
            )
        version = self.version()  # type: ignore[attr-defined]
        return "/".join(["", version, quote(str(waba), safe=""), *partes])


def _app(fila: dict[str, Any]) -> AppSuscrita:
    # Graph nests the app under ``whatsapp_business_api_data``; Meta's OpenAPI description
    # also documents a flat ``{id, name}`` item, read the same way.
    datos = fila.get("whatsapp_business_api_data")
    datos = datos if isinstance(datos, dict) else fila
    return AppSuscrita(
        id=str(datos.get("id") or ""),
        nombre=str(datos.get("name") or ""),
        link=str(datos.get("link") or ""),
        override_callback_uri=str(fila.get("override_callback_uri") or ""),
    )
