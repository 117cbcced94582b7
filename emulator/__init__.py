"""WhatsApp Cloud API emulator: a stateful local Graph API with signed webhooks and scripted customers.

Imports nothing from `chatrk`. Start it with `python -m emulator` / `chatrk emulator`, or in-process
with `emulator.testing.EmulatorServer`. Guide: docs/emulator.md.
"""

from emulator.app import EmulatorApp
from emulator.config import EmulatorConfig, default_config, load_config
from emulator.core import Emulator

__all__ = ["Emulator", "EmulatorApp", "EmulatorConfig", "default_config", "load_config"]
