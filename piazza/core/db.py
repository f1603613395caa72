"""Database helpers shared by apps: append-only tables enforced by the database itself."""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def append_only(table: str) -> migrations.RunPython:
    """A migration operation installing triggers that refuse UPDATE and DELETE on `table`.

    PostgreSQL and SQLite both get a trigger, so the application cannot edit history on
    either backend; a database superuser can still drop it, which the audit digest detects.
    """

    def install(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(
                """
                CREATE OR REPLACE FUNCTION piazza_refuse_change() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION 'piazza: % on % is not allowed (append-only table)',
                        TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
                END; $$ LANGUAGE plpgsql;
                """,
                params=None,
            )
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
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'piazza: {op} on {table} is not allowed "
                    f"(append-only table)'); END;"
                )

    def remove(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};")
        elif vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};")

    return migrations.RunPython(install, remove)
