"""Test builders for templates: a channel, a valid definition, a template at each workflow stage."""

from __future__ import annotations

import itertools
from typing import Any

from chatrk.audit.actions import Origin
from chatrk.core.models import Membership, Workspace
from chatrk.core.roles import Role
from chatrk.inbox.actions import ChannelSettings, connect_channel
from chatrk.inbox.models import Channel
from chatrk.msgtemplates import actions
from chatrk.msgtemplates.models import Template
from chatrk.testing import add_member, make_user

_serial = itertools.count(1)


def make_channel(
    workspace: Workspace,
    *,
    waba_id: str = "",
    phone_number_id: str = "",
    token: str = "EAAG-test-token",  # noqa: S107 (a test token)
    graph_url: str = "https://graph.example.test",
) -> Channel:
    owner = Membership.objects.filter(workspace=workspace, role=Role.OWNER).first() or add_member(
        workspace, make_user(), Role.OWNER
    )
    n = next(_serial)
    spec = ChannelSettings(
        name=f"Shop line {n}",
        phone_number_id=phone_number_id or f"{1065550000 + n}",
        waba_id=waba_id or f"{2045550000 + n}",
        display_phone_number=f"1555000{n:04d}",
        access_token=token,
        app_secret="test-app-secret",  # noqa: S106
        graph_url=graph_url,
    )
    return connect_channel(owner, spec, origin=Origin())


def definition(name: str = "order_shipped", **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "language": "en_US",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["A-1"]}},
            {
                "type": "BODY",
                "text": "Hello {{1}}, your order {{2}} has shipped and arrives soon.",
                "example": {"body_text": [["Ada", "A-1001"]]},
            },
            {"type": "FOOTER", "text": "Acme Shoes"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Thanks"},
                    {
                        "type": "URL",
                        "text": "Track",
                        "url": "https://example.com/t/{{1}}",
                        "example": ["https://example.com/t/A1"],
                    },
                ],
            },
        ],
    }
    doc.update(overrides)
    return doc


def make_template(
    workspace: Workspace,
    *,
    channel: Channel | None = None,
    name: str = "",
    stage: str = "draft",
    **overrides: Any,
) -> Template:
    """A template by a new marketer, taken to ``stage``: draft, in_review, approved, rejected or live."""
    channel = channel or make_channel(workspace)
    marketer = add_member(workspace, make_user(name="Mara Marketer"), Role.MARKETER)
    template = actions.create_template(
        marketer, channel, definition(name or f"template_{next(_serial)}", **overrides)
    )
    if stage == "draft":
        return template
    template = actions.submit_for_review(marketer, template)
    if stage == "in_review":
        return template
    officer = add_member(workspace, make_user(name="Cora Compliance"), Role.COMPLIANCE)
    if stage == "rejected":
        return actions.reject_template(officer, template, comment="Too pushy")
    template = actions.approve_template(officer, template)
    if stage == "live":
        Template.objects.filter(pk=template.pk).update(
            meta_status=Template.MetaStatus.APPROVED,
            meta_template_id=f"{9000 + next(_serial)}",
            meta_version=template.current_version,
        )
        template.refresh_from_db()
    return template
