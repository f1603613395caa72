"""Queued lines beyond expected transfers (issue 5): a return seen before its batch credit is
booked by itself once the credit arrives in a later file; a return or payout line the bank sent
without our reference is matched by hand to its collection or payout, booking exactly what the
automatic path books; bad manual matches are refused with nothing booked."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.models import Entry, LedgerTransaction
from piazza.ledger.queries import balance
from piazza.payments.bank.actions import accounts as accounts_actions
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.actions import payouts as payouts_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.models import (
    CollectionStatus,
    LineStatus,
    MandateStatus,
    MatchKind,
    PayoutStatus,
    StatementLine,
)
from piazza.payments.bank.tests.camt_builder import CamtFile, Statement, Tx, build
from piazza.payments.bank.tests.camt_builder import Entry as CamtEntry
from piazza.payments.bank.tests.conftest import OUR_IBAN, far_date

pytestmark = pytest.mark.usefixtures("check_ledger")


def _import(bank, tree, entries, message_id):
    return statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename=f"{message_id}.xml",
        data=build(CamtFile(message_id=message_id, statements=[Statement(OUR_IBAN, entries, statement_id=message_id)])),
    )


@pytest.fixture
def exported(bank):
    """Two one-off debits (so a bank-level retry applies) in one exported pain.008 batch."""
    collections = []
    for index, (name, cents) in enumerate([("Nicolò Dell'Acqua", 1500), ("Ana Núñez", 2500)]):
        mandate = bank.mandate(name=name, email=f"d{index}@example.org")
        collections.append(
            collections_actions.schedule_collection(
                actor=bank.anna,
                mandate=mandate,
                amount=Money(cents),
                due_date=far_date(20),
                description="Quota",
                credit_account=bank.funds,
                creation_key=f"q{index}",
            )
        )
    batch = collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=far_date(20))
    collections_actions.export_batch(actor=bank.anna, batch=batch)
    for collection in collections:
        collection.refresh_from_db()
    return batch, collections


def _credit(batch, collections):
    return CamtEntry(
        [Tx(c.amount_cents, c.mandate.debtor_name, end_to_end_id=c.end_to_end_id) for c in collections],
        batch_pmt_inf_id=f"{batch.message_id}-DD1",
        bank_reference="CREDIT",
        detailed=True,
    )


def _return(collection, code="AM04", reference=True, bank_reference="RET"):
    return CamtEntry(
        [
            Tx(
                collection.amount_cents,
                collection.mandate.debtor_name,
                return_reason=code,
                end_to_end_id=collection.end_to_end_id if reference else "",
            )
        ],
        credit=False,
        family="RDDT/UPDD",
        bank_reference=bank_reference,
    )


def test_a_return_before_its_batch_credit_is_booked_when_the_credit_arrives(
    bank, tree, exported, django_capture_on_commit_callbacks
):
    batch, (nicolo, ana) = exported
    _import(bank, tree, [_return(nicolo)], "DAY1")
    line = StatementLine.objects.get(bank_reference="RET")
    assert line.status == LineStatus.QUEUED and "prima dell'accredito" in line.reason
    assert "verrà registrato da solo" in line.reason
    assert not Entry.objects.exists()  # nothing booked against a debit never credited

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        [second] = _import(bank, tree, [_credit(batch, [nicolo, ana])], "DAY2")
    line.refresh_from_db()
    nicolo.refresh_from_db()
    assert (line.status, line.match_kind, line.collection_id) == (
        LineStatus.MATCHED,
        MatchKind.COLLECTION_RETURN,
        nicolo.pk,
    )
    assert nicolo.status == CollectionStatus.FAILED and nicolo.retry.status == CollectionStatus.SCHEDULED
    assert balance(bank.funds) == Money(2500) and balance(bank.account.ledger_account) == Money(2500)
    assert (
        AuditEntry.objects.get(action="bank.process_statement", object_id=str(second.pk)).data["earlier_lines_booked"]
        == 1
    )
    assert any("non è andato a buon fine" in m.subject for m in mail.outbox)
    # Importing both files again books nothing more.
    entries = Entry.objects.count()
    _import(bank, tree, [_return(nicolo)], "DAY1")
    _import(bank, tree, [_credit(batch, [nicolo, ana])], "DAY2")
    assert Entry.objects.count() == entries


def test_a_queued_return_matched_by_hand_books_what_the_automatic_path_books(bank, tree, exported):
    batch, (nicolo, ana) = exported
    _import(bank, tree, [_credit(batch, [nicolo, ana]), _return(ana, code="MD01", reference=False)], "DAY1")
    line = StatementLine.objects.get(bank_reference="RET")
    assert line.status == LineStatus.QUEUED and "cercalo per nome" in line.reason
    matched = matching_actions.match_return(actor=bank.bruno, line=line, collection=ana)
    ana.refresh_from_db()
    ana.mandate.refresh_from_db()
    assert (matched.status, matched.match_kind, matched.matched_by) == (
        LineStatus.MATCHED,
        MatchKind.COLLECTION_RETURN,
        bank.bruno,
    )
    assert ana.status == CollectionStatus.FAILED and ana.return_reason == "MD01"
    assert ana.mandate.status == MandateStatus.REVOKED  # MD01, exactly as the automatic path
    reversal = LedgerTransaction.objects.get(idempotency_key=f"bank:line:{line.pk}")
    assert reversal.reverses_id == ana.ledger_transaction_id
    assert balance(bank.funds) == Money(1500)
    with pytest.raises(ValidationError) as error:
        matching_actions.match_return(actor=bank.anna, line=line, collection=nicolo)
    assert "già stato abbinato da bruno.tesoriere" in error.value.messages[0]
    assert AuditEntry.objects.filter(action="bank.record_return", kind=AuditKind.DENIED).exists()


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("amount", "importi diversi"),
        ("not_collected", "prima dell'accredito"),
        ("credit_line", "è un'entrata"),
    ],
)
def test_bad_manual_return_matches_are_refused_with_nothing_booked(bank, tree, exported, case, fragment):
    batch, (nicolo, ana) = exported
    if case == "credit_line":
        _import(bank, tree, [CamtEntry([Tx(1500, "Nicolò Dell'Acqua")], bank_reference="RET")], "DAY1")
    elif case == "amount":
        _import(bank, tree, [_credit(batch, [nicolo, ana]), _return(ana, reference=False)], "DAY1")
    else:
        _import(bank, tree, [_return(nicolo, reference=False)], "DAY1")
    line = StatementLine.objects.get(bank_reference="RET")
    entries = Entry.objects.count()
    with pytest.raises(ValidationError) as error:
        matching_actions.match_return(actor=bank.anna, line=line, collection=nicolo)
    assert fragment in error.value.messages[0]
    line.refresh_from_db()
    nicolo.refresh_from_db()
    assert line.status == LineStatus.QUEUED and Entry.objects.count() == entries
    assert nicolo.status != CollectionStatus.FAILED


def test_a_payout_line_without_reference_is_confirmed_by_hand(bank, tree):
    expected = matching_actions.expect_transfer(
        actor=bank.anna,
        account=bank.account,
        amount=Money(10000),
        payer_name="Maria Rossi",
        description="Donazione",
        credit_account=bank.funds,
        creation_key="fund",
    )
    _import(
        bank, tree, [CamtEntry([Tx(10000, "Maria Rossi", reference=expected.reference)], bank_reference="IN")], "IN"
    )
    payee = accounts_actions.register_payee(
        actor=bank.anna, territory=tree.bologna_navile, name="Circolo Navile", iban="IT69G0200802435000104428964"
    )
    payout = payouts_actions.request_payout(
        actor=bank.anna,
        source_account=bank.funds,
        bank_account=bank.account,
        payee=payee,
        amount=Money(6000),
        description="Feste",
    )
    payouts_actions.approve_payout(actor=bank.bruno, payout=payout)
    payouts_actions.export_payouts(actor=bank.anna, bank_account=bank.account, execution_date=far_date(1))
    _import(
        bank,
        tree,
        [CamtEntry([Tx(6000, "CIRCOLO NAVILE")], credit=False, family="ICDT/ESCT", bank_reference="OUT")],
        "OUT",
    )
    line = StatementLine.objects.get(bank_reference="OUT")
    assert line.status == LineStatus.QUEUED and "Uscita non riconosciuta" in line.reason
    with pytest.raises(ValidationError):  # a payout is a debit line, never an expected transfer's
        matching_actions.match_line(actor=bank.anna, line=line, transfer=expected)
    matching_actions.match_payout(actor=bank.anna, line=line, payout=payout)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.CONFIRMED
    assert balance(get_account("payouts_approved", territory=tree.bologna)) == Money(0)
    assert balance(bank.account.ledger_account) == Money(4000)
    with pytest.raises(ValidationError) as error:
        matching_actions.match_payout(actor=bank.bruno, line=line, payout=payout)
    assert "già stato abbinato da anna.tesoriera" in error.value.messages[0]
