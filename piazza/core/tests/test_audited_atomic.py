"""ADR 0032 (issue 14, P4): `audited_atomic()` writes a transaction's audit entries with one INSERT
just before its end, chained in the order recorded; what a savepoint rolled back, or an exception
undid, is not written; the chain verifies as before, also with concurrent writers."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext

from piazza.core.audit import audited_atomic, record
from piazza.core.auditchain import verify_chain
from piazza.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _inserts(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith('INSERT INTO "core_auditentry"')]


def test_the_entries_of_a_block_are_written_together_at_its_end_in_chain_order():
    record("test.before", actor=None)  # an entry outside the block is written at once, as always
    with CaptureQueriesContext(connection) as captured, audited_atomic():
        for i in range(3):
            record("test.inside", actor=None, data={"i": i})
        assert not AuditEntry.objects.filter(action="test.inside").exists()  # queued, not yet written
    assert len(_inserts(captured)) == 1
    entries = list(AuditEntry.objects.filter(action__startswith="test.").order_by("seq"))
    assert [(e.action, e.data.get("i")) for e in entries] == [
        ("test.before", None),
        ("test.inside", 0),
        ("test.inside", 1),
        ("test.inside", 2),
    ]
    first = entries[0].seq or 0
    assert [e.seq for e in entries] == [first, first + 1, first + 2, first + 3]
    assert all(e.pk is not None for e in entries)
    assert verify_chain().ok


def test_an_exception_writes_nothing():
    with pytest.raises(RuntimeError), audited_atomic():
        record("test.undone", actor=None)
        raise RuntimeError("rolled back")
    assert not AuditEntry.objects.filter(action="test.undone").exists()
    record("test.after", actor=None)
    assert verify_chain().ok


def test_an_entry_of_a_savepoint_rolled_back_is_not_written_and_the_chain_holds():
    with audited_atomic():
        record("test.kept", actor=None, data={"n": 1})
        try:
            with transaction.atomic():
                record("test.rolled_back", actor=None)
                raise ValueError("savepoint rolled back")
        except ValueError:
            pass
        with transaction.atomic():  # a savepoint released keeps its entry
            record("test.kept", actor=None, data={"n": 2})
    assert not AuditEntry.objects.filter(action="test.rolled_back").exists()
    kept = list(AuditEntry.objects.filter(action="test.kept").order_by("seq"))
    assert [e.data["n"] for e in kept] == [1, 2]
    assert kept[1].prev_digest == kept[0].digest
    assert verify_chain().ok


def test_a_nested_block_leaves_its_entries_to_the_outer_one_and_later_writes_link_on():
    with CaptureQueriesContext(connection) as captured, audited_atomic():
        record("test.outer", actor=None)
        with audited_atomic():
            record("test.inner", actor=None)
        record("test.outer_again", actor=None)
    assert len(_inserts(captured)) == 1
    with transaction.atomic():
        record("test.direct", actor=None)  # the head the block wrote is where the next one links
    actions = list(
        AuditEntry.objects.filter(action__startswith="test.").order_by("seq").values_list("action", flat=True)
    )
    assert actions == ["test.outer", "test.inner", "test.outer_again", "test.direct"]
    assert verify_chain().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_blocks_and_direct_writers_never_fork_the_chain():
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(10):
                if n % 2:
                    with audited_atomic():
                        record("test.concurrent", actor=None, data={"writer": n, "i": i, "part": 1})
                        record("test.concurrent", actor=None, data={"writer": n, "i": i, "part": 2})
                else:
                    with transaction.atomic():
                        record("test.concurrent", actor=None, data={"writer": n, "i": i, "part": 1})
                        record("test.concurrent", actor=None, data={"writer": n, "i": i, "part": 2})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = list(AuditEntry.objects.filter(seq__isnull=False).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert AuditEntry.objects.filter(action="test.concurrent").count() == 80
    assert verify_chain().ok
