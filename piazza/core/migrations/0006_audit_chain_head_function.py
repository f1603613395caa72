"""The audit chain's lock and head in one round trip on PostgreSQL (issue 14, P4; ADR 0032).

A VOLATILE PL/pgSQL function takes a fresh snapshot for each query it runs, so the head it reads
after taking the lock includes every entry committed by the writer it waited for (one SELECT
holding both, `SELECT pg_advisory_xact_lock(…), (SELECT … head)`, would read with the snapshot
taken before the wait, and could fork the chain). SQLite has no such lock and keeps its reads.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION piazza_audit_chain_head(lock_key bigint, OUT head_seq bigint, OUT head_digest varchar)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT e.seq, e.digest INTO head_seq, head_digest
    FROM core_auditentry e WHERE e.seq IS NOT NULL ORDER BY e.seq DESC LIMIT 1;
END
$$;
"""
DROP = "DROP FUNCTION IF EXISTS piazza_audit_chain_head(bigint);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_audit_redaction"),
    ]

    operations = [migrations.RunPython(create, drop)]
