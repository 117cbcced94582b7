"""``/webhooks/whatsapp/<webhook_key>``: Meta's GET handshake and signed POSTs (transport only).

The signature is the authentication: no cookie, no session, no CSRF token (Meta cannot send one). The
signature is checked over the raw bytes before anything reads them; the body is stored once and
answered with 200.

``answer`` is the endpoint. In production ``chatrk.wsgi`` serves the ``/webhooks/`` prefix with
``application`` below, a plain WSGI application: Django's request cycle (request object, signals,
URL resolver, response object) cost about 115 µs of a bare signed request's 150 µs under granian and
more than half of a stored webhook's CPU (docs/pipeline.md §6), and the webhook needs none of it.
Django's handler reaches the same ``answer`` through ``chatrk.ingest.views`` (the test client, live
test servers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from django.db import close_old_connections

from chatrk.ingest import receive
from chatrk.whatsapp.signature import SIGNATURE_HEADER

PREFIX = "/webhooks/"
ROUTE = "whatsapp"
HANDSHAKE_PARAMS = ("hub.mode", "hub.verify_token", "hub.challenge")
_REASONS = {
    200: "OK",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    500: "Internal Server Error",
}
_SIGNATURE_KEY = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")  # its WSGI environ key
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str = ""  # the handshake's challenge; every other answer is empty
    allow: str = ""  # the Allow header of a 405


def answer(
    method: str,
    webhook_key: str,
    query: Mapping[str, str],
    declared_length: str | None,
    read: Callable[[int], bytes],
    signature: str | None,
) -> Answer:
    """The endpoint: ``read(n)`` reads at most n bytes of the body, which is read only for a POST."""
    if method == "GET":
        challenge = receive.handshake(webhook_key, {key: query.get(key, "") for key in HANDSHAKE_PARAMS})
        return Answer(403) if challenge is None else Answer(200, challenge)
    if method != "POST":
        return Answer(405, allow="GET, POST")
    declared = declared_length or "0"
    if not declared.isdigit() or int(declared) > receive.MAX_BODY_BYTES:
        return Answer(413)
    body = read(receive.MAX_BODY_BYTES + 1)  # a body longer than declared is still capped
    if len(body) > receive.MAX_BODY_BYTES:
        return Answer(413)
    keys = receive.verified_channel(webhook_key, body, signature)
    if keys is None:
        return Answer(401)
    receive.store(keys, body)
    return Answer(200)


type StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI application of the ``/webhooks/`` prefix: the webhook route and nothing else."""
    route, _, webhook_key = environ.get("PATH_INFO", "").removeprefix(PREFIX).partition("/")
    if route != ROUTE or not webhook_key or "/" in webhook_key:
        return respond(start_response, Answer(404))
    try:
        result = answer(
            environ["REQUEST_METHOD"],
            webhook_key,
            dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
            environ.get("CONTENT_LENGTH"),
            environ["wsgi.input"].read,
            environ.get(_SIGNATURE_KEY),
        )
    except Exception:
        # As Django's handler would: logged without the body, 500 (Meta retries), and a connection the
        # error left unusable is closed so the next request opens a fresh one.
        logger.exception("webhook request failed")
        close_old_connections()
        result = Answer(500)
    return respond(start_response, result)


def respond(start_response: StartResponse, result: Answer) -> list[bytes]:
    content = result.text.encode()
    headers = [("Content-Length", str(len(content)))]  # never chunked: Meta expects a plain answer
    if content:  # the handshake echoes what the caller sent: plain text, never sniffed as HTML
        headers += [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")]
    if result.allow:
        headers.append(("Allow", result.allow))
    start_response(f"{result.status} {_REASONS[result.status]}", headers)
    return [content]
