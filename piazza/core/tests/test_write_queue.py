"""Writes queued until the end of an `audited_atomic()` block (issue 14, P4; ADR 0046), on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from piazza.core.audit import audited_atomic, record, reserve_ids
from piazza.core.auditchain import verify_chain
from piazza.core.models import AuditEntry, PeriodicRun
from piazza.core.write_queue import queue_insert, queue_save

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.UTC)  # any fixed time: the rows carry it


def _sent(queries: list[dict[str, str]]) -> list[str]:
    """The statements the block sent, without the savepoint of the test's enclosing transaction
    and the test's own look for a row not written yet."""
    return [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", 'SELECT 1 AS "a"'))]


def test_queued_writes_and_entries_go_in_one_statement_with_ids_handed_out_before():
    existing = PeriodicRun.objects.create(name="existing")
    with CaptureQueriesContext(connection) as captured, audited_atomic():
        reserve_ids(PeriodicRun)
        first = PeriodicRun(name="first")
        queue_insert(first, need_id=True)
        handed_out = first.pk
        queue_insert(PeriodicRun(name="second"), PeriodicRun(name="third"))
        existing.last_enqueued_at = WHEN
        queue_save(existing, ["last_enqueued_at"])
        first.last_enqueued_at = WHEN
        queue_save(first, ["last_enqueued_at"])  # merged into its INSERT
        record("test.queued", actor=None, obj=existing)
        record("test.queued_again", actor=None, obj=first)
        if connection.vendor == "postgresql":
            assert handed_out is not None
            assert not PeriodicRun.objects.filter(name="first").exists()  # not written before the end
    sent = _sent(captured.captured_queries)
    if connection.vendor == "postgresql":
        # The ids with the chain's lock and head, then everything in one statement.
        assert len(sent) == 2, sent
        assert "nextval" in sent[0] and "piazza_audit_chain_head" in sent[0]
        assert sent[1].startswith("WITH w1 AS (INSERT") and sent[1].count("UPDATE") == 1, sent[1]
    assert PeriodicRun.objects.get(pk=handed_out).name == "first"
    assert set(PeriodicRun.objects.filter(last_enqueued_at=WHEN).values_list("name", flat=True)) == {
        "existing",
        "first",
    }
    assert PeriodicRun.objects.filter(name__in=["second", "third"]).count() == 2
    entries = list(AuditEntry.objects.filter(action__startswith="test.queued").order_by("seq"))
    assert [e.action for e in entries] == ["test.queued", "test.queued_again"]
    assert entries[1].object_id == str(handed_out)
    assert verify_chain().broken is None


def test_an_exception_in_the_block_writes_nothing():
    before = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), audited_atomic():
        reserve_ids(PeriodicRun)
        queue_insert(PeriodicRun(name="never"), need_id=True)
        queue_insert(PeriodicRun(name="never either"))
        record("test.rolled_back", actor=None)
        raise RuntimeError("boom")
    assert not PeriodicRun.objects.exists()
    assert AuditEntry.objects.count() == before


def test_a_constraint_violation_at_the_end_rolls_the_whole_block_back():
    PeriodicRun.objects.create(name="taken")
    before = AuditEntry.objects.count()
    with pytest.raises(IntegrityError), audited_atomic():
        queue_insert(PeriodicRun(name="fresh"))
        record("test.clash", actor=None)
        queue_insert(PeriodicRun(name="taken"))  # unique name: refused at the end, not here
    assert list(PeriodicRun.objects.values_list("name", flat=True)) == ["taken"]
    assert AuditEntry.objects.count() == before


def test_a_write_queued_in_a_savepoint_rolled_back_is_dropped():
    with audited_atomic():
        queue_insert(PeriodicRun(name="kept"))
        try:
            with transaction.atomic():
                queue_insert(PeriodicRun(name="dropped"))
                record("test.dropped", actor=None)
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        record("test.kept", actor=None)
    assert list(PeriodicRun.objects.values_list("name", flat=True)) == ["kept"]
    assert not AuditEntry.objects.filter(action="test.dropped").exists()
    assert AuditEntry.objects.filter(action="test.kept").exists()


def test_outside_a_block_the_writes_happen_at_once():
    run = PeriodicRun(name="at once")
    queue_insert(run, need_id=True)
    assert run.pk is not None and PeriodicRun.objects.filter(pk=run.pk).exists()
    run.last_enqueued_at = WHEN
    queue_save(run, ["last_enqueued_at"])
    assert PeriodicRun.objects.get(pk=run.pk).last_enqueued_at == WHEN


def test_a_model_whose_save_does_more_is_refused():
    with pytest.raises(TypeError, match="save"), audited_atomic():
        queue_insert(AuditEntry(action="test.refused"))
