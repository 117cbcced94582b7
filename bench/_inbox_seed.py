"""Seeds one workspace with a realistic, skewed inbox for ``bench/inbox_pages.py``.

Everything personal is a real ciphertext made by the app's own primitives (``envelope.encrypt`` under a
real per-contact data key wrapped by the workspace key, blind indexes from the field itself), so the
app decrypts the seeded rows exactly as it decrypts rows it wrote. Only the row writing is bulk: one
multi-row INSERT per batch on SQLite, COPY on PostgreSQL, instead of a ``save()`` per row.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.db.models.fields import AutoFieldMixin

from chatrk.core.clock import now
from chatrk.core.ids import new_id
from chatrk.core.models import Membership, Workspace
from chatrk.core.roles import Role
from chatrk.crypto import envelope
from chatrk.crypto.aead import new_key
from chatrk.crypto.envelope import Binding
from chatrk.crypto.fields import BlindIndexField, EncryptedField
from chatrk.crypto.keyring import LoadedKey, active_key, wrap_into
from chatrk.crypto.models import DataKey, KeyKind, KeyState
from chatrk.inbox.models import (
    Channel,
    Contact,
    Conversation,
    ConversationLabel,
    Counter,
    Label,
    Message,
)

FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gustavo", "Hana", "Ibrahim", "Jonas", "Kofi"]
LAST = ["Silva", "Okafor", "Nguyen", "Müller", "Kowalski", "Haddad", "Tanaka", "Rossi", "Dubois", "Patel"]
SENTENCE = (
    "hello order shipped thanks when will my parcel arrive tomorrow refund please invoice size colour "
    "return label address changed delivery driver waiting store opening hours price discount code"
)
WORDS = SENTENCE.split()
LABELS = ["billing", "vip", "returns", "shipping", "complaint", "sales", "warranty", "spam-check"]
# (conversations, messages each): the long threads that make "an older page" expensive if done badly.
LONG_THREADS = [(5, 5_000), (20, 2_000), (100, 500)]
BATCH = 5_000
SEEDED_MODELS = (DataKey, Contact, Conversation, ConversationLabel, Message, Label, Channel, Counter)


@dataclass
class Seeded:
    workspace_id: int
    agent_user_id: int
    agent_membership_id: int
    member_user_ids: list[int]
    label_ids: list[int]
    longest_conversation_id: int
    sample_phone: str
    timings: dict[str, float] = field(default_factory=dict)


def seed(conversations: int, messages: int, *, rng_seed: int = 7) -> Seeded:
    rng = random.Random(rng_seed)  # noqa: S311 - reproducible sample data, not secrets
    timings: dict[str, float] = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    with _fast_writes():
        workspace, agent, members, channels, labels = _people_and_channels()
        timings["setup_s"] = time.perf_counter() - started
        t0 = time.perf_counter()
        contacts = _contacts(workspace.pk, conversations, rng)
        timings["contacts_and_keys_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        counts = _message_counts(conversations, messages, rng)
        conversation_rows = _conversations(workspace.pk, contacts, channels, members, counts, rng)
        timings["conversations_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _labels(workspace.pk, conversation_rows, labels, rng)
        timings["labels_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _messages(workspace.pk, conversation_rows, contacts, members, rng)
        timings["messages_s"] = time.perf_counter() - t0
        Counter.objects.create(workspace_id=workspace.pk, name="conversation", value=conversations)
    t0 = time.perf_counter()
    _analyse()
    timings["analyse_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started
    timings["cpu_s"] = time.process_time() - cpu_started  # this process alone: the load does not count
    longest = max(conversation_rows, key=lambda row: row.count)
    return Seeded(
        workspace_id=workspace.pk,
        agent_user_id=agent.user_id,
        agent_membership_id=agent.pk,
        member_user_ids=[member.user_id for member in members],
        label_ids=[label.pk for label in labels],
        longest_conversation_id=longest.id,
        sample_phone=contacts[len(contacts) // 2].wa_id,
        timings={name: round(value, 1) for name, value in timings.items()},
    )


class _fast_writes:
    """Seeding only: no fsync and a big page cache on SQLite, no WAL flush per commit on PostgreSQL."""

    def __enter__(self) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA synchronous=OFF")
                cursor.execute("PRAGMA cache_size=-400000")
                cursor.execute("PRAGMA temp_store=MEMORY")
            else:
                cursor.execute("SET synchronous_commit TO off")

    def __exit__(self, *exc: object) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA synchronous=NORMAL")
            else:
                cursor.execute("SET synchronous_commit TO on")


def _analyse() -> None:
    """PostgreSQL's autovacuum would analyse after such a load; SQLite gets ``PRAGMA optimize`` as the
    app's own connections do not run ANALYZE (so the SQLite figures are without planner statistics)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# --- people, channels, labels (few rows: through the app's own actions) ----------------------------


def _people_and_channels() -> tuple[Workspace, Membership, list[Membership], list[Channel], list[Label]]:
    from chatrk.testing import add_member, make_channel, make_user

    workspace = Workspace.objects.create(name="Inbox bench", slug="inboxbench", created_at=now())
    owner = add_member(workspace, make_user(name="Owner", with_totp=False), Role.OWNER)
    agents = [add_member(workspace, make_user(name=f"Agent {n}", with_totp=False)) for n in range(9)]
    channels = [make_channel(owner) for _ in range(4)]
    labels = [Label.objects.create(workspace=workspace, name=name, created_at=now()) for name in LABELS]
    active_key(workspace.pk, KeyKind.WORKSPACE)
    active_key(workspace.pk, KeyKind.INDEX)
    return workspace, agents[0], [owner, *agents], channels, labels


# --- contacts, each with its own data key ------------------------------------------------------------


@dataclass(slots=True)
class _Contact:
    id: int
    wa_id: str
    key: LoadedKey


def _contacts(workspace_id: int, count: int, rng: random.Random) -> list[_Contact]:
    parent = active_key(workspace_id, KeyKind.WORKSPACE)
    index = Contact._meta.get_field("wa_id_index")
    assert isinstance(index, BlindIndexField)
    stamp = now()
    made: list[_Contact] = []
    key_rows: list[dict[str, Any]] = []
    contact_rows: list[dict[str, Any]] = []
    for n in range(count):
        contact_id = new_id()
        wa_id = f"4477{n:08d}"
        key_row = DataKey(
            id=new_id(), workspace_id=workspace_id, kind=KeyKind.SUBJECT, subject=f"contact:{contact_id}",
            version=1, state=KeyState.ACTIVE, created_at=stamp, state_changed_at=stamp,
        )  # fmt: skip
        material = new_key()
        wrap_into(key_row, material, parent)
        key = LoadedKey(key_row.pk, workspace_id, KeyKind.SUBJECT, key_row.subject, 1, material)
        key_rows.append(_values(key_row))
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() < 0.9 else None
        contact_rows.append({
            "id": contact_id, "workspace_id": workspace_id, "created_at": stamp,
            "wa_id": _seal(Contact, "wa_id", wa_id, key, workspace_id, contact_id),
            "wa_id_index": index.value_for(workspace_id, wa_id),
            "profile_name": _seal(Contact, "profile_name", name, key, workspace_id, contact_id),
        })  # fmt: skip
        made.append(_Contact(contact_id, wa_id, key))
        if len(contact_rows) >= BATCH:
            insert(DataKey, key_rows)
            insert(Contact, contact_rows)
            key_rows, contact_rows = [], []
    insert(DataKey, key_rows)
    insert(Contact, contact_rows)
    return made


def _seal(
    model: type[models.Model], name: str, value: Any, key: LoadedKey, workspace_id: int, row_id: int
) -> bytes | None:
    if value is None:
        return None
    column = model._meta.get_field(name)
    assert isinstance(column, EncryptedField)
    binding = Binding(workspace_id, model._meta.db_table, _column_name(column), row_id)
    return bytes(envelope.encrypt(column.encode(value), key, binding))


def _values(instance: models.Model) -> dict[str, Any]:
    return {column.attname: getattr(instance, column.attname) for column in instance._meta.concrete_fields}


# --- conversations -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Conversation:
    id: int
    contact: int
    channel: int
    count: int
    started: datetime
    last: datetime


def _message_counts(conversations: int, messages: int, rng: random.Random) -> list[int]:
    """Messages per conversation: a few thousand-message threads, most short, summing to ``messages``."""
    counts: list[int] = []
    for many, each in LONG_THREADS:  # scaled down for small trial runs
        counts += [max(60, each * messages // 1_000_000)] * min(many, conversations // 100)
    rest = conversations - len(counts)
    budget = messages - sum(counts)
    if rest <= 0 or budget < rest:
        raise SystemExit("too few messages for that many conversations")
    mean = budget / rest
    short = [max(1, round(rng.expovariate(1 / mean))) for _ in range(rest)]
    drift = budget - sum(short)
    while drift:
        n = rng.randrange(rest)
        step = 1 if drift > 0 else -1
        if short[n] + step >= 1:
            short[n] += step
            drift -= step
    counts += short
    rng.shuffle(counts)
    return counts


def _conversations(
    workspace_id: int, contacts: Sequence[_Contact], channels: Sequence[Channel],
    members: Sequence[Membership], counts: Sequence[int], rng: random.Random,
) -> list[_Conversation]:  # fmt: skip
    end = now() - timedelta(minutes=5)
    made: list[_Conversation] = []
    rows: list[dict[str, Any]] = []
    statuses = ["open"] * 20 + ["pending"] * 10 + ["snoozed"] * 5 + ["resolved"] * 65
    for number, (contact, count) in enumerate(zip(contacts, counts, strict=True), start=1):
        last = end - timedelta(seconds=rng.randrange(365 * 86_400))
        started = last - timedelta(minutes=count * rng.uniform(1, 30))
        status = rng.choice(statuses)
        assignee = rng.choice(members).user_id if rng.random() < 0.7 else None
        conversation = _Conversation(new_id(), contact.id, rng.choice(channels).pk, count, started, last)
        rows.append({
            "id": conversation.id, "workspace_id": workspace_id, "number": number,
            "channel_id": conversation.channel, "contact_id": contact.id, "status": status,
            "assignee_id": assignee, "last_inbound_at": last, "last_message_at": last,
            "unread": rng.randrange(4) if status == "open" else 0, "created_at": started,
            "snoozed_until": end + timedelta(days=1) if status == "snoozed" else None,
        })  # fmt: skip
        made.append(conversation)
    for chunk in _chunks(rows):
        insert(Conversation, chunk)
    return made


def _labels(
    workspace_id: int, conversations: Sequence[_Conversation], labels: Sequence[Label], rng: random.Random
) -> None:
    rows = []
    for conversation in conversations:
        if rng.random() < 0.3:
            for label in rng.sample(list(labels), rng.choice([1, 1, 2])):
                rows.append({"workspace_id": workspace_id, "conversation_id": conversation.id,
                             "label_id": label.pk})  # fmt: skip
    for chunk in _chunks(rows):
        insert(ConversationLabel, chunk)


# --- messages ----------------------------------------------------------------------------------------


def _messages(
    workspace_id: int, conversations: Sequence[_Conversation], contacts: Sequence[_Contact],
    members: Sequence[Membership], rng: random.Random,
) -> None:  # fmt: skip
    keys = {contact.id: contact.key for contact in contacts}
    rows: list[dict[str, Any]] = []
    for conversation in conversations:
        rows.extend(_thread(workspace_id, conversation, keys[conversation.contact], members, rng))
        if len(rows) >= BATCH:
            insert(Message, rows)
            rows = []
    insert(Message, rows)


def _thread(
    workspace_id: int, conversation: _Conversation, key: LoadedKey, members: Sequence[Membership],
    rng: random.Random,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    span = (conversation.last - conversation.started) / max(conversation.count - 1, 1)
    for n in range(conversation.count):
        message_id = new_id()
        at = conversation.started + span * n if n < conversation.count - 1 else conversation.last
        inbound = n == conversation.count - 1 or rng.random() < 0.5
        kind = "image" if rng.random() < 0.05 else "text"
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 40))).capitalize()
        payload = {"id": str(message_id), "mime_type": "image/jpeg"} if kind == "image" else None
        yield {
            "id": message_id, "workspace_id": workspace_id, "conversation_id": conversation.id,
            "contact_id": conversation.contact, "channel_id": conversation.channel,
            "direction": "in" if inbound else "out", "kind": kind,
            "body": _seal(Message, "body", body, key, workspace_id, message_id),
            "payload": _seal(Message, "payload", payload, key, workspace_id, message_id),
            "wamid": f"wamid.bench{message_id}", "status": "received" if inbound else "read",
            "sent_by_id": None if inbound else rng.choice(members).user_id,
            "sent_at": at, "status_at": at, "created_at": at,
        }  # fmt: skip


# --- bulk writing --------------------------------------------------------------------------------------


def _chunks[T](rows: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def insert(model: type[models.Model], rows: Iterable[dict[str, Any]]) -> None:
    """Writes rows given by attribute name; unnamed columns take the field's default (never its id)."""
    rows = list(rows)
    if not rows:
        return
    # An auto-increment id is left to the database (an explicit NULL would be refused by COPY).
    columns = [column for column in model._meta.concrete_fields if not isinstance(column, AutoFieldMixin)]
    defaults = {
        column.attname: column.get_default() for column in columns if not column.primary_key
    }  # fmt: skip
    names = ", ".join(connection.ops.quote_name(_column_name(column)) for column in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    adapt = [_adapter(column) for column in columns]
    values = [
        tuple(convert(row.get(column.attname, defaults.get(column.attname)))
              for column, convert in zip(columns, adapt, strict=True))
        for row in rows
    ]  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)  # noqa: S608


def _adapter(column: models.Field[Any, Any]) -> Any:
    if isinstance(column, models.DateTimeField) and connection.vendor == "sqlite":
        return lambda value: None if value is None else connection.ops.adapt_datetimefield_value(value)
    if isinstance(column, models.JSONField):
        return lambda value: column.get_db_prep_save(value, connection)
    return lambda value: value


def _column_name(field: Any) -> str:
    name = field.column
    assert isinstance(name, str), f"{field} has no column"
    return name
