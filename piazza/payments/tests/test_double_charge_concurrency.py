"""Issue 10, finding 7, on PostgreSQL with real threads: ten simultaneous POSTs to one payment
page (two tabs, a reload: each with its own Idempotency-Key) charge the card once and book
once; a late duplicate charge is refunded automatically and the books stay balanced."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from piazza.core.testing_threads import run_in_threads
from piazza.ledger.checks import run_checks
from piazza.ledger.models import LedgerTransaction
from piazza.payments.models import DuplicateCharge, DuplicateState, PaymentAttempt, SandboxCharge, State
from piazza.payments.providers.sandbox import SandboxProvider

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

OK = "4242424242424242"


@pytest.fixture
def slow_processor(monkeypatch):
    """The processor takes a moment to answer, as a real one does: the window of the race."""
    original = SandboxProvider.start

    def slow_start(self, *args, **kwargs):
        time.sleep(0.3)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SandboxProvider, "start", slow_start)


def test_ten_parallel_posts_to_the_payment_page_charge_once(make_payment, slow_processor):
    assert connection.vendor == "postgresql"
    payment = make_payment(1900)
    url = reverse("payments:pay", args=[payment.token])
    statuses: list[int] = []

    def post() -> None:
        response = Client().post(
            url, {"card_number": OK, "expiry": "08/29", "cvc": "123", "idempotency_key": uuid.uuid4().hex}
        )
        statuses.append(response.status_code)

    errors = run_in_threads([post for _ in range(10)])
    assert errors == []
    assert len(statuses) == 10 and all(s < 500 for s in statuses), statuses
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert SandboxCharge.objects.filter(outcome="succeeded").count() == 1  # one charge at the processor
    assert PaymentAttempt.objects.filter(payment=payment).count() == 1
    assert LedgerTransaction.objects.filter(idempotency_key=f"payment:{payment.pk}").count() == 1
    assert DuplicateCharge.objects.count() == 0
    assert run_checks() == []


def test_a_late_duplicate_charge_racing_the_first_is_refunded(make_payment):
    """Two answers for two charges of one payment applied at the same moment (the browser's
    return and a webhook): one books the payment, the other is refunded, never dropped."""
    from piazza.payments.actions.lifecycle import apply_charge_result
    from piazza.payments.providers.base import ChargeResult, Outcome

    payment = make_payment(1900)
    provider = SandboxProvider()
    charges = []
    attempts = []
    for n in (1, 2):
        attempt = PaymentAttempt.objects.create(payment=payment, number=n, client_key=f"legacy{n}", state="failed")
        charge, _ = provider._record(attempt.provider_key, payment, OK, "succeeded", False)
        charges.append(charge)
        attempts.append(attempt)
    results = [ChargeResult(outcome=Outcome.SUCCEEDED, reference=c.reference) for c in charges]

    def apply(i: int) -> None:
        apply_charge_result(actor=None, payment=payment, attempt=attempts[i], result=results[i], source="test")

    errors = run_in_threads([lambda: apply(0), lambda: apply(1)])
    assert errors == []
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    duplicate = DuplicateCharge.objects.get()
    assert duplicate.state == DuplicateState.REFUNDED
    assert duplicate.provider_reference != payment.provider_reference
    refunded = SandboxCharge.objects.get(reference=duplicate.provider_reference)
    assert refunded.refunded_cents == 1900
    assert run_checks() == []
