"""Canonical JSON for audit entries: the RFC 8785 (JCS) subset that audit events use.

Audit entries only hold strings, integers, booleans, null and nested objects with ASCII keys. For
that subset, sorted keys, no whitespace and UTF-8 with minimal escaping *is* RFC 8785:

* keys are ASCII, so Python's code-point order equals JCS's UTF-16 code-unit order;
* ``json.dumps`` escapes exactly ``"``, ``\\`` and the C0 controls (``\\b \\t \\n \\f \\r`` short forms,
  ``\\u00xx`` in lower-case hex otherwise), as JCS does, and leaves everything else as UTF-8;
* integers within ±(2**53 - 1) are plain decimals, exactly JCS's IEEE-754 number form.

One documented deviation: integers beyond ±(2**53 - 1) (e.g. 63-bit random ids) are written as their
exact decimal digits, where JCS would first round them to a double. Both databases store such
integers exactly, so the entry stays a deterministic function of the stored event; verifiers hash
the entry bytes the log serves rather than re-serialising them.

Floats, lists and non-ASCII keys are refused rather than canonicalised approximately.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

type Canonical = str | int | bool | Mapping[str, Canonical] | None


class NotCanonicalError(ValueError):
    """A value outside the subset this module canonicalises exactly."""


def canonical_json(value: Mapping[str, Canonical]) -> bytes:
    _check(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check(value: object) -> None:
    if value is None or isinstance(value, (str, bool)):
        return
    if isinstance(value, int):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise NotCanonicalError("object keys must be ASCII strings")
            _check(item)
        return
    raise NotCanonicalError(f"{type(value).__name__} is outside the canonical subset")
