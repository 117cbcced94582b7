"""Database guards that make the audit tables append-only.

Every UPDATE, DELETE and TRUNCATE is refused, with one exception: the sequencer may set an event's
``seq`` and ``leaf_hash`` once, from empty, leaving every other column as it was.

PostgreSQL: trigger functions raise. SQLite (no TRUNCATE): triggers ``RAISE(ABORT)``. A superuser or
the table owner can still drop a trigger — which is why the log is also a Merkle tree with signed
checkpoints exported outside the database: the guard stops accidents and application bugs, the
checkpoints catch deliberate tampering. At scale, also give the application's role only INSERT,
SELECT and UPDATE (seq, leaf_hash) on these tables and let another role own them (docs/audit.md).
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import NotSupportedError

EVENT_TABLE = "audit_auditevent"
GUARDED_TABLES = (EVENT_TABLE, "audit_auditcheckpoint", "audit_auditsigningkey")
# The columns the sequencer must leave untouched when it sets seq and leaf_hash.
EVENT_CONTENT_COLUMNS = (
    "id", "occurred_at", "workspace_id", "actor_kind", "actor_id", "action", "target_kind", "target_id",
    "outcome", "reason", "ip_hmac", "user_agent_hmac", "details",
)  # fmt: skip

_PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION chatrk_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _pg_sequence_once() -> str:
    new_row = ", ".join(f"NEW.{column}" for column in EVENT_CONTENT_COLUMNS)
    old_row = ", ".join(f"OLD.{column}" for column in EVENT_CONTENT_COLUMNS)
    return f"""
CREATE OR REPLACE FUNCTION chatrk_audit_sequence_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq IS NULL AND OLD.leaf_hash IS NULL AND NEW.seq IS NOT NULL AND NEW.leaf_hash IS NOT NULL
       AND ({new_row}) IS NOT DISTINCT FROM ({old_row}) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit table % is append-only: UPDATE refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _postgresql_install() -> list[str]:
    statements = [
        _PG_APPEND_ONLY,
        _pg_sequence_once(),
        f"CREATE OR REPLACE TRIGGER {EVENT_TABLE}_sequence_once BEFORE UPDATE ON {EVENT_TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION chatrk_audit_sequence_once()",
    ]
    for table in GUARDED_TABLES:
        operations = "DELETE" if table == EVENT_TABLE else "UPDATE OR DELETE"
        statements += [
            f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE {operations} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION chatrk_audit_append_only()",
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION chatrk_audit_append_only()",
        ]
    return statements


def _sqlite_install() -> list[str]:
    unchanged = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in EVENT_CONTENT_COLUMNS)
    sequencing = (
        "OLD.seq IS NULL AND OLD.leaf_hash IS NULL AND NEW.seq IS NOT NULL AND NEW.leaf_hash IS NOT NULL "
        f"AND {unchanged}"
    )
    statements = []
    for table in GUARDED_TABLES:
        for operation in ("update", "delete"):
            when = f"WHEN NOT ({sequencing}) " if (table, operation) == (EVENT_TABLE, "update") else ""
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{operation} "
                f"BEFORE {operation.upper()} ON {table} {when}"
                f"BEGIN SELECT RAISE(ABORT, 'audit table {table} is append-only: {operation} refused'); END"
            )
    return statements


def _install_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return _postgresql_install()
    if vendor == "sqlite":
        return _sqlite_install()
    raise NotSupportedError(f"no append-only guard for {vendor}: the audit log needs SQLite or PostgreSQL")


def _remove_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        statements = [f"DROP TRIGGER IF EXISTS {EVENT_TABLE}_sequence_once ON {EVENT_TABLE}"] + [
            f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}"
            for table in GUARDED_TABLES
            for suffix in ("append_only", "no_truncate")
        ]
        return [
            *statements,
            "DROP FUNCTION IF EXISTS chatrk_audit_append_only()",
            "DROP FUNCTION IF EXISTS chatrk_audit_sequence_once()",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_{operation}"
        for table in GUARDED_TABLES
        for operation in ("update", "delete")
    ]


def _trigger_names(vendor: str) -> set[str]:
    if vendor == "postgresql":
        names = {f"{table}_{suffix}" for table in GUARDED_TABLES for suffix in ("append_only", "no_truncate")}
        return names | {f"{EVENT_TABLE}_sequence_once"}
    return {f"{table}_no_{operation}" for table in GUARDED_TABLES for operation in ("update", "delete")}


def missing_guards(connection: BaseDatabaseWrapper) -> list[str]:
    """Guard triggers that are not installed (an auditor wants to know the database is guarded)."""
    query = (
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        if connection.vendor == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    )
    with connection.cursor() as cursor:
        cursor.execute(query)
        present = {str(row[0]) for row in cursor.fetchall()}
    return sorted(_trigger_names(connection.vendor) - present)


def install_guards(connection: BaseDatabaseWrapper) -> None:
    """Install (or reinstall: idempotent) the guards."""
    with connection.cursor() as cursor:
        for statement in _install_sql(connection.vendor):
            cursor.execute(statement)


def remove_guards(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _remove_sql(connection.vendor):
            cursor.execute(statement)
