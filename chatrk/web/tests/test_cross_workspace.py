"""A member of one workspace walks every page and API operation of another and gets 404, never data.

The walk reads the URL configuration and the OpenAPI schema, so routes added later are walked too;
a route with a new kind of id fails here until the walk is given a victim object of that kind.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from chatrk.accounts.actions import create_api_token
from chatrk.accounts.scopes import Scope
from chatrk.api.router import api
from chatrk.audit.actions import SYSTEM, Origin
from chatrk.audit.models import AuditEvent
from chatrk.audit.sequencer import sequence_pending
from chatrk.consent.models import ReviewItem
from chatrk.core.actions import invite
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.inbox.canned import create_canned
from chatrk.inbox.models import Media
from chatrk.inbox.work import add_label, create_label
from chatrk.msgtemplates.testing import make_template
from chatrk.policy.actions import hold_for_review
from chatrk.policy.engine import check_text
from chatrk.policy.models import HeldKind
from chatrk.testing import (
    WORKSPACE_PREFIX,
    add_member,
    all_routes,
    fill,
    make_channel,
    make_conversation,
    make_message,
    make_user,
    make_workspace,
    signed_in,
)

pytestmark = pytest.mark.django_db

type Victim = dict[str, Any]
type Attacker = tuple[Client, str, str]

# Routes that are not inside a workspace, and why they are safe to leave out of the walk.
NOT_TENANT_ROUTES = {
    "accounts:home",
    "accounts:login",
    "accounts:verify",
    "accounts:enrol",
    "accounts:logout",
    "accounts:security",
    "accounts:reauth",
    "accounts:password",
    "accounts:email",
    "accounts:reenrol",
    "accounts:recovery_codes",  # the signed-in user's own account
    "accounts:revoke_session", "accounts:revoke_other_sessions",  # own sessions only: tested below
    "accounts:passkey_add", "accounts:passkey_register_options",  # the signed-in user's own passkeys
    "accounts:passkey_remove",  # own passkeys only: tested below
    "accounts:passkey_sign_in_options", "accounts:reauth_passkey_options",  # the user's own passkeys
    "accounts:passkey_enrol", "accounts:passkey_enrol_options",  # the pending sign-in's own user
    "accounts:setup", "accounts:setup_link",  # the first-run secret link
    "accounts:invitation", "accounts:invitation_link",  # invitation secret links
    "accounts:password_reset", "accounts:password_reset_link",  # password-reset secret links
    "api:api-root", "api:openapi-json",  # the API is walked through its schema below
    "consent:optin",  # the public opt-in page: shows only the published wording, writes only new consent
    "ingest:whatsapp_webhook",  # Meta's callback: the secret webhook key and the app secret's signature
}  # fmt: skip


@pytest.fixture
def victim() -> Victim:
    workspace = make_workspace("Victim Corp")
    owner = add_member(workspace, make_user(name="Vera Victim"), Role.OWNER)
    agent = add_member(workspace, make_user(name="Viktor Victim"), Role.AGENT)
    invitation, _ = invite(owner, email="victim.invitee@example.org", role="agent", origin=Origin())
    token, _ = create_api_token(owner, name="victim-sync", scopes=list(Scope), days=30, origin=Origin())
    template = make_template(workspace, name="victim_secret_offer", stage="in_review")
    held = hold_for_review(
        workspace.pk,
        check_text("Get cheap vapes now https://bit.ly/x"),
        kind=HeldKind.MESSAGE,
        ref_id=1,
        text="Victim held text",
    )
    channel = make_channel(owner)
    conversation = make_conversation(channel, "447700900555", name="Valentina Customer")
    message = make_message(conversation, "victim's private message")
    saved_reply = create_canned(owner, "victim-hours", "Victim canned wording")
    label = create_label(workspace.pk, "victim-vip-label", actor=SYSTEM, origin=Origin())
    add_label(conversation, label, actor=SYSTEM, origin=Origin())
    media = Media.objects.create(
        workspace=workspace, message=message, contact_id=conversation.contact_id, mime_type="image/png",
        size=3, stored_at=now(), created_at=now(),
    )  # fmt: skip
    consent_review = ReviewItem.objects.create(
        workspace=workspace, contact_id=conversation.contact_id, created_at=now()
    )
    sequence_pending()  # audit events get their leaf index after commit; tests never commit
    event = AuditEvent.objects.filter(workspace_id=workspace.pk).order_by("seq").first()
    assert event is not None and event.seq is not None
    ids = {
        "member_id": agent.pk, "invitation_id": invitation.pk, "token_id": token.pk, "seq": event.seq,
        "template_id": template.pk, "review_id": held.pk, "consent_review_id": consent_review.pk,
        "channel_id": channel.pk, "contact_id": conversation.contact_id, "conversation_id": conversation.pk,
        "message_id": message.pk, "canned_id": saved_reply.pk, "label_id": label.pk, "media_id": media.pk,
    }  # fmt: skip
    secrets = [workspace.name, "Vera Victim", "Viktor Victim", "victim.invitee", "victim-sync",
               "victim_secret_offer", "Victim held text",
               "Valentina", "447700900555", "private message", channel.phone_number_id,
               "victim-hours", "Victim canned wording", "victim-vip-label"]  # fmt: skip
    return {"workspace": workspace, "ids": {k: str(v) for k, v in ids.items()}, "secrets": secrets}


@pytest.fixture
def attacker() -> Attacker:
    workspace = make_workspace("Attacker Ltd")
    owner = add_member(workspace, role=Role.OWNER)
    _, token = create_api_token(owner, name="attacker", scopes=list(Scope), days=30, origin=Origin())
    return signed_in(owner.user), workspace.slug, token


def assert_nothing_leaks(response: Any, victim: Victim, where: str) -> None:
    body = response.content.decode(errors="replace")
    for secret in victim["secrets"]:
        assert secret not in body, f"{where} leaked {secret!r}"


def test_every_route_is_walked_or_deliberately_left_out() -> None:
    names = {name for pattern, name in all_routes() if not pattern.startswith(WORKSPACE_PREFIX)}
    names = {n for n in names if not n.startswith("api:") or n in {"api:api-root", "api:openapi-json"}}
    assert names - NOT_TENANT_ROUTES == set(), "new non-workspace routes need a decision in NOT_TENANT_ROUTES"


@pytest.mark.parametrize("method", ["get", "post"])
def test_pages_of_another_workspace_answer_404(method: str, victim: Victim, attacker: Attacker) -> None:
    client, own_slug, _ = attacker
    walked = 0
    for pattern, name in all_routes():
        if not pattern.startswith(WORKSPACE_PREFIX):
            continue
        ids = victim["ids"]
        for slug in (victim["workspace"].slug, own_slug):  # their workspace, and their objects through ours
            if slug == own_slug and pattern.count("<") == 1:
                continue  # no object id: the page is the attacker's own
            url = fill(pattern, {"ws": slug, **ids})
            response = getattr(client, method)(url)
            if (
                response.status_code == 405
            ):  # wrong method on our own route: the answer must not depend on the id
                nowhere = fill(pattern, {"ws": slug, **dict.fromkeys(ids, "999999")})
                assert getattr(client, method)(nowhere).status_code == 405
            else:
                assert response.status_code == 404, (
                    f"{method.upper()} {url} ({name}) → {response.status_code}"
                )
            assert_nothing_leaks(response, victim, url)
            walked += 1
    assert walked >= 10


def example_of(schema: dict[str, Any], definitions: dict[str, Any]) -> Any:
    """A minimal valid value for a JSON schema, so a request body passes validation and the handler
    (not the validator) answers: the handler must then refuse the other workspace's id."""
    if "$ref" in schema:
        return example_of(definitions[schema["$ref"].rsplit("/", 1)[1]], definitions)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return example_of(schema[key][0], definitions)
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("examples"):  # e.g. an id: a string of digits
        return schema["examples"][0]
    kind = schema.get("type")
    if kind == "string" and schema.get("format") == "binary":
        return SimpleUploadedFile("x.txt", b"x", content_type="text/plain")
    if kind == "string":
        return "x" * max(1, int(schema.get("minLength", 1)))
    if kind in {"integer", "number"}:
        return max(1, int(schema.get("minimum", 1)))
    if kind == "array":
        return [example_of(schema.get("items", {}), definitions)] * int(schema.get("minItems", 0))
    examples = {"boolean": False, "null": None}
    if kind == "object" or "properties" in schema:
        return {
            name: example_of(value, definitions)
            for name, value in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    return examples.get(str(kind), "x")


def test_api_operations_never_reach_another_workspace(victim: Victim, attacker: Attacker) -> None:
    _, _, token = attacker
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    schema = api.get_openapi_schema()
    definitions = schema.get("components", {}).get("schemas", {})
    walked = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            url = path.replace("/api/v1", "/api/v1", 1)
            has_ids = "{" in url
            url = url.replace("{", "<").replace("}", ">")
            url = fill(url.lstrip("/"), victim["ids"])
            contents = operation.get("requestBody", {}).get("content", {})
            if "application/json" in contents:
                body = example_of(contents["application/json"]["schema"], definitions)
                response = getattr(client, method)(url, body, content_type="application/json")
            elif "multipart/form-data" in contents:
                form = example_of(contents["multipart/form-data"]["schema"], definitions)
                response = getattr(client, method)(url, form)  # the test client encodes it as multipart
            else:
                response = getattr(client, method)(url)
            if has_ids:
                assert response.status_code == 404, f"{method.upper()} {url} → {response.status_code}"
            else:
                assert response.status_code < 500
            assert_nothing_leaks(response, victim, url)
            walked += 1
    assert walked >= 13


def test_a_session_of_another_user_cannot_be_revoked(victim: Victim, attacker: Attacker) -> None:
    from django.conf import settings

    from chatrk.accounts.views import public_session_id

    client, _, _ = attacker
    vera = signed_in(make_user(name="Someone Else"))
    their_id = public_session_id(vera.cookies[settings.SESSION_COOKIE_NAME].value)
    client.post(f"/account/sessions/{their_id}/revoke/")
    assert vera.get("/account/").status_code == 200


def test_a_passkey_of_another_user_cannot_be_removed(victim: Victim, attacker: Attacker) -> None:
    from chatrk.accounts.models import Passkey

    client, _, _ = attacker
    vera = make_user(name="Someone Else")
    passkey = Passkey.objects.create(
        user=vera,
        name="Vera's key",
        credential_id=b"vera",
        public_key=b"k",
        user_handle=b"h",
        created_at=now(),
    )
    response = client.post(f"/account/passkeys/{passkey.pk}/remove/")
    assert response.status_code == 404 and b"Vera" not in response.content
    assert Passkey.objects.filter(pk=passkey.pk).exists()
