"""Serving the emulator with granian (ASGI). Workers import `emulator.server:create_app` as a factory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from emulator.app import EmulatorApp
from emulator.config import EmulatorConfig, default_config, load_config

CONFIG_ENV = "CHATRK_EMULATOR_CONFIG"


def create_app() -> EmulatorApp:
    path = os.environ.get(CONFIG_ENV)
    config: EmulatorConfig = load_config(Path(path)) if path else default_config()
    return EmulatorApp(config)


def serve(host: str, port: int, config_path: Path | None, workers: int = 1, log_access: bool = False) -> None:
    """Block serving the emulator. Each granian worker holds its own state (see docs/emulator.md)."""
    from granian import Granian
    from granian.constants import Interfaces

    if config_path is not None:
        os.environ[CONFIG_ENV] = str(config_path.resolve())
    if workers > 1:
        print(
            f"warning: {workers} workers are {workers} independent emulators (state is not shared); "
            "use 1 worker for windows, templates, media and scripted customers",
            file=sys.stderr,
        )
    server = Granian(
        "emulator.server:create_app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        log_access=log_access,
        backlog=2048,
    )
    server.serve()
