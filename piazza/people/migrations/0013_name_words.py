"""Name search through distinct name words (P5, ADR 0038).

`people_nameword` holds each distinct word of an active person's `search_name` once (about 11,000
at 1,000,000 people) with a GiST trigram index; people are found by the GIN index on the words of
their `search_name`. PostgreSQL triggers keep the words: the import's COPY and `bulk_create` add
theirs in one statement-level trigger (transition table); a rename, merge, erasure (G5) or delete
removes a word no active person holds any more. Adders take the advisory lock (38, 0) shared,
removers exclusive, both for the transaction only (safe behind PgBouncer in transaction mode): else
a remover could drop a word at the moment a concurrent import finds it there for a person the
remover cannot see yet, and that person would be unfindable.

The GiST trigram index on `people_person.search_name` goes: name search was its only user (the
duplicate check compares names in Python, rapidfuzz) and it cost every insert. SQLite keeps its
substring search and an empty `people_nameword`.
"""

from django.db import migrations, models

# "Active" is `Person.objects.active()`: not merged into another record, not erased.
ACTIVE_NEW = "n.merged_into_id IS NULL AND n.erased_at IS NULL"

FUNCTIONS = f"""
CREATE FUNCTION people_nameword_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Adders share the lock: a remover waits for this transaction to end and then sees its people.
    PERFORM pg_advisory_xact_lock_shared(38, 0);
    INSERT INTO people_nameword (word)
    SELECT DISTINCT w.word
    FROM people_nameword_new AS n, unnest(string_to_array(n.search_name, ' ')) AS w(word)
    WHERE {ACTIVE_NEW} AND w.word <> ''
    ON CONFLICT (word) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION people_nameword_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_words text[] := '{{}}';
    new_words text[] := '{{}}';
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.merged_into_id IS NULL AND OLD.erased_at IS NULL THEN
        old_words := string_to_array(OLD.search_name, ' ');
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.merged_into_id IS NULL AND NEW.erased_at IS NULL THEN
        new_words := string_to_array(NEW.search_name, ' ');
    END IF;
    IF NOT new_words <@ old_words THEN
        PERFORM pg_advisory_xact_lock_shared(38, 0);
        INSERT INTO people_nameword (word)
        SELECT DISTINCT w FROM unnest(new_words) AS w WHERE w <> ''
        ON CONFLICT (word) DO NOTHING;
    END IF;
    IF NOT old_words <@ new_words THEN
        -- Exclusive: wait for every adder's transaction to end, so the check below sees its people
        -- (each statement of this function takes a new snapshot under READ COMMITTED).
        PERFORM pg_advisory_xact_lock(38, 0);
        DELETE FROM people_nameword AS nw
        WHERE nw.word = ANY (old_words) AND NOT nw.word = ANY (new_words)
          AND NOT EXISTS (
              SELECT 1 FROM people_person AS p
              WHERE string_to_array(p.search_name, ' ') @> ARRAY[nw.word]
                AND p.merged_into_id IS NULL AND p.erased_at IS NULL
          );
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER people_nameword_insert AFTER INSERT ON people_person
    REFERENCING NEW TABLE AS people_nameword_new
    FOR EACH STATEMENT EXECUTE FUNCTION people_nameword_inserted();

CREATE TRIGGER people_nameword_update AFTER UPDATE ON people_person
    FOR EACH ROW
    WHEN (
        OLD.search_name IS DISTINCT FROM NEW.search_name
        OR (OLD.merged_into_id IS NULL AND OLD.erased_at IS NULL)
            IS DISTINCT FROM (NEW.merged_into_id IS NULL AND NEW.erased_at IS NULL)
    )
    EXECUTE FUNCTION people_nameword_changed();

CREATE TRIGGER people_nameword_delete AFTER DELETE ON people_person
    FOR EACH ROW
    WHEN (OLD.merged_into_id IS NULL AND OLD.erased_at IS NULL)
    EXECUTE FUNCTION people_nameword_changed();
"""

DROP_FUNCTIONS = """
DROP TRIGGER IF EXISTS people_nameword_insert ON people_person;
DROP TRIGGER IF EXISTS people_nameword_update ON people_person;
DROP TRIGGER IF EXISTS people_nameword_delete ON people_person;
DROP FUNCTION IF EXISTS people_nameword_inserted();
DROP FUNCTION IF EXISTS people_nameword_changed();
"""

# fastupdate off: after a 20,000-row import the pending list made searches 10x slower until a
# vacuum (autovacuum may not come soon); each insert pays its own index update instead.
INDEXES = """
CREATE INDEX person_search_words ON people_person
    USING gin (string_to_array(search_name, ' ')) WITH (fastupdate = off);
CREATE INDEX nameword_word_gist ON people_nameword USING gist (word gist_trgm_ops);
DROP INDEX IF EXISTS person_search_name_gist;
"""

DROP_INDEXES = """
DROP INDEX IF EXISTS person_search_words;
DROP INDEX IF EXISTS nameword_word_gist;
CREATE INDEX IF NOT EXISTS person_search_name_gist ON people_person USING gist (search_name gist_trgm_ops);
"""

BACKFILL = f"""
INSERT INTO people_nameword (word)
SELECT DISTINCT w.word
FROM people_person AS n, unnest(string_to_array(n.search_name, ' ')) AS w(word)
WHERE {ACTIVE_NEW} AND w.word <> ''
ON CONFLICT (word) DO NOTHING;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # Triggers first, then the backfill, all in the migration's transaction: no word is missed.
    schema_editor.execute(FUNCTIONS)
    schema_editor.execute(BACKFILL)
    schema_editor.execute(INDEXES)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(DROP_FUNCTIONS)
    schema_editor.execute(DROP_INDEXES)


class Migration(migrations.Migration):

    dependencies = [
        ("people", "0012_list_and_segment_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="NameWord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("word", models.TextField(unique=True)),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
