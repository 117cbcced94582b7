"""Live events per workspace for the inbox: new messages, status changes, conversation updates.

``publish`` is called inside an action's transaction and sends after commit, so nobody hears of a
change that rolled back. Embedded, subscribers in this process are called; at scale (``REDIS_URL``)
events go through Redis pub/sub on the channel ``chatrk:ws:<workspace id>`` so every web machine
hears them. Events carry ids only, never message content.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.db import transaction

type Event = dict[str, Any]
type Listener = Callable[[Event], None]

_listeners: dict[int, list[Listener]] = defaultdict(list)
_lock = threading.Lock()


def channel_name(workspace_id: int) -> str:
    return f"chatrk:ws:{workspace_id}"


def publish(workspace_id: int, kind: str, **ids: int | str | None) -> None:
    event: Event = {"kind": kind, "workspace_id": workspace_id, **ids}
    transaction.on_commit(lambda: _deliver(workspace_id, event))


def publish_all(batch: list[Event]) -> None:
    """Several events (each with its ``workspace_id``) sent together after commit: one Redis round
    trip (a pipeline) for a drain batch's new messages instead of one per message."""
    if not batch:
        return
    sending = list(batch)
    transaction.on_commit(lambda: _deliver_all(sending))


def subscribe(workspace_id: int, listener: Listener) -> Callable[[], None]:
    """In-process subscription (embedded); returns the function that ends it."""
    with _lock:
        _listeners[workspace_id].append(listener)

    def unsubscribe() -> None:
        with _lock:
            _listeners[workspace_id].remove(listener)

    return unsubscribe


def _deliver(workspace_id: int, event: Event) -> None:
    if settings.REDIS_URL:
        _redis().publish(channel_name(workspace_id), json.dumps(event))
        return
    with _lock:
        listeners = list(_listeners[workspace_id])
    for listener in listeners:
        listener(event)


def _deliver_all(batch: list[Event]) -> None:
    if not settings.REDIS_URL:
        for event in batch:
            _deliver(event["workspace_id"], event)
        return
    pipeline = _redis().pipeline(transaction=False)
    for event in batch:
        pipeline.publish(channel_name(event["workspace_id"]), json.dumps(event))
    pipeline.execute()


@cache
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)
