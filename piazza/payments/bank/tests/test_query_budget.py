"""Query budgets (PERFORMANCE.md: designed, pinned where it matters): statement import is
linear in lines with a fixed per-line cost, and list pages do not grow with their rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from piazza.core.money import Money
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.tests.camt_builder import CamtFile, Statement, Tx, build
from piazza.payments.bank.tests.camt_builder import Entry as CamtEntry
from piazza.payments.bank.tests.conftest import OUR_IBAN
from piazza.territory.testing import verified_client

pytestmark = pytest.mark.usefixtures("check_ledger")
# Per booked line: lock the line and its transfer, post the ledger transaction (7 statements in
# `ledger`), update transfer and line, audit, savepoint pair. Lookups, line inserts and progress
# are per statement (bulk), so they do not grow with the lines. Was ~27 before batching.
# +2: the audit chain reads its head, and on PostgreSQL takes its advisory lock (ADR 0014).
PER_LINE_BUDGET = 17
FIXED_BUDGET = 30  # account check, import row, audit, bulk insert, lookups, counters, re-match, done


def _file(bank, n, offset=0):
    transfers = [
        matching_actions.expect_transfer(
            actor=bank.anna,
            account=bank.account,
            amount=Money(1000 + i),
            payer_name=f"Donatore {i}",
            description="D",
            credit_account=bank.funds,
            creation_key=f"q{offset + i}",
        )
        for i in range(offset, offset + n)
    ]
    return build(
        CamtFile(
            message_id=f"M{offset}",
            statements=[
                Statement(
                    OUR_IBAN,
                    [
                        CamtEntry(
                            [Tx(t.amount_cents, t.payer_name, reference=t.reference)], bank_reference=f"Q{offset}-{i}"
                        )
                        for i, t in enumerate(transfers)
                    ],
                )
            ],
        )
    )


def test_import_cost_per_line_is_bounded(bank, tree):
    small, large = _file(bank, 5), _file(bank, 25, offset=100)
    with CaptureQueriesContext(connection) as five:
        statements_actions.import_statement(actor=bank.anna, territory=tree.bologna, filename="a.xml", data=small)
    with CaptureQueriesContext(connection) as twenty_five:
        statements_actions.import_statement(actor=bank.anna, territory=tree.bologna, filename="b.xml", data=large)
    per_line = (len(twenty_five) - len(five)) / 20
    assert per_line <= PER_LINE_BUDGET, f"{per_line:.1f} queries per line"
    fixed = len(five) - 5 * per_line
    assert fixed <= FIXED_BUDGET, f"{fixed:.0f} queries per import besides the lines"


def test_lines_without_reference_are_scored_without_a_query_per_candidate(bank, tree):
    """Fuzzy matching reads the open transfers once per statement, not once per line."""
    for i in range(10):
        matching_actions.expect_transfer(
            actor=bank.anna,
            account=bank.account,
            amount=Money(7000 + i),
            payer_name=f"Persona {i}",
            description="D",
            credit_account=bank.funds,
            creation_key=f"fz{i}",
        )

    def unreferenced(n, offset):
        return build(
            CamtFile(
                message_id=f"F{offset}",
                statements=[
                    Statement(
                        OUR_IBAN,
                        [
                            CamtEntry([Tx(100 + i, f"Sconosciuto {i}")], bank_reference=f"F{offset}-{i}")
                            for i in range(n)
                        ],
                    )
                ],
            )
        )

    with CaptureQueriesContext(connection) as two:
        statements_actions.import_statement(
            actor=bank.anna, territory=tree.bologna, filename="a.xml", data=unreferenced(2, 0)
        )
    with CaptureQueriesContext(connection) as twelve:
        statements_actions.import_statement(
            actor=bank.anna, territory=tree.bologna, filename="b.xml", data=unreferenced(12, 50)
        )
    assert (len(twelve) - len(two)) / 10 <= 1  # one UPDATE saying why the line waits


def test_lines_page_queries_do_not_grow_with_rows(bank, tree):
    client = verified_client(bank.anna)
    statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="a.xml",
        data=build(
            CamtFile(
                statements=[
                    Statement(
                        OUR_IBAN, [CamtEntry([Tx(100 + i, f"Nome {i}")], bank_reference=f"L{i}") for i in range(3)]
                    )
                ]
            )
        ),
    )
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("bank:lines")).status_code == 200
    statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="b.xml",
        data=build(
            CamtFile(
                message_id="B",
                statements=[
                    Statement(
                        OUR_IBAN, [CamtEntry([Tx(500 + i, f"Altro {i}")], bank_reference=f"M{i}") for i in range(30)]
                    )
                ],
            )
        ),
    )
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("bank:lines")).status_code == 200
    assert len(many) == len(few)
