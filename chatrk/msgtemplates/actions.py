"""The template workflow: the only code that writes templates.

draft/edit (marketer) → submit for review → approve | reject with a comment (compliance officer,
never the author: four-eyes) → submitted to Meta by a task → Meta's verdict by webhook
(:func:`apply_meta_update`, :func:`apply_template_record`) or by :func:`sync_templates`.

Each action runs in one transaction and writes its audit event there; calls to Meta happen outside
any transaction, and tasks start with ``transaction.on_commit``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
from django.db import transaction

from chatrk.audit.actions import SYSTEM, Actor, Origin, record
from chatrk.audit.models import Outcome
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Perm, role_allows
from chatrk.inbox.models import Channel
from chatrk.msgtemplates.errors import TemplateError, TemplateInvalid
from chatrk.msgtemplates.gates import content_check
from chatrk.msgtemplates.lint import LintError, lint
from chatrk.msgtemplates.meta import components_from_meta, graph_for
from chatrk.msgtemplates.models import Template, TemplateVersion
from chatrk.whatsapp.enums import TemplateStatus
from chatrk.whatsapp.errors import GraphError
from chatrk.whatsapp.payloads import (
    TemplateCategoryUpdate,
    TemplateComponentsUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
)

logger = logging.getLogger(__name__)

# A submission that never reported back (the worker died mid-call) may be retried after this long.
STALE_SUBMISSION = timedelta(minutes=10)

MS = Template.MetaStatus
META_STATUS_FOR_EVENT: dict[TemplateStatus, str] = {
    TemplateStatus.PENDING: MS.PENDING,
    TemplateStatus.APPROVED: MS.APPROVED,
    TemplateStatus.REJECTED: MS.REJECTED,
    TemplateStatus.PAUSED: MS.PAUSED,
    TemplateStatus.DISABLED: MS.DISABLED,
    TemplateStatus.IN_APPEAL: MS.IN_APPEAL,
    TemplateStatus.PENDING_DELETION: MS.PENDING_DELETION,
    TemplateStatus.DELETED: MS.DELETED,
    TemplateStatus.ARCHIVED: MS.ARCHIVED,
    TemplateStatus.UNARCHIVED: MS.APPROVED,
    TemplateStatus.LIMIT_EXCEEDED: MS.LIMIT_EXCEEDED,
    TemplateStatus.FLAGGED: MS.FLAGGED,
    TemplateStatus.REINSTATED: MS.APPROVED,
    TemplateStatus.LOCKED: MS.LOCKED,
    TemplateStatus.UNKNOWN: MS.UNKNOWN,  # fail closed: an unknown verdict is not sendable
}


def _actor(by: Membership, actor: Actor | None) -> Actor:
    return actor or Actor.user(by.user_id)


def _require(by: Membership, perm: Perm) -> None:
    if not role_allows(by.role, perm):
        raise TemplateError("Your role in this workspace does not allow this.")


def _same_workspace(by: Membership, template: Template) -> None:
    if template.workspace_id != by.workspace_id:
        raise TemplateError("No such template.")


def normalise(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form: category and parameter format in upper case, components as given."""
    raw_format = definition.get("parameter_format")
    return {
        "name": definition.get("name"),
        "language": definition.get("language"),
        "category": str(definition.get("category") or "").upper(),
        "parameter_format": str(raw_format).upper() if raw_format is not None else "POSITIONAL",
        "components": definition.get("components"),
    }


def template_text(components: Any) -> str:
    """All the words a customer would read: header, body, footer and button labels."""
    parts: list[str] = []
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, Mapping):
            continue
        if isinstance(component.get("text"), str):
            parts.append(component["text"])
        for button in component.get("buttons") or []:
            if isinstance(button, Mapping) and isinstance(button.get("text"), str):
                parts.append(button["text"])
    return "\n".join(parts)


def check_definition(definition: Mapping[str, Any], *, workspace_id: int) -> list[LintError]:
    """The lint, then the content policy: every reason this definition cannot be saved."""
    errors = lint(definition)
    if errors:
        return errors
    decision = content_check(template_text(definition.get("components")), workspace_id=workspace_id)
    if not decision.allowed:
        return [LintError("body.text", decision.reason or "The content policy does not allow this text.")]
    return []


def _new_version(template: Template, by: Membership, definition: Mapping[str, Any]) -> TemplateVersion:
    last = template.versions.order_by("-number").values_list("number", flat=True).first() or 0
    return TemplateVersion.objects.create(
        workspace_id=template.workspace_id,
        template=template,
        number=last + 1,
        category=definition["category"],
        parameter_format=definition["parameter_format"],
        components=definition["components"],
        created_by_id=by.user_id,
        created_at=now(),
    )


def create_template(
    by: Membership,
    channel: Channel,
    definition: Mapping[str, Any],
    *,
    actor: Actor | None = None,
    origin: Origin | None = None,
) -> Template:
    """A new draft (version 1). Raises :class:`TemplateInvalid` with per-field errors."""
    _require(by, Perm.WRITE_TEMPLATES)
    if channel.workspace_id != by.workspace_id:
        raise TemplateError("No such channel.", field="channel")
    doc = normalise(definition)
    errors = check_definition(doc, workspace_id=by.workspace_id)
    if errors:
        raise TemplateInvalid(errors)
    moment = now()
    with transaction.atomic():
        taken = Template.objects.for_workspace(by.workspace_id).filter(
            waba_id=channel.waba_id, name=doc["name"], language=doc["language"]
        )
        if taken.exists():
            raise TemplateInvalid(
                [LintError("name", "A template with this name and language already exists for this account.")]
            )
        template = Template.objects.create(
            workspace_id=by.workspace_id,
            channel=channel,
            waba_id=channel.waba_id,
            name=doc["name"],
            language=doc["language"],
            category=doc["category"],
            parameter_format=doc["parameter_format"],
            components=doc["components"],
            created_by_id=by.user_id,
            created_at=moment,
            updated_at=moment,
        )
        version = _new_version(template, by, doc)
        template.current_version = version
        template.save(update_fields=["current_version"])
        record(
            "template.created",
            actor=_actor(by, actor),
            workspace_id=by.workspace_id,
            target=("template", template.pk),
            origin=origin,
            details={"version": version.number},
        )
    return template


def _locked(template: Template) -> Template:
    return Template.objects.select_for_update().get(pk=template.pk, workspace_id=template.workspace_id)


def edit_template(
    by: Membership,
    template: Template,
    definition: Mapping[str, Any],
    *,
    actor: Actor | None = None,
    origin: Origin | None = None,
) -> Template:
    """A new version; the template goes back to draft and must pass review (and Meta) again.

    Name and language are fixed once Meta has the template (Meta edits only category and components).
    """
    _require(by, Perm.WRITE_TEMPLATES)
    _same_workspace(by, template)
    doc = normalise(definition)
    errors = check_definition(doc, workspace_id=by.workspace_id)
    if errors:
        raise TemplateInvalid(errors)
    with transaction.atomic():
        template = _locked(template)
        if template.status == Template.Status.IN_REVIEW:
            raise TemplateError("The template is in review: wait for the verdict before editing it.")
        renamed = (doc["name"], doc["language"]) != (template.name, template.language)
        if renamed and template.meta_template_id:
            raise TemplateInvalid(
                [LintError("name", "Meta already has this template: its name and language are fixed.")]
            )
        if template.meta_status == MS.APPROVED and doc["category"] != template.category:
            raise TemplateInvalid(
                [LintError("category", "Meta does not allow changing an approved template's category.")]
            )
        if (
            renamed
            and Template.objects.for_workspace(by.workspace_id)
            .filter(waba_id=template.waba_id, name=doc["name"], language=doc["language"])
            .exclude(pk=template.pk)
            .exists()
        ):
            raise TemplateInvalid(
                [LintError("name", "A template with this name and language already exists for this account.")]
            )
        version = _new_version(template, by, doc)
        template.name, template.language = doc["name"], doc["language"]
        template.category, template.parameter_format = doc["category"], doc["parameter_format"]
        template.components = doc["components"]
        template.current_version = version
        template.status = Template.Status.DRAFT
        template.review_comment = ""
        template.updated_at = now()
        template.save()
        record(
            "template.edited",
            actor=_actor(by, actor),
            workspace_id=by.workspace_id,
            target=("template", template.pk),
            origin=origin,
            details={"version": version.number},
        )
    return template


def submit_for_review(
    by: Membership, template: Template, *, actor: Actor | None = None, origin: Origin | None = None
) -> Template:
    """Draft (or rejected) → in review, waiting for a compliance officer."""
    _require(by, Perm.WRITE_TEMPLATES)
    _same_workspace(by, template)
    with transaction.atomic():
        template = _locked(template)
        if template.status not in (Template.Status.DRAFT, Template.Status.REJECTED):
            raise TemplateError(
                f"A template that is {template.get_status_display().lower()} cannot be submitted."
            )
        errors = check_definition(template.definition(), workspace_id=by.workspace_id)
        if errors:
            raise TemplateInvalid(errors)
        template.status = Template.Status.IN_REVIEW
        template.submitted_by_id = by.user_id
        template.updated_at = now()
        template.save(update_fields=["status", "submitted_by", "updated_at"])
        record(
            "template.submitted_for_review",
            actor=_actor(by, actor),
            workspace_id=by.workspace_id,
            target=("template", template.pk),
            origin=origin,
            details={"version": template.current_version.number if template.current_version else None},
        )
    return template


def _four_eyes(by: Membership, template: Template) -> None:
    authors = {template.submitted_by_id}
    if template.current_version is not None:
        authors.add(template.current_version.created_by_id)
    if by.user_id in authors:
        raise TemplateError("You wrote or submitted this version: another compliance officer must review it.")


def _needs_meta(template: Template) -> bool:
    return template.meta_version_id != template.approved_version_id or template.meta_status in (
        MS.NOT_SUBMITTED,
        MS.SUBMIT_FAILED,
    )


def approve_template(
    by: Membership,
    template: Template,
    *,
    comment: str = "",
    actor: Actor | None = None,
    origin: Origin | None = None,
) -> Template:
    """In review → approved, bound to the reviewed version; then submitted to Meta if Meta lacks it."""
    _require(by, Perm.APPROVE_TEMPLATES)
    _same_workspace(by, template)
    with transaction.atomic():
        template = _locked(template)
        if template.status != Template.Status.IN_REVIEW:
            raise TemplateError("Only a template in review can be approved.")
        _four_eyes(by, template)
        template.status = Template.Status.APPROVED
        template.approved_version_id = template.current_version_id
        template.reviewed_by_id = by.user_id
        template.reviewed_at = template.updated_at = now()
        template.review_comment = comment.strip()
        to_meta = _needs_meta(template)
        if to_meta:
            template.meta_status = MS.SUBMITTING
            template.meta_reason = ""
        template.save()
        record(
            "template.approved",
            actor=_actor(by, actor),
            workspace_id=by.workspace_id,
            target=("template", template.pk),
            origin=origin,
            details={
                "version": template.current_version.number if template.current_version else None,
                "to_meta": to_meta,
            },
        )
        if to_meta:
            _enqueue_submission(template.pk)
    return template


def reject_template(
    by: Membership,
    template: Template,
    *,
    comment: str,
    actor: Actor | None = None,
    origin: Origin | None = None,
) -> Template:
    """In review → rejected, with the reviewer's comment for the author."""
    _require(by, Perm.APPROVE_TEMPLATES)
    _same_workspace(by, template)
    if not comment.strip():
        raise TemplateError("Say what needs to change: a rejection needs a comment.", field="comment")
    with transaction.atomic():
        template = _locked(template)
        if template.status != Template.Status.IN_REVIEW:
            raise TemplateError("Only a template in review can be rejected.")
        _four_eyes(by, template)
        template.status = Template.Status.REJECTED
        template.reviewed_by_id = by.user_id
        template.reviewed_at = template.updated_at = now()
        template.review_comment = comment.strip()
        template.save()
        record(
            "template.rejected",
            actor=_actor(by, actor),
            workspace_id=by.workspace_id,
            target=("template", template.pk),
            origin=origin,
        )
    return template


def retry_submission(
    by: Membership, template: Template, *, actor: Actor | None = None, origin: Origin | None = None
) -> Template:
    """Send an internally approved template to Meta again after a failed (or stuck) submission."""
    if not (role_allows(by.role, Perm.APPROVE_TEMPLATES) or role_allows(by.role, Perm.WRITE_TEMPLATES)):
        raise TemplateError("Your role in this workspace does not allow this.")
    _same_workspace(by, template)
    with transaction.atomic():
        template = _locked(template)
        stuck = template.meta_status == MS.SUBMITTING and (
            template.meta_updated_at is None or now() - template.meta_updated_at > STALE_SUBMISSION
        )
        if template.status != Template.Status.APPROVED or not (
            template.meta_status == MS.SUBMIT_FAILED or stuck
        ):
            raise TemplateError("Only an approved template whose submission to Meta failed can be retried.")
        template.meta_status = MS.SUBMITTING
        template.meta_updated_at = now()
        template.save(update_fields=["meta_status", "meta_updated_at"])
        record(
            "template.submission_retried",
            actor=_actor(by, actor),
            workspace_id=by.workspace_id,
            target=("template", template.pk),
            origin=origin,
        )
        _enqueue_submission(template.pk)
    return template


def _enqueue_submission(template_id: int) -> None:
    from chatrk.msgtemplates import tasks

    transaction.on_commit(lambda: tasks.submit_template.enqueue(template_id))


# --- Meta -------------------------------------------------------------------------------------------


def _plain_reason(error: GraphError) -> str:
    detail = error.details or error.message  # template text is business content, not personal data
    reason = error.reason
    return f"{reason} Meta said: {detail[:500]}" if detail else reason


def submit_to_meta(template_id: int, *, transport: httpx.BaseTransport | None = None) -> Template:
    """Create (or edit) the approved version at Meta. Idempotent: does nothing if Meta already has it."""
    template = Template.objects.select_related("channel", "approved_version").get(pk=template_id)
    version = template.approved_version
    if template.status != Template.Status.APPROVED or version is None:
        return _abandon_submission(template)
    if not _needs_meta(template):
        return template
    doc = {
        "name": template.name,
        "language": template.language,
        "category": version.category,
        "parameter_format": version.parameter_format.lower(),
        "components": version.components,
    }
    created_id, status, category, failure = "", "", "", None
    try:
        with graph_for(template.channel, transport=transport) as graph:
            if template.meta_template_id:
                graph.edit_template(template.meta_template_id, components=version.components)
                status = MS.PENDING
            else:
                created = graph.create_template(template.waba_id, doc)
                created_id, status = created.id, META_STATUS_FOR_EVENT.get(created.status, MS.UNKNOWN)
                category = created.category.value if created.category else ""
    except GraphError as error:
        failure = error
    with transaction.atomic():
        template = _locked(template)
        template.meta_updated_at = now()
        if template.meta_version_id == version.pk:
            return template  # a concurrent run already delivered this version; its answer stands
        if failure is not None:
            template.meta_status = MS.SUBMIT_FAILED
            template.meta_reason = _plain_reason(failure)
            template.save()
            record(
                "template.meta_submission_failed",
                actor=SYSTEM,
                workspace_id=template.workspace_id,
                target=("template", template.pk),
                outcome=Outcome.FAILURE,
                reason=str(failure.code or failure.kind),
                details={"version": version.number},
            )
            return template
        if created_id:
            template.meta_template_id = created_id
        if category and category != "UNKNOWN" and category != template.category:
            template.category = category  # Meta may re-categorise (allow_category_change)
        template.meta_status = status
        template.meta_reason = ""
        template.meta_version = version
        template.save()
        record(
            "template.meta_submitted",
            actor=SYSTEM,
            workspace_id=template.workspace_id,
            target=("template", template.pk),
            details={"version": version.number, "meta_status": status},
        )
    return template


def _abandon_submission(template: Template) -> Template:
    """The template was edited after approval: the queued submission is void. Meta's own status for
    a template it already has is unknown until the next sync or webhook."""
    if template.meta_status != MS.SUBMITTING:
        return template
    with transaction.atomic():
        template = _locked(template)
        if template.status != Template.Status.APPROVED and template.meta_status == MS.SUBMITTING:
            template.meta_status = MS.UNKNOWN if template.meta_template_id else MS.NOT_SUBMITTED
            template.meta_updated_at = now()
            template.save(update_fields=["meta_status", "meta_updated_at"])
    return template


def apply_meta_update(
    workspace_id: int,
    waba_id: str,
    meta_template_id: str,
    name: str | None,
    language: str | None,
    *,
    event: TemplateStatus | None = None,
    reason: str | None = None,
    quality: str | None = None,
    category: str | None = None,
    at: datetime | None = None,
) -> int:
    """Apply one Meta template webhook to every matching template; returns how many changed.

    Only templates of ``workspace_id`` (the workspace whose signed webhook this is) are touched.
    Matches by Meta's template id within the WABA, else by (name, language) for a template Meta
    knows but we have not heard the id of. ``event`` is the status event, ``reason`` Meta's rejection
    reason or pause title, ``quality`` GREEN/YELLOW/RED, ``category`` a re-categorisation, ``at``
    the webhook's time (an update older than the last one applied is ignored: Meta retries out of order).
    """
    with transaction.atomic():
        scoped = Template.objects.for_workspace(workspace_id).select_for_update()
        found = scoped.filter(waba_id=waba_id, meta_template_id=meta_template_id)
        templates = list(found)
        if not templates and name and language:
            templates = list(
                scoped.filter(waba_id=waba_id, name=name, language=language, meta_template_id="")
            )
        changed = 0
        for template in templates:
            if at is not None and template.meta_event_at is not None and at < template.meta_event_at:
                continue  # webhooks are ordered among themselves by Meta's clock, never against ours
            details: dict[str, str | None] = {}
            template.meta_template_id = meta_template_id
            if event is not None:
                template.meta_status = META_STATUS_FOR_EVENT.get(event, MS.UNKNOWN)
                template.meta_reason = reason if reason and reason != "NONE" else ""
                details["event"] = event.value
                if template.meta_status == MS.APPROVED and template.meta_version_id is None:
                    template.meta_version_id = template.approved_version_id or template.current_version_id
            if quality is not None:
                template.meta_quality = quality
                details["quality"] = quality
            if category is not None and category != "UNKNOWN":
                template.category = category
                details["category"] = category
            template.meta_updated_at = now()
            if at is not None:
                template.meta_event_at = at
            template.save()
            record(
                "template.meta_update",
                actor=SYSTEM,
                workspace_id=template.workspace_id,
                target=("template", template.pk),
                details=details,
            )
            changed += 1
    return changed


type TemplateRecord = (
    TemplateStatusUpdate | TemplateQualityUpdate | TemplateCategoryUpdate | TemplateComponentsUpdate
)


def apply_template_record(
    workspace_id: int, waba_id: str, update: TemplateRecord, *, at: datetime | None = None
) -> int:
    """The drainer's entry point: one typed template webhook record (``chatrk.whatsapp.payloads``)."""
    ref = update.template
    if isinstance(update, TemplateStatusUpdate):
        reason = update.rejection_reason or (update.reason.value if update.reason else None)
        reason = reason or update.other_info_title
        return apply_meta_update(
            workspace_id, waba_id, ref.id, ref.name, ref.language, event=update.event, reason=reason, at=at
        )
    if isinstance(update, TemplateQualityUpdate):
        return apply_meta_update(
            workspace_id, waba_id, ref.id, ref.name, ref.language, quality=update.new.value, at=at
        )
    if isinstance(update, TemplateCategoryUpdate):
        return apply_meta_update(
            workspace_id, waba_id, ref.id, ref.name, ref.language, category=update.new_category.value, at=at
        )
    # Components changed at Meta (edited outside Chatrk): Chatrk's copy is stale until the next sync.
    _enqueue_sync_for_waba(workspace_id, waba_id)
    return 0


def _enqueue_sync_for_waba(workspace_id: int, waba_id: str) -> None:
    from chatrk.msgtemplates import tasks

    for channel_id in (
        Channel.objects.for_workspace(workspace_id).filter(waba_id=waba_id).values_list("pk", flat=True)
    ):
        transaction.on_commit(partial(tasks.sync_channel_templates.enqueue, channel_id))


@dataclass(slots=True)
class SyncResult:
    imported: int = 0
    updated: int = 0
    gone: int = 0
    names: list[str] = field(default_factory=list)


def sync_templates(channel: Channel, *, transport: httpx.BaseTransport | None = None) -> SyncResult:
    """Read every template of the channel's WABA (all pages) and bring Chatrk's copies in line.

    Templates made outside Chatrk are imported as approved by Meta, awaiting internal review:
    they cannot be sent until a compliance officer approves them in Chatrk.
    """
    with graph_for(channel, transport=transport) as graph:
        listed = graph.list_templates(channel.waba_id)
    result = SyncResult()
    moment = now()
    with transaction.atomic():
        existing = {
            (t.name, t.language): t
            for t in Template.objects.select_for_update().filter(
                workspace_id=channel.workspace_id, waba_id=channel.waba_id
            )
        }
        seen: set[tuple[str, str]] = set()
        for item in listed:
            key = (item.name, item.language)
            seen.add(key)
            status = META_STATUS_FOR_EVENT.get(item.status, MS.UNKNOWN) if item.status else MS.UNKNOWN
            template = existing.get(key)
            if template is None:
                template = _import(channel, item.name, item.language, moment)
                template.category = item.category.value
                template.parameter_format = item.parameter_format.value
                template.components = components_from_meta(item)
                template.save()
                version = TemplateVersion.objects.create(
                    workspace_id=channel.workspace_id,
                    template=template,
                    number=1,
                    category=template.category,
                    parameter_format=template.parameter_format,
                    components=template.components,
                    created_at=moment,
                )
                template.current_version = template.meta_version = version
                result.imported += 1
                result.names.append(item.name)
            else:
                result.updated += 1
            if item.id:
                template.meta_template_id = item.id
            if template.meta_status != MS.SUBMITTING:
                template.meta_status = status
            if item.quality is not None:
                template.meta_quality = item.quality.value
            if item.category.value != "UNKNOWN" and template.meta_status == MS.APPROVED:
                template.category = item.category.value
            template.meta_updated_at = moment
            template.save()
        for key, template in existing.items():
            if key not in seen and template.meta_template_id and template.meta_status != MS.DELETED:
                template.meta_status = MS.DELETED
                template.meta_updated_at = moment
                template.save(update_fields=["meta_status", "meta_updated_at"])
                result.gone += 1
        record(
            "template.synced",
            actor=SYSTEM,
            workspace_id=channel.workspace_id,
            target=("channel", channel.pk),
            details={"imported": result.imported, "updated": result.updated, "gone": result.gone},
        )
    return result


def _import(channel: Channel, name: str, language: str, moment: datetime) -> Template:
    return Template.objects.create(
        workspace_id=channel.workspace_id,
        channel=channel,
        waba_id=channel.waba_id,
        name=name,
        language=language,
        origin=Template.Origin.META,
        status=Template.Status.IN_REVIEW,  # approved by Meta, awaiting internal review
        created_at=moment,
        updated_at=moment,
    )
