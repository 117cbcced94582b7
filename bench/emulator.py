"""``python bench/emulator.py``: the emulator's throughput benchmark (the code is in emulator_load.py,
a name mypy can check beside the ``emulator`` package)."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).with_name("emulator_load.py")), run_name="__main__")
