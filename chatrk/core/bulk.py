"""Multi-row INSERTs without the ORM's per-value compiler, for the drainer's batches.

``bulk_create`` compiles every value of every row through Django's SQL compiler; for a drain batch of
messages, contacts and name words that was a large share of the drainer's CPU. ``insert_rows`` does
what matters of it: each field's ``pre_save`` (so encrypted fields are sealed and blind indexes set)
and ``get_db_prep_save`` (so each engine gets its own value format), then plain parametrised
``INSERT … VALUES (…), (…)`` statements (as many rows per statement as SQLite allows), or on PostgreSQL
one ``COPY … FROM STDIN``. Plain text, integer, boolean and foreign-key
columns holding a value of exactly their Python type skip both calls: for them both return the
attribute unchanged, on every engine, and they were a third of the batch's INSERT work. A datetime
column holding an aware datetime goes straight to the engine's adapter (as get_db_prep_save would).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models.fields import AutoFieldMixin


def insert_rows[M: models.Model](model: type[M], rows: Sequence[M]) -> None:
    """INSERTs new rows of ``model``. A database-assigned id (AutoField) is left to the database and
    not read back; models whose id is set before INSERT (``default=new_id``) keep theirs."""
    if not rows:
        return
    fields = [
        field
        for field in model._meta.concrete_fields
        if not (isinstance(field, AutoFieldMixin) and getattr(rows[0], field.attname) is None)
    ]
    plain = [_plain_type(field) for field in fields]
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the proxy costs a lookup per value
    quote: Any = db.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    table = quote(model._meta.db_table)  # names from the model, never input
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            # Values first: sealing may query keys, which the connection cannot do during COPY.
            values = [_values(row, fields, plain, db) for row in rows]
            _copy(cursor, f"COPY {table} ({columns}) FROM STDIN", values)
        else:
            head = f"INSERT INTO {table} ({columns}) "
            row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
            size = max(1, db.ops.bulk_batch_size(fields, rows))
            for start in range(0, len(rows), size):
                chunk = rows[start : start + size]
                params: list[Any] = []
                for row in chunk:
                    params.extend(_values(row, fields, plain, db))
                cursor.execute(f"{head}VALUES " + ", ".join([row_sql] * len(chunk)), params)
    for row in rows:
        row._state.adding = False
        row._state.db = DEFAULT_DB_ALIAS


def _copy(cursor: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL: rows through COPY, which psycopg formats in C (the arrays that ``INSERT … SELECT
    FROM unnest()`` took were dumped value by value in Python: the drainer's largest single cost on
    PostgreSQL, and the server parsed them back). Logged, and its errors translated, as Django's own
    statements are."""
    db = cursor.db
    logged = cursor.debug_sql(sql) if db.queries_logged else nullcontext()
    with logged, db.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def one_of(column: str, values: Sequence[Any], array_type: str) -> tuple[str, list[Any]]:
    """A ``column IN (…)`` condition for raw SQL and its parameters. On PostgreSQL it is ``= ANY`` of
    one array (``array_type``, e.g. ``bigint[]``), so the statement's text is the same for any number
    of values and the driver does not re-parse a placeholder per value."""
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        return f"{column} = ANY(%s::{array_type})", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _values(
    row: models.Model, fields: Sequence[models.Field[Any, Any]], plain: Sequence[type | None], db: Any
) -> list[Any]:
    values: list[Any] = []
    for field, python_type in zip(fields, plain, strict=True):
        if python_type is not None:
            value = getattr(row, field.attname)
            if value is None:
                values.append(value)
                continue
            if python_type is datetime:
                if type(value) is datetime and value.tzinfo is not None:
                    # Where get_db_prep_save ends for an aware datetime (its checks are for naive ones).
                    values.append(db.ops.adapt_datetimefield_value(value))
                    continue
            elif type(value) is python_type:
                values.append(value)
                continue
        value = field.pre_save(row, True)
        # None is SQL NULL for every field (JSONField included: a JSON null needs Value(None)).
        values.append(None if value is None else field.get_db_prep_save(value, db))
    return values


# Fields whose pre_save is the attribute and whose get_db_prep_save returns a value of this exact
# type unchanged (exact classes: a subclass may convert, as the encrypted fields do).
_PLAIN_FIELDS: dict[type[models.Field[Any, Any]], type] = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.SmallIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.AutoField: int,
    models.BigAutoField: int,
    models.BooleanField: bool,
    models.DateTimeField: datetime,  # None passes through; an aware datetime only needs adapting
}


def _plain_type(field: models.Field[Any, Any]) -> type | None:
    if type(field) is models.ForeignKey:
        return _plain_type(field.target_field)
    if isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):
        return None  # pre_save sets the value
    return _PLAIN_FIELDS.get(type(field))
