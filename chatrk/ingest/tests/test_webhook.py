"""The endpoint: handshake, signature before anything, size cap, one durable row, failures counted."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chatrk.audit.models import AuditEvent
from chatrk.core.ids import new_id
from chatrk.crypto.fields import open_for_system
from chatrk.inbox.models import Channel
from chatrk.ingest import receive
from chatrk.ingest.models import RawEvent
from chatrk.ingest.tests.conftest import make_channel, post, serve, url
from chatrk.whatsapp.signature import expected_signature

pytestmark = pytest.mark.django_db

BODY = {"object": "whatsapp_business_account", "entry": []}


def test_handshake_echoes_the_challenge_for_the_channels_verify_token() -> None:
    channel = make_channel()
    token = open_for_system(channel, "verify_token")
    query = urlencode({"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"})
    status, headers, content = serve(url(channel), method="GET", query=query)
    assert (status, content, headers["Content-Length"]) == (200, b"1158201444", "10")
    assert headers["Content-Type"].startswith("text/plain")  # echoed, never rendered as HTML
    assert headers["X-Content-Type-Options"] == "nosniff"
    wrong = urlencode({"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"})
    assert serve(url(channel), method="GET", query=wrong)[0] == 403
    assert serve("/webhooks/whatsapp/nope", method="GET", query="hub.mode=subscribe")[0] == 403


def test_django_serves_the_same_endpoint_for_its_test_client_and_live_servers() -> None:
    channel = make_channel()
    token = open_for_system(channel, "verify_token")
    params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"}
    handshake = Client().get(url(channel), params)
    assert (handshake.status_code, handshake.content) == (200, b"42")
    raw = b"{}"
    signature = {"X-Hub-Signature-256": expected_signature(b"app-secret", raw)}
    stored = Client().post(url(channel), raw, content_type="application/json", headers=signature)
    assert stored.status_code == 200
    assert Client().post(url(channel), raw + b" ", content_type="application/json").status_code == 401
    refused = Client().put(url(channel))
    assert (refused.status_code, refused["Allow"]) == (405, "GET, POST")
    assert RawEvent.objects.count() == 1


def test_a_signed_post_is_stored_encrypted_once() -> None:
    channel = make_channel()
    raw = json.dumps({**BODY, "secret": "Sheena Nelson"}).encode()
    assert post(channel, raw) == 200
    assert post(channel, raw) == 200  # Meta's redelivery: same bytes, no new row
    [event] = RawEvent.objects.all()
    assert open_for_system(event, "body") == raw
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM ingest_rawevent")
        assert b"Sheena" not in bytes(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)  # keys created in a rolled-back test transaction are never cached
def test_the_hot_path_is_one_insert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receive, "GROUP_COMMIT", False)
    channel = make_channel()
    post(channel, {**BODY, "n": 0})  # warms the channel cache and the workspace key
    with CaptureQueriesContext(connection) as queries:
        assert post(channel, {**BODY, "n": 1}) == 200
    statements = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len([sql for sql in statements if sql.startswith("INSERT")]) == 1
    assert not [sql for sql in statements if sql.startswith(("SELECT", "UPDATE", "DELETE"))]


@pytest.mark.parametrize(
    "header", [None, "", "sha256=" + "0" * 64, "sha1=abc", "sha256=zz", "sha256=" + "a" * 63]
)
def test_a_bad_signature_is_refused_and_nothing_stored(header: str | None) -> None:
    channel = make_channel()
    headers = {} if header is None else {"X-Hub-Signature-256": header}
    assert serve(url(channel), b"{}", headers=headers)[0] == 401
    assert not RawEvent.objects.exists()


def test_signed_with_another_channels_secret_is_refused() -> None:
    ours, theirs = make_channel("111"), make_channel("222", secret="their-secret")
    assert post(ours, BODY, secret="their-secret") == 401
    assert post(theirs, BODY) == 200
    assert RawEvent.objects.get().channel_id == theirs.pk


def test_unknown_webhook_key_is_refused() -> None:
    raw = b"{}"
    headers = {"X-Hub-Signature-256": expected_signature(b"app-secret", raw)}
    assert serve("/webhooks/whatsapp/unknown", raw, headers=headers)[0] == 401


def test_failures_are_counted_in_memory_and_audited_at_most_once_a_minute() -> None:
    channel = make_channel()
    for _ in range(50):
        assert post(channel, BODY, secret="forged") == 401
    assert receive.signature_failures()[channel.pk] == 50
    [event] = AuditEvent.objects.filter(action="webhook.signature_failed")
    assert event.target_id == str(channel.pk) and event.details == {"failures": 1, "unknown_key": False}


def test_a_rotated_app_secret_takes_effect_without_waiting_for_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel = make_channel()
    assert post(channel, BODY) == 200
    stored = Channel.objects.get(pk=channel.pk)
    stored.app_secret = "rotated"
    stored.save()
    monkeypatch.setattr(receive, "RELOAD_AFTER_SECONDS", 0.0)
    assert post(channel, {**BODY, "n": 2}, secret="rotated") == 200


def test_bodies_over_three_megabytes_are_refused() -> None:
    channel = make_channel()
    raw = b" " * (3 * 1024 * 1024 + 1)
    headers = {"X-Hub-Signature-256": expected_signature(b"app-secret", raw)}
    assert serve(url(channel), raw, headers=headers)[0] == 413
    # A length declared too large is refused before the body is read; an understated one still caps it.
    assert serve(url(channel), b"{}", headers=headers, content_length=str(len(raw)))[0] == 413
    assert serve(url(channel), raw, headers=headers, content_length="2")[0] == 413
    assert serve(url(channel), b"{}", headers=headers, content_length="-1")[0] == 413
    near = b"{}" + b" " * (2 * 1024 * 1024)  # over Django's 1 MB form limit, under Meta's 3 MB
    assert post(channel, near) == 200


def test_other_methods_are_not_allowed() -> None:
    channel = make_channel()
    for method in ("PUT", "DELETE", "HEAD", "PATCH"):
        status, headers, _ = serve(url(channel), method=method)
        assert (status, headers["Allow"]) == (405, "GET, POST")


@pytest.mark.django_db(transaction=True)
def test_group_commit_stores_every_concurrent_post_once_before_answering() -> None:
    import threading

    channel = make_channel()
    keys = receive.channel_keys(channel.webhook_key)
    assert keys is not None
    bodies = [json.dumps({**BODY, "n": n % 40}).encode() for n in range(80)]  # each body twice
    errors: list[BaseException] = []

    def send(chunk: list[bytes]) -> None:
        try:
            for raw in chunk:
                receive.store(keys, raw)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread's own connection

    threads = [threading.Thread(target=send, args=(bodies[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert RawEvent.objects.count() == 40


def _store_concurrently(keys: receive.ChannelKeys, bodies: list[bytes]) -> list[BaseException | None]:
    """Stores each body from its own thread; each thread's outcome, in order."""
    import threading

    outcomes: list[BaseException | None] = [None] * len(bodies)

    def send(index: int) -> None:
        try:
            receive.store(keys, bodies[index])
        except BaseException as exc:
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_rows_arriving_while_a_group_is_written_go_in_the_next_group_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    channel = make_channel()
    keys = receive.channel_keys(channel.webhook_key)
    assert keys is not None
    groups: list[int] = []
    first_group_started, let_it_finish = threading.Event(), threading.Event()
    insert = receive._insert

    def slow_first_insert(rows: list[Any]) -> None:
        groups.append(len(rows))
        if len(groups) == 1:
            first_group_started.set()
            let_it_finish.wait(10)
        insert(rows)

    monkeypatch.setattr(receive, "_insert", slow_first_insert)
    monkeypatch.setattr(receive._writer, "_writers", 1)
    first = [json.dumps({**BODY, "n": 0}).encode()]
    leader = threading.Thread(target=_store_concurrently, args=(keys, first))
    leader.start()
    assert first_group_started.wait(10)
    followers = threading.Thread(
        target=_store_concurrently, args=(keys, [json.dumps({**BODY, "n": n}).encode() for n in range(1, 5)])
    )
    followers.start()
    while len(receive._writer._pending) < 4:  # all four are waiting behind the group being written
        threading.Event().wait(0.01)
    let_it_finish.set()
    leader.join(10)
    followers.join(10)
    assert groups == [1, 4] and RawEvent.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_failed_group_fails_each_of_its_requests_and_the_next_request_still_stores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel = make_channel()
    keys = receive.channel_keys(channel.webhook_key)
    assert keys is not None
    insert = receive._insert
    calls: list[int] = []

    def fail_once(rows: list[Any]) -> None:
        calls.append(len(rows))
        if len(calls) == 1:
            raise OSError("disk full")
        insert(rows)

    monkeypatch.setattr(receive, "_insert", fail_once)
    with pytest.raises(OSError, match="disk full"):
        receive.store(keys, json.dumps({**BODY, "n": 0}).encode())
    assert not RawEvent.objects.exists()  # Meta gets a 500 and delivers again
    assert _store_concurrently(keys, [json.dumps({**BODY, "n": n}).encode() for n in range(3)]) == [None] * 3
    assert RawEvent.objects.count() == 3 and receive._writer._leading == 0


def test_a_group_padded_to_its_statement_shape_stores_each_row_once() -> None:
    assert [receive._shape(n) for n in (1, 2, 3, 4, 5, 300, 512)] == [1, 2, 4, 4, 8, 512, 512]
    channel = make_channel()
    keys = receive.channel_keys(channel.webhook_key)
    assert keys is not None
    receive._insert([receive._row(keys, json.dumps({**BODY, "n": n}).encode()) for n in range(5)])  # as 8
    assert RawEvent.objects.count() == 5
    assert len(set(RawEvent.objects.values_list("dedup_key", flat=True))) == 5


def test_a_lead_handed_to_a_row_the_other_writer_has_since_written_is_not_lost() -> None:
    """PostgreSQL's two writers: one hands the lead to a waiting row, the other writes that row before
    its request wakes. The request must still take the lead up (here: give it back, nothing waits),
    or each such race leaves one writer fewer until none is left and every webhook times out."""
    writer = receive.GroupWriter(writers=2)
    keys = receive.channel_keys(make_channel().webhook_key)
    assert keys is not None
    handed = receive._Slot(keys, b"{}")
    handed.leads, handed.written = True, True  # promoted, then written by the other writer
    handed.wake.set()
    writer._leading = 1  # the lead it was handed
    writer._until_written(handed)
    assert writer._leading == 0


def test_the_raw_event_insert_maintains_only_the_indexes_drainers_use() -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "ingest_rawevent")
    assert not [name for name, c in constraints.items() if c["foreign_key"]]
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"] or c["unique"]}
    indexed -= {tuple(c["columns"]) for c in constraints.values() if c["primary_key"]}
    assert indexed == {("channel_id", "dedup_key"), ("poisoned_at", "claimed_until", "id")}


def _next_id_taken(monkeypatch: pytest.MonkeyPatch, taken: int) -> None:
    """The next id drawn is one another process already used in the same millisecond."""
    draws = iter([taken])
    monkeypatch.setattr(receive, "new_id", lambda: next(draws, None) or new_id())


@pytest.mark.parametrize(
    "group_commit", [False, pytest.param(True, marks=pytest.mark.django_db(transaction=True))]
)
def test_an_id_another_process_took_is_sealed_again_under_a_new_one(
    monkeypatch: pytest.MonkeyPatch, group_commit: bool
) -> None:
    channel = make_channel()
    keys = receive.channel_keys(channel.webhook_key)
    assert keys is not None
    receive.store(keys, b'{"n": 1}')
    taken = RawEvent.objects.get().pk
    _next_id_taken(monkeypatch, taken)
    raw = json.dumps({**BODY, "n": 2}).encode()
    if group_commit:
        assert _store_concurrently(keys, [raw]) == [None]
    else:
        receive.store(keys, raw)
    stored = RawEvent.objects.exclude(pk=taken).get()
    assert open_for_system(stored, "body") == raw  # sealed for the id it was stored under
    assert RawEvent.objects.count() == 2
