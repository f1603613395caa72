"""Database helpers shared by apps: append-only tables enforced by the database itself.

Table names interpolated into SQL here are constants of the code, never user input.
"""
# ruff: noqa: S608

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# A row in this table (never created by the application) lets DELETE/TRUNCATE through,
# so the test suite can empty its own databases between tests. UPDATE is always refused.
PURGE_FLAG_TABLE = "piazza_purge_allowed"


def _install_function(schema_editor: BaseDatabaseSchemaEditor) -> None:
    vendor = schema_editor.connection.vendor
    schema_editor.execute(f"CREATE TABLE IF NOT EXISTS {PURGE_FLAG_TABLE} (reason varchar(100))", params=None)
    if vendor == "postgresql":
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION piazza_refuse_change() RETURNS trigger AS $$
            BEGIN
                IF TG_OP <> 'UPDATE' AND EXISTS (SELECT 1 FROM {PURGE_FLAG_TABLE}) THEN
                    IF TG_LEVEL = 'ROW' THEN RETURN OLD; END IF;
                    RETURN NULL;
                END IF;
                RAISE EXCEPTION 'piazza: % on % is not allowed (append-only table)',
                    TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
            END; $$ LANGUAGE plpgsql;
            """,
            params=None,
        )


def append_only(table: str) -> migrations.RunPython:
    """A migration operation installing triggers that refuse UPDATE and DELETE on `table`.

    PostgreSQL and SQLite both get triggers, so the application cannot edit history on
    either backend; a database superuser can still drop them, which row digests detect.
    """

    def install(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        vendor = schema_editor.connection.vendor
        _install_function(schema_editor)
        if vendor == "postgresql":
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION piazza_refuse_change();",
                params=None,
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION piazza_refuse_change();",
                params=None,
            )
        elif vendor == "sqlite":
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'piazza: UPDATE on {table} is not allowed "
                f"(append-only table)'); END;",
                params=None,
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                f"WHEN NOT EXISTS (SELECT 1 FROM {PURGE_FLAG_TABLE}) "
                f"BEGIN SELECT RAISE(ABORT, 'piazza: DELETE on {table} is not allowed "
                f"(append-only table)'); END;",
                params=None,
            )

    def remove(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", params=None)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};", params=None)
        elif vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};", params=None)

    return migrations.RunPython(install, remove)


def allow_purge_for_tests(connection: object) -> None:
    """Only for test databases: let the test runner empty append-only tables between tests."""
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(f"INSERT INTO {PURGE_FLAG_TABLE} (reason) VALUES ('test database')")


# The columns of an audit entry that never change, not even by redaction (docs/dev/erasure.md).
AUDIT_SEALED_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "kind",
    "action",
    "object_type",
    "object_id",
    "territory_id",
    "territory_path",
    "channel",
    "seq",
    "prev_digest",
    "key_id",
    "digest",
    "personal_digest",
)
AUDIT_REDACTION_MESSAGE = (
    "piazza: UPDATE on core_auditentry is allowed only to redact the personal columns of a chained "
    "entry, once (docs/dev/erasure.md)"
)


def audit_redaction_only() -> migrations.RunPython:
    """The audit log's UPDATE trigger: refuse every change except one redaction of an entry whose
    chain covers a digest of its personal columns (`personal_digest`), which sets `redacted_at`
    and leaves every sealed column as it was. DELETE and TRUNCATE stay refused (`append_only`)."""
    table = "core_auditentry"
    same = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in AUDIT_SEALED_COLUMNS)
    same_sqlite = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in AUDIT_SEALED_COLUMNS)
    allowed = "OLD.personal_digest <> '' AND OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL"

    def install(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(
                f"""
                CREATE OR REPLACE FUNCTION piazza_audit_redaction_only() RETURNS trigger AS $$
                BEGIN
                    IF {allowed} AND {same} THEN
                        RETURN NEW;
                    END IF;
                    RAISE EXCEPTION '{AUDIT_REDACTION_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
                END; $$ LANGUAGE plpgsql;
                """,
                params=None,
            )
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", params=None)
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION piazza_refuse_change();",
                params=None,
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_redaction_only BEFORE UPDATE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION piazza_audit_redaction_only();",
                params=None,
            )
        elif vendor == "sqlite":
            # Adding the columns may have rebuilt the table (dropping its triggers): all back, UPDATE narrowed.
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};", params=None)
            append_only(table).code(apps, schema_editor)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update;", params=None)
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"WHEN NOT ({allowed} AND {same_sqlite}) "
                f"BEGIN SELECT RAISE(ABORT, '{AUDIT_REDACTION_MESSAGE}'); END;",
                params=None,
            )

    def remove(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_redaction_only ON {table};", params=None)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", params=None)
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION piazza_refuse_change();",
                params=None,
            )
        elif vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};", params=None)
            append_only(table).code(apps, schema_editor)

    return migrations.RunPython(install, remove)
