"""The workspace's canned responses: list, create, edit, delete (those who may manage them), for the
composer's "/shortcut" insertion."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_http_methods, require_POST

from chatrk.accounts.actions import origin_of
from chatrk.core.roles import Perm
from chatrk.inbox import canned
from chatrk.inbox.errors import InboxError
from chatrk.inbox.models import CannedResponse
from chatrk.web.access import membership, workspace_page


class CannedForm(forms.Form):
    shortcut = forms.CharField(
        max_length=33, label="Shortcut",
        help_text="Agents type /shortcut in the composer to insert the text, e.g. hours or returns-policy.",
    )  # fmt: skip
    text = forms.CharField(max_length=canned.MAX_TEXT, widget=forms.Textarea(attrs={"rows": 5}), label="Text")


def _page(
    request: HttpRequest, form: CannedForm, *, editing: CannedResponse | None = None, status: int = 200
) -> HttpResponse:
    context: dict[str, Any] = {
        "responses": canned.canned_responses(membership(request).workspace_id),
        "form": form,
        "editing": editing,
    }
    return render(request, "web/canned.html", context, status=status)


def _save(request: HttpRequest, editing: CannedResponse | None) -> HttpResponse:
    form = CannedForm(request.POST)
    if form.is_valid():
        me, data = membership(request), form.cleaned_data
        try:
            if editing is None:
                canned.create_canned(me, data["shortcut"], data["text"], origin=origin_of(request))
            else:
                canned.update_canned(me, editing, data["shortcut"], data["text"], origin=origin_of(request))
        except InboxError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            return redirect("web:canned", me.workspace.slug)
    return _page(request, form, editing=editing, status=400)


def _found(request: HttpRequest, canned_id: int) -> CannedResponse:
    found = canned.canned_response(membership(request).workspace_id, canned_id)
    if found is None:
        raise Http404("No such canned response")
    return found


@workspace_page(Perm.MANAGE_CANNED)
@require_http_methods(["GET", "POST"])
def canned_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    return _page(request, CannedForm())


@workspace_page(Perm.MANAGE_CANNED)
@require_http_methods(["GET", "POST"])
def canned_edit(request: HttpRequest, canned_id: int) -> HttpResponse:
    found = _found(request, canned_id)
    if request.method == "POST":
        return _save(request, found)
    return _page(request, CannedForm(initial={"shortcut": found.shortcut, "text": found.text}), editing=found)


@workspace_page(Perm.MANAGE_CANNED)
@require_POST
def canned_delete(request: HttpRequest, canned_id: int) -> HttpResponse:
    found = _found(request, canned_id)
    canned.delete_canned(membership(request), found, origin=origin_of(request))
    return redirect("web:canned", membership(request).workspace.slug)


urlpatterns: list[URLPattern] = [
    path("canned/", canned_list, name="canned"),
    path("canned/<int:canned_id>/", canned_edit, name="canned_edit"),
    path("canned/<int:canned_id>/delete/", canned_delete, name="canned_delete"),
]
