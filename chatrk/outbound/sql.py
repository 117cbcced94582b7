"""Writing many rows at once without Django's ``bulk_update`` (whose CASE expressions cost more than
the writes for a few hundred rows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, models


def update_rows(model: type[models.Model], rows: Iterable[models.Model], fields: list[str]) -> None:
    """One parameterised UPDATE per row through ``executemany``: many times faster than bulk_update's
    CASE expressions for the few hundred rows of a pass, and the same on SQLite and PostgreSQL."""
    rows = list(rows)
    if not rows:
        return
    meta = model._meta
    concrete = {field.name: field for field in meta.concrete_fields}
    columns = [concrete[name] for name in fields]
    quote: Any = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in columns)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in columns] + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
