"""Message-template pages: list, editor with per-field lint errors and live preview, review queue.

Transport only: the form is turned into Meta's template document, the lint's field paths are mapped
back onto form fields, and every change goes through ``chatrk.msgtemplates.actions``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatrk.accounts.actions import origin_of
from chatrk.core.roles import Perm, role_allows
from chatrk.msgtemplates import actions, queries
from chatrk.msgtemplates.errors import TemplateError, TemplateInvalid
from chatrk.msgtemplates.lint import CATEGORIES, LintError, lint
from chatrk.msgtemplates.models import Template
from chatrk.msgtemplates.sending import render_components
from chatrk.web.access import membership, workspace_page

HEADER_CHOICES = [("", "None"), ("TEXT", "Text"), ("IMAGE", "Image"), ("VIDEO", "Video"),
                  ("DOCUMENT", "Document"), ("LOCATION", "Location")]  # fmt: skip
BUTTON_HELP = (
    "One button per line: QUICK_REPLY | Label — URL | Label | https://… (may end with {{1}}) | example "
    "— PHONE_NUMBER | Label | +15550001234 — COPY_CODE | example code."
)


class TemplateForm(forms.Form):
    channel = forms.ChoiceField(label="WhatsApp number")
    name = forms.CharField(label="Name", max_length=512, help_text="Lower-case letters, digits and _.")
    language = forms.CharField(label="Language code", max_length=16, initial="en_US")
    category = forms.ChoiceField(label="Category", choices=[(c, c.title()) for c in CATEGORIES])
    parameter_format = forms.ChoiceField(
        label="Variables",
        choices=[("POSITIONAL", "Numbered: {{1}}, {{2}}"), ("NAMED", "Named: {{first_name}}")],
    )
    header_format = forms.ChoiceField(label="Header", choices=HEADER_CHOICES, required=False)
    header_text = forms.CharField(label="Header text", max_length=200, required=False)
    header_example = forms.CharField(
        label="Header example",
        required=False,
        help_text="The variable's example, or the media sample handle.",
    )
    body = forms.CharField(label="Body", widget=forms.Textarea(attrs={"rows": 6}), required=False)
    body_examples = forms.CharField(
        label="Body examples",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One example per variable, one per line (named: first_name=Ada).",
    )
    footer = forms.CharField(label="Footer", max_length=200, required=False)
    buttons = forms.CharField(
        label="Buttons", widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text=BUTTON_HELP
    )


# --- form ↔ document -------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _button(line: str) -> dict[str, Any]:
    parts = [p.strip() for p in line.split("|")]
    kind = parts[0].upper().replace(" ", "_")
    rest = [*parts[1:], "", "", ""]
    if kind == "URL":
        button: dict[str, Any] = {"type": kind, "text": rest[0], "url": rest[1]}
        if rest[2]:
            button["example"] = [rest[2]]
        return button
    if kind == "PHONE_NUMBER":
        return {"type": kind, "text": rest[0], "phone_number": rest[1]}
    if kind == "COPY_CODE":
        return {"type": kind, "example": rest[0]}
    return {"type": kind, "text": rest[0]}


def form_definition(data: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields as Meta's template document (unknown shapes are left for the lint to name)."""
    category = str(data.get("category") or "").upper()
    named = str(data.get("parameter_format") or "").upper() == "NAMED"
    components: list[dict[str, Any]] = []
    header_format = str(data.get("header_format") or "").upper()
    header_example = str(data.get("header_example") or "").strip()
    if category == "AUTHENTICATION":
        components.append({"type": "BODY", "add_security_recommendation": True})
        footer = str(data.get("footer") or "").strip()
        if footer:
            components.append(
                {"type": "FOOTER", "code_expiration_minutes": int(footer) if footer.isdigit() else -1}
            )
        components.append(
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}
        )
    else:
        if header_format:
            header: dict[str, Any] = {"type": "HEADER", "format": header_format}
            if header_format == "TEXT":
                header["text"] = str(data.get("header_text") or "")
                if header_example and "{{" in header["text"]:
                    name = header["text"].split("{{", 1)[1].split("}}", 1)[0].strip()
                    header["example"] = (
                        {"header_text_named_params": [{"param_name": name, "example": header_example}]}
                        if named
                        else {"header_text": [header_example]}
                    )
            elif header_example:
                header["example"] = {"header_handle": [header_example]}
            components.append(header)
        body: dict[str, Any] = {"type": "BODY", "text": str(data.get("body") or "")}
        examples = _lines(str(data.get("body_examples") or ""))
        if examples:
            if named:
                pairs = [line.partition("=") for line in examples]
                body["example"] = {
                    "body_text_named_params": [
                        {"param_name": k.strip(), "example": v.strip()} for k, _, v in pairs
                    ]
                }
            else:
                body["example"] = {"body_text": [examples]}
        components.append(body)
        if str(data.get("footer") or "").strip():
            components.append({"type": "FOOTER", "text": str(data.get("footer"))})
        buttons = [_button(line) for line in _lines(str(data.get("buttons") or ""))]
        if buttons:
            components.append({"type": "BUTTONS", "buttons": buttons})
    return {
        "name": str(data.get("name") or "").strip(),
        "language": str(data.get("language") or "").strip(),
        "category": category,
        "parameter_format": "NAMED" if named else "POSITIONAL",
        "components": components,
    }


def _component(components: list[Any], kind: str) -> dict[str, Any]:
    for component in components:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            return component
    return {}


def _button_line(button: Mapping[str, Any]) -> str:
    kind = str(button.get("type", "")).upper()
    if kind == "URL":
        example = button.get("example")
        example = example[0] if isinstance(example, list) and example else example or ""
        return " | ".join(str(p) for p in (kind, button.get("text", ""), button.get("url", ""), example) if p)
    if kind == "PHONE_NUMBER":
        return f"{kind} | {button.get('text', '')} | {button.get('phone_number', '')}"
    if kind == "COPY_CODE":
        return f"{kind} | {button.get('example', '')}"
    return f"{kind} | {button.get('text', '')}"


def form_initial(template: Template) -> dict[str, Any]:
    components = template.components if isinstance(template.components, list) else []
    header, body = _component(components, "HEADER"), _component(components, "BODY")
    footer, buttons = _component(components, "FOOTER"), _component(components, "BUTTONS")
    header_example = body_examples = ""
    example = header.get("example") or {}
    if example.get("header_handle"):
        header_example = str(example["header_handle"][0])
    elif example.get("header_text"):
        header_example = str(example["header_text"][0])
    elif example.get("header_text_named_params"):
        header_example = str(example["header_text_named_params"][0].get("example", ""))
    example = body.get("example") or {}
    if example.get("body_text"):
        body_examples = "\n".join(str(v) for v in example["body_text"][0])
    elif example.get("body_text_named_params"):
        body_examples = "\n".join(
            f"{p.get('param_name')}={p.get('example')}" for p in example["body_text_named_params"]
        )
    return {
        "channel": str(template.channel_id),
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "parameter_format": template.parameter_format,
        "header_format": str(header.get("format", "")).upper(),
        "header_text": header.get("text", ""),
        "header_example": header_example,
        "body": body.get("text", ""),
        "body_examples": body_examples,
        "footer": footer.get("text", footer.get("code_expiration_minutes", "")),
        "buttons": "\n".join(_button_line(b) for b in buttons.get("buttons", []) if isinstance(b, dict)),
    }


def form_fits(template: Template) -> bool:
    """Whether the form shows every part of the template (carousels, flows … are edited over the API)."""
    fits: bool = form_definition(form_initial(template))["components"] == template.components
    return fits


_FIELD_OF = {
    "name": "name", "language": "language", "category": "category", "parameter_format": "parameter_format",
    "header": "header_format", "header.format": "header_format", "header.text": "header_text",
    "header.example": "header_example", "body": "body", "body.text": "body", "body.example": "body_examples",
    "footer": "footer", "footer.text": "footer", "footer.code_expiration_minutes": "footer",
}  # fmt: skip


def add_lint_errors(form: TemplateForm, errors: list[LintError]) -> None:
    """Each lint error under the form field it concerns; the rest at the top of the form."""
    for error in errors:
        target = _FIELD_OF.get(error.field)
        message = error.message
        if error.field.startswith("buttons"):
            target = "buttons"
            if error.field.startswith("buttons["):
                index = error.field[len("buttons[") :].split("]", 1)[0]
                message = f"Button {int(index) + 1}: {message}" if index.isdigit() else message
        form.add_error(target, message)


# --- pages -----------------------------------------------------------------------------------------


def _template_or_404(request: HttpRequest, template_id: int) -> Template:
    found = queries.template(membership(request).workspace_id, template_id)
    if found is None:
        raise Http404("No such template")
    return found


def _form(request: HttpRequest, data: Mapping[str, Any] | None = None, **kwargs: Any) -> TemplateForm:
    form = TemplateForm(data, **kwargs)
    channel = form.fields["channel"]
    assert isinstance(channel, forms.ChoiceField)
    channel.choices = [
        (str(c.pk), f"{c.name} ({c.display_phone_number})")
        for c in queries.channels(membership(request).workspace_id)
    ]
    return form


def _can(request: HttpRequest, perm: Perm) -> bool:
    return role_allows(membership(request).role, perm)


@workspace_page(Perm.VIEW_WORKSPACE)
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    me = membership(request)
    context = {
        "templates": queries.templates(me.workspace_id),
        "channels": queries.channels(me.workspace_id),
        "can_write": _can(request, Perm.WRITE_TEMPLATES),
        "can_approve": _can(request, Perm.APPROVE_TEMPLATES),
        "in_review": queries.review_queue(me.workspace_id).count(),
        "notice": request.GET.get("notice", "") == "sync" and "Sync with Meta started.",
    }
    return render(request, "web/msgtemplates/list.html", context)


def _editor(
    request: HttpRequest, form: TemplateForm, template: Template | None = None, **extra: Any
) -> HttpResponse:
    definition = form_definition(form.data if form.is_bound else form.initial)
    fits = template is None or form_fits(template)
    if template is not None and not fits:
        definition = template.definition()
    context = {
        "form": form,
        "template": template,
        "form_fits": fits,
        "components_json": json.dumps(template.components, indent=2, ensure_ascii=False) if template else "",
        "preview": render_components(definition["components"], definition["category"]),
        "can_write": _can(request, Perm.WRITE_TEMPLATES),
        "can_approve": _can(request, Perm.APPROVE_TEMPLATES),
        "versions": queries.versions(template.workspace_id, template.pk) if template else [],
        **extra,
    }
    status = 400 if form.errors else 200
    return render(request, "web/msgtemplates/editor.html", context, status=status)


@workspace_page(Perm.WRITE_TEMPLATES)
@require_http_methods(["GET", "POST"])
def template_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _editor(request, _form(request, initial={"language": "en_US", "category": "UTILITY"}))
    form = _form(request, request.POST)
    if form.is_valid():
        me = membership(request)
        channel = queries.channel(me.workspace_id, int(form.cleaned_data["channel"]))
        if channel is None:
            raise Http404("No such channel")
        try:
            template = actions.create_template(
                me, channel, form_definition(form.cleaned_data), origin=origin_of(request)
            )
        except TemplateInvalid as error:
            add_lint_errors(form, error.errors)
        except TemplateError as error:
            form.add_error(None, error.message)
        else:
            return redirect("web:template_detail", me.workspace.slug, template.pk)
    return _editor(request, form)


@workspace_page(Perm.VIEW_WORKSPACE)
@require_GET
def template_detail(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _template_or_404(request, template_id)
    return _editor(request, _form(request, initial=form_initial(template)), template)


@workspace_page(Perm.WRITE_TEMPLATES)
@require_POST
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _template_or_404(request, template_id)
    if not form_fits(template):
        message = "This template has parts the form cannot show: edit it over the API."
        return _editor(request, _form(request, initial=form_initial(template)), template, error=message)
    data = request.POST.copy()
    data["channel"] = str(template.channel_id)  # a template stays on its number's account
    form = _form(request, data)
    if form.is_valid():
        try:
            actions.edit_template(
                membership(request), template, form_definition(form.cleaned_data), origin=origin_of(request)
            )
        except TemplateInvalid as error:
            add_lint_errors(form, error.errors)
        except TemplateError as error:
            form.add_error(None, error.message)
        else:
            return redirect("web:template_detail", membership(request).workspace.slug, template.pk)
    return _editor(request, form, template)


@workspace_page(Perm.VIEW_WORKSPACE)
@require_POST
def template_preview(request: HttpRequest) -> HttpResponse:
    """The htmx partial: the preview and the lint's messages for what is in the form right now."""
    definition = form_definition(request.POST)
    context = {
        "preview": render_components(definition["components"], definition["category"]),
        "problems": lint(definition),
    }
    return render(request, "web/msgtemplates/_preview.html", context)


def _step(request: HttpRequest, template_id: int, step: Any, **kwargs: Any) -> HttpResponse:
    template = _template_or_404(request, template_id)
    try:
        step(membership(request), template, origin=origin_of(request), **kwargs)
    except TemplateInvalid as error:
        form = _form(request, initial=form_initial(template))
        return _editor(request, form, template, error=error.message, problems=error.errors)
    except TemplateError as error:
        return _editor(request, _form(request, initial=form_initial(template)), template, error=error.message)
    return redirect("web:template_detail", membership(request).workspace.slug, template.pk)


@workspace_page(Perm.WRITE_TEMPLATES)
@require_POST
def template_submit(request: HttpRequest, template_id: int) -> HttpResponse:
    return _step(request, template_id, actions.submit_for_review)


@workspace_page(Perm.APPROVE_TEMPLATES)
@require_POST
def template_approve(request: HttpRequest, template_id: int) -> HttpResponse:
    return _step(request, template_id, actions.approve_template, comment=request.POST.get("comment", ""))


@workspace_page(Perm.APPROVE_TEMPLATES)
@require_POST
def template_reject(request: HttpRequest, template_id: int) -> HttpResponse:
    return _step(request, template_id, actions.reject_template, comment=request.POST.get("comment", ""))


@workspace_page(Perm.VIEW_WORKSPACE)
@require_POST
def template_retry(request: HttpRequest, template_id: int) -> HttpResponse:
    return _step(request, template_id, actions.retry_submission)


@workspace_page(Perm.APPROVE_TEMPLATES)
@require_GET
def template_review(request: HttpRequest) -> HttpResponse:
    me = membership(request)
    queue = [(t, render_components(t.components, t.category)) for t in queries.review_queue(me.workspace_id)]
    return render(request, "web/msgtemplates/review.html", {"queue": queue})


@workspace_page(Perm.WRITE_TEMPLATES)
@require_POST
def template_sync(request: HttpRequest) -> HttpResponse:
    me = membership(request)
    raw = request.POST.get("channel", "")
    channel = queries.channel(me.workspace_id, int(raw)) if raw.isdigit() else None
    if channel is None:
        raise Http404("No such channel")
    from chatrk.msgtemplates import tasks

    transaction.on_commit(lambda: tasks.sync_channel_templates.enqueue(channel.pk))
    return redirect(f"/w/{me.workspace.slug}/templates/?notice=sync")


urlpatterns: list[URLPattern] = [
    path("", template_list, name="templates"),
    path("new/", template_new, name="template_new"),
    path("preview/", template_preview, name="template_preview"),
    path("review/", template_review, name="template_review"),
    path("sync/", template_sync, name="template_sync"),
    path("<int:template_id>/", template_detail, name="template_detail"),
    path("<int:template_id>/edit/", template_edit, name="template_edit"),
    path("<int:template_id>/submit/", template_submit, name="template_submit"),
    path("<int:template_id>/approve/", template_approve, name="template_approve"),
    path("<int:template_id>/reject/", template_reject, name="template_reject"),
    path("<int:template_id>/retry/", template_retry, name="template_retry"),
]
