"""The exact query-count pin: passes on the exact count, fails otherwise and shows every statement."""

import pytest

from piazza.core.models import AuditEntry
from piazza.core.testing_queries import QueryCountMismatch, exact_queries

pytestmark = pytest.mark.django_db


def test_exact_count_passes():
    with exact_queries({"sqlite": 2, "postgresql": 2}, "two reads") as captured:
        AuditEntry.objects.count()
        AuditEntry.objects.exists()
    assert len(captured) == 2


def test_one_more_statement_fails_and_prints_the_sql():
    with pytest.raises(QueryCountMismatch) as failure, exact_queries({"sqlite": 1, "postgresql": 1}, "one read"):
        AuditEntry.objects.count()
        AuditEntry.objects.exists()
    message = str(failure.value)
    assert "one read: 2 statements" in message and "pinned at exactly 1" in message
    assert "  1. SELECT COUNT(*)" in message and "  2. SELECT" in message


def test_unpinned_database_falls_back_to_the_budget():
    with pytest.raises(QueryCountMismatch, match="budget 0"), exact_queries({"oracle": 1}, "x", at_most=0):
        AuditEntry.objects.count()
