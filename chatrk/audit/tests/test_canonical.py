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


@pytest.mark.parametrize("bad", [1.5, [1], (1,), b"bytes", {1: "non-string key"}])
def test_values_outside_the_subset_are_refused(bad: object) -> None:
    with pytest.raises(NotCanonicalError):
        canonical_json({"k": bad})  # type: ignore[dict-item]


def test_integers_are_plain_decimals_and_large_ids_keep_every_digit() -> None:
    expected = b'{"id":7493989779944505345,"m":-9007199254740991,"n":9007199254740991}'
    assert canonical_json({"n": 2**53 - 1, "m": -(2**53 - 1), "id": 7493989779944505345}) == expected
