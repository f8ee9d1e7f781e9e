"""``salud/`` (health) and ``metricas/`` (Prometheus): plain Django views.

``salud/`` answers 200 while no check failed (``ok`` or ``degradado``) and 503 when one did,
with a JSON body; ``?solo=base_de_datos,broker`` runs only the checks named. Anyone gets
the state of each check; the details (reasons, timings, account names, a provider's error
text) only a staff user or a request with ``Authorization: Bearer <HEALTH_TOKEN>``.

``metricas/`` is the Prometheus text for the same callers: staff or the bearer token
(403 otherwise), 404 without ``prometheus_client``. Neither is ever cached nor a 500.
"""

from __future__ import annotations

import hmac
import logging

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import metrics
from .conf import get_settings
from .health import FALLO, comprobar_salud

logger = logging.getLogger(__name__)


def autorizado(request: HttpRequest) -> bool:
    """True for a staff user or a request carrying one of ``HEALTH_TOKEN`` as its bearer."""
    usuario = getattr(request, "user", None)
    if usuario is not None and usuario.is_active and usuario.is_staff:
        return True
    cabecera = request.headers.get("Authorization", "")
    esquema, _, recibido = cabecera.partition(" ")
    if esquema.lower() != "bearer" or not recibido.strip():
        return False
    recibido = recibido.strip().encode()
    # Every token compared, in constant time: a list rotates (old and new both work).
    return any(hmac.compare_digest(recibido, token.encode()) for token in _tokens())


def _tokens() -> list[str]:
    valor = get_settings().HEALTH_TOKEN
    tokens = [valor] if isinstance(valor, str) else list(valor or ())
    # As the header's is read: a token from a secret file keeps no newline or spaces.
    return [token.strip() for token in tokens if isinstance(token, str) and token.strip()]


@never_cache
@require_safe
def salud(request: HttpRequest) -> JsonResponse:
    """200 (ok, degradado) or 503 (fallo), with each check's estado (details if allowed)."""
    solo = request.GET.get("solo")
    try:
        resultado = comprobar_salud(solo.split(",") if solo else None)
    except ValueError as exc:
        return JsonResponse({"estado": FALLO, "error": str(exc)}, status=400)
    except Exception as exc:  # never a 500: a load balancer reads it as "down" all the same
        logger.exception("La comprobación de salud falló (%s)", type(exc).__name__)
        return JsonResponse({"estado": FALLO, "comprobaciones": {}}, status=503)
    cuerpo = resultado.as_dict(detalle=autorizado(request))
    return JsonResponse(cuerpo, status=200 if resultado.sana else 503)


@never_cache
@require_safe
def metricas(request: HttpRequest) -> HttpResponse:
    """The Prometheus text; 404 without ``prometheus_client``, 403 for anyone else."""
    if not metrics.DISPONIBLE:
        raise Http404("prometheus_client no está instalado (extra metrics).")
    if not autorizado(request):
        return HttpResponse("", status=403, content_type="text/plain; charset=utf-8")
    try:
        cuerpo, tipo = metrics.exponer()
    except Exception as exc:
        logger.exception("No se pudieron exponer las métricas (%s)", type(exc).__name__)
        return HttpResponse("", status=503, content_type="text/plain; charset=utf-8")
    return HttpResponse(cuerpo, content_type=tipo)
