"""Shared API schemas and helpers: errors, page limits, ids.

Inbox ids are 63-bit numbers; JSON carries them as strings so JavaScript clients do not round them.
"""

from __future__ import annotations

from ninja import Schema

MAX_PAGE = 100
DEFAULT_PAGE = 50


class Error(Schema):
    detail: str


# Documented on every operation: who may not call it, and what a malformed request gets.
DENIED: dict[int, type[Error]] = {401: Error, 403: Error, 422: Error}


def page_size(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))
