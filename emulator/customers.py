"""Scripted customers and account events, driven by the control API and `emulator.client`."""

from __future__ import annotations

from typing import Any

from emulator import payloads
from emulator.config import MESSAGING_TIERS, Quality, Throughput
from emulator.core import Emulator, PendingUpdate
from emulator.inbound import build_message


def customer_sends(
    emulator: Emulator, phone_number_id: str, wa_id: str, kind: str, params: dict[str, Any]
) -> dict[str, Any]:
    """The customer sends one message to the business; it opens/refreshes the 24-hour window."""
    phone = emulator.phones.get(phone_number_id)
    if phone is None:
        raise KeyError(f"unknown phone number id {phone_number_id}")
    customer = emulator.customer(wa_id)
    if params.get("name"):
        customer.name = str(params["name"])
    now = emulator.clock.now()
    # Throughput counts inbound and outbound alike (REFERENCE §5); inbound is never refused, it just uses
    # capacity the business's sends then lack.
    phone.bucket.take(now)
    wamid = emulator.new_wamid()
    item = build_message(
        kind,
        params,
        wamid=wamid,
        wa_id=wa_id,
        timestamp=int(now),
        business_number=phone.config.display_phone_number,
        store=lambda mime, data, name: emulator.store_inbound_media(phone_number_id, mime, data, name),
    )
    if kind not in ("system", "identity_change", "reaction", "revoke", "edit"):
        customer.last_inbound[phone_number_id] = now
    if kind == "referral":
        customer.free_entry_until[phone_number_id] = now + 72 * 3600.0
    emulator.inbound[wamid] = (phone_number_id, wa_id, now)
    # A number change arrives without `contacts` (the old identity is gone); identity changes keep them.
    contact = None if kind == "system" else payloads.contact(wa_id, customer.name)
    emulator.enqueue(
        PendingUpdate(phone.account.waba_id, "messages", phone_number_id, "messages", item, contact)
    )
    if kind == "system" and params.get("new_wa_id"):
        _move_customer(emulator, wa_id, str(params["new_wa_id"]))
    return item


def _move_customer(emulator: Emulator, old: str, new: str) -> None:
    customer = emulator.customers.pop(old, None)
    if customer is not None:
        customer.wa_id = new
        emulator.customers[new] = customer


def marketing_preference(emulator: Emulator, phone_number_id: str, wa_id: str, value: str) -> None:
    """The customer taps Stop/Resume on marketing messages: `user_preferences` webhook; stop → 131050."""
    if value not in ("stop", "resume", "signup"):
        raise ValueError("value must be stop, resume or signup")
    phone = emulator.phones[phone_number_id]
    customer = emulator.customer(wa_id)
    if value == "stop":
        customer.marketing_opt_out.add(phone.account.waba_id)
    else:
        customer.marketing_opt_out.discard(phone.account.waba_id)
    item = payloads.user_preference(wa_id, value, int(emulator.clock.now()))
    emulator.enqueue(
        PendingUpdate(
            phone.account.waba_id,
            "user_preferences",
            phone_number_id,
            "user_preferences",
            item,
            payloads.contact(wa_id, customer.name),
        )
    )


def set_customer(emulator: Emulator, wa_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    customer = emulator.customer(wa_id)
    for key in ("name", "on_whatsapp", "auto_read"):
        if key in changes:
            setattr(customer, key, changes[key])
    for phone_id in changes.get("block", []):
        customer.blocked.add(str(phone_id))
    for phone_id in changes.get("unblock", []):
        customer.blocked.discard(str(phone_id))
    return customer_view(emulator, wa_id)


def customer_view(emulator: Emulator, wa_id: str) -> dict[str, Any]:
    customer = emulator.customer(wa_id)
    now = emulator.clock.now()
    return {
        "wa_id": customer.wa_id,
        "name": customer.name,
        "on_whatsapp": customer.on_whatsapp,
        "auto_read": customer.auto_read,
        "blocked": sorted(customer.blocked),
        "marketing_opt_out": sorted(customer.marketing_opt_out),
        "window_open": {pid: customer.window_open(pid, now) for pid in customer.last_inbound},
        "received": customer.received,
        "read_by_business": sorted(
            wamid
            for wamid in emulator.read_by_business
            if emulator.inbound.get(wamid, ("", "", 0.0))[1] == customer.wa_id
        ),
    }


def set_phone(emulator: Emulator, phone_number_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Throughput/quality/tier changes, each with the `phone_number_quality_update` Meta would send."""
    phone = emulator.phones[phone_number_id]
    account = phone.account
    if "throughput" in changes:
        level = Throughput.parse(str(changes["throughput"]))
        phone.throughput = level
        rate = float(level.messages_per_second)
        phone.bucket.capacity = phone.bucket.rate = rate
        if level is Throughput.HIGH:
            # The number answers 131057 during the upgrade; the webhook announces its end.
            upgrade = emulator.behaviour.throughput_upgrade_seconds
            phone.maintenance_until = emulator.clock.now() + upgrade
            emulator.schedule(
                upgrade, lambda: _quality_update(emulator, phone_number_id, "THROUGHPUT_UPGRADE")
            )
    if "quality" in changes:
        phone.quality = Quality.parse(str(changes["quality"]))
    if "messaging_tier" in changes:
        tier = str(changes["messaging_tier"])
        if tier not in MESSAGING_TIERS:
            raise ValueError(f"unknown tier {tier}")
        old = emulator.tiers.get(account.portfolio_id)
        emulator.tiers[account.portfolio_id] = tier
        _quality_update(emulator, phone_number_id, "UPGRADE", old_limit=old)
    return {
        "id": phone_number_id,
        "throughput": str(phone.throughput),
        "quality": str(phone.quality),
        "messaging_tier": emulator.tiers.get(account.portfolio_id),
    }


def _quality_update(
    emulator: Emulator, phone_number_id: str, event: str, old_limit: str | None = None
) -> None:
    phone = emulator.phones[phone_number_id]
    value: dict[str, Any] = {
        "display_phone_number": phone.config.display_phone_number,
        "event": event,
        "current_limit": emulator.tiers.get(phone.account.portfolio_id, "TIER_UNLIMITED"),
    }
    if old_limit is not None:
        value["old_limit"] = old_limit
    emulator.enqueue(PendingUpdate(phone.account.waba_id, "phone_number_quality_update", None, None, value))


ACCOUNT_EVENTS: dict[str, dict[str, Any]] = {
    "ACCOUNT_VIOLATION": {"violation_info": {"violation_type": "SCAM"}},
    "ACCOUNT_RESTRICTION": {
        "restriction_info": [
            {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1700000000}
        ]
    },
    "DISABLED_UPDATE": {"ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "January 1, 2026"}},
    "ACCOUNT_DELETED": {},
}


def account_event(emulator: Emulator, waba_id: str, event: str, extra: dict[str, Any]) -> dict[str, Any]:
    if event not in ACCOUNT_EVENTS and not extra:
        raise ValueError(f"event must be one of {sorted(ACCOUNT_EVENTS)} (or give the value fields)")
    if waba_id not in emulator.accounts:
        raise KeyError(f"unknown WABA {waba_id}")
    value: dict[str, Any] = {"event": event, **ACCOUNT_EVENTS.get(event, {}), **extra}
    emulator.enqueue_value(waba_id, "account_update", value)
    return value
