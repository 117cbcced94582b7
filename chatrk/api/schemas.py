"""Shared API schemas and helpers: errors, page limits, ids.

Ids are 63-bit numbers, beyond JavaScript's safe integers (2^53), so every id in the API is a string of
digits: ``Id`` in responses, ``IdIn`` in paths, queries and bodies (a JSON number is still accepted there).
"""

from __future__ import annotations

from typing import Annotated

from ninja import Schema
from pydantic import Field, PlainSerializer, WithJsonSchema

MAX_ID = 2**63 - 1  # the largest BIGINT
_ID_SCHEMA = {"type": "string", "pattern": "^[0-9]{1,19}$", "examples": ["389470518349463552"]}


Id = Annotated[int, PlainSerializer(str, return_type=str), WithJsonSchema(_ID_SCHEMA)]  # written as text
IdIn = Annotated[int, Field(ge=0, le=MAX_ID), WithJsonSchema(_ID_SCHEMA)]

MAX_PAGE = 100
DEFAULT_PAGE = 50


class Error(Schema):
    detail: str


# Documented on every operation: who may not call it, and what a malformed request gets.
DENIED: dict[int, type[Error]] = {401: Error, 403: Error, 422: Error}


def page_size(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))
