"""Models used only by the crypto tests and benches. They are imported by tests/conftest.py, never by
the app, so ``makemigrations --check`` does not see them; their tables are created by the fixture."""

from __future__ import annotations

from django.db import models

from chatrk.core.ids import new_id
from chatrk.core.models import TenantModel
from chatrk.crypto.fields import BlindIndexField, EncryptedJSONField, EncryptedTextField, EncryptionScope


class Person(TenantModel):
    """Stands in for the inbox's Contact: its own subject key."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    encryption = EncryptionScope(subject_kind="person", subject="id")
    phone = EncryptedTextField()
    phone_index = BlindIndexField(source="phone", normaliser="e164")
    email = EncryptedTextField(null=True)
    email_index = BlindIndexField(source="email", normaliser="email")
    profile = EncryptedJSONField(null=True)

    class Meta:
        app_label = "crypto"
        db_table = "crypto_test_person"


class Note(TenantModel):
    """Stands in for a Message: data of a person, under that person's key."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    encryption = EncryptionScope(subject_kind="person", subject="person_id")
    body = EncryptedTextField()
    title = EncryptedTextField(null=True)

    class Meta:
        app_label = "crypto"
        db_table = "crypto_test_note"


class Secret(TenantModel):
    """Workspace-level data: under the workspace key itself, so rotation re-encrypts it."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    value = EncryptedTextField()
    extra = EncryptedJSONField(null=True)

    class Meta:
        app_label = "crypto"
        db_table = "crypto_test_secret"


TEST_MODELS: list[type[models.Model]] = [Person, Note, Secret]
