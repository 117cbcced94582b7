"""Internal notes: a member writes in a thread for the team. A note is a ``Message`` row of direction
``note`` (status ``logged``): the thread shows it, and nothing ever sends it, as the outbox holds only
rows ``do_enqueue`` wrote."""

from __future__ import annotations

from django.db import transaction

from chatrk.audit.actions import Actor, Origin, record
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Perm, role_allows
from chatrk.inbox.errors import InboxError
from chatrk.inbox.events import publish
from chatrk.inbox.models import Conversation, Message

MAX_NOTE_LENGTH = 4096


def add_note(
    by: Membership, conversation: Conversation, text: str, *, origin: Origin | None = None
) -> Message:
    """Writes the note (encrypted under the contact's key like every message body) and tells live
    viewers of the thread; the audit event names the note, never its text."""
    if conversation.workspace_id != by.workspace_id:
        raise InboxError("No such conversation.")
    if not role_allows(by.role, Perm.REPLY_INBOX):
        raise InboxError("Your role does not allow writing in conversations.")
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
    with transaction.atomic():
        note.save()
        record("note.added", actor=Actor.user(by.user_id), workspace_id=by.workspace_id,
               target=("message", note.pk), origin=origin,
               details={"conversation": conversation.pk})  # fmt: skip
        publish(by.workspace_id, "message.new", conversation_id=conversation.pk, message_id=note.pk)
    return note
