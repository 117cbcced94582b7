"""The emulator's state machine: accounts, sends, rules of the road, templates, media, customers.

Everything here is synchronous and runs under `Emulator.lock`; the ASGI app and the webhook pump
(`emulator.delivery`) call in. Time is the emulated `Clock`, so tests jump days without sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator import payloads
from emulator.clock import Clock
from emulator.config import (
    MESSAGING_TIERS,
    AccountConfig,
    EmulatorConfig,
    PhoneNumberConfig,
    Quality,
    Throughput,
)
from emulator.errors import GraphError, invalid_parameter, unknown_object
from emulator.faults import FaultEngine
from emulator.limits import TokenBucket
from emulator.media import (
    INBOUND_TTL,
    UPLOAD_TTL,
    URL_TTL,
    MediaItem,
    Upload,
    check_upload,
    link_extension_fits,
    sha256_b64,
)
from emulator.templates import Template, TemplateStatus, check_send_parameters
from emulator.validation import (
    INBOUND_ONLY_TYPES,
    normalize_phone,
    template_parameter_issue,
    validate_envelope,
    validate_payload,
)

DAY = 24 * 3600.0
WINDOW = DAY


@dataclass(slots=True)
class PhoneState:
    config: PhoneNumberConfig
    account: AccountConfig
    bucket: TokenBucket
    throughput: Throughput
    quality: Quality
    maintenance_until: float = 0.0


@dataclass(slots=True)
class Customer:
    wa_id: str
    name: str
    on_whatsapp: bool = True
    auto_read: bool = True
    blocked: set[str] = field(default_factory=set)
    marketing_opt_out: set[str] = field(default_factory=set)
    received: list[dict[str, Any]] = field(default_factory=list)
    last_inbound: dict[str, float] = field(default_factory=dict)
    marketing_received: list[float] = field(default_factory=list)
    free_entry_until: dict[str, float] = field(default_factory=dict)

    def window_open(self, phone_number_id: str, now: float) -> bool:
        last = self.last_inbound.get(phone_number_id)
        return (last is not None and now - last < WINDOW) or self.in_free_entry_point(phone_number_id, now)

    def in_free_entry_point(self, phone_number_id: str, now: float) -> bool:
        """72-hour free entry point window opened by a click-to-WhatsApp ad (REFERENCE §5)."""
        return now < self.free_entry_until.get(phone_number_id, 0.0)


@dataclass(slots=True)
class OutboundMessage:
    wamid: str
    phone_number_id: str
    waba_id: str
    to: str
    type: str
    payload: dict[str, Any]
    created_at: float
    category: str
    in_window: bool
    biz_opaque_callback_data: str | None
    statuses: list[str] = field(default_factory=list)
    error: tuple[int, str] | None = None
    free_entry_point: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.wamid,
            "phone_number_id": self.phone_number_id,
            "to": self.to,
            "type": self.type,
            "category": self.category,
            "created_at": self.created_at,
            "statuses": self.statuses,
            "error": None if self.error is None else {"code": self.error[0], "details": self.error[1]},
            "payload": self.payload,
        }


@dataclass(slots=True)
class PendingUpdate:
    """One update waiting to be batched into a webhook POST."""

    waba_id: str
    field: str
    phone_number_id: str | None
    key: str | None  # statuses / messages / user_preferences / errors; None for flat values
    item: dict[str, Any]
    contact: dict[str, Any] | None = None


@dataclass(slots=True)
class Delivery:
    id: int
    waba_id: str
    url: str
    body: bytes
    signature: str
    updates: int
    created_at: float
    next_attempt_at: float
    attempts: list[dict[str, Any]] = field(default_factory=list)
    state: str = "pending"
    duplicate: bool = False
    schema_errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "waba_id": self.waba_id,
            "url": self.url,
            "updates": self.updates,
            "state": self.state,
            "created_at": self.created_at,
            "next_attempt_at": self.next_attempt_at,
            "attempts": self.attempts,
            "duplicate": self.duplicate,
            "schema_errors": self.schema_errors,
            "body": json.loads(self.body),
        }


# Redelivery delays (emulated seconds) after each failed attempt: immediately, then less and less often.
REDELIVERY_DELAYS = (0.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0)


class Emulator:
    def __init__(self, config: EmulatorConfig, clock: Clock | None = None) -> None:
        behaviour = config.behaviour
        self.config = config
        self.behaviour = behaviour
        self.clock = clock or Clock(scale=behaviour.time_scale, start=behaviour.start_time or None)
        self.lock = threading.RLock()
        self.random = random.Random(behaviour.seed)  # noqa: S311 - deterministic emulation, not security
        self.faults = FaultEngine(behaviour.seed)
        self.accounts: dict[str, AccountConfig] = {a.waba_id: a for a in config.accounts}
        self.tokens: dict[str, set[str]] = {}
        self.token_expiry: dict[str, float] = {}
        self.phones: dict[str, PhoneState] = {}
        self.tiers: dict[str, str] = {}
        now = self.clock.now()
        for account in config.accounts:
            self.tiers[account.portfolio_id] = account.messaging_tier
            for token in account.access_tokens:
                self.tokens.setdefault(token, set()).add(account.waba_id)
            for phone in account.phone_numbers:
                rate = phone.throughput.messages_per_second
                self.phones[phone.id] = PhoneState(
                    phone, account, TokenBucket.full(rate, rate, now), phone.throughput, phone.quality
                )
        self.customers: dict[str, Customer] = {}
        self.messages: dict[str, OutboundMessage] = {}
        self.inbound: dict[str, tuple[str, str, float]] = {}  # wamid -> (phone id, wa_id, time)
        self.read_by_business: dict[str, float] = {}  # inbound wamid -> when the business marked it read
        self.pair_buckets: dict[tuple[str, str], TokenBucket] = {}
        self.business_initiated: dict[str, dict[str, float]] = {}  # portfolio -> wa_id -> last time
        self.templates: dict[str, Template] = {}
        self.deleted_template_names: dict[tuple[str, str], float] = {}
        self.template_creations: dict[str, list[float]] = {}
        self.media: dict[str, MediaItem] = {}
        self.media_urls: dict[str, tuple[str, float]] = {}  # url token -> (media id, expires)
        self.scheduled: list[tuple[float, int, Callable[[], None]]] = []
        self.outbox: list[PendingUpdate] = []
        self.deliveries: dict[int, Delivery] = {}
        self.pending_deliveries: dict[int, Delivery] = {}
        self.verified: dict[str, dict[str, Any]] = {}
        self._seq = itertools.count()
        self.delivery_ids = itertools.count(1)
        self._id_counter = itertools.count(1)
        self._wamid_prefix = secrets.token_hex(4).upper()
        self.wake: Callable[[], None] = lambda: None

    # ---- ids and scheduling -------------------------------------------------------------------
    def new_numeric_id(self) -> str:
        return str(1_000_000_000_000_000 + self.random.randrange(10**15) * 10 + next(self._id_counter) % 10)

    def new_wamid(self) -> str:
        return f"wamid.HBgL{self._wamid_prefix}{next(self._id_counter):012d}=="

    def schedule(self, delay: float, action: Callable[[], None]) -> None:
        # No wake-up here: the pump looks at the schedule every few milliseconds anyway, and letting
        # updates pile up for that long is what lets them share a POST under load (as Meta batches).
        heapq.heappush(self.scheduled, (self.clock.now() + delay, next(self._seq), action))

    def run_due(self) -> int:
        """Run scheduled actions whose emulated time has come; returns how many ran."""
        ran = 0
        with self.lock:
            now = self.clock.now()
            while self.scheduled and self.scheduled[0][0] <= now:
                _, _, action = heapq.heappop(self.scheduled)
                action()
                ran += 1
        return ran

    def next_due(self) -> float | None:
        candidates = [self.scheduled[0][0]] if self.scheduled else []
        candidates += [d.next_attempt_at for d in self.pending_deliveries.values() if d.state == "pending"]
        return min(candidates) if candidates else None

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.wake()

    # ---- auth ---------------------------------------------------------------------------------
    def authorize(self, authorization: str | None) -> set[str]:
        """WABA ids the bearer token may act on; raises 190 like Meta for a bad or expired token."""
        token = ""
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        wabas = self.tokens.get(token)
        if not wabas:
            if not token:
                raise GraphError(
                    190,
                    "An access token is required to request this resource.",
                    message="An active access token must be used to query information about the "
                    "current user.",
                    subcode=None,
                )
            raise GraphError(
                190,
                "Invalid OAuth access token.",
                message="Invalid OAuth access token - Cannot parse access token",
                subcode=None,
            )
        expiry = self.token_expiry.get(token)
        if expiry is not None and self.clock.now() >= expiry:
            raise GraphError(
                190,
                "Session has expired.",
                subcode=463,
                message="Error validating access token: Session has expired.",
            )
        return wabas

    def phone_for(self, phone_number_id: str, wabas: set[str]) -> PhoneState:
        phone = self.phones.get(phone_number_id)
        if phone is None or phone.account.waba_id not in wabas:
            raise unknown_object(phone_number_id)
        return phone

    def account_for(self, waba_id: str, wabas: set[str]) -> AccountConfig:
        account = self.accounts.get(waba_id)
        if account is None or waba_id not in wabas:
            raise unknown_object(waba_id)
        return account

    # ---- customers ----------------------------------------------------------------------------
    def customer(self, wa_id: str) -> Customer:
        found = self.customers.get(wa_id)
        if found is None:
            found = Customer(wa_id=wa_id, name=f"Customer {wa_id[-4:]}")
            self.customers[wa_id] = found
        return found

    # ---- sending ------------------------------------------------------------------------------
    def send(self, phone: PhoneState, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid_parameter("The request body must be a JSON object.")
        now = self.clock.now()
        if now < phone.maintenance_until:
            raise GraphError(
                131057,
                "Business account is in maintenance mode while its throughput is upgraded.",
                http_status=500,
            )
        if not phone.bucket.take(now):
            raise GraphError(
                130429,
                f"Message failed to send because there were too many messages sent from "
                f"this phone number in a short period of time ({phone.throughput.messages_per_second}"
                " mps).",
            )
        if body.get("status") == "read" or "typing_indicator" in body:
            return self._mark_read(phone, body)
        message_type = validate_envelope(body)
        payload = body[message_type]
        validate_payload(message_type, payload)
        to = normalize_phone(body.get("to", ""), phone.config.display_phone_number)
        if to == phone.config.display_phone_number:
            raise GraphError(131021, "Recipient cannot be sender.")
        template = self._template_for_send(phone, payload) if message_type == "template" else None
        self._take_pair_token(phone, to, now)
        return self._accept(phone, body, message_type, to, template, now)

    def _mark_read(self, phone: PhoneState, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("messaging_product") != "whatsapp":
            raise invalid_parameter("The parameter messaging_product must be set to whatsapp.")
        message_id = body.get("message_id")
        known = self.inbound.get(str(message_id))
        if known is None or known[0] != phone.config.id:
            raise invalid_parameter(
                f"Invalid parameter: message_id {message_id!r} is not a message received "
                "by this phone number."
            )
        indicator = body.get("typing_indicator")
        if indicator is not None and (not isinstance(indicator, dict) or indicator.get("type") != "text"):
            raise invalid_parameter("Param typing_indicator.type must be text.")
        if body.get("status") == "read":
            self._blue_ticks(known)
        return {"success": True}

    def _blue_ticks(self, marked: tuple[str, str, float]) -> None:
        """As on the customer's phone: the marked message and every earlier one from them turn read."""
        phone_id, wa_id, sent_at = marked
        moment = self.clock.now()
        for wamid, (pid, sender, at) in self.inbound.items():
            if pid == phone_id and sender == wa_id and at <= sent_at:
                self.read_by_business.setdefault(wamid, moment)

    def _template_for_send(self, phone: PhoneState, payload: dict[str, Any]) -> Template:
        name = payload["name"]
        language = payload["language"]["code"]
        template = next(
            (
                t
                for t in self.templates.values()
                if t.waba_id == phone.account.waba_id and t.name == name and t.language == language
            ),
            None,
        )
        if template is None or template.status not in (
            TemplateStatus.APPROVED,
            TemplateStatus.PAUSED,
            TemplateStatus.DISABLED,
        ):
            raise GraphError(132001, f"template name ({name}) does not exist in {language}")
        if template.status is TemplateStatus.PAUSED:
            raise GraphError(132015, f"Template {name} is paused due to low quality.")
        if template.status is TemplateStatus.DISABLED:
            raise GraphError(132016, f"Template {name} has been disabled due to low quality.")
        components = payload.get("components", [])
        mismatch = check_send_parameters(template, components)
        if mismatch is not None:
            raise mismatch
        for component in components:
            for param in component.get("parameters", []):
                if template_parameter_issue(param):
                    raise GraphError(
                        132018,
                        "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
                    )
        return template

    def _take_pair_token(self, phone: PhoneState, to: str, now: float) -> None:
        key = (phone.config.id, to)
        bucket = self.pair_buckets.get(key)
        if bucket is None:
            burst = float(self.behaviour.pair_burst)
            bucket = TokenBucket.full(burst, 1.0 / self.behaviour.pair_interval, now)
            self.pair_buckets[key] = bucket
        if not bucket.take(now):
            raise GraphError(
                131056,
                "Message failed to send because there were too many messages sent from this "
                "phone number to the same phone number in a short period of time.",
            )

    def _accept(
        self,
        phone: PhoneState,
        body: dict[str, Any],
        message_type: str,
        to: str,
        template: Template | None,
        now: float,
    ) -> dict[str, Any]:
        customer = self.customer(to)
        in_window = customer.window_open(phone.config.id, now)
        category = template.category.lower() if template is not None else "service"
        message = OutboundMessage(
            wamid=self.new_wamid(),
            phone_number_id=phone.config.id,
            waba_id=phone.account.waba_id,
            to=to,
            type=message_type,
            payload=body[message_type],
            created_at=now,
            category=category,
            in_window=in_window,
            biz_opaque_callback_data=body.get("biz_opaque_callback_data"),
            free_entry_point=customer.in_free_entry_point(phone.config.id, now),
        )
        self.messages[message.wamid] = message
        message.error = self._outcome(phone, customer, message, template, now)
        held = template is not None and message.error is None and self._paced(template)
        if held and template is not None:
            template.held.append(message.wamid)
        else:
            self._schedule_statuses(message, customer)
        response: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": str(body.get("to")), "wa_id": to}],
            "messages": [{"id": message.wamid}],
        }
        if template is not None:
            response["messages"][0]["message_status"] = "held_for_quality_assessment" if held else "accepted"
        return response

    def _paced(self, template: Template) -> bool:
        """Template pacing: a new marketing/utility template's sends beyond the first few wait for a
        quality verdict (REFERENCE §2), answered `held_for_quality_assessment`."""
        threshold = self.behaviour.pacing_after
        if threshold <= 0 or template.quality != "UNKNOWN" or template.category == "AUTHENTICATION":
            return False
        template.paced_sends += 1
        return template.paced_sends > threshold

    def release_held(self, template: Template, error: tuple[int, str] | None) -> None:
        """Quality came in: held messages go out, or fail (132015) if the template was paused."""
        held, template.held = template.held, []
        for wamid in held:
            message = self.messages[wamid]
            message.error = error
            self._schedule_statuses(message, self.customer(message.to))

    def _outcome(
        self,
        phone: PhoneState,
        customer: Customer,
        message: OutboundMessage,
        template: Template | None,
        now: float,
    ) -> tuple[int, str] | None:
        """The asynchronous error Meta would report in a `failed` status, or None to deliver."""
        if message.type in INBOUND_ONLY_TYPES:
            return (131051, f"Message type {message.type} is not supported for sending.")
        if message.type in INBOUND_ONLY_TYPES:
            return (131051, f"Message type {message.type} is not supported for sending.")
        if not customer.on_whatsapp or phone.config.id in customer.blocked:
            return (131026, "Message Undeliverable.")
        if message.type == "reaction" and message.payload["message_id"] not in self._thread_ids(
            phone, customer
        ):
            return (131009, "Reaction target message is unknown or older than 30 days.")
        if template is None and not message.in_window:
            return (
                131047,
                "Message failed to send because more than 24 hours have passed since the customer "
                "last replied to this number.",
            )
        if message.type in ("image", "video", "audio", "document", "sticker"):
            media_id = message.payload.get("id")
            if media_id and not self._media_usable(str(media_id), phone.config.id, now):
                return (131053, "Media upload error: the media id is unknown, deleted or expired.")
            link = message.payload.get("link")
            if link and not link_extension_fits(message.type, str(link)):
                return (
                    131053,
                    f"Media upload error: the file at the link is not a supported {message.type}.",
                )
        if template is None:
            return None
        return self._template_outcome(phone, customer, message, template, now)

    def _template_outcome(
        self, phone: PhoneState, customer: Customer, message: OutboundMessage, template: Template, now: float
    ) -> tuple[int, str] | None:
        if template.category == "MARKETING":
            if phone.account.waba_id in customer.marketing_opt_out:
                return (
                    131050,
                    "Unable to deliver the message. This recipient has chosen to stop receiving "
                    "marketing messages on WhatsApp from your business.",
                )
            recent = [t for t in customer.marketing_received if now - t < DAY]
            customer.marketing_received = recent
            if len(recent) >= self.behaviour.marketing_per_user_per_day:
                return (131049, "This message was not delivered to maintain healthy ecosystem engagement.")
            recent.append(now)
        if not message.in_window and not self._within_tier(phone, customer.wa_id, now):
            return (
                131064,
                "Message failed to send because the business has reached its messaging limit of "
                "unique users in a 24-hour period.",
            )
        return None

    def _within_tier(self, phone: PhoneState, wa_id: str, now: float) -> bool:
        portfolio = phone.account.portfolio_id
        reached = self.business_initiated.setdefault(portfolio, {})
        limit = MESSAGING_TIERS.get(self.tiers.get(portfolio, "TIER_UNLIMITED"))
        if wa_id in reached and now - reached[wa_id] < DAY:
            reached[wa_id] = now
            return True
        if limit is not None:
            active = sum(1 for t in reached.values() if now - t < DAY)
            if active >= limit:
                return False
        reached[wa_id] = now
        return True

    def _thread_ids(self, phone: PhoneState, customer: Customer) -> set[str]:
        ids = {
            wamid
            for wamid, (pid, wa_id, _) in self.inbound.items()
            if pid == phone.config.id and wa_id == customer.wa_id
        }
        ids.update(m["id"] for m in customer.received if m.get("phone_number_id") == phone.config.id)
        return ids

    def _media_usable(self, media_id: str, phone_number_id: str, now: float) -> bool:
        item = self.media.get(media_id)
        return (
            item is not None
            and not item.deleted
            and now < item.expires_at
            and (item.phone_number_id == phone_number_id)
        )

    # ---- statuses -----------------------------------------------------------------------------
    def _schedule_statuses(self, message: OutboundMessage, customer: Customer) -> None:
        if message.error is not None:
            self.schedule(0.0, lambda: self._emit_status(message, "failed"))
            return
        self.schedule(0.0, lambda: self._emit_status(message, "sent"))
        if message.type == "reaction":
            # Meta sends only `sent` for reactions; the customer still sees them.
            self.schedule(0.0, lambda: self._hand_to_customer(message, customer))
            return
        skip = customer.auto_read and self.random.random() < self.behaviour.skip_delivered_probability
        if not skip:
            self.schedule(self.behaviour.delivered_after, lambda: self._emit_status(message, "delivered"))
        if customer.auto_read:
            self.schedule(self.behaviour.read_after, lambda: self._emit_status(message, "read"))

    def _emit_status(self, message: OutboundMessage, state: str) -> None:
        if state in ("delivered", "read") and "received" not in message.statuses:
            self._hand_to_customer(message, self.customer(message.to))
        message.statuses.append(state)
        phone = self.phones[message.phone_number_id]
        pricing = None
        if state != "failed":
            pricing = payloads.pricing(message.category, message.in_window, message.free_entry_point)
        item = payloads.status(
            message.wamid,
            state,
            int(self.clock.now()),
            message.to,
            pricing_object=pricing,
            biz_opaque_callback_data=message.biz_opaque_callback_data,
            error=message.error if state == "failed" else None,
        )
        # Status webhooks now carry the recipient's `contacts` entry (BSUID rollout, 2026 samples).
        contact = payloads.contact(message.to, self.customer(message.to).name)
        self.enqueue(
            PendingUpdate(phone.account.waba_id, "messages", phone.config.id, "statuses", item, contact)
        )

    def _hand_to_customer(self, message: OutboundMessage, customer: Customer) -> None:
        if "received" in message.statuses:
            return
        message.statuses.append("received")
        customer.received.append(
            {
                "id": message.wamid,
                "phone_number_id": message.phone_number_id,
                "type": message.type,
                message.type: message.payload,
                "timestamp": int(self.clock.now()),
            }
        )

    def customer_reads(self, wa_id: str, message_id: str | None = None) -> int:
        """The customer opens the chat: every unread message (or up to `message_id`) becomes read."""
        count = 0
        for message in list(self.messages.values()):
            if message.to != wa_id or message.error is not None or "read" in message.statuses:
                continue
            if message.type == "reaction":
                continue
            self._emit_status(message, "read")
            count += 1
            if message.wamid == message_id:
                break
        return count

    def customer_plays(self, wa_id: str, message_id: str) -> None:
        """First play of a voice note: Meta's `played` status (since March 2026)."""
        message = self.messages.get(message_id)
        if message is None or message.to != wa_id or message.type != "audio" or message.error is not None:
            raise KeyError("no voice note with that id was sent to this customer")
        if not message.payload.get("voice") or "played" in message.statuses:
            raise ValueError("only the first play of a voice note is reported")
        self._emit_status(message, "played")

    # ---- webhook outbox -----------------------------------------------------------------------
    def enqueue(self, update: PendingUpdate) -> None:
        self.outbox.append(update)

    def enqueue_value(self, waba_id: str, field_name: str, value: dict[str, Any]) -> None:
        self.enqueue(PendingUpdate(waba_id, field_name, None, None, value))

    def phone_metadata(self, phone_number_id: str) -> dict[str, str]:
        phone = self.phones[phone_number_id]
        return payloads.metadata(phone.config.display_phone_number, phone.config.id)

    # ---- media --------------------------------------------------------------------------------
    def store_media(self, phone_number_id: str, upload: Upload, ttl: float = UPLOAD_TTL) -> MediaItem:
        check_upload(upload)
        now = self.clock.now()
        item = MediaItem(
            id=self.new_numeric_id(),
            phone_number_id=phone_number_id,
            mime_type=upload.mime_type,
            data=upload.data,
            sha256=sha256_b64(upload.data),
            created_at=now,
            expires_at=now + ttl,
            filename=upload.filename,
        )
        self.media[item.id] = item
        return item

    def store_inbound_media(
        self, phone_number_id: str, mime: str, data: bytes, filename: str | None
    ) -> tuple[str, str]:
        item = self.store_media(phone_number_id, Upload(mime, data, filename), ttl=INBOUND_TTL)
        return item.id, item.sha256

    def media_item(self, media_id: str, wabas: set[str], phone_filter: str | None) -> MediaItem:
        item = self.media.get(media_id)
        if item is None or item.deleted or self.clock.now() >= item.expires_at:
            raise unknown_object(media_id)
        owner = self.phones.get(item.phone_number_id)
        if owner is None or owner.account.waba_id not in wabas:
            raise unknown_object(media_id)
        if phone_filter is not None and phone_filter != item.phone_number_id:
            raise invalid_parameter("The media does not belong to the phone number given in phone_number_id.")
        return item

    def media_url(self, item: MediaItem) -> str:
        token = secrets.token_urlsafe(24)
        self.media_urls[token] = (item.id, self.clock.now() + URL_TTL)
        return token

    def media_for_download(self, url_token: str) -> MediaItem | None:
        found = self.media_urls.get(url_token)
        if found is None or self.clock.now() >= found[1]:
            return None
        item = self.media.get(found[0])
        if item is None or item.deleted:
            return None
        return item
