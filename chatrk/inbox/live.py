"""The consumer side of live events: what changed in a workspace since a cursor, for the web inbox.

A poll compares the workspace's newest message and newest status change with the cursor it was given:
that works whatever process made the change (the worker's drainer, another web machine), with or
without Redis, and answers "nothing changed" with two index look-ups. A caller may also wait: it then
listens to ``chatrk.inbox.events`` (in-process embedded, Redis pub/sub at scale) and re-checks the
database at least once a second, so changes made in other processes are never missed for long.

Events name ids only, never content; the inbox fetches what it shows through audited reads.
"""

from __future__ import annotations

import base64
import binascii
import json
import queue
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Max

from chatrk.inbox.events import Event, channel_name, subscribe
from chatrk.inbox.models import Message

MAX_EVENTS = 100
RECHECK_SECONDS = 1.0

type Wait = Callable[[float], list[Event]]


class BadCursor(ValueError):
    """A cursor this server did not hand out."""


@dataclass(frozen=True, slots=True)
class Mark:
    """How far a client has seen: the newest message id and the newest status time."""

    message_id: int = 0
    status_at: datetime | None = None

    def encode(self) -> str:
        raw = f"{self.message_id}|{self.status_at.isoformat() if self.status_at else ''}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Mark:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            message_id, _, status_at = raw.partition("|")
            mark = cls(int(message_id), datetime.fromisoformat(status_at) if status_at else None)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadCursor("not a cursor from this server") from None
        if not 0 <= mark.message_id < 2**63 or (mark.status_at is not None and mark.status_at.tzinfo is None):
            raise BadCursor("not a cursor from this server")
        return mark


def current_mark(workspace_id: int, conversation_id: int | None = None) -> Mark:
    """The workspace's mark, or one conversation's (an open thread only cares about its own rows)."""
    rows = Message.objects.for_workspace(workspace_id)
    if conversation_id is not None:
        rows = rows.filter(conversation_id=conversation_id)
    # Two single-aggregate queries, not one: each is then answered from the end of an index
    # (``message_live_*``) instead of by reading every message of the workspace.
    newest_id = rows.aggregate(found=Max("pk"))["found"]
    newest_status = rows.aggregate(found=Max("status_at"))["found"]
    return Mark(newest_id or 0, newest_status)


def changes_since(workspace_id: int, seen: Mark) -> tuple[Mark, list[Event]]:
    """The new mark and the events between ``seen`` and now (at most ``MAX_EVENTS``, oldest first)."""
    now_mark = current_mark(workspace_id)
    if now_mark == seen:
        return seen, []
    rows = Message.objects.for_workspace(workspace_id)
    found: list[Event] = []
    for row in (
        rows.filter(pk__gt=seen.message_id).order_by("pk").values("pk", "conversation_id")[:MAX_EVENTS]
    ):
        found.append(_event("message.new", row))
    if seen.status_at is not None:
        changed = rows.filter(status_at__gt=seen.status_at, pk__lte=seen.message_id)
    else:  # no status had been recorded when the cursor was made: every one since is new
        changed = rows.filter(status_at__isnull=False, pk__lte=seen.message_id)
    for row in changed.order_by("status_at").values("pk", "conversation_id", "status")[:MAX_EVENTS]:
        found.append(_event("message.status", row))
    if len(found) > MAX_EVENTS:  # too much to list: the inbox reloads instead
        return now_mark, [{"kind": "reload"}]
    return now_mark, found


def _event(kind: str, row: Mapping[str, Any]) -> Event:
    event: Event = {
        "kind": kind,
        "conversation_id": str(row["conversation_id"]),
        "message_id": str(row["pk"]),
    }
    if "status" in row:
        event["status"] = row["status"]
    return event


def poll(workspace_id: int, seen: Mark, *, wait: float = 0.0) -> tuple[Mark, list[Event]]:
    """Changes since ``seen``; if none and ``wait`` > 0, waits up to that many seconds for one."""
    mark, found = changes_since(workspace_id, seen)
    if found or wait <= 0:
        return mark, found
    with listening(workspace_id) as heard:
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            published = heard(min(RECHECK_SECONDS, remaining))
            mark, found = changes_since(workspace_id, seen)
            extra = [_public(e) for e in published if not str(e.get("kind", "")).startswith("message.")]
            if found or extra:
                return mark, found + extra
    return mark, []


def _public(event: Event) -> Event:
    """Ids as strings (JavaScript rounds 63-bit numbers); the workspace is implied by the URL."""
    return {k: (str(v) if isinstance(v, int) else v) for k, v in event.items() if k != "workspace_id"}


@contextmanager
def listening(workspace_id: int) -> Iterator[Wait]:
    """Subscribes before the caller checks the database, so nothing published in between is lost."""
    if settings.REDIS_URL:
        with _redis_listener(workspace_id) as heard:
            yield heard
        return
    inbox: queue.Queue[Event] = queue.Queue()
    stop = subscribe(workspace_id, inbox.put)

    def wait(seconds: float) -> list[Event]:
        try:
            first = inbox.get(timeout=seconds)
        except queue.Empty:
            return []
        found = [first]
        while not inbox.empty():
            found.append(inbox.get_nowait())
        return found

    try:
        yield wait
    finally:
        stop()


@contextmanager
def _redis_listener(workspace_id: int) -> Iterator[Wait]:
    import redis

    client: Any = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel_name(workspace_id))

    def wait(seconds: float) -> list[Event]:
        found: list[Event] = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            message = pubsub.get_message(timeout=remaining)
            if message is None:
                continue
            try:
                event = json.loads(message["data"])
            except (TypeError, ValueError):
                continue
            if isinstance(event, dict):
                found.append(event)
                break
        return found

    try:
        yield wait
    finally:
        pubsub.close()
        client.close()
