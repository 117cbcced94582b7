"""Working a conversation: thread events, round-robin assignment, labels, snooze wake-up, transcripts.

Assignment and status changes themselves are ``inbox.actions.assign_conversation`` and
``set_conversation_status``; they write their thread event through ``record_event`` here. This module
never imports ``inbox.actions`` (which imports it), so the new-conversation path can use the rota.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.db.models import Q

from chatrk.accounts.models import User
from chatrk.audit.actions import SYSTEM, Actor, Origin, record
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Perm, role_allows
from chatrk.crypto.reveal import ERASED
from chatrk.inbox.errors import InboxError
from chatrk.inbox.events import publish
from chatrk.inbox.models import Channel, Conversation, ConversationLabel, Label, Message

# --- thread events ----------------------------------------------------------------------------------

EVENT_KIND = "event"


def record_event(conversation: Conversation, body: str, *, by_user_id: int | None = None) -> Message:
    """Writes "Assigned to Ana" (or similar) into the thread, in the caller's transaction, and tells the
    live page after commit. The body is encrypted under the contact's key like every message."""
    event = Message(
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.pk,
        contact_id=conversation.contact_id,
        channel_id=conversation.channel_id,
        direction=Message.Direction.EVENT,
        kind=EVENT_KIND,
        status=Message.Status.LOGGED,
        sent_by_id=by_user_id,
        created_at=now(),
    )
    event.body = body[:500]
    event.save()
    publish(conversation.workspace_id, "message.new", message_id=event.pk, conversation_id=conversation.pk)
    return event


def actor_user_id(actor: Actor) -> int | None:
    return int(actor.id) if actor.kind == "user" and actor.id.isdigit() else None


def name_of(user_id: int | None) -> str:
    if user_id is None:
        return "nobody"
    name = User.objects.filter(pk=user_id).values_list("name", flat=True).first()
    return name or "a former member"


def by_whom(actor: Actor) -> str:
    """ " by Ana", " by an API token", or nothing for the system's own moves."""
    if actor.kind == "user":
        return f" by {name_of(actor_user_id(actor))}"
    if actor.kind == "token":
        return " by an API token"
    return ""


def assignment_event(assignee_user_id: int | None, actor: Actor) -> str:
    if assignee_user_id is None:
        return f"Unassigned{by_whom(actor)}"
    if assignee_user_id == actor_user_id(actor):
        return f"{name_of(assignee_user_id)} took the conversation"
    return f"Assigned to {name_of(assignee_user_id)}{by_whom(actor)}"


# --- round-robin --------------------------------------------------------------------------------------


def next_in_rota(workspace_id: int, after_user_id: int | None) -> Membership | None:
    """The member after ``after_user_id`` in a stable order (by user id, wrapping round) among active
    members whose role may reply. Ordering by user id keeps the place even if the last one left."""
    members = (
        Membership.objects.for_workspace(workspace_id)
        .filter(user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    )
    eligible = [m for m in members if role_allows(m.role, Perm.REPLY_INBOX)]
    if not eligible:
        return None
    if after_user_id is not None:
        for member in eligible:
            if member.user_id > after_user_id:
                return member
    return eligible[0]


def auto_assign(conversation: Conversation) -> Conversation:
    """Gives a new conversation to the channel's next member, if the channel assigns automatically.

    The setting and the rota's place are read under the channel's row lock, so two drainers creating
    conversations on the same number take turns and never hand out the same place twice (SQLite
    serialises writers anyway), and a switch turned off since the caller loaded the channel is honoured.
    """
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=conversation.channel_id)
        if not channel.auto_assign:
            return conversation
        member = next_in_rota(channel.workspace_id, channel.last_auto_assignee_id)
        if member is None:
            return conversation
        channel.last_auto_assignee_id = member.user_id
        channel.save(update_fields=["last_auto_assignee"])
        conversation.assignee_id = member.user_id
        Conversation.objects.filter(pk=conversation.pk).update(assignee_id=member.user_id)
        record("conversation.assigned", actor=SYSTEM, workspace_id=conversation.workspace_id,
               target=("conversation", conversation.pk), reason="round-robin",
               details={"member": member.pk})  # fmt: skip
        record_event(conversation, f"Assigned to {member.user.name} (round-robin)")
        publish(conversation.workspace_id, "conversation.updated", conversation_id=conversation.pk)
    return conversation


def set_auto_assign(channel: Channel, enabled: bool, *, actor: Actor, origin: Origin) -> Channel:
    return set_channel_switch(channel, "auto_assign", enabled, actor=actor, origin=origin)


type ChannelSwitch = Literal["auto_assign", "send_read_receipts"]


def set_channel_switch(
    channel: Channel, switch: ChannelSwitch, enabled: bool, *,
    actor: Actor, origin: Origin,
) -> Channel:  # fmt: skip
    """Turns one of a channel's on/off settings; a change is audited as ``channel.<switch>_changed``."""
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        if getattr(locked, switch) != enabled:
            setattr(locked, switch, enabled)
            locked.save(update_fields=[switch])
            record(f"channel.{switch.removeprefix('send_')}_changed", actor=actor,
                   workspace_id=locked.workspace_id, target=("channel", locked.pk), origin=origin,
                   details={"enabled": enabled})  # fmt: skip
    return locked


# --- labels ---------------------------------------------------------------------------------------------

LABEL_MAX = 40


def _label_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InboxError("A label needs a name.", field="name")
    if len(cleaned) > LABEL_MAX:
        raise InboxError(f"A label name has at most {LABEL_MAX} characters.", field="name")
    return cleaned


def _name_taken(workspace_id: int, name: str, *, other_than: int | None = None) -> bool:
    same = Label.objects.for_workspace(workspace_id).filter(name_key=Label.key_of(name))
    if other_than is not None:
        same = same.exclude(pk=other_than)
    return same.exists()


def create_label(workspace_id: int, name: str, *, actor: Actor, origin: Origin) -> Label:
    cleaned = _label_name(name)
    if _name_taken(workspace_id, cleaned):
        raise InboxError("There is already a label with this name.", field="name")
    try:
        with transaction.atomic():
            label = Label.objects.create(
                workspace_id=workspace_id, name=cleaned, name_key=Label.key_of(cleaned), created_at=now()
            )
            record("label.created", actor=actor, workspace_id=workspace_id, target=("label", label.pk),
                   origin=origin)  # fmt: skip
    except IntegrityError:  # created by someone else a moment ago
        raise InboxError("There is already a label with this name.", field="name") from None
    return label


def rename_label(label: Label, name: str, *, actor: Actor, origin: Origin) -> Label:
    cleaned = _label_name(name)
    if _name_taken(label.workspace_id, cleaned, other_than=label.pk):
        raise InboxError("There is already a label with this name.", field="name")
    try:
        with transaction.atomic():
            Label.objects.filter(pk=label.pk).update(name=cleaned, name_key=Label.key_of(cleaned))
            record("label.renamed", actor=actor, workspace_id=label.workspace_id,
                   target=("label", label.pk), origin=origin)  # fmt: skip
    except IntegrityError:
        raise InboxError("There is already a label with this name.", field="name") from None
    label.name, label.name_key = cleaned, Label.key_of(cleaned)
    return label


def delete_label(label: Label, *, actor: Actor, origin: Origin) -> None:
    """Removes the label and takes it off every conversation (the conversations stay)."""
    with transaction.atomic():
        used = ConversationLabel.objects.for_workspace(label.workspace_id).filter(label=label).count()
        label.delete()
        record("label.deleted", actor=actor, workspace_id=label.workspace_id, target=("label", label.pk),
               origin=origin, details={"conversations": used})  # fmt: skip


def add_label(conversation: Conversation, label: Label, *, actor: Actor, origin: Origin) -> bool:
    """Puts the label on the conversation; False if it was already there (nothing changes)."""
    _same_workspace(conversation, label)
    with transaction.atomic():
        _, created = ConversationLabel.objects.get_or_create(
            workspace_id=conversation.workspace_id, conversation=conversation, label=label
        )
        if created:
            record("conversation.labelled", actor=actor, workspace_id=conversation.workspace_id,
                   target=("conversation", conversation.pk), origin=origin,
                   details={"label": label.pk})  # fmt: skip
            record_event(conversation, f"Label “{label.name}” added{by_whom(actor)}",
                         by_user_id=actor_user_id(actor))  # fmt: skip
            publish(conversation.workspace_id, "conversation.updated", conversation_id=conversation.pk)
    return created


def remove_label(conversation: Conversation, label: Label, *, actor: Actor, origin: Origin) -> bool:
    _same_workspace(conversation, label)
    with transaction.atomic():
        removed, _ = ConversationLabel.objects.filter(conversation=conversation, label=label).delete()
        if removed:
            record("conversation.unlabelled", actor=actor, workspace_id=conversation.workspace_id,
                   target=("conversation", conversation.pk), origin=origin,
                   details={"label": label.pk})  # fmt: skip
            record_event(conversation, f"Label “{label.name}” removed{by_whom(actor)}",
                         by_user_id=actor_user_id(actor))  # fmt: skip
            publish(conversation.workspace_id, "conversation.updated", conversation_id=conversation.pk)
    return bool(removed)


def _same_workspace(conversation: Conversation, label: Label) -> None:
    if label.workspace_id != conversation.workspace_id:
        raise InboxError("No such label.", field="label_id")


def labels_of(conversation: Conversation) -> list[Label]:
    applied = ConversationLabel.objects.for_workspace(conversation.workspace_id).filter(
        conversation=conversation
    )
    return list(
        Label.objects.for_workspace(conversation.workspace_id)
        .filter(pk__in=applied.values("label_id"))
        .order_by("name")
    )


# --- snooze -----------------------------------------------------------------------------------------------

MORNING = time(9, 0)
SNOOZE_PRESETS = {
    "1h": "For an hour",
    "tomorrow": "Until tomorrow 09:00 UTC",
    "next-week": "Until Monday 09:00 UTC",
}


def snooze_moment(preset: str, *, at: datetime | None = None) -> datetime:
    """When a preset ends, in UTC (workspaces have no time zone of their own yet)."""
    moment = at or now()
    match preset:
        case "1h":
            return moment + timedelta(hours=1)
        case "tomorrow":
            return datetime.combine(moment.date() + timedelta(days=1), MORNING, tzinfo=moment.tzinfo)
        case "next-week":
            days = 7 - moment.weekday()  # Monday after this one, even when today is Monday
            return datetime.combine(moment.date() + timedelta(days=days), MORNING, tzinfo=moment.tzinfo)
    raise InboxError("Choose how long to snooze.", field="preset")


def status_event(status: str, snoozed_until: datetime | None, actor: Actor) -> str:
    who = by_whom(actor)
    match status:
        case Conversation.Status.OPEN:
            return f"Reopened{who}"
        case Conversation.Status.PENDING:
            return f"Marked pending{who}"
        case Conversation.Status.SNOOZED if snoozed_until is not None:
            return f"Snoozed until {snoozed_until:%d %b %Y %H:%M} UTC{who}"
        case Conversation.Status.RESOLVED:
            return f"Resolved{who}"
    return f"Status changed to {status}{who}"


WAKE_BATCH = 500


def wake_snoozed(*, at: datetime | None = None) -> int:
    """Reopens every conversation whose snooze has ended (all workspaces); returns how many.

    Each is re-checked under its row lock, so a conversation reopened or re-snoozed meanwhile is left
    alone, and two workers running this at once reopen each conversation once.
    """
    moment = at or now()
    woken = 0
    while True:
        due = list(
            Conversation.objects.filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=moment)
            .order_by("snoozed_until", "pk")
            .values_list("pk", flat=True)[:WAKE_BATCH]
        )
        for conversation_id in due:
            woken += _wake(conversation_id, moment)
        if len(due) < WAKE_BATCH:
            return woken


def _wake(conversation_id: int, moment: datetime) -> int:
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        if locked is None or locked.status != Conversation.Status.SNOOZED:
            return 0
        if locked.snoozed_until is None or locked.snoozed_until > moment:
            return 0
        locked.status = Conversation.Status.OPEN
        locked.snoozed_until = None
        locked.save(update_fields=["status", "snoozed_until"])
        record("conversation.status_changed", actor=SYSTEM, workspace_id=locked.workspace_id,
               target=("conversation", locked.pk), reason="snooze ended",
               details={"from": Conversation.Status.SNOOZED, "to": Conversation.Status.OPEN})  # fmt: skip
        record_event(locked, "Snooze ended: reopened")
        publish(locked.workspace_id, "conversation.updated", conversation_id=locked.pk)
    return 1


# --- transcripts -----------------------------------------------------------------------------------------

TRANSCRIPT_CHUNK = 500  # messages decrypted per audited read


@dataclass(frozen=True, slots=True)
class Line:
    at: datetime
    speaker: str  # "Customer", a member's name, "Note by …", "Event"
    direction: str
    kind: str
    text: str  # "[erased]" when the contact was erased


@dataclass(frozen=True, slots=True)
class Transcript:
    conversation: Conversation
    exported_at: datetime
    lines: list[Line]


type Reader = Callable[[list[Message]], list[dict[str, Any]]]


def transcript(
    conversation: Conversation, *, read: Reader, actor: Actor, export_format: str, origin: Origin
) -> Transcript:
    """The whole thread, oldest first, decrypted by ``read`` (the audited ``reveal`` of the member or
    the token: it refuses readers without the right, one audit event per chunk of messages), and a
    ``conversation.transcript_exported`` record."""
    lines = list(_lines(conversation, read))
    with transaction.atomic():
        record("conversation.transcript_exported", actor=actor, workspace_id=conversation.workspace_id,
               target=("conversation", conversation.pk), origin=origin,
               details={"format": export_format, "messages": len(lines)})  # fmt: skip
    return Transcript(conversation=conversation, exported_at=now(), lines=lines)


def _lines(conversation: Conversation, read: Reader) -> Iterator[Line]:
    rows = Message.objects.for_workspace(conversation.workspace_id).filter(conversation=conversation)
    names: dict[int, str] = {}
    last: Message | None = None
    while True:
        page = rows.order_by("created_at", "pk")
        if last is not None:
            page = page.filter(
                Q(created_at__gt=last.created_at) | Q(created_at=last.created_at, pk__gt=last.pk)
            )
        chunk = list(page[:TRANSCRIPT_CHUNK])
        if not chunk:
            return
        for row, plain in zip(chunk, read(chunk), strict=True):
            yield _line(row, plain, names)
        last = chunk[-1]


def _line(row: Message, plain: dict[str, Any], names: dict[int, str]) -> Line:
    body = plain["body"]
    text = "[erased]" if body is ERASED else (str(body) if body is not None else f"[{row.kind}]")
    if row.sent_by_id is not None and row.sent_by_id not in names:
        names[row.sent_by_id] = name_of(row.sent_by_id)
    member_name = names.get(row.sent_by_id or 0, "")
    speakers: dict[str, str] = {
        Message.Direction.INBOUND: "Customer",
        Message.Direction.OUTBOUND: member_name or "Business",
        Message.Direction.NOTE: f"Note by {member_name or 'a member'}",
        Message.Direction.EVENT: "Event",
    }
    speaker = speakers.get(row.direction, row.direction)
    return Line(at=row.sent_at or row.created_at, speaker=speaker, direction=row.direction,
                kind=row.kind, text=text)  # fmt: skip


def transcript_text(found: Transcript) -> str:
    head = [
        f"Conversation #{found.conversation.number}",
        f"Exported {found.exported_at:%Y-%m-%d %H:%M:%S} UTC; times are UTC.",
        "",
    ]
    body = [f"[{line.at:%Y-%m-%d %H:%M:%S}] {line.speaker}: {line.text}" for line in found.lines]
    return "\n".join(head + body) + "\n"


def transcript_json(found: Transcript) -> dict[str, Any]:
    return {
        "conversation_id": str(found.conversation.pk),
        "number": found.conversation.number,
        "channel_id": str(found.conversation.channel_id),
        "exported_at": found.exported_at.isoformat(),
        "messages": [
            {
                "at": line.at.isoformat(),
                "speaker": line.speaker,
                "direction": line.direction,
                "kind": line.kind,
                "text": line.text,
            }
            for line in found.lines
        ],
    }


def transcript_filename(conversation: Conversation, extension: str) -> str:
    """Names the file by the conversation's number only: no name or phone number in it."""
    return f"conversation-{conversation.number}-transcript.{extension}"
