"""Passkeys (WebAuthn) as a second factor: registration, sign-in, and the answers an attacker could send.

A software authenticator makes real P-256 signatures, so every refusal here comes from a check that
would pass for an honest answer (the first tests show it does).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client

from chatrk.accounts.models import Passkey, PasskeyChallenge, User
from chatrk.accounts.tests.authenticator import AAGUID, SoftAuthenticator
from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.testing import PASSWORD, add_member, make_user, make_workspace, next_code, signed_in

pytestmark = pytest.mark.django_db

SITE = "https://chat.example.org"
RP_ID = "chat.example.org"


@pytest.fixture(autouse=True)
def public_url(settings: Any) -> None:
    settings.PUBLIC_URL = SITE


def authenticator(**overrides: Any) -> SoftAuthenticator:
    return SoftAuthenticator(origin=SITE, rp_id=RP_ID, **overrides)


def registration_options(client: Client) -> dict[str, Any]:
    response = client.post("/account/passkeys/options/")
    assert response.status_code == 200, response.content
    options: dict[str, Any] = response.json()
    return options


def register(client: Client, device: SoftAuthenticator, name: str = "Work laptop") -> Any:
    answer = device.create(registration_options(client))
    return client.post("/account/passkeys/add/", {"name": name, "credential": answer})


def user_with_passkey(device: SoftAuthenticator | None = None) -> tuple[User, SoftAuthenticator]:
    user, device = make_user(), device or authenticator()
    assert register(signed_in(user), device).status_code == 302
    return user, device


def pending(user: User) -> Client:
    """A browser past the password step, before the second factor."""
    client = Client()
    response = client.post("/login/", {"email": user.email, "password": PASSWORD})
    assert response["Location"] == "/login/verify/"
    return client


def sign_in_options(client: Client) -> dict[str, Any]:
    response = client.post("/login/verify/passkey/")
    assert response.status_code == 200, response.content
    options: dict[str, Any] = response.json()
    return options


def answer(client: Client, credential: str) -> Any:
    return client.post("/login/verify/", {"credential": credential})


def is_signed_in(client: Client) -> bool:
    return client.get("/account/").status_code == 200


def last_failure() -> AuditEvent:
    event: AuditEvent = AuditEvent.objects.filter(action="authn.login_failure").latest("id")
    return event


# --- registering -----------------------------------------------------------------------------------


def test_a_registered_passkey_keeps_only_what_verification_needs() -> None:
    user, device = user_with_passkey()
    passkey = Passkey.objects.get(user=user)
    assert bytes(passkey.credential_id) == device.credential_id
    assert passkey.name == "Work laptop" and passkey.sign_count == 0 and passkey.last_used_at is None
    assert passkey.aaguid == str(uuid.UUID(bytes=AAGUID))
    assert passkey.transports == ["internal", "hybrid"]
    handle = bytes(passkey.user_handle)
    assert len(handle) == 32 and handle == device.user_handle
    # Random, not derived from the user: no e-mail in it, and another user's handle differs. (Testing that
    # the id's digits are absent would fail by chance: 32 random bytes often contain a short digit run.)
    assert user.email.encode() not in handle
    event = AuditEvent.objects.get(action="2fa.passkey_added")
    assert event.target_kind == "passkey" and event.details["factor"] == "passkey"
    page = signed_in(user).get("/account/").content.decode()
    assert "Work laptop" in page and "never" in page
    other, _ = user_with_passkey()
    assert bytes(Passkey.objects.get(user=other).user_handle) != handle


def test_a_second_passkey_shares_the_handle_and_excludes_the_first() -> None:
    user, first = user_with_passkey()
    client = signed_in(user)
    options = registration_options(client)
    assert [c["id"] for c in options["excludeCredentials"]] == [json.loads(first.create(options))["id"]]
    second = authenticator()
    assert register(client, second, "Security key").status_code == 302
    handles = {bytes(h) for h in Passkey.objects.filter(user=user).values_list("user_handle", flat=True)}
    assert handles == {first.user_handle}


def test_registration_options_ask_for_user_verification_without_attestation() -> None:
    options = registration_options(signed_in(make_user()))
    assert options["rp"] == {"id": RP_ID, "name": "Chatrk"}
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["user"]["name"].endswith("@example.org")


@pytest.mark.parametrize(
    ("lie", "reason"), [({"origin": "https://chat.example.org.evil.test"}, "wrong_origin"),
                        ({"rp_id": "evil.test"}, "wrong_rp_id")]
)  # fmt: skip
def test_registration_from_another_site_is_refused(lie: dict[str, Any], reason: str) -> None:
    user = make_user()
    client = signed_in(user)
    answer_ = authenticator().create(registration_options(client), **lie)
    response = client.post("/account/passkeys/add/", {"name": "Phished", "credential": answer_})
    assert response.status_code == 400
    assert "could not be registered" in response.content.decode()
    assert not Passkey.objects.exists()
    assert AuditEvent.objects.get(action="2fa.passkey_add_failure").reason == reason


def test_registration_needs_recent_reauthentication() -> None:
    client = signed_in(make_user())
    with time_machine.travel(now() + timedelta(minutes=11)):
        assert (
            client.get("/account/passkeys/add/")["Location"] == "/account/reauth/?next=/account/passkeys/add/"
        )
        refused = client.post("/account/passkeys/options/")
        assert refused.status_code == 403 and "Confirm it is you" in refused.json()["error"]
    assert not PasskeyChallenge.objects.exists()


@pytest.mark.parametrize(
    ("credential", "message"),
    [("", "Your browser did not create a passkey"), ('{"id": 1}', "could not be registered"),
     ("not json at all", "could not be registered")],
)  # fmt: skip
def test_a_missing_or_malformed_answer_gets_a_clear_error(credential: str, message: str) -> None:
    client = signed_in(make_user())
    registration_options(client)
    response = client.post("/account/passkeys/add/", {"name": "Laptop", "credential": credential})
    assert response.status_code == 400 and message in response.content.decode()
    assert 'value="Laptop"' in response.content.decode()  # what was typed is kept


def test_passkeys_are_off_with_a_clear_message_at_an_ip_address(settings: Any) -> None:
    settings.PUBLIC_URL = "http://127.0.0.1:8000"
    response = signed_in(make_user()).post("/account/passkeys/options/")
    assert response.status_code == 409 and "domain name" in response.json()["error"]


# --- signing in ------------------------------------------------------------------------------------


def test_password_then_passkey_signs_in() -> None:
    user, device = user_with_passkey()
    workspace = make_workspace()
    add_member(workspace, user, Role.AGENT)
    client = pending(user)
    page = client.get("/login/verify/").content.decode()
    assert "Use a passkey" in page and "passkeys.js" in page
    options = sign_in_options(client)
    assert options["rpId"] == RP_ID and options["userVerification"] == "preferred"
    assert [c["id"] for c in options["allowCredentials"]] == [json.loads(device.get(options))["id"]]
    response = answer(client, device.get(options))
    assert response["Location"] == f"/w/{workspace.slug}/inbox/"
    assert is_signed_in(client)
    passkey = Passkey.objects.get(user=user)
    assert passkey.sign_count == device.sign_count and passkey.last_used_at is not None
    assert AuditEvent.objects.get(action="authn.login_success").details == {"factors": "password+passkey"}
    assert AuditEvent.objects.filter(action="authn.passkey_used", target_id=str(passkey.pk)).exists()


def test_without_a_passkey_the_page_offers_only_codes() -> None:
    client = pending(make_user())
    assert "Use a passkey" not in client.get("/login/verify/").content.decode()
    refused = client.post("/login/verify/passkey/")
    assert refused.status_code == 409 and "no passkey" in refused.json()["error"]


def test_options_need_the_password_step_first() -> None:
    response = Client().post("/login/verify/passkey/")
    assert response.status_code == 403 and "Start again" in response.json()["error"]


def test_a_replayed_assertion_is_refused() -> None:
    user, device = user_with_passkey()
    client = pending(user)
    captured = device.get(sign_in_options(client))
    assert answer(client, captured).status_code == 302
    client.post("/logout/")
    again = pending(user)
    sign_in_options(again)  # a fresh challenge is out, but the captured answer signed the old one
    response = answer(again, captured)
    assert response.status_code == 400 and "not accepted" in response.content.decode()
    assert not is_signed_in(again)
    assert last_failure().reason == "unknown_or_used_challenge"


def test_a_challenge_works_once_even_when_its_first_answer_failed() -> None:
    user, device = user_with_passkey()
    client = pending(user)
    options = sign_in_options(client)
    assert answer(client, device.get(options, origin="https://evil.test")).status_code == 400
    assert answer(client, device.get(options)).status_code == 400
    assert not is_signed_in(client)
    assert last_failure().reason == "unknown_or_used_challenge"


@pytest.mark.parametrize(
    ("lie", "reason"),
    [({"origin": "https://evil.test"}, "wrong_origin"),
     ({"origin": "http://chat.example.org"}, "wrong_origin"),
     ({"rp_id": "example.org"}, "wrong_rp_id")],
)  # fmt: skip
def test_an_assertion_for_another_site_is_refused(lie: dict[str, Any], reason: str) -> None:
    user, device = user_with_passkey()
    client = pending(user)
    assert answer(client, device.get(sign_in_options(client), **lie)).status_code == 400
    assert not is_signed_in(client)
    event = last_failure()
    assert event.reason == reason and event.details == {"factor": "passkey"}


def test_another_users_passkey_does_not_sign_this_user_in() -> None:
    alice, _ = user_with_passkey()
    _, mallory_device = user_with_passkey()
    client = pending(alice)
    options = sign_in_options(client)
    assert answer(client, mallory_device.get(options)).status_code == 400
    assert not is_signed_in(client)
    assert last_failure().reason == "not_this_users_credential"


def test_an_assertion_naming_another_user_handle_is_refused() -> None:
    user, device = user_with_passkey()
    client = pending(user)
    forged = device.get(sign_in_options(client), user_handle=b"\x01" * 32)
    assert answer(client, forged).status_code == 400
    assert last_failure().reason == "user_handle_mismatch"


def test_a_counter_that_goes_back_means_a_clone_and_is_refused() -> None:
    user, device = user_with_passkey()
    client = pending(user)
    assert answer(client, device.get(sign_in_options(client), sign_count=7)).status_code == 302
    clone = pending(user)
    assert answer(clone, device.get(sign_in_options(clone), sign_count=7)).status_code == 400
    assert last_failure().reason == "sign_count_regression"
    older = pending(user)
    assert answer(older, device.get(sign_in_options(older), sign_count=3)).status_code == 400
    assert Passkey.objects.get(user=user).sign_count == 7


def test_a_passkey_without_a_counter_signs_in_again_and_again() -> None:
    user, device = user_with_passkey(authenticator(counts=False))
    for _ in range(2):
        client = pending(user)
        assert answer(client, device.get(sign_in_options(client))).status_code == 302
    assert Passkey.objects.get(user=user).sign_count == 0


def test_an_expired_challenge_is_refused() -> None:
    user, device = user_with_passkey()
    client = pending(user)
    options = sign_in_options(client)
    with time_machine.travel(now() + timedelta(minutes=6)):  # the sign-in itself is still pending
        assert answer(client, device.get(options)).status_code == 400
        assert last_failure().reason == "unknown_or_used_challenge"


def test_a_challenge_from_another_browser_session_is_refused() -> None:
    user, device = user_with_passkey()
    victim, attacker = pending(user), pending(user)
    options = sign_in_options(victim)
    assert answer(attacker, device.get(options)).status_code == 400
    assert not is_signed_in(attacker)


def test_passkey_failures_count_in_the_second_factor_lane() -> None:
    user, device = user_with_passkey()
    client = pending(user)
    for _ in range(5):
        answer(client, device.get(sign_in_options(client), origin="https://evil.test"))
    throttled = answer(client, device.get(sign_in_options(client)))
    assert throttled.status_code == 429 and throttled["Retry-After"]
    assert client.post("/login/verify/", {"code": next_code(user)}).status_code == 429
    assert not is_signed_in(client)


def test_bad_input_gets_a_clear_refusal_never_a_crash() -> None:
    user, _ = user_with_passkey()
    client = pending(user)
    sign_in_options(client)
    for junk in ("", "{}", "[]", '{"id": "x", "rawId": "x", "response": {}}', "x" * 20_000):
        response = answer(client, junk)
        assert response.status_code == 400 and "not accepted" in response.content.decode()


def test_an_answer_is_refused_cleanly_when_passkeys_are_off(settings: Any) -> None:
    user, device = user_with_passkey()
    client = pending(user)
    options = sign_in_options(client)
    settings.PUBLIC_URL = "http://127.0.0.1:8000"  # the operator moved Chatrk to a bare address
    assert answer(client, device.get(options)).status_code == 400
    assert last_failure().reason == "passkeys_unavailable"


# --- removing --------------------------------------------------------------------------------------


def test_removing_a_passkey_needs_reauthentication_and_ends_other_sessions() -> None:
    user, _ = user_with_passkey()
    passkey = Passkey.objects.get(user=user)
    client, other = signed_in(user), signed_in(user)
    with time_machine.travel(now() + timedelta(minutes=11)):
        stale = client.post(f"/account/passkeys/{passkey.pk}/remove/")
        assert stale["Location"].startswith("/account/reauth/")
        assert Passkey.objects.filter(pk=passkey.pk).exists()
    assert client.post(f"/account/passkeys/{passkey.pk}/remove/")["Location"] == "/account/"
    assert not Passkey.objects.exists()
    assert AuditEvent.objects.get(action="2fa.passkey_removed").target_id == str(passkey.pk)
    assert other.get("/account/").status_code == 302


def test_the_last_second_factor_cannot_be_removed() -> None:
    user, _ = user_with_passkey()
    user.totp.delete()  # an account whose only factor is the passkey
    passkey = Passkey.objects.get(user=user)
    response = signed_in(user).post(f"/account/passkeys/{passkey.pk}/remove/")
    assert response.status_code == 409 and "only second factor" in response.content.decode()
    assert Passkey.objects.filter(pk=passkey.pk).exists()


def test_a_passkey_alone_satisfies_mandatory_two_factor() -> None:
    user, device = user_with_passkey()
    user.totp.delete()
    client = pending(user)
    assert client.get("/login/enrol/")["Location"] == "/login/verify/"
    assert answer(client, device.get(sign_in_options(client))).status_code == 302


def test_the_challenge_is_bound_to_a_hash_of_the_session() -> None:
    """The challenge row holds a keyed hash of the session, never the session key itself."""
    user, _ = user_with_passkey()
    client = pending(user)
    sign_in_options(client)
    row = PasskeyChallenge.objects.get(user=user, purpose="sign_in")
    session_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert session_key not in row.session_digest and len(row.session_digest) == 64


# --- re-authentication and first-run enrolment ------------------------------------------------------


def test_reauthentication_accepts_password_and_passkey() -> None:
    user, device = user_with_passkey()
    client = signed_in(user)
    with time_machine.travel(now() + timedelta(minutes=11)):
        page = client.get("/account/reauth/?next=/account/passkeys/add/").content.decode()
        assert "Confirm with a passkey" in page
        options = client.post("/account/reauth/passkey/").json()
        wrong_password = client.post(
            "/account/reauth/?next=/account/passkeys/add/",
            {"password": "not my password at all", "credential": device.get(options)},
        )
        assert (
            wrong_password.status_code == 400 and "password is not correct" in wrong_password.content.decode()
        )
        options = client.post("/account/reauth/passkey/").json()
        before = client.cookies[django_settings.SESSION_COOKIE_NAME].value
        ok = client.post(
            "/account/reauth/?next=/account/passkeys/add/",
            {"password": PASSWORD, "credential": device.get(options)},
        )
        assert ok["Location"] == "/account/passkeys/add/"
        assert client.cookies[django_settings.SESSION_COOKIE_NAME].value != before
        assert client.get("/account/passkeys/add/").status_code == 200
    event = AuditEvent.objects.get(action="authn.reauthenticated")
    assert event.details == {"factors": "password+passkey"}


def test_reauthentication_refuses_a_replayed_passkey_answer() -> None:
    user, device = user_with_passkey()
    client = signed_in(user)
    captured = device.get(client.post("/account/reauth/passkey/").json())
    assert client.post("/account/reauth/", {"password": PASSWORD, "credential": captured}).status_code == 302
    again = client.post("/account/reauth/", {"password": PASSWORD, "credential": captured})
    assert again.status_code == 400 and "passkey was not accepted" in again.content.decode()


def test_a_new_account_may_enrol_a_passkey_instead_of_an_app() -> None:
    user = make_user(with_totp=False)
    workspace = make_workspace()
    add_member(workspace, user, Role.AGENT)
    client = pending_enrolment(user)
    assert "Use a passkey instead" in client.get("/login/enrol/").content.decode()
    page = client.get("/login/enrol/passkey/").content.decode()
    assert "Set up a passkey" in page and "/login/enrol/passkey/options/" in page
    device = authenticator()
    options = client.post("/login/enrol/passkey/options/").json()
    response = client.post("/login/enrol/passkey/", {"name": "Phone", "credential": device.create(options)})
    assert response.status_code == 200 and response.content.decode().count("<li><code>") == 10
    assert is_signed_in(client) and Passkey.objects.filter(user=user).count() == 1
    assert AuditEvent.objects.get(action="authn.login_success").details == {"factors": "password+passkey"}
    later = pending(user)  # the passkey is now the factor; the app is not required
    assert answer(later, device.get(sign_in_options(later))).status_code == 302


def test_first_run_passkey_enrolment_is_closed_once_a_factor_exists() -> None:
    user = make_user()  # has an authenticator app
    client = pending(user)
    assert client.get("/login/enrol/passkey/")["Location"] == "/login/?expired=pending"
    assert client.post("/login/enrol/passkey/options/").status_code == 403
    assert Client().post("/login/enrol/passkey/options/").status_code == 403


def pending_enrolment(user: User) -> Client:
    client = Client()
    response = client.post("/login/", {"email": user.email, "password": PASSWORD})
    assert response["Location"] == "/login/enrol/"
    return client
