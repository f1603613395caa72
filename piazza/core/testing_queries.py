"""Exact query-count pins for hot paths (issue 11 item 24), beside the slope budgets.

A budget (`<= N`) tolerates drift; a pin says the path costs exactly N statements on this database, so any
added or removed query fails the test and prints every statement, numbered, to say which one changed. When
the change is intended, update the pin in the same commit (and docs/benchmarks.md if the budget moves).

    with exact_queries({"sqlite": 25, "postgresql": 27}, "donation POST"):
        client.post(url, data)

Counts differ by database (savepoints, advisory locks, RETURNING); a vendor missing from the dict is
checked against the budget passed as `at_most` only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.test.utils import CaptureQueriesContext


class QueryCountMismatch(AssertionError):
    pass


def describe(queries: list[dict[str, str]]) -> str:
    return "\n".join(f"{i:3}. {q['sql']}" for i, q in enumerate(queries, 1))


@contextmanager
def exact_queries(pins: dict[str, int], label: str, *, at_most: int | None = None) -> Iterator[CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as captured:
        yield captured
    count = len(captured)
    want = pins.get(connection.vendor)
    if want is None:
        if at_most is not None and count > at_most:
            raise QueryCountMismatch(
                f"{label}: {count} statements, budget {at_most}\n{describe(captured.captured_queries)}"
            )
        return
    if count != want:
        raise QueryCountMismatch(
            f"{label}: {count} statements on {connection.vendor}, pinned at exactly {want}. If the change is "
            f"intended, update the pin; the statements were:\n{describe(captured.captured_queries)}"
        )
