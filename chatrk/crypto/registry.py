"""Which installed models carry encrypted fields or blind indexes (found at call time, never cached,
so models defined later, e.g. by tests, are included)."""

from __future__ import annotations

from django.apps import apps
from django.db import models

from chatrk.crypto.fields import EncryptionScope, encrypted_fields, index_fields, scope_of


def encrypted_models() -> list[type[models.Model]]:
    return [model for model in apps.get_models() if encrypted_fields(model) or index_fields(model)]


def workspace_keyed_models() -> list[type[models.Model]]:
    """Models whose values sit directly under the workspace key: workspace rotation re-encrypts these."""
    return [
        model for model in encrypted_models() if not scope_of(model).subject_kind and encrypted_fields(model)
    ]


def subject_models(subject_kind: str) -> list[tuple[type[models.Model], EncryptionScope]]:
    found = [(model, scope_of(model)) for model in encrypted_models()]
    return [(model, scope) for model, scope in found if scope.subject_kind == subject_kind]


def subject_index_tables(subject_kind: str) -> list[tuple[type[models.Model], EncryptionScope]]:
    """Tables of keyed fingerprints about a subject (``index_of_subject = EncryptionScope(...)`` on the
    model, e.g. the words of a contact's name): erasing the subject deletes its rows."""
    found = [(model, getattr(model, "index_of_subject", None)) for model in apps.get_models()]
    return [
        (model, scope)
        for model, scope in found
        if isinstance(scope, EncryptionScope) and scope.subject_kind == subject_kind
    ]
