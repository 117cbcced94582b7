"""Whatever a client sends, the emulator answers in Meta's shape and never crashes (hypothesis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.config import default_config
from emulator.testing import EmulatorServer
from emulator.tests.conftest import PHONE
from emulator.tests.test_send import INTERACTIVE_VARIANTS, VALID

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
TYPES = sorted({*VALID, "template", "reaction", "interactive"})


def mutate(value: Any, path: list[int], replacement: Any) -> Any:
    """Replace one nested value of a valid payload, so fuzzing reaches the deep validators."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    if isinstance(value, dict):
        key = sorted(value)[path[0] % len(value)]
        return {**value, key: mutate(value[key], path[1:], replacement)}
    index = path[0] % len(value)
    return [*value[:index], mutate(value[index], path[1:], replacement), *value[index + 1 :]]


def check_shape(response: httpx.Response) -> None:
    assert response.status_code in (200, 400, 401, 404), response.text
    body = response.json()
    if response.status_code == 200:
        assert "messages" in body or body == {"success": True}
    else:
        assert isinstance(body["error"]["code"], int)
        assert body["error"]["message"].startswith("(#")


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    # One emulator for all examples: hypothesis runs hundreds of them and each only needs a fresh bucket.
    with EmulatorServer(default_config().with_behaviour(time_scale=0.0)) as running:
        yield running


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=JSON)
def test_arbitrary_json_bodies(server: EmulatorServer, body: Any) -> None:
    with server.graph_client() as graph:
        check_shape(graph.post(f"/{PHONE}/messages", json=body))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message_type=st.sampled_from([*sorted(VALID), "interactive_list", "interactive_flow"]),
    path=st.lists(st.integers(min_value=0, max_value=20), max_size=5),
    replacement=JSON,
    to=st.sampled_from(["16505551234", "+1 (650) 555-0000", "abc", "", "1" * 20]),
)
def test_mutated_valid_messages(
    server: EmulatorServer, message_type: str, path: list[int], replacement: Any, to: str
) -> None:
    kind, payload = message_type, None
    if message_type.startswith("interactive_"):
        kind, payload = "interactive", INTERACTIVE_VARIANTS[message_type.split("_", 1)[1]]
    else:
        payload = VALID[message_type]
    body = {"messaging_product": "whatsapp", "to": to, "type": kind, kind: payload}
    body = mutate(body, path, replacement)  # anywhere: envelope fields as well as the payload
    server.emulator.advance(10)  # keep throughput and pair buckets out of the way
    with server.graph_client() as graph:
        check_shape(graph.post(f"/{PHONE}/messages", json=body))
