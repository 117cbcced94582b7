"""The two-stage approval, Meta's verdicts (webhook and sync) and what may be sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import time_machine

from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.msgtemplates import actions, sending
from chatrk.msgtemplates.errors import ParameterError, TemplateError, TemplateInvalid
from chatrk.msgtemplates.gates import ContentDecision
from chatrk.msgtemplates.models import Template
from chatrk.msgtemplates.sending import Refusal, TemplateValues, build_send, render, sendable_template
from chatrk.msgtemplates.testing import definition, make_channel, make_template
from chatrk.testing import add_member, make_user, make_workspace
from chatrk.whatsapp.enums import MediaKind, QualityScore, TemplateCategory, TemplateStatus
from chatrk.whatsapp.messages import MediaParam
from chatrk.whatsapp.payloads import (
    TemplateCategoryUpdate,
    TemplateQualityUpdate,
    TemplateRef,
    TemplateStatusUpdate,
)

pytestmark = pytest.mark.django_db

MS = Template.MetaStatus
type Handler = Callable[[httpx.Request], httpx.Response]


def actions_of(template: Template) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_kind="template", target_id=str(template.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_a_marketer_drafts_and_an_officer_approves(django_capture_on_commit_callbacks: Any) -> None:
    workspace = make_workspace()
    channel = make_channel(workspace)
    marketer = add_member(workspace, make_user(), Role.MARKETER)
    officer = add_member(workspace, make_user(), Role.COMPLIANCE)
    template = actions.create_template(marketer, channel, definition("welcome"))
    assert (template.status, template.meta_status) == (Template.Status.DRAFT, MS.NOT_SUBMITTED)
    assert template.current_version is not None and template.current_version.number == 1
    template = actions.submit_for_review(marketer, template)
    assert template.status == Template.Status.IN_REVIEW
    with django_capture_on_commit_callbacks() as callbacks:
        template = actions.approve_template(officer, template, comment="Fine")
    # The submission to Meta starts after commit (beside the audit log's own sequencing callback).
    assert [c for c in callbacks if "_enqueue_submission" in c.__qualname__]
    assert template.status == Template.Status.APPROVED
    assert template.approved_version_id == template.current_version_id
    assert template.meta_status == MS.SUBMITTING
    assert template.reviewed_by_id == officer.user_id
    assert actions_of(template) == ["template.created", "template.submitted_for_review", "template.approved"]


def test_four_eyes_the_author_cannot_approve_their_own_template() -> None:
    workspace = make_workspace()
    owner = add_member(workspace, make_user(), Role.OWNER)  # holds both permissions
    template = actions.create_template(owner, make_channel(workspace), definition())
    template = actions.submit_for_review(owner, template)
    with pytest.raises(TemplateError, match="another compliance officer"):
        actions.approve_template(owner, template)
    with pytest.raises(TemplateError, match="another compliance officer"):
        actions.reject_template(owner, template, comment="no")


def test_roles_marketers_cannot_approve_and_agents_cannot_write() -> None:
    workspace = make_workspace()
    template = make_template(workspace, stage="in_review")
    with pytest.raises(TemplateError, match="role"):
        actions.approve_template(add_member(workspace, make_user(), Role.MARKETER), template)
    with pytest.raises(TemplateError, match="role"):
        actions.create_template(
            add_member(workspace, make_user(), Role.AGENT), template.channel, definition()
        )


def test_another_workspace_cannot_touch_a_template() -> None:
    template = make_template(make_workspace(), stage="in_review")
    stranger = add_member(make_workspace(), make_user(), Role.OWNER)
    with pytest.raises(TemplateError, match="No such"):
        actions.approve_template(stranger, template)
    with pytest.raises(TemplateError, match="No such channel"):
        actions.create_template(stranger, template.channel, definition("other"))


def test_a_rejection_needs_a_comment_and_goes_back_to_the_author() -> None:
    workspace = make_workspace()
    template = make_template(workspace, stage="in_review")
    officer = add_member(workspace, make_user(), Role.COMPLIANCE)
    with pytest.raises(TemplateError, match="comment"):
        actions.reject_template(officer, template, comment="  ")
    template = actions.reject_template(officer, template, comment="Say who is writing")
    assert (template.status, template.review_comment) == (Template.Status.REJECTED, "Say who is writing")
    marketer = add_member(workspace, make_user(), Role.MARKETER)
    template = actions.edit_template(marketer, template, definition(template.name, category="MARKETING"))
    assert template.status == Template.Status.DRAFT and template.review_comment == ""
    assert actions.submit_for_review(marketer, template).status == Template.Status.IN_REVIEW


def test_invalid_definitions_are_refused_with_field_errors() -> None:
    workspace = make_workspace()
    marketer = add_member(workspace, make_user(), Role.MARKETER)
    with pytest.raises(TemplateInvalid) as caught:
        actions.create_template(marketer, make_channel(workspace), definition("Bad Name", category="SPAM"))
    assert {e.field for e in caught.value.errors} == {"name", "category"}
    assert not Template.objects.exists()


def test_name_and_language_are_unique_per_account() -> None:
    workspace = make_workspace()
    channel = make_channel(workspace)
    marketer = add_member(workspace, make_user(), Role.MARKETER)
    actions.create_template(marketer, channel, definition("promo"))
    with pytest.raises(TemplateInvalid) as caught:
        actions.create_template(marketer, channel, definition("promo"))
    assert caught.value.errors[0].field == "name"
    actions.create_template(marketer, channel, definition("promo", language="pt_BR"))  # another language


def test_the_content_policy_hook_runs_at_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def refuse(text: str, *, workspace_id: int) -> ContentDecision:
        seen.append(text)
        return ContentDecision(allowed=False, reason="Payday loans are prohibited.", rule="finance.payday")

    monkeypatch.setattr(actions, "content_check", refuse)
    workspace = make_workspace()
    marketer = add_member(workspace, make_user(), Role.MARKETER)
    with pytest.raises(TemplateInvalid) as caught:
        actions.create_template(marketer, make_channel(workspace), definition())
    assert caught.value.errors[0].message == "Payday loans are prohibited."
    assert "has shipped" in seen[0] and "Track" in seen[0]  # body and button labels are checked


def test_editing_an_approved_template_sends_it_back_through_review_as_a_new_version() -> None:
    workspace = make_workspace()
    template = make_template(workspace, stage="live")
    assert isinstance(sendable_template(workspace.pk, template.channel_id, template.name, "en_US"), Template)
    marketer = add_member(workspace, make_user(), Role.MARKETER)
    doc = definition(template.name)
    doc["components"][2]["text"] = "Acme Shoes Ltd"
    template = actions.edit_template(marketer, template, doc)
    assert template.status == Template.Status.DRAFT
    assert template.current_version is not None and template.current_version.number == 2
    assert template.approved_version is not None and template.approved_version.number == 1
    refusal = sendable_template(workspace.pk, template.channel_id, template.name, "en_US")
    assert isinstance(refusal, Refusal) and refusal.code == 132001
    with pytest.raises(TemplateInvalid, match="problems"):
        actions.edit_template(marketer, template, definition("renamed"))  # Meta has it: name is fixed


# --- Meta --------------------------------------------------------------------------------------------


def graph(handler: Handler) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


def test_submission_creates_the_template_at_meta() -> None:
    template = make_template(make_workspace(), stage="approved")
    sent: list[dict[str, Any]] = []

    def meta(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/v23.0/{template.waba_id}/message_templates"
        assert request.headers["Authorization"] == "Bearer EAAG-test-token"
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"id": "778899", "status": "PENDING", "category": "UTILITY"})

    template = actions.submit_to_meta(template.pk, transport=graph(meta))
    assert (template.meta_status, template.meta_template_id) == (MS.PENDING, "778899")
    assert template.meta_version_id == template.approved_version_id
    assert sent[0]["name"] == template.name and sent[0]["parameter_format"] == "positional"
    assert actions.submit_to_meta(template.pk, transport=graph(meta)) == template  # idempotent
    assert len(sent) == 1
    assert actions_of(template)[-1] == "template.meta_submitted"


def test_a_failed_submission_is_recorded_in_plain_language_and_can_be_retried() -> None:
    workspace = make_workspace()
    template = make_template(workspace, stage="approved")

    def refuse(request: httpx.Request) -> httpx.Response:
        details = "Variables can't be at the start or end of the template."
        error = {"message": "Invalid parameter", "type": "OAuthException", "code": 100,
                 "error_subcode": 2388299, "error_data": {"details": details}}  # fmt: skip
        return httpx.Response(400, json={"error": error})

    template = actions.submit_to_meta(template.pk, transport=graph(refuse))
    assert template.meta_status == MS.SUBMIT_FAILED
    assert "Variables can't be at the start" in template.meta_reason
    officer = add_member(workspace, make_user(), Role.COMPLIANCE)
    assert actions.retry_submission(officer, template).meta_status == MS.SUBMITTING
    with pytest.raises(TemplateError):
        actions.retry_submission(officer, template)  # already on its way


def test_an_edit_of_a_template_meta_has_goes_to_meta_as_an_edit() -> None:
    workspace = make_workspace()
    template = make_template(workspace, stage="live")
    marketer = add_member(workspace, make_user(), Role.MARKETER)
    officer = add_member(workspace, make_user(), Role.COMPLIANCE)
    doc = definition(template.name)
    doc["components"][2]["text"] = "Acme Shoes Ltd"
    template = actions.submit_for_review(marketer, actions.edit_template(marketer, template, doc))
    template = actions.approve_template(officer, template)
    calls: list[tuple[str, dict[str, Any]]] = []

    def meta(request: httpx.Request) -> httpx.Response:
        calls.append((request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={"success": True})

    template = actions.submit_to_meta(template.pk, transport=graph(meta))
    assert calls[0][0] == f"/v23.0/{template.meta_template_id}"
    assert calls[0][1]["components"][2]["text"] == "Acme Shoes Ltd"
    assert template.meta_status == MS.PENDING


def test_webhook_verdicts_decide_sendability() -> None:
    workspace = make_workspace()
    template = make_template(workspace, stage="approved")
    Template.objects.filter(pk=template.pk).update(meta_status=MS.PENDING, meta_template_id="4242")

    def verdict(event: TemplateStatus, reason: str | None = None) -> Template | Refusal:
        actions.apply_meta_update(
            template.workspace_id,
            template.waba_id,
            "4242",
            template.name,
            "en_US",
            event=event,
            reason=reason,
        )
        return sendable_template(workspace.pk, template.channel_id, template.name, "en_US")

    assert isinstance(sendable_template(workspace.pk, template.channel_id, template.name, "en_US"), Refusal)
    assert isinstance(verdict(TemplateStatus.APPROVED), Template)
    paused = verdict(TemplateStatus.PAUSED, "FIRST_PAUSE")
    assert isinstance(paused, Refusal) and paused.code == 132015
    assert isinstance(verdict(TemplateStatus.REINSTATED), Template)
    disabled = verdict(TemplateStatus.DISABLED)
    assert isinstance(disabled, Refusal) and disabled.code == 132016
    rejected = verdict(TemplateStatus.REJECTED, "INVALID_FORMAT")
    assert isinstance(rejected, Refusal) and rejected.code == 132001
    template.refresh_from_db()
    assert template.meta_reason == "INVALID_FORMAT"
    assert isinstance(verdict(TemplateStatus.UNKNOWN), Refusal)  # fail closed on an unknown event


def test_webhook_records_from_the_drainer() -> None:
    workspace = make_workspace()
    template = make_template(workspace, stage="approved")
    ref = TemplateRef(id="1689556908129835", name=template.name, language="en_US")
    rejected = TemplateStatusUpdate(
        template=ref, event=TemplateStatus.REJECTED, reason=None, rejection_reason="Variables are adjacent."
    )
    assert (
        actions.apply_template_record(template.workspace_id, template.waba_id, rejected) == 1
    )  # found by name, id learnt
    template.refresh_from_db()
    assert (template.meta_status, template.meta_template_id) == (MS.REJECTED, "1689556908129835")
    assert template.meta_reason == "Variables are adjacent."
    quality = TemplateQualityUpdate(template=ref, previous=QualityScore.GREEN, new=QualityScore.YELLOW)
    category = TemplateCategoryUpdate(template=ref, new_category=TemplateCategory.MARKETING)
    assert actions.apply_template_record(template.workspace_id, template.waba_id, quality) == 1
    assert actions.apply_template_record(template.workspace_id, template.waba_id, category) == 1
    template.refresh_from_db()
    assert (template.meta_quality, template.category) == ("YELLOW", "MARKETING")
    assert actions.apply_template_record(template.workspace_id, "999", quality) == 0  # another account
    # A webhook signed for another workspace never touches this one's templates, whatever WABA it names.
    assert actions.apply_template_record(make_workspace().pk, template.waba_id, quality) == 0


def test_an_older_webhook_never_overrides_a_newer_verdict() -> None:
    template = make_template(make_workspace(), stage="approved")
    later = now() + timedelta(minutes=5)
    actions.apply_meta_update(
        template.workspace_id,
        template.waba_id,
        "77",
        template.name,
        "en_US",
        event=TemplateStatus.APPROVED,
        at=later,
    )
    actions.apply_meta_update(
        template.workspace_id,
        template.waba_id,
        "77",
        template.name,
        "en_US",
        event=TemplateStatus.PENDING,
        at=now(),
    )
    template.refresh_from_db()
    assert template.meta_status == MS.APPROVED


def listing(pages: list[list[dict[str, Any]]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params.get("after", "0"))
        body: dict[str, Any] = {"data": pages[index]}
        if index + 1 < len(pages):
            body["paging"] = {"cursors": {"after": str(index + 1)}, "next": "https://graph.example.test/next"}
        return httpx.Response(200, json=body)

    return handler


def meta_template(name: str, status: str = "APPROVED", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{abs(hash(name)) % 10**9}",
        "name": name,
        "language": "en_US",
        "status": status,
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "Hi {{1}}, our sale starts today.", "example": {"body_text": [["Ada"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]},
        ],
        **extra,
    }


def test_sync_follows_pages_and_imports_outside_templates_awaiting_internal_review() -> None:
    workspace = make_workspace()
    channel = make_channel(workspace)
    ours = make_template(workspace, channel=channel, name="ours", stage="live")
    Template.objects.filter(pk=ours.pk).update(meta_template_id="1")
    stale = make_template(workspace, channel=channel, name="stale", stage="live")
    pages = [
        [meta_template("spring_sale"), {**meta_template("ours", "PAUSED"), "id": "1"}],
        [meta_template("autumn_sale", "PENDING", quality_score={"score": "RED"})],
    ]
    with time_machine.travel(now() + timedelta(minutes=1)):
        result = actions.sync_templates(channel, transport=graph(listing(pages)))
    assert (result.imported, result.updated, result.gone) == (2, 1, 1)
    spring = Template.objects.get(name="spring_sale")
    assert (spring.origin, spring.status, spring.meta_status) == (
        "meta",
        Template.Status.IN_REVIEW,
        MS.APPROVED,
    )
    assert spring.components[0]["example"] == {"body_text": [["Ada"]]}
    assert isinstance(sendable_template(workspace.pk, channel.pk, "spring_sale", "en_US"), Refusal)
    assert Template.objects.get(name="autumn_sale").meta_quality == "RED"
    assert Template.objects.get(pk=ours.pk).meta_status == MS.PAUSED
    assert Template.objects.get(pk=stale.pk).meta_status == MS.DELETED
    # Internal approval of an imported template makes it sendable without resubmitting it to Meta.
    officer = add_member(workspace, make_user(), Role.COMPLIANCE)
    spring = actions.approve_template(officer, spring)
    assert spring.meta_status == MS.APPROVED
    assert isinstance(sendable_template(workspace.pk, channel.pk, "spring_sale", "en_US"), Template)
    again = actions.sync_templates(channel, transport=graph(listing(pages)))
    assert (again.imported, again.updated) == (0, 3)


# --- sending -----------------------------------------------------------------------------------------


@pytest.fixture
def live() -> Template:
    return make_template(make_workspace(), stage="live")


def test_build_send_fills_header_body_and_buttons(live: Template) -> None:
    message = build_send(live, TemplateValues(body=["Ada", "A-1"], header=["A-1"], buttons={1: "A1"}))
    payload = message.payload()["template"]
    assert isinstance(payload, dict)
    assert payload["name"] == live.name
    assert payload["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "A-1"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "A-1"}]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "A1"}]},
    ]


@pytest.mark.parametrize(
    ("values", "code"),
    [
        (TemplateValues(body=["Ada"], header=["A-1"], buttons={1: "A1"}), 132000),
        (TemplateValues(body=["Ada", "A", "B"], header=["A-1"], buttons={1: "A1"}), 132000),
        (TemplateValues(body={"first_name": "Ada"}, header=["A-1"], buttons={1: "A1"}), 132012),
        (TemplateValues(body=["Ada\nLovelace", "A"], header=["A-1"], buttons={1: "A1"}), 132018),
        (TemplateValues(body=["Ada", "A"], header=["A-1"]), 132000),  # the URL button's suffix
        (TemplateValues(body=["Ada", "A"], header=["A-1"], buttons={1: "A1", 5: "x"}), 132000),
        (TemplateValues(body=["Ada", "A"], header=[], buttons={1: "A1"}), 132000),
    ],
)
def test_build_send_refuses_values_that_do_not_fit(live: Template, values: TemplateValues, code: int) -> None:
    with pytest.raises(ParameterError) as caught:
        build_send(live, values)
    assert caught.value.code == code


def test_named_templates_take_values_by_name() -> None:
    doc = definition(parameter_format="named")
    doc["components"] = [
        {
            "type": "BODY",
            "text": "Hello {{first_name}}, order {{order_id}} has shipped today.",
            "example": {
                "body_text_named_params": [
                    {"param_name": "first_name", "example": "Ada"},
                    {"param_name": "order_id", "example": "A-1"},
                ]
            },
        }
    ]
    template = make_template(make_workspace(), stage="live", **doc)
    message = build_send(template, TemplateValues(body={"order_id": "B-2", "first_name": "Bea"}))
    body = message.components[0].payload()
    assert body["parameters"] == [
        {"type": "text", "text": "Bea", "parameter_name": "first_name"},
        {"type": "text", "text": "B-2", "parameter_name": "order_id"},
    ]
    with pytest.raises(ParameterError, match="missing order_id"):
        build_send(template, TemplateValues(body={"first_name": "Bea"}))
    with pytest.raises(ParameterError) as caught:
        build_send(template, TemplateValues(body=["Bea", "B-2"]))
    assert caught.value.code == 132012
    assert render(template).body == "Hello Ada, order A-1 has shipped today."


def test_media_headers_need_media_of_the_right_kind() -> None:
    doc = definition()
    doc["components"][0] = {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1n"]}}
    template = make_template(make_workspace(), stage="live", **doc)
    base = TemplateValues(body=["Ada", "A"], buttons={1: "A1"})
    with pytest.raises(ParameterError):
        build_send(template, base)
    video = MediaParam(MediaKind.VIDEO, link="https://example.com/v.mp4")
    with pytest.raises(ParameterError):
        build_send(template, TemplateValues(body=["Ada", "A"], buttons={1: "A1"}, header_media=video))
    image = MediaParam(MediaKind.IMAGE, link="https://example.com/i.jpg")
    message = build_send(template, TemplateValues(body=["Ada", "A"], buttons={1: "A1"}, header_media=image))
    assert message.components[0].payload()["parameters"] == [{"type": "image", "image": {"link": image.link}}]


def test_render_uses_values_then_examples(live: Template) -> None:
    preview = render(live, TemplateValues(body=["Bea"]))
    assert preview.header == "Order A-1"
    assert preview.body == "Hello Bea, your order A-1001 has shipped and arrives soon."
    assert preview.footer == "Acme Shoes" and preview.buttons == ("Thanks", "Track")
    assert preview.text.endswith("[Thanks]\n\n[Track]")


def test_authentication_templates_send_the_code_in_body_and_button() -> None:
    auth: dict[str, Any] = {
        "category": "AUTHENTICATION",
        "components": [
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "FOOTER", "code_expiration_minutes": 5},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]},
        ],
    }
    template = make_template(make_workspace(), stage="live", **auth)
    parts = [c.payload() for c in build_send(template, TemplateValues(body=["482913"])).components]
    assert parts[0] == {"type": "body", "parameters": [{"type": "text", "text": "482913"}]}
    assert parts[1]["sub_type"] == "url" and parts[1]["parameters"] == [{"type": "text", "text": "482913"}]
    assert "482913 is your verification code" in render(template, TemplateValues(body=["482913"])).body


def test_sendable_template_is_scoped_to_the_workspace(live: Template) -> None:
    other = make_workspace()
    refusal = sendable_template(other.pk, live.channel_id, live.name, "en_US")
    assert isinstance(refusal, Refusal) and refusal.code == 132001
    assert isinstance(sending.sendable_template(live.workspace_id, live.channel_id, "nope", "en_US"), Refusal)


def test_an_edit_before_the_submission_ran_voids_it() -> None:
    workspace = make_workspace()
    template = make_template(workspace, stage="approved")
    marketer = add_member(workspace, make_user(), Role.MARKETER)
    doc = definition(template.name)
    doc["components"][2]["text"] = "Acme Shoes Ltd"
    actions.edit_template(marketer, template, doc)

    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may reach Meta")

    template = actions.submit_to_meta(template.pk, transport=graph(never))
    assert template.meta_status == MS.NOT_SUBMITTED


def test_a_failure_never_overrides_a_concurrent_success() -> None:
    template = make_template(make_workspace(), stage="approved")

    def meanwhile(request: httpx.Request) -> httpx.Response:
        # Another worker delivered the same version while this call was in flight.
        Template.objects.filter(pk=template.pk).update(
            meta_status=MS.PENDING, meta_template_id="55", meta_version=template.approved_version
        )
        return httpx.Response(400, json={"error": {"message": "(#100) Duplicate", "code": 100}})

    assert actions.submit_to_meta(template.pk, transport=graph(meanwhile)).meta_status == MS.PENDING


def test_the_content_policy_blocks_prohibited_template_text() -> None:
    from chatrk.msgtemplates.gates import content_check

    blocked = content_check("Buy cocaine and heroin here, fast delivery", workspace_id=make_workspace().pk)
    assert not blocked.allowed and blocked.reason
    assert content_check("Your order {{1}} has shipped.", workspace_id=make_workspace().pk).allowed
