"""Small helpers that turn environment variables into settings values."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


class ConfigError(ValueError):
    """A setting from the environment is malformed; the message says which and why."""


def var_dir() -> Path:
    path = Path(os.environ.get("CHATRK_VAR_DIR", "var")).resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def env_bool(name: str, *, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, *, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


def env_list(name: str, *, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def load_or_create_secret(path: Path, *, nbytes: int = 48) -> str:
    """Reads a generated secret, creating it (mode 0600, never overwritten) on first run."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


def database_from_url(url: str, sqlite_path: Path) -> dict[str, Any]:
    """The default database: PostgreSQL from ``postgresql://user:pass@host:port/name``, else SQLite."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not :memory:, so the browser tests' live server threads get connections of their own.
            "TEST": {"NAME": str(sqlite_path.with_name(f"test_{sqlite_path.name}"))},
            # Kept per thread: opening one costs five PRAGMAs, and closing the last one checkpoints the WAL.
            "CONN_MAX_AGE": 60,
        }
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ConfigError("DATABASE_URL must start with postgresql:// (SQLite is the default without it)")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "chatrk",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
