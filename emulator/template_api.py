"""`/{waba-id}/message_templates` and `/{template-id}` operations with Meta's rules (REFERENCE §2)."""

from __future__ import annotations

import base64
from typing import Any

from emulator import payloads
from emulator.core import DAY, Emulator
from emulator.errors import GraphError, invalid_parameter, missing_parameter, unknown_object
from emulator.review import body_text, leading_or_trailing_variable, review, too_dense
from emulator.templates import (
    NAME_PATTERN,
    Template,
    TemplateCategory,
    TemplateStatus,
    check_structure,
    creation_error,
    normalize_components,
)

CREATES_PER_HOUR = 100
PAUSE_HOURS = (3, 6)


def _category(raw: Any) -> TemplateCategory:
    if not isinstance(raw, str):
        raise missing_parameter("category")
    try:
        return TemplateCategory(raw.upper())
    except ValueError:
        raise invalid_parameter(
            "Param category must be one of {MARKETING, UTILITY, AUTHENTICATION}."
        ) from None


def _check_name(emulator: Emulator, waba_id: str, name: Any, language: str) -> str:
    if not isinstance(name, str) or not name:
        raise missing_parameter("name")
    if not NAME_PATTERN.match(name):
        raise creation_error(
            "Template name can only have lowercase letters, numbers and underscores, and at "
            "most 512 characters.",
            2388042,
            "Invalid template name",
        )
    if any(
        t.waba_id == waba_id
        and t.name == name
        and t.language == language
        and t.status is not TemplateStatus.DELETED
        for t in emulator.templates.values()
    ):
        raise creation_error(
            f"Content in {language} already exists for template {name}.",
            2388024,
            "Content in this language already exists",
        )
    deleted_at = emulator.deleted_template_names.get((waba_id, name))
    if deleted_at is not None and emulator.clock.now() - deleted_at < 30 * DAY:
        raise creation_error(
            f"{name} was deleted less than 30 days ago; its name cannot be reused yet.",
            2388023,
            "Template name is being deleted",
        )
    return name


def _check_quota(emulator: Emulator, waba_id: str) -> None:
    now = emulator.clock.now()
    recent = [t for t in emulator.template_creations.get(waba_id, []) if now - t < 3600]
    emulator.template_creations[waba_id] = recent
    if len(recent) >= CREATES_PER_HOUR:
        raise GraphError(
            80008,
            "There have been too many calls to this WhatsApp Business account. Wait a bit and try again.",
            error_type="OAuthException",
        )
    live = sum(
        1
        for t in emulator.templates.values()
        if t.waba_id == waba_id and t.status is not TemplateStatus.DELETED
    )
    if live >= emulator.accounts[waba_id].template_limit:
        raise creation_error(
            "The message template limit for this account has been reached.", 2388019, "Template limit reached"
        )
    recent.append(now)


def _check_body_shape(components: list[dict[str, Any]], category: TemplateCategory) -> None:
    check_structure(components, category)
    if category is TemplateCategory.AUTHENTICATION:
        return
    body = next(str(c.get("text", "")) for c in components if c["type"] == "BODY")
    if leading_or_trailing_variable(body):
        raise creation_error(
            "Variables can't be at the start or end of the template.",
            2388299,
            "Variables can't be at the start or end",
        )
    if too_dense(body):
        raise creation_error(
            "This template has too many variables for its length.",
            2388293,
            "Too many variables for message length",
        )


def create(emulator: Emulator, waba_id: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid_parameter("The request body must be a JSON object.")
    language = body.get("language")
    if not isinstance(language, str) or not language:
        raise missing_parameter("language")
    name = _check_name(emulator, waba_id, body.get("name"), language)
    category = _category(body.get("category"))
    components = normalize_components(body.get("components"))
    _check_body_shape(components, category)
    _check_quota(emulator, waba_id)
    parameter_format = str(body.get("parameter_format", "positional")).upper()
    if parameter_format not in ("POSITIONAL", "NAMED"):
        raise invalid_parameter("Param parameter_format must be one of {positional, named}.")
    template = Template(
        id=emulator.new_numeric_id(),
        waba_id=waba_id,
        name=name,
        language=language,
        category=category,
        parameter_format=parameter_format,
        components=components,
        created_at=emulator.clock.now(),
        allow_category_change=bool(body.get("allow_category_change", False)),
        message_send_ttl_seconds=body.get("message_send_ttl_seconds"),
    )
    emulator.templates[template.id] = template
    emulator.schedule(emulator.behaviour.template_review_after, lambda: finish_review(emulator, template))
    return {"id": template.id, "status": str(template.status), "category": str(template.category)}


def _existing_bodies(emulator: Emulator, template: Template) -> set[tuple[str, str]]:
    bodies: set[tuple[str, str]] = set()
    for other in emulator.templates.values():
        if (
            other.id == template.id
            or other.waba_id != template.waba_id
            or other.status in (TemplateStatus.DELETED, TemplateStatus.REJECTED)
        ):
            continue
        footer = next((str(c.get("text", "")) for c in other.components if c["type"] == "FOOTER"), "")
        bodies.add((body_text(other), footer))
    return bodies


def finish_review(emulator: Emulator, template: Template) -> None:
    if template.status is not TemplateStatus.PENDING:
        return
    verdict = review(template, _existing_bodies(emulator, template))
    if verdict.new_category is not None and verdict.new_category is not template.category:
        previous = str(template.category)
        template.category = verdict.new_category
        emulator.enqueue_value(
            template.waba_id,
            "template_category_update",
            payloads.template_category(
                int(template.id), template.name, template.language, previous, str(template.category)
            ),
        )
    if verdict.approved:
        template.status = TemplateStatus.APPROVED
        template.quality = "UNKNOWN"
        _status_webhook(emulator, template, "APPROVED", "NONE")
        if template.edits:
            emulator.enqueue_value(
                template.waba_id, "message_template_components_update", payloads.template_components(template)
            )
        return
    template.status = TemplateStatus.REJECTED
    template.rejected_reason = verdict.reason
    info = {"reason": verdict.detail, "recommendation": verdict.recommendation}
    _status_webhook(emulator, template, "REJECTED", verdict.reason, rejection_info=info)


def _status_webhook(
    emulator: Emulator, template: Template, event: str, reason: str | None, **extra: dict[str, str] | None
) -> None:
    value = payloads.template_status(
        int(template.id), template.name, template.language, str(template.category), event, reason, **extra
    )
    emulator.enqueue_value(template.waba_id, "message_template_status_update", value)


def listing(emulator: Emulator, waba_id: str, query: dict[str, str], base_url: str) -> dict[str, Any]:
    fields = {f.strip() for f in query.get("fields", "").split(",") if f.strip()} or None
    limit = max(1, min(int(query.get("limit", "25") or 25), 100))
    matching = [
        t
        for t in emulator.templates.values()
        if t.waba_id == waba_id
        and t.status is not TemplateStatus.DELETED
        and (not query.get("status") or str(t.status) == query["status"].upper())
        and (not query.get("name") or query["name"] in t.name)
        and (not query.get("category") or str(t.category) == query["category"].upper())
        and (not query.get("language") or t.language == query["language"])
    ]
    after = query.get("after")
    start = _decode_cursor(after) if after else 0
    page = matching[start : start + limit]
    result: dict[str, Any] = {"data": [t.to_graph(fields) for t in page]}
    if query.get("summary"):
        result["summary"] = _summary(emulator, waba_id, len(matching), query["summary"])
    if page:
        result["paging"] = {
            "cursors": {"before": _encode_cursor(start), "after": _encode_cursor(start + len(page) - 1 + 1)}
        }
        if start + limit < len(matching):
            next_query = dict(query, after=_encode_cursor(start + limit), limit=str(limit))
            encoded = "&".join(f"{k}={v}" for k, v in next_query.items())
            result["paging"]["next"] = f"{base_url}/{waba_id}/message_templates?{encoded}"
    return result


def _summary(emulator: Emulator, waba_id: str, total: int, wanted: str) -> dict[str, Any]:
    """Graph's `summary=` aggregate fields for the template edge."""
    live = sum(
        1
        for t in emulator.templates.values()
        if t.waba_id == waba_id and t.status is not TemplateStatus.DELETED
    )
    names = {t.name for t in emulator.templates.values() if t.waba_id == waba_id}
    languages = {t.language for t in emulator.templates.values() if t.waba_id == waba_id}
    complete = all(
        any(t.name == n and t.language == lang for t in emulator.templates.values())
        for n in names
        for lang in languages
    )
    available: dict[str, Any] = {
        "total_count": total,
        "message_template_count": live,
        "message_template_limit": emulator.accounts[waba_id].template_limit,
        "are_translations_complete": complete,
    }
    keys = {k.strip() for k in wanted.split(",")}
    return {k: v for k, v in available.items() if k in keys or wanted == "true"}


def _encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"i:{index}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return max(0, int(raw.removeprefix("i:")))
    except ValueError:
        raise invalid_parameter("Invalid cursor.") from None


def template_for(emulator: Emulator, template_id: str, wabas: set[str]) -> Template:
    template = emulator.templates.get(template_id)
    if template is None or template.waba_id not in wabas or template.status is TemplateStatus.DELETED:
        raise unknown_object(template_id)
    return template


def get_one(template: Template, query: dict[str, str]) -> dict[str, Any]:
    fields = {f.strip() for f in query.get("fields", "").split(",") if f.strip()} or None
    return template.to_graph(fields)


def edit(emulator: Emulator, template: Template, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid_parameter("The request body must be a JSON object.")
    if template.status not in (TemplateStatus.APPROVED, TemplateStatus.REJECTED, TemplateStatus.PAUSED):
        raise creation_error(
            "Only approved, rejected or paused templates can be edited.", 2593004, "Template can't be edited"
        )
    now = emulator.clock.now()
    if template.status is TemplateStatus.APPROVED:
        recent = [t for t in template.edits if now - t < 30 * DAY]
        if len(recent) >= 10 or (recent and now - recent[-1] < DAY):
            raise creation_error(
                "Approved templates can be edited once a day and 10 times a month.",
                2388004,
                "Edit limit reached",
            )
    category = template.category
    if "category" in body:
        category = _category(body["category"])
        if template.status is TemplateStatus.APPROVED and category is not template.category:
            raise creation_error(
                "The category of an approved template can't be changed.", 2388044, "Category can't be changed"
            )
    components = normalize_components(body["components"]) if "components" in body else template.components
    _check_body_shape(components, category)
    template.category, template.components = category, components
    if "message_send_ttl_seconds" in body:
        template.message_send_ttl_seconds = body["message_send_ttl_seconds"]
    template.edits.append(now)
    template.status = TemplateStatus.PENDING
    template.rejected_reason = None
    emulator.schedule(emulator.behaviour.template_review_after, lambda: finish_review(emulator, template))
    return {"success": True}


def delete(emulator: Emulator, waba_id: str, query: dict[str, str]) -> dict[str, Any]:
    name = query.get("name")
    if not name:
        raise missing_parameter("name")
    hsm_id = query.get("hsm_id")
    targets = [
        t
        for t in emulator.templates.values()
        if t.waba_id == waba_id
        and t.name == name
        and t.status is not TemplateStatus.DELETED
        and (hsm_id is None or t.id == hsm_id)
    ]
    if not targets:
        raise invalid_parameter(f"Message template {name!r} not found.", subcode=2593002)
    if any(t.status is TemplateStatus.DISABLED for t in targets):
        raise creation_error("Disabled templates can't be deleted.", 2593003, "Template can't be deleted")
    for template in targets:
        if template.status is TemplateStatus.APPROVED:
            emulator.deleted_template_names[(waba_id, name)] = emulator.clock.now()
        template.status = TemplateStatus.DELETED
        _status_webhook(emulator, template, "PENDING_DELETION", None)
    return {"success": True}


def unpause(emulator: Emulator, template: Template) -> dict[str, Any]:
    if template.status is not TemplateStatus.PAUSED:
        return {"success": False, "reason": "The template is not paused."}
    _unpause(emulator, template)
    return {"success": True}


def _unpause(emulator: Emulator, template: Template) -> None:
    if template.status is not TemplateStatus.PAUSED:
        return
    template.status = TemplateStatus.APPROVED
    _status_webhook(
        emulator,
        template,
        "APPROVED",
        "NONE",
        other_info={"title": "UNPAUSE", "description": "Your template has been unpaused."},
    )


def set_quality(emulator: Emulator, template: Template, quality: str) -> None:
    """Quality change webhook; RED pauses 3 h, then 6 h, then disables (REFERENCE §2)."""
    quality = quality.upper()
    if quality not in ("GREEN", "YELLOW", "RED", "UNKNOWN"):
        raise ValueError("quality must be GREEN, YELLOW, RED or UNKNOWN")
    previous, template.quality = template.quality, quality
    if quality in ("GREEN", "YELLOW"):
        emulator.release_held(template, None)
    elif quality == "RED":
        emulator.release_held(template, (132015, "Template was paused because of low quality."))
    emulator.enqueue_value(
        template.waba_id,
        "message_template_quality_update",
        payloads.template_quality(int(template.id), template.name, template.language, previous, quality),
    )
    if quality != "RED" or template.status is not TemplateStatus.APPROVED:
        return
    template.pause_count += 1
    if template.pause_count > len(PAUSE_HOURS):
        template.status = TemplateStatus.DISABLED
        _status_webhook(
            emulator,
            template,
            "DISABLED",
            "NONE",
            other_info={
                "title": "DISABLED",
                "description": "Your template was disabled after repeated low quality.",
            },
        )
        return
    hours = PAUSE_HOURS[template.pause_count - 1]
    template.status = TemplateStatus.PAUSED
    title = "FIRST_PAUSE" if template.pause_count == 1 else "SECOND_PAUSE"
    _status_webhook(
        emulator,
        template,
        "PAUSED",
        "NONE",
        other_info={
            "title": title,
            "description": f"Your template has been paused for {hours} hours because of low quality.",
        },
    )
    emulator.schedule(hours * 3600.0, lambda: _unpause(emulator, template))
