"""Writing many rows at once without Django's ``bulk_update`` (whose CASE expressions cost more than
the writes for a few hundred rows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, models


def update_rows(model: type[models.Model], rows: Iterable[models.Model], fields: list[str]) -> None:
    """Writes ``fields`` of every row by primary key, the same on SQLite and PostgreSQL.

    SQLite runs one parameterised UPDATE per row through ``executemany`` (in-process, so each costs
    microseconds). PostgreSQL gets one ``UPDATE … FROM unnest(<one array per column>)``: one statement
    for the server to plan and execute instead of one per row, and a short query text (a ``VALUES``
    list with a placeholder per value costs psycopg more to parse than the server takes to run it)."""
    rows = list(rows)
    if not rows:
        return
    meta = model._meta
    concrete = {field.name: field for field in meta.concrete_fields}
    columns = [meta.pk, *(concrete[name] for name in fields)]
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in columns] for row in rows
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                _unnest_update(meta, columns), [list(column) for column in zip(*params, strict=True)]
            )
        else:
            cursor.executemany(_row_update(meta, columns), [[*row[1:], row[0]] for row in params])


def _row_update(meta: Any, columns: list[models.Field[Any, Any]]) -> str:
    quote: Any = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in columns[1:])
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(columns[0].column)} = %s"  # noqa: S608


def _unnest_update(meta: Any, columns: list[models.Field[Any, Any]]) -> str:
    """One array parameter per column, each cast to its column's type (so NULLs and text take it)."""
    quote: Any = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(columns[0].column)
    arrays = ", ".join(f"%s::{field.cast_db_type(connection)}[]" for field in columns)
    names = ", ".join(quote(field.column) for field in columns)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns[1:])
    return (
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v ({names}) "  # noqa: S608
        f"WHERE {table}.{pk} = v.{pk}"
    )
