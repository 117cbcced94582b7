"""A software WebAuthn authenticator for tests: real P-256 keys, real signatures, "none" attestation.

It answers the options Chatrk sends as a browser would, and lets a test lie where an attacker could:
another origin, another RP ID, an old signature counter, a replayed answer.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.encode_cbor import encode_cbor

AAGUID = bytes.fromhex("a4e9fc6d4cbe4758b8ba37598bb5bbaa")
UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return str(bytes_to_base64url(data))


@dataclass
class SoftAuthenticator:
    origin: str
    rp_id: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sign_count: int = 0
    counts: bool = True  # False: a passkey that keeps no counter (always 0), as synced passkeys do
    user_handle: bytes = b""

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        cose = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        return bytes(encode_cbor(cose))

    def _auth_data(self, rp_id: str, flags: int, attested: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + attested

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict[str, Any], *, origin: str = "", rp_id: str = "") -> str:
        """The registration response (JSON) for creation options, as passkeys.js would post it."""
        self.user_handle = base64url_to_bytes(options["user"]["id"])
        attested = AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key()
        auth_data = self._auth_data(rp_id or self.rp_id, UP | UV | AT, attested)
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin or self.origin)
        return json.dumps(
            {
                "id": b64(self.credential_id),
                "rawId": b64(self.credential_id),
                "type": "public-key",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64(client_data),
                    "attestationObject": b64(bytes(attestation)),
                    "transports": ["internal", "hybrid"],
                },
            }
        )

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str = "",
        rp_id: str = "",
        sign_count: int | None = None,
        user_handle: bytes | None = None,
    ) -> str:
        """An assertion (JSON) for request options; each call advances the counter unless told otherwise."""
        if sign_count is not None:
            self.sign_count = sign_count
        elif self.counts:
            self.sign_count += 1
        auth_data = self._auth_data(rp_id or self.rp_id, UP | UV)
        client_data = self._client_data("webauthn.get", options["challenge"], origin or self.origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        handle = self.user_handle if user_handle is None else user_handle
        return json.dumps(
            {
                "id": b64(self.credential_id),
                "rawId": b64(self.credential_id),
                "type": "public-key",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64(client_data),
                    "authenticatorData": b64(auth_data),
                    "signature": b64(signature),
                    "userHandle": b64(handle) if handle else None,
                },
            }
        )
