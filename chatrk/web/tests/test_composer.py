"""The composer: free text in the window, templates outside it, attachments, canned responses, notes, and
every refusal explained in words."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from chatrk.audit.models import AuditEvent
from chatrk.core.clock import now
from chatrk.core.roles import Role
from chatrk.crypto.fields import open_for_system
from chatrk.inbox import canned, events
from chatrk.inbox.models import Channel, Conversation, Media, Message
from chatrk.msgtemplates.models import Template
from chatrk.msgtemplates.testing import make_template
from chatrk.outbound import buckets, client, gates
from chatrk.outbound.models import OutboxItem
from chatrk.outbound.sender import Sender
from chatrk.outbound.tests.conftest import World, make_world
from chatrk.testing import add_member, make_user, signed_in
from emulator.config import default_config
from emulator.testing import EmulatorServer

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _media_dir(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_DIR = tmp_path / "media"


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(default_config().with_behaviour(time_scale=0.0)) as server:
        client.use_transport(server.transport)
        try:
            yield server
        finally:
            client.use_transport(None)


def agent_client(world: World, role: Role = Role.AGENT) -> Client:
    return signed_in(add_member(world.owner.workspace, make_user(name="Sam Agent"), role).user)


def url(world: World, conversation: Conversation, action: str = "") -> str:
    slug = world.owner.workspace.slug
    return f"/w/{slug}/inbox/c/{conversation.pk}/composer/{action}"


def form_key(html: str) -> str:
    found = re.search(r'name="key" value="([^"]+)"', html)
    assert found is not None, "the form carries no idempotency key"
    return found.group(1)


def composer_html(client: Client, world: World, conversation: Conversation, query: str = "") -> str:
    response = client.get(url(world, conversation) + query, headers=HTMX)
    assert response.status_code == 200
    return str(response.content.decode())


# --- inside the window -----------------------------------------------------------------------------


def test_inside_the_window_the_composer_counts_down_and_sends_once(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(hours=20, minutes=30))
    client = agent_client(world)
    page = client.get(url(world, conversation))
    html = page.content.decode()
    assert page.status_code == 200 and "<html" in html  # a plain request gets the page around it
    assert "Free-form replies are open for" in html and "3 h 29 min" in html
    seconds = int(re.search(r'data-seconds="(\d+)"', html).group(1))  # type: ignore[union-attr]
    assert 3 * 3600 + 29 * 60 - 5 < seconds <= 3 * 3600 + 30 * 60
    partial = composer_html(client, world, conversation)
    assert "<html" not in partial and 'id="composer"' in partial

    key = form_key(partial)
    first = client.post(url(world, conversation, "send/"), {"text": "Your parcel ships today.", "key": key},
                        headers=HTMX)  # fmt: skip
    assert first.status_code == 200 and "is on its way" in first.content.decode()
    again = client.post(url(world, conversation, "send/"), {"text": "Your parcel ships today.", "key": key},
                        headers=HTMX)  # fmt: skip
    assert "already sent from this form" in again.content.decode()
    item = OutboxItem.objects.get()
    message = Message.objects.get(pk=item.message_id)
    assert message.direction == Message.Direction.OUTBOUND and message.kind == "text"
    assert form_key(first.content.decode()) != key  # the next message gets a new key


def test_a_send_without_a_valid_key_or_text_sends_nothing(world: World) -> None:
    conversation, client = world.conversation(), agent_client(world)
    missing_key = client.post(url(world, conversation, "send/"), {"text": "Hello"})
    assert missing_key.status_code == 400 and "The form expired" in missing_key.content.decode()
    empty = client.post(url(world, conversation, "send/"), {"text": "  ", "key": "k" * 24})
    assert empty.status_code == 400 and "Write a message first." in empty.content.decode()
    too_long = client.post(url(world, conversation, "send/"), {"text": "x" * 4097, "key": "k" * 24})
    assert too_long.status_code == 400 and "4,096" in too_long.content.decode()
    assert not OutboxItem.objects.exists()


def test_a_key_reused_for_another_message_is_refused(world: World) -> None:
    conversation, client = world.conversation(), agent_client(world)
    key = "reused-key-0123456789"
    client.post(url(world, conversation, "send/"), {"text": "First", "key": key})
    second = client.post(url(world, conversation, "send/"), {"text": "Second", "key": key})
    assert second.status_code == 409 and "already used for another message" in second.content.decode()
    assert OutboxItem.objects.count() == 1


def test_another_members_key_does_not_replay_their_send(world: World) -> None:
    conversation = world.conversation()
    key = "shared-key-0123456789"
    agent_client(world).post(url(world, conversation, "send/"), {"text": "Same words", "key": key})
    agent_client(world).post(url(world, conversation, "send/"), {"text": "Same words", "key": key})
    assert OutboxItem.objects.count() == 2


# --- outside the window: the template picker -------------------------------------------------------


def test_outside_the_window_the_composer_is_a_template_picker(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=2))
    client = agent_client(world)
    make_template(world.owner.workspace, channel=world.channel, name="draft_offer", stage="in_review")
    html = composer_html(client, world, conversation, "?mode=reply")  # asking for free text changes nothing
    assert "The 24-hour window closed" in html and 'name="text"' not in html
    assert "order_update" in html and "draft_offer" not in html  # approved by both only
    assert "Header {{1}}" in html and "Body {{2}}" in html and "end of the web address" in html
    refused = client.post(url(world, conversation, "send/"), {"text": "Hello?", "key": "k" * 20})
    body = refused.content.decode()
    assert refused.status_code == 422 and "Not sent." in body and "24-hour window:" in body
    assert not OutboxItem.objects.exists()


def template_form(world: World, **values: str) -> dict[str, str]:
    chosen = Template.objects.get(workspace_id=world.workspace_id, name="order_update")
    return {"template": str(chosen.pk), "key": "template-key-0123456789", **values}


def test_the_preview_fills_the_template_and_escapes_what_is_typed(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=2))
    response = agent_client(world).post(
        url(world, conversation, "template/preview/"),
        template_form(world, body__1="<script>alert(1)</script>", body__2=""),
        headers=HTMX,
    )
    html = response.content.decode()
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;, your order {{2}} has shipped" in html
    assert "<script>" not in html and "[Track]" in html and "Order {{1}}" in html


def test_a_template_is_sent_with_its_parameters(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=2))
    client = agent_client(world)
    missing = client.post(url(world, conversation, "template/send/"), template_form(world, body__1="Ada"))
    assert missing.status_code == 400 and "Fill in every parameter." in missing.content.decode()
    assert 'value="Ada"' in missing.content.decode()  # nothing typed is lost
    sent = client.post(
        url(world, conversation, "template/send/"),
        template_form(world, header__1="A-1", body__1="Ada", body__2="A-1001", button__1="A1001"),
        headers=HTMX,
    )
    assert "The template is on its way" in sent.content.decode()
    message = Message.objects.get(pk=OutboxItem.objects.get().message_id)
    payload = open_for_system(message, "payload")
    assert payload["template"]["name"] == "order_update"
    body = next(c for c in payload["template"]["components"] if c["type"] == "body")
    assert [p["text"] for p in body["parameters"]] == ["Ada", "A-1001"]


def test_a_template_not_approved_cannot_be_sent_by_its_id(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=2))
    draft = make_template(world.owner.workspace, channel=world.channel, name="draft_offer", stage="approved")
    response = agent_client(world).post(
        url(world, conversation, "template/send/"), {"template": str(draft.pk), "key": "k" * 20}
    )
    assert response.status_code == 400 and "Choose a template approved" in response.content.decode()
    assert not OutboxItem.objects.exists()


# --- refusals, in words ----------------------------------------------------------------------------


def test_no_consent_is_explained(world: World) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=2), consent=False)
    response = agent_client(world).post(
        url(world, conversation, "template/send/"),
        template_form(world, header__1="A-1", body__1="Ada", body__2="A-1001", button__1="A1"),
    )
    html = response.content.decode()
    assert response.status_code == 422 and "Consent:</strong> No consent: no utility consent recorded" in html
    assert 'value="A-1001"' in html and not OutboxItem.objects.exists()


def test_prohibited_text_is_refused_with_the_policy_reason(world: World) -> None:
    conversation = world.conversation()
    response = agent_client(world).post(
        url(world, conversation, "send/"), {"text": "Buy a gun today", "key": "k" * 20}
    )
    html = response.content.decode()
    assert response.status_code == 422 and "Content policy:</strong>" in html and "blocked" in html
    assert "Buy a gun today</textarea>" in html  # kept to edit


def test_a_held_message_says_it_waits_for_a_compliance_review(world: World) -> None:
    conversation = world.conversation()
    response = agent_client(world).post(
        url(world, conversation, "send/"), {"text": "Get cheap vapes now https://bit.ly/x", "key": "k" * 20}
    )
    html = response.content.decode()
    assert "waits for a compliance review" in html and "Not sent." not in html
    held = OutboxItem.objects.get()
    assert held.state == OutboxItem.State.HELD
    assert Message.objects.get(pk=held.message_id).status == Message.Status.HELD


def test_a_training_refusal_is_explained(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def untrained(request: gates.SendRequest) -> gates.Verdict:
        return gates.Refuse("training_required", "Complete the messaging-policy module before replying.")

    monkeypatch.setattr(gates, "GATES", [("training", untrained), *gates.GATES[2:]])
    response = agent_client(world).post(
        url(world, world.conversation(), "send/"), {"text": "Hello", "key": "k" * 20}
    )
    assert "Training:</strong> Complete the messaging-policy module" in response.content.decode()


def test_a_role_that_only_reads_sees_no_form_and_cannot_post(world: World) -> None:
    conversation = world.conversation()
    officer = agent_client(world, Role.COMPLIANCE)
    assert "can read this conversation but not reply" in composer_html(officer, world, conversation)
    for action in ("send/", "note/", "attach/", "template/send/", "template/preview/"):
        assert officer.post(url(world, conversation, action), {"text": "x"}).status_code == 403
    assert not Message.objects.filter(direction__in=["out", "note"]).exists()


# --- attachments -----------------------------------------------------------------------------------


def test_an_attachment_is_stored_encrypted_and_sent_by_media_id(
    world: World, emulator: EmulatorServer
) -> None:
    conversation, client = world.conversation(), agent_client(world)
    key = form_key(composer_html(client, world, conversation))
    upload = SimpleUploadedFile("receipt.png", PNG, content_type="image/png")
    response = client.post(
        url(world, conversation, "attach/"), {"file": upload, "caption": "Receipt", "key": key}
    )
    assert "The file is on its way" in response.content.decode()
    media = Media.objects.get()
    from chatrk.outbound.media import path_of

    assert PNG not in path_of(media).read_bytes()  # only ciphertext on disk
    assert Sender(store=buckets.DatabaseBuckets()).run_once().sent == 1
    sent = emulator.emulator.messages[OutboxItem.objects.get().wamid].payload
    assert sent["id"] and "link" not in sent and sent["caption"] == "Receipt"


@pytest.mark.parametrize(
    ("name", "content", "mime", "expected"),
    [
        ("virus.exe", b"MZ", "application/x-msdownload", "WhatsApp does not accept this type of file"),
        ("big.png", b"\x89PNG" + b"\x00" * (5 * 1024 * 1024), "image/png", "up to 5 MB"),
        ("empty.pdf", b"", "application/pdf", "The file is empty."),
    ],
)
def test_a_file_whatsapp_refuses_gets_a_clear_error(
    world: World, name: str, content: bytes, mime: str, expected: str
) -> None:
    conversation, client = world.conversation(), agent_client(world)
    upload = SimpleUploadedFile(name, content, content_type=mime)
    response = client.post(url(world, conversation, "attach/"), {"file": upload, "key": "k" * 20})
    assert response.status_code == 400 and expected in response.content.decode()
    assert not OutboxItem.objects.exists() and not Media.objects.exists()


# --- canned responses ------------------------------------------------------------------------------


def test_canned_responses_are_offered_escaped_and_a_shortcut_inserts_without_sending(world: World) -> None:
    conversation, client = world.conversation(), agent_client(world)
    canned.create_canned(world.owner, "hours", 'Open 9-5 <b>"daily"</b>')
    html = composer_html(client, world, conversation)
    assert 'data-text="Open 9-5 &lt;b&gt;&quot;daily&quot;&lt;/b&gt;"' in html and "<b>" not in html
    response = client.post(url(world, conversation, "send/"), {"text": " /hours ", "key": "k" * 20})
    html = response.content.decode()
    assert "Inserted /hours" in html and "Open 9-5 &lt;b&gt;&quot;daily&quot;&lt;/b&gt;</textarea>" in html
    assert not OutboxItem.objects.exists()
    unknown = client.post(url(world, conversation, "send/"), {"text": "/nothing", "key": "k" * 20})
    assert "is on its way" in unknown.content.decode()  # not a shortcut: sent as typed


def test_canned_responses_are_managed_by_admins(world: World) -> None:
    admin = agent_client(world, Role.ADMIN)
    base = f"/w/{world.owner.workspace.slug}/canned/"
    assert admin.post(base, {"shortcut": "/Returns", "text": "30 days."}).status_code == 302
    found = canned.by_shortcut(world.workspace_id, "returns")
    assert found is not None and found.text == "30 days."
    duplicate = admin.post(base, {"shortcut": "returns", "text": "again"})
    assert duplicate.status_code == 400 and "/returns already exists" in duplicate.content.decode()
    bad = admin.post(base, {"shortcut": "no spaces!", "text": "x"})
    assert bad.status_code == 400 and "lower-case letters" in bad.content.decode()
    assert admin.get(f"{base}{found.pk}/").status_code == 200
    assert admin.post(f"{base}{found.pk}/", {"shortcut": "returns", "text": "60 days."}).status_code == 302
    assert canned.by_shortcut(world.workspace_id, "returns").text == "60 days."  # type: ignore[union-attr]
    listing = admin.get(base).content.decode()
    assert "/returns" in listing and "60 days." in listing
    assert agent_client(world).get(base).status_code == 403  # agents use them, admins manage them
    assert admin.post(f"{base}{found.pk}/delete/").status_code == 302
    assert canned.by_shortcut(world.workspace_id, "returns") is None
    canned_events = AuditEvent.objects.filter(action__startswith="canned.").order_by("seq")
    actions = list(canned_events.values_list("action", flat=True))
    assert actions == ["canned.created", "canned.updated", "canned.deleted"]


# --- internal notes --------------------------------------------------------------------------------


@override_settings(REDIS_URL="")  # heard in this process (Redis delivery: chatrk/web/tests/test_live.py)
def test_a_note_is_logged_in_the_thread_and_never_sent(
    world: World, emulator: EmulatorServer, django_capture_on_commit_callbacks: Any
) -> None:
    conversation, client = world.conversation(), agent_client(world)
    heard: list[dict[str, Any]] = []
    stop = events.subscribe(world.workspace_id, heard.append)
    text = "Customer <i>angry</i>, call back"
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                url(world, conversation, "note/"), {"text": text, "key": "note-key-0123456789"}, headers=HTMX
            )
    finally:
        stop()
    assert "Note added" in response.content.decode()
    note = Message.objects.get(direction=Message.Direction.NOTE)
    assert note.status == Message.Status.LOGGED and note.conversation_id == conversation.pk
    assert note.sent_by_id is not None
    assert open_for_system(note, "body") == text
    stored = Message.objects.filter(pk=note.pk).values_list("body", flat=True)[0]
    assert "angry" not in str(stored)  # encrypted like every message body
    assert {"kind": "message.new", "workspace_id": world.workspace_id, "conversation_id": conversation.pk,
            "message_id": note.pk} in heard  # fmt: skip
    audit = AuditEvent.objects.get(action="note.added", target_id=str(note.pk))
    assert "angry" not in str(audit.details)
    assert not OutboxItem.objects.exists()
    assert Sender(store=buckets.DatabaseBuckets()).run_once().sent == 0
    assert emulator.emulator.messages == {}
    empty = client.post(url(world, conversation, "note/"), {"text": "   ", "key": "k" * 20})
    assert empty.status_code == 400 and "Write the note first." in empty.content.decode()


def test_a_note_form_submitted_twice_adds_one_note(world: World) -> None:
    conversation, client = world.conversation(), agent_client(world)
    key = form_key(composer_html(client, world, conversation, "?mode=note"))
    first = client.post(
        url(world, conversation, "note/"), {"text": "Call back at 5", "key": key}, headers=HTMX
    )
    again = client.post(
        url(world, conversation, "note/"), {"text": "Call back at 5", "key": key}, headers=HTMX
    )
    assert "Note added" in first.content.decode()
    assert "already added from this form" in again.content.decode()
    assert Message.objects.filter(direction=Message.Direction.NOTE).count() == 1
    assert AuditEvent.objects.filter(action="note.added").count() == 1
    assert form_key(first.content.decode()) != key  # the next note gets a new key
    other = client.post(
        url(world, conversation, "note/"), {"text": "Call back at 5", "key": form_key(first.content.decode())}
    )
    assert other.status_code == 200
    assert Message.objects.filter(direction=Message.Direction.NOTE).count() == 2


def test_a_note_without_a_valid_key_is_not_added_and_keys_are_per_member(world: World) -> None:
    conversation, client = world.conversation(), agent_client(world)
    missing = client.post(url(world, conversation, "note/"), {"text": "Call back"})
    assert missing.status_code == 400 and "The form expired" in missing.content.decode()
    assert "Call back" in missing.content.decode()  # what was written is kept
    assert not Message.objects.filter(direction=Message.Direction.NOTE).exists()
    key = "shared-note-key-0123456789"
    agent_client(world).post(url(world, conversation, "note/"), {"text": "Same words", "key": key})
    agent_client(world).post(url(world, conversation, "note/"), {"text": "Same words", "key": key})
    assert Message.objects.filter(direction=Message.Direction.NOTE).count() == 2


def test_a_note_key_raced_by_two_requests_adds_one_note(world: World) -> None:
    """The second submission passed the look-up before the first committed: the unique key catches it."""
    from chatrk.inbox import notes

    conversation = world.conversation()
    me = add_member(world.owner.workspace, make_user(name="Racer"), Role.AGENT)
    first = notes.add_note(me, conversation, "Once", form_key="web:1:racing-key-0123456789")
    looked_up = notes._added_with
    first_look = iter([None])  # the first look-up misses, as if the first note were not committed yet
    with patch.object(notes, "_added_with", side_effect=lambda *args: next(first_look, looked_up(*args))):
        second = notes.add_note(me, conversation, "Once", form_key="web:1:racing-key-0123456789")
    assert (second.note.pk, second.replayed, first.replayed) == (first.note.pk, True, False)
    assert Message.objects.filter(direction=Message.Direction.NOTE).count() == 1


# --- a template with a media header ----------------------------------------------------------------

IMAGE_HEADER = [
    {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2U="]}},
    {
        "type": "BODY",
        "text": "Your receipt for order {{1}} is attached.",
        "example": {"body_text": [["A-1"]]},
    },
]


def test_a_media_header_is_uploaded_and_sent_by_id(world: World) -> None:
    template = make_template(
        world.owner.workspace,
        channel=world.channel,
        name="receipt_photo",
        stage="live",
        components=IMAGE_HEADER,
    )
    conversation, client = world.conversation(inbound_at=now() - timedelta(days=2)), agent_client(world)
    html = composer_html(client, world, conversation, f"?mode=template&template={template.pk}")
    assert 'name="header_file"' in html and "[image]" in html
    form = {"template": str(template.pk), "key": "k" * 20, "body__1": "A-7"}
    without = client.post(url(world, conversation, "template/send/"), form)
    assert without.status_code == 400 and "Header: Choose a file to send." in without.content.decode()
    wrong = SimpleUploadedFile("notes.pdf", b"%PDF-1.4", content_type="application/pdf")
    refused = client.post(url(world, conversation, "template/send/"), {**form, "header_file": wrong})
    assert refused.status_code == 400 and "JPEG or PNG" in refused.content.decode()
    photo = SimpleUploadedFile("receipt.png", PNG, content_type="image/png")
    sent = client.post(url(world, conversation, "template/send/"), {**form, "header_file": photo})
    assert "The template is on its way" in sent.content.decode()

    requests: list[httpx.Request] = []

    def graph(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path.endswith("/media"):
            return httpx.Response(200, json={"id": "1037543291543636"})
        return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.HDR"}]})

    assert Sender(store=buckets.DatabaseBuckets(), transport=httpx.MockTransport(graph)).run_once().sent == 1
    upload, send = requests
    assert upload.url.path.endswith("/media") and PNG in upload.content
    header = json.loads(send.content)["template"]["components"][0]
    assert header == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"id": "1037543291543636"}}],
    }


@pytest.mark.parametrize("raw", ["", "²", "9" * 40, "-1", "abc"])
def test_a_malformed_template_choice_is_a_clear_error(world: World, raw: str) -> None:
    conversation = world.conversation(inbound_at=now() - timedelta(days=2))
    response = agent_client(world).post(
        url(world, conversation, "template/send/"), {"template": raw, "key": "k" * 20}
    )
    assert response.status_code == 400 and "Choose a template approved" in response.content.decode()
    picker = composer_html(agent_client(world), world, conversation, f"?mode=template&template={raw}")
    assert "order_update" in picker


def test_a_number_needing_reauthorisation_is_explained(world: World) -> None:
    conversation = world.conversation()
    Channel.objects.filter(pk=world.channel.pk).update(health=Channel.Health.REAUTHORISE)
    response = agent_client(world).post(url(world, conversation, "send/"), {"text": "Hi", "key": "k" * 20})
    html = response.content.decode()
    assert (
        response.status_code == 422
        and "WhatsApp number:</strong> This WhatsApp number needs re-authorisation" in html
    )
    assert not OutboxItem.objects.exists()


def test_a_role_without_the_inbox_cannot_open_the_composer(world: World) -> None:
    marketer = agent_client(world, Role.MARKETER)
    assert marketer.get(url(world, world.conversation())).status_code == 403
