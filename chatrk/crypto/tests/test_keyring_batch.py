"""Keys for a drain batch: many subjects' keys read in one query, new subjects' keys made in one INSERT."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from chatrk.audit.actions import SYSTEM
from chatrk.core.models import Workspace
from chatrk.crypto import actions, keyring
from chatrk.crypto.actions import SubjectRef
from chatrk.crypto.errors import SubjectErased
from chatrk.crypto.fields import BlindIndexField, open_for_system
from chatrk.crypto.models import DataKey, KeyKind
from chatrk.crypto.tests.models import Person

pytestmark = pytest.mark.django_db


def people(workspace: Workspace, count: int) -> list[Person]:
    made = [Person(workspace=workspace, phone=f"+1415555{n:04d}") for n in range(count)]
    for person in made:
        person.save()
    return made


def test_preloaded_subject_keys_cost_no_query_each(workspace: Workspace, settings: Any) -> None:
    settings.CRYPTO_KEY_CACHE_SECONDS = 60
    subjects = [f"person:{person.pk}" for person in people(workspace, 5)]
    keyring.clear_cache()
    with CaptureQueriesContext(connection) as preloading:
        keyring.preload_active(workspace.pk, KeyKind.SUBJECT, subjects)
    with CaptureQueriesContext(connection) as using:
        loaded = [keyring.active_key(workspace.pk, KeyKind.SUBJECT, subject) for subject in subjects]
    assert len(using) == 0
    assert len(preloading) <= 3  # the subjects' keys, and their parent (the workspace key) once
    assert [key.id for key in loaded] == [
        DataKey.objects.get(workspace=workspace, subject=subject).pk for subject in subjects
    ]


def test_keys_about_to_expire_are_read_again_with_the_batch(workspace: Workspace, settings: Any) -> None:
    settings.CRYPTO_KEY_CACHE_SECONDS = 60
    subjects = [f"person:{person.pk}" for person in people(workspace, 2)]
    keyring.clear_cache()  # as if made by another process
    keyring.preload_active(workspace.pk, KeyKind.SUBJECT, subjects)
    with CaptureQueriesContext(connection) as fresh:
        keyring.preload_active(workspace.pk, KeyKind.SUBJECT, subjects)
    assert len(fresh) == 0
    settings.CRYPTO_KEY_CACHE_SECONDS = 200  # what was cached for 60 s now has less than half of 200 left
    with CaptureQueriesContext(connection) as stale:
        keyring.preload_active(workspace.pk, KeyKind.SUBJECT, subjects)
    assert len(stale) == 1


def test_new_subjects_keys_are_made_in_one_insert_and_encrypt_their_rows(
    workspace: Workspace, settings: Any
) -> None:
    settings.CRYPTO_KEY_CACHE_SECONDS = 60
    people(workspace, 1)  # the workspace's own keys exist already
    fresh = [Person(workspace=workspace, phone=f"+1415666{n:04d}") for n in range(4)]
    with transaction.atomic():
        keyring.create_subject_keys(workspace.pk, [f"person:{person.pk}" for person in fresh])
        with CaptureQueriesContext(connection) as saving:
            for person in fresh:
                person.save(force_insert=True)
    assert [q["sql"] for q in saving if "crypto_datakey" in q["sql"]] == []
    for n, person in enumerate(fresh):
        key = DataKey.objects.get(workspace=workspace, subject=f"person:{person.pk}")
        assert key.parent_id is not None  # wrapped under the workspace key, like active_key's
        keyring.clear_cache()
        assert open_for_system(Person.objects.get(pk=person.pk), "phone") == f"+1415666{n:04d}"


def fail_after_making_keys(workspace_id: int, subject: str) -> None:
    with transaction.atomic():
        keyring.create_subject_keys(workspace_id, [subject])
        raise RuntimeError("the batch failed")


def test_keys_made_in_a_rolled_back_batch_are_not_reused(workspace: Workspace) -> None:
    person = Person(workspace=workspace, phone="+14155550100")
    subject = f"person:{person.pk}"
    with pytest.raises(RuntimeError):
        fail_after_making_keys(workspace.pk, subject)
    assert not DataKey.objects.filter(subject=subject).exists()
    person.save(force_insert=True)  # makes a key of its own rather than the rolled-back one
    assert DataKey.objects.filter(subject=subject).count() == 1
    assert open_for_system(Person.objects.get(pk=person.pk), "phone") == "+14155550100"


def test_an_erased_subject_gets_no_new_key(workspace: Workspace) -> None:
    actions.shred_subject(workspace.pk, SubjectRef("person", 424242), actor=SYSTEM)
    with pytest.raises(SubjectErased):
        keyring.create_subject_keys(workspace.pk, ["person:1", "person:424242"])
    assert not DataKey.objects.filter(subject="person:1").exists()


def test_index_values_of_many_senders_are_each_ones_own(workspace: Workspace) -> None:
    field = Person._meta.get_field("phone_index")
    assert isinstance(field, BlindIndexField)
    numbers = ["+14155550001", "+14155550002", "not a number"]
    values = field.values_for(workspace.pk, numbers)
    assert set(values) == {"+14155550001", "+14155550002"}  # what does not normalise is left out
    for number in numbers[:2]:
        assert values[number] == field.value_for(workspace.pk, number)
