"""The inbound webhook: one class-based view that serves every account.

``GET`` answers Meta's subscription handshake. ``POST`` checks, in this order, the size,
the signature (on the raw bytes, before anything is parsed) and that the body is well
formed; then stores it (``EventoWebhook``) and applies it, inline or through Celery
(``WEBHOOK_ASYNC``; by default through Celery whenever it has a broker). A well-signed
body is always answered 200 once stored, even when applying it fails: Meta would
otherwise retry it for seven days, and the stored row keeps it (with its error) for the
admin's "Reprocesar". A body identical to one already stored (Meta redelivers what it got
no 200 for) is answered 200 and changes nothing. A malformed body is answered 400 and not
stored: Meta never sends one, so there is nothing to keep.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .. import metrics, tasks
from ..backends import backends
from ..backends.base import BaseBackend, WebhookRequest
from ..conf import DEFAULT_ALIAS, get_settings
from ..exceptions import WebhookMalformado
from . import store

logger = logging.getLogger(__name__)


def _texto(contenido: str, status: int = 200) -> HttpResponse:
    return HttpResponse(contenido, status=status, content_type="text/plain; charset=utf-8")


@method_decorator(csrf_exempt, name="dispatch")
class WebhookView(View):
    """``whatsapp/webhook/`` (account ``default``) and ``whatsapp/webhook/<cuenta>/``.

    An account alias that is not in ``WHATSAPP_NOTIFY["BACKENDS"]`` is a 404. A backend
    without webhook support refuses the handshake and every POST (403).
    """

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest, cuenta: str = DEFAULT_ALIAS) -> HttpResponse:
        """Echo ``hub.challenge`` when ``hub.mode`` and ``hub.verify_token`` are right."""
        try:
            return _texto(_backend_de(cuenta).verify_challenge(request.GET))
        except PermissionDenied as exc:
            logger.warning(
                "Verificación del webhook de WhatsApp rechazada (cuenta %s): %s", cuenta, exc
            )
            return _texto("", status=403)

    def post(self, request: HttpRequest, cuenta: str = DEFAULT_ALIAS) -> HttpResponse:
        """413, 403 or 400 for a body that is refused; otherwise store, apply and answer 200."""
        backend = _backend_de(cuenta)
        raw = _leer_cuerpo(request, get_settings().WEBHOOK_MAX_BYTES)
        if raw is None:
            metrics.contar_webhook(cuenta, metrics.DEMASIADO_GRANDE)
            return _texto("", status=413)
        peticion = _peticion(request, raw, backend)
        try:
            backend.verify_request(peticion)
        except PermissionDenied as exc:
            # The reason only: the body of a forged or mis-signed request is never logged.
            logger.warning("Webhook de WhatsApp rechazado (cuenta %s): %s", cuenta, exc)
            metrics.contar_webhook(cuenta, metrics.FIRMA_INVALIDA)
            return _texto("", status=403)
        if not _bien_formado(backend, peticion, cuenta):
            metrics.contar_webhook(cuenta, metrics.MAL_FORMADO)
            return _texto("", status=400)
        evento, nuevo = store.guardar_evento(
            cuenta, raw, consulta=request.META.get("QUERY_STRING", "")
        )
        metrics.contar_webhook(cuenta, metrics.GUARDADO if nuevo else metrics.REPETIDO)
        if nuevo:
            _procesar_o_encolar(evento.pk)
        return _texto("OK")


def en_un_worker() -> bool:
    """True when stored bodies are applied by a worker (``WEBHOOK_ASYNC``; by default,
    whenever Celery has a broker: the request only verifies, stores and enqueues)."""
    ajuste = get_settings().WEBHOOK_ASYNC
    if ajuste is not None:
        return ajuste
    return not tasks.en_el_acto()


def _backend_de(cuenta: str) -> BaseBackend:
    """The backend of an account alias; 404 (never a 500) when the alias is not configured."""
    if cuenta not in get_settings().BACKENDS:
        raise Http404(
            gettext("La cuenta de WhatsApp %(cuenta)s no está configurada.")
            % {"cuenta": repr(cuenta)}
        )
    return backends[cuenta]


def _peticion(request: HttpRequest, raw: bytes, backend: BaseBackend) -> WebhookRequest:
    """What the provider needs to verify and read the request.

    ``url`` is the account's ``WEBHOOK_URL`` option when it has one (behind a proxy the
    app sees another scheme or host than the provider called), else the absolute URL.
    """
    publica = backend.options.get("WEBHOOK_URL") or request.build_absolute_uri()
    return WebhookRequest(
        body=raw, headers=request.headers, url=str(publica), query=request.GET.dict()
    )


def _leer_cuerpo(request: HttpRequest, limite: int) -> bytes | None:
    """The raw body, or None when it is larger than ``limite`` bytes.

    A ``Content-Length`` over the limit is refused before reading anything. The body is
    read here, not through ``request.body``: Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``
    (2.5 MB by default) would refuse a legitimate webhook (Meta sends up to 3 MB). Reading
    one byte past the limit catches a body longer than its header said (chunked, ASGI).
    """
    if _longitud_declarada(request) > limite:
        return None
    raw = request.read(limite + 1)
    if len(raw) > limite:
        return None
    # The stream is consumed: later readers of request.body (middleware, error reports)
    # get these bytes instead of RawPostDataException.
    request._body = raw
    return raw


def _longitud_declarada(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # unreadable header: the length actually read decides


def _bien_formado(backend: BaseBackend, peticion: WebhookRequest, cuenta: str) -> bool:
    """False for a body the backend cannot read at all (not JSON, not an object, not UTF-8).

    Any other parsing failure is the app's problem, not the sender's: the body is stored and
    the failure recorded when it is processed. The events are not kept: parsing is cheap next
    to applying them, and every path (inline, task, Beat, admin) applies the stored text.
    """
    try:
        peticion.body.decode("utf-8")  # stored as text: JSON and forms on the wire are UTF-8
        backend.parse_webhook(peticion)
    except (WebhookMalformado, UnicodeDecodeError) as exc:
        logger.warning("Webhook de WhatsApp mal formado (cuenta %s): %s", cuenta, exc)
        return False
    except Exception:
        logger.exception("El webhook de WhatsApp de la cuenta %s no se pudo leer", cuenta)
    return True


def _procesar_o_encolar(evento_id: int) -> None:
    """Apply a newly stored body inline, or enqueue it when the transaction commits."""
    if en_un_worker():
        tasks.al_confirmar(tasks.encolar_webhook, evento_id)
        return
    try:
        store.procesar_evento_webhook(evento_id)
    except Exception:
        # Stored but not processed (the database failed mid-way): Beat takes it up later.
        logger.exception("No se pudo procesar el evento de webhook %s", evento_id)
