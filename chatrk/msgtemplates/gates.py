"""The content-policy hook every template passes at creation and at each edit.

``content_check(text, workspace_id=…)`` is the one seam between templates and the prohibited-content
engine (branch ``policy``). Until that engine is wired in at merge it allows everything; wiring it
means replacing the body of :func:`content_check` with a call to the policy engine's check and
mapping its answer to a :class:`ContentDecision`. Callers never look past this function.
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
    """The policy engine's verdict on a template's text (header, body, footer and button labels).

    HOOK — allows until the policy engine is wired in at merge (see docs/templates.md).
    """
    del text, workspace_id
    return ALLOW
