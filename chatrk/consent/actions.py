"""Consent actions: the only code that writes the ledger.

Each public action runs in one transaction with its audit event (ids only). The ledger is append-only;
``ConsentState`` is a cache of it, updated in the same transaction and rebuildable (``rebuild_states``).

Integration points (see docs/consent.md): the ingest drainer calls ``apply_inbound_reply`` for every
inbound message and ``apply_user_preference`` for Meta's ``user_preferences`` webhook; the outbound
sender calls ``apply_send_error_131050`` on that error, ``claim_opt_out_confirmation`` after a
revocation and ``claim_double_opt_ins`` / ``mark_double_opt_in_sent`` for the confirmation template.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from django.db import transaction
from django.db.models import QuerySet

from chatrk.audit.actions import Actor, Origin, record
from chatrk.audit.models import Outcome
from chatrk.consent.errors import ConsentError
from chatrk.consent.keywords import (
    Classification,
    NeedsReview,
    Resubscribe,
    Revoke,
    classify_payload,
    classify_reply,
    language_keywords,
    normalise,
)
from chatrk.consent.models import (
    CONSENT_PURPOSES,
    STATUS_AFTER,
    ConsentEvent,
    ConsentSettings,
    ConsentState,
    ConsentWording,
    DoubleOptIn,
    Kind,
    OptOutConfirmation,
    Purpose,
    ReviewItem,
    Source,
    Status,
)
from chatrk.core.clock import now
from chatrk.core.ids import new_id

CONTACT_ACTOR_KIND = "contact"  # the person themself (a keyword, a button, a WhatsApp preference)
OFF_WHATSAPP = frozenset({Source.WEB_FORM, Source.IMPORT, Source.API})
CAPTURE_METHODS = frozenset(
    {"checkbox", "keyword", "button", "paper", "ivr", "verbal", "web_form", "signature", "other"}
)
ERROR_MARKETING_OPT_OUT = 131050


@dataclass(frozen=True, slots=True)
class Proof:
    """How, when and by whom a change was captured: stored with every event it produces."""

    source: Source
    captured_by: Actor
    occurred_at: datetime | None = None  # when the person acted; defaults to now
    wording_id: int | None = None
    capture_method: str = ""
    ip: str = ""
    user_agent: str = ""
    evidence_wamid: str = ""
    evidence_message_id: int | None = None
    evidence_ref: str = ""
    keyword: str = ""
    error_code: int | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What an action wrote: the change id and the events (empty when nothing changed)."""

    change_id: int
    events: tuple[ConsentEvent, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.events)

    @property
    def purposes(self) -> tuple[str, ...]:
        return tuple(e.purpose for e in self.events)


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What an inbound message did: ``revoked``, ``resubscribed``, ``confirmed``, ``needs_review`` or
    ``none``; whether an opt-out confirmation is now owed (claim it with ``claim_opt_out_confirmation``)."""

    outcome: str
    change: Change | None = None
    confirmation_due: bool = False


@dataclass(frozen=True, slots=True)
class DoubleOptInDue:
    change_id: int
    contact_id: int
    purposes: tuple[str, ...]
    template: str
    language: str


# --- settings and wordings --------------------------------------------------------------------------


def settings_for(workspace_id: int) -> ConsentSettings:
    """The workspace's consent settings (unsaved defaults if it never changed them)."""
    found = ConsentSettings.objects.filter(workspace_id=workspace_id).first()
    return found or ConsentSettings(workspace_id=workspace_id, updated_at=now())


def update_settings(
    workspace_id: int,
    *,
    actor: Actor,
    double_opt_in: bool,
    confirmation_template: str,
    confirmation_language: str = "en",
    keyword_languages: Sequence[str] = (),
    opt_out_keywords: Sequence[str] = (),
    resubscribe_keywords: Sequence[str] = (),
    opt_out_reply: str | None = None,
    origin: Origin | None = None,
) -> ConsentSettings:
    from chatrk.consent.keywords import LANGUAGE_OPT_OUT, normalise_keywords

    unknown = [code for code in keyword_languages if code not in LANGUAGE_OPT_OUT]
    if unknown:
        raise ConsentError("Unknown keyword language.", field="keyword_languages")
    if not confirmation_template.strip():
        raise ConsentError("Name the confirmation template.", field="confirmation_template")
    if opt_out_reply is not None and not 0 < len(opt_out_reply.strip()) <= 1024:
        raise ConsentError("Write the opt-out reply (at most 1,024 characters).", field="opt_out_reply")
    with transaction.atomic():
        row = ConsentSettings.objects.select_for_update().filter(workspace_id=workspace_id).first()
        row = row or ConsentSettings(workspace_id=workspace_id)
        row.double_opt_in = double_opt_in
        row.confirmation_template = confirmation_template.strip()
        row.confirmation_language = confirmation_language.strip() or "en"
        row.keyword_languages = sorted(set(keyword_languages))
        row.opt_out_keywords = sorted(normalise_keywords(opt_out_keywords))
        row.resubscribe_keywords = sorted(normalise_keywords(resubscribe_keywords))
        if opt_out_reply is not None:
            row.opt_out_reply = opt_out_reply.strip()
        row.updated_at = now()
        row.save()
        record(
            "consent.settings.changed",
            actor=actor,
            workspace_id=workspace_id,
            origin=origin,
            details={"double_opt_in": double_opt_in},
        )
    return row


def wording_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def publish_wording(
    workspace_id: int,
    *,
    text: str,
    business_name: str,
    purposes: Sequence[str],
    actor: Actor,
    user_id: int | None = None,
    origin: Origin | None = None,
) -> ConsentWording:
    """A new version of the opt-in wording, kept verbatim; the same text again returns its version."""
    chosen = _purposes(purposes)
    if not text.strip():
        raise ConsentError("The wording is empty.", field="text")
    if not business_name.strip() or business_name.strip().casefold() not in text.casefold():
        raise ConsentError("The wording must name the business (WhatsApp policy).", field="text")
    digest = wording_hash(text)
    with transaction.atomic():
        existing = ConsentWording.objects.filter(workspace_id=workspace_id, sha256=digest).first()
        if existing is not None:
            return existing
        last = ConsentWording.objects.filter(workspace_id=workspace_id).order_by("-version").first()
        wording = ConsentWording.objects.create(
            workspace_id=workspace_id,
            version=(last.version + 1) if last else 1,
            text=text,
            sha256=digest,
            business_name=business_name.strip(),
            purposes=list(chosen),
            created_by_id=user_id,
            created_at=now(),
        )
        record(
            "consent.wording.published",
            actor=actor,
            workspace_id=workspace_id,
            target=("consent_wording", wording.pk),
            origin=origin,
            details={"version": wording.version, "sha256": digest},
        )
    return wording


def _purposes(purposes: Iterable[str]) -> tuple[Purpose, ...]:
    try:
        chosen = tuple(dict.fromkeys(Purpose(p) for p in purposes))
    except ValueError:
        raise ConsentError("Unknown purpose.", field="purposes") from None
    if not chosen or Purpose.SERVICE in chosen:
        raise ConsentError("Choose marketing, utility and/or authentication.", field="purposes")
    return chosen


# --- the ledger core --------------------------------------------------------------------------------


def _state_row(workspace_id: int, contact_id: int, purpose: str) -> ConsentState | None:
    return (
        ConsentState.objects.select_for_update()
        .filter(workspace_id=workspace_id, contact_id=contact_id, purpose=purpose)
        .first()
    )


def _allowed(kind: Kind, purpose: str, state: ConsentState | None) -> bool:
    status = state.status if state else Status.NONE
    if kind is Kind.GRANT:
        return True  # a fresh grant renews the proof
    if kind is Kind.PENDING:
        return status != Status.ACTIVE  # never downgrade active consent to pending
    if kind is Kind.CONFIRM:
        return status == Status.PENDING
    if kind is Kind.REVOKE:
        return status != Status.REVOKED  # a revocation is recorded even without prior consent
    # RESTORE brings back only consent that existed (a reply hold lifts whenever the customer writes).
    return status == Status.REVOKED and (purpose == Purpose.SERVICE or bool(state and state.was_active))


def _write(
    workspace_id: int, contact_id: int, purposes: Iterable[str], kind: Kind, proof: Proof, change_id: int
) -> Change:
    """Appends one event per purpose whose state the change moves, and updates the cache. Call inside
    a transaction."""
    moment = now()
    written: list[ConsentEvent] = []
    for purpose in purposes:
        state = _state_row(workspace_id, contact_id, purpose)
        if not _allowed(kind, purpose, state):
            continue
        event = ConsentEvent(
            workspace_id=workspace_id,
            contact_id=contact_id,
            purpose=purpose,
            kind=kind,
            source=proof.source,
            change_id=change_id,
            wording_id=proof.wording_id,
            captured_by_kind=proof.captured_by.kind,
            captured_by_id=proof.captured_by.id,
            occurred_at=proof.occurred_at or moment,
            recorded_at=moment,
            capture_method=proof.capture_method,
            keyword=proof.keyword[:32],
            error_code=proof.error_code,
            evidence_wamid=proof.evidence_wamid[:200],
            evidence_message_id=proof.evidence_message_id,
        )
        event.ip = proof.ip or None
        event.user_agent = proof.user_agent[:300] or None
        event.evidence_ref = proof.evidence_ref[:200] or None
        event.save()
        status = STATUS_AFTER[kind]
        was_active = bool(state and state.was_active) or status == Status.ACTIVE
        if state is None:
            ConsentState.objects.create(
                workspace_id=workspace_id,
                contact_id=contact_id,
                purpose=purpose,
                status=status,
                last_event=event,
                was_active=was_active,
                changed_at=moment,
            )
        else:
            state.status, state.last_event, state.was_active, state.changed_at = (
                status,
                event,
                was_active,
                moment,
            )
            state.save(update_fields=["status", "last_event", "was_active", "changed_at"])
        written.append(event)
    change = Change(change_id, tuple(written))
    if written:
        details: dict[str, str | int | bool | None] = {
            "purposes": ",".join(change.purposes),
            "source": str(proof.source),
            "change_id": change_id,
            "wording_id": proof.wording_id,
            "evidence_message_id": proof.evidence_message_id,
        }
        if proof.keyword:
            details["keyword"] = proof.keyword[:32]
        if proof.error_code:
            details["error_code"] = proof.error_code
        record(
            f"consent.{kind}",
            actor=proof.captured_by,
            workspace_id=workspace_id,
            target=("contact", contact_id),
            origin=Origin(proof.ip, proof.user_agent),
            details=details,
        )
    return change


def _last_revocation_at(workspace_id: int, contact_id: int, purposes: Iterable[str]) -> datetime | None:
    return (
        ConsentEvent.objects.filter(
            workspace_id=workspace_id, contact_id=contact_id, purpose__in=list(purposes), kind=Kind.REVOKE
        )
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )


def _check_wording(workspace_id: int, wording_id: int | None, purposes: Sequence[Purpose]) -> None:
    if wording_id is None:
        raise ConsentError("Consent needs the wording that was shown.", field="wording")
    wording = ConsentWording.objects.filter(workspace_id=workspace_id, pk=wording_id).first()
    if wording is None:
        raise ConsentError("Unknown wording version.", field="wording")
    missing = [p for p in purposes if p.value not in wording.purposes]
    if missing:
        raise ConsentError("The wording shown does not ask for that purpose.", field="purposes")


def record_consent(
    workspace_id: int,
    contact_id: int,
    purposes: Sequence[str],
    proof: Proof,
    *,
    double_opt_in: bool | None = None,
) -> Change:
    """Records consent with its proof. Off WhatsApp (web form, import, API) with double opt-in on, the
    consent is *pending* until the YES reply; otherwise it is active at once. Refused when the wording
    is unknown or does not cover the purposes, when the capture is in the future, or when it predates a
    later revocation (an old consent never overrides a newer opt-out)."""
    chosen = _purposes(purposes)
    _check_wording(workspace_id, proof.wording_id, chosen)
    if proof.capture_method and proof.capture_method not in CAPTURE_METHODS:
        raise ConsentError("Unknown capture method.", field="capture_method")
    moment = now()
    occurred = proof.occurred_at or moment
    if occurred > moment:
        raise ConsentError("The capture time is in the future.", field="captured_at")
    if double_opt_in is None:
        double_opt_in = proof.source in OFF_WHATSAPP and settings_for(workspace_id).double_opt_in
    with transaction.atomic():
        _lock_contact(workspace_id, contact_id)
        revoked_at = _last_revocation_at(workspace_id, contact_id, chosen)
        if revoked_at is not None and occurred <= revoked_at:
            raise ConsentError("This consent predates a later revocation.", field="captured_at")
        change_id = new_id()
        kind = Kind.PENDING if double_opt_in else Kind.GRANT
        change = _write(workspace_id, contact_id, chosen, kind, proof, change_id)
        if kind is Kind.PENDING and change.changed:
            DoubleOptIn.objects.create(
                workspace_id=workspace_id, contact_id=contact_id, change_id=change_id, requested_at=moment
            )
    return change


def revoke_consent(workspace_id: int, contact_id: int, purposes: Sequence[str], proof: Proof) -> Change:
    """Revokes the purposes (a revocation is recorded even where there was no consent, so an older
    consent imported later cannot override it)."""
    chosen = _purposes(purposes)
    with transaction.atomic():
        _lock_contact(workspace_id, contact_id)
        return _write(workspace_id, contact_id, chosen, Kind.REVOKE, proof, new_id())


def _lock_contact(workspace_id: int, contact_id: int) -> None:
    """Serialises changes per contact (row lock on PostgreSQL; SQLite writes are serialised anyway)."""
    from chatrk.inbox.models import Contact

    if not Contact.objects.select_for_update().filter(workspace_id=workspace_id, pk=contact_id).exists():
        raise ConsentError("No such contact.")


# --- revocation and resubscription from WhatsApp ----------------------------------------------------


def _contact_proof(
    source: Source,
    occurred_at: datetime | None,
    *,
    wamid: str = "",
    message_id: int | None = None,
    keyword: str = "",
    error_code: int | None = None,
    method: str = "",
) -> Proof:
    return Proof(
        source=source,
        captured_by=Actor(CONTACT_ACTOR_KIND),
        occurred_at=occurred_at,
        evidence_wamid=wamid,
        evidence_message_id=message_id,
        keyword=keyword,
        error_code=error_code,
        capture_method=method,
    )


def _keywords(workspace_id: int) -> tuple[frozenset[str], frozenset[str]]:
    config = settings_for(workspace_id)
    out, back = language_keywords(config.keyword_languages)
    return out | frozenset(config.opt_out_keywords), back | frozenset(config.resubscribe_keywords)


def apply_inbound_reply(
    workspace_id: int,
    contact_id: int,
    *,
    wamid: str,
    received_at: datetime,
    text: str | None = None,
    button_payload: str | None = None,
    message_id: int | None = None,
    opt_out_only: bool = False,
) -> ReplyOutcome:
    """For every inbound message, in the drain batch that stores it, before anything is sent.

    ``text``: the body of a text message; ``button_payload``: a template quick-reply's ``payload`` or an
    interactive ``button_reply.id``. An opt-out keyword or unsubscribe payload revokes every purpose and
    holds free-form replies; YES (or the confirmation payload) confirms pending consent; START / UNSTOP /
    YES restore what an opt-out revoked; free text that looks like an opt-out is flagged for review;
    any other message lifts a keyword hold on replies (the customer wrote again). ``opt_out_only`` (a
    blocked number's message, dropped unstored) applies a revocation and nothing else."""
    verdict, method = _verdict(workspace_id, text, button_payload)
    if opt_out_only and not isinstance(verdict, Revoke):
        return ReplyOutcome("none")
    if verdict is None and not _reply_hold(workspace_id, contact_id).exists():
        return ReplyOutcome("none")  # the common case: an ordinary message and no opt-out hold to lift
    with transaction.atomic():
        _lock_contact(workspace_id, contact_id)
        if isinstance(verdict, Revoke):
            proof = _contact_proof(
                Source.KEYWORD,
                received_at,
                wamid=wamid,
                message_id=message_id,
                keyword=verdict.keyword,
                method=method,
            )
            change = _write(
                workspace_id, contact_id, (*CONSENT_PURPOSES, Purpose.SERVICE), Kind.REVOKE, proof, new_id()
            )
            if change.changed:
                OptOutConfirmation.objects.create(
                    workspace_id=workspace_id,
                    contact_id=contact_id,
                    change_id=change.change_id,
                    created_at=now(),
                )
            return ReplyOutcome("revoked", change, confirmation_due=change.changed)
        if isinstance(verdict, Resubscribe):
            proof = _contact_proof(
                Source.KEYWORD,
                received_at,
                wamid=wamid,
                message_id=message_id,
                keyword=verdict.keyword,
                method=method,
            )
            change_id = new_id()
            # YES confirms pending consent only once WhatsApp accepted the confirmation template (a
            # "yes" to something else before it, or after a send that failed, is not the reply to it).
            asked = (
                DoubleOptIn.objects.filter(
                    workspace_id=workspace_id, contact_id=contact_id, confirmed_at__isnull=True
                )
                .exclude(sent_wamid="")
                .exists()
            )
            pending = CONSENT_PURPOSES if asked else ()
            confirmed = _write(workspace_id, contact_id, pending, Kind.CONFIRM, proof, change_id)
            restored = _write(
                workspace_id, contact_id, (*CONSENT_PURPOSES, Purpose.SERVICE), Kind.RESTORE, proof, change_id
            )
            if confirmed.changed:
                DoubleOptIn.objects.filter(
                    workspace_id=workspace_id, contact_id=contact_id, confirmed_at__isnull=True
                ).update(confirmed_at=now())
            both = Change(change_id, confirmed.events + restored.events)
            if confirmed.changed:
                return ReplyOutcome("confirmed", both)
            if restored.changed:
                return ReplyOutcome("resubscribed", both)
            return ReplyOutcome("none")
        if isinstance(verdict, NeedsReview):  # a possible opt-out keeps any reply hold in place
            ReviewItem.objects.create(
                workspace_id=workspace_id,
                contact_id=contact_id,
                message_id=message_id,
                wamid=wamid[:200],
                created_at=now(),
            )
            record(
                "consent.review_needed",
                actor=Actor(CONTACT_ACTOR_KIND),
                workspace_id=workspace_id,
                target=("contact", contact_id),
                details={"evidence_message_id": message_id},
            )
            return ReplyOutcome("needs_review")
        lifted = _lift_hold(workspace_id, contact_id, received_at, wamid=wamid, message_id=message_id)
        return ReplyOutcome("none", lifted)


def _verdict(
    workspace_id: int,
    text: str | None,
    button_payload: str | None,
    keywords: Callable[[int], tuple[frozenset[str], frozenset[str]]] | None = None,
) -> tuple[Classification, str]:
    """What a reply says (None: an ordinary message) and how it said it (``button`` or ``keyword``)."""
    if button_payload:
        return classify_payload(button_payload), "button"
    verdict = classify_reply(text or "")
    if verdict is None and " " not in normalise(text or ""):
        # Only a single word can be one of the workspace's own keywords: read its settings then.
        out, back = (keywords or _keywords)(workspace_id)
        verdict = classify_reply(text or "", out, back)
    return verdict, "keyword"


def replies_to_apply(replies: Sequence[tuple[int, int, str | None, str | None, bool]]) -> list[bool]:
    """For a drain batch of replies (workspace id, contact id, text, button payload, opt-out only), in
    order: which need ``apply_inbound_reply``. An ordinary message changes the ledger only if it lifts a
    reply hold, so the holds of the batch's contacts are read in one query per workspace instead of one
    per message; a contact whose earlier reply in the batch is applied is always applied again (that
    reply may have just made a hold)."""
    keywords = cache(_keywords)
    verdicts = [_verdict(ws, text, payload, keywords)[0] for ws, _, text, payload, _ in replies]
    ordinary: dict[int, set[int]] = {}
    for (ws, contact_id, _, _, only), verdict in zip(replies, verdicts, strict=True):
        if verdict is None and not only:
            ordinary.setdefault(ws, set()).add(contact_id)
    held = {
        (ws, contact_id)
        for ws, contacts in ordinary.items()
        for contact_id in _reply_holds(ws, contacts).values_list("contact_id", flat=True)
    }
    due: list[bool] = []
    for (ws, contact_id, _, _, only), verdict in zip(replies, verdicts, strict=True):
        apply = (isinstance(verdict, Revoke) if only else verdict is not None) or (
            not only and (ws, contact_id) in held
        )
        if apply:
            held.add((ws, contact_id))
        due.append(apply)
    return due


def _reply_holds(workspace_id: int, contact_ids: Collection[int]) -> QuerySet[ConsentState]:
    return ConsentState.objects.filter(
        workspace_id=workspace_id, contact_id__in=list(contact_ids), purpose=Purpose.SERVICE,
        status=Status.REVOKED,
    )  # fmt: skip


def _reply_hold(workspace_id: int, contact_id: int) -> QuerySet[ConsentState]:
    """A keyword opt-out holds free-form replies until the customer writes an ordinary message."""
    return ConsentState.objects.filter(
        workspace_id=workspace_id, contact_id=contact_id, purpose=Purpose.SERVICE, status=Status.REVOKED
    )


def _lift_hold(
    workspace_id: int, contact_id: int, at: datetime, *, wamid: str, message_id: int | None
) -> Change | None:
    if not _reply_hold(workspace_id, contact_id).exists():
        return None
    proof = _contact_proof(Source.IN_THREAD, at, wamid=wamid, message_id=message_id, method="message")
    return _write(workspace_id, contact_id, (Purpose.SERVICE,), Kind.RESTORE, proof, new_id())


def apply_user_preference(workspace_id: int, contact_id: int, *, value: str, occurred_at: datetime) -> Change:
    """Meta's ``user_preferences`` webhook (category ``marketing_messages``): ``stop`` revokes marketing;
    ``resume`` (and ``signup``) restore marketing consent that a revocation took away. Other values change
    nothing."""
    proof = _contact_proof(Source.META_PREFERENCE, occurred_at, method=value[:16])
    with transaction.atomic():
        _lock_contact(workspace_id, contact_id)
        if value == "stop":
            return _write(workspace_id, contact_id, (Purpose.MARKETING,), Kind.REVOKE, proof, new_id())
        if value in {"resume", "signup"}:
            return _write(workspace_id, contact_id, (Purpose.MARKETING,), Kind.RESTORE, proof, new_id())
    return Change(0)


def apply_send_error_131050(
    workspace_id: int, contact_id: int, *, wamid: str = "", occurred_at: datetime | None = None
) -> Change:
    """A send failed with 131050 (the person stopped marketing messages in WhatsApp): revoke marketing."""
    proof = _contact_proof(Source.SEND_ERROR, occurred_at, wamid=wamid, error_code=ERROR_MARKETING_OPT_OUT)
    with transaction.atomic():
        _lock_contact(workspace_id, contact_id)
        return _write(workspace_id, contact_id, (Purpose.MARKETING,), Kind.REVOKE, proof, new_id())


def claim_opt_out_confirmation(workspace_id: int, contact_id: int) -> int | None:
    """Whether one opt-out confirmation reply is owed, claimed atomically: the change id of the
    revocation the first time, then ``None`` (a second STOP, a retry, another worker). The caller sends
    the confirmation text through the outbox; it is the only message allowed after the revocation."""
    with transaction.atomic():
        owed = (
            OptOutConfirmation.objects.select_for_update()
            .filter(workspace_id=workspace_id, contact_id=contact_id, claimed_at__isnull=True)
            .order_by("-change_id")
            .first()
        )
        if owed is None:
            return None
        claimed = OptOutConfirmation.objects.filter(
            workspace_id=workspace_id, contact_id=contact_id, claimed_at__isnull=True
        ).update(claimed_at=now())
        if not claimed:
            return None
        record(
            "consent.opt_out_confirmation.claimed",
            actor=Actor("system"),
            workspace_id=workspace_id,
            target=("contact", contact_id),
            details={"change_id": owed.change_id},
        )
        return owed.change_id


def resolve_review(
    workspace_id: int, review_id: int, *, user_id: int, revoke: bool, origin: Origin | None = None
) -> ReviewItem:
    """An agent's decision on a flagged reply: ``revoke`` records an opt-out of every purpose (source
    ``agent``, the message as evidence, one confirmation owed), otherwise the item is dismissed."""
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().filter(workspace_id=workspace_id, pk=review_id).first()
        if item is None:
            raise ConsentError("No such review item.")
        if item.outcome != ReviewItem.Outcome.OPEN:
            return item
        if revoke:
            proof = Proof(
                source=Source.AGENT,
                captured_by=Actor.user(user_id),
                evidence_wamid=item.wamid,
                evidence_message_id=item.message_id,
                capture_method="verbal",
                ip=origin.ip if origin else "",
            )
            _lock_contact(workspace_id, item.contact_id)
            change = _write(
                workspace_id,
                item.contact_id,
                (*CONSENT_PURPOSES, Purpose.SERVICE),
                Kind.REVOKE,
                proof,
                new_id(),
            )
            if change.changed:
                OptOutConfirmation.objects.create(
                    workspace_id=workspace_id,
                    contact_id=item.contact_id,
                    change_id=change.change_id,
                    created_at=now(),
                )
        item.outcome = ReviewItem.Outcome.REVOKED if revoke else ReviewItem.Outcome.DISMISSED
        item.resolved_by_id, item.resolved_at = user_id, now()
        item.save(update_fields=["outcome", "resolved_by", "resolved_at"])
        record(
            "consent.review_resolved",
            actor=Actor.user(user_id),
            workspace_id=workspace_id,
            target=("consent_review", item.pk),
            origin=origin,
            details={"outcome": item.outcome},
        )
    return item


# --- double opt-in ----------------------------------------------------------------------------------


def claim_double_opt_ins(workspace_id: int, *, limit: int = 100) -> list[DoubleOptInDue]:
    """Confirmation templates owed ("Reply YES …"), claimed so each is sent once. The outbound side
    sends ``template`` (a utility template) and then calls ``mark_double_opt_in_sent``."""
    config = settings_for(workspace_id)
    due: list[DoubleOptInDue] = []
    with transaction.atomic():
        rows = list(
            DoubleOptIn.objects.select_for_update()
            .filter(workspace_id=workspace_id, claimed_at__isnull=True, confirmed_at__isnull=True)
            .order_by("requested_at")[:limit]
        )
        moment = now()
        for row in rows:
            purposes = ConsentState.objects.filter(
                workspace_id=workspace_id,
                contact_id=row.contact_id,
                status=Status.PENDING,
                last_event__change_id=row.change_id,
            ).values_list("purpose", flat=True)
            row.claimed_at = moment
            row.save(update_fields=["claimed_at"])
            if purposes:
                due.append(
                    DoubleOptInDue(
                        row.change_id,
                        row.contact_id,
                        tuple(sorted(purposes)),
                        config.confirmation_template,
                        config.confirmation_language,
                    )
                )
    return due


def double_opt_in_failed(workspace_id: int, change_id: int, *, reason: str) -> None:
    """The confirmation template could not be sent (the outbox gave up): the reason is kept on the
    request and audited; consent stays pending, and a new capture asks again."""
    with transaction.atomic():
        DoubleOptIn.objects.filter(workspace_id=workspace_id, change_id=change_id).update(
            send_failure=reason[:300]
        )
        record(
            "consent.double_opt_in.failed",
            actor=Actor("system"),
            workspace_id=workspace_id,
            target=("consent_change", change_id),
            outcome=Outcome.FAILURE,
        )


def mark_double_opt_in_sent(workspace_id: int, change_id: int, *, wamid: str) -> None:
    with transaction.atomic():
        DoubleOptIn.objects.filter(workspace_id=workspace_id, change_id=change_id).update(
            sent_wamid=wamid[:200]
        )
        record(
            "consent.double_opt_in.sent",
            actor=Actor("system"),
            workspace_id=workspace_id,
            target=("consent_change", change_id),
        )


# --- the state is derived from the events -----------------------------------------------------------


@dataclass(slots=True)
class Derived:
    status: str = Status.NONE
    was_active: bool = False
    last_event_id: int = 0
    history: list[str] = field(default_factory=list)


def derive(events: Iterable[ConsentEvent]) -> dict[tuple[int, str], Derived]:
    """The state per (contact, purpose) from the events in id order, by the same rules as ``_write``."""
    states: dict[tuple[int, str], Derived] = {}
    for event in sorted(events, key=lambda e: e.pk):
        state = states.setdefault((event.contact_id, event.purpose), Derived())
        status = STATUS_AFTER[event.kind]
        state.was_active = state.was_active or status == Status.ACTIVE
        state.status, state.last_event_id = status, event.pk
        state.history.append(event.kind)
    return states


def verify_states(workspace_id: int) -> list[tuple[int, str]]:
    """(contact, purpose) pairs whose cached state differs from the events: empty when all agree."""
    derived = derive(ConsentEvent.objects.filter(workspace_id=workspace_id))
    cached = {
        (s.contact_id, s.purpose): (s.status, s.was_active, s.last_event_id)
        for s in ConsentState.objects.filter(workspace_id=workspace_id)
    }
    expected = {key: (d.status, d.was_active, d.last_event_id) for key, d in derived.items()}
    return sorted(k for k in cached.keys() | expected.keys() if cached.get(k) != expected.get(k))


def rebuild_states(workspace_id: int) -> int:
    """Rewrites the cached state from the events; returns the number of rows written."""
    with transaction.atomic():
        derived = derive(ConsentEvent.objects.filter(workspace_id=workspace_id))
        ConsentState.objects.filter(workspace_id=workspace_id).delete()
        moment = now()
        ConsentState.objects.bulk_create(
            ConsentState(
                workspace_id=workspace_id,
                contact_id=contact_id,
                purpose=purpose,
                status=d.status,
                was_active=d.was_active,
                last_event_id=d.last_event_id,
                changed_at=moment,
            )
            for (contact_id, purpose), d in derived.items()
        )
        record(
            "consent.state.rebuilt",
            actor=Actor("system"),
            workspace_id=workspace_id,
            details={"rows": len(derived)},
        )
    return len(derived)
