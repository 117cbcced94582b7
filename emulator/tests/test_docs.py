"""docs/emulator.md stays true: its config example loads and its test example runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from emulator.config import config_from_dict
from emulator.scenario import load_scenario

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_config_example_loads() -> None:
    [example] = blocks("toml")
    config = config_from_dict(tomllib.loads(example))
    assert config.accounts[0].messaging_tier == "TIER_250"
    assert config.behaviour.pair_burst == 45


def test_the_scenario_example_loads(tmp_path: Path) -> None:
    [example] = blocks("json")
    path = tmp_path / "scenario.json"
    path.write_text(example)
    assert load_scenario(path)["generate_customers"] == 20


def test_the_testing_example_runs() -> None:
    example = next(b for b in blocks("python") if "EmulatorServer" in b)
    exec(compile(example, str(DOC), "exec"), {})  # noqa: S102 - our own documentation
