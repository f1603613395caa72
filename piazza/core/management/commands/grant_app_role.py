"""`manage.py grant_app_role`: the app's database role owns nothing and cannot rewrite history.

Issue 10, finding 11. Run it after every `migrate`, as the role that ran the migrations (a
member of the owner role) or as a superuser; it is idempotent. It makes the owner role
(NOLOGIN) own every table and the trigger function, and grants the app role (the one in the
web and worker processes' DATABASE_URL) only what it needs: full row access to ordinary
tables, SELECT and INSERT on append-only ones (the audit log, the ledger…), SELECT on the
migration history and the test-purge flag, never TRUNCATE, never ownership. Not owning a
table, the app role cannot `ALTER TABLE … DISABLE TRIGGER`; without UPDATE/DELETE/TRUNCATE
privileges it cannot touch append-only rows even with the triggers gone.

`--print` only prints the SQL (for a DBA to review or run with psql).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction

from piazza.core.db import PURGE_FLAG_TABLE

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
READ_ONLY_TABLES = {"django_migrations", PURGE_FLAG_TABLE}

APPEND_ONLY_TABLES_SQL = """
    SELECT DISTINCT c.relname FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE p.proname = 'piazza_refuse_change' AND n.nspname = current_schema()
"""
TABLES_SQL = """
    SELECT c.relname, c.relkind FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v')
    ORDER BY c.relname
"""


def grant_statements(connection: Any, *, app_role: str, owner_role: str) -> list[str]:
    """The SQL that puts the schema under `owner_role` and gives `app_role` least privilege."""
    quote = connection.ops.quote_name
    app, owner = quote(app_role), quote(owner_role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        cursor.execute(APPEND_ONLY_TABLES_SQL)
        append_only = {row[0] for row in cursor.fetchall()}
        cursor.execute(TABLES_SQL)
        relations = cursor.fetchall()
        cursor.execute("SELECT 1 FROM pg_proc WHERE proname = 'piazza_refuse_change'")
        has_function = cursor.fetchone() is not None
        cursor.execute("SELECT 1 FROM pg_proc WHERE proname = 'piazza_audit_redaction_only'")
        has_redaction = cursor.fetchone() is not None
    statements = [
        f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {owner}",
        f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC",
        f"REVOKE CREATE ON SCHEMA {schema} FROM {app}",
        f"GRANT USAGE ON SCHEMA {schema} TO {app}",
    ]
    if has_function:
        statements.append(f"ALTER FUNCTION piazza_refuse_change() OWNER TO {owner}")
    for name, kind in relations:
        table = quote(name)
        statements.append(f"ALTER {'VIEW' if kind == 'v' else 'TABLE'} {table} OWNER TO {owner}")
        statements.append(f"REVOKE ALL ON {table} FROM {app}")
        if name in READ_ONLY_TABLES or kind == "v":
            statements.append(f"GRANT SELECT ON {table} TO {app}")
        elif name in append_only:
            statements.append(f"GRANT SELECT, INSERT ON {table} TO {app}")
        else:
            statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app}")
    if has_redaction and "core_auditentry" in append_only:
        # Erasure pseudonymises the columns of an audit entry that may name a person, once; the
        # trigger refuses any other change and the chain seals the result (docs/dev/erasure.md).
        statements.append(f"ALTER FUNCTION piazza_audit_redaction_only() OWNER TO {owner}")
        columns = ", ".join(quote(c) for c in ("actor_label", "ip", "user_agent", "data", "redacted_at"))
        statements.append(f"GRANT UPDATE ({columns}) ON core_auditentry TO {app}")
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}")
    return statements


class Command(BaseCommand):
    help = (
        "Dà al ruolo dell'applicazione solo i permessi che servono (nessuna tabella in proprietà, "
        "solo SELECT/INSERT sulle tabelle di sola aggiunta). Da rilanciare dopo ogni migrate."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--app-role", required=True, help="ruolo usato da web e worker")
        parser.add_argument("--owner-role", required=True, help="ruolo NOLOGIN proprietario delle tabelle")
        parser.add_argument("--database", default="default")
        parser.add_argument("--print", action="store_true", help="stampa l'SQL senza eseguirlo")

    def handle(self, *args: Any, **options: Any) -> None:
        app_role, owner_role = options["app_role"], options["owner_role"]
        for role in (app_role, owner_role):
            if not ROLE_NAME.match(role):
                raise CommandError(f"Nome di ruolo non valido: {role!r} (minuscole, cifre, _).")
        if app_role == owner_role:
            raise CommandError("Il ruolo dell'applicazione non può essere il proprietario delle tabelle.")
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            raise CommandError("grant_app_role serve solo con PostgreSQL (SQLite non ha ruoli).")
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolname FROM pg_roles WHERE rolname IN (%s, %s)", [app_role, owner_role])
            found = {row[0] for row in cursor.fetchall()}
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [app_role])
            app_is_super = bool((cursor.fetchone() or [False])[0])
        missing = sorted({app_role, owner_role} - found)
        if missing:
            raise CommandError(
                f"Ruoli inesistenti: {', '.join(missing)}. Creali prima, per esempio: "
                f"CREATE ROLE {owner_role} NOLOGIN; CREATE ROLE {app_role} LOGIN PASSWORD '…';"
            )
        if app_is_super:
            raise CommandError(f"{app_role} è un superutente: usa un ruolo ordinario per l'applicazione.")
        statements = grant_statements(connection, app_role=app_role, owner_role=owner_role)
        if options["print"]:
            self.stdout.write(";\n".join(statements) + ";")
            return
        with transaction.atomic(using=options["database"]), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(
            self.style.SUCCESS(
                f"{owner_role} possiede ora le tabelle; {app_role} ha solo i permessi necessari "
                f"({len(statements)} istruzioni)."
            )
        )
