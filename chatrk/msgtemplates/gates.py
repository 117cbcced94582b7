"""The content-policy check every template passes at creation and at each edit.

``content_check(text, workspace_id=…)`` is the one seam between templates and the prohibited-content
engine (``chatrk.policy``). A BLOCK refuses the text with the engine's explanation. A HOLD lets the
draft be saved with the explanation attached: every template already waits for a compliance officer's
approval before it reaches Meta, and that review is where held content is judged.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ContentDecision:
    allowed: bool
    reason: str = ""  # plain language, shown to the marketer when not allowed
    rule: str = ""  # the policy rule's identifier, for the audit event


ALLOW = ContentDecision(allowed=True)


def content_check(text: str, *, workspace_id: int) -> ContentDecision:
    """The policy engine's verdict on a template's text (header, body, footer and button labels)."""
    from chatrk.policy.actions import check_template
    from chatrk.policy.engine import Action

    decision = check_template(workspace_id, text)
    rule = decision.evidence[0].rule if decision.evidence else ""
    if decision.action is Action.BLOCK:
        return ContentDecision(allowed=False, reason=decision.explanation, rule=rule)
    return ContentDecision(allowed=True, reason=decision.explanation, rule=rule)
