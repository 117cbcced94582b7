"""``/webhooks/whatsapp/<webhook_key>``: Meta's GET handshake and signed POSTs (transport only).

The signature is the authentication, so the view is exempt from CSRF (Meta cannot send a token). It
checks the signature over the raw bytes before anything reads them, stores them once and answers 200.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from chatrk.ingest import receive
from chatrk.whatsapp.signature import SIGNATURE_HEADER


@csrf_exempt
def whatsapp_webhook(request: HttpRequest, webhook_key: str) -> HttpResponse:
    if request.method == "GET":
        params = {key: request.GET.get(key, "") for key in ("hub.mode", "hub.verify_token", "hub.challenge")}
        challenge = receive.handshake(webhook_key, params)
        if challenge is None:
            return HttpResponse(status=403)
        return HttpResponse(challenge, content_type="text/plain")
    if request.method != "POST":
        response = HttpResponse(status=405)
        response["Allow"] = "GET, POST"
        return response
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > receive.MAX_BODY_BYTES:
        return HttpResponse(status=413)
    # request.body would apply DATA_UPLOAD_MAX_MEMORY_SIZE (1 MB); Meta may send up to 3 MB.
    body = request.read(receive.MAX_BODY_BYTES + 1)
    if len(body) > receive.MAX_BODY_BYTES:
        return HttpResponse(status=413)
    keys = receive.verified_channel(webhook_key, body, request.headers.get(SIGNATURE_HEADER))
    if keys is None:
        return HttpResponse(status=401)
    receive.store(keys, body)
    return HttpResponse(status=200)
