"""URLs of the webhook benchmark's server: the app's webhook and a bare view beside it."""

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def vacia(request):
    """The baseline: a Django view that reads the body and answers 200, nothing else."""
    request.body  # noqa: B018  (read, as the webhook reads it)
    return HttpResponse("OK", content_type="text/plain")


urlpatterns = [
    path("whatsapp/", include("whatsapp_notify.urls")),
    path("vacia/", vacia),
]
