"""Python helper for the control API: drive customers, faults and the clock of a running emulator.

Works in-process (`emulator.testing.EmulatorServer.control`) or against a remote emulator:
    EmulatorControl(httpx.Client(base_url="http://127.0.0.1:8765"))
"""

from __future__ import annotations

from typing import Any

import httpx


class ControlError(RuntimeError):
    pass


class EmulatorControl:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def _call(self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None) -> Any:
        response = self.http.request(method, f"/_emulator{path}", json=json, params=params)
        if response.status_code != 200:
            raise ControlError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    # customers
    def customer_sends(
        self, wa_id: str, kind: str, phone_number_id: str | None = None, **params: Any
    ) -> dict[str, Any]:
        """Make customer `wa_id` send an inbound message of `kind` (see `emulator.inbound.INBOUND_KINDS`)."""
        body: dict[str, Any] = {"kind": kind, **params}
        if phone_number_id is not None:
            body["phone_number_id"] = phone_number_id
        result: dict[str, Any] = self._call("POST", f"/customers/{wa_id}/send", body)
        return result

    def text(self, wa_id: str, body: str, **params: Any) -> dict[str, Any]:
        return self.customer_sends(wa_id, "text", body=body, **params)

    def marketing_preference(self, wa_id: str, value: str, phone_number_id: str | None = None) -> Any:
        body: dict[str, Any] = {"value": value}
        if phone_number_id is not None:
            body["phone_number_id"] = phone_number_id
        return self._call("POST", f"/customers/{wa_id}/preferences", body)

    def update_customer(self, wa_id: str, **changes: Any) -> Any:
        return self._call("POST", f"/customers/{wa_id}", changes)

    def block(self, wa_id: str, phone_number_id: str) -> Any:
        return self.update_customer(wa_id, block=[phone_number_id])

    def unblock(self, wa_id: str, phone_number_id: str) -> Any:
        return self.update_customer(wa_id, unblock=[phone_number_id])

    def customer(self, wa_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/customers/{wa_id}")
        return result

    def received(self, wa_id: str) -> list[dict[str, Any]]:
        """Messages the customer's phone has received (delivered or read)."""
        received: list[dict[str, Any]] = self.customer(wa_id)["received"]
        return received

    def read_by_business(self, wa_id: str) -> list[str]:
        """The customer's messages the business marked read (blue ticks on the customer's phone)."""
        read: list[str] = self.customer(wa_id)["read_by_business"]
        return read

    def play(self, wa_id: str, message_id: str) -> Any:
        """The customer plays a voice note you sent (first play → `played` status)."""
        return self._call("POST", f"/customers/{wa_id}/play", {"message_id": message_id})

    def read_all(self, wa_id: str) -> int:
        read: int = self._call("POST", f"/customers/{wa_id}/read", {})["read"]
        return read

    # accounts, templates, phones
    def set_phone(self, phone_number_id: str, **changes: Any) -> Any:
        return self._call("POST", f"/phones/{phone_number_id}", changes)

    def template_quality(self, template_id: str, quality: str) -> Any:
        return self._call("POST", f"/templates/{template_id}/quality", {"quality": quality})

    def review_now(self, template_id: str) -> Any:
        return self._call("POST", f"/templates/{template_id}/review", {})

    def account_event(self, waba_id: str, event: str, **fields: Any) -> Any:
        return self._call("POST", f"/accounts/{waba_id}/event", {"event": event, **fields})

    def set_webhook(self, waba_id: str, callback_url: str, verify_token: str | None = None) -> Any:
        body: dict[str, Any] = {"callback_url": callback_url}
        if verify_token is not None:
            body["verify_token"] = verify_token
        return self._call("POST", f"/accounts/{waba_id}/webhook", body)

    def emit(self, field: str, value: dict[str, Any], waba_id: str | None = None) -> Any:
        body: dict[str, Any] = {"field": field, "value": value}
        if waba_id is not None:
            body["waba_id"] = waba_id
        return self._call("POST", "/emit", body)

    def expire_token(self, token: str) -> Any:
        return self._call("POST", f"/tokens/{token}/expire", {})

    # faults, clock, scenarios
    def add_fault(self, endpoint: str, kind: str, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/faults", {"endpoint": endpoint, "kind": kind, **options}
        )
        return result

    def faults(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._call("GET", "/faults")["data"]
        return data

    def clear_faults(self) -> Any:
        return self._call("DELETE", "/faults")

    def advance(self, seconds: float) -> float:
        now: float = self._call("POST", "/clock/advance", {"seconds": seconds})["now"]
        return now

    def settle(self) -> None:
        """Deliver every webhook that is due at the current emulated time."""
        self._call("POST", "/settle", {})

    def run_scenario(self, spec: dict[str, Any]) -> Any:
        return self._call("POST", "/scenario", spec)

    # inspection
    def state(self) -> Any:
        return self._call("GET", "/state")

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        params = {"to": to} if to else None
        data: list[dict[str, Any]] = self._call("GET", "/messages", params=params)["data"]
        return data

    def templates(self) -> list[dict[str, Any]]:
        """Every template with its review state, pause count and rejection reason."""
        data: list[dict[str, Any]] = self._call("GET", "/templates")["data"]
        return data

    def deliveries(self, state: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        params = {"limit": str(limit)}
        if state:
            params["state"] = state
        data: list[dict[str, Any]] = self._call("GET", "/deliveries", params=params)["data"]
        return data
