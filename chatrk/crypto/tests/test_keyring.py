"""The keyring: lazy key creation, races between workers, caching, and property round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatrk.audit.models import AuditEvent
from chatrk.core.models import Workspace
from chatrk.crypto import keyring
from chatrk.crypto.errors import DecryptionFailed, KeyUnavailable
from chatrk.crypto.fields import open_for_system
from chatrk.crypto.models import DataKey, KeyKind, KeyState
from chatrk.crypto.tests.models import Person, Secret

pytestmark = pytest.mark.django_db
ONCE_PER_TEST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_workspace_key_generation_is_audited_once(workspace: Workspace) -> None:
    for n in range(3):
        Secret(workspace=workspace, value=f"v{n}").save()
    keys = DataKey.objects.filter(workspace=workspace, kind=KeyKind.WORKSPACE)
    assert [(key.version, key.state) for key in keys] == [(1, KeyState.ACTIVE)]
    events = AuditEvent.objects.filter(action="crypto.key.generate", workspace_id=workspace.pk)
    assert events.count() == 1


def test_a_worker_losing_the_creation_race_uses_the_winners_key(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = Person(workspace=workspace, phone="+447700900123")
    winner.save()
    real_active_row = keyring._active_row
    calls = {"n": 0}

    def blind_first_time(*args: Any) -> DataKey | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else real_active_row(*args)

    keyring.clear_cache()
    monkeypatch.setattr(keyring, "_active_row", blind_first_time)
    note_key = keyring.active_key(workspace.pk, KeyKind.SUBJECT, f"person:{winner.pk}")
    assert DataKey.objects.filter(subject=f"person:{winner.pk}").count() == 1
    assert note_key.id == DataKey.objects.get(subject=f"person:{winner.pk}").pk


def test_unknown_key_id_is_unavailable() -> None:
    with pytest.raises(KeyUnavailable):
        keyring.load_key(12345)


def test_swapped_wrapped_keys_do_not_unwrap(workspace: Workspace) -> None:
    first, second = (
        Person(workspace=workspace, phone="+447700900123"),
        Person(workspace=workspace, phone="+14155550100"),
    )
    first.save()
    second.save()
    a = DataKey.objects.get(subject=f"person:{first.pk}")
    b = DataKey.objects.get(subject=f"person:{second.pk}")
    DataKey.objects.filter(pk=a.pk).update(wrapped=bytes(b.wrapped))
    keyring.clear_cache()
    with pytest.raises(DecryptionFailed):
        open_for_system(Person.objects.get(pk=first.pk), "phone")


def test_cached_keys_serve_reads_without_the_database(workspace: Workspace, settings: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.CRYPTO_KEY_CACHE_SECONDS = 60
    row = Secret(workspace=workspace, value="cached")
    row.save()
    loaded = Secret.objects.get(pk=row.pk)
    open_for_system(loaded, "value")
    with CaptureQueriesContext(connection) as queries:
        assert open_for_system(loaded, "value") == "cached"
        Secret(workspace=workspace, value="again").value  # noqa: B018 - attribute access only
    assert len(queries) == 0


@ONCE_PER_TEST
@given(text=st.text(max_size=300))
def test_any_text_round_trips(workspace: Workspace, text: str) -> None:
    row = Secret(workspace=workspace, value=text)
    row.save()
    assert open_for_system(Secret.objects.get(pk=row.pk), "value") == text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@ONCE_PER_TEST
@given(value=JSON)
def test_any_json_round_trips(workspace: Workspace, value: object) -> None:
    row = Secret(workspace=workspace, value="x", extra={"v": value})
    row.save()
    assert open_for_system(Secret.objects.get(pk=row.pk), "extra") == {"v": value}


def test_error_messages_never_carry_plaintext(workspace: Workspace) -> None:
    row = Secret(workspace=workspace, value="hunter2-plaintext")
    row.save()
    other = Secret(workspace=workspace, value="x")
    other.save()
    Secret.objects.filter(pk=other.pk).update(value=Secret.objects.get(pk=row.pk).value)
    with pytest.raises(DecryptionFailed) as caught:
        open_for_system(Secret.objects.get(pk=other.pk), "value")
    assert "hunter2" not in str(caught.value)
    assert f"row {other.pk}" in str(caught.value)


class Rollback(Exception):
    pass


def test_a_key_created_in_a_rolled_back_transaction_is_never_reused(
    workspace: Workspace, settings: Any
) -> None:
    from django.db import transaction

    settings.CRYPTO_KEY_CACHE_SECONDS = 60

    def write_then_fail() -> None:
        with transaction.atomic():
            Secret(workspace=workspace, value="lost").save()
            raise Rollback

    with pytest.raises(Rollback):
        write_then_fail()
    assert not DataKey.objects.filter(workspace=workspace).exists()
    kept = Secret(workspace=workspace, value="kept")
    kept.save()
    keyring.clear_cache()  # as another process, or this one a minute later, would read it
    assert open_for_system(Secret.objects.get(pk=kept.pk), "value") == "kept"


def _datakey_reads(queries: Any) -> list[str]:
    return [
        q["sql"] for q in queries.captured_queries if "crypto_datakey" in q["sql"] and "SELECT" in q["sql"]
    ]


def test_a_key_created_in_the_open_transaction_is_reused_in_it_without_a_query(
    workspace: Workspace, settings: Any
) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    settings.CRYPTO_KEY_CACHE_SECONDS = 60
    with transaction.atomic():
        person = Person(workspace=workspace, phone="+447700900123")
        person.save()  # creates the person's subject key in this transaction
        with CaptureQueriesContext(connection) as queries:
            again = keyring.active_key(workspace.pk, KeyKind.SUBJECT, f"person:{person.pk}")
    assert _datakey_reads(queries) == []
    assert again.id == DataKey.objects.get(subject=f"person:{person.pk}").pk


@pytest.mark.django_db(transaction=True)
def test_a_key_rolled_back_to_a_savepoint_is_not_used_again(workspace: Workspace, settings: Any) -> None:
    from django.db import transaction

    settings.CRYPTO_KEY_CACHE_SECONDS = 60
    keyring.clear_cache()
    with transaction.atomic():
        transaction.on_commit(lambda: None)  # another hook queued before the key is made
        try:
            with transaction.atomic():
                Secret(workspace=workspace, value="lost").save()
                raise Rollback
        except Rollback:
            pass
        kept = Secret(workspace=workspace, value="kept")
        kept.save()
    [key] = DataKey.objects.filter(workspace=workspace)
    assert keyring.active_key(workspace.pk, KeyKind.WORKSPACE).id == key.pk
    keyring.clear_cache()
    assert open_for_system(Secret.objects.get(pk=kept.pk), "value") == "kept"


@pytest.mark.django_db(transaction=True)
def test_an_uncommitted_key_survives_an_unrelated_savepoint_rollback_but_not_the_outer_one(
    workspace: Workspace, settings: Any
) -> None:
    from django.db import transaction

    settings.CRYPTO_KEY_CACHE_SECONDS = 60
    keyring.clear_cache()
    made: list[int] = []

    def savepoint_with_a_hook(*, fail: bool) -> None:
        try:
            with transaction.atomic():
                transaction.on_commit(lambda: None)
                if fail:
                    raise Rollback
        except Rollback:
            pass

    def write_then_fail() -> None:
        with transaction.atomic():
            savepoint_with_a_hook(fail=True)
            Secret(workspace=workspace, value="first").save()
            savepoint_with_a_hook(fail=False)
            savepoint_with_a_hook(fail=True)
            made.append(keyring.active_key(workspace.pk, KeyKind.WORKSPACE).id)
            assert made == [DataKey.objects.get(workspace=workspace).pk]  # still this transaction's key
            raise Rollback

    with pytest.raises(Rollback):
        write_then_fail()
    assert not DataKey.objects.filter(workspace=workspace).exists()
    kept = Secret(workspace=workspace, value="kept")
    kept.save()
    keyring.clear_cache()
    assert open_for_system(Secret.objects.get(pk=kept.pk), "value") == "kept"
