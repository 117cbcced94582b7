"""A strict, path-aware reader over decoded JSON, shared by the webhook and Graph parsers.

Every failure raises :class:`PayloadError` with the JSON path of the problem and what was expected,
never the offending value: values are customers' messages, names and numbers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from chatrk.whatsapp.enums import MetaEnum
from chatrk.whatsapp.errors import PayloadError
from chatrk.whatsapp.payloads import JsonValue

# Ids (wamids, wa_ids, phone-number ids, BSUIDs, media ids) are printable ASCII without spaces.
# wamids are base64-ish and run to ~100 characters; anything longer is not Meta.
_ID_FORMAT = re.compile(r"[\x21-\x7e]{1,256}")
_DIGITS = re.compile(r"[0-9]{1,12}")
# Meta's timestamps are unix seconds; refuse anything past year 2286 or before the epoch.
_MAX_SECONDS = 10**10 - 1
MAX_ITEMS = 1000  # Meta batches at most 1000 updates per POST


def decode_json(raw: bytes, *, limit: int) -> JsonValue:
    """Bytes to JSON, refusing oversized bodies, bad UTF-8, NaN/Infinity and absurd nesting."""
    if len(raw) > limit:
        raise PayloadError("body exceeds the size limit")
    try:
        text = raw.decode("utf-8")
        return cast(JsonValue, _DECODER.decode(text))
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8") from None
    except RecursionError:
        raise PayloadError("body is nested too deeply") from None
    except ValueError:  # JSONDecodeError, and ints longer than Python's digit limit
        raise PayloadError("body is not valid JSON") from None


def _refuse_constant(name: str) -> JsonValue:
    raise ValueError("non-finite number")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)  # json.loads with an option builds one a call


class Obj:
    """A JSON object at a known path. Unknown keys are ignored; known keys are type-checked."""

    __slots__ = ("data", "path")

    def __init__(self, data: JsonValue, path: str) -> None:
        if not isinstance(data, dict):
            raise PayloadError(f"{path}: expected an object")
        self.data: dict[str, JsonValue] = data
        self.path = path

    def _fail(self, key: str, expected: str) -> PayloadError:
        return PayloadError(f"{self.path}.{key}: expected {expected}")

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def string(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def opt_string(self, key: str) -> str | None:
        return self.string(key) if self.has(key) else None

    def ident(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or _ID_FORMAT.fullmatch(value) is None:
            raise self._fail(key, "an id (1-256 printable characters)")
        return value

    def opt_ident(self, key: str) -> str | None:
        return self.ident(key) if self.has(key) else None

    def numeric_id(self, key: str) -> str:
        """An id Meta sends as a JSON integer (``message_template_id``); strings of digits also pass."""
        value = self.data.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**20:
            return str(value)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
            return value
        raise self._fail(key, "a numeric id")

    def integer(self, key: str) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "an integer")
        return value

    def opt_integer(self, key: str) -> int | None:
        return self.integer(key) if self.has(key) else None

    def number(self, key: str) -> float:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(key, "a number")
        number = float(value)
        if not math.isfinite(number):  # json reads 1e999 as infinity
            raise self._fail(key, "a finite number")
        return number

    def opt_bool(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._fail(key, "a boolean")
        return value

    def flag(self, key: str) -> bool:
        return self.opt_bool(key) is True

    def timestamp(self, key: str) -> datetime:
        """Unix seconds, as Meta's string (messages, statuses) or integer (entry time)."""
        value = self.data.get(key)
        if isinstance(value, str) and _DIGITS.fullmatch(value):
            seconds = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        else:
            raise self._fail(key, "unix seconds")
        if not 0 <= seconds <= _MAX_SECONDS:
            raise self._fail(key, "unix seconds in range")
        return datetime.fromtimestamp(seconds, tz=UTC)

    def opt_timestamp(self, key: str) -> datetime | None:
        return self.timestamp(key) if self.has(key) else None

    def enum[E: MetaEnum](self, key: str, enum: type[E]) -> E:
        return enum.parse(self.string(key))

    def opt_enum[E: MetaEnum](self, key: str, enum: type[E]) -> E | None:
        return self.enum(key, enum) if self.has(key) else None

    def obj(self, key: str) -> Obj:
        return Obj(self.data.get(key), f"{self.path}.{key}")

    def opt_obj(self, key: str) -> Obj | None:
        return self.obj(key) if self.has(key) else None

    def array(self, key: str, *, limit: int = MAX_ITEMS) -> list[JsonValue]:
        """An optional array (absent or null means empty), capped at ``limit`` items."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, "an array")
        if len(value) > limit:
            raise self._fail(key, f"at most {limit} items")
        return value

    def objs(self, key: str, *, limit: int = MAX_ITEMS) -> list[Obj]:
        return [Obj(item, f"{self.path}.{key}[{i}]") for i, item in enumerate(self.array(key, limit=limit))]

    def each[T](self, key: str, parse: Callable[[Obj], T], *, limit: int = MAX_ITEMS) -> tuple[T, ...]:
        items = self.array(key, limit=limit)
        if not items:  # most arrays of a webhook are absent or empty (statuses, errors)
            return ()
        return tuple(parse(item) for item in self.objs(key, limit=limit))
