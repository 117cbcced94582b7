"""Internal notes: a member writes in a thread for the team. A note is a ``Message`` row of direction
``note`` (status ``logged``): the thread shows it, and nothing ever sends it, as the outbox holds only
rows ``do_enqueue`` wrote."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from chatrk.audit.actions import Actor, Origin, record
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Perm, role_allows
from chatrk.inbox.errors import InboxError
from chatrk.inbox.events import publish
from chatrk.inbox.models import Conversation, Message, NoteKey

MAX_NOTE_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Added:
    note: Message
    replayed: bool = False  # the form's key was used before: this is that note, nothing new was added


def add_note(
    by: Membership, conversation: Conversation, text: str, *, form_key: str, origin: Origin | None = None
) -> Added:
    """Writes the note (encrypted under the contact's key like every message body) and tells live
    viewers of the thread; the audit event names the note, never its text. ``form_key`` is the
    one-time key of the form it was written in: a second submission returns the first note."""
    if conversation.workspace_id != by.workspace_id:
        raise InboxError("No such conversation.")
    if not role_allows(by.role, Perm.REPLY_INBOX):
        raise InboxError("Your role does not allow writing in conversations.")
    if not form_key:
        raise InboxError("The form expired: reload the composer and try again.")
    if found := _added_with(by.workspace_id, form_key):
        return found
    text = text.strip()
    if not text:
        raise InboxError("Write the note first.", field="text")
    if len(text) > MAX_NOTE_LENGTH:
        raise InboxError(f"A note is at most {MAX_NOTE_LENGTH} characters.", field="text")
    moment = now()
    note = Message(
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.pk,
        contact_id=conversation.contact_id,
        channel_id=conversation.channel_id,
        direction=Message.Direction.NOTE,
        kind="note",
        status=Message.Status.LOGGED,
        sent_by_id=by.user_id,
        created_at=moment,
    )
    note.body = text
    try:
        with transaction.atomic():
            note.save()
            NoteKey.objects.create(workspace_id=by.workspace_id, key=form_key, note=note)
            record("note.added", actor=Actor.user(by.user_id), workspace_id=by.workspace_id,
                   target=("message", note.pk), origin=origin,
                   details={"conversation": conversation.pk})  # fmt: skip
            publish(by.workspace_id, "message.new", conversation_id=conversation.pk, message_id=note.pk)
    except IntegrityError:
        if found := _added_with(by.workspace_id, form_key):  # a concurrent submission of the form won
            return found
        raise
    return Added(note)


def _added_with(workspace_id: int, form_key: str) -> Added | None:
    found = NoteKey.objects.for_workspace(workspace_id).filter(key=form_key).select_related("note").first()
    return Added(found.note, replayed=True) if found is not None else None
