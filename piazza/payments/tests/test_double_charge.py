"""Issue 10, finding 7, single-threaded (SQLite or PostgreSQL): one attempt in flight per
payment, a duplicate charge refunded automatically and shown to the treasury, and the
reconciliation of the providers' charges with the ledger (sandbox and Stripe)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from freezegun import freeze_time

from piazza.core.models import AuditEntry
from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.checks import run_checks
from piazza.ledger.queries import balance
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions import sync as sync_actions
from piazza.payments.checks import provider_charges_in_ledger
from piazza.payments.models import (
    AttemptState,
    DuplicateCharge,
    DuplicateState,
    PaymentAttempt,
    PaymentEvent,
    SandboxCharge,
    State,
)
from piazza.payments.providers.base import ChargeResult, Outcome
from piazza.payments.providers.sandbox import SandboxProvider
from piazza.payments.tasks import reconcile_provider_charges
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.usefixtures("check_ledger")

OK = "4242424242424242"
AUTH = "4000002500003155"
SINCE, UNTIL = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def card(number=OK, key="k1"):
    return {"card_number": number, "expiry": "08/29", "cvc": "123", "idempotency_key": key}


def paid(payment, key="first"):
    lifecycle_actions.pay(actor=None, payment=payment, client_key=key, data={"card_number": OK}, return_url="")
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    return payment


def second_charge(payment, number=2):
    """A second successful charge of the same payment at the processor (a late tab, an old try)."""
    attempt = PaymentAttempt.objects.create(
        payment=payment, number=number, client_key=f"late{number}", state=AttemptState.FAILED
    )
    charge, _created = SandboxProvider()._record(attempt.provider_key, payment, OK, "succeeded", False)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(provider_reference=charge.reference)
    attempt.refresh_from_db()
    return attempt, charge


# --- one attempt in flight ------------------------------------------------------------------


def test_a_second_tab_gets_the_attempt_in_flight_and_charges_nothing(make_payment):
    payment = make_payment(1900)
    first, created = lifecycle_actions.begin_attempt(actor=None, payment=payment, client_key="tab1")
    assert created
    # While the first tab's charge has no outcome yet, the second tab submits with its own key.
    again = lifecycle_actions.pay(
        actor=None, payment=payment, client_key="tab2", data={"card_number": OK}, return_url=""
    )
    assert again.pk == first.pk
    assert SandboxCharge.objects.count() == 0
    assert PaymentAttempt.objects.filter(payment=payment).count() == 1
    assert PaymentEvent.objects.filter(payment=payment, kind="attempt_already_in_flight").exists()


def test_the_payment_page_says_the_payment_is_already_under_way(make_payment):
    payment = make_payment(1900)
    lifecycle_actions.begin_attempt(actor=None, payment=payment, client_key="tab1")
    response = Client().post(reverse("payments:pay", args=[payment.token]), card(key="tab2"), follow=True)
    assert response.status_code == 200
    assert "già in corso" in response.content.decode()
    assert SandboxCharge.objects.count() == 0


def test_a_payment_waiting_for_3ds_sends_a_second_tab_to_the_same_authentication(make_payment):
    payment = make_payment(1900)
    client = Client()
    first = client.post(reverse("payments:pay", args=[payment.token]), card(AUTH, "tab1"))
    second = client.post(reverse("payments:pay", args=[payment.token]), card(OK, "tab2"))
    assert first.status_code == second.status_code == 302
    assert second["Location"] == first["Location"]  # the same 3-D Secure page, no new charge
    assert SandboxCharge.objects.count() == 1


def test_after_a_decline_a_new_attempt_may_start(make_payment):
    payment = make_payment(1900)
    lifecycle_actions.pay(
        actor=None, payment=payment, client_key="a1", data={"card_number": "4000000000000002"}, return_url=""
    )
    attempt = lifecycle_actions.pay(
        actor=None, payment=payment, client_key="a2", data={"card_number": OK}, return_url=""
    )
    assert attempt.number == 2 and attempt.state == AttemptState.SUCCEEDED


def test_an_attempt_that_never_got_an_answer_does_not_block_the_payment_forever(make_payment):
    """A worker died between opening the attempt and calling the processor: after a while the
    processor is asked, it holds no charge, and a new try may start (charged once)."""
    with freeze_time("2026-03-10 10:00:00"):
        payment = make_payment(1900)
        stuck, _created = lifecycle_actions.begin_attempt(actor=None, payment=payment, client_key="died")
    with freeze_time("2026-03-10 10:05:00"):
        assert (
            lifecycle_actions.pay(
                actor=None, payment=payment, client_key="early", data={"card_number": OK}, return_url=""
            ).pk
            == stuck.pk
        )
        assert SandboxCharge.objects.count() == 0
    with freeze_time("2026-03-10 10:30:00"):
        attempt = lifecycle_actions.pay(
            actor=None, payment=payment, client_key="later", data={"card_number": OK}, return_url=""
        )
    assert attempt.pk != stuck.pk and attempt.state == AttemptState.SUCCEEDED
    stuck.refresh_from_db()
    assert stuck.state == AttemptState.FAILED
    assert SandboxCharge.objects.count() == 1


def test_the_database_refuses_two_attempts_in_flight(make_payment):
    payment = make_payment(1900)
    PaymentAttempt.objects.create(payment=payment, number=1, client_key="x1")
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentAttempt.objects.create(payment=payment, number=2, client_key="x2", state=AttemptState.REQUIRES_ACTION)
    PaymentAttempt.objects.create(payment=payment, number=2, client_key="x3", state=AttemptState.FAILED)


# --- a duplicate charge is refunded, booked and shown ------------------------------------------


def test_a_late_duplicate_charge_is_refunded_automatically(make_payment, tree, django_capture_on_commit_callbacks):
    payment = paid(make_payment(1900))
    clearing = balance(get_account("provider_clearing", key="sandbox"))
    attempt, charge = second_charge(payment)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle_actions.apply_charge_result(
            actor=None,
            payment=payment,
            attempt=attempt,
            result=ChargeResult(outcome=Outcome.SUCCEEDED, reference=charge.reference),
            source="return",
        )
    charge.refresh_from_db()
    assert charge.refunded_cents == 1900  # given back at the processor
    assert charge.refunds[0]["key"] == f"duplicate:{attempt.pk}"
    duplicate = DuplicateCharge.objects.get()
    assert duplicate.state == DuplicateState.REFUNDED and duplicate.payment_id == payment.pk
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED  # the payment itself is untouched
    kinds = list(payment.events.values_list("kind", flat=True))
    assert "duplicate_charge" in kinds and "duplicate_charge_refunded" in kinds
    assert AuditEntry.objects.filter(action="payments.duplicate_charge_refunded").exists()
    assert balance(get_account("provider_clearing", key="sandbox")) == clearing  # in and out again
    assert balance(get_account("duplicate_charges", key="sandbox")) == Money(0)
    assert run_checks() == []
    # Applying the same answer again refunds nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle_actions.apply_charge_result(
            actor=None,
            payment=payment,
            attempt=attempt,
            result=ChargeResult(outcome=Outcome.SUCCEEDED, reference=charge.reference),
            source="webhook",
        )
    charge.refresh_from_db()
    assert charge.refunded_cents == 1900 and DuplicateCharge.objects.count() == 1

    treasurer = make_official("tesoriere.centro", tree.bologna_centro, [Role.TREASURY])
    page = verified_client(treasurer).get(reverse("payments:treasury_payments")).content.decode()
    assert "addebito doppio rimborsato automaticamente" in page
    detail = verified_client(treasurer).get(reverse("payments:treasury_payment", args=[payment.pk]))
    assert "addebito doppio rimborsato automaticamente" in detail.content.decode()
    outsider = make_official("tesoriere.modena", tree.modena, [Role.TREASURY])
    assert "Addebiti doppi" not in verified_client(outsider).get(reverse("payments:treasury_payments")).content.decode()


def test_a_duplicate_charge_notified_by_webhook_is_refunded(make_payment, django_capture_on_commit_callbacks):
    payment = paid(make_payment(1900))
    _attempt, charge = second_charge(payment)
    body, signature = SandboxProvider.webhook_body("charge.succeeded", charge.reference)
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            reverse("payments:webhook", args=["sandbox"]),
            body,
            content_type="application/json",
            HTTP_SANDBOX_SIGNATURE=signature,
        )
    assert response.status_code == 200
    charge.refresh_from_db()
    assert charge.refunded_cents == 1900
    assert DuplicateCharge.objects.get().state == DuplicateState.REFUNDED
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED and not payment.refunds.exists()


def test_a_duplicate_the_provider_cannot_refund_stays_visible(
    make_payment, monkeypatch, django_capture_on_commit_callbacks
):
    from piazza.payments.providers.base import RefundResult

    monkeypatch.setattr(
        SandboxProvider,
        "refund_charge",
        lambda self, *a, **k: RefundResult(reference="", status="failed", failure_code="expired"),
    )
    payment = paid(make_payment(1900))
    attempt, charge = second_charge(payment)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle_actions.apply_charge_result(
            actor=None,
            payment=payment,
            attempt=attempt,
            result=ChargeResult(outcome=Outcome.SUCCEEDED, reference=charge.reference),
            source="return",
        )
    duplicate = DuplicateCharge.objects.get()
    assert duplicate.state == DuplicateState.REFUND_FAILED
    # Still owed to the payer: held on the duplicate charges account, the books balance.
    assert balance(get_account("duplicate_charges", key="sandbox")) == Money(1900)
    assert provider_charges_in_ledger(since=SINCE, until=UNTIL) == []


# --- reconciliation of the providers' charges with the ledger ------------------------------------


def test_reconciliation_reports_a_sandbox_charge_missing_from_the_ledger(
    make_payment, django_capture_on_commit_callbacks
):
    with freeze_time("2026-03-10 10:00:00"):
        payment = paid(make_payment(1900))
        assert provider_charges_in_ledger(since=SINCE, until=UNTIL) == []
        _attempt, charge = second_charge(payment)  # the old code dropped this one silently
    problems = provider_charges_in_ledger(since=SINCE, until=UNTIL)
    assert len(problems) == 1 and charge.reference in str(problems[0]) and f"#{payment.pk}" in str(problems[0])
    # Charges after `until` (still on their way) are not reported yet.
    assert provider_charges_in_ledger(since=SINCE, until=dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)) == []
    # The periodic task applies it (a duplicate: refunded) and the check is clean again.
    with freeze_time("2026-03-10 12:00:00"), django_capture_on_commit_callbacks(execute=True):
        assert reconcile_provider_charges.call() == 0
    charge.refresh_from_db()
    assert charge.refunded_cents == 1900
    assert provider_charges_in_ledger(since=SINCE, until=UNTIL) == []
    assert run_checks() == []


def test_reconciliation_books_a_charge_whose_answer_was_lost(make_payment, django_capture_on_commit_callbacks):
    """A charge made at the processor for a payment still open (the answer never came back)."""
    with freeze_time("2026-03-10 10:00:00"):
        payment = make_payment(1900)
        attempt, _created = lifecycle_actions.begin_attempt(actor=None, payment=payment, client_key="lost")
        SandboxProvider()._record(attempt.provider_key, payment, OK, "succeeded", False)
    assert len(provider_charges_in_ledger(since=SINCE, until=UNTIL)) == 1
    with freeze_time("2026-03-10 12:00:00"), django_capture_on_commit_callbacks(execute=True):
        assert reconcile_provider_charges.call() == 0
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert provider_charges_in_ledger(since=SINCE, until=UNTIL) == []


def test_reconciliation_with_stripe(fake_stripe, make_payment, django_capture_on_commit_callbacks):
    from piazza.payments.tests.test_stripe import back, start

    client = Client()
    payment = make_payment(1900, provider="stripe")
    intent = start(client, payment)
    fake_stripe.confirm(intent, "pm_card_visa")
    back(client, payment)
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert provider_charges_in_ledger(since=SINCE, until=UNTIL, providers=["stripe"]) == []
    # A second PaymentIntent of the same payment succeeds at Stripe (another tab, long ago).
    other = fake_stripe.handle(
        "POST",
        "/v1/payment_intents",
        {
            "amount": "1900",
            "currency": "eur",
            "confirm": "true",
            "payment_method": "pm_card_visa",
            "metadata": {"piazza_payment": str(payment.pk), "piazza_attempt": "old-tab"},
        },
    )[1]
    problems = provider_charges_in_ledger(since=SINCE, until=UNTIL, providers=["stripe"])
    assert len(problems) == 1 and other["id"] in str(problems[0])
    with django_capture_on_commit_callbacks(execute=True):
        sync_actions.adopt_provider_charge(
            actor=None, provider_id="stripe", reference=other["id"], payment_id=str(payment.pk)
        )
    refunds = [r for r in fake_stripe.refunds.values() if r["payment_intent"] == other["id"]]
    assert [r["amount"] for r in refunds] == [1900]
    assert DuplicateCharge.objects.get().state == DuplicateState.REFUNDED
    assert provider_charges_in_ledger(since=SINCE, until=UNTIL, providers=["stripe"]) == []
    assert run_checks() == []
