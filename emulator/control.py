"""Control API under `/_emulator/`: scripted customers, faults, clock, inspection (issue items 7 to 9)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator import customers, payloads, template_api
from emulator.http import Request, Response
from emulator.templates import TemplateStatus

if TYPE_CHECKING:
    from emulator.app import EmulatorApp

Handler = Callable[["EmulatorApp", Request, dict[str, str]], Any]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^/_emulator{pattern}$"), handler))
        return handler

    return register


async def settle_now(app: EmulatorApp) -> Response:
    """Deliver every webhook due now; the only control call that must wait for the pump."""
    await app.start()
    assert app.pump is not None
    await app.pump.settle()
    return Response.json({"ok": True})


def dispatch(app: EmulatorApp, request: Request) -> Response | None:
    """Run a control route; None asks the caller to `settle_now`."""
    for method, pattern, handler in ROUTES:
        match = pattern.match(request.path)
        if match is None or method != request.method:
            continue
        if handler is settle:
            return None
        try:
            with app.emulator.lock:
                result = handler(app, request, match.groupdict())
        except (KeyError, ValueError, TypeError) as error:
            return Response.json({"error": {"message": str(error), "type": type(error).__name__}}, 400)
        return Response.json(result)
    return Response.json({"error": {"message": f"no control route {request.method} {request.path}"}}, 404)


def _body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


@route("GET", "/health")
def health(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    return {"ok": True, "now": app.emulator.clock.now()}


@route("GET", "/state")
def state(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    emulator = app.emulator
    return {
        "now": emulator.clock.now(),
        "accounts": [
            {
                "waba_id": a.waba_id,
                "callback_url": a.callback_url,
                "portfolio_id": a.portfolio_id,
                "messaging_tier": emulator.tiers.get(a.portfolio_id),
                "verification": emulator.verified.get(a.waba_id),
                "phone_numbers": [
                    {
                        "id": p.id,
                        "display_phone_number": p.display_phone_number,
                        "throughput": str(emulator.phones[p.id].throughput),
                        "quality": str(emulator.phones[p.id].quality),
                    }
                    for p in a.phone_numbers
                ],
            }
            for a in emulator.accounts.values()
        ],
        "counts": {
            "messages": len(emulator.messages),
            "inbound": len(emulator.inbound),
            "templates": len(emulator.templates),
            "media": len(emulator.media),
            "customers": len(emulator.customers),
            "deliveries": len(emulator.deliveries),
            "pending_deliveries": len(emulator.pending_deliveries),
            "scheduled": len(emulator.scheduled),
        },
    }


@route("GET", "/messages")
def messages(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    limit = int(request.query.get("limit", "100"))
    to = request.query.get("to")
    found = [m.summary() for m in app.emulator.messages.values() if to is None or m.to == to]
    return {"data": found[-limit:]}


@route("GET", "/templates")
def templates(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    return {
        "data": [
            {
                **t.to_graph(),
                "waba_id": t.waba_id,
                "rejected_reason": t.rejected_reason,
                "pause_count": t.pause_count,
            }
            for t in app.emulator.templates.values()
        ]
    }


@route("GET", "/deliveries")
def deliveries(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    wanted = request.query.get("state")
    limit = int(request.query.get("limit", "100"))
    found = [d.summary() for d in app.emulator.deliveries.values() if wanted is None or d.state == wanted]
    return {"data": found[-limit:]}


@route("POST", "/customers/(?P<wa_id>\\d+)/send")
def customer_send(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    body = _body(request)
    kind = str(body.pop("kind"))
    phone_id = str(body.pop("phone_number_id", next(iter(app.emulator.phones))))
    return customers.customer_sends(app.emulator, phone_id, args["wa_id"], kind, body)


@route("POST", "/customers/(?P<wa_id>\\d+)/preferences")
def customer_preferences(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    body = _body(request)
    phone_id = str(body.get("phone_number_id", next(iter(app.emulator.phones))))
    customers.marketing_preference(app.emulator, phone_id, args["wa_id"], str(body["value"]))
    return customers.customer_view(app.emulator, args["wa_id"])


@route("POST", "/customers/(?P<wa_id>\\d+)/play")
def customer_play(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    app.emulator.customer_plays(args["wa_id"], str(_body(request)["message_id"]))
    return {"played": True}


@route("POST", "/customers/(?P<wa_id>\\d+)/read")
def customer_read(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    body = _body(request)
    return {"read": app.emulator.customer_reads(args["wa_id"], body.get("message_id"))}


@route("POST", "/customers/(?P<wa_id>\\d+)")
def customer_update(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    return customers.set_customer(app.emulator, args["wa_id"], _body(request))


@route("GET", "/customers/(?P<wa_id>\\d+)")
def customer_get(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    return customers.customer_view(app.emulator, args["wa_id"])


@route("POST", "/phones/(?P<phone_id>\\d+)")
def phone_update(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    return customers.set_phone(app.emulator, args["phone_id"], _body(request))


@route("POST", "/templates/(?P<template_id>\\d+)/quality")
def template_quality(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    template = app.emulator.templates[args["template_id"]]
    template_api.set_quality(app.emulator, template, str(_body(request)["quality"]))
    return template.to_graph()


@route("POST", "/templates/(?P<template_id>\\d+)/review")
def template_review(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    """Finish a pending review now instead of waiting `template_review_after`."""
    template = app.emulator.templates[args["template_id"]]
    if template.status is not TemplateStatus.PENDING:
        raise ValueError(f"template is {template.status}, not PENDING")
    template_api.finish_review(app.emulator, template)
    return template.to_graph()


@route("POST", "/accounts/(?P<waba_id>\\d+)/event")
def account_event(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    body = _body(request)
    event = str(body.pop("event"))
    return customers.account_event(app.emulator, args["waba_id"], event, body)


@route("POST", "/accounts/(?P<waba_id>\\d+)/webhook")
def account_webhook(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    """Change the callback URL / verify token; the handshake runs again before the next delivery."""
    from dataclasses import replace

    body = _body(request)
    emulator = app.emulator
    account = emulator.accounts[args["waba_id"]]
    updated = replace(
        account,
        callback_url=body.get("callback_url", account.callback_url),
        verify_token=str(body.get("verify_token", account.verify_token)),
    )
    emulator.accounts[account.waba_id] = updated
    for phone in emulator.phones.values():
        if phone.account.waba_id == account.waba_id:
            phone.account = updated
    emulator.verified.pop(account.waba_id, None)
    return {"waba_id": updated.waba_id, "callback_url": updated.callback_url}


@route("POST", "/emit")
def emit(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    """Escape hatch: send any webhook `value` for any field, signed and retried like the others."""
    body = _body(request)
    waba_id = str(body.get("waba_id", next(iter(app.emulator.accounts))))
    field = str(body["field"])
    value = body["value"]
    if not isinstance(value, dict):
        raise ValueError("value must be an object")
    app.emulator.enqueue_value(waba_id, field, value)
    return payloads.envelope(waba_id, field, value)


@route("POST", "/tokens/(?P<token>[^/]+)/expire")
def token_expire(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    emulator = app.emulator
    if args["token"] not in emulator.tokens:
        raise KeyError("unknown token")
    emulator.token_expiry[args["token"]] = emulator.clock.now()
    return {"expired": True}


@route("GET", "/faults")
def faults_list(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    return {"data": [r.to_json() for r in app.emulator.faults.rules]}


@route("POST", "/faults")
def faults_add(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    return app.emulator.faults.add(_body(request)).to_json()


@route("DELETE", "/faults")
def faults_clear(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    app.emulator.faults.clear()
    return {"ok": True}


@route("POST", "/clock/advance")
def clock_advance(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    app.emulator.advance(float(_body(request)["seconds"]))
    return {"now": app.emulator.clock.now()}


@route("POST", "/settle")
def settle(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    return {"ok": True}  # never called: `dispatch` turns this route into `settle_now`, which awaits the pump


@route("POST", "/scenario")
def scenario(app: EmulatorApp, request: Request, args: dict[str, str]) -> Any:
    from emulator.scenario import run_scenario

    return run_scenario(app.emulator, _body(request))
