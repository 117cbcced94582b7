from __future__ import annotations

import pytest

from chatrk.audit.canonical import Canonical, NotCanonicalError, canonical_json


def test_sorted_keys_no_whitespace_utf8() -> None:
    value: dict[str, Canonical] = {
        "b": 1,
        "a": {"d": True, "c": None},
        "é": "x",
        "s": 'ünïcode\n"q" \\ \x01 \x7f',
    }
    with pytest.raises(NotCanonicalError):
        canonical_json(value)  # "é" is not an ASCII key
    del value["é"]
    assert canonical_json(value) == (
        b'{"a":{"c":null,"d":true},"b":1,"s":"' + "ünïcode".encode() + b'\\n\\"q\\" \\\\ \\u0001 \x7f"}'
    )


@pytest.mark.parametrize("bad", [1.5, [1], 2**53, -(2**53), b"bytes"])
def test_values_outside_the_subset_are_refused(bad: object) -> None:
    with pytest.raises(NotCanonicalError):
        canonical_json({"k": bad})  # type: ignore[dict-item]


def test_largest_safe_integer_is_plain_decimal() -> None:
    expected = b'{"m":-9007199254740991,"n":9007199254740991}'
    assert canonical_json({"n": 2**53 - 1, "m": -(2**53 - 1)}) == expected
