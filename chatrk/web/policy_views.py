"""Content-policy pages for compliance officers: the review queue and the workspace's tuning."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatrk.accounts.actions import origin_of
from chatrk.audit.actions import Actor
from chatrk.core.models import Membership
from chatrk.core.roles import Perm
from chatrk.crypto.reveal import Erased, reveal
from chatrk.policy import actions, queries
from chatrk.policy.engine import DEFAULT_TUNING
from chatrk.policy.errors import PolicyError
from chatrk.policy.models import HeldItem, HeldStatus
from chatrk.policy.tuning import TUNABLE, TuningInput, as_stored
from chatrk.web.access import membership, workspace_page


def reviewer_of(me: Membership) -> actions.Reviewer:
    return actions.Reviewer(me.workspace_id, me.user_id, me.role, Actor.user(me.user_id))


@workspace_page(Perm.MANAGE_COMPLIANCE)
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    me = membership(request)
    status = request.GET.get("status", HeldStatus.HELD)
    if status not in HeldStatus.values:
        status = HeldStatus.HELD
    items = queries.held_items(me.workspace_id, status)[:200]
    context = {"items": items, "status": status, "statuses": HeldStatus.choices}
    return render(request, "web/policy/queue.html", context)


def _highlighted(text: str, evidence: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """The text cut into (piece, is_evidence) so the page can mark what the rules matched."""
    spans = sorted(
        (int(e["start"]), int(e["end"]))
        for e in evidence
        if 0 <= int(e["start"]) < int(e["end"]) <= len(text)
    )
    pieces: list[tuple[str, bool]] = []
    position = 0
    for start, end in spans:
        if end <= position:
            continue
        start = max(start, position)
        if start > position:
            pieces.append((text[position:start], False))
        pieces.append((text[start:end], True))
        position = end
    if position < len(text):
        pieces.append((text[position:], False))
    return pieces


def _detail(request: HttpRequest, item: HeldItem, *, error: str = "", status: int = 200) -> HttpResponse:
    me = membership(request)
    pieces: list[tuple[str, bool]] = []
    comment = ""
    erased = False
    fields = [name for name in ("text", "comment") if getattr(item, name) is not None]
    if fields:
        opened = reveal(request.user, me, [item], fields, perm=Perm.MANAGE_COMPLIANCE,  # type: ignore[arg-type]
                        origin=origin_of(request), purpose="policy-review")[0]  # fmt: skip
        text = opened.get("text")
        if isinstance(text, Erased):
            erased = True
        elif isinstance(text, str):
            pieces = _highlighted(text, item.evidence)
        note = opened.get("comment")
        comment = note if isinstance(note, str) else ""
    context = {
        "item": item,
        "pieces": pieces,
        "comment": comment,
        "erased": erased,
        "error": error,
    }
    return render(request, "web/policy/detail.html", context, status=status)


def _item_or_404(request: HttpRequest, review_id: int) -> HeldItem:
    item = queries.held_item(membership(request).workspace_id, review_id)
    if item is None:
        raise Http404("No such held item")
    return item


@workspace_page(Perm.MANAGE_COMPLIANCE)
@require_GET
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    return _detail(request, _item_or_404(request, review_id))


@workspace_page(Perm.MANAGE_COMPLIANCE)
@require_POST
def review_release(request: HttpRequest, review_id: int) -> HttpResponse:
    return _decide(request, review_id, actions.release)


@workspace_page(Perm.MANAGE_COMPLIANCE)
@require_POST
def review_reject(request: HttpRequest, review_id: int) -> HttpResponse:
    return _decide(request, review_id, actions.reject)


def _decide(request: HttpRequest, review_id: int, decide: Any) -> HttpResponse:
    item = _item_or_404(request, review_id)
    try:
        decide(reviewer_of(membership(request)), item.pk, comment=request.POST.get("comment", ""),
               origin=origin_of(request))  # fmt: skip
    except PolicyError as error:
        return _detail(request, item, error=error.message, status=400)
    return redirect("web:policy_review_detail", membership(request).workspace.slug, item.pk)


# --- tuning ------------------------------------------------------------------------------------------


class SettingsForm(forms.Form):
    extra_terms = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 5}), label="Extra terms",
        help_text="One per line: term | category | hold or block. Example: crypto airdrop | scam | block",
    )  # fmt: skip
    blocked_domains = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Blocked domains",
        help_text="One per line. Links to these domains (and their sub-domains) block the message.",
    )  # fmt: skip
    allowed_domains = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Allowed link domains",
        help_text="Your own domains (e.g. a branded short-link domain): exempt from spam link signals only.",
    )  # fmt: skip
    same_body_limit = forms.IntegerField(
        min_value=1, max_value=DEFAULT_TUNING.same_body_limit, label="Same free-form text: people per day"
    )
    hourly_limit = forms.IntegerField(min_value=1, max_value=DEFAULT_TUNING.hourly_limit,
                                      label="Free-form messages per hour before holding")  # fmt: skip
    max_links = forms.IntegerField(min_value=0, max_value=DEFAULT_TUNING.max_links, label="Links per message")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for category in TUNABLE:
            self.fields[f"hold_{category.value}"] = forms.IntegerField(
                min_value=1,
                max_value=DEFAULT_TUNING.hold_at[category],
                label=f"{category.label}: hold at (points)",
            )
            self.fields[f"block_{category.value}"] = forms.IntegerField(
                min_value=1,
                max_value=DEFAULT_TUNING.block_at[category],
                label=f"{category.label}: block at (points)",
            )


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _initial(workspace_id: int) -> dict[str, Any]:
    stored = as_stored(queries.tuning_for(workspace_id))
    tuning = queries.tuning_for(workspace_id)
    initial: dict[str, Any] = {
        "extra_terms": "\n".join(
            f"{t['term']} | {t['category']} | {t['action']}" for t in stored["extra_terms"]
        ),
        "blocked_domains": "\n".join(stored["blocked_domains"]),
        "allowed_domains": "\n".join(stored["allowed_domains"]),
        "same_body_limit": tuning.same_body_limit,
        "hourly_limit": tuning.hourly_limit,
        "max_links": tuning.max_links,
    }
    for category in TUNABLE:
        initial[f"hold_{category.value}"] = tuning.hold_at[category]
        initial[f"block_{category.value}"] = tuning.block_at[category]
    return initial


def _input(data: dict[str, Any]) -> TuningInput:
    terms = []
    for line in _lines(data["extra_terms"]):
        term, _, rest = line.partition("|")
        category, _, action = rest.partition("|")
        terms.append({"term": term.strip(), "category": category.strip(), "action": action.strip() or "hold"})
    return TuningInput(
        hold_at={c.value: data[f"hold_{c.value}"] for c in TUNABLE},
        block_at={c.value: data[f"block_{c.value}"] for c in TUNABLE},
        extra_terms=terms,
        blocked_domains=_lines(data["blocked_domains"]),
        allowed_domains=_lines(data["allowed_domains"]),
        same_body_limit=data["same_body_limit"],
        hourly_limit=data["hourly_limit"],
        max_links=data["max_links"],
    )


@workspace_page(Perm.MANAGE_COMPLIANCE)
@require_http_methods(["GET", "POST"])
def policy_settings(request: HttpRequest) -> HttpResponse:
    me = membership(request)
    notice = ""
    if request.method == "POST":
        form = SettingsForm(request.POST)
        if form.is_valid():
            try:
                actions.update_settings(reviewer_of(me), _input(form.cleaned_data), origin=origin_of(request))
            except PolicyError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                notice = "Saved. The new settings apply to the next message checked."
                form = SettingsForm(initial=_initial(me.workspace_id))
    else:
        form = SettingsForm(initial=_initial(me.workspace_id))
    return render(request, "web/policy/settings.html", {"form": form, "notice": notice},
                  status=400 if form.errors else 200)  # fmt: skip
