"""The webhook endpoint (``chatrk.ingest.endpoint``) behind Django's own handler.

``chatrk.wsgi`` serves ``/webhooks/`` without Django's request cycle; this view gives the same answers
wherever Django's handler serves the URL table instead: the test client and live test servers.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from chatrk.ingest import endpoint
from chatrk.whatsapp.signature import SIGNATURE_HEADER


@csrf_exempt  # authenticated by the signature; Meta cannot send a CSRF token
def whatsapp_webhook(request: HttpRequest, webhook_key: str) -> HttpResponse:
    # request.read, not request.body: that would apply DATA_UPLOAD_MAX_MEMORY_SIZE (1 MB) and Meta
    # may send up to 3 MB.
    result = endpoint.answer(
        request.method or "",
        webhook_key,
        request.GET.dict(),
        request.META.get("CONTENT_LENGTH"),
        request.read,
        request.headers.get(SIGNATURE_HEADER),
    )
    response = HttpResponse(result.text, status=result.status, content_type="text/plain; charset=utf-8")
    if result.allow:
        response["Allow"] = result.allow
    return response
