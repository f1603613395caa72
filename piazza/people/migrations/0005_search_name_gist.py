"""Name search walks a GiST trigram index in distance order (`<<->` with a LIMIT) instead of
re-checking every GIN candidate (P5); the GIN index had no other user, so it goes."""

from django.db import migrations


def to_gist(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS person_search_name_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS person_search_name_gist "
        "ON people_person USING gist (search_name gist_trgm_ops)"
    )


def to_gin(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS person_search_name_gist")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS person_search_name_trgm "
        "ON people_person USING gin (search_name gin_trgm_ops)"
    )


class Migration(migrations.Migration):

    dependencies = [
        ("people", "0004_search_name_index"),
    ]

    operations = [
        migrations.RunPython(to_gist, to_gin),
    ]
