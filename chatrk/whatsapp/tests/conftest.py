"""Meta's published payload samples live beside the project, in ``../shared/cloudapi/samples``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLES_DIR = REPO_ROOT / ".." / "shared" / "cloudapi" / "samples"


def samples_dir() -> Path:
    """The samples directory; fails the test under CI (where it must exist), skips it elsewhere."""
    if not SAMPLES_DIR.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"payload samples missing at {SAMPLES_DIR}")
        pytest.skip("payload samples not checked out beside the project")
    return SAMPLES_DIR


def sample_bytes(name: str) -> bytes:
    return (samples_dir() / name).read_bytes()
