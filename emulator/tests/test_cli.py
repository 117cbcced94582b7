"""Config files, the CLI, and one end-to-end run over real loopback sockets (granian + raw HTTP webhooks)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from emulator.cli import main
from emulator.config import Throughput, config_from_dict, load_config
from emulator.signing import verify

ROOT = Path(__file__).resolve().parents[2]
TOML = """
[behaviour]
time_scale = 1.0
delivered_after = 0.1
read_after = 0.2

[[accounts]]
waba_id = "300000000000001"
access_tokens = ["CLI-TOKEN"]
app_secret = "cli-secret"
verify_token = "cli-verify"
callback_url = "{callback}"
messaging_tier = "TIER_250"

[[accounts.phone_numbers]]
id = "300000000000011"
display_phone_number = "15550001111"
throughput = "high"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_toml_and_json_configs_load_the_same(tmp_path: Path) -> None:
    toml_path = tmp_path / "emulator.toml"
    toml_path.write_text(TOML.format(callback="http://127.0.0.1:1/hook"))
    from_toml = load_config(toml_path)
    json_path = tmp_path / "emulator.json"
    json_path.write_text(
        json.dumps(
            {
                "behaviour": {"time_scale": 1.0, "delivered_after": 0.1, "read_after": 0.2},
                "accounts": [
                    {
                        "waba_id": "300000000000001",
                        "access_tokens": ["CLI-TOKEN"],
                        "app_secret": "cli-secret",
                        "verify_token": "cli-verify",
                        "callback_url": "http://127.0.0.1:1/hook",
                        "messaging_tier": "TIER_250",
                        "phone_numbers": [
                            {
                                "id": "300000000000011",
                                "display_phone_number": "15550001111",
                                "throughput": "high",
                            }
                        ],
                    }
                ],
            }
        )
    )
    assert load_config(json_path) == from_toml
    assert from_toml.accounts[0].phone_numbers[0].throughput is Throughput.HIGH


def test_config_errors_are_explicit() -> None:
    with pytest.raises(ValueError, match="unknown behaviour keys"):
        config_from_dict({"behaviour": {"tiem_scale": 2}})
    with pytest.raises(ValueError, match="unknown messaging_tier"):
        config_from_dict({"accounts": [{"waba_id": "1", "messaging_tier": "TIER_7"}]})
    assert config_from_dict({}).accounts[0].waba_id == "102290129340398"


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text(TOML.format(callback="http://127.0.0.1:1/hook"))
    assert main(["check-config", str(path)]) == 0
    assert (
        "WABA 300000000000001: 300000000000011 (15550001111, HIGH); tier TIER_250" in capsys.readouterr().out
    )
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    assert main(["check-config", str(bad)]) == 1


def test_inspect_reports_an_unreachable_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "state", "--url", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "cannot reach the emulator" in capsys.readouterr().err


class Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[bytes, str | None]]] = []

    def do_GET(self) -> None:  # the verification handshake
        query = parse_qs(urlsplit(self.path).query)
        ok = query.get("hub.verify_token") == ["cli-verify"]
        body = query["hub.challenge"][0].encode() if ok else b"no"
        self.send_response(200 if ok else 403)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Receiver.bodies.append((body, self.headers.get("x-hub-signature-256")))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def live_emulator(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    workers = getattr(request, "param", 1)
    Receiver.bodies.clear()
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    config = tmp_path / "emulator.toml"
    config.write_text(TOML.format(callback=f"http://127.0.0.1:{receiver.server_port}/hook"))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    scenario = tmp_path / "startup.json"
    scenario.write_text(
        json.dumps(
            {
                "customers": [{"wa_id": "16505550123", "name": "Startup"}],
                "steps": [{"at": 0, "customer": 0, "kind": "text", "body": "boot"}],
            }
        )
    )
    process = subprocess.Popen(  # noqa: S603 - this checkout's emulator on loopback
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            str(port),
            "--config",
            str(config),
            "--workers",
            str(workers),
            "--scenario",
            str(scenario),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # a bare TCP check: no HTTP request may wake the emulator up
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        receiver.shutdown()
        receiver.server_close()


@pytest.mark.parametrize("live_emulator", [1, 2], ids=["1-worker", "2-workers"], indirect=True)
def test_end_to_end_over_loopback(live_emulator: str, capsys: pytest.CaptureFixture[str]) -> None:
    deadline = time.monotonic() + 30  # only a failing run waits this long
    while time.monotonic() < deadline and not any(b'"boot"' in body for body, _ in list(Receiver.bodies)):
        time.sleep(0.05)
    # The start-up scenario's customer wrote in before anyone called the emulator: the pump runs on its own.
    assert any(b'"boot"' in body for body, _ in list(Receiver.bodies))
    headers = {"authorization": "Bearer CLI-TOKEN"}
    inbound = httpx.post(
        f"{live_emulator}/_emulator/customers/16505551234/send", json={"kind": "text", "body": "hi"}
    )
    assert inbound.status_code == 200
    sent = httpx.post(
        f"{live_emulator}/v23.0/300000000000011/messages",
        headers=headers,
        json={
            "messaging_product": "whatsapp",
            "to": "16505551234",
            "type": "text",
            "text": {"body": "hello"},
        },
    )
    wamid = sent.json()["messages"][0]["id"]
    deadline = time.monotonic() + 30  # only a failing run waits this long
    statuses: list[str] = []
    while time.monotonic() < deadline and len(statuses) < 3:
        time.sleep(0.05)
        statuses = [
            s["status"]
            for body, _ in list(Receiver.bodies)
            for e in json.loads(body)["entry"]
            for c in e["changes"]
            for s in c["value"].get("statuses", [])
            if s["id"] == wamid
        ]
    assert sorted(statuses) == ["delivered", "read", "sent"]  # concurrent POSTs may land in any order
    assert all(verify("cli-secret", body, signature) for body, signature in Receiver.bodies)
    assert main(["inspect", "state", "--url", live_emulator]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["counts"]["messages"] == 1
    assert state["accounts"][0]["verification"]["ok"] is True
    # Whichever worker answers, it sees the same state (with 2 workers a single owner holds it).
    for _ in range(10):
        counts = httpx.get(f"{live_emulator}/_emulator/state").json()["counts"]
        assert (counts["messages"], counts["inbound"]) == (1, 2)  # ours + the start-up scenario's


def test_scenario_command(live_emulator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text('seed = 1\ngenerate_customers = 2\n[random]\ncount = 3\nspan = 0\nkinds = ["text"]\n')
    assert main(["scenario", str(path), "--url", live_emulator]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 3
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["scenario", str(broken), "--url", live_emulator]) == 1


def test_timeout_fault_is_ambiguous_like_meta(live_emulator: str) -> None:
    httpx.post(
        f"{live_emulator}/_emulator/faults",
        json={"endpoint": "messages", "kind": "timeout", "delay": 0.5, "count": 1},
    )
    message = {"messaging_product": "whatsapp", "to": "16505551234", "type": "text", "text": {"body": "x"}}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{live_emulator}/v23.0/300000000000011/messages",
            json=message,
            timeout=httpx.Timeout(10.0, read=0.2),
            headers={"authorization": "Bearer CLI-TOKEN"},
        )
    # The client gave up, yet the message was accepted: retries must be idempotent on the caller's side.
    deadline = time.monotonic() + 30
    messages = 0
    while time.monotonic() < deadline and messages == 0:
        time.sleep(0.1)
        messages = httpx.get(f"{live_emulator}/_emulator/state").json()["counts"]["messages"]
    assert messages == 1
