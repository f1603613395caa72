"""Finding 11 (issue 10): the audit log is a keyed hash chain; tampering is found and named.

SQLite tests simulate a compromise by dropping the triggers inside the test's transaction;
the PostgreSQL tests (`-m postgres`) run the app as a role that owns no table and prove it
cannot erase history, then tamper as the superuser and let `check_audit` find it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

import psycopg
import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import close_old_connections, connection, transaction
from django.test import override_settings

from piazza.core.audit import record
from piazza.core.auditchain import HEAD_CACHE_KEY, Problem, remember_head, verify_chain
from piazza.core.models import AuditEntry, audit_key_id
from piazza.core.tasks import verify_audit_chain

pytestmark = pytest.mark.django_db

OTHER_KEY = "Xq8Lr3Vn6Tb1Ym9Kc4Hw7Jd2Pf5Gs0Za-Ue_IoRt"


def _raw(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _tamper(sql: str, params: list) -> None:
    """What a database superuser could do: switch the guards off, edit, switch them back on."""
    if connection.vendor == "postgresql":
        _raw("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred foreign-key checks pending
        _raw("ALTER TABLE core_auditentry DISABLE TRIGGER USER")
        _raw(sql, params)
        _raw("ALTER TABLE core_auditentry ENABLE TRIGGER USER")
    else:  # SQLite: DDL is transactional, the test's rollback restores the trigger
        _raw("DROP TRIGGER IF EXISTS core_auditentry_no_update")
        _raw(sql, params)


def _check_audit() -> tuple[str, str]:
    out, err = _Buffer(), _Buffer()
    call_command("check_audit", stdout=out, stderr=err)
    return out.text, err.text


class _Buffer:
    def __init__(self) -> None:
        self.text = ""

    def write(self, value: str) -> None:
        self.text += value

    def flush(self) -> None:
        pass


def _three():
    return [record(f"test.chain{n}", actor=None, data={"n": n}) for n in range(3)]


def test_each_entry_carries_the_digest_of_the_one_before():
    first, second, third = _three()
    assert (second.seq, third.seq) == (first.seq + 1, first.seq + 2)
    assert second.prev_digest == first.digest
    assert third.prev_digest == second.digest
    assert third.key_id == audit_key_id(settings.AUDIT_HMAC_KEY)
    assert all(entry.verify() for entry in (first, second, third))


def test_check_audit_passes_on_an_intact_chain():
    _three()
    out, _err = _check_audit()
    assert "Registro attività integro" in out


def test_check_audit_names_an_altered_entry_and_exits_non_zero():
    _first, second, _third = _three()
    _tamper("UPDATE core_auditentry SET data = %s WHERE id = %s", ['{"n": 1000}', second.pk])
    with pytest.raises(CommandError) as refused:
        _check_audit()
    assert refused.value.returncode == 1
    assert f"alla voce {second.pk}" in str(refused.value)
    report = verify_chain()
    assert report.broken is not None
    assert (report.broken.problem, report.broken.entry_id) == (Problem.ALTERED, second.pk)
    assert "modificata" in report.broken.describe()


def test_check_audit_names_the_entry_after_a_deleted_one():
    _first, second, third = _three()
    _raw("DELETE FROM core_auditentry WHERE id = %s", [second.pk])  # the test purge flag lets it
    report = verify_chain()
    assert report.broken is not None
    assert (report.broken.problem, report.broken.entry_id) == (Problem.MISSING, third.pk)
    assert f"anelli {second.seq}" in report.broken.detail
    with pytest.raises(CommandError):
        _check_audit()


def test_an_entry_rewritten_with_a_guessed_predecessor_does_not_link():
    _first, _second, third = _three()
    # Someone holding the key re-signs an entry with another predecessor (splicing history):
    # its own signature holds, but it no longer links to the real entry before it.
    third.prev_digest = "0" * 64
    forged = third.compute_digest()
    _tamper("UPDATE core_auditentry SET prev_digest = %s, digest = %s WHERE id = %s", ["0" * 64, forged, third.pk])
    report = verify_chain()
    assert report.broken is not None
    assert (report.broken.problem, report.broken.entry_id) == (Problem.ALTERED, third.pk)
    assert "non si aggancia" in report.broken.detail


def test_entries_signed_with_another_key_are_reported_as_wrong_key_until_it_is_listed():
    entries = _three()
    with override_settings(AUDIT_HMAC_KEY=OTHER_KEY):
        report = verify_chain()
        assert report.broken is not None
        assert report.broken.problem == Problem.WRONG_KEY
        assert "AUDIT_HMAC_PREVIOUS_KEYS" in report.broken.detail
    with override_settings(AUDIT_HMAC_KEY=OTHER_KEY, AUDIT_HMAC_PREVIOUS_KEYS=[settings.AUDIT_HMAC_KEY]):
        rotated = record("test.after_rotation", actor=None)
        assert rotated.prev_digest == entries[-1].digest
        assert rotated.key_id == audit_key_id(OTHER_KEY)
        assert verify_chain().ok


def test_entries_cut_off_the_end_are_noticed_against_the_last_verified_head():
    _first, _second, third = _three()
    remember_head(verify_chain())
    _raw("DELETE FROM core_auditentry WHERE id = %s", [third.pk])
    with pytest.raises(CommandError) as refused:
        _check_audit()
    assert "missing" in str(refused.value)


def test_periodic_verification_is_scheduled_logs_and_records_a_break(caplog):
    assert "piazza.core.tasks.verify_audit_chain" in settings.PERIODIC_TASKS
    _first, second, _third = _three()
    assert verify_audit_chain.call().startswith("ok")
    assert cache.get(HEAD_CACHE_KEY)[0] >= _third.seq
    _tamper("UPDATE core_auditentry SET action = %s WHERE id = %s", ["test.tampered", second.pk])
    with caplog.at_level(logging.CRITICAL, logger="piazza.audit"):
        outcome = verify_audit_chain.call()
    assert outcome == f"broken altered {second.pk}"
    assert "audit chain broken" in caplog.text
    alarm = AuditEntry.objects.get(action="audit.chain_broken")
    assert alarm.data["entry_id"] == second.pk


# --- PostgreSQL: concurrency and a least-privilege app role -----------------------------------

OWNER_ROLE = "piazza_test_owner"
APP_ROLE = "piazza_test_app"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(15):
                with transaction.atomic():
                    record("test.concurrent", actor=None, data={"writer": n, "i": i})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = list(AuditEntry.objects.filter(seq__isnull=False).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert AuditEntry.objects.filter(action="test.concurrent").count() == 90
    assert verify_chain().ok


def _ensure_roles() -> None:
    with connection.cursor() as cursor:
        for role, login in ((OWNER_ROLE, "NOLOGIN"), (APP_ROLE, "LOGIN")):
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE ROLE {role} {login}")


def _app_connection() -> psycopg.Connection:
    params = connection.get_connection_params()
    params = {k: v for k, v in params.items() if k in {"host", "port", "dbname"}}
    return psycopg.connect(**params, user=APP_ROLE, autocommit=True)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_app_role_cannot_erase_the_audit_log_and_a_superuser_compromise_is_found():
    _ensure_roles()
    first, second, third = _three()

    # The finding: when the app role owns the table (migrations run as the app role), it can
    # switch the triggers off and erase entries. Shown inside a transaction rolled back.
    _raw(f"ALTER TABLE core_auditentry OWNER TO {APP_ROLE}")
    with _app_connection() as app, app.transaction(force_rollback=True):
        app.execute("ALTER TABLE core_auditentry DISABLE TRIGGER USER")
        app.execute("DELETE FROM core_auditentry")
        assert app.execute("SELECT count(*) FROM core_auditentry").fetchone() == (0,)

    call_command("grant_app_role", app_role=APP_ROLE, owner_role=OWNER_ROLE, stdout=_Buffer())

    with _app_connection() as app:
        for statement in (
            "ALTER TABLE core_auditentry DISABLE TRIGGER ALL",
            "ALTER TABLE core_auditentry DISABLE TRIGGER core_auditentry_append_only",
            f"DELETE FROM core_auditentry WHERE id = {second.pk}",
            f"UPDATE core_auditentry SET action = 'erased' WHERE id = {second.pk}",
            "TRUNCATE core_auditentry",
            "DROP TRIGGER core_auditentry_append_only ON core_auditentry",
            "INSERT INTO piazza_purge_allowed (reason) VALUES ('let me delete')",
            "CREATE OR REPLACE FUNCTION piazza_refuse_change() RETURNS trigger AS "
            "$$ BEGIN RETURN OLD; END; $$ LANGUAGE plpgsql",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
        owner = app.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'core_auditentry'").fetchone()
        assert owner == (OWNER_ROLE,)

    # The application itself, running as the app role, still writes its log.
    environment = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL"}}
    db = connection.settings_dict
    environment.update(
        PIAZZA_ENV="test",
        DATABASE_URL=f"postgres://{APP_ROLE}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    )
    script = (
        "import django; django.setup()\n"
        "from django.db import transaction\n"
        "from piazza.core.audit import record\n"
        "with transaction.atomic():\n"
        "    print(record('test.as_app_role', actor=None).seq)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == third.seq + 1
    out, _err = _check_audit()
    assert "Registro attività integro" in out

    # A superuser (or a stolen backup restored with edits) alters one entry…
    _tamper("UPDATE core_auditentry SET data = %s WHERE id = %s", ['{"n": 99}', second.pk])
    with pytest.raises(CommandError) as refused:
        _check_audit()
    assert f"altered alla voce {second.pk}" in str(refused.value)
    _tamper("UPDATE core_auditentry SET data = %s WHERE id = %s", ['{"n": 1}', second.pk])
    assert verify_chain().ok
    # …or deletes one: the entry after it is named.
    _tamper("DELETE FROM core_auditentry WHERE id = %s", [second.pk])
    with pytest.raises(CommandError) as refused:
        _check_audit()
    assert f"missing alla voce {third.pk}" in str(refused.value)
    assert first.seq == second.seq - 1
