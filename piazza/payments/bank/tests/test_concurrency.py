"""Concurrency on PostgreSQL (issue 5): two treasurers matching one line (a transfer or a
return), two imports of one statement, two approvals of one payout — each books once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from piazza.core.money import Money
from piazza.ledger.checks import run_checks
from piazza.ledger.models import LedgerTransaction
from piazza.ledger.queries import balance
from piazza.payments.bank.actions import accounts as accounts_actions
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.actions import payouts as payouts_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.models import Collection, LineStatus, StatementLine
from piazza.payments.bank.tests.camt_builder import CamtFile, Statement, Tx, build
from piazza.payments.bank.tests.camt_builder import Entry as CamtEntry
from piazza.payments.bank.tests.conftest import OUR_IBAN, far_date

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment in threads (own connections); return results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_treasurers_match_the_same_line_once(bank, tree):
    expected = matching_actions.expect_transfer(
        actor=bank.anna,
        account=bank.account,
        amount=Money(4000),
        payer_name="Francesca Neri",
        description="Donazione",
        credit_account=bank.funds,
        creation_key="race",
    )
    statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="q.xml",
        data=build(CamtFile(statements=[Statement(OUR_IBAN, [CamtEntry([Tx(4000, "NERI F")], bank_reference="Q1")])])),
    )
    line = StatementLine.objects.get()
    assert line.status == LineStatus.QUEUED
    results = _race(
        lambda: matching_actions.match_line(actor=bank.anna, line=line, transfer=expected),
        lambda: matching_actions.match_line(actor=bank.bruno, line=line, transfer=expected),
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and "già stato abbinato" in str(errors[0])
    assert LedgerTransaction.objects.filter(idempotency_key=f"bank:line:{line.pk}").count() == 1
    assert balance(bank.funds) == Money(4000)
    assert run_checks() == []


def test_the_same_statement_imported_twice_at_once_books_each_line_once(bank, tree):
    transfers = [
        matching_actions.expect_transfer(
            actor=bank.anna,
            account=bank.account,
            amount=Money(1000 + i),
            payer_name=f"Donatore {i}",
            description="Donazione",
            credit_account=bank.funds,
            creation_key=f"r{i}",
        )
        for i in range(5)
    ]
    data = build(
        CamtFile(
            statements=[
                Statement(
                    OUR_IBAN,
                    [
                        CamtEntry([Tx(t.amount_cents, t.payer_name, reference=t.reference)], bank_reference=f"B{i}")
                        for i, t in enumerate(transfers)
                    ],
                )
            ]
        )
    )
    results = _race(
        *[
            lambda: statements_actions.import_statement(
                actor=bank.anna, territory=tree.bologna, filename="s.xml", data=data
            )
        ]
        * 2
    )
    assert not [r for r in results if isinstance(r, Exception)]
    assert StatementLine.objects.count() == 5
    assert StatementLine.objects.filter(status=LineStatus.MATCHED).count() == 5
    assert sum(r[0].new_lines for r in results) == 5
    assert balance(bank.funds) == Money(sum(1000 + i for i in range(5)))
    assert run_checks() == []


def test_a_payout_is_approved_once_under_concurrent_approvals(bank, tree):
    expected = matching_actions.expect_transfer(
        actor=bank.anna,
        account=bank.account,
        amount=Money(10000),
        payer_name="Maria Rossi",
        description="Donazione",
        credit_account=bank.funds,
        creation_key="fund",
    )
    statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="in.xml",
        data=build(
            CamtFile(
                statements=[
                    Statement(
                        OUR_IBAN,
                        [CamtEntry([Tx(10000, "Maria Rossi", reference=expected.reference)], bank_reference="IN1")],
                    )
                ]
            )
        ),
    )
    payee = accounts_actions.register_payee(
        actor=bank.anna, territory=tree.bologna, name="Circolo Navile", iban="IT69G0200802435000104428964"
    )
    first = payouts_actions.request_payout(
        actor=bank.anna,
        source_account=bank.funds,
        bank_account=bank.account,
        payee=payee,
        amount=Money(7000),
        description="A",
    )
    second = payouts_actions.request_payout(
        actor=bank.anna,
        source_account=bank.funds,
        bank_account=bank.account,
        payee=payee,
        amount=Money(7000),
        description="B",
    )
    results = _race(
        lambda: payouts_actions.approve_payout(actor=bank.bruno, payout=first),
        lambda: payouts_actions.approve_payout(actor=bank.bruno, payout=second),
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and "saldo disponibile" in str(errors[0])  # never both: 140 € > 100 €
    assert balance(bank.funds) == Money(3000)
    assert run_checks() == []


def test_two_treasurers_match_the_same_queued_return_once(bank, tree):
    mandate = bank.mandate()
    collection = collections_actions.schedule_collection(
        actor=bank.anna,
        mandate=mandate,
        amount=Money(1500),
        due_date=far_date(20),
        description="Quota",
        credit_account=bank.funds,
        creation_key="race-return",
    )
    batch = collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=far_date(20))
    collections_actions.export_batch(actor=bank.anna, batch=batch)
    collection.refresh_from_db()
    statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="r.xml",
        data=build(
            CamtFile(
                statements=[
                    Statement(
                        OUR_IBAN,
                        [
                            CamtEntry(
                                [Tx(1500, "Nicolò Dell'Acqua", end_to_end_id=collection.end_to_end_id)],
                                batch_pmt_inf_id=f"{batch.message_id}-DD1",
                                bank_reference="CR",
                            ),
                            CamtEntry(
                                [Tx(1500, "DELL ACQUA", return_reason="AM04")],
                                credit=False,
                                family="RDDT/UPDD",
                                bank_reference="RT",
                            ),
                        ],
                    )
                ]
            )
        ),
    )
    line = StatementLine.objects.get(bank_reference="RT")
    assert line.status == LineStatus.QUEUED
    results = _race(
        lambda: matching_actions.match_return(actor=bank.anna, line=line, collection=collection),
        lambda: matching_actions.match_return(actor=bank.bruno, line=line, collection=collection),
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and "già stato abbinato" in str(errors[0])
    assert LedgerTransaction.objects.filter(idempotency_key=f"bank:line:{line.pk}").count() == 1
    assert Collection.objects.filter(retry_of=collection).count() == 1  # one retry, not two
    assert balance(bank.funds) == Money(0)
    assert run_checks() == []
