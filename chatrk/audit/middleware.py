"""Keeps the audit log's sequencing off the request path (see ``sequencer.left_to_worker``)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from chatrk.audit import sequencer


class SequencingLeftToWorkerMiddleware:
    """A request's audit events commit with it and reach the tree from the worker's periodic task,
    within a minute: the request does not take the log's lock, sequence a batch or sign a checkpoint."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with sequencer.left_to_worker():
            return self.get_response(request)
