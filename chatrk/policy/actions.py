"""Policy actions: the checks other apps call, the review queue, and workspace tuning.

Integration (other apps call these; see docs/policy.md):

* outbound ``check_send``: ``check_outbound_message(workspace_id, text, recipients=1, campaign=False)``;
  on HOLD, ``do_enqueue`` writes the outbox row ``held`` and calls ``hold_for_review(...)`` (ref_id: the
  outbox row) in the same transaction; on BLOCK, refuse. ``release``/``reject`` tell the owning app in
  the reviewer's transaction (``OWNERS``): the outbox sends the row, or fails it with a plain reason.
* template manager: ``check_template(workspace_id, components_text)`` at creation and edit.

Both fail closed: any error inside the check returns a HOLD decision saying the policy could not be
checked, and nothing is sent until a person looks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils.module_loading import import_string

from chatrk.audit.actions import Actor, Origin, record
from chatrk.core.clock import now
from chatrk.core.roles import Perm, role_allows
from chatrk.policy import queries
from chatrk.policy.engine import (
    DEFAULT_TUNING,
    Action,
    Category,
    Evidence,
    PolicyContext,
    PolicyDecision,
    check_text,
)
from chatrk.policy.errors import PolicyError
from chatrk.policy.models import BodyVolume, HeldItem, HeldKind, HeldStatus, PolicySettings
from chatrk.policy.normalise import normalise
from chatrk.policy.tuning import TuningInput, as_stored, validate

logger = logging.getLogger(__name__)

VOLUME_WINDOW = timedelta(hours=24)
# Who acts on a decision, in the reviewer's transaction: (workspace_id, ref_id, released=, actor=, origin=).
OWNERS: dict[HeldKind, str] = {HeldKind.MESSAGE: "chatrk.outbound.actions.apply_review"}
UNCHECKED = (
    "The content policy could not be checked, so the message is held until a reviewer looks at it "
    "(Chatrk fails closed). Try again later or ask your compliance team."
)


def unchecked(reason: str) -> PolicyDecision:
    """The decision when the check itself failed: hold, and say why (a class name, never text)."""
    return PolicyDecision(
        Action.HOLD, Category.NONE, 0, (Evidence("engine.unavailable", 0, 0, reason),), UNCHECKED
    )


# --- the checks --------------------------------------------------------------------------------------


def check_outbound_message(
    workspace_id: int, text: str, *, recipients: int = 1, campaign: bool = False
) -> PolicyDecision:
    """Checks an outgoing free-form message (or one campaign message) and counts it for the spam signals.

    ``recipients`` is how many people this call sends the text to. Holds and blocks are audited.
    Never raises: a failure returns a HOLD decision (fail closed).
    """
    try:
        with transaction.atomic():
            tuning = queries.tuning_for(workspace_id)
            same_body, hourly = (1, 0) if campaign else _count(workspace_id, text, max(1, recipients))
            context = PolicyContext(tuning=tuning, same_body_recipients=same_body, hourly_volume=hourly,
                                    campaign=campaign)  # fmt: skip
            decision = check_text(text, context=context)
            _audit(workspace_id, decision, "campaign" if campaign else "message")
        return decision
    except Exception as error:  # fail closed, whatever went wrong
        logger.exception("policy check failed (workspace %s)", workspace_id)
        return unchecked(type(error).__name__)


def check_template(workspace_id: int, components_text: str | Sequence[str]) -> PolicyDecision:
    """Checks a template's text (header, body, footer, button labels) at creation or edit.

    Never raises: a failure returns a HOLD decision (fail closed). Holds and blocks are audited.
    """
    try:
        text = components_text if isinstance(components_text, str) else "\n".join(components_text)
        with transaction.atomic():
            context = PolicyContext(tuning=queries.tuning_for(workspace_id), template=True)
            decision = check_text(text, context=context)
            _audit(workspace_id, decision, "template")
        return decision
    except Exception as error:
        logger.exception("template policy check failed (workspace %s)", workspace_id)
        return unchecked(type(error).__name__)


def body_key(workspace_id: int, text: str) -> str:
    """HMAC of the normalised body under a per-workspace key: equal bodies match, none is stored."""
    key = hashlib.sha256(f"chatrk-policy-body|{workspace_id}|{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, normalise(text).letters.encode(), hashlib.sha256).hexdigest()


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _count(workspace_id: int, text: str, recipients: int) -> tuple[int, int]:
    """Adds this send to the counters; returns (same body in 24 h, workspace messages this hour)."""
    moment = now()
    hour = _hour(moment)
    key = body_key(workspace_id, text)
    row, created = BodyVolume.objects.get_or_create(
        workspace_id=workspace_id, body_hmac=key, hour=hour, defaults={"recipients": recipients}
    )
    if not created:
        BodyVolume.objects.filter(pk=row.pk).update(recipients=F("recipients") + recipients)
    else:  # a new hour for this body: drop counters that fell out of the window
        BodyVolume.objects.for_workspace(workspace_id).filter(hour__lt=hour - VOLUME_WINDOW).delete()
    totals = (
        BodyVolume.objects.for_workspace(workspace_id)
        .filter(hour__gt=hour - VOLUME_WINDOW)
        .aggregate(
            same=Sum("recipients", filter=Q(body_hmac=key)), hourly=Sum("recipients", filter=Q(hour=hour))
        )
    )
    return int(totals["same"] or recipients), int(totals["hourly"] or recipients)


def _audit(workspace_id: int, decision: PolicyDecision, subject: str) -> None:
    if decision.action is Action.ALLOW:
        return  # allowed sends are audited by the sender; policy records what it stopped
    record(
        "policy.decision",
        actor=Actor("system", "policy"),
        workspace_id=workspace_id,
        details={
            "subject": subject,
            "action": decision.action.value,
            "category": decision.category.value,
            "score": decision.score,
            "rules": ",".join(sorted({e.rule for e in decision.evidence}))[:500],
        },
    )


# --- the review queue ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reviewer:
    """Who decides: built by the transport from a session's membership or an API token's creator."""

    workspace_id: int
    user_id: int
    role: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class Decided:
    """What the owning app acts on: RELEASED means enqueue (or submit) ``ref_id`` now."""

    workspace_id: int
    kind: HeldKind
    ref_id: int
    status: HeldStatus


def hold_for_review(
    workspace_id: int, decision: PolicyDecision, *, kind: HeldKind, ref_id: int, text: str,
    contact_id: int | None = None,
) -> HeldItem:  # fmt: skip
    """Puts a held message or template in the review queue (call it in the same transaction as the row
    it holds). The text is stored encrypted so the reviewer can read it through the audited ``reveal``.
    Idempotent: while ``(kind, ref_id)`` waits for review, holding it again returns the same item."""
    if decision.action is not Action.HOLD:
        raise PolicyError("Only a HOLD decision goes to the review queue.")
    item = HeldItem(
        workspace_id=workspace_id,
        kind=kind,
        ref_id=ref_id,
        contact_id=contact_id,
        category=decision.category.value,
        score=decision.score,
        evidence=[e.as_dict() for e in decision.evidence],
        explanation=decision.explanation,
        held_at=now(),
    )
    item.text = text
    with transaction.atomic():
        existing = (
            HeldItem.objects.for_workspace(workspace_id)
            .filter(kind=kind, ref_id=ref_id, status=HeldStatus.HELD)
            .first()
        )
        if existing is not None:  # held again before review (e.g. a retried send): one queue entry
            return existing
        item.save()
        record("policy.held", actor=Actor("system", "policy"), workspace_id=workspace_id,
               target=("held_item", item.pk),
               details={"kind": kind.value, "ref_id": ref_id, "category": item.category})  # fmt: skip
    return item


def release(reviewer: Reviewer, item_id: int, *, comment: str = "", origin: Origin | None = None) -> Decided:
    """A reviewer lets a held item go: the owning app then enqueues (or submits) ``Decided.ref_id``."""
    return _decide(reviewer, item_id, HeldStatus.RELEASED, comment, origin)


def reject(reviewer: Reviewer, item_id: int, *, comment: str = "", origin: Origin | None = None) -> Decided:
    """A reviewer refuses a held item: it is never sent; the owning app marks its row failed."""
    return _decide(reviewer, item_id, HeldStatus.REJECTED, comment, origin)


def _decide(
    reviewer: Reviewer, item_id: int, status: HeldStatus, comment: str, origin: Origin | None
) -> Decided:
    if not role_allows(reviewer.role, Perm.MANAGE_COMPLIANCE):
        raise PermissionDenied("Only the compliance role reviews held items.")
    if len(comment) > 2_000:
        raise PolicyError("Keep the comment under 2,000 characters.", field="comment")
    with transaction.atomic():
        item = (
            HeldItem.objects.for_workspace(reviewer.workspace_id)
            .select_for_update()
            .filter(pk=item_id)
            .first()
        )
        if item is None:
            raise PolicyError("No such held item.", field="item")
        if item.status != HeldStatus.HELD:
            raise PolicyError("This item was already decided.", field="item")
        item.status = status
        item.decided_at = now()
        item.decided_by_id = reviewer.user_id or None
        item.comment = comment.strip() or None
        item.text = None  # the owning app keeps what it sends; the queue keeps no copy after review
        item.save(update_fields=["status", "decided_at", "decided_by", "comment", "text"])
        verb = "released" if status is HeldStatus.RELEASED else "rejected"
        record(f"policy.{verb}", actor=reviewer.actor, workspace_id=reviewer.workspace_id,
               target=("held_item", item.pk), origin=origin,
               details={"kind": item.kind, "ref_id": item.ref_id, "category": item.category,
                        "commented": bool(comment.strip())})  # fmt: skip
        owner = OWNERS.get(HeldKind(item.kind))
        if owner is not None:
            import_string(owner)(reviewer.workspace_id, item.ref_id, released=status is HeldStatus.RELEASED,
                                 actor=reviewer.actor, origin=origin)  # fmt: skip
    return Decided(reviewer.workspace_id, HeldKind(item.kind), item.ref_id, status)


def forget_contact(workspace_id: int, contact_id: int, *, actor: Actor) -> int:
    """Erasure: clears the held text of a contact's messages (the privacy app calls it). Returns a count."""
    with transaction.atomic():
        items = list(
            HeldItem.objects.for_workspace(workspace_id).filter(contact_id=contact_id, text__isnull=False)
        )
        for item in items:
            item.text = None
            item.save(update_fields=["text"])
        record("policy.contact_forgotten", actor=actor, workspace_id=workspace_id,
               target=("contact", contact_id), details={"items": len(items)})  # fmt: skip
    return len(items)


# --- workspace tuning ------------------------------------------------------------------------------------


def update_settings(reviewer: Reviewer, data: TuningInput, *, origin: Origin | None = None) -> PolicySettings:
    """Saves a workspace's tuning after checking it against the floors; audited with what changed."""
    if not role_allows(reviewer.role, Perm.MANAGE_COMPLIANCE):
        raise PermissionDenied("Only the compliance role tunes the content policy.")
    values = as_stored(validate(data))
    with transaction.atomic():
        row = PolicySettings.objects.for_workspace(reviewer.workspace_id).select_for_update().first()
        before = {name: getattr(row, name) for name in values} if row else as_stored(DEFAULT_TUNING)
        if row is None:
            row = PolicySettings(workspace_id=reviewer.workspace_id)
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now()
        row.updated_by_id = reviewer.user_id or None
        row.save()
        changed = sorted(name for name, value in values.items() if before.get(name) != value)
        record("policy.settings_changed", actor=reviewer.actor, workspace_id=reviewer.workspace_id,
               target=("policy_settings", row.pk), origin=origin,
               details={"changed": ",".join(changed), "extra_terms": len(values["extra_terms"]),
                        "blocked_domains": len(values["blocked_domains"]),
                        "allowed_domains": len(values["allowed_domains"])})  # fmt: skip
    return row
