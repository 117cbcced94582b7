"""Chatrk's WSGI application plus ``/webhooks/bare/<key>``: the same server reading the body, checking
the signature and answering 200 or 401, stored nowhere. It takes the webhook's own path (the
``/webhooks/`` prefix, outside Django's request cycle) up to the point where the webhook stores."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chatrk.wsgi import application as chatrk_application  # first: it sets Django up

# isort: split
from chatrk.ingest import receive
from chatrk.ingest.endpoint import PREFIX, Answer, StartResponse, respond

BARE = f"{PREFIX}bare/"


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if not path.startswith(BARE):
        return chatrk_application(environ, start_response)
    body = environ["wsgi.input"].read(receive.MAX_BODY_BYTES + 1)
    keys = receive.verified_channel(path.removeprefix(BARE), body, environ.get("HTTP_X_HUB_SIGNATURE_256"))
    return respond(start_response, Answer(200 if keys is not None else 401))
