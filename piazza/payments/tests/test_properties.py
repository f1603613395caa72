"""Property: any sequence of payments, retries, replays, refunds (partial, full, from the
provider's dashboard) and disputes (won, lost) keeps every ledger invariant, never charges a
payment twice, and never reverses more than was received.

Each Hypothesis example runs inside a savepoint that is rolled back, so examples are independent.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from piazza.core.money import Money
from piazza.ledger.checks import run_checks
from piazza.ledger.models import Entry
from piazza.ledger.queries import balance
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions import refunds as refunds_actions
from piazza.payments.actions import reversals as reversals_actions
from piazza.payments.actions import sync as sync_actions
from piazza.payments.booking import clearing_account
from piazza.payments.models import BOOKED_STATES, Payment, SandboxCharge, State
from piazza.payments.providers.registry import get_provider
from piazza.payments.providers.sandbox import SandboxProvider

CARDS = ["4242424242424242", "4000000000000002", "4000000000009995", "4000000000000077"]

slot = st.integers(min_value=0, max_value=2)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(min_value=100, max_value=500_000)),
        st.tuples(st.just("pay"), slot, st.sampled_from(CARDS)),
        st.tuples(st.just("replay"), slot),
        # A share of the payment in percent (partial or full), all that is left (None), or bad input.
        st.tuples(
            st.just("refund"),
            slot,
            st.one_of(st.none(), st.integers(min_value=1, max_value=100), st.sampled_from([0, -5, 1000])),
        ),
        st.tuples(st.just("dashboard_refund"), slot, st.integers(min_value=1, max_value=100)),
        st.tuples(st.just("dispute"), slot, st.sampled_from(["open", "won", "lost"])),
        st.tuples(st.just("webhook"), slot, st.sampled_from(["evt-a", "evt-b"])),
        st.tuples(st.just("reconcile"), slot),
    ),
    min_size=1,
    max_size=14,
)


class Run:
    """One example's world: up to three payments and the keys used to pay them."""

    def __init__(self, make_payment: Any) -> None:
        self.make_payment = make_payment
        self.payments: list[Payment] = []
        self.keys: dict[int, str] = {}
        self.counter = 0
        sandbox = get_provider("sandbox")
        assert isinstance(sandbox, SandboxProvider)
        self.sandbox: SandboxProvider = sandbox
        self.client = Client()

    def pick(self, index: int) -> Payment | None:
        if not self.payments:
            return None
        payment = self.payments[index % len(self.payments)]
        payment.refresh_from_db()
        return payment

    def apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "create":
            if len(self.payments) < 3:
                self.payments.append(self.make_payment(op[1]))
            return
        payment = self.pick(op[1])
        if payment is None:
            return
        if kind == "pay":
            self.counter += 1
            key = f"key{self.counter}"
            try:
                lifecycle_actions.pay(
                    actor=None, payment=payment, client_key=key, data={"card_number": op[2]}, return_url="/"
                )
            except ValidationError:
                assert not payment.is_open  # refused only because it is settled or closed
            else:
                self.keys[payment.pk] = key
        elif kind == "replay" and payment.pk in self.keys:
            # The same form posted again (double click, back button): never a second charge.
            try:
                lifecycle_actions.pay(
                    actor=None,
                    payment=payment,
                    client_key=self.keys[payment.pk],
                    data={"card_number": CARDS[0]},
                    return_url="/",
                )
            except ValidationError:
                assert not payment.is_open  # "already paid": the view shows the outcome instead
        elif kind == "refund":
            amount = None if op[2] is None else Money(payment.amount_cents * op[2] // 100)
            # Zero, negative, too large or not refundable: refused, nothing written.
            with contextlib.suppress(ValidationError):
                refunds_actions.refund_payment(actor=None, payment=payment, amount=amount)
        elif kind == "dashboard_refund" and payment.provider_reference:
            charge = SandboxCharge.objects.get(reference=payment.provider_reference)
            disputed = sum(d["amount"] for d in charge.disputes)
            cents = max(1, charge.amount_cents * op[2] // 100)
            if charge.refunded_cents + disputed + cents <= charge.amount_cents:
                self.sandbox.simulate_refund(payment.provider_reference, cents)
        elif kind == "dispute" and payment.provider_reference:
            charge = SandboxCharge.objects.get(reference=payment.provider_reference)
            existing = charge.disputes[0]["id"] if charge.disputes else ""
            if existing or op[2] == "open":
                self.sandbox.simulate_dispute(payment.provider_reference, status=op[2], dispute_id=existing)
        elif kind == "webhook" and payment.provider_reference:
            body, signature = SandboxProvider.webhook_body(
                "charge.updated", payment.provider_reference, event_id=f"{op[2]}-{payment.pk}"
            )
            response = self.client.post(
                reverse("payments:webhook", args=["sandbox"]),
                body,
                content_type="application/json",
                HTTP_SANDBOX_SIGNATURE=signature,
            )
            assert response.status_code == 200
        elif kind == "reconcile":
            sync_actions.reconcile_payment(actor=None, payment=payment)

    @staticmethod
    def check_allocations(payment: Payment) -> None:
        """Each allocation keeps exactly its share (M8 split) of what was not sent back."""
        keys = [f"payment:{payment.pk}"] + [f"refund:{r.pk}" for r in payment.refunds.all()]
        keys += [f"dispute:{d.pk}:{suffix}" for d in payment.disputes.all() for suffix in ("opened", "won", "lost")]
        allocations = list(payment.allocations.order_by("pk"))
        kept = payment.amount - reversals_actions.reversed_total(payment)
        shares = kept.allocate([a.amount_cents for a in allocations])
        for allocation, share in zip(allocations, shares, strict=True):
            credited = -sum(
                Entry.objects.filter(
                    account_id=allocation.account_id, transaction__idempotency_key__in=keys
                ).values_list("amount_cents", flat=True)
            )
            assert credited == share.cents, f"payment #{payment.pk}: {allocation.account} holds {credited}"

    def check(self) -> None:
        assert run_checks() == []
        booked = Money(0)
        for payment in self.payments:
            payment.refresh_from_db()
            keys = [a.provider_key for a in payment.attempts.all()]
            charged = SandboxCharge.objects.filter(idempotency_key__in=keys, outcome="succeeded").count()
            assert charged <= 1, f"payment #{payment.pk} charged {charged} times"
            if payment.state in BOOKED_STATES:
                assert charged == 1
                booked += payment.amount
            assert reversals_actions.reversed_total(payment) <= payment.amount
            if payment.state in BOOKED_STATES:
                self.check_allocations(payment)
            if payment.state == State.REFUNDED:
                assert reversals_actions.reversed_total(payment) == payment.amount
        if self.payments:
            # Clearing holds what was received minus everything sent back and every fee.
            assert balance(clearing_account(self.payments[0])).cents <= booked.cents


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(ops=operations)
def test_any_sequence_keeps_the_books(ops, make_payment, check_ledger):
    run = Run(make_payment)
    example = transaction.atomic()
    # The test's own wrapping block, like pytest-django's: refusals inside it are the actions' own.
    example._from_testcase = True  # type: ignore[attr-defined]
    try:
        with example:
            for op in ops:
                run.apply(op)
            run.check()
            raise _Rollback
    except _Rollback:
        pass


class _Rollback(Exception):
    """Undo one example's writes (a savepoint rollback) so the next starts from clean books."""


@pytest.mark.django_db
def test_new_try_after_a_timeout_does_not_charge_again(make_payment, check_ledger):
    """The payer times out, then tries again with another card: the first charge is found instead."""
    payment = make_payment(2500)
    lifecycle_actions.pay(
        actor=None, payment=payment, client_key="first", data={"card_number": CARDS[3]}, return_url="/"
    )
    payment.refresh_from_db()
    assert payment.state == State.PENDING
    lifecycle_actions.pay(
        actor=None, payment=payment, client_key="second", data={"card_number": CARDS[0]}, return_url="/"
    )
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert SandboxCharge.objects.count() == 1
    assert payment.attempts.count() == 1
