"""Models used only by the crypto tests and benches. They are imported by tests/conftest.py, never by
the app, so ``makemigrations --check`` does not see them; their tables are created by the fixture.
They carry ``workspace`` like TenantModel does; plain managers keep their types visible to mypy."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from chatrk.core.ids import new_id
from chatrk.core.models import Workspace
from chatrk.crypto.fields import BlindIndexField, EncryptedJSONField, EncryptedTextField, EncryptionScope


class Person(models.Model):
    """Stands in for the inbox's Contact: its own subject key."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    workspace_id: int
    objects: ClassVar[models.Manager[Person]] = models.Manager()
    encryption = EncryptionScope(subject_kind="person", subject="id")
    phone = EncryptedTextField()
    phone_index = BlindIndexField(source="phone", normaliser="e164")
    email = EncryptedTextField(null=True)
    email_index = BlindIndexField(source="email", normaliser="email")
    profile = EncryptedJSONField(null=True)

    class Meta:
        app_label = "crypto"
        db_table = "crypto_test_person"

    def __str__(self) -> str:
        return f"person {self.pk}"


class Note(models.Model):
    """Stands in for a Message: data of a person, under that person's key."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    workspace_id: int
    objects: ClassVar[models.Manager[Note]] = models.Manager()
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    person_id: int
    encryption = EncryptionScope(subject_kind="person", subject="person_id")
    body = EncryptedTextField()
    title = EncryptedTextField(null=True)

    class Meta:
        app_label = "crypto"
        db_table = "crypto_test_note"

    def __str__(self) -> str:
        return f"note {self.pk}"


class Secret(models.Model):
    """Workspace-level data: under the workspace key itself, so rotation re-encrypts it."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    workspace_id: int
    objects: ClassVar[models.Manager[Secret]] = models.Manager()
    value = EncryptedTextField()
    extra = EncryptedJSONField(null=True)

    class Meta:
        app_label = "crypto"
        db_table = "crypto_test_secret"

    def __str__(self) -> str:
        return f"secret {self.pk}"


TEST_MODELS: list[type[models.Model]] = [Person, Note, Secret]
