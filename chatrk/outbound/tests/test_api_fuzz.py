"""Schemathesis over the sending operations (the whole API is fuzzed in chatrk/api): no 5xx, documented
statuses, answers that match the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chatrk.accounts.actions import create_api_token
from chatrk.accounts.scopes import Scope
from chatrk.audit.actions import Origin
from chatrk.outbound.tests.conftest import World

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(
    max_examples=5,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def api_schema(db: None) -> Iterator[Any]:
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@pytest.mark.django_db
def test_sending_operations_never_fail_and_keep_their_schema(api_schema: Any, world: World) -> None:
    world.conversation()
    _, bearer = create_api_token(world.owner, name="fuzz", scopes=list(Scope), days=1, origin=Origin())
    walked = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if "messages" not in operation.path:
            continue

        @FUZZ
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {bearer}"}, checks=CHECKS)

        call()
        walked += 1
    assert walked == 8  # the seven sending operations and the message list
