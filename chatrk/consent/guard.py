"""Database triggers that make the consent ledger append-only (events and wordings).

UPDATE, DELETE and (on PostgreSQL; SQLite has none) TRUNCATE are refused by the database itself,
not only by the models, so raw SQL, a ``QuerySet.update()`` or a bug elsewhere cannot rewrite or wipe
the proof of consent. ``flush`` lifts the guards for the one sanctioned wipe (core's ``flush``
command). Installing is idempotent. At scale, also grant the application's role only INSERT and
SELECT on these tables (docs/consent.md).
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import NotSupportedError

GUARDED_TABLES = ("consent_consentevent", "consent_consentwording")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION chatrk_consent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _install_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [_PG_FUNCTION] + [
            statement
            for table in GUARDED_TABLES
            for statement in (
                f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION chatrk_consent_append_only()",
                f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION chatrk_consent_append_only()",
            )
        ]
    if vendor == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {op.upper()} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'consent table {table} is append-only: {op} refused'); END"
            for table in GUARDED_TABLES
            for op in ("update", "delete")
        ]
    raise NotSupportedError(
        f"no append-only guard for {vendor}: the consent ledger needs SQLite or PostgreSQL"
    )


def _remove_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}"
            for table in GUARDED_TABLES
            for suffix in ("append_only", "no_truncate")
        ] + ["DROP FUNCTION IF EXISTS chatrk_consent_append_only()"]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_{op}" for table in GUARDED_TABLES for op in ("update", "delete")
    ]


def install_guards(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _install_sql(connection.vendor):
            cursor.execute(statement)


def remove_guards(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _remove_sql(connection.vendor):
            cursor.execute(statement)
