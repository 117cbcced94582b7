"""WebAuthn (passkeys) as a second factor, through the `webauthn` package: options and verification.

The relying party is Chatrk at ``PUBLIC_URL``: its host is the RP ID and its scheme, host and port the
only origin accepted. Nothing here touches the database; the account actions keep the challenges and
credentials.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import webauthn
from django.conf import settings
from webauthn.helpers import parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.parse_authentication_credential_json import parse_authentication_credential_json
from webauthn.helpers.parse_registration_credential_json import parse_registration_credential_json
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

CHALLENGE_BYTES = 32
CHALLENGE_TTL = timedelta(minutes=5)
USER_HANDLE_BYTES = 32
BROWSER_TIMEOUT_MS = 120_000  # the browser's prompt gives up before the challenge expires
MAX_RESPONSE_CHARS = 16_000  # a real response is 1-3 kB; anything far larger is not one
RP_NAME = "Chatrk"


class PasskeyRejected(Exception):
    """A passkey response failed a check; ``reason`` is a short code for the audit record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PasskeysUnavailable(Exception):
    """PUBLIC_URL is not an address browsers allow passkeys on."""


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    origin: str


@dataclass(frozen=True, slots=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: list[str]


def relying_party() -> RelyingParty:
    """Chatrk as browsers see it. Browsers refuse IP addresses as RP IDs, and plain http except on
    localhost, so such a PUBLIC_URL turns passkeys off with a clear message instead of a browser error."""
    url = urlsplit(settings.PUBLIC_URL)
    host = url.hostname or ""
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    local = host == "localhost" or host.endswith(".localhost")
    if not host or is_ip or (url.scheme != "https" and not local):
        raise PasskeysUnavailable(
            "Passkeys need Chatrk to be served over https at a domain name (PUBLIC_URL), "
            "or at http://localhost for a trial."
        )
    return RelyingParty(id=host, origin=f"{url.scheme}://{url.netloc}")


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def new_user_handle() -> bytes:
    return secrets.token_bytes(USER_HANDLE_BYTES)


def digest(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _descriptor(credential_id: bytes, transports: list[str]) -> PublicKeyCredentialDescriptor:
    known = {t.value for t in AuthenticatorTransport}
    return PublicKeyCredentialDescriptor(
        id=credential_id, transports=[AuthenticatorTransport(t) for t in transports if t in known]
    )


def registration_options(
    rp: RelyingParty,
    *,
    challenge: bytes,
    user_handle: bytes,
    account: str,
    display_name: str,
    existing: list[tuple[bytes, list[str]]],
) -> str:
    options = webauthn.generate_registration_options(
        rp_id=rp.id,
        rp_name=RP_NAME,
        user_id=user_handle,
        user_name=account,
        user_display_name=display_name,
        challenge=challenge,
        timeout=BROWSER_TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(cid, transports) for cid, transports in existing],
    )
    return str(webauthn.options_to_json(options))


def authentication_options(
    rp: RelyingParty, *, challenge: bytes, allowed: list[tuple[bytes, list[str]]]
) -> str:
    options = webauthn.generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=BROWSER_TIMEOUT_MS,
        allow_credentials=[_descriptor(cid, transports) for cid, transports in allowed],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return str(webauthn.options_to_json(options))


def _check_size(text: str) -> None:
    if not text or len(text) > MAX_RESPONSE_CHARS:
        raise PasskeyRejected("malformed")


def parse_registration(text: str) -> RegistrationCredential:
    _check_size(text)
    try:
        return parse_registration_credential_json(text)
    except (WebAuthnException, ValueError, TypeError, AttributeError) as error:
        raise PasskeyRejected("malformed") from error


def parse_assertion(text: str) -> AuthenticationCredential:
    _check_size(text)
    try:
        return parse_authentication_credential_json(text)
    except (WebAuthnException, ValueError, TypeError, AttributeError) as error:
        raise PasskeyRejected("malformed") from error


def challenge_in(client_data_json: bytes) -> bytes:
    """The challenge the browser signed over, to find the server's record of it."""
    try:
        challenge: bytes = parse_client_data_json(client_data_json).challenge
    except (WebAuthnException, ValueError, TypeError, KeyError, json.JSONDecodeError) as error:
        raise PasskeyRejected("malformed") from error
    return challenge


def _reason(error: Exception) -> str:
    """A short, stable code for why the library refused a response (audit records and tests read it)."""
    text = str(error).lower()
    for needle, reason in (
        ("origin", "wrong_origin"),
        ("rp id", "wrong_rp_id"),
        ("challenge", "wrong_challenge"),
        ("sign count", "sign_count_regression"),
        ("type", "wrong_type"),
        ("present", "user_not_present"),
        ("signature", "bad_signature"),
    ):
        if needle in text:
            return reason
    return "invalid"


def verify_registration(
    credential: RegistrationCredential, *, challenge: bytes, rp: RelyingParty
) -> NewCredential:
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except WebAuthnException as error:
        raise PasskeyRejected(_reason(error)) from error
    transports = [t.value for t in credential.response.transports or []]
    return NewCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=transports,
    )


def verify_assertion(
    credential: AuthenticationCredential,
    *,
    challenge: bytes,
    rp: RelyingParty,
    public_key: bytes,
    sign_count: int,
) -> int:
    """The authenticator's new signature counter. A counter that did not grow (unless both are 0, as
    with passkeys that keep no counter) means a cloned authenticator: the library refuses it."""
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
        )
    except WebAuthnException as error:
        raise PasskeyRejected(_reason(error)) from error
    return int(verified.new_sign_count)
