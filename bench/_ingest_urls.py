"""The webhook routes plus ``webhooks/bare/<key>``: the same server checking the signature and answering
200, served like the webhook (``chatrk.wsgi``'s webhook handler: same prefix, no browser middleware)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from chatrk.ingest import receive
from chatrk.ingest.urls import urlpatterns as webhook_urlpatterns
from chatrk.whatsapp.signature import SIGNATURE_HEADER


@csrf_exempt
def bare(request: HttpRequest, webhook_key: str) -> HttpResponse:
    body = request.read(receive.MAX_BODY_BYTES + 1)
    keys = receive.verified_channel(webhook_key, body, request.headers.get(SIGNATURE_HEADER))
    return HttpResponse(status=200 if keys is not None else 401)


# First, like the webhook route, so both resolve in the same number of steps.
urlpatterns = [path("webhooks/bare/<str:webhook_key>", bare), *webhook_urlpatterns]
