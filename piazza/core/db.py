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
