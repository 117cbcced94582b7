"""The multi-worker path: ProxyApp workers forwarding to one OwnerProtocol state owner."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import httpx

from emulator.app import EmulatorApp
from emulator.config import DEFAULT_TOKEN, default_config
from emulator.owner import OwnerProtocol, ProxyApp
from emulator.tests.conftest import CUSTOMER, PHONE

MESSAGE = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "hi"}}


async def scenario(socket_path: str) -> dict[str, Any]:
    app = EmulatorApp(default_config().with_behaviour(time_scale=0.0))
    await app.start()
    loop = asyncio.get_running_loop()
    server = await loop.create_unix_server(lambda: OwnerProtocol(app), path=socket_path)
    workers = [ProxyApp(socket_path), ProxyApp(socket_path)]
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=w),
            base_url="http://emulator.test",
            headers={"authorization": f"Bearer {DEFAULT_TOKEN}"},
        )
        for w in workers
    ]
    results: dict[str, Any] = {}
    try:
        await clients[0].post(f"/_emulator/customers/{CUSTOMER}/send", json={"kind": "text", "body": "hi"})
        sent = await clients[1].post(f"/v23.0/{PHONE}/messages", json=MESSAGE)  # the other worker
        results["sent"] = sent.status_code
        results["messages"] = (await clients[0].get("/_emulator/state")).json()["counts"]["messages"]
        await clients[1].post(
            "/_emulator/faults", json={"endpoint": "messages", "kind": "slow", "delay": 0.01}
        )
        results["slow"] = (await clients[0].post(f"/v23.0/{PHONE}/messages", json=MESSAGE)).status_code
        results["settle"] = (await clients[1].post("/_emulator/settle")).json()

        def broken(request: Any) -> Any:
            raise RuntimeError("bug")

        app.dispatch = broken  # type: ignore[method-assign]
        failure = await clients[0].get("/_emulator/state")
        results["bug"] = (failure.status_code, failure.json()["error"]["code"])
        for worker in workers:
            worker.close()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.01)
        down = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=ProxyApp(socket_path)), base_url="http://e.test"
        )
        results["owner_down"] = (await down.get("/_emulator/state")).status_code
        await down.aclose()
    finally:
        for client in clients:
            await client.aclose()
        await app.stop()
    return results


def test_workers_share_one_owner() -> None:
    with tempfile.TemporaryDirectory() as private:
        results = asyncio.run(scenario(str(Path(private) / "owner.sock")))
    assert results["sent"] == 200
    assert results["messages"] == 1  # the send went through worker 2, the count was read through worker 1
    assert results["slow"] == 200
    assert results["settle"] == {"ok": True}
    assert results["bug"] == (500, 131000)
    assert results["owner_down"] == 503
