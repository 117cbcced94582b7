"""Scenario files: deterministic customer conversations driven from a seed (issue item 7).

A scenario is JSON/TOML:
    {"seed": 7, "phone_number_id": "...", "customers": [{"wa_id": "...", "name": "..."}],
     "steps": [{"at": 0, "customer": 0, "kind": "text", "body": "hi"},
               {"at": 30, "customer": 0, "action": "preferences", "value": "stop"},
               {"at": 60, "customer": 1, "action": "block"}],
     "random": {"count": 20, "span": 3600, "kinds": ["text", "image", "location"]}}
`at` is emulated seconds after the scenario starts; `customer` indexes `customers` or is a wa_id.
"""

from __future__ import annotations

import json
import random
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator import customers
from emulator.core import Emulator

RANDOM_TEXTS = (
    "Hi!",
    "Is my order on its way?",
    "Thanks",
    "Can I change the address?",
    "STOP",
    "What time do you open?",
    "👍",
)


def _customer_ids(emulator: Emulator, spec: dict[str, Any], rng: random.Random) -> list[str]:
    ids: list[str] = []
    for index, raw in enumerate(spec.get("customers", [])):
        wa_id = str(raw.get("wa_id", f"1555{rng.randrange(10**7):07d}{index}"))
        customers.set_customer(emulator, wa_id, {k: v for k, v in raw.items() if k != "wa_id"})
        ids.append(wa_id)
    for _ in range(int(spec.get("generate_customers", 0))):
        wa_id = f"1555{rng.randrange(10**7):07d}"
        customers.set_customer(emulator, wa_id, {"name": f"Customer {wa_id[-4:]}"})
        ids.append(wa_id)
    return ids


def _resolve(ids: list[str], ref: Any) -> str:
    if isinstance(ref, int):
        return ids[ref]
    return str(ref)


def _action(emulator: Emulator, phone_id: str, wa_id: str, step: dict[str, Any]) -> None:
    action = step.get("action", "send")
    params = {k: v for k, v in step.items() if k not in ("at", "customer", "action", "kind")}
    if action == "send":
        customers.customer_sends(emulator, phone_id, wa_id, str(step["kind"]), params)
    elif action == "preferences":
        customers.marketing_preference(emulator, phone_id, wa_id, str(step["value"]))
    elif action == "block":
        customers.set_customer(emulator, wa_id, {"block": [phone_id]})
    elif action == "unblock":
        customers.set_customer(emulator, wa_id, {"unblock": [phone_id]})
    elif action == "read":
        emulator.customer_reads(wa_id)
    else:
        raise ValueError(f"unknown scenario action {action!r}")


def _step_action(emulator: Emulator, phone_id: str, wa_id: str, step: dict[str, Any]) -> Callable[[], None]:
    return lambda: _action(emulator, phone_id, wa_id, step)


def _random_steps(spec: dict[str, Any], ids: list[str], rng: random.Random) -> list[dict[str, Any]]:
    settings = spec.get("random")
    if not settings or not ids:
        return []
    kinds = list(settings.get("kinds", ["text"]))
    span = float(settings.get("span", 3600))
    steps = []
    for _ in range(int(settings.get("count", 10))):
        kind = rng.choice(kinds)
        step: dict[str, Any] = {
            "at": round(rng.uniform(0, span), 3),
            "customer": rng.choice(ids),
            "kind": kind,
        }
        if kind == "text":
            step["body"] = rng.choice(RANDOM_TEXTS)
        elif kind == "location":
            step.update(latitude=round(rng.uniform(-60, 60), 5), longitude=round(rng.uniform(-170, 170), 5))
        steps.append(step)
    return steps


def load_scenario(path: Path) -> dict[str, Any]:
    text = path.read_text()
    spec = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    if not isinstance(spec, dict):
        raise ValueError("a scenario must be an object")
    return spec


def run_scenario(emulator: Emulator, spec: dict[str, Any]) -> dict[str, Any]:
    """Schedule every step on the emulated clock; same seed → same customers, times and messages."""
    rng = random.Random(int(spec.get("seed", emulator.behaviour.seed)))  # noqa: S311 - reproducible scripts
    phone_id = str(spec.get("phone_number_id", next(iter(emulator.phones))))
    if phone_id not in emulator.phones:
        raise KeyError(f"unknown phone number id {phone_id}")
    ids = _customer_ids(emulator, spec, rng)
    steps = [*spec.get("steps", []), *_random_steps(spec, ids, rng)]
    steps.sort(key=lambda s: float(s.get("at", 0)))
    for step in steps:
        emulator.schedule(
            float(step.get("at", 0)), _step_action(emulator, phone_id, _resolve(ids, step["customer"]), step)
        )
    return {"customers": ids, "steps": len(steps)}
