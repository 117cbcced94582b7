"""Reliability: duplicates, out-of-order statuses, a drainer killed mid-batch, poison, foreign numbers."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import httpx
import pytest
import time_machine
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.crypto.fields import open_for_system
from chatrk.inbox import events
from chatrk.inbox.models import Channel, Conversation, Media, Message
from chatrk.ingest import actions, hooks, media
from chatrk.ingest.actions import apply_orphans, drain, drain_once
from chatrk.ingest.models import MediaFetch, Orphan, RawEvent
from chatrk.ingest.receive import ChannelKeys, store
from chatrk.ingest.tests.conftest import make_channel, post
from chatrk.ingest.tests.test_samples import outbound
from chatrk.whatsapp.client import GraphClient, GraphSettings

pytestmark = pytest.mark.django_db

T0 = 1_760_000_000


def envelope(
    channel: Channel,
    *,
    messages: tuple[Any, ...] | list[Any] = (),
    statuses: tuple[Any, ...] | list[Any] = (),
    number: str | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "15550783881",
            "phone_number_id": number or channel.phone_number_id,
        },
    }
    if messages:
        value["contacts"] = [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": channel.waba_id, "changes": [{"field": "messages", "value": value}]}],
    }


def text(wamid: str, body: str = "hello", at: int = T0, sender: str = "16505551234") -> dict[str, Any]:
    return {"from": sender, "id": wamid, "timestamp": str(at), "type": "text", "text": {"body": body}}


def status(wamid: str, kind: str, at: int = T0, **extra: Any) -> dict[str, Any]:
    return {"id": wamid, "status": kind, "timestamp": str(at), "recipient_id": "16505551234", **extra}


@override_settings(REDIS_URL="")  # in-process delivery of live events (Redis delivery: chatrk/inbox tests)
def test_a_text_makes_contact_conversation_and_message_and_opens_the_window() -> None:
    channel = make_channel()
    heard: list[dict[str, Any]] = []
    stop = events.subscribe(channel.workspace_id, heard.append)
    try:
        with mock.patch("django.db.transaction.on_commit", lambda fn, *a, **k: fn()):
            post(channel, envelope(channel, messages=[text("wamid.1", at=T0)]))
            drain()
    finally:
        stop()
    conversation = Conversation.objects.get()
    assert conversation.unread == 1 and conversation.last_inbound_at == datetime.fromtimestamp(T0, UTC)
    message = Message.objects.get()
    assert open_for_system(message, "body") == "hello"
    assert heard == [{"kind": "message.new", "workspace_id": channel.workspace_id}]  # a wake-up (inbox.live)


def test_new_inbound_reopens_a_resolved_conversation_and_never_moves_the_window_back() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[text("wamid.2", at=T0 + 100)]))
    drain()
    Conversation.objects.update(status=Conversation.Status.RESOLVED, unread=0)
    post(channel, envelope(channel, messages=[text("wamid.1", at=T0)]))  # older, arriving late
    drain()
    conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.OPEN and conversation.unread == 1
    assert conversation.last_inbound_at == datetime.fromtimestamp(T0 + 100, UTC)


def test_the_same_message_in_different_bodies_is_applied_once() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[text("wamid.1")]))
    post(channel, {**envelope(channel, messages=[text("wamid.1")]), "extra": 1})
    assert RawEvent.objects.count() == 2
    drain()
    assert Message.objects.count() == 1 and Conversation.objects.get().unread == 1


def test_statuses_only_move_forward_whatever_order_they_arrive_in() -> None:
    channel = make_channel()
    message = outbound(channel, "wamid.out")
    for kind in ("read", "delivered", "sent"):
        post(channel, envelope(channel, statuses=[status("wamid.out", kind)]))
        drain()
    message.refresh_from_db()
    assert message.status == Message.Status.READ


def test_failed_is_final_and_keeps_its_error() -> None:
    channel = make_channel()
    message = outbound(channel, "wamid.out")
    failure = status("wamid.out", "failed", errors=[{"code": 131047, "title": "Re-engagement message"}])
    post(channel, envelope(channel, statuses=[failure, status("wamid.out", "read", at=T0 + 5)]))
    drain()
    message.refresh_from_db()
    assert (message.status, message.error_code, message.error_title) == (
        "failed",
        131047,
        "Re-engagement message",
    )
    assert "24 hours" in actions.failure_reason(message)


def test_a_status_before_its_wamid_is_kept_and_applied_when_the_sender_stores_it() -> None:
    channel = make_channel()
    post(channel, envelope(channel, statuses=[status("wamid.late", "delivered")]))
    drain()
    assert Orphan.objects.count() == 1
    message = outbound(channel, "wamid.late")
    assert apply_orphans(channel, "wamid.late") == 1
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED and not Orphan.objects.exists()


def test_orphans_expire() -> None:
    channel = make_channel()
    post(channel, envelope(channel, statuses=[status("wamid.never", "delivered")]))
    drain()
    with time_machine.travel(now() + timedelta(days=8)):
        assert actions.expire_orphans() == 1


def test_edits_and_revokes() -> None:
    channel = make_channel()
    edit = {
        "from": "16505551234",
        "id": "wamid.e1",
        "timestamp": str(T0 + 10),
        "type": "edit",
        "edit": {"original_message_id": "wamid.1", "message": {"type": "text", "text": {"body": "fixed"}}},
    }
    post(channel, envelope(channel, messages=[edit]))  # the edit overtakes its original
    post(channel, envelope(channel, messages=[text("wamid.1", "typo", at=T0)]))
    drain()
    message = Message.objects.get(wamid="wamid.1")
    assert open_for_system(message, "body") == "fixed"
    revoke = {
        "from": "16505551234",
        "id": "wamid.r1",
        "timestamp": str(T0 + 20),
        "type": "revoke",
        "revoke": {"original_message_id": "wamid.1"},
    }
    post(channel, envelope(channel, messages=[revoke]))
    drain()
    message.refresh_from_db()
    assert message.status == Message.Status.DELETED and open_for_system(message, "body") is None


def test_reactions_and_unreactions_point_at_their_target() -> None:
    channel = make_channel()
    outbound(channel, "wamid.ours", "16505551234")
    react = {
        "from": "16505551234",
        "id": "wamid.x1",
        "timestamp": str(T0),
        "type": "reaction",
        "reaction": {"message_id": "wamid.ours", "emoji": "👍"},
    }
    unreact = {**react, "id": "wamid.x2", "timestamp": str(T0 + 1), "reaction": {"message_id": "wamid.ours"}}
    post(channel, envelope(channel, messages=[react, unreact]))
    drain()
    rows = list(Message.objects.filter(kind="reaction").order_by("sent_at"))
    assert [r.reply_to_wamid for r in rows] == ["wamid.ours", "wamid.ours"]
    assert [open_for_system(r, "body") for r in rows] == ["👍", None]
    assert Conversation.objects.get().unread == 0  # a reaction is not a message to answer


def test_a_stop_keyword_revokes_consent_in_the_same_drain() -> None:
    from chatrk.consent.gate import check_consent
    from chatrk.consent.tests.helpers import grant

    channel = make_channel()
    post(channel, envelope(channel, messages=[text("wamid.hi", "hello")]))
    drain()
    contact = Conversation.objects.get().contact
    grant(contact.workspace, contact, ("marketing", "utility"))
    assert check_consent(channel.workspace_id, contact.pk, "marketing", window_open=False).allowed
    with mock.patch.object(hooks, "inbound_reply", wraps=hooks.inbound_reply) as hook:
        post(channel, envelope(channel, messages=[text("wamid.s", " STOP ")]))
        drain()
    assert hook.call_args.kwargs["text"] == " STOP "
    for purpose in ("marketing", "utility"):
        assert not check_consent(channel.workspace_id, contact.pk, purpose, window_open=False).allowed


def test_events_for_a_number_of_another_workspace_are_dropped_and_audited() -> None:
    ours, foreign = make_channel("111"), make_channel("222")
    post(ours, envelope(ours, messages=[text("wamid.f")], number=foreign.phone_number_id))
    drain()
    assert not Message.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.foreign_number").count() == 1


def test_events_for_a_sibling_number_of_the_same_workspace_are_accepted() -> None:
    ours = make_channel("111")
    owner = mock.Mock(workspace_id=ours.workspace_id, user_id=None)
    sibling = make_channel("333", workspace_owner=owner)
    post(ours, envelope(ours, messages=[text("wamid.s")], number="333"))
    drain()
    assert Message.objects.get().channel_id == sibling.pk


def test_a_body_that_does_not_parse_is_poison_with_a_reason_and_not_retried() -> None:
    channel = make_channel()
    post(channel, b'{"object": "whatsapp_business_account", "entry": [{"id": 5}]}')
    result = drain()
    assert result.poisoned == 1
    event = RawEvent.objects.get()
    assert event.poisoned_at is not None and event.reason.startswith("unparseable: $.entry[0].id")
    assert drain().claimed == 0


def test_an_unexpected_failure_is_retried_with_backoff_then_poisoned() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[text("wamid.boom")]))
    with mock.patch.object(actions, "_touch_conversations", side_effect=RuntimeError("boom")):
        for attempt in range(actions.MAX_ATTEMPTS):
            with time_machine.travel(now() + timedelta(hours=attempt * 3)):
                drain()
    event = RawEvent.objects.get()
    assert event.poisoned_at is not None and "RuntimeError" in event.reason and "boom" not in event.reason
    assert not Message.objects.exists()


def test_one_bad_event_does_not_hold_up_the_rest_of_its_batch() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[text("wamid.ok1")]))
    post(channel, envelope(channel, messages=[text("wamid.bad", sender="not-a-number")]))
    post(channel, envelope(channel, messages=[text("wamid.ok2")]))
    result = drain()
    assert (result.applied, result.poisoned) == (2, 1)
    assert set(Message.objects.values_list("wamid", flat=True)) == {"wamid.ok1", "wamid.ok2"}


def test_a_drainer_killed_mid_batch_loses_nothing_and_applies_nothing_twice() -> None:
    channel = make_channel()
    for n in range(10):
        post(channel, envelope(channel, messages=[text(f"wamid.{n}")]))

    class Killed(BaseException):
        pass

    calls = 0
    real = actions._apply

    def dying(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 6:
            raise Killed
        real(*args)

    with mock.patch.object(actions, "_apply", dying), pytest.raises(Killed):
        drain_once(batch_size=10)
    assert RawEvent.objects.count() == 10 and not Message.objects.exists()
    assert drain().claimed == 0  # still leased to the dead drainer
    with time_machine.travel(now() + actions.LEASE + timedelta(seconds=1)):
        assert drain().applied == 10
    assert Message.objects.count() == 10 and Conversation.objects.get().unread == 10


def test_claim_takes_fresh_rows_and_expired_leases_oldest_first_and_skips_live_leases() -> None:
    channel = make_channel()
    for n in range(6):
        post(channel, envelope(channel, messages=[text(f"wamid.{n}")]))
    ids = list(RawEvent.objects.order_by("id").values_list("id", flat=True))
    RawEvent.objects.filter(pk__in=[ids[0], ids[3]]).update(claimed_until=now() - timedelta(seconds=1))
    RawEvent.objects.filter(pk=ids[1]).update(claimed_until=now() + timedelta(minutes=1))
    RawEvent.objects.filter(pk=ids[2]).update(poisoned_at=now())
    assert [event.pk for event in actions.claim(batch_size=3)] == [ids[0], ids[3], ids[4]]
    assert [event.pk for event in actions.claim(batch_size=3)] == [ids[5]]
    assert actions.claim(batch_size=3) == []


def test_claim_leases_its_rows_and_returns_them_ready_to_open() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[text("wamid.lease")]))
    RawEvent.objects.update(attempts=2)
    with time_machine.travel(now(), tick=False):
        [event] = actions.claim(batch_size=5)
        stored = RawEvent.objects.get()
        assert stored.claimed_until == now() + actions.LEASE and stored.attempts == event.attempts == 3
    assert (event.workspace_id, event.channel_id) == (channel.workspace_id, channel.pk)
    assert b"wamid.lease" in open_for_system(event, "body")


def test_a_second_drainer_reapplying_a_batch_changes_nothing() -> None:
    channel = make_channel()
    message = outbound(channel, "wamid.out", "16505551234")
    for n in range(5):
        post(
            channel,
            envelope(channel, messages=[text(f"wamid.{n}")], statuses=[status("wamid.out", "delivered")]),
        )
    events_ = list(RawEvent.objects.all())
    drain()
    for event in events_:  # as if a slow drainer whose lease expired applied the same rows again
        event.save(force_insert=True)
    RawEvent.objects.update(claimed_until=None, attempts=0)
    drain()
    message.refresh_from_db()
    assert Message.objects.filter(direction="in").count() == 5 and Conversation.objects.get().unread == 5
    assert message.status == Message.Status.DELIVERED


def test_unknown_message_types_and_fields_are_kept() -> None:
    channel = make_channel()
    poll = {"from": "16505551234", "id": "wamid.p", "timestamp": str(T0), "type": "poll", "poll": {"q": "?"}}
    body = envelope(channel, messages=[poll])
    body["entry"][0]["changes"].append({"field": "brand_new_field", "value": {"x": 1}})
    post(channel, body)
    assert drain().applied == 1
    assert Message.objects.get().kind == "unsupported"


# --- media ---------------------------------------------------------------------------------------------

PICTURE = b"\xff\xd8\xff" + b"jpeg" * 1000


def graph(content: bytes, mime: str = "image/jpeg") -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v23.0/m1":
            return httpx.Response(
                200,
                json={
                    "url": "https://graph.example/dl/file",
                    "mime_type": mime,
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "file_size": len(content),
                    "id": "m1",
                },
            )
        assert request.headers["Authorization"] == "Bearer EAAG-token"
        return httpx.Response(200, content=content, headers={"content-type": mime})

    return httpx.MockTransport(handler)


def factory(transport: httpx.MockTransport) -> Any:
    def make(channel: Channel) -> GraphClient:
        token = open_for_system(channel, "access_token")
        return GraphClient(
            token, settings=GraphSettings(base_url="https://graph.example"), transport=transport
        )

    return make


def image_message(sha: str) -> dict[str, Any]:
    return {
        "from": "16505551234",
        "id": "wamid.img",
        "timestamp": str(T0),
        "type": "image",
        "image": {"id": "m1", "mime_type": "image/jpeg", "sha256": sha, "caption": "receipt"},
    }


def test_media_is_downloaded_checked_and_stored_encrypted() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[image_message(hashlib.sha256(PICTURE).hexdigest())]))
    drain()
    [media_id] = media.due()
    assert media.fetch(media_id, client_factory=factory(graph(PICTURE))) == "stored"
    stored = Media.objects.get()
    assert stored.size == len(PICTURE) and stored.stored_at is not None
    assert b"jpeg" not in media.path_of(stored).read_bytes()
    assert media.read(stored) == PICTURE
    assert media.fetch(media_id) == "skipped"


def test_media_with_a_wrong_checksum_fails_for_good_with_a_reason() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[image_message("00" * 32)]))
    drain()
    [media_id] = media.due()
    assert media.fetch(media_id, client_factory=factory(graph(PICTURE))) == "failed"
    assert "checksum" in Media.objects.get().error and MediaFetch.objects.get().done


def test_media_of_a_forbidden_type_is_refused() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[image_message("")]))
    drain()
    [media_id] = media.due()
    assert media.fetch(media_id, client_factory=factory(graph(b"MZ", "application/x-msdownload"))) == "failed"
    assert Media.objects.get().stored_at is None


def test_transient_media_failures_are_retried_later() -> None:
    channel = make_channel()
    post(channel, envelope(channel, messages=[image_message("")]))
    drain()
    [media_id] = media.due()
    down = httpx.MockTransport(lambda request: httpx.Response(503, json={"error": {"code": 2}}))
    assert media.fetch(media_id, client_factory=factory(down)) == "retry"
    assert media.due() == []
    with time_machine.travel(now() + timedelta(minutes=1)):
        assert media.due() == [media_id]


# --- fuzzing --------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _mutated_envelope(data: st.DataObject, channel: Channel) -> bytes:
    base = envelope(channel, messages=[text("wamid.z")], statuses=[status("wamid.out", "read")])
    value = base["entry"][0]["changes"][0]["value"]
    target = data.draw(st.sampled_from([value, value["messages"][0], value["statuses"][0], base["entry"][0]]))
    key = data.draw(st.sampled_from(sorted(target)))
    target[key] = data.draw(json_values)
    return json.dumps(base).encode()


@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_webhooks_never_crash_the_drainer(data: st.DataObject) -> None:
    channel = Channel.objects.first() or make_channel()
    choice = data.draw(st.sampled_from(["bytes", "mutated", "empty"]))
    if choice == "bytes":
        body = data.draw(st.binary(max_size=64))
    elif choice == "mutated":
        body = _mutated_envelope(data, channel)
    else:
        body = b"{}"
    keys = ChannelKeys(channel.pk, channel.workspace_id, b"", "", 0.0)
    store(keys, body)
    result = drain()
    assert result.applied + result.poisoned + result.retried == result.claimed
    assert result.retried == 0
    assert not RawEvent.objects.filter(poisoned_at__isnull=True).exists()
