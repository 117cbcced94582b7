"""X-Hub-Signature-256 verification and the GET subscription handshake."""

from __future__ import annotations

import pytest

from chatrk.whatsapp.signature import expected_signature, verify_signature, verify_subscription

SECRET = b"TEST_APP_SECRET"
META_VECTOR = "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221"


def test_meta_test_vector_verifies() -> None:
    assert expected_signature(SECRET, b"test") == META_VECTOR
    assert verify_signature(SECRET, b"test", META_VECTOR)


def test_upper_case_hex_is_accepted() -> None:
    assert verify_signature(SECRET, b"test", "sha256=" + META_VECTOR[7:].upper())


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (b"OTHER_SECRET", b"test", META_VECTOR),  # wrong key
        (SECRET, b"test ", META_VECTOR),  # body changed by one byte
        (SECRET, b'{"a":1}', expected_signature(SECRET, b'{"a": 1}')),  # re-serialised JSON
        (SECRET, b"test", None),  # header missing
        (SECRET, b"test", ""),
        (b"", b"test", expected_signature(b"", b"test")),  # no secret configured: fail closed
        (SECRET, b"test", META_VECTOR[7:]),  # no "sha256=" prefix
        (SECRET, b"test", "sha1=" + META_VECTOR[7:]),
        (SECRET, b"test", "SHA256=" + META_VECTOR[7:]),
        (SECRET, b"test", META_VECTOR + " "),  # trailing junk
        (SECRET, b"test", " " + META_VECTOR),
        (SECRET, b"test", META_VECTOR[:-2]),  # truncated
        (SECRET, b"test", META_VECTOR + "00"),  # too long
        (SECRET, b"test", META_VECTOR[:-1] + "g"),  # not hex
        (SECRET, b"test", f"{META_VECTOR},{META_VECTOR}"),  # two signatures
    ],
)
def test_anything_but_an_exact_signature_fails(secret: bytes, body: bytes, header: str | None) -> None:
    assert not verify_signature(secret, body, header)


def test_signature_covers_the_raw_bytes_of_a_real_body() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    header = expected_signature(b"s3cret", body)
    assert verify_signature(b"s3cret", body, header)
    assert not verify_signature(b"s3cret", body.replace(b"[]", b"[ ]"), header)


VERIFY_TOKEN = "vt-123"


def handshake(
    mode: str = "subscribe", token: str = VERIFY_TOKEN, challenge: str = "1158201444"
) -> dict[str, str]:
    return {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}


def test_handshake_echoes_the_challenge_when_the_token_matches() -> None:
    assert verify_subscription(handshake(), "vt-123") == "1158201444"


@pytest.mark.parametrize(
    ("params", "configured"),
    [
        (handshake(token="wrong"), "vt-123"),
        (handshake(mode="unsubscribe"), "vt-123"),
        (handshake(), ""),  # no token configured: never accept, not even an empty one
        (handshake(token=""), ""),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, "vt-123"),
        (handshake(challenge=""), "vt-123"),
        (handshake(challenge="<script>alert(1)</script>"), "vt-123"),  # echoed as the body: refused
        (handshake(challenge="1" * 257), "vt-123"),
    ],
)
def test_handshake_refuses(params: dict[str, str], configured: str) -> None:
    assert verify_subscription(params, configured) is None
