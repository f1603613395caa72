"""The payments side of ADR 0037 (issue 14, P4): each statement saved on a donation's path, and
what each must keep doing — one payment per key, the payable's rules, a webhook's answer kept.

Run on SQLite and PostgreSQL; the statement logs are read for what is (not) sent, not counted.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from piazza.core.money import Money
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions.lifecycle import create_payment
from piazza.payments.models import AttemptState, PaymentAttempt, State
from piazza.payments.payables import PayableHandler, handler_for
from piazza.payments.providers.base import ChargeResult, Outcome

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


def _create(tree: Any, accounts: Any, key: str, **extra: Any) -> tuple[Any, list[str]]:
    amount = Money(2500)
    # The caller's transaction is open before the capture: its own savepoint is not in the log.
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        payment = create_payment(
            actor=None,
            amount=amount,
            allocations=[(accounts[0], amount)],
            provider="sandbox",
            description="Contributo di prova",
            creation_key=key,
            payable=tree.bologna_centro,
            territory=tree.bologna_centro,
            **extra,
        )
    return payment, [q["sql"] for q in captured.captured_queries]


def _looks_up_key(sqls: list[str]) -> bool:
    return any(s.startswith("SELECT") and "creation_key" in s for s in sqls)


def _savepoints(sqls: list[str]) -> int:
    return sum(1 for s in sqls if s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")))


def test_a_new_creation_key_is_inserted_without_look_up_or_savepoint(tree, split_accounts, handler):
    payment, sqls = _create(tree, split_accounts, "donation:fresh", new_key=True)
    assert payment.pk is not None and payment.state == State.CREATED
    assert payment.allocations.count() == 1 and payment.events.filter(kind="created").exists()
    assert not _looks_up_key(sqls) and _savepoints(sqls) == 0

    # A key that may come again (a membership fee started twice) is still looked up, in a savepoint.
    again, sqls = _create(tree, split_accounts, "membership:again")
    assert _looks_up_key(sqls) and _savepoints(sqls) == 2
    same, sqls = _create(tree, split_accounts, "membership:again")
    assert same.pk == again.pk and _looks_up_key(sqls)


def test_a_new_key_that_is_not_new_fails_the_callers_transaction(tree, split_accounts, handler):
    """The caller vouched the key was new: a clash is a bug, never a silent second payment."""
    first, _sqls = _create(tree, split_accounts, "donation:taken")
    with pytest.raises(IntegrityError):
        _create(tree, split_accounts, "donation:taken", new_key=True)
    assert type(first).objects.filter(creation_key="donation:taken").count() == 1


def test_handlers_say_whether_they_check_instruments_and_read_the_payable_themselves():
    class Checking(PayableHandler):
        def check_instrument(self, payment: Any, payable: Any, instrument: Any, *, actor: Any) -> None:
            pass

    assert PayableHandler().checks_instruments() is False
    assert Checking().checks_instruments() is True
    assert PayableHandler.reads_payable_itself is False
    # Rule M24: the membership fee's handler (a mix-in) still checks the card before any money moves.
    membership = handler_for("membership.membership")
    assert membership is not None and membership.checks_instruments()
    donation = handler_for("funding.donation")
    assert donation is not None and not donation.checks_instruments() and donation.reads_payable_itself


def test_the_payable_reference_holds_the_key_and_reads_nothing(make_payment, tree, django_assert_num_queries):
    payment = make_payment()
    payment.payable_label  # noqa: B018  # the content type is cached as in a running server
    with django_assert_num_queries(0):
        reference = payment.payable_reference()
    assert type(reference) is type(tree.bologna_centro) and reference.pk == tree.bologna_centro.pk


def test_the_attempt_is_settled_in_one_update_and_keeps_what_a_webhook_wrote(make_payment):
    payment = make_payment()
    attempt, created = lifecycle_actions.begin_attempt(actor=None, payment=payment, client_key="tab1")
    assert created
    # Meanwhile a webhook (another process) recorded the provider's reference on the attempt.
    PaymentAttempt.objects.filter(pk=attempt.pk).update(
        provider_reference="ref-from-webhook", state=AttemptState.REQUIRES_ACTION
    )
    with CaptureQueriesContext(connection) as captured:
        lifecycle_actions.apply_charge_result(
            actor=None,
            payment=payment,
            attempt=attempt,
            result=ChargeResult(outcome=Outcome.PENDING, failure_code=""),
            source="return",
        )
    sqls = [q["sql"] for q in captured.captured_queries]
    on_attempt = [s for s in sqls if "payments_paymentattempt" in s]
    assert len(on_attempt) == 1 and "UPDATE payments_paymentattempt" in on_attempt[0] and "RETURNING" in on_attempt[0]
    # The payment is locked before the attempt is written (the lock order of every outcome): on
    # PostgreSQL in the same statement (ADR 0048, test_lock_and_settle.py), elsewhere one before.
    if connection.vendor == "postgresql":
        assert on_attempt[0].startswith("WITH locked AS MATERIALIZED (SELECT") and "FOR UPDATE" in on_attempt[0]
    else:
        assert on_attempt[0].startswith("UPDATE")
    # What the row held comes back into the caller's attempt: no refresh needed, nothing lost.
    assert attempt.provider_reference == "ref-from-webhook" and attempt.state == AttemptState.REQUIRES_ACTION
    stored = PaymentAttempt.objects.get(pk=attempt.pk)
    assert (stored.provider_reference, stored.state) == ("ref-from-webhook", AttemptState.REQUIRES_ACTION)

    lifecycle_actions.apply_charge_result(
        actor=None,
        payment=payment,
        attempt=attempt,
        result=ChargeResult(outcome=Outcome.FAILED, failure_code="card_declined"),
        source="webhook",
    )
    stored.refresh_from_db()
    assert (stored.state, stored.failure_code, stored.provider_reference) == (
        AttemptState.FAILED,
        "card_declined",
        "ref-from-webhook",
    )
    assert (attempt.state, attempt.failure_code) == (AttemptState.FAILED, "card_declined")
    assert stored.updated_at == attempt.updated_at


def test_settling_a_missing_attempt_fails_loudly(make_payment):
    payment = make_payment()
    attempt, _created = lifecycle_actions.begin_attempt(actor=None, payment=payment, client_key="gone")
    attempt.pk = 10**9
    with pytest.raises(PaymentAttempt.DoesNotExist):
        lifecycle_actions.apply_charge_result(
            actor=None, payment=payment, attempt=attempt, result=ChargeResult(outcome=Outcome.FAILED), source="x"
        )
