"""The sender: claims due outbox rows, paces them, calls the Cloud API, records what happened.

Any number of senders may run, on any number of machines; they share the database (claims with
SKIP LOCKED on PostgreSQL) and the token buckets (database or Redis). One pass:

1. reap rows left ``sending`` by a dead worker (→ failed, "outcome unknown", never re-sent);
2. lease a batch of due rows;
3. check consent again for the batch (a STOP since the row was queued wins), then prepare each row
   (recipient, payload; upload media to /media and put its id in the payload);
4. in rounds, per number: take throughput tokens for the rows, and pair tokens per customer, in one
   call each (a round late on a loaded machine catches up on the tokens owed since the last);
   rows without tokens wait for the bucket, or go back due when it refills;
5. commit ``sending`` for the rows about to go, then make the calls concurrently;
6. write every outcome in one transaction: sent (wamid), back to queued with a back-off, or failed.

Stopping: :meth:`Sender.stop` (SIGTERM/SIGINT in ``chatrk send``) ends the loop after the current
pass. Database outages (a PostgreSQL restart) are waited out; answers already received from WhatsApp
are kept in memory and written once the database is back.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import httpx
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection

from chatrk.crypto.fields import open_for_system, preload_keys
from chatrk.inbox.blocking import BLOCKED_BEFORE_SENDING
from chatrk.inbox.models import Channel, Contact, Media, Message
from chatrk.outbound import actions, buckets
from chatrk.outbound import media as media_files
from chatrk.outbound.client import client_for
from chatrk.outbound.models import OutboxItem
from chatrk.whatsapp.client import GraphClient
from chatrk.whatsapp.errors import FailureKind, GraphError, RetryClass
from chatrk.whatsapp.messages import OutboundMessage

logger = logging.getLogger(__name__)

# Seconds after a number's last short take during which this sender may catch up on its tokens: a
# pass's rounds, and the next pass's first round (rows given back are due when the bucket refills).
CATCH_UP_WITHIN = 1.0
THROUGHPUT_CODES = {130429}
PAIR_CODES = {131056}
# The request provably never reached WhatsApp: safe to send again.
_NOT_SENT = (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ConnectError, httpx.LocalProtocolError)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A ready Cloud API payload (``payload()`` is all the client reads from a message)."""

    body: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return self.body


@dataclass(slots=True)
class _Job:
    item: OutboxItem
    to: str
    message: _Prepared
    reply_to: str | None


@dataclass(slots=True)
class PassResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    reaped: int = 0
    deferred: int = 0
    throttled: int = 0  # answers 130429: too fast for the number
    pair_limited: int = 0  # answers 131056: too fast for one customer
    wait: float = 0.0  # seconds from pacing until deferred rows are due (0: nothing deferred)
    paced_at: float = 0.0  # time.monotonic() when the wait was computed


def worker_name() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _ambiguous(error: GraphError) -> bool:
    """True when WhatsApp may have accepted the message although we have no answer saying so."""
    if error.kind is FailureKind.MALFORMED:
        return True
    if error.kind in {FailureKind.TIMEOUT, FailureKind.TRANSPORT}:
        return not isinstance(error.__context__, _NOT_SENT)
    return False


def classify(item: OutboxItem, error: GraphError) -> actions.Failed:
    """What the sender does with a failed call: back off, fail at once, or stop the number."""
    if _ambiguous(error):
        return actions.Failed(item.pk, error, actions.OUTCOME_UNKNOWN)
    code = error.code
    if error.retry_class is RetryClass.RETRY_BACKOFF:
        return actions.Failed(
            item.pk,
            error,
            error.reason,
            code=code,
            title=error.title,
            retry_in=actions.backoff(item.tries + 1, code=code),
        )
    return actions.Failed(item.pk, error, error.reason, code=code, title=error.title)


@dataclass
class Sender:
    batch: int = 200
    concurrency: int = 32
    lease: timedelta = timedelta(seconds=120)
    store: buckets.BucketStore = field(default_factory=buckets.default_store)
    transport: httpx.BaseTransport | None = None
    worker: str = field(default_factory=worker_name)
    idle_sleep: float = 0.5
    _stop: threading.Event = field(default_factory=threading.Event)
    # Per channel, one client per call slot (a pool thread): httpx's pool looks at each of its
    # connections for every request, so one shared client with 32 connections costs 32 polls a call.
    _clients: dict[int, list[GraphClient]] = field(default_factory=dict)
    _slot: threading.local = field(default_factory=threading.local)
    _slot_numbers: Iterator[int] = field(default_factory=itertools.count)
    _pool: ThreadPoolExecutor | None = None
    _pending: list[actions.Outcome_] = field(default_factory=list)  # answers not yet written
    _lost_claims: bool = False
    # Seconds a pass keeps rows over the number's rate, sending them as the bucket refills, before it
    # gives the rest back: re-claiming every fifth of a second would cost more writes than the sends.
    pace_for: float = 1.0
    error_pause: float = 5.0  # seconds to wait after a pass failed unexpectedly
    reap_every: float = 2.0  # seconds between looks for rows a dead worker left behind
    _next_reap: float = 0.0
    _short_at: dict[int, float] = field(default_factory=dict)  # number → when its last take fell short
    totals: PassResult = field(default_factory=lambda: PassResult())

    # -- lifecycle --

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        for clients in self._clients.values():
            for client in clients:
                client.close()
        self._clients.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Passes until stopped (or ``until()`` is true); sleeps when there is nothing due."""
        try:
            while not self.stopping and not (until and until()):
                try:
                    result = self.run_once()
                except (OperationalError, InterfaceError) as error:
                    logger.warning("sender: database unavailable (%s); waiting", type(error).__name__)
                    self._reset_connection()
                    self._lost_claims = True
                    self._stop.wait(1.0)
                    continue
                except Exception as error:  # a sender must outlive one bad pass; its rows stay safe
                    logger.error("sender: pass failed (%s)", type(error).__name__)  # no traceback: no data
                    self._lost_claims = True
                    self._stop.wait(self.error_pause)
                    continue
                if result.claimed == 0:
                    self._stop.wait(self.idle_sleep)
                elif result.wait > 0:  # until the deferred rows are due, counted from when they were paced
                    self._stop.wait(max(0.0, result.paced_at + min(result.wait, 1.0) - time.monotonic()))
        finally:
            self._flush_pending(final=True)
            self.close()

    @staticmethod
    def _reset_connection() -> None:
        with contextlib.suppress(DatabaseError):
            connection.close()
        close_old_connections()

    # -- one pass --

    def run_once(self) -> PassResult:
        result = PassResult()
        self._flush_pending()
        if self._lost_claims:  # leases taken before a database outage: give them back now
            actions.release_claims(self.worker)
            self._lost_claims = False
        if time.monotonic() >= self._next_reap:
            result.reaped = actions.reap_expired()
            self._next_reap = time.monotonic() + self.reap_every
        items = actions.claim_due(self.worker, limit=self.batch, lease=self.lease)
        result.claimed = len(items)
        if not items:
            self._count(result, [])
            return result
        outcomes: list[actions.Outcome_] = []
        try:
            self._send_paced(items, outcomes, result)
        finally:  # the answers of earlier rounds count even if a later one failed
            self._count(result, outcomes)
        return result

    def _send_paced(
        self, items: list[OutboxItem], outcomes: list[actions.Outcome_], result: PassResult
    ) -> None:
        """Prepares the pass's rows once, then rounds of pace-and-send until every row went, or was given
        back (steps 3 to 6). Preparing first leaves only ``sending`` between a round's tokens and its
        calls, so the calls reach WhatsApp as evenly spaced as the tokens were taken."""
        by_id = {item.pk: item for item in items}
        jobs, failures = self._prepare(items)
        job_of = {job.item.pk: job for job in jobs}
        waiting = [job.item for job in jobs]
        give_back_at = time.monotonic() + self.pace_for
        stopped: set[int] = set()  # numbers WhatsApp refused to serve (190): nothing more for them here
        if failures:
            outcomes.extend(self._send([], by_id, stopped, failures))
        while waiting:
            ready, deferred = self._pace_all(waiting)
            paced_at = time.monotonic()
            outcomes.extend(self._send([job_of[item.pk] for item in ready], by_id, stopped))
            soon, later = self._split(deferred, paced_at, give_back_at, stopped)
            self._give_back(later, paced_at, result)
            waiting = [item for rows, _ in soon for item in rows]
            # Wait for the bucket while holding the leases: cheaper than giving back and re-claiming.
            if waiting:
                self._stop.wait(max(0.0, paced_at + min(wait for _, wait in soon) - time.monotonic()))

    def _pace_all(
        self, items: list[OutboxItem]
    ) -> tuple[list[OutboxItem], list[tuple[list[OutboxItem], float]]]:
        """(rows with tokens, [(rows without, seconds until their tokens)] per number). A number this
        sender has been waiting for (its last take, in this pass or the one before, got fewer tokens
        than it wanted, less than ``CATCH_UP_WITHIN`` ago) may catch up on the tokens owed since."""
        by_channel: dict[int, list[OutboxItem]] = defaultdict(list)
        for item in items:
            by_channel[item.channel_id].append(item)
        ready: list[OutboxItem] = []
        deferred: list[tuple[list[OutboxItem], float]] = []
        for channel_id, group in by_channel.items():
            short_at = self._short_at.pop(channel_id, None)
            catch_up = short_at is not None and time.monotonic() - short_at <= CATCH_UP_WITHIN
            granted, over, wait = self._pace(group, catch_up=catch_up)
            ready.extend(granted)
            if over:
                deferred.append((over, wait))
                self._short_at[channel_id] = time.monotonic()
        return ready, deferred

    def _split(
        self,
        deferred: list[tuple[list[OutboxItem], float]],
        paced_at: float,
        give_back_at: float,
        stopped: set[int],
    ) -> tuple[list[tuple[list[OutboxItem], float]], list[tuple[list[OutboxItem], float]]]:
        """(groups whose tokens come within this pass, the others); all are given back when stopping,
        and a stopped number's rows at once (they wait in the outbox for its re-authorisation)."""
        soon: list[tuple[list[OutboxItem], float]] = []
        later: list[tuple[list[OutboxItem], float]] = []
        for group in deferred:
            fits = not self.stopping and paced_at + group[1] <= give_back_at
            fits = fits and group[0][0].channel_id not in stopped
            (soon if fits else later).append(group)
        return soon, later

    def _give_back(
        self, deferred: list[tuple[list[OutboxItem], float]], paced_at: float, result: PassResult
    ) -> None:
        """Rows whose tokens come later than this pass may wait: due again when they come."""
        for rows, wait in deferred:
            actions.release(self.worker, [i.pk for i in rows], due_in=timedelta(seconds=wait))
            result.deferred += len(rows)
            result.wait = max(result.wait, min(wait, 1.0))
            result.paced_at = result.paced_at or paced_at

    def _send(
        self,
        jobs: list[_Job],
        by_id: dict[int, OutboxItem],
        stopped: set[int],
        failures: list[actions.Outcome_] | None = None,
    ) -> list[actions.Outcome_]:
        """Commits ``sending``, calls WhatsApp, writes the answers (kept in memory if the database fails)
        with ``failures`` (rows that could not be prepared). Adds to ``stopped`` the numbers that need
        re-authorisation now."""
        outcomes = list(failures or [])
        if jobs:
            ids = actions.mark_sending(self.worker, [job.item.pk for job in jobs], lease=self.lease)
            outcomes.extend(self._call_all([job for job in jobs if job.item.pk in ids]))
        self._pending.extend(outcomes)  # from here on, the answers survive a failure of what follows
        stopped.update(self._penalise(outcomes, by_id))
        self._flush_pending()
        return outcomes

    def _count(self, result: PassResult, outcomes: list[actions.Outcome_]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, actions.Sent):
                result.sent += 1
            elif outcome.retry_in is not None:
                result.retried += 1
            else:
                result.failed += 1
        codes = [o.code for o in outcomes if isinstance(o, actions.Failed)]
        result.throttled = sum(1 for code in codes if code in THROUGHPUT_CODES)
        result.pair_limited = sum(1 for code in codes if code in PAIR_CODES)
        for name in (
            "claimed",
            "sent",
            "retried",
            "failed",
            "reaped",
            "deferred",
            "throttled",
            "pair_limited",
        ):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(result, name))

    def _pace(
        self, group: list[OutboxItem], *, catch_up: bool = False
    ) -> tuple[list[OutboxItem], list[OutboxItem], float]:
        """Tokens for a channel's rows: the number's throughput first, then each customer's pair bucket.
        ``catch_up``: this sender took the number's last tokens and has waited since, so the bucket may
        hand over what refilled meanwhile beyond its burst (a late round), up to ``catch_up_capacity``."""
        channel = group[0].channel
        rate = buckets.throughput_of(channel.throughput_level)
        burst = buckets.throughput_burst(rate)
        capacity = buckets.catch_up_capacity(rate) if catch_up else burst
        tp_key = buckets.throughput_key(channel.pk)
        grant = self.store.take(tp_key, rate=rate, burst=capacity, want=len(group))
        allowed, deferred = group[: grant.granted], group[grant.granted :]
        # Rows over the number's rate are offered again when half the bucket has refilled: before it is
        # full (tokens over its capacity are lost, and the sustained rate with them), and not at every
        # token (each round costs a few writes).
        wait = max(grant.wait, min(len(deferred), burst / 2) / rate) if deferred else 0.0
        per_contact: dict[int, list[OutboxItem]] = defaultdict(list)
        for item in allowed:
            per_contact[item.recipient_id].append(item)
        granted: list[OutboxItem] = []
        if not per_contact:
            return granted, deferred, wait
        pairs = self.store.take_many(
            [
                (buckets.pair_key(channel.pk, contact_id), len(rows))
                for contact_id, rows in per_contact.items()
            ],
            rate=buckets.PAIR_RATE,
            burst=buckets.PAIR_BURST,
        )
        for rows, pair in zip(per_contact.values(), pairs, strict=True):
            granted.extend(rows[: pair.granted])
            if pair.granted < len(rows):
                deferred.extend(rows[pair.granted :])
                wait = max(wait, pair.wait)
        unused = len(allowed) - len(granted)
        if unused:
            self.store.give_back(tp_key, count=unused, burst=capacity)
        return granted, deferred, wait

    def _prepare(self, items: list[OutboxItem]) -> tuple[list[_Job], list[actions.Outcome_]]:
        """Recipient and payload per row; media is uploaded here (a repeated upload harms nothing)."""
        if not items:
            return [], []
        messages = {m.pk: m for m in Message.objects.filter(pk__in=[i.message_id for i in items])}
        contacts = {c.pk: c for c in Contact.objects.filter(pk__in=[i.recipient_id for i in items])}
        preload_keys(list(messages.values()), ["payload"])  # one query for every customer's key
        preload_keys(list(contacts.values()), ["wa_id"])
        jobs: list[_Job] = []
        failures: list[actions.Outcome_] = []
        numbers: dict[int, str] = {}  # each customer's number, decrypted once per pass
        refused = actions.consent_refusals(items)
        for item in items:
            if item.pk in refused:
                reason, unreadable = refused[item.pk]
                retry_in = actions.backoff(item.tries + 1) if unreadable else None
                failures.append(actions.Failed(item.pk, None, reason, retry_in=retry_in))
                continue
            message = messages[item.message_id]
            if contacts[item.recipient_id].blocked_at is not None:  # blocked after it was queued
                failures.append(actions.Failed(item.pk, None, BLOCKED_BEFORE_SENDING))
                continue
            try:
                body = dict(open_for_system(message, "payload"))
                if item.media_id is not None:
                    body = self._with_uploaded_media(item, body)
                to = numbers.get(item.recipient_id) or str(
                    open_for_system(contacts[item.recipient_id], "wa_id")
                )
                numbers[item.recipient_id] = to
            except GraphError as error:
                failures.append(self._media_failure(item, error))
                continue
            except Exception as error:
                logger.warning("sender: outbox %s could not be prepared (%s)", item.pk, type(error).__name__)
                failures.append(
                    actions.Failed(item.pk, None, "The message could not be prepared for sending.")
                )
                continue
            jobs.append(_Job(item, to, _Prepared(body), message.reply_to_wamid or None))
        if failures:  # they never reached "sending": move them there so the outcome can be written
            actions.mark_sending(self.worker, [f.item_id for f in failures], lease=self.lease)
        return jobs, failures

    def _media_failure(self, item: OutboxItem, error: GraphError) -> actions.Failed:
        if error.kind is FailureKind.MALFORMED or error.kind is FailureKind.TIMEOUT:
            # An upload is not a send: retrying it cannot duplicate a message.
            return actions.Failed(item.pk, error, error.reason, retry_in=actions.backoff(item.tries + 1))
        return classify(item, error)

    def _with_uploaded_media(self, item: OutboxItem, body: dict[str, Any]) -> dict[str, Any]:
        assert item.media_id is not None
        media = Media.objects.get(pk=item.media_id)
        kind = str(body["type"])
        if not media.meta_media_id:
            content = media_files.load(media)
            filename = open_for_system(media, "filename") or f"file.{media.mime_type.split('/')[-1]}"
            media_id = self._clients_for(item.channel)[0].upload_media(
                item.channel.phone_number_id, content, media.mime_type, filename
            )
            Media.objects.filter(pk=media.pk).update(meta_media_id=media_id)
            media.meta_media_id = media_id
        if kind == "template":
            return _with_header_media(body, media.meta_media_id)
        inner = dict(body[kind])
        inner["id"] = media.meta_media_id
        inner.pop("link", None)
        return {**body, kind: inner}

    def _clients_for(self, channel: Channel) -> list[GraphClient]:
        clients = self._clients.get(channel.pk)
        if clients is None:
            clients = [client_for(channel, transport=self.transport) for _ in range(max(1, self.concurrency))]
            self._clients[channel.pk] = clients
        return clients

    def _slot_client(self, channel_id: int) -> GraphClient:
        """This thread's own client for the channel (each pool thread keeps its slot for life)."""
        slot = getattr(self._slot, "number", None)
        if slot is None:
            slot = self._slot.number = next(self._slot_numbers)
        clients = self._clients[channel_id]
        return clients[slot % len(clients)]

    def _call_all(self, jobs: list[_Job]) -> list[actions.Outcome_]:
        if not jobs:
            return []
        for job in jobs:
            self._clients_for(job.item.channel)  # built here: the pool threads never touch the database
        if len(jobs) == 1 or self.concurrency <= 1:
            return [self._call(job) for job in jobs]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="chatrk-send")
        return list(self._pool.map(self._call, jobs))

    def _call(self, job: _Job) -> actions.Outcome_:
        item = job.item
        client = self._slot_client(item.channel_id)
        try:
            sent = client.send(
                item.channel.phone_number_id,
                job.to,
                cast(OutboundMessage, job.message),
                reply_to=job.reply_to,
                callback_data=f"ob:{item.pk}",
            )
        except GraphError as error:
            return classify(item, error)
        except Exception as error:
            logger.warning("sender: outbox %s send raised %s", item.pk, type(error).__name__)
            return actions.Failed(item.pk, None, actions.OUTCOME_UNKNOWN)
        return actions.Sent(item.pk, sent.wamid)

    def _penalise(self, outcomes: list[actions.Outcome_], items: dict[int, OutboxItem]) -> set[int]:
        """Meta said "too fast": empty the number's (130429) or the pair's (131056) bucket for a while.
        Returns the numbers that need re-authorisation (190 and the like)."""
        reauthorise: set[int] = set()
        for outcome in outcomes:
            if not isinstance(outcome, actions.Failed) or outcome.error is None:
                continue
            item = items[outcome.item_id]
            if outcome.code in THROUGHPUT_CODES:
                rate = buckets.throughput_of(item.channel.throughput_level)
                self.store.block(
                    buckets.throughput_key(item.channel_id),
                    seconds=1.0,
                    rate=rate,
                    burst=buckets.throughput_burst(rate),
                )
            elif outcome.code in PAIR_CODES:
                self.store.block(
                    buckets.pair_key(item.channel_id, item.recipient_id),
                    seconds=6.0,
                    rate=buckets.PAIR_RATE,
                    burst=buckets.PAIR_BURST,
                )
            if outcome.error.retry_class is RetryClass.REAUTHORISE:
                reauthorise.add(item.channel_id)
        for channel_id in reauthorise:
            actions.needs_reauthorisation(channel_id)
            for client in self._clients.pop(channel_id, []):
                client.close()
        return reauthorise

    def _flush_pending(self, *, final: bool = False) -> None:
        """Writes answers held in memory; a database outage keeps them for the next try."""
        if not self._pending:
            return
        deadline = time.monotonic() + (30.0 if final else 0.0)
        while True:
            try:
                actions.record_outcomes(self.worker, self._pending)
                self._pending = []
                return
            except (OperationalError, InterfaceError):
                self._reset_connection()
                if time.monotonic() >= deadline:
                    if final:
                        logger.error("sender: %d answers could not be recorded", len(self._pending))
                    raise
                time.sleep(0.5)


def _with_header_media(body: dict[str, Any], media_id: str) -> dict[str, Any]:
    """A template's image, video or document header, named by the id /media gave its file."""
    template = dict(body["template"])
    components = []
    for component in template.get("components", []):
        if component.get("type") == "header":
            parameters = []
            for parameter in component.get("parameters", []):
                kind = parameter.get("type")
                if kind in {"image", "video", "document"}:
                    parameter = {**parameter, kind: {**parameter[kind], "id": media_id}}
                parameters.append(parameter)
            component = {**component, "parameters": parameters}
        components.append(component)
    template["components"] = components
    return {**body, "template": template}
