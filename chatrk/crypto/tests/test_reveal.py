"""reveal(): permission-checked, workspace-checked, and one audit event per page of rows."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from chatrk.audit.actions import SYSTEM, Origin
from chatrk.audit.models import AuditEvent, Outcome
from chatrk.core.models import Workspace
from chatrk.core.roles import Perm, Role
from chatrk.crypto import actions, keyring
from chatrk.crypto.actions import SubjectRef
from chatrk.crypto.errors import CryptoError, DecryptionFailed
from chatrk.crypto.reveal import ERASED, reveal, reveal_together
from chatrk.crypto.tests.conftest import make_member
from chatrk.crypto.tests.models import Note, Person

pytestmark = pytest.mark.django_db


def page(workspace: Workspace, count: int = 3) -> tuple[Person, list[Note]]:
    person = Person(workspace=workspace, phone="+447700900123")
    person.save()
    notes = [
        Note(workspace=workspace, person=person, body=f"body {n}", title=f"title {n}") for n in range(count)
    ]
    Note.objects.bulk_create(notes)
    return person, list(Note.objects.filter(person=person).order_by("pk"))


def reveal_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="crypto.reveal").order_by("seq"))


def test_agent_reads_a_page_with_one_audit_event(workspace: Workspace) -> None:
    _, notes = page(workspace)
    user, membership = make_member(workspace, Role.AGENT, "agent@example.org")
    shown = reveal(user, membership, notes, ["body", "title"], origin=Origin(ip="203.0.113.9"))
    assert shown == [{"body": f"body {n}", "title": f"title {n}"} for n in range(3)]
    [event] = reveal_events()
    assert (event.outcome, event.actor_id, event.workspace_id) == (
        Outcome.SUCCESS,
        str(user.pk),
        workspace.pk,
    )
    assert event.details["rows"] == 3
    assert event.details["fields"] == "body,title"
    assert event.details["ids"] == ",".join(str(row.pk) for row in notes)
    assert "body 0" not in str(event.details)
    assert event.ip_hmac
    assert "203.0.113.9" not in event.ip_hmac


def test_role_without_permission_is_refused_and_the_refusal_recorded(workspace: Workspace) -> None:
    _, notes = page(workspace)
    user, membership = make_member(workspace, Role.MARKETER, "marketer@example.org")
    with pytest.raises(PermissionDenied):
        reveal(user, membership, notes, ["body"])
    [event] = reveal_events()
    assert event.outcome == Outcome.DENIED
    assert "inbox.read" in event.reason


def test_rows_of_another_workspace_are_refused(workspace: Workspace, other_workspace: Workspace) -> None:
    _, theirs = page(other_workspace)
    user, membership = make_member(workspace, Role.OWNER, "owner@example.org")
    with pytest.raises(PermissionDenied, match="another workspace"):
        reveal(user, membership, theirs, ["body"])
    assert reveal_events()[0].outcome == Outcome.DENIED


def test_someone_elses_membership_is_refused(workspace: Workspace) -> None:
    _, notes = page(workspace)
    _, agents_membership = make_member(workspace, Role.AGENT, "agent@example.org")
    intruder, _ = make_member(workspace, Role.AUDITOR, "auditor@example.org")
    with pytest.raises(PermissionDenied, match="not a member"):
        reveal(intruder, agents_membership, notes, ["body"])


def test_inactive_user_is_refused(workspace: Workspace) -> None:
    _, notes = page(workspace)
    user, membership = make_member(workspace, Role.AGENT, "agent@example.org")
    user.is_active = False
    with pytest.raises(PermissionDenied):
        reveal(user, membership, notes, ["body"])


def test_another_permission_can_be_required(workspace: Workspace) -> None:
    _, notes = page(workspace, 1)
    agent, membership = make_member(workspace, Role.AGENT, "agent@example.org")
    with pytest.raises(PermissionDenied):
        reveal(agent, membership, notes, ["body"], perm=Perm.MANAGE_COMPLIANCE)
    officer, officer_membership = make_member(workspace, Role.COMPLIANCE, "dpo@example.org")
    assert reveal(officer, officer_membership, notes, ["body"], perm=Perm.MANAGE_COMPLIANCE) == [
        {"body": "body 0"}
    ]


def test_shredded_subject_reads_as_erased(workspace: Workspace) -> None:
    person, notes = page(workspace, 2)
    actions.shred_subject(workspace.pk, SubjectRef("person", person.pk), actor=SYSTEM)
    user, membership = make_member(workspace, Role.AGENT, "agent@example.org")
    assert reveal(user, membership, list(Note.objects.filter(pk__in=[n.pk for n in notes])), ["body"]) == [
        {"body": ERASED},
        {"body": ERASED},
    ]


def test_tampered_value_raises_instead_of_hiding(workspace: Workspace) -> None:
    _, notes = page(workspace, 2)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE crypto_test_note SET body = title WHERE id = %s", [notes[1].pk])
    user, membership = make_member(workspace, Role.AGENT, "agent@example.org")
    with pytest.raises(DecryptionFailed):
        reveal(user, membership, list(Note.objects.filter(pk__in=[n.pk for n in notes])), ["body"])
    assert reveal_events() == []  # nothing was shown, so no read is recorded


def test_only_encrypted_fields_of_one_model(workspace: Workspace) -> None:
    person, notes = page(workspace, 1)
    user, membership = make_member(workspace, Role.AGENT, "agent@example.org")
    with pytest.raises(CryptoError, match="not an encrypted field"):
        reveal(user, membership, notes, ["person"])
    with pytest.raises(CryptoError, match="one model"):
        reveal(user, membership, [notes[0], person], ["body"])


def test_empty_page_is_still_one_recorded_read(workspace: Workspace) -> None:
    user, membership = make_member(workspace, Role.AGENT, "agent@example.org")
    assert reveal(user, membership, [], ["body"]) == []
    assert len(reveal_events()) == 1


def test_an_api_token_reads_as_itself_with_one_event_per_page(workspace: Workspace) -> None:
    from chatrk.accounts.actions import create_api_token
    from chatrk.accounts.scopes import Scope
    from chatrk.crypto.reveal import reveal_for_token

    _, notes = page(workspace)
    _, owner = make_member(workspace, Role.OWNER, "owner@example.org")
    token, _ = create_api_token(owner, name="sync", scopes=[Scope.WORKSPACE_READ], days=1, origin=Origin())
    shown = reveal_for_token(token, notes, ["body"])
    assert [row["body"] for row in shown] == ["body 0", "body 1", "body 2"]
    (event,) = reveal_events()
    assert (event.actor_kind, event.actor_id, event.workspace_id) == ("token", str(token.pk), workspace.pk)
    owner.role = Role.MARKETER  # the creator no longer reads the inbox: neither does their token
    owner.save()
    with pytest.raises(PermissionDenied):
        reveal_for_token(token, notes, ["body"])
    assert reveal_events()[-1].outcome == Outcome.DENIED


def test_an_api_token_cannot_read_rows_of_another_workspace(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    from chatrk.accounts.actions import create_api_token
    from chatrk.accounts.scopes import Scope
    from chatrk.crypto.reveal import reveal_for_token

    _, notes = page(other_workspace)
    _, owner = make_member(workspace, Role.OWNER, "owner@example.org")
    token, _ = create_api_token(owner, name="sync", scopes=[Scope.WORKSPACE_READ], days=1, origin=Origin())
    with pytest.raises(PermissionDenied):
        reveal_for_token(token, notes, ["body"])


def people_with_a_note(workspace: Workspace, count: int) -> list[Note]:
    people = [Person(workspace=workspace, phone=f"+4477009001{n:02d}") for n in range(count)]
    for person in people:
        person.save()
    for person in people:
        Note(workspace=workspace, person=person, body=f"from {person.pk}").save()
    return list(Note.objects.filter(workspace=workspace).order_by("pk"))


@override_settings(CRYPTO_KEY_CACHE_SECONDS=60)
def test_a_page_under_many_subjects_keys_loads_them_in_one_query(workspace: Workspace) -> None:
    notes = people_with_a_note(workspace, 12)
    user, membership = make_member(workspace, Role.AGENT, "agent@example.org")
    keyring.clear_cache()
    with CaptureQueriesContext(connection) as few:
        reveal(user, membership, notes[:2], ["body"])
    keyring.clear_cache()
    with CaptureQueriesContext(connection) as many:
        shown = reveal(user, membership, notes, ["body"])
    assert shown == [{"body": f"from {note.person_id}"} for note in notes]
    assert len(many) == len(few)
    assert sum("crypto_datakey" in query["sql"] for query in many) == 1  # every key, with its parent


@override_settings(CRYPTO_KEY_CACHE_SECONDS=60)
def test_a_shredded_subject_among_many_still_reads_as_erased(workspace: Workspace) -> None:
    notes = people_with_a_note(workspace, 3)
    actions.shred_subject(workspace.pk, SubjectRef("person", notes[1].person_id), actor=SYSTEM)
    user, membership = make_member(workspace, Role.AGENT, "agent@example.org")
    keyring.clear_cache()
    shown = reveal(user, membership, list(Note.objects.filter(workspace=workspace).order_by("pk")), ["body"])
    assert shown == [
        {"body": f"from {notes[0].person_id}"},
        {"body": ERASED},
        {"body": f"from {notes[2].person_id}"},
    ]


@override_settings(CRYPTO_KEY_CACHE_SECONDS=60)
def test_a_page_of_two_models_is_one_read_one_key_query_and_an_event_per_model(workspace: Workspace) -> None:
    notes = people_with_a_note(workspace, 4)
    people = list(Person.objects.filter(workspace=workspace).order_by("pk"))
    user, membership = make_member(workspace, Role.AGENT, "agent@example.org")
    keyring.clear_cache()
    with CaptureQueriesContext(connection) as alone:
        reveal(user, membership, notes, ["body"])
    keyring.clear_cache()
    with CaptureQueriesContext(connection) as together:
        shown_notes, shown_people = reveal_together(
            user, membership, [(notes, ["body"]), (people, ["phone"])], origin=Origin(ip="203.0.113.9")
        )
    assert shown_notes == [{"body": f"from {note.person_id}"} for note in notes]
    assert sorted(shown["phone"] for shown in shown_people) == [f"+4477009001{n:02d}" for n in range(4)]
    assert sum("crypto_datakey" in query["sql"] for query in together) == 1  # both models' keys
    assert len(together) == len(alone) + 1  # the second model adds its event's INSERT, nothing else
    events = reveal_events()[1:]
    assert [(e.details["model"], e.details["rows"], e.outcome) for e in events] == [
        ("crypto.note", 4, Outcome.SUCCESS),
        ("crypto.person", 4, Outcome.SUCCESS),
    ]
    assert events[1].details["ids"] == ",".join(str(person.pk) for person in people)


def test_one_refused_part_refuses_the_whole_page_and_each_part_is_recorded(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    _, mine = page(workspace)
    theirs, _ = page(other_workspace)
    user, membership = make_member(workspace, Role.OWNER, "owner@example.org")
    with pytest.raises(PermissionDenied, match="another workspace"):
        reveal_together(user, membership, [(mine, ["body"]), ([theirs], ["phone"])])
    events = reveal_events()
    assert [(e.details["model"], e.outcome) for e in events] == [
        ("crypto.note", Outcome.DENIED),
        ("crypto.person", Outcome.DENIED),
    ]
    assert all("ids" not in e.details for e in events)  # nothing was opened


def test_a_field_that_is_not_encrypted_refuses_the_whole_page_before_any_read(workspace: Workspace) -> None:
    person, notes = page(workspace)
    user, membership = make_member(workspace, Role.OWNER, "owner@example.org")
    with pytest.raises(CryptoError):
        reveal_together(user, membership, [(notes, ["body"]), ([person], ["phone_index"])])
    assert reveal_events() == []
