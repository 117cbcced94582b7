"""Headers, cookies, client addresses and bad input (ASVS V3, V4.1.3, V14.2, V16.5)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, override_settings

from chatrk.accounts.middleware import client_ip
from chatrk.core.roles import Role
from chatrk.testing import add_member, make_user, make_workspace, next_code, signed_in

pytestmark = pytest.mark.django_db


def test_security_headers_on_every_page() -> None:
    response = Client().get("/login/", secure=True)
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cache-Control"] == "no-store"


def test_pages_contain_no_inline_script() -> None:
    user = make_user()
    workspace = make_workspace()
    add_member(workspace, user, Role.OWNER)
    client = signed_in(user)
    for path in [
        "/login/",
        f"/w/{workspace.slug}/inbox/",
        f"/w/{workspace.slug}/members/",
        "/account/",
        "/account/two-factor/",
        f"/w/{workspace.slug}/tokens/",
    ]:
        html = client.get(path).content.decode()
        for tag in html.split("<script")[1:]:
            assert tag.split(">", 1)[0].strip().startswith("src="), f"inline script on {path}"
        assert " style=" not in html and " on" + "click=" not in html


def test_session_and_csrf_cookies_are_host_prefixed_secure_httponly_samesite() -> None:
    user = make_user()
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    csrf = client.cookies[settings.CSRF_COOKIE_NAME]
    client.post("/login/", {"email": user.email, "password": "correct horse battery staple",
                            "csrfmiddlewaretoken": _form_token(client)})  # fmt: skip
    client.post(
        "/login/verify/",
        {"code": next_code(user), "csrfmiddlewaretoken": _form_token(client, "/login/verify/")},
    )
    session = client.cookies[settings.SESSION_COOKIE_NAME]
    for cookie in (session, csrf):
        assert cookie.key.startswith("__Host-")
        assert (
            cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
        )
        assert not cookie["domain"]


def _form_token(client: Client, path: str = "/login/") -> str:
    import re

    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(path).content.decode())
    assert match is not None
    return match.group(1)


def test_state_changes_need_the_csrf_token() -> None:
    user = make_user()
    client = signed_in(user, Client(enforce_csrf_checks=True))
    response = client.post("/account/sessions/revoke-others/")
    assert response.status_code == 403 and b"form expired" in response.content


def test_sign_out_is_not_reachable_by_get() -> None:
    assert Client().get("/logout/").status_code == 405


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.5", "1.2.3.4", [], "203.0.113.5"),  # no proxy configured: the header is ignored
        ("203.0.113.5", "1.2.3.4", ["10.0.0.0/8"], "203.0.113.5"),  # not from our proxy: spoof ignored
        ("10.0.0.2", "198.51.100.9", ["10.0.0.0/8"], "198.51.100.9"),
        ("10.0.0.2", "1.2.3.4, 198.51.100.9", ["10.0.0.0/8"], "198.51.100.9"),  # client-added hop ignored
        ("10.0.0.2", "198.51.100.9, 10.0.0.7", ["10.0.0.0/8"], "198.51.100.9"),  # two proxies
        ("10.0.0.2", "not-an-ip", ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", "", ["10.0.0.0/8"], "10.0.0.2"),
    ],
)
def test_the_client_address_comes_only_from_trusted_proxies(
    remote: str, forwarded: str, trusted: list[str], expected: str
) -> None:
    assert client_ip(remote, forwarded, trusted) == expected


@override_settings(TRUSTED_PROXIES=["127.0.0.1/32"])
def test_throttling_uses_the_real_client_address() -> None:
    from chatrk.accounts.models import LoginThrottle

    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.23")
    client.post("/login/", {"email": "a@example.org", "password": "wrong password here"})
    assert LoginThrottle.objects.filter(key="ip:198.51.100.23").exists()


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/login/", {"email": "not-an-email", "password": "x"}),
        ("/login/", {"email": "a@example.org"}),
        ("/login/", {"email": "a@example.org", "password": "x" * 5000}),
        ("/login/", {"email": ["a@example.org", "b@example.org"], "password": ["a", "b"]}),
    ],
)
def test_malformed_forms_get_a_clear_400(path: str, data: dict[str, object]) -> None:
    response = Client().post(path, data)
    assert response.status_code == 400
    assert b'role="alert"' in response.content


def test_oversized_bodies_are_refused_without_a_500() -> None:
    response = Client().post("/login/", {"email": "a@example.org", "password": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 400


def test_too_many_fields_are_refused_without_a_500() -> None:
    data = {f"f{i}": "x" for i in range(500)}
    assert Client().post("/login/", data).status_code == 400


def test_unknown_pages_answer_a_plain_404() -> None:
    response = Client().get("/no/such/page/")
    assert response.status_code == 404 and b"There is nothing here" in response.content


def test_workspace_pages_need_sign_in() -> None:
    workspace = make_workspace()
    response = Client().get(f"/w/{workspace.slug}/inbox/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
