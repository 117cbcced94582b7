"""The template pages: list, editor with per-field errors, live preview, review queue."""

from __future__ import annotations

from typing import Any

import pytest

from chatrk.core.roles import Role
from chatrk.msgtemplates.models import Template
from chatrk.msgtemplates.testing import make_channel, make_template
from chatrk.testing import add_member, make_user, make_workspace, signed_in
from chatrk.web.template_pages import form_definition, form_initial

pytestmark = pytest.mark.django_db

FORM = {
    "name": "order_shipped",
    "language": "en_US",
    "category": "UTILITY",
    "parameter_format": "POSITIONAL",
    "header_format": "TEXT",
    "header_text": "Order {{1}}",
    "header_example": "A-1",
    "body": "Hello {{1}}, your order {{2}} has shipped and arrives soon.",
    "body_examples": "Ada\nA-1001",
    "footer": "Acme Shoes",
    "buttons": "QUICK_REPLY | Thanks\nURL | Track | https://example.com/t/{{1}} | https://example.com/t/A1",
}


def test_a_marketer_writes_a_template_on_the_editor_page() -> None:
    workspace = make_workspace()
    channel = make_channel(workspace)
    marketer = add_member(workspace, make_user(), Role.MARKETER)
    client = signed_in(marketer.user)
    page = client.get(f"/w/{workspace.slug}/templates/new/")
    assert page.status_code == 200 and b'<label for="id_body">Body</label>' in page.content
    response = client.post(f"/w/{workspace.slug}/templates/new/", {**FORM, "channel": channel.pk})
    template = Template.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/templates/{template.pk}/")
    detail = client.get(response["Location"]).content.decode()
    assert "Hello Ada, your order A-1001 has shipped" in detail  # the preview, from the examples
    assert "Submit for review" in detail
    assert client.post(f"/w/{workspace.slug}/templates/{template.pk}/submit/").status_code == 302
    template.refresh_from_db()
    assert template.status == Template.Status.IN_REVIEW


def test_lint_errors_appear_under_their_fields() -> None:
    workspace = make_workspace()
    channel = make_channel(workspace)
    client = signed_in(add_member(workspace, make_user(), Role.MARKETER).user)
    bad = {**FORM, "channel": channel.pk, "name": "Order Shipped", "body": "{{1}} {{2}}",
           "buttons": "QUICK_REPLY | Yes\nURL | Track | https://e.com\nQUICK_REPLY | No"}  # fmt: skip
    response = client.post(f"/w/{workspace.slug}/templates/new/", bad)
    assert response.status_code == 400
    form = response.context["form"]
    assert "name" in form.errors and "body" in form.errors and "buttons" in form.errors
    assert any("start with a variable" in e for e in form.errors["body"])
    assert any("quick-reply buttons together" in e for e in form.errors["buttons"])
    assert not Template.objects.exists()


def test_the_live_preview_partial_shows_the_text_and_the_problems() -> None:
    workspace = make_workspace()
    client = signed_in(add_member(workspace, make_user(), Role.MARKETER).user)
    response = client.post(f"/w/{workspace.slug}/templates/preview/", {**FORM, "footer": "x" * 61})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "Hello Ada, your order A-1001" in body and "The footer is 61 characters" in body


def test_an_officer_reviews_from_the_queue() -> None:
    workspace = make_workspace()
    template = make_template(workspace, stage="in_review")
    officer = signed_in(add_member(workspace, make_user(), Role.COMPLIANCE).user)
    queue = officer.get(f"/w/{workspace.slug}/templates/review/").content.decode()
    assert template.name in queue and "Hello Ada" in queue
    officer.post(f"/w/{workspace.slug}/templates/{template.pk}/reject/", {"comment": "Say who you are"})
    template.refresh_from_db()
    assert (template.status, template.review_comment) == (Template.Status.REJECTED, "Say who you are")


def test_the_author_sees_why_they_cannot_approve() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, make_user(), Role.OWNER)
    template = make_template(workspace, stage="in_review")
    Template.objects.filter(pk=template.pk).update(submitted_by=owner.user)
    page = signed_in(owner.user).post(f"/w/{workspace.slug}/templates/{template.pk}/approve/")
    assert page.status_code == 200 and "another compliance officer" in page.content.decode()


def test_marketers_cannot_open_the_review_queue_and_agents_cannot_write() -> None:
    workspace = make_workspace()
    marketer = signed_in(add_member(workspace, make_user(), Role.MARKETER).user)
    assert marketer.get(f"/w/{workspace.slug}/templates/review/").status_code == 403
    agent = signed_in(add_member(workspace, make_user(), Role.AGENT).user)
    assert agent.get(f"/w/{workspace.slug}/templates/").status_code == 200
    assert agent.get(f"/w/{workspace.slug}/templates/new/").status_code == 403


def test_the_list_shows_both_statuses() -> None:
    workspace = make_workspace()
    make_template(workspace, name="live_one", stage="live")
    client = signed_in(add_member(workspace, make_user(), Role.AGENT).user)
    page = client.get(f"/w/{workspace.slug}/templates/").content.decode()
    assert "live_one" in page and "Approved" in page


@pytest.mark.parametrize("name", ["order_shipped"])
def test_form_and_document_round_trip(name: str) -> None:
    template = make_template(make_workspace(), name=name)
    initial: dict[str, Any] = form_initial(template)
    assert form_definition(initial)["components"] == template.components


def test_templates_the_form_cannot_show_are_read_only_on_the_page() -> None:
    workspace = make_workspace()
    template = make_template(workspace, name="with_flow", stage="live")
    flow = {"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Book", "flow_id": "123"}]}
    Template.objects.filter(pk=template.pk).update(components=[*template.components[:3], flow])
    client = signed_in(add_member(workspace, make_user(), Role.MARKETER).user)
    page = client.get(f"/w/{workspace.slug}/templates/{template.pk}/").content.decode()
    assert "edit it over the API" in page and "Save new version" not in page
    response = client.post(f"/w/{workspace.slug}/templates/{template.pk}/edit/", FORM)
    assert "edit it over the API" in response.content.decode()
    template.refresh_from_db()
    assert template.components[3] == flow
