"""Serving the emulator with granian (ASGI). Workers import `emulator.server:create_app` as a factory.

One worker runs the whole emulator. With several workers, a separate state-owner process runs it and the
workers forward requests to it (`emulator.owner`), so state is shared and behaviour is unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulator.app import EmulatorApp
from emulator.config import EmulatorConfig, default_config, load_config
from emulator.owner import ProxyApp
from emulator.scenario import load_scenario, run_scenario

CONFIG_ENV = "CHATRK_EMULATOR_CONFIG"
SCENARIO_ENV = "CHATRK_EMULATOR_SCENARIO"
OWNER_ENV = "CHATRK_EMULATOR_OWNER_SOCKET"


def create_app() -> EmulatorApp | ProxyApp:
    owner = os.environ.get(OWNER_ENV)
    if owner:
        return ProxyApp(owner)
    path = os.environ.get(CONFIG_ENV)
    config: EmulatorConfig = load_config(Path(path)) if path else default_config()
    return with_startup_scenario(EmulatorApp(config))


def with_startup_scenario(app: EmulatorApp) -> EmulatorApp:
    """`serve --scenario FILE`: schedule the scenario's customers on the clock before the first request."""
    scenario = os.environ.get(SCENARIO_ENV)
    if scenario:
        run_scenario(app.emulator, load_scenario(Path(scenario)))
    return app


def _start_owner(socket_path: Path, config_path: Path | None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "emulator.owner", str(socket_path), str(config_path or "")]
    owner = subprocess.Popen(command)  # noqa: S603 - this package's own module
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        if owner.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the emulator state owner did not start")
        time.sleep(0.05)
    return owner


def serve(
    host: str,
    port: int,
    config_path: Path | None,
    workers: int = 1,
    log_access: bool = False,
    scenario_path: Path | None = None,
) -> None:
    """Block serving the emulator on host:port."""
    from granian import Granian
    from granian.constants import Interfaces

    config = config_path.resolve() if config_path is not None else None
    if config is not None:
        load_config(config)  # fail before forking anything
        os.environ[CONFIG_ENV] = str(config)
    if scenario_path is not None:
        load_scenario(scenario_path)
        os.environ[SCENARIO_ENV] = str(scenario_path.resolve())
    owner: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="chatrk-emulator-") as private:  # 0700: only we can connect
        if workers > 1:
            socket_path = Path(private) / "owner.sock"
            owner = _start_owner(socket_path, config)
            os.environ[OWNER_ENV] = str(socket_path)
        try:
            server = Granian(
                "emulator.server:create_app",
                address=host,
                port=port,
                interface=Interfaces.RSGI,
                workers=workers,
                factory=True,
                log_access=log_access,
                backlog=2048,
            )
            server.serve()
        finally:
            os.environ.pop(OWNER_ENV, None)
            if owner is not None:
                owner.terminate()
                owner.wait(timeout=10)
