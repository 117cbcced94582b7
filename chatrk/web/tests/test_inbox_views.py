"""The inbox's list and thread as a member sees them (Django's client; the browser tests are apart)."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.models import Membership
from chatrk.core.roles import Role
from chatrk.crypto import keyring
from chatrk.crypto.errors import DecryptionFailed
from chatrk.crypto.files import encrypt_stream
from chatrk.inbox.actions import contact_for
from chatrk.inbox.live import current_mark
from chatrk.inbox.models import Channel, Conversation, ConversationLabel, Label, Media, Message
from chatrk.ingest import media as inbound_files
from chatrk.outbound.models import OutboxItem
from chatrk.testing import (
    add_member,
    make_channel,
    make_conversation,
    make_message,
    make_user,
    make_workspace,
    signed_in,
)
from chatrk.whatsapp.errors import describe_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> Membership:
    return add_member(make_workspace("Harbour Books"), make_user(name="Rae Owner"), Role.OWNER)


@pytest.fixture
def channel(owner: Membership) -> Channel:
    return make_channel(owner)


@pytest.fixture(autouse=True)
def _media_dir(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_DIR = tmp_path / "media"


def inbox(member: Membership, **params: str) -> Any:
    """The list; a search (``q``) is posted, as the page's search form does, never put in the URL."""
    url = f"/w/{member.workspace.slug}/inbox/"
    if "q" in params:
        body = {key: params.pop(key) for key in ("q", "cursor") if key in params}
        return signed_in(member.user).post(f"{url}?{urlencode(params)}", body)
    return signed_in(member.user).get(url, params)


def thread_url(member: Membership, conversation: Conversation) -> str:
    return f"/w/{member.workspace.slug}/inbox/c/{conversation.pk}/"


def shown(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


def listed_numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-conversation="(\d+)"', html)]


def outbound(conversation: Conversation, body: str, status: str, **fields: Any) -> Message:
    message = make_message(conversation, body, direction="out")
    Message.objects.filter(pk=message.pk).update(status=status, status_at=now(), **fields)
    message.refresh_from_db()
    return message


def logged(conversation: Conversation, direction: str, body: str, kind: str) -> Message:
    row = Message(
        workspace_id=conversation.workspace_id, conversation=conversation, contact_id=conversation.contact_id,
        channel_id=conversation.channel_id, direction=direction, kind=kind, status=Message.Status.LOGGED,
        created_at=now(),
    )  # fmt: skip
    row.body = body
    row.save()
    return row


# --- the list ---------------------------------------------------------------------------------------


def test_the_list_shows_names_escaped_and_the_thread_shows_bodies_as_text(
    owner: Membership, channel: Channel
) -> None:
    conversation = make_conversation(channel, "447700900101", name="<img src=x onerror=alert(1)> Amelia")
    make_message(conversation, "Where is my <script>alert('x')</script> order?")
    html = shown(inbox(owner, view="all"))
    assert "&lt;img src=x onerror=alert(1)&gt; Amelia" in html and "<img src=x" not in html
    html = shown(signed_in(owner.user).get(thread_url(owner, conversation)))
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<script>alert" not in html


def test_a_sent_template_shows_its_name_and_values_as_text(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel, "447700900102")
    sent = make_message(conversation, "", direction="out")
    sent.kind, sent.body = "template", None
    sent.payload = {"name": "spring_sale", "language": {"code": "en_US"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "<b>Noor</b>"}]}]}  # fmt: skip
    sent.save()
    html = shown(signed_in(owner.user).get(thread_url(owner, conversation)))
    assert "Template “spring_sale”: &lt;b&gt;Noor&lt;/b&gt;" in html and "[template]" not in html


def test_views_mine_unassigned_and_all_with_unread_counts(owner: Membership, channel: Channel) -> None:
    colleague = add_member(owner.workspace, make_user(name="Sam Agent"), Role.AGENT)
    mine = make_conversation(channel, name="Mine Person")
    theirs = make_conversation(channel, name="Theirs Person")
    nobody = make_conversation(channel, name="Nobody Person")
    Conversation.objects.filter(pk=mine.pk).update(assignee=owner.user, unread=2)
    Conversation.objects.filter(pk=theirs.pk).update(assignee=colleague.user, unread=1)
    Conversation.objects.filter(pk=nobody.pk).update(unread=4)
    assert listed_numbers(shown(inbox(owner))) == [mine.pk]  # "mine" is the default
    assert listed_numbers(shown(inbox(owner, view="unassigned"))) == [nobody.pk]
    html = shown(inbox(owner, view="all"))
    assert set(listed_numbers(html)) == {mine.pk, theirs.pk, nobody.pk}
    assert "3 with unread messages" in html  # all
    assert "1 with unread messages" in html  # mine and unassigned
    assert listed_numbers(shown(inbox(owner, view="all", assignee=str(colleague.pk)))) == [theirs.pk]


def test_rows_name_their_assignee_even_one_who_left_the_team(owner: Membership, channel: Channel) -> None:
    colleague = add_member(owner.workspace, make_user(name="Sam Agent"), Role.AGENT)
    former = add_member(owner.workspace, make_user(name="Lee Former"), Role.AGENT)
    current, left = make_conversation(channel, name="Current"), make_conversation(channel, name="Left")
    Conversation.objects.filter(pk=current.pk).update(assignee=colleague.user)
    Conversation.objects.filter(pk=left.pk).update(assignee=former.user)
    former.user.is_active = False  # no longer among the members the filters offer
    former.user.save(update_fields=["is_active"])
    html = shown(inbox(owner, view="all"))
    assert "· Sam Agent" in html and "· Lee Former" in html
    assert 'value="' + str(former.pk) + '"' not in html  # not offered as an assignee to filter by


def test_filters_by_status_channel_and_label(owner: Membership, channel: Channel) -> None:
    second = make_channel(owner)
    open_one = make_conversation(channel)
    resolved = make_conversation(channel)
    elsewhere = make_conversation(second)
    Conversation.objects.filter(pk=resolved.pk).update(status=Conversation.Status.RESOLVED)
    label = Label.objects.create(workspace=owner.workspace, name="vip", created_at=now())
    ConversationLabel.objects.create(workspace=owner.workspace, conversation=elsewhere, label=label)
    assert listed_numbers(shown(inbox(owner, view="all", status="resolved"))) == [resolved.pk]
    assert listed_numbers(shown(inbox(owner, view="all", channel=str(second.pk)))) == [elsewhere.pk]
    html = shown(inbox(owner, view="all", label=str(label.pk)))
    assert listed_numbers(html) == [elsewhere.pk] and ">vip<" in html
    assert open_one.pk in listed_numbers(shown(inbox(owner, view="all", status="open")))


def test_a_filter_that_does_not_exist_says_so_and_shows_the_default_list(
    owner: Membership, channel: Channel
) -> None:
    other = add_member(make_workspace(), role=Role.OWNER)
    foreign = make_channel(other)
    html = shown(inbox(owner, view="all", channel=str(foreign.pk)))
    assert "That filter or search is not possible" in html


def test_search_by_number_in_any_format_and_by_whole_name_words(owner: Membership, channel: Channel) -> None:
    amelia = make_conversation(channel, "447700900101", name="Amelia Hart")
    bruno = make_conversation(channel, "5511987650202", name="Bruno Costa")
    assert listed_numbers(shown(inbox(owner, view="all", q="+44 7700 900101"))) == [amelia.pk]
    assert listed_numbers(shown(inbox(owner, view="all", q="447700900101"))) == [amelia.pk]
    assert listed_numbers(shown(inbox(owner, view="all", q="AMELIA"))) == [amelia.pk]
    assert listed_numbers(shown(inbox(owner, view="all", q="hart amelia"))) == [amelia.pk]
    assert listed_numbers(shown(inbox(owner, view="all", q="costa"))) == [bruno.pk]
    html = shown(inbox(owner, view="all", q="ame"))  # whole words only
    assert listed_numbers(html) == [] and "Names match whole words" in html
    assert listed_numbers(shown(inbox(owner, view="all", q="amelia costa"))) == []
    assert listed_numbers(shown(inbox(owner, view="all", q="447700900999"))) == []


def test_a_renamed_contact_is_found_by_the_new_name_only(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel, "447700900101", name="Zoë Old")
    contact_for(owner.workspace_id, "447700900101", profile_name="ZOË Newname")
    assert listed_numbers(shown(inbox(owner, view="all", q="newname zoë"))) == [conversation.pk]
    assert listed_numbers(shown(inbox(owner, view="all", q="old"))) == []


def test_search_never_crosses_workspaces(owner: Membership, channel: Channel) -> None:
    other = add_member(make_workspace(), role=Role.OWNER)
    make_conversation(make_channel(other), "447700900101", name="Amelia Hart")
    assert listed_numbers(shown(inbox(owner, view="all", q="amelia"))) == []
    assert listed_numbers(shown(inbox(owner, view="all", q="447700900101"))) == []


def test_the_list_pages_by_keyset_without_repeats(owner: Membership, channel: Channel) -> None:
    start = now() - timedelta(hours=1)
    made = []
    for n in range(55):
        conversation = make_conversation(channel)
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=start + timedelta(seconds=n))
        made.append(conversation.pk)
    first = shown(inbox(owner, view="all"))
    assert listed_numbers(first) == list(reversed(made))[:50]
    cursor = re.search(r"cursor=([\w-]+)", first)
    assert cursor is not None
    second = shown(inbox(owner, view="all", cursor=cursor.group(1)))
    assert listed_numbers(second) == list(reversed(made))[50:]
    assert "hx-trigger" not in second.split('id="conversation-list"')[1].split(">")[0]  # older: not live
    broken = shown(inbox(owner, view="all", cursor="not-a-cursor"))
    assert "That page link was not valid" in broken and len(listed_numbers(broken)) == 50


def queries_for(member: Membership, url: str) -> int:
    client = signed_in(member.user)
    client.get(url)  # sessions and other one-off work out of the way
    keyring.clear_cache()  # every contact's key loaded cold, as after the cache expires
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_list_costs_the_same_queries_for_5_and_50_rows(owner: Membership, channel: Channel) -> None:
    label = Label.objects.create(workspace=owner.workspace, name="vip", created_at=now())
    for n in range(5):  # the same shape of rows as the 45 added below: only the count differs
        conversation = make_conversation(channel, name=f"Person {n}")
        Conversation.objects.filter(pk=conversation.pk).update(assignee=owner.user)
        ConversationLabel.objects.create(workspace=owner.workspace, conversation=conversation, label=label)
    url = f"/w/{owner.workspace.slug}/inbox/?view=all"
    few = queries_for(owner, url)
    for n in range(45):
        conversation = make_conversation(channel, name=f"Person {n + 5}")
        Conversation.objects.filter(pk=conversation.pk).update(assignee=owner.user)
        ConversationLabel.objects.create(workspace=owner.workspace, conversation=conversation, label=label)
    assert len(listed_numbers(shown(inbox(owner, view="all")))) == 50
    assert queries_for(owner, url) == few


def test_the_thread_costs_the_same_queries_for_5_and_50_messages(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel, name="Amelia")
    for n in range(5):
        make_message(conversation, f"message {n}")
    url = thread_url(owner, conversation)
    few = queries_for(owner, url)
    for n in range(45):
        outbound(conversation, f"answer {n}", Message.Status.DELIVERED) if n % 2 else make_message(
            conversation, f"message {n + 5}"
        )
    assert queries_for(owner, url) == few


def test_a_member_without_inbox_access_sees_the_welcome_page_only(
    owner: Membership, channel: Channel
) -> None:
    marketer = add_member(owner.workspace, role=Role.MARKETER)
    conversation = make_conversation(channel, name="Amelia Hart")
    html = shown(inbox(marketer))
    assert "Welcome to" in html and "Amelia" not in html
    assert signed_in(marketer.user).get(thread_url(marketer, conversation)).status_code == 403


# --- the thread -------------------------------------------------------------------------------------


def reveals_of_messages(workspace_id: int) -> int:
    return sum(
        1
        for event in AuditEvent.objects.filter(workspace_id=workspace_id, action="crypto.reveal")
        if "inbox.message" in str(event.details)
    )


def test_the_thread_shows_50_messages_a_page_with_one_audited_read_per_page(
    owner: Membership, channel: Channel
) -> None:
    conversation = make_conversation(channel, name="Amelia")
    start = now() - timedelta(hours=1)
    for n in range(60):
        make_message(conversation, f"message number {n:02d}", at=start + timedelta(seconds=n))
    client = signed_in(owner.user)
    before = reveals_of_messages(owner.workspace_id)
    html = shown(client.get(thread_url(owner, conversation)))
    assert reveals_of_messages(owner.workspace_id) == before + 1
    assert "message number 59" in html and "message number 10" in html and "message number 09" not in html
    assert html.index("message number 10") < html.index("message number 59")  # oldest first
    older = re.search(r'href="([^"]+\?before=[^"]+)"', html)
    assert older is not None
    html = shown(client.get(older.group(1).replace("&amp;", "&")))
    assert "message number 09" in html and "message number 00" in html and "message number 10" not in html
    assert "Back to the newest messages" in html
    assert reveals_of_messages(owner.workspace_id) == before + 2


def test_opening_a_conversation_marks_it_read(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel)
    make_message(conversation, "hello")
    Conversation.objects.filter(pk=conversation.pk).update(unread=3)
    shown(signed_in(owner.user).get(thread_url(owner, conversation)))
    conversation.refresh_from_db()
    assert conversation.unread == 0
    assert AuditEvent.objects.filter(action="conversation.read", target_id=str(conversation.pk)).count() == 1


def test_ticks_and_a_failed_message_with_its_reason_and_retry(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel)
    make_message(conversation, "hi")
    for status in ("queued", "sent", "delivered", "read"):
        outbound(conversation, f"status {status}", status)
    failed = outbound(conversation, "too late", Message.Status.FAILED, error_code=131047)
    html = shown(signed_in(owner.user).get(thread_url(owner, conversation)))
    for status in ("queued", "sent", "delivered", "read", "failed"):
        assert f"tick-{status}" in html
    assert describe_error(131047).reason in html.replace("&#x27;", "'")
    assert f"/messages/{failed.pk}/retry/" in html
    auditor = add_member(owner.workspace, role=Role.COMPLIANCE)  # may read, may not send
    assert "/retry/" not in shown(signed_in(auditor.user).get(thread_url(auditor, conversation)))


def test_retry_queues_the_failed_message_again(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel)
    make_message(conversation, "hi")  # opens the 24-hour window
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=now())
    failed = outbound(conversation, "try again", Message.Status.FAILED, error_code=131026)
    client = signed_in(owner.user)
    url = f"{thread_url(owner, conversation)}messages/{failed.pk}/retry/"
    response = client.post(url)
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == Message.Status.QUEUED
    assert OutboxItem.objects.filter(message=failed).count() == 1
    again = client.post(url)  # no longer failed: nothing to retry
    assert again.status_code == 409 and "Only failed messages" in again.content.decode()


def test_retry_refuses_a_message_of_another_conversation(owner: Membership, channel: Channel) -> None:
    first = make_conversation(channel)
    second = make_conversation(channel)
    failed = outbound(second, "x", Message.Status.FAILED)
    response = signed_in(owner.user).post(f"{thread_url(owner, first)}messages/{failed.pk}/retry/")
    assert response.status_code == 404


def test_reactions_replies_edits_deletions_notes_and_events(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel)
    original = make_message(conversation, "Do you ship to Lisbon?")
    answer = outbound(conversation, "Yes, in 3 days.", Message.Status.READ)
    reaction = make_message(conversation, "👍")
    Message.objects.filter(pk=reaction.pk).update(kind="reaction", reply_to_wamid=answer.wamid)
    reply = make_message(conversation, "Great, thanks")
    Message.objects.filter(pk=reply.pk).update(reply_to_wamid=original.wamid)
    edited = make_message(conversation, "Actually Porto")
    edited.payload = {"edited_at": now().isoformat()}
    edited.save()
    gone = make_message(conversation, "secret oops")
    gone.body, gone.status = None, Message.Status.DELETED
    gone.save()
    logged(conversation, Message.Direction.NOTE, "VIP customer, be nice", "note")
    logged(conversation, Message.Direction.EVENT, "Assigned to Rae Owner", "assigned")
    system = make_message(conversation, "User's number changed")
    Message.objects.filter(pk=system.pk).update(kind="system")
    html = shown(signed_in(owner.user).get(thread_url(owner, conversation)))
    answer_item = html.split(f'id="m{answer.pk}"')[1].split("</li>")[0]
    assert '<span class="reaction">👍</span>' in answer_item
    assert f'id="m{reaction.pk}"' not in html  # shown on its target, not as a message of its own
    reply_item = html.split(f'id="m{reply.pk}"')[1].split("</li>")[0]
    assert "blockquote" in reply_item and "Do you ship to Lisbon?" in reply_item
    assert "edited" in html.split(f'id="m{edited.pk}"')[1].split("</li>")[0]
    assert "This message was deleted." in html and "secret oops" not in html
    note = html.split("VIP customer")[0].rsplit("<li", 1)[1]
    assert "msg-note" in note and "Internal note" in html
    for marker in ("Assigned to Rae Owner", "number changed"):
        item = html.split(marker)[0].rsplit("<li", 1)[1]
        assert "msg-event" in item or "msg-system" in item
        assert "tick" not in html.split(marker)[1].split("</li>")[0]


# --- media ------------------------------------------------------------------------------------------


def stored_media(conversation: Conversation, content: bytes, mime: str) -> Media:
    message = make_message(conversation, "receipt")
    Message.objects.filter(pk=message.pk).update(kind="image" if mime.startswith("image/") else "document")
    media = Media.objects.create(
        workspace_id=conversation.workspace_id, message=message, contact_id=conversation.contact_id,
        mime_type=mime, size=len(content), stored_at=now(), created_at=now(),
    )  # fmt: skip
    path = inbound_files.path_of(media)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as sink:
        encrypt_stream(io.BytesIO(content), sink, binding=inbound_files.binding(media))
    return media


def streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_an_image_previews_inline_and_downloads_as_an_attachment_audited(
    owner: Membership, channel: Channel
) -> None:
    conversation = make_conversation(channel)
    media = stored_media(conversation, b"\xff\xd8 jpeg bytes", "image/jpeg")
    client = signed_in(owner.user)
    html = shown(client.get(thread_url(owner, conversation)))
    assert f'<img src="/w/{owner.workspace.slug}/media/{media.pk}/"' in html
    inline = client.get(f"/w/{owner.workspace.slug}/media/{media.pk}/")
    assert inline.status_code == 200 and streamed(inline) == b"\xff\xd8 jpeg bytes"
    assert inline["Content-Type"] == "image/jpeg" and inline["Content-Disposition"].startswith("inline")
    assert inline["X-Content-Type-Options"] == "nosniff" and "no-store" in inline["Cache-Control"]
    download = client.get(f"/w/{owner.workspace.slug}/media/{media.pk}/?download=1")
    assert download["Content-Disposition"].startswith("attachment")
    assert download["Content-Type"] == "application/octet-stream"
    assert streamed(download) == b"\xff\xd8 jpeg bytes"
    reads = AuditEvent.objects.filter(action="media.read", target_id=str(media.pk))
    assert reads.count() == 2


def test_a_document_is_never_shown_inline(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel)
    media = stored_media(conversation, b"<html><script>alert(1)</script></html>", "text/html")
    response = signed_in(owner.user).get(f"/w/{owner.workspace.slug}/media/{media.pk}/")
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] == "application/octet-stream"
    assert streamed(response) == b"<html><script>alert(1)</script></html>"


def test_a_file_not_stored_yet_or_tampered_is_not_served(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel)
    media = stored_media(conversation, b"x" * 100, "image/png")
    client = signed_in(owner.user)
    Media.objects.filter(pk=media.pk).update(stored_at=None)
    assert client.get(f"/w/{owner.workspace.slug}/media/{media.pk}/").status_code == 404
    Media.objects.filter(pk=media.pk).update(stored_at=now())
    path = inbound_files.path_of(media)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(Exception, match="authentication"):
        client.get(f"/w/{owner.workspace.slug}/media/{media.pk}/")
    assert not AuditEvent.objects.filter(action="media.read", target_id=str(media.pk)).exists()


# --- live fragments ---------------------------------------------------------------------------------


def test_the_list_and_thread_answer_204_until_something_changes(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel, name="Amelia")
    sent = outbound(conversation, "hello", Message.Status.SENT)
    client = signed_in(owner.user)
    base = f"/w/{owner.workspace.slug}/inbox/"
    list_mark = current_mark(owner.workspace_id).encode()
    thread_mark = current_mark(owner.workspace_id, conversation.pk).encode()
    assert client.get(f"{base}live/", {"view": "all", "mark": list_mark}).status_code == 204
    live = f"{thread_url(owner, conversation)}live/"
    assert client.get(live, {"mark": thread_mark}).status_code == 204
    other = make_conversation(channel, name="Bruno")
    make_message(other, "new elsewhere")
    assert client.get(live, {"mark": thread_mark}).status_code == 204  # another thread changed
    html = shown(client.get(f"{base}live/", {"view": "all", "mark": list_mark}))
    assert listed_numbers(html)[0] == other.pk and "Bruno" in html
    Message.objects.filter(pk=sent.pk).update(status=Message.Status.DELIVERED, status_at=now())
    html = shown(client.get(live, {"mark": thread_mark}))
    assert "tick-delivered" in html and current_mark(owner.workspace_id, conversation.pk).encode() in html
    assert client.get(live, {"mark": "garbage!"}).status_code == 200  # a bad mark gets a fresh one


def test_search_results_follow_live_changes_by_post_with_the_search_in_the_body(
    owner: Membership, channel: Channel
) -> None:
    amelia = make_conversation(channel, "447700900101", name="Amelia Hart")
    make_conversation(channel, "447700900102", name="Bruno Costa")
    html = shown(inbox(owner, view="all", q="amelia"))
    head = html.split('id="conversation-list"')[1].split(">")[0]
    poll = re.search(r'hx-post="([^"]+)"', head)
    assert poll is not None and 'hx-include="#live-search"' in head and "hx-get" not in head
    url = poll.group(1).replace("&amp;", "&")
    assert "amelia" not in url.lower() and "mark=" in url and "view=all" in url
    assert '<input type="hidden" id="live-search" name="q" value="amelia">' in html
    client = signed_in(owner.user)
    assert client.post(url, {"q": "amelia"}).status_code == 204  # nothing changed
    second = make_conversation(channel, "447700900103", name="Amelia Stone")
    make_message(amelia, "again")
    make_conversation(channel, "447700900104", name="Carla Mendes")  # a change that does not match
    html = shown(client.post(url, {"q": "amelia"}))
    assert sorted(listed_numbers(html)) == sorted([amelia.pk, second.pk])  # still the search's results
    assert 'id="live-search" name="q" value="amelia"' in html and "hx-post=" in html
    fresh = re.search(r'hx-post="([^"]+)"', html.split('id="conversation-list"')[1].split(">")[0])
    assert fresh is not None
    assert client.post(fresh.group(1).replace("&amp;", "&"), {"q": "amelia"}).status_code == 204


def test_a_searched_name_is_escaped_in_the_live_search_field(owner: Membership, channel: Channel) -> None:
    html = shown(inbox(owner, view="all", q='"><script>alert(1)</script>'))
    assert "<script>alert(1)" not in html
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html


def test_an_erased_contact_is_no_longer_found_by_name(owner: Membership, channel: Channel) -> None:
    from chatrk.audit.actions import Actor
    from chatrk.crypto.actions import SubjectRef, shred_subject
    from chatrk.inbox.models import ContactNameWord

    conversation = make_conversation(channel, "447700900101", name="Amelia Hart")
    assert ContactNameWord.objects.filter(contact_id=conversation.contact_id).count() == 2
    shred_subject(owner.workspace_id, SubjectRef("contact", conversation.contact_id), actor=Actor.user(1))
    assert not ContactNameWord.objects.filter(contact_id=conversation.contact_id).exists()
    assert listed_numbers(shown(inbox(owner, view="all", q="amelia"))) == []


def test_retry_outside_the_24_hour_window_is_refused_in_words(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel)
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=now() - timedelta(days=2))
    failed = outbound(conversation, "free text, too late", Message.Status.FAILED, error_code=131047)
    url = f"{thread_url(owner, conversation)}messages/{failed.pk}/retry/"
    response = signed_in(owner.user).post(url)
    assert response.status_code == 409 and "Not sent again" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Message.Status.FAILED and not OutboxItem.objects.filter(message=failed).exists()


def test_names_stored_before_the_word_index_are_found_after_reindexing(
    owner: Membership, channel: Channel
) -> None:
    from django.core.management import call_command

    from chatrk.inbox.models import ContactNameWord

    conversation = make_conversation(channel, "447700900101", name="Amelia Hart")
    ContactNameWord.objects.all().delete()  # as after the upgrade that added the table
    assert listed_numbers(shown(inbox(owner, view="all", q="amelia"))) == []
    call_command("reindexnames", stdout=io.StringIO())
    assert listed_numbers(shown(inbox(owner, view="all", q="amelia"))) == [conversation.pk]


def test_the_views_on_a_thread_page_lead_back_to_the_list(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel, name="Amelia")
    html = shown(signed_in(owner.user).get(thread_url(owner, conversation), {"view": "all"}))
    assert f'href="/w/{owner.workspace.slug}/inbox/?view=unassigned"' in html
    assert 'href="?view' not in html


def test_a_search_stays_out_of_urls_and_pages_by_post(owner: Membership, channel: Channel) -> None:
    made = [make_conversation(channel, f"4477009{n:05d}", name=f"Maria Number{n}").pk for n in range(55)]
    html = shown(inbox(owner, view="all", q="maria"))
    assert len(listed_numbers(html)) == 50
    assert "maria" not in " ".join(re.findall(r'(?:href|action|hx-get)="([^"]*)"', html)).lower()
    cursor = re.search(r'name="cursor" value="([^"]+)"', html)
    assert cursor is not None and "More results" in html
    rest = shown(inbox(owner, view="all", q="maria", cursor=cursor.group(1)))
    assert "hx-trigger" not in rest.split('id="conversation-list"')[1].split(">")[0]  # more: stays still
    assert sorted(listed_numbers(html) + listed_numbers(rest)) == sorted(made)
    url = f"/w/{owner.workspace.slug}/inbox/"
    ignored = shown(signed_in(owner.user).get(url, {"view": "all", "q": "zz"}))
    assert len(listed_numbers(ignored)) == 50  # a query in the URL is not a search


def panels_loaded_by_htmx(html: str) -> dict[str, str]:
    """The side panels the thread page loads once it is shown: ``id`` of the placeholder → URL."""
    return dict(re.findall(r'<section id="([\w-]+)"[^>]*hx-get="([^"]+)" hx-trigger="load"', html))


def test_the_side_panels_load_by_htmx_from_their_own_audited_views(
    owner: Membership, channel: Channel
) -> None:
    conversation = make_conversation(channel, name="Amelia Hart")
    make_message(conversation, "hello")
    client = signed_in(owner.user)
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    html = shown(client.get(thread_url(owner, conversation)))
    reads = AuditEvent.objects.filter(action="crypto.reveal", id__gt=before)
    purposes = sorted(str(event.details["model"]) + ":" + str(event.details["purpose"]) for event in reads)
    assert purposes == ["inbox.contact:display", "inbox.message:display"]  # the panels read nothing yet
    assert "Record consent" not in html and "Save notes" not in html and "Assign to me" not in html
    panels = panels_loaded_by_htmx(html)
    base = thread_url(owner, conversation)
    assert panels == {"work-tools": f"{base}work/", "contact-panel": f"{base}contact/"}
    for url in panels.values():
        assert f'href="{url}"' in html  # without JavaScript, a link to the panel's own page
    work = shown(client.get(panels["work-tools"], headers={"HX-Request": "true"}))
    assert "<html" not in work and 'id="work-tools"' in work and "Assign to me" in work
    contact = shown(client.get(panels["contact-panel"], headers={"HX-Request": "true"}))
    assert "<html" not in contact and 'id="contact-panel"' in contact and "Amelia Hart" in contact
    assert AuditEvent.objects.filter(action="crypto.reveal", details__purpose="contact_panel").count() == 1


def test_the_side_panels_answer_404_to_another_workspace_and_403_without_inbox_access(
    owner: Membership, channel: Channel
) -> None:
    conversation = make_conversation(channel, name="Amelia Hart")
    panels = panels_loaded_by_htmx(shown(signed_in(owner.user).get(thread_url(owner, conversation))))
    stranger = add_member(make_workspace("Other Shop"), role=Role.OWNER)
    marketer = add_member(owner.workspace, role=Role.MARKETER)
    for url in panels.values():
        foreign = url.replace(f"/w/{owner.workspace.slug}/", f"/w/{stranger.workspace.slug}/")
        assert signed_in(stranger.user).get(foreign, headers={"HX-Request": "true"}).status_code == 404
        assert signed_in(stranger.user).get(url, headers={"HX-Request": "true"}).status_code == 404
        assert signed_in(marketer.user).get(url, headers={"HX-Request": "true"}).status_code == 403


def test_the_thread_and_the_list_beside_it_are_one_audited_read_with_one_key_query(
    owner: Membership, channel: Channel
) -> None:
    others = [make_conversation(channel, name=f"Other {n}") for n in range(3)]
    conversation = make_conversation(channel, name="Amelia")
    make_message(conversation, "hello")
    Conversation.objects.filter(pk__in=[c.pk for c in [*others, conversation]]).update(assignee=owner.user)
    client = signed_in(owner.user)
    url = thread_url(owner, conversation)
    client.get(url)
    keyring.clear_cache()
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with CaptureQueriesContext(connection) as captured:
        shown(client.get(url))
    assert sum("crypto_datakey" in query["sql"] for query in captured) == 1  # messages' and names' keys
    reads = AuditEvent.objects.filter(action="crypto.reveal", id__gt=before).order_by("id")
    assert [(e.details["model"], e.details["rows"]) for e in reads] == [
        ("inbox.message", 1),
        ("inbox.contact", 4),
    ]


def test_a_thread_that_cannot_be_read_stays_unread(owner: Membership, channel: Channel) -> None:
    conversation = make_conversation(channel, name="Amelia")
    first, second = make_message(conversation, "hello"), make_message(conversation, "again")
    Message.objects.filter(pk=second.pk).update(body=Message.objects.get(pk=first.pk).body)  # moved
    Conversation.objects.filter(pk=conversation.pk).update(unread=2)
    with pytest.raises(DecryptionFailed):
        signed_in(owner.user).get(thread_url(owner, conversation))
    conversation.refresh_from_db()
    assert conversation.unread == 2
    assert not AuditEvent.objects.filter(action__in=["conversation.read", "crypto.reveal"]).exists()


def test_an_older_page_of_the_thread_neither_polls_nor_reads_the_threads_mark(
    owner: Membership, channel: Channel
) -> None:
    conversation = make_conversation(channel, name="Amelia")
    start = now() - timedelta(hours=1)
    for n in range(55):
        make_message(conversation, f"message {n}", at=start + timedelta(seconds=n))
    client = signed_in(owner.user)
    newest = shown(client.get(thread_url(owner, conversation)))
    older = re.search(r'href="([^"]+\?before=[^"]+)"', newest)
    assert older is not None and "every 2s" in newest.split('id="timeline"')[1].split(">")[0]
    with CaptureQueriesContext(connection) as captured:
        html = shown(client.get(older.group(1).replace("&amp;", "&")))
    assert "hx-trigger" not in html.split('id="timeline"')[1].split(">")[0]
    per_thread_marks = [q["sql"] for q in captured if "MAX(" in q["sql"] and "conversation_id" in q["sql"]]
    assert per_thread_marks == []
