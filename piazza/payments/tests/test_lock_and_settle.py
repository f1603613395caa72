"""ADR 0048 (issue 14, P4): an outcome locks the payment and writes the provider's answer on the
attempt in one statement on PostgreSQL. It must return what the two statements returned, lock
the payment before the attempt (the order of every path that holds both), and fail as loudly.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from piazza.payments.actions import lifecycle
from piazza.payments.actions._transitions import _locked, _payment_for_update
from piazza.payments.models import AttemptState, Payment, PaymentAttempt
from piazza.payments.providers.base import ChargeResult, Outcome

pytestmark = pytest.mark.usefixtures("check_ledger")

ANSWER = ChargeResult(outcome=Outcome.SUCCEEDED, reference="ref-of-the-charge")


def _fields(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _settled_both_ways(payment: Payment, attempt_pk: int, result: ChargeResult) -> tuple[Any, Any]:
    """(merged, apart): the payment, its territory, the caller's attempt and the stored attempt after
    `_locked_and_settled` and after `_locked` + `_settle_attempt`, each rolled back afterwards."""
    outcomes = []
    for merged in (True, False):
        with transaction.atomic():
            attempt = PaymentAttempt.objects.get(pk=attempt_pk)
            with CaptureQueriesContext(connection) as captured:
                if merged:
                    locked = lifecycle._locked_and_settled(payment.pk, attempt, result)
                else:
                    locked = _locked(payment.pk)
                    lifecycle._settle_attempt(attempt, result)
            stored = PaymentAttempt.objects.get(pk=attempt_pk)
            outcomes.append(
                (
                    _fields(locked),
                    _fields(locked.territory),
                    _fields(attempt),
                    _fields(stored),
                    len(captured.captured_queries),
                )
            )
            transaction.set_rollback(True)
    return outcomes[0], outcomes[1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "result",
    [
        ANSWER,
        ChargeResult(outcome=Outcome.PENDING),  # no reference: the one a webhook wrote is kept
        ChargeResult(outcome=Outcome.FAILED, failure_code="card_declined"),
        ChargeResult(outcome=Outcome.REQUIRES_ACTION, reference="ref-3ds", action_url="https://example.org/3ds"),
    ],
)
def test_the_merged_statement_returns_what_the_two_statements_return(make_payment, result):
    payment = make_payment()
    attempt, _created = lifecycle.begin_attempt(actor=None, payment=payment, client_key="tab1")
    PaymentAttempt.objects.filter(pk=attempt.pk).update(provider_reference="ref-from-webhook")
    merged, apart = _settled_both_ways(payment, attempt.pk, result)
    assert merged[:4] == apart[:4]
    assert merged[1]["id"] == payment.territory_id and merged[0]["token"] == payment.token
    if connection.vendor == "postgresql":
        assert _payment_for_update.prepared(payment.pk)
        assert (merged[4], apart[4]) == (1, 2)  # one round trip instead of two
    else:
        assert merged[4] == apart[4] == 2  # SQLite: no data-modifying CTE, the two statements


@pytest.mark.django_db
def test_a_missing_payment_or_attempt_fails_as_loudly_as_before(make_payment):
    payment = make_payment()
    attempt, _created = lifecycle.begin_attempt(actor=None, payment=payment, client_key="tab1")
    with pytest.raises(Payment.DoesNotExist), transaction.atomic():
        lifecycle._locked_and_settled(10**9, attempt, ANSWER)
    assert PaymentAttempt.objects.get(pk=attempt.pk).state == AttemptState.STARTED  # no payment: not written
    attempt.pk = 10**9
    with pytest.raises(PaymentAttempt.DoesNotExist), transaction.atomic():
        lifecycle._locked_and_settled(payment.pk, attempt, ANSWER)


def _waiting_on_a_lock(pid: int) -> bool:
    """Whether the backend `pid` (the settling thread's) waits for a lock (another session's row)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_payment_is_locked_before_the_attempt(make_payment):
    """While another transaction holds the payment's row lock, the merged statement waits for it
    without having touched the attempt: a third session can still lock the attempt row."""
    assert connection.vendor == "postgresql"
    payment = make_payment()
    attempt, _created = lifecycle.begin_attempt(actor=None, payment=payment, client_key="tab1")
    held, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    settler_pid: list[int] = []

    def hold_the_payment() -> None:
        try:
            with transaction.atomic():
                list(Payment.objects.select_for_update().filter(pk=payment.pk))
                held.set()
                release.wait(30)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def settle() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                settler_pid.append(cursor.fetchone()[0])
            with transaction.atomic():
                lifecycle._locked_and_settled(payment.pk, PaymentAttempt.objects.get(pk=attempt.pk), ANSWER)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    holder, settler = threading.Thread(target=hold_the_payment), threading.Thread(target=settle)
    holder.start()
    assert held.wait(30)
    settler.start()
    try:
        deadline = time.monotonic() + 30
        while not (settler_pid and _waiting_on_a_lock(settler_pid[0])):
            assert time.monotonic() < deadline, "the merged statement never waited for the payment's lock"
            time.sleep(0.02)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT id FROM payments_paymentattempt WHERE id = %s FOR UPDATE NOWAIT", [attempt.pk])
        except DatabaseError as exc:
            pytest.fail(f"the attempt was locked before the payment: {exc}")
    finally:
        release.set()
        holder.join(30)
        settler.join(30)
    assert errors == []
    stored = PaymentAttempt.objects.get(pk=attempt.pk)
    assert (stored.state, stored.provider_reference) == (AttemptState.SUCCEEDED, "ref-of-the-charge")
