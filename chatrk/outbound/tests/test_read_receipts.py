"""Read receipts against the emulator: owed when a member opens unread messages, sent by a task after
commit, retried on transient failures, audited, and never sent when the channel's switch is off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.tasks import task_backends
from django.test import override_settings

from chatrk.audit.actions import Actor, Origin
from chatrk.audit.models import AuditEvent, Outcome
from chatrk.core.clock import now
from chatrk.inbox.actions import mark_conversation_read
from chatrk.inbox.models import Channel, Conversation, Message
from chatrk.outbound import receipts
from chatrk.outbound.client import client_for
from chatrk.outbound.models import ReadReceipt
from chatrk.outbound.tests.conftest import World, customer_number
from chatrk.whatsapp.client import GraphClient
from emulator.testing import EmulatorServer

pytestmark = pytest.mark.django_db

DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


@pytest.fixture(autouse=True)
def _tasks() -> Iterator[None]:
    with override_settings(TASKS=DUMMY_TASKS):
        yield


def enqueued() -> list[Any]:
    backend: Any = task_backends["default"]  # the DummyBackend: it keeps what was enqueued
    return [r.args for r in backend.results if r.task.name == "send_read_receipt"]


def customer_wrote(world: World, emulator: EmulatorServer, wa_id: str, *texts: str) -> Conversation:
    """The customer's messages reach the emulator's phone log and the inbox, unread."""
    conversation = world.conversation(wa_id)
    for n, text in enumerate(texts):
        wamid = emulator.control.text(wa_id, text)["id"]
        message = Message(
            workspace_id=conversation.workspace_id, conversation=conversation,
            contact_id=conversation.contact_id, channel_id=conversation.channel_id,
            direction=Message.Direction.INBOUND, kind="text", wamid=wamid,
            status=Message.Status.RECEIVED, created_at=now() + timedelta(milliseconds=n),
        )  # fmt: skip
        message.body = text
        message.save()
    Conversation.objects.filter(pk=conversation.pk).update(unread=len(texts))
    return conversation


def opened(world: World, conversation: Conversation, capture: Any) -> bool:
    with capture(execute=True):
        return mark_conversation_read(conversation, actor=Actor.user(world.owner.user_id), origin=Origin())


def wamids(conversation: Conversation) -> list[str]:
    return sorted(
        str(w) for w in Message.objects.filter(conversation=conversation).values_list("wamid", flat=True)
    )


def test_opening_unread_messages_sends_blue_ticks_for_the_newest_after_commit(
    world: World, emulator: EmulatorServer, django_capture_on_commit_callbacks: Any
) -> None:
    wa_id = customer_number()
    conversation = customer_wrote(world, emulator, wa_id, "Hello", "Are you there?")
    assert opened(world, conversation, django_capture_on_commit_callbacks)
    assert enqueued() == [[conversation.pk]]  # the page did not call Meta: a task will
    assert emulator.control.read_by_business(wa_id) == []
    newest = Message.objects.filter(conversation=conversation).order_by("-created_at").first()
    assert newest is not None and ReadReceipt.objects.get(pk=conversation.pk).message_id == newest.pk
    assert receipts.send(conversation.pk) == "sent"
    assert emulator.control.read_by_business(wa_id) == wamids(conversation)  # both show read
    assert receipts.send(conversation.pk) == "skipped"  # done: running the task twice sends once
    sent = AuditEvent.objects.get(action="message.read_receipt_sent")
    assert sent.target_id == str(newest.pk) and sent.workspace_id == world.workspace_id
    read = AuditEvent.objects.get(action="conversation.read")
    assert read.details["read_receipt"] is True
    assert not opened(world, conversation, django_capture_on_commit_callbacks)  # nothing unread now
    assert enqueued() == [[conversation.pk]]


def test_with_the_switch_off_nothing_is_owed_or_sent(
    world: World, emulator: EmulatorServer, django_capture_on_commit_callbacks: Any
) -> None:
    receipts.set_send_read_receipts(
        world.channel, False, actor=Actor.user(world.owner.user_id), origin=Origin()
    )
    changed = AuditEvent.objects.get(action="channel.read_receipts_changed")
    assert changed.details == {"enabled": False} and changed.target_id == str(world.channel.pk)
    wa_id = customer_number()
    conversation = customer_wrote(world, emulator, wa_id, "Hello")
    assert opened(world, conversation, django_capture_on_commit_callbacks)
    assert Conversation.objects.get(pk=conversation.pk).unread == 0  # the team's count still clears
    assert enqueued() == [] and not ReadReceipt.objects.exists()
    assert receipts.send_due() == 0 and receipts.send(conversation.pk) == "skipped"
    assert emulator.control.read_by_business(wa_id) == []
    receipts.set_send_read_receipts(
        world.channel, False, actor=Actor.user(world.owner.user_id), origin=Origin()
    )
    assert AuditEvent.objects.filter(action="channel.read_receipts_changed").count() == 1  # no change


def test_a_receipt_owed_when_the_switch_goes_off_is_withheld(
    world: World, emulator: EmulatorServer, django_capture_on_commit_callbacks: Any
) -> None:
    wa_id = customer_number()
    conversation = customer_wrote(world, emulator, wa_id, "Hello")
    opened(world, conversation, django_capture_on_commit_callbacks)
    receipts.set_send_read_receipts(
        world.channel, False, actor=Actor.user(world.owner.user_id), origin=Origin()
    )
    assert receipts.send(conversation.pk) == "withheld"
    assert emulator.control.read_by_business(wa_id) == []
    assert ReadReceipt.objects.get(pk=conversation.pk).done
    assert not AuditEvent.objects.filter(action__startswith="message.read_receipt").exists()


def test_a_transient_failure_is_retried_with_back_off(
    world: World, emulator: EmulatorServer, django_capture_on_commit_callbacks: Any
) -> None:
    wa_id = customer_number()
    conversation = customer_wrote(world, emulator, wa_id, "Hello")
    opened(world, conversation, django_capture_on_commit_callbacks)
    emulator.control.add_fault("messages", "http_500", count=1)
    assert receipts.send(conversation.pk) == "retry"
    owed = ReadReceipt.objects.get(pk=conversation.pk)
    assert owed.attempts == 1 and not owed.done and owed.last_error
    assert receipts.due() == [] and emulator.control.read_by_business(wa_id) == []
    with time_machine.travel(now() + receipts.FIRST_RETRY + timedelta(seconds=1), tick=False):
        assert receipts.due() == [conversation.pk]
        assert receipts.send_due() == 1
    assert emulator.control.read_by_business(wa_id) == wamids(conversation)
    assert ReadReceipt.objects.get(pk=conversation.pk).attempts == 2


def test_a_final_refusal_ends_the_receipt_and_is_audited(
    world: World, emulator: EmulatorServer, django_capture_on_commit_callbacks: Any
) -> None:
    conversation = world.conversation(customer_number())
    message = Message(
        workspace_id=conversation.workspace_id, conversation=conversation, contact_id=conversation.contact_id,
        channel_id=conversation.channel_id, direction=Message.Direction.INBOUND, kind="text",
        wamid="wamid.never-received", status=Message.Status.RECEIVED, created_at=now(),
    )  # fmt: skip
    message.body = "hi"
    message.save()
    Conversation.objects.filter(pk=conversation.pk).update(unread=1)
    opened(world, conversation, django_capture_on_commit_callbacks)
    assert receipts.send(conversation.pk) == "failed"
    assert ReadReceipt.objects.get(pk=conversation.pk).done
    failed = AuditEvent.objects.get(action="message.read_receipt_failed")
    assert failed.outcome == Outcome.FAILURE and failed.reason == "100"
    assert receipts.due() == []


def test_a_newer_message_opened_during_a_send_stays_owed(
    world: World, emulator: EmulatorServer, django_capture_on_commit_callbacks: Any
) -> None:
    wa_id = customer_number()
    conversation = customer_wrote(world, emulator, wa_id, "Hello")
    opened(world, conversation, django_capture_on_commit_callbacks)

    def member_opens_it_again_meanwhile(channel: Channel) -> GraphClient:
        later = emulator.control.text(wa_id, "One more thing")["id"]
        message = Message(
            workspace_id=conversation.workspace_id, conversation=conversation,
            contact_id=conversation.contact_id, channel_id=conversation.channel_id,
            direction=Message.Direction.INBOUND, kind="text", wamid=later,
            status=Message.Status.RECEIVED, created_at=now() + timedelta(seconds=1),
        )  # fmt: skip
        message.save()
        Conversation.objects.filter(pk=conversation.pk).update(unread=1)
        opened(world, conversation, django_capture_on_commit_callbacks)
        return client_for(channel)

    assert receipts.send(conversation.pk, client_factory=member_opens_it_again_meanwhile) == "sent"
    assert not ReadReceipt.objects.get(pk=conversation.pk).done  # the newer message is still owed
    assert receipts.send(conversation.pk) == "sent"
    assert emulator.control.read_by_business(wa_id) == wamids(conversation)


def test_receipts_are_sent_every_minute_by_the_worker(settings: Any) -> None:
    assert settings.PERIODIC_TASKS["chatrk.outbound.tasks.send_due_read_receipts"] == 1
