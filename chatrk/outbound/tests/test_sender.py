"""The sender against the emulator: sends, retries by error code, fails with reasons, never twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import count
from typing import Any

import httpx
import pytest
import time_machine

from chatrk.core.clock import now
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Channel, Media, Message
from chatrk.outbound import actions, buckets
from chatrk.outbound import media as media_files
from chatrk.outbound.actions import OutgoingMedia, do_enqueue, retry_failed
from chatrk.outbound.models import OutboxItem, RateBucket
from chatrk.outbound.sender import Sender
from chatrk.outbound.tests.conftest import World
from chatrk.whatsapp.enums import MediaKind
from chatrk.whatsapp.messages import TemplateMessage, TextMessage
from emulator.testing import EmulatorServer

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"customer-private-pixels"


def received(server: EmulatorServer) -> Counter[str]:
    """How many times the emulator accepted each outbox row (by our callback data)."""
    return Counter(m.biz_opaque_callback_data or "" for m in server.emulator.messages.values())


def sender(**options: object) -> Sender:
    return Sender(store=buckets.DatabaseBuckets(), concurrency=4, **options)  # type: ignore[arg-type]


_order_numbers = count(1000)


def queue_text(world: World, text: str = "") -> OutboxItem:
    # A different text each time: the same text to many people is held as spam (docs/policy.md).
    body = text or f"Your order A-{next(_order_numbers)} shipped"
    return do_enqueue(world.by(), world.conversation(), TextMessage(body)).item


def make_due() -> None:
    OutboxItem.objects.filter(state=OutboxItem.State.QUEUED).update(due_at=now())


def test_a_text_is_sent_once_and_its_wamid_stored(world: World, emulator: EmulatorServer) -> None:
    item = queue_text(world, "Your order shipped")
    result = sender().run_once()
    assert (result.claimed, result.sent) == (1, 1)
    item.refresh_from_db()
    message = Message.objects.get(pk=item.message_id)
    assert item.state == OutboxItem.State.SENT and item.wamid.startswith("wamid.")
    assert message.status == Message.Status.SENT and message.wamid == item.wamid
    assert received(emulator) == {f"ob:{item.pk}": 1}
    assert emulator.emulator.messages[item.wamid].payload["body"] == "Your order shipped"
    assert sender().run_once().claimed == 0  # nothing left, nothing sent again


@pytest.mark.parametrize(
    ("fault", "code"), [("http_500", 131000), ("http_503", 131016), ("http_429", 130429)]
)
def test_transient_errors_back_off_then_send(
    world: World, emulator: EmulatorServer, fault: str, code: int
) -> None:
    emulator.control.add_fault("messages", fault, count=1)
    item = queue_text(world)
    first = sender().run_once()
    assert first.retried == 1
    item.refresh_from_db()
    assert item.state == OutboxItem.State.QUEUED and item.last_error_code == code
    assert item.due_at > now() and item.last_error_reason
    if code == 130429:
        bucket = RateBucket.objects.get(key=buckets.throughput_key(world.channel.pk))
        assert bucket.blocked_until > now().timestamp()
        RateBucket.objects.all().delete()
    make_due()
    assert sender().run_once().sent == 1
    item.refresh_from_db()
    assert item.state == OutboxItem.State.SENT and item.tries == 2
    assert received(emulator) == {f"ob:{item.pk}": 1}


def test_a_template_meta_no_longer_has_fails_at_once_with_a_plain_reason(
    world: World, emulator: EmulatorServer
) -> None:
    from chatrk.msgtemplates.testing import make_template

    # Approved in Chatrk's store, unknown to WhatsApp (deleted there since): Meta answers 132001.
    make_template(world.owner.workspace, channel=world.channel, name="retired_offer", stage="live")
    item = do_enqueue(world.by(), world.conversation(), TemplateMessage("retired_offer", "en_US")).item
    assert sender().run_once().failed == 1
    item.refresh_from_db()
    message = Message.objects.get(pk=item.message_id)
    assert item.state == OutboxItem.State.FAILED and item.last_error_code == 132001
    assert "template" in item.last_error_reason.lower()
    assert message.status == Message.Status.FAILED and message.error_code == 132001


def test_retries_stop_after_max_tries(world: World, emulator: EmulatorServer) -> None:
    emulator.control.add_fault("messages", "http_500", probability=1.0)
    item = queue_text(world)
    for _ in range(actions.MAX_TRIES):
        make_due()
        sender().run_once()
    item.refresh_from_db()
    assert item.state == OutboxItem.State.FAILED and item.tries == actions.MAX_TRIES
    assert "Gave up after" in item.last_error_reason


def test_error_190_stops_the_number_until_it_is_reauthorised(world: World, emulator: EmulatorServer) -> None:
    emulator.control.expire_token("EMULATOR-ACCESS-TOKEN")
    first, second = queue_text(world), queue_text(world)
    result = sender(batch=1).run_once()
    assert result.failed == 1
    world.channel.refresh_from_db()
    assert world.channel.health == Channel.Health.REAUTHORISE
    first.refresh_from_db()
    assert first.state == OutboxItem.State.FAILED and first.last_error_code == 190
    assert sender().run_once().claimed == 0  # the other row waits for an admin
    second.refresh_from_db()
    assert second.state == OutboxItem.State.QUEUED


def test_a_pass_waiting_for_tokens_sends_nothing_more_once_the_number_needs_reauthorisation(
    world: World, emulator: EmulatorServer
) -> None:
    emulator.control.expire_token("EMULATOR-ACCESS-TOKEN")
    for _ in range(30):
        queue_text(world)
    result = sender(batch=100, pace_for=5.0).run_once()
    burst = buckets.throughput_burst(80.0)
    assert (result.failed, result.deferred) == (burst, 30 - burst)  # the first round, then given back
    assert OutboxItem.objects.filter(state=OutboxItem.State.QUEUED, claimed_by="").count() == 30 - burst
    assert OutboxItem.objects.filter(last_error_code=190).count() == burst


class _ForwardThenTimeOut(httpx.BaseTransport):
    """Delivers the request to the emulator, then loses the answer: the message went out, we can't know."""

    def __init__(self, inner: httpx.BaseTransport, times: int = 1) -> None:
        self.inner, self.times = inner, times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.times > 0 and request.url.path.endswith("/messages"):
            self.times -= 1
            response.read()
            raise httpx.ReadTimeout("lost", request=request)
        return response


class _RefuseToSend(httpx.BaseTransport):
    """The request fails before anything is sent (``error``): safe to send again."""

    def __init__(self, inner: httpx.BaseTransport, error: type[httpx.TransportError], times: int = 1) -> None:
        self.inner, self.error, self.times = inner, error, times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.times > 0:
            self.times -= 1
            raise self.error("not sent", request=request)
        return self.inner.handle_request(request)


def test_a_lost_answer_is_never_resent_and_retry_failed_really_resends(
    world: World, emulator: EmulatorServer
) -> None:
    item = queue_text(world)
    assert sender(transport=_ForwardThenTimeOut(emulator.transport)).run_once().failed == 1
    item.refresh_from_db()
    assert item.state == OutboxItem.State.FAILED and item.last_error_reason == actions.OUTCOME_UNKNOWN
    make_due()
    assert sender().run_once().claimed == 0
    assert received(emulator) == {f"ob:{item.pk}": 1}

    message = Message.objects.get(pk=item.message_id)
    again = retry_failed(world.by(), message)
    assert again.attempt == 2 and sender().run_once().sent == 1
    again.refresh_from_db()
    message.refresh_from_db()
    assert again.state == OutboxItem.State.SENT and message.status == Message.Status.SENT
    assert message.wamid == again.wamid
    assert received(emulator) == {f"ob:{item.pk}": 1, f"ob:{again.pk}": 1}


def test_a_malformed_answer_counts_as_unknown_outcome(world: World, emulator: EmulatorServer) -> None:
    emulator.control.add_fault("messages", "malformed", count=1)
    item = queue_text(world)
    sender().run_once()
    item.refresh_from_db()
    assert item.state == OutboxItem.State.FAILED and item.last_error_reason == actions.OUTCOME_UNKNOWN
    # The status webhook carries our callback data: the drainer can prove it went out.
    wamid = next(iter(emulator.emulator.messages))
    assert actions.reconcile_from_status(world.channel.pk, f"ob:{item.pk}", wamid)
    item.refresh_from_db()
    assert item.state == OutboxItem.State.SENT and Message.objects.get(pk=item.message_id).wamid == wamid


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.LocalProtocolError])
def test_a_request_that_never_left_is_retried_and_sent_once(
    world: World, emulator: EmulatorServer, error: type[httpx.TransportError]
) -> None:
    item = queue_text(world)
    assert sender(transport=_RefuseToSend(emulator.transport, error)).run_once().retried == 1
    make_due()
    assert sender().run_once().sent == 1
    assert received(emulator) == {f"ob:{item.pk}": 1}


def test_a_row_left_sending_by_a_dead_worker_fails_without_a_resend(
    world: World, emulator: EmulatorServer
) -> None:
    item = queue_text(world)
    OutboxItem.objects.filter(pk=item.pk).update(
        state=OutboxItem.State.SENDING, claimed_by="dead", lease_until=now() - timedelta(seconds=1)
    )
    result = sender().run_once()
    assert result.reaped == 1 and result.claimed == 0
    item.refresh_from_db()
    assert item.state == OutboxItem.State.FAILED and "not sent again" in item.last_error_reason
    assert Message.objects.get(pk=item.message_id).status == Message.Status.FAILED
    assert received(emulator) == {}


def test_a_queued_row_with_an_expired_lease_is_claimed_again(world: World, emulator: EmulatorServer) -> None:
    item = queue_text(world)
    OutboxItem.objects.filter(pk=item.pk).update(claimed_by="dead", lease_until=now() - timedelta(seconds=1))
    assert sender().run_once().sent == 1


def test_media_is_uploaded_and_sent_by_id_never_by_link(world: World, emulator: EmulatorServer) -> None:
    outgoing = OutgoingMedia(MediaKind.IMAGE, PNG, "image/png", caption="your receipt")
    item = do_enqueue(world.by(), world.conversation(), outgoing).item
    assert item.media_id is not None
    media = Media.objects.get(pk=item.media_id)
    assert b"customer-private-pixels" not in media_files.path_of(media).read_bytes()
    assert media_files.load(media) == PNG
    assert sender().run_once().sent == 1
    item.refresh_from_db()
    sent = emulator.emulator.messages[item.wamid].payload
    media.refresh_from_db()
    assert sent["id"] == media.meta_media_id and "link" not in sent
    assert sent["caption"] == "your receipt"


def test_the_pair_limit_defers_the_46th_message_to_one_customer(
    world: World, emulator: EmulatorServer
) -> None:
    Channel.objects.filter(pk=world.channel.pk).update(throughput_level="HIGH")  # only the pair limit binds
    conversation = world.conversation()
    for n in range(47):
        do_enqueue(world.by(), conversation, TextMessage(f"update {n}"))
    result = sender().run_once()
    assert (result.sent, result.deferred) == (45, 2)
    assert len(emulator.emulator.messages) == 45  # no 131056: the 46th was never offered
    assert OutboxItem.objects.filter(state=OutboxItem.State.QUEUED, due_at__gt=now()).count() == 2


def test_the_throughput_bucket_paces_a_number(world: World, emulator: EmulatorServer) -> None:
    for _ in range(30):
        queue_text(world)
    started = now()
    result = sender(batch=100, pace_for=0.0).run_once()
    burst = buckets.throughput_burst(80.0)
    assert result.sent == burst and result.deferred == 30 - burst
    assert len(emulator.emulator.messages) == burst  # no 130429 answer: nothing over the rate was sent
    due = OutboxItem.objects.filter(state=OutboxItem.State.QUEUED, claimed_by="").values_list(
        "due_at", flat=True
    )
    assert len(due) == 30 - burst and min(due) > started  # given back, due when the bucket refills


def test_a_pass_sends_rows_over_the_rate_as_the_bucket_refills(
    world: World, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(40):
        queue_text(world)
    store = buckets.DatabaseBuckets()
    grants: list[tuple[float, int]] = []
    real_take = store.take

    def take(key: str, **options: Any) -> buckets.Grant:
        grant = real_take(key, **options)
        grants.append((now().timestamp(), grant.granted))
        return grant

    monkeypatch.setattr(store, "take", take)
    result = Sender(store=store, concurrency=4, batch=100, pace_for=5.0).run_once()
    assert (result.sent, result.deferred) == (40, 0)  # nothing given back: the pass waited for tokens
    burst = buckets.throughput_burst(80.0)
    assert len(grants) >= 3 and grants[0][1] == burst
    for at, _ in grants:  # never more than the bucket allows: its capacity, then 80 a second
        assert sum(n for t, n in grants if t <= at) <= burst + 80.0 * (at - grants[0][0]) + 1
    assert len(emulator.emulator.messages) == 40


def test_a_stopping_sender_gives_rows_over_the_rate_back_at_once(
    world: World, emulator: EmulatorServer
) -> None:
    for _ in range(30):
        queue_text(world)
    running = sender(batch=100, pace_for=5.0)
    running.stop()
    result = running.run_once()
    burst = buckets.throughput_burst(80.0)
    assert (result.sent, result.deferred) == (burst, 30 - burst)
    assert not OutboxItem.objects.exclude(claimed_by="").exists()  # no lease kept


def test_stored_recipient_is_what_the_emulator_saw(world: World, emulator: EmulatorServer) -> None:
    item = queue_text(world)
    sender().run_once()
    item.refresh_from_db()
    contact = item.recipient
    assert emulator.emulator.messages[OutboxItem.objects.get(pk=item.pk).wamid].to == open_for_system(
        contact, "wa_id"
    )


def test_the_loop_outlives_a_failed_pass_and_stops_when_asked(
    world: World, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = queue_text(world)
    real_claim = actions.claim_due
    calls: list[int] = []

    def flaky_claim(*args: object, **kwargs: object) -> list[OutboxItem]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("unexpected")
        return real_claim(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(actions, "claim_due", flaky_claim)
    running = sender(error_pause=0.0, idle_sleep=0.01)
    running.run(until=lambda: OutboxItem.objects.filter(pk=item.pk, state=OutboxItem.State.SENT).exists())
    assert len(calls) >= 2 and received(emulator) == {f"ob:{item.pk}": 1}


def test_senders_pace_through_redis_buckets_too(world: World, emulator: EmulatorServer) -> None:
    import uuid

    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    store = buckets.RedisBuckets(client, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        for _ in range(20):
            queue_text(world)
        result = Sender(store=store, concurrency=4, pace_for=0.0).run_once()
        burst = buckets.throughput_burst(80.0)
        assert (result.sent, result.deferred) == (burst, 20 - burst)
        assert not RateBucket.objects.exists()  # nothing paced through the database
    finally:
        for key in client.scan_iter(f"{store.prefix}*"):
            client.delete(key)
        client.close()


def test_a_status_that_overtakes_the_send_is_applied_once_the_wamid_is_stored(world: World) -> None:
    from datetime import UTC, datetime

    from chatrk.ingest.actions import apply_status
    from chatrk.outbound.actions import Sent, record_outcomes
    from chatrk.whatsapp import payloads as wa
    from chatrk.whatsapp.enums import StatusKind

    item = queue_text(world)
    OutboxItem.objects.filter(pk=item.pk).update(state=OutboxItem.State.SENDING, claimed_by="w1")
    delivered = wa.Status(
        id="wamid.early", status=StatusKind.DELIVERED, timestamp=datetime.now(UTC), recipient_id="16505550000"
    )
    assert not apply_status(world.channel, delivered)  # no message has that wamid yet: kept as an orphan
    record_outcomes("w1", [Sent(item.pk, "wamid.early")])
    assert Message.objects.get(pk=item.message_id).status == Message.Status.DELIVERED


def test_a_pass_loads_every_customers_key_in_one_query(world: World, emulator: EmulatorServer) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chatrk.crypto import keyring

    Channel.objects.filter(pk=world.channel.pk).update(throughput_level="HIGH")
    for _ in range(12):  # twelve customers, each with their own key
        queue_text(world)
    keyring.clear_cache()
    with CaptureQueriesContext(connection) as queries:
        result = sender(batch=50).run_once()
    assert result.sent == 12
    key_reads = [q["sql"] for q in queries.captured_queries if '"crypto_datakey"' in q["sql"]]
    assert 1 <= len(key_reads) <= 3  # the customers' keys at once (and the channel's token key), not 12+


def test_the_answers_of_a_passs_first_rounds_count_when_a_later_round_fails(
    world: World, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(30):
        queue_text(world)
    real_mark = actions.mark_sending
    calls: list[int] = []

    def failing_second_round(*args: Any, **kwargs: Any) -> set[int]:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database gone")
        return real_mark(*args, **kwargs)

    monkeypatch.setattr(actions, "mark_sending", failing_second_round)
    running = sender(batch=100, pace_for=5.0)
    with pytest.raises(RuntimeError):
        running.run_once()
    burst = buckets.throughput_burst(80.0)
    assert running.totals.sent == burst == OutboxItem.objects.filter(state=OutboxItem.State.SENT).count()
    assert running.totals.claimed == 30


class _LateRounds:
    """The sender's stop event, but each wait for tokens moves the clock on by half a second (a round
    late on a loaded machine: a tenth of a second was due), without sleeping."""

    def __init__(self, traveller: Any) -> None:
        self.traveller = traveller

    def is_set(self) -> bool:
        return False

    def wait(self, seconds: float) -> bool:
        self.traveller.shift(timedelta(seconds=0.5))
        return False


def _recording_grants(monkeypatch: pytest.MonkeyPatch) -> tuple[buckets.DatabaseBuckets, list[int]]:
    """A bucket store that records how many tokens each take granted."""
    store = buckets.DatabaseBuckets()
    grants: list[int] = []
    real_take = store.take

    def take(key: str, **options: Any) -> buckets.Grant:
        grant = real_take(key, **options)
        grants.append(grant.granted)
        return grant

    monkeypatch.setattr(store, "take", take)
    return store, grants


def test_a_pass_whose_rounds_come_late_catches_up_on_the_tokens_owed(
    world: World, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(60):
        queue_text(world)
    store, grants = _recording_grants(monkeypatch)
    with time_machine.travel(now(), tick=False) as traveller:
        running = Sender(store=store, concurrency=4, batch=100, pace_for=5.0)
        running._stop = _LateRounds(traveller)  # type: ignore[assignment]
        result = running.run_once()
    burst, owed = buckets.throughput_burst(80.0), buckets.catch_up_capacity(80.0)
    # The first round takes the burst; the next comes 0.5 s later and takes the tokens owed up to the
    # cap (32), not just a burst's 16: the sustained rate holds although the rounds come late.
    assert grants == [burst, owed, 60 - burst - owed]
    assert (result.sent, result.deferred) == (60, 0)
    assert len(emulator.emulator.messages) == 60  # and WhatsApp answered no 130429


def test_the_next_pass_catches_up_too_when_this_one_gave_rows_back(
    world: World, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(60):
        queue_text(world)
    store, grants = _recording_grants(monkeypatch)
    running = Sender(store=store, concurrency=4, batch=100, pace_for=0.0)
    with time_machine.travel(now(), tick=False) as traveller:
        assert running.run_once().deferred == 60 - buckets.throughput_burst(80.0)  # short: rows go back
        traveller.shift(timedelta(seconds=0.5))  # the next pass starts late
        make_due()
        running.run_once()
    assert grants == [buckets.throughput_burst(80.0), buckets.catch_up_capacity(80.0)]
    assert len(emulator.emulator.messages) == sum(grants)
