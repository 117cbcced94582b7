from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from chatrk.audit.actions import Actor, record
from chatrk.audit.queries import workspace_event, workspace_events
from chatrk.audit.sequencer import sequence_pending

pytestmark = pytest.mark.django_db
START = datetime(2026, 11, 1, tzinfo=UTC)


def test_events_are_scoped_to_the_workspace_and_filterable() -> None:
    for day, (workspace, action, user) in enumerate(
        [
            (1, "authn_login_success", 5),
            (2, "authn_login_success", 5),
            (1, "authz_change", 6),
            (1, "authn_login_success", 6),
        ]
    ):
        with time_machine.travel(START + timedelta(days=day), tick=False):
            record(action, actor=Actor.user(user), workspace_id=workspace)
    sequence_pending()
    assert [event.seq for event in workspace_events(1)] == [3, 2, 0]
    assert [event.seq for event in workspace_events(1, action="authn_login_success")] == [3, 0]
    assert [event.seq for event in workspace_events(1, actor=Actor.user(6))] == [3, 2]
    window = workspace_events(1, since=START + timedelta(days=1), until=START + timedelta(days=3))
    assert [event.seq for event in window] == [2]
    assert workspace_event(1, 1) is None  # workspace 2's event is not visible to workspace 1
    event = workspace_event(2, 1)
    assert event is not None
    assert event.workspace_id == 2
