"""seal/unseal: system secrets under the SYSTEM data key, which the KEK provider wraps."""

from __future__ import annotations

import pytest

from chatrk.crypto.errors import DecryptionFailed, UnknownFormat
from chatrk.crypto.models import DataKey, KeyKind
from chatrk.crypto.system import seal, unseal

pytestmark = pytest.mark.django_db

SEED = b"JBSWY3DPEHPK3PXP-totp-seed"


def test_round_trip_and_no_plaintext() -> None:
    blob = seal(SEED, context="totp:1")
    assert SEED not in blob
    assert blob[0] == 0x02
    assert unseal(blob, context="totp:1") == SEED


def test_uses_one_system_key_wrapped_by_the_kek() -> None:
    seal(SEED, context="a")
    seal(SEED, context="b")
    key = DataKey.objects.get(kind=KeyKind.SYSTEM)
    assert key.workspace_id is None
    assert key.kek_id == "file:1"
    assert key.parent_id is None


def test_context_binds_the_secret() -> None:
    with pytest.raises(DecryptionFailed):
        unseal(seal(SEED, context="totp:1"), context="totp:2")


def test_tampering_fails() -> None:
    blob = bytearray(seal(SEED, context="c"))
    blob[-3] ^= 0x10
    with pytest.raises(DecryptionFailed):
        unseal(bytes(blob), context="c")
    with pytest.raises(UnknownFormat):
        unseal(b"\x01" + bytes(blob[1:]), context="c")
    with pytest.raises(DecryptionFailed):
        unseal(b"\x02\x00", context="c")
