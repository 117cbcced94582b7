"""Declarative encrypted fields: other apps declare them and never see a nonce or a key.

A model with encrypted fields::

    class Message(TenantModel):
        id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
        contact = models.ForeignKey(Contact, on_delete=models.PROTECT)
        encryption = EncryptionScope(subject_kind="contact", subject="contact_id")
        body = EncryptedTextField()

Assign plaintext (``message.body = "hi"``) and ``save()``: the value is encrypted in ``pre_save`` under
the subject's key (or the workspace key when the scope names no subject), bound to
``workspace|table|column|row id``. Loaded values are ``Sealed`` ciphertexts; they are opened only by
``chatrk.crypto.reveal.reveal`` (audited, for display) or ``open_for_system`` (for machine use).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core import checks
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.lookups import IsNull

from chatrk.crypto import blind, envelope
from chatrk.crypto.envelope import Binding, Sealed
from chatrk.crypto.errors import CryptoError
from chatrk.crypto.keyring import LoadedKey, active_key, preload
from chatrk.crypto.models import KeyKind


@dataclass(frozen=True, slots=True)
class EncryptionScope:
    """Which attributes of a model name its workspace and, optionally, its subject (e.g. the contact)."""

    workspace: str = "workspace_id"
    subject_kind: str = ""  # e.g. "contact"; empty: values are under the workspace key
    subject: str = ""  # attribute holding the subject's id, e.g. "contact_id" (or "id" on Contact)

    def workspace_id(self, instance: models.Model) -> int:
        return _required_int(instance, self.workspace)

    def subject_ref(self, instance: models.Model) -> str:
        if not self.subject_kind:
            return ""
        return f"{self.subject_kind}:{_required_int(instance, self.subject)}"

    def key_for(self, instance: models.Model) -> LoadedKey:
        workspace_id = self.workspace_id(instance)
        if self.subject_kind:
            return active_key(workspace_id, KeyKind.SUBJECT, self.subject_ref(instance))
        return active_key(workspace_id, KeyKind.WORKSPACE)


_DEFAULT_SCOPE = EncryptionScope()


def scope_of(model: type[models.Model] | models.Model) -> EncryptionScope:
    scope = getattr(model, "encryption", _DEFAULT_SCOPE)
    if not isinstance(scope, EncryptionScope):
        raise CryptoError(f"{model._meta.label}.encryption must be an EncryptionScope")
    return scope


def _required_int(instance: models.Model, attribute: str) -> int:
    value = getattr(instance, attribute)
    if not isinstance(value, int):
        raise CryptoError(f"{instance._meta.label}.{attribute} must be set before encrypting")
    return value


def binding_for(instance: models.Model, field: models.Field[Any, Any]) -> Binding:
    if instance.pk is None:
        raise CryptoError(f"{instance._meta.label} needs its id before INSERT (default=new_id)")
    workspace_id = scope_of(instance).workspace_id(instance)
    return Binding(workspace_id, instance._meta.db_table, _column(field), int(instance.pk))


def _column(field: models.Field[Any, Any]) -> str:
    column = field.column
    if not column:
        raise CryptoError(f"{field.name} has no column")
    return column


class EncryptedField(models.BinaryField):  # type: ignore[type-arg]
    """Stores ``envelope`` ciphertexts; subclasses say how a Python value becomes bytes and back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def get_default(self) -> Any:
        # BinaryField defaults to b"", which would be "encrypted" as a value; no value means NULL.
        return super().get_default() if self.has_default() else None

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, plaintext: bytes) -> Any:
        raise NotImplementedError

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        seal_pending(model_instance)
        return getattr(model_instance, self.attname)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Sealed | None:
        return None if value is None else Sealed(bytes(value))

    def to_python(self, value: Any) -> Any:
        # Serialised fixtures (dumpdata) carry the ciphertext as base64 text: it stays a ciphertext.
        if isinstance(value, str):
            return Sealed(base64.b64decode(value.encode("ascii")))
        return value

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if value is None:
            return None
        if not isinstance(value, Sealed):
            # Reached by bulk_update() or update() with plaintext: there is no instance to bind to.
            raise CryptoError(f"{self.model._meta.label}.{self.name} is encrypted by save(), not by update()")
        return super().get_db_prep_value(bytes(value), connection, prepared)

    def get_lookup(self, lookup_name: str) -> Any:
        # Ciphertexts are randomised: comparing them finds nothing and invites mistakes. Use a blind index.
        return IsNull if lookup_name == "isnull" else None

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        pk = self.model._meta.pk
        if pk is None or not pk.has_default():
            errors.append(checks.Error(
                "models with encrypted fields need an id assigned before INSERT",
                hint="id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)",
                obj=self, id="crypto.E001",
            ))  # fmt: skip
        return errors


class EncryptedTextField(EncryptedField):
    def encode(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise CryptoError(f"{self.model._meta.label}.{self.name} takes text")
        return value.encode()

    def decode(self, plaintext: bytes) -> str:
        return plaintext.decode()


# One encoder for every value: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)


class EncryptedJSONField(EncryptedField):
    def encode(self, value: Any) -> bytes:
        return _JSON.encode(value).encode()

    def decode(self, plaintext: bytes) -> Any:
        return json.loads(plaintext)


class BlindIndexField(models.BigIntegerField):  # type: ignore[type-arg]
    """A truncated HMAC of another encrypted field's normalised value, kept in step on save()."""

    def __init__(
        self, *args: Any, source: str = "", normaliser: str = "exact", expected_rows: int = 1_000_000,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        if normaliser not in blind.NORMALISERS:
            raise CryptoError(f"unknown normaliser {normaliser!r}")
        self.source, self.normaliser, self.expected_rows = source, normaliser, expected_rows
        self.bits = blind.bits_for(expected_rows)
        kwargs.update(null=True, editable=False, db_index=True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for fixed in ("null", "editable", "db_index"):
            kwargs.pop(fixed, None)
        kwargs.update(source=self.source, normaliser=self.normaliser, expected_rows=self.expected_rows)
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        seal_pending(model_instance)
        return getattr(model_instance, self.attname)

    def value_for(self, workspace_id: int, plaintext: str) -> int:
        return blind.index_value(
            workspace_id, self.model._meta.db_table, _column(self), self._normalise(plaintext), self.bits
        )

    def values_for(self, workspace_id: int, plaintexts: Iterable[str]) -> dict[str, int]:
        """``value_for`` of many values, the workspace's index key looked up once (a drain batch's
        senders); values that do not normalise are left out."""
        normalised: dict[str, str] = {}
        for plaintext in plaintexts:
            with contextlib.suppress(blind.NormalisationError):
                normalised[plaintext] = self._normalise(plaintext)
        table, column = self.model._meta.db_table, _column(self)
        values = blind.index_values(workspace_id, table, column, normalised.values(), self.bits)
        return dict(zip(normalised, values, strict=True))

    def _normalise(self, plaintext: str) -> str:
        if not isinstance(plaintext, str):
            raise CryptoError(f"{self.model._meta.label}.{self.name} indexes text only")
        return blind.NORMALISERS[self.normaliser](plaintext)


# A model's fields never change once Django has loaded it; these were rebuilt for every row sealed.
@functools.cache
def encrypted_fields(model: type[models.Model]) -> tuple[EncryptedField, ...]:
    return tuple(field for field in model._meta.concrete_fields if isinstance(field, EncryptedField))


@functools.cache
def index_fields(model: type[models.Model], source: str | None = None) -> tuple[BlindIndexField, ...]:
    return tuple(
        field for field in model._meta.concrete_fields
        if isinstance(field, BlindIndexField) and (source is None or field.source == source)
    )  # fmt: skip


def seal_pending(instance: models.Model) -> None:
    """Encrypts every plaintext encrypted attribute and refreshes its indexes, whichever field saves first.

    Doing all fields at once keeps indexes right regardless of field order in the INSERT/UPDATE.
    """
    model = type(instance)
    pending = [
        field for field in encrypted_fields(model)
        if field.attname in instance.__dict__ and not isinstance(instance.__dict__[field.attname], Sealed)
    ]  # fmt: skip
    if not pending:
        return
    key: LoadedKey | None = None
    row: Binding | None = None
    for field in pending:
        value = instance.__dict__[field.attname]
        indexes = index_fields(model, field.name)
        if value is None:
            for index in indexes:
                setattr(instance, index.attname, None)
            continue
        plaintext = field.encode(value)  # type checks come before anything is derived from the value
        if key is None or row is None:
            key = scope_of(model).key_for(instance)
            row = binding = binding_for(instance, field)
        else:  # the row's other fields: only the column differs
            binding = Binding(row.workspace_id, row.table, _column(field), row.row_id)
        for index in indexes:
            setattr(instance, index.attname, index.value_for(binding.workspace_id, value))
        setattr(instance, field.attname, envelope.encrypt(plaintext, key, binding))


def preload_keys(rows: Sequence[models.Model], field_names: Sequence[str]) -> None:
    """One query for the keys of many rows' encrypted fields, whatever the number of subjects among
    them (opening each row would otherwise load its subject's key by itself)."""
    preload(key_ids_of(rows, field_names))


def key_ids_of(rows: Sequence[models.Model], field_names: Sequence[str]) -> set[int]:
    """The keys the rows' sealed values name (unreadable envelopes are left for opening to report)."""
    key_ids: set[int] = set()
    for row in rows:
        for name in field_names:
            field = row._meta.get_field(name)
            value = getattr(row, field.attname) if isinstance(field, EncryptedField) else None
            if isinstance(value, Sealed):
                with contextlib.suppress(CryptoError):
                    key_ids.add(envelope.key_id_of(value))
    return key_ids


def open_for_system(instance: models.Model, field_name: str) -> Any:
    """Decrypts one field for machine use. Not audited: display to a person goes through ``reveal``."""
    field = instance._meta.get_field(field_name)
    if not isinstance(field, EncryptedField):
        raise CryptoError(f"{instance._meta.label}.{field_name} is not encrypted")
    value = getattr(instance, field.attname)
    if value is None:
        return None
    if not isinstance(value, Sealed):
        return value  # assigned in this process and not saved yet: it never left memory
    subject = scope_of(instance).subject_ref(instance)
    return field.decode(envelope.decrypt(value, binding_for(instance, field), subject=subject))
