"""Tenant-scoped readers over encrypted data."""

from __future__ import annotations

from typing import Any

from django.db import models

from chatrk.crypto.errors import CryptoError
from chatrk.crypto.fields import BlindIndexField, open_for_system, scope_of


def find_by_blind_index[M: models.Model](
    model: type[M], workspace_id: int, index: str, value: str
) -> list[M]:
    """Rows of one workspace whose ``index``'s source equals ``value`` after normalisation.

    One indexed equality lookup (a B-tree, so O(log n)) returns the few candidates that share the
    truncated HMAC; each is confirmed by decrypting its source field (machine use, not a display).
    """
    field = model._meta.get_field(index)
    if not isinstance(field, BlindIndexField):
        raise CryptoError(f"{model._meta.label}.{index} is not a blind index")
    wanted = field.value_for(workspace_id, value)
    normalise = _normaliser(field)
    candidates = model._default_manager.filter(
        **{scope_of(model).workspace: workspace_id, field.attname: wanted}
    )
    target = normalise(value)
    return [row for row in candidates if _matches(row, field.source, target, normalise)]


def _normaliser(field: BlindIndexField) -> Any:
    from chatrk.crypto.blind import NORMALISERS

    return NORMALISERS[field.normaliser]


def _matches(row: models.Model, source: str, target: str, normalise: Any) -> bool:
    plaintext = open_for_system(row, source)
    return isinstance(plaintext, str) and normalise(plaintext) == target
