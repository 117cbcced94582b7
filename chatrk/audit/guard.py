"""Database guards that make the audit tables append-only.

PostgreSQL: a trigger refuses UPDATE and DELETE on every row and TRUNCATE on the table. SQLite
(which has no TRUNCATE): triggers ``RAISE(ABORT)`` on UPDATE and DELETE. A superuser or the
table owner can still drop a trigger — which is why the log is also a Merkle tree with signed
checkpoints exported outside the database; the guard stops accidents and application bugs, the
checkpoints catch deliberate tampering.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import NotSupportedError

GUARDED_TABLES = ("audit_auditevent", "audit_auditcheckpoint", "audit_auditsigningkey")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION chatrk_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _install_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        statements = [_PG_FUNCTION]
        for table in GUARDED_TABLES:
            statements += [
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION chatrk_audit_append_only()",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION chatrk_audit_append_only()",
            ]
        return statements
    if vendor == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{operation} BEFORE {operation.upper()} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'audit table {table} is append-only: {operation} refused'); END"
            for table in GUARDED_TABLES
            for operation in ("update", "delete")
        ]
    raise NotSupportedError(f"no append-only guard for {vendor}: the audit log needs SQLite or PostgreSQL")


def _remove_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        statements = [
            f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}"
            for table in GUARDED_TABLES
            for suffix in ("append_only", "no_truncate")
        ]
        return [*statements, "DROP FUNCTION IF EXISTS chatrk_audit_append_only()"]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_{operation}"
        for table in GUARDED_TABLES
        for operation in ("update", "delete")
    ]


def install_guards(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _install_sql(connection.vendor):
            cursor.execute(statement)


def remove_guards(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _remove_sql(connection.vendor):
            cursor.execute(statement)
