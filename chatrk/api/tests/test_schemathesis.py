"""Schemathesis over the whole API, through WSGI, with a token holding every scope: no 5xx, and every
answer has a documented status and content type and matches its schema."""

from __future__ import annotations

import itertools
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
from chatrk.audit.actions import SYSTEM, Origin
from chatrk.core.roles import Role
from chatrk.inbox.work import create_label
from chatrk.testing import add_member, make_channel, make_conversation, make_message, make_workspace

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(db: None) -> Iterator[Any]:
    # Like Django's test client: the request's end must not close the test's transaction's connection.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@pytest.fixture
def bearer(db: None) -> tuple[str, dict[str, str]]:
    """A token with every scope, and ids of real objects of its workspace for half the examples."""
    owner = add_member(make_workspace(), role=Role.OWNER)
    agent = add_member(owner.workspace, role=Role.AGENT)
    channel = make_channel(owner)
    conversation = make_conversation(channel, name="Ana")
    make_message(conversation, "hello")
    label = create_label(owner.workspace_id, "vip", actor=SYSTEM, origin=Origin())
    _, secret = create_api_token(owner, name="fuzz", scopes=list(Scope), days=1, origin=Origin())
    ids = {"member_id": agent.pk, "channel_id": channel.pk, "contact_id": conversation.contact_id,
           "conversation_id": conversation.pk, "label_id": label.pk}  # fmt: skip
    return secret, {name: str(value) for name, value in ids.items()}


FUZZ = settings(
    max_examples=20,
    derandomize=True,  # the same examples every run
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.django_db
def test_the_api_never_fails_and_keeps_its_schema(
    api_schema: Any, bearer: tuple[str, dict[str, str]]
) -> None:
    secret, real_ids = bearer
    turn = itertools.count()
    walked = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            if case.path_parameters and next(turn) % 2:  # reach the 200 paths too, not only 404s
                case.path_parameters.update({k: v for k, v in real_ids.items() if k in case.path_parameters})
            case.call_and_validate(headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS)

        call()
        walked += 1
    assert walked >= 13
