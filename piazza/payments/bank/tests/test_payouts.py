"""Payouts (issue 5): from a ledger account to a registered payee, four eyes, pain.001,
confirmed from the statement; over-balance and self-approval refused with nothing booked."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.models import Entry
from piazza.ledger.queries import balance
from piazza.payments.bank import sepa_xml
from piazza.payments.bank.actions import accounts as accounts_actions
from piazza.payments.bank.actions import matching as matching_actions
from piazza.payments.bank.actions import payouts as payouts_actions
from piazza.payments.bank.actions import statements as statements_actions
from piazza.payments.bank.models import LineStatus, Payout, PayoutStatus, StatementLine
from piazza.payments.bank.tests.camt_builder import CamtFile, Statement, Tx, build
from piazza.payments.bank.tests.camt_builder import Entry as CamtEntry
from piazza.payments.bank.tests.conftest import OUR_IBAN, far_date

pytestmark = pytest.mark.usefixtures("check_ledger")
NAVILE_IBAN = "IT69G0200802435000104428964"


@pytest.fixture
def funded(bank, tree):
    """The federation's funds hold 100 € received by transfer."""
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
        actor=bank.anna, territory=tree.bologna, name="Circolo PD Bologna Navile", iban=NAVILE_IBAN
    )
    return payee


def _request(bank, payee, cents=6000):
    return payouts_actions.request_payout(
        actor=bank.anna,
        source_account=bank.funds,
        bank_account=bank.account,
        payee=payee,
        amount=Money(cents),
        description="Contributo feste",
    )


def test_full_payout_four_eyes_pain001_and_confirmation(bank, tree, funded):
    payout = _request(bank, funded)
    assert balance(bank.funds) == Money(10000)  # a request books nothing
    approved = payouts_actions.approve_payout(actor=bank.bruno, payout=payout)
    assert approved.status == PayoutStatus.APPROVED and approved.approved_by == bank.bruno
    assert balance(bank.funds) == Money(4000)  # set aside at approval
    batch = payouts_actions.export_payouts(actor=bank.anna, bank_account=bank.account, execution_date=far_date(1))
    sepa_xml.validate_sepa_xml(bytes(batch.xml), "pain.001.001.03")
    assert payout.end_to_end_id.encode() in bytes(batch.xml) and NAVILE_IBAN.encode() in bytes(batch.xml)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.EXPORTED
    statements_actions.import_statement(
        actor=bank.anna,
        territory=tree.bologna,
        filename="out.xml",
        data=build(
            CamtFile(
                message_id="OUT",
                statements=[
                    Statement(
                        OUR_IBAN,
                        [
                            CamtEntry(
                                [Tx(6000, "Circolo PD Bologna Navile", end_to_end_id=payout.end_to_end_id)],
                                credit=False,
                                family="ICDT/ESCT",
                                bank_reference="OUT1",
                            )
                        ],
                    )
                ],
            )
        ),
    )
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.CONFIRMED
    assert StatementLine.objects.get(bank_reference="OUT1").status == LineStatus.MATCHED
    assert balance(bank.account.ledger_account) == Money(4000)
    assert balance(get_account("payouts_approved", territory=tree.bologna)) == Money(0)


def test_payout_above_the_balance_is_refused_and_nothing_booked(bank, funded):
    entries = Entry.objects.count()
    with pytest.raises(ValidationError) as error:
        _request(bank, funded, cents=10001)
    message = error.value.message_dict["amount"][0]
    assert "100,01 €" in message and "saldo disponibile" in message and "100,00 €" in message
    assert not Payout.objects.exists() and Entry.objects.count() == entries


def test_approval_by_the_requester_is_refused(bank, funded):
    payout = _request(bank, funded)
    with pytest.raises(PermissionDenied) as error:
        payouts_actions.approve_payout(actor=bank.anna, payout=payout)
    assert "quattro occhi" in str(error.value)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.REQUESTED and payout.reserve_transaction is None


def test_second_approval_against_a_spent_balance_is_refused(bank, funded):
    first, second = _request(bank, funded), _request(bank, funded)  # each fits, both do not
    payouts_actions.approve_payout(actor=bank.bruno, payout=first)
    with pytest.raises(ValidationError) as error:
        payouts_actions.approve_payout(actor=bank.bruno, payout=second)
    assert "saldo disponibile" in error.value.messages[0]
    assert balance(bank.funds) == Money(4000)


def test_payee_iban_is_validated(bank, tree):
    with pytest.raises(ValidationError) as error:
        accounts_actions.register_payee(
            actor=bank.anna, territory=tree.bologna, name="X", iban="IT64Y0542811101000000123456"
        )
    assert "CIN" in error.value.message_dict["iban"][0]
