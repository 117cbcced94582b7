"""WSGI entry point, served by granian (``chatrk web``).

Meta's webhook requests, by far the busiest, skip the browser middleware. They carry no cookie and are
authenticated by their signature alone, so sessions, CSRF, authentication, the content security policy
and the session policy would only cost time: about half of a bare signed request's server time
(docs/pipeline.md §6). A separate handler serves the ``/webhooks/`` prefix with a URL table holding the
webhook routes only (``WEBHOOK_URLCONF``), so no other view can be reached without the full middleware.
"""

import os
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse, HttpResponseBase

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatrk.settings")
web_application = get_wsgi_application()
WEBHOOK_PREFIX = "/webhooks/"


class WebhookRequest(WSGIRequest):
    def __init__(self, environ: dict[str, Any]) -> None:
        super().__init__(environ)
        self.urlconf = settings.WEBHOOK_URLCONF  # resolved instead of ROOT_URLCONF


class WebhookHandler(WSGIHandler):
    """Django's request cycle with no middleware and the webhook routes only."""

    request_class = WebhookRequest

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler's own (private) fields, as its load_middleware leaves them with no middleware.
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(self._sized_response)

    def _sized_response(self, request: HttpRequest) -> HttpResponseBase:
        """Content-Length, as CommonMiddleware sets it for the rest: no chunked encoding for Meta."""
        response: HttpResponseBase = self._get_response(request)  # type: ignore[attr-defined]  # not in the stubs
        if isinstance(response, HttpResponse) and not response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        return response


webhook_application = WebhookHandler()


def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    if environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
        return webhook_application(environ, start_response)
    return web_application(environ, start_response)
