"""Webhook delivery: batching, signing, verification handshake, redelivery with backoff (REFERENCE §3)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import OrderedDict
from typing import Any

import httpx

from emulator import payloads
from emulator.core import REDELIVERY_DELAYS, Delivery, Emulator, PendingUpdate
from emulator.faults import FaultKind
from emulator.http import compact_json
from emulator.rawhttp import RawHTTPClient, RawHTTPError
from emulator.schema import webhook_errors
from emulator.signing import signature

HISTORY_LIMIT = 50_000
IDLE_TICK = 0.05  # wall seconds between looks at the schedule when nothing woke the pump
MIN_TICK = 0.01  # never spin: updates due together in this span share POSTs, as Meta's batching does


GroupKey = tuple[str, str, str | None, str | None, bool]


def _group_key(update: PendingUpdate) -> GroupKey:
    # Updates without a contact (number changes) never share a POST with ones that have contacts.
    return (update.waba_id, update.field, update.phone_number_id, update.key, update.contact is None)


def build_deliveries(emulator: Emulator) -> list[Delivery]:
    """Turn queued updates into signed POST bodies; several updates of one number share a POST."""
    with emulator.lock:
        updates, emulator.outbox = emulator.outbox, []
        groups: OrderedDict[GroupKey, list[PendingUpdate]] = OrderedDict()
        for update in updates:
            groups.setdefault(_group_key(update), []).append(update)
        created: list[Delivery] = []
        batch = max(1, emulator.behaviour.webhook_batch_max)
        for (waba_id, field, phone_id, key, _), items in groups.items():
            if key is None:
                for update in items:
                    body = payloads.envelope(waba_id, field, update.item, time=int(emulator.clock.now()))
                    created.extend(_new_deliveries(emulator, waba_id, body, 1))
                continue
            for start in range(0, len(items), batch):
                chunk = items[start : start + batch]
                created.extend(
                    _new_deliveries(
                        emulator,
                        waba_id,
                        _messages_body(emulator, waba_id, field, phone_id, key, chunk),
                        len(chunk),
                    )
                )
        return created


def _messages_body(
    emulator: Emulator, waba_id: str, field: str, phone_id: str | None, key: str, chunk: list[PendingUpdate]
) -> dict[str, Any]:
    by_wa_id: dict[str, dict[str, Any]] = {}
    for update in chunk:
        if update.contact is not None:
            by_wa_id.setdefault(update.contact["wa_id"], update.contact)
    contacts = list(by_wa_id.values())
    meta = emulator.phone_metadata(phone_id) if phone_id else {}
    value = payloads.messages_value(meta, key, [u.item for u in chunk], contacts)
    return payloads.envelope(waba_id, field, value)


def _new_deliveries(emulator: Emulator, waba_id: str, body: dict[str, Any], count: int) -> list[Delivery]:
    account = emulator.accounts[waba_id]
    if not account.callback_url:
        return []
    fault = emulator.faults.pick("webhook")
    delay = 0.0
    secret = account.app_secret
    if fault is not None and fault.kind is FaultKind.OUT_OF_ORDER:
        _reverse_items(body)
        delay = max(fault.delay, 2.0)  # held back so later updates overtake it
    elif fault is not None and fault.kind is FaultKind.WRONG_SIGNATURE:
        secret = "not-the-app-secret-" + secrets.token_hex(4)
    elif fault is not None and fault.kind is FaultKind.SLOW:
        delay = fault.delay
    # Off by default (it costs CPU per POST); tests and `emit` users can turn it on to catch bad shapes.
    problems = webhook_errors(body) if emulator.behaviour.validate_outgoing_webhooks else []
    raw = compact_json(body)
    now = emulator.clock.now()
    copies = 2 if fault is not None and fault.kind is FaultKind.DUPLICATE else 1
    made = []
    for copy in range(copies):
        delivery = Delivery(
            id=next(emulator.delivery_ids),
            waba_id=waba_id,
            url=account.callback_url,
            body=raw,
            signature=signature(secret, raw),
            updates=count,
            created_at=now,
            next_attempt_at=now + delay,
            duplicate=copy > 0,
            schema_errors=problems,
        )
        _remember(emulator, delivery)
        made.append(delivery)
    return made


def _reverse_items(body: dict[str, Any]) -> None:
    value = body["entry"][0]["changes"][0]["value"]
    for key in ("statuses", "messages"):
        if isinstance(value.get(key), list):
            value[key].reverse()


def _remember(emulator: Emulator, delivery: Delivery) -> None:
    emulator.deliveries[delivery.id] = delivery
    emulator.pending_deliveries[delivery.id] = delivery
    while len(emulator.deliveries) > HISTORY_LIMIT:
        oldest = next(iter(emulator.deliveries))
        if oldest in emulator.pending_deliveries:
            break
        del emulator.deliveries[oldest]


class DeliveryFailed(Exception):
    pass


class DeliveryPump:
    """Runs on the emulator's event loop; POSTs due deliveries and schedules retries."""

    def __init__(
        self, emulator: Emulator, transport: httpx.AsyncBaseTransport | None = None, concurrency: int = 32
    ) -> None:
        self.emulator = emulator
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._semaphore = asyncio.Semaphore(concurrency)
        self._event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        self._raw = RawHTTPClient(emulator.behaviour.webhook_timeout)
        self._verify_locks: dict[str, asyncio.Lock] = {}
        emulator.wake = self.wake

    def wake(self) -> None:
        if not self._event.is_set():
            self._loop.call_soon_threadsafe(self._event.set)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                timeout=self.emulator.behaviour.webhook_timeout,
                follow_redirects=False,
            )
        return self._client

    async def close(self) -> None:
        self._stopped = True
        self._event.set()
        if self._client is not None:
            await self._client.aclose()
        await self._raw.aclose()

    async def run(self) -> None:
        while not self._stopped:
            await self.step()
            self._event.clear()
            wait = IDLE_TICK
            due = self.emulator.next_due()
            if due is not None:
                wait = max(MIN_TICK, min(wait, self.emulator.clock.wall_seconds_until(due)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout=wait)

    async def step(self) -> int:
        """Run due actions, then attempt every due delivery once; returns deliveries attempted."""
        self.emulator.run_due()
        build_deliveries(self.emulator)
        now = self.emulator.clock.now()
        due = [
            d
            for d in list(self.emulator.pending_deliveries.values())
            if d.state == "pending" and d.next_attempt_at <= now
        ]
        for delivery in due:
            delivery.state = "in_flight"
        if due:
            await asyncio.gather(*(self._attempt(d) for d in due))
        return len(due)

    async def settle(self, rounds: int = 50) -> None:
        """Deliver everything due now (used by tests after moving the clock)."""
        for _ in range(rounds):
            attempted = await self.step()
            if not attempted and not self.emulator.outbox:
                due = self.emulator.next_due()
                if due is None or due > self.emulator.clock.now():
                    return

    async def _call(
        self,
        method: str,
        url: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """One HTTP exchange; raises `DeliveryFailed` for network errors and timeouts."""
        if self._transport is None and url.startswith("http://"):
            try:
                raw = await self._raw.request(method, url, body, headers, params)
            except RawHTTPError as error:
                raise DeliveryFailed(str(error)) from error
            return raw.status_code, raw.text
        try:
            response = await self.client.request(
                method, url, content=body or None, headers=headers, params=params
            )
        except httpx.HTTPError as error:
            raise DeliveryFailed(type(error).__name__) from error
        return response.status_code, response.text

    async def _attempt(self, delivery: Delivery) -> None:
        async with self._semaphore:
            if not await self._ensure_verified(delivery.waba_id):
                self._failed(delivery, {"error": "verification handshake failed"})
                return
            started = self.emulator.clock.now()
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": delivery.signature,
                "User-Agent": "facebookexternalua",
            }
            try:
                status, _ = await self._call("POST", delivery.url, delivery.body, headers)
            except DeliveryFailed as error:
                self._failed(delivery, {"at": started, "error": str(error)})
                return
            record = {"at": started, "status": status}
            if status == 200:
                delivery.attempts.append(record)
                delivery.state = "delivered"
                self.emulator.pending_deliveries.pop(delivery.id, None)
            else:
                self._failed(delivery, record)

    def _failed(self, delivery: Delivery, record: dict[str, Any]) -> None:
        emulator = self.emulator
        record.setdefault("at", emulator.clock.now())
        delivery.attempts.append(record)
        delay = REDELIVERY_DELAYS[min(len(delivery.attempts) - 1, len(REDELIVERY_DELAYS) - 1)]
        next_at = emulator.clock.now() + delay
        if next_at - delivery.created_at > emulator.behaviour.redelivery_window:
            delivery.state = "dropped"
            emulator.pending_deliveries.pop(delivery.id, None)
            return
        delivery.state = "pending"
        delivery.next_attempt_at = next_at

    async def _ensure_verified(self, waba_id: str) -> bool:
        """Meta's GET handshake (hub.mode/hub.verify_token/hub.challenge) before the first delivery."""
        emulator = self.emulator
        if not emulator.behaviour.verify_webhook_before_delivery:
            return True
        async with self._verify_locks.setdefault(waba_id, asyncio.Lock()):
            known = emulator.verified.get(waba_id)
            if known is not None and known["ok"]:
                return True
            account = emulator.accounts[waba_id]
            challenge = str(secrets.randbelow(10**9))
            params = {
                "hub.mode": "subscribe",
                "hub.challenge": challenge,
                "hub.verify_token": account.verify_token,
            }
            status: int | str
            try:
                code, text = await self._call("GET", account.callback_url or "", params=params)
                ok, status = code == 200 and text == challenge, code
            except DeliveryFailed as error:
                ok, status = False, str(error)
            emulator.verified[waba_id] = {"ok": ok, "at": emulator.clock.now(), "status": status}
            return ok
