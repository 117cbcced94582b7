"""The template API: scopes tied to permissions, field errors, four-eyes over tokens."""

from __future__ import annotations

from typing import Any

import pytest
from django.tasks import default_task_backend
from django.test import Client, override_settings

from chatrk.accounts.actions import create_api_token
from chatrk.accounts.scopes import Scope
from chatrk.audit.actions import Origin
from chatrk.audit.models import AuditEvent
from chatrk.core.models import Membership, Workspace
from chatrk.core.roles import Role
from chatrk.msgtemplates.models import Template
from chatrk.msgtemplates.testing import definition, make_channel, make_template
from chatrk.testing import add_member, make_user, make_workspace

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("_dummy_tasks"),
]


@pytest.fixture
def _dummy_tasks() -> Any:
    with override_settings(TASKS={"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}):
        yield


def enqueued() -> list[tuple[str, list[Any]]]:
    return [(r.task.name, list(r.args)) for r in default_task_backend.results]  # type: ignore[attr-defined]


def client_for(member: Membership, *scopes: Scope) -> Client:
    allowed = [s for s in scopes if s.allowed_for(member.role)]
    _, secret = create_api_token(
        member, name="t", scopes=allowed or [Scope.WORKSPACE_READ], days=5, origin=Origin()
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def post(client: Client, url: str, body: Any = None) -> Any:
    return client.post(url, body, content_type="application/json") if body is not None else client.post(url)


@pytest.fixture
def workspace() -> Workspace:
    return make_workspace()


def test_marketer_creates_edits_and_submits_then_an_officer_approves(
    workspace: Workspace, django_capture_on_commit_callbacks: Any
) -> None:
    channel = make_channel(workspace)
    marketer = client_for(
        add_member(workspace, make_user(), Role.MARKETER), Scope.TEMPLATES_READ, Scope.TEMPLATES_WRITE
    )
    response = post(
        marketer, "/api/v1/templates", {"channel_id": channel.pk, "definition": definition("welcome")}
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["status"], created["meta_status"], created["version"]) == ("draft", "NOT_SUBMITTED", 1)
    url = f"/api/v1/templates/{created['id']}"
    doc = definition("welcome")
    doc["components"][2]["text"] = "Acme Shoes Ltd"
    edited = marketer.put(url, {"definition": doc}, content_type="application/json")
    assert edited.status_code == 200 and edited.json()["version"] == 2
    assert post(marketer, f"{url}/submit").json()["status"] == "in_review"
    assert marketer.get("/api/v1/templates?status=in_review").json()[0]["id"] == created["id"]
    denied = post(marketer, f"{url}/approve")
    assert denied.status_code == 403, denied.content  # a marketer cannot hold templates:approve
    officer = client_for(add_member(workspace, make_user(), Role.COMPLIANCE), Scope.TEMPLATES_APPROVE)
    with django_capture_on_commit_callbacks(execute=True):
        approved = post(officer, f"{url}/approve", {"comment": "ok"})
    assert approved.status_code == 200, approved.content
    assert (approved.json()["status"], approved.json()["approved_version"]) == ("approved", 2)
    assert enqueued() == [("submit_template", [int(created["id"])])]
    event = AuditEvent.objects.filter(action="template.approved").get()
    assert event.actor_kind == "token"


def test_field_errors_come_back_per_field(workspace: Workspace) -> None:
    channel = make_channel(workspace)
    marketer = client_for(add_member(workspace, make_user(), Role.MARKETER), Scope.TEMPLATES_WRITE)
    bad = definition("Bad Name")
    bad["components"][1]["text"] = "{{1}} {{2}}"
    response = post(marketer, "/api/v1/templates", {"channel_id": channel.pk, "definition": bad})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"name", "body.text"} <= fields
    linted = post(marketer, "/api/v1/templates/lint", {"definition": bad}).json()
    assert {e["field"] for e in linted} == fields


def test_four_eyes_holds_over_the_api(workspace: Workspace) -> None:
    owner = add_member(workspace, make_user(), Role.OWNER)
    client = client_for(owner, *Scope)
    channel = make_channel(workspace)
    created = post(client, "/api/v1/templates", {"channel_id": channel.pk, "definition": definition()}).json()
    post(client, f"/api/v1/templates/{created['id']}/submit")
    response = post(client, f"/api/v1/templates/{created['id']}/approve")
    assert response.status_code == 409 and "another compliance officer" in response.json()["detail"]
    rejected = post(client_for(add_member(workspace, make_user(), Role.COMPLIANCE), Scope.TEMPLATES_APPROVE),
                    f"/api/v1/templates/{created['id']}/reject", {"comment": "Needs a footer"})  # fmt: skip
    assert rejected.json()["review_comment"] == "Needs a footer"


def test_scopes_are_required(workspace: Workspace) -> None:
    template = make_template(workspace)
    reader = client_for(
        add_member(workspace, make_user(), Role.AGENT), Scope.TEMPLATES_READ, Scope.TEMPLATES_WRITE
    )
    assert reader.get(f"/api/v1/templates/{template.pk}").status_code == 200
    assert post(reader, f"/api/v1/templates/{template.pk}/submit").status_code == 403
    assert reader.put(f"/api/v1/templates/{template.pk}").status_code == 403


def test_preview_renders_values_and_examples(workspace: Workspace) -> None:
    template = make_template(workspace)
    reader = client_for(add_member(workspace, make_user(), Role.AGENT), Scope.TEMPLATES_READ)
    shown = post(reader, f"/api/v1/templates/{template.pk}/preview", {"body": ["Bea"]}).json()
    assert shown["body"] == "Hello Bea, your order A-1001 has shipped and arrives soon."
    assert shown["buttons"] == ["Thanks", "Track"]


def test_sync_on_demand_is_started_for_own_channels_only(
    workspace: Workspace, django_capture_on_commit_callbacks: Any
) -> None:
    channel = make_channel(workspace)
    writer = client_for(add_member(workspace, make_user(), Role.MARKETER), Scope.TEMPLATES_WRITE)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(writer, "/api/v1/templates/sync", {"channel_id": channel.pk}).status_code == 202
    assert enqueued() == [("sync_channel_templates", [channel.pk])]
    other = make_channel(make_workspace())
    assert post(writer, "/api/v1/templates/sync", {"channel_id": other.pk}).status_code == 404
    assert Template.objects.count() == 0
