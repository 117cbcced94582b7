from __future__ import annotations

from collections.abc import Callable


def announce_setup_link(say: Callable[[str], None]) -> None:
    pass
