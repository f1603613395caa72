"""Every refusal decided inside a payments transaction keeps its audit entry (issue 11, item 23):
the check runs under the row lock, the entry is written once the block has rolled back."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions import recurring as recurring_actions
from piazza.payments.actions import refunds as refunds_actions
from piazza.payments.models import Payment, PaymentAttempt, RecurringSchedule
from piazza.payments.providers.base import Capability
from piazza.payments.providers.sandbox import SandboxProvider

pytestmark = pytest.mark.usefixtures("check_ledger")

OK = "4242424242424242"


def _paid(make_payment, cents=1000):
    payment = make_payment(cents)
    lifecycle_actions.pay(
        actor=None, payment=payment, client_key=f"paid-{payment.pk}", data={"card_number": OK}, return_url="/"
    )
    payment.refresh_from_db()
    return payment


def _without(monkeypatch, *capabilities):
    monkeypatch.setattr(SandboxProvider, "capabilities", SandboxProvider.capabilities - set(capabilities))


def _client_key_reused(make_payment, split_accounts, monkeypatch):
    first, second = make_payment(1000), make_payment(1200)
    lifecycle_actions.begin_attempt(actor=None, payment=first, client_key="same-key")
    return lambda: lifecycle_actions.begin_attempt(actor=None, payment=second, client_key="same-key")


def _payment_closed(make_payment, split_accounts, monkeypatch):
    payment = _paid(make_payment)
    return lambda: lifecycle_actions.begin_attempt(actor=None, payment=payment, client_key="late-tab")


def _not_cancelable(make_payment, split_accounts, monkeypatch):
    payment = _paid(make_payment)
    return lambda: lifecycle_actions.cancel_payment(actor=None, payment=payment)


def _refund(amount, *, paid=True, without=()):
    def setup(make_payment, split_accounts, monkeypatch):
        payment = _paid(make_payment) if paid else make_payment(1000)
        _without(monkeypatch, *without)
        return lambda: refunds_actions.request_refund(actor=None, payment=payment, amount=amount)

    return setup


def _no_recurring(make_payment, split_accounts, monkeypatch):
    _without(monkeypatch, Capability.RECURRING)
    centro, emilia = split_accounts
    return lambda: recurring_actions.create_recurring(
        actor=None,
        amount=Money(1000),
        allocations=[(centro, Money(800)), (emilia, Money(200))],
        provider="sandbox",
        description="Mensile",
        creation_key="monthly:1",
    )


CASES = [
    ("payments.begin_attempt", "client_key_reused", _client_key_reused),
    ("payments.begin_attempt", "payment_closed", _payment_closed),
    ("payments.cancel_payment", "not_cancelable", _not_cancelable),
    ("payments.request_refund", "currency_mismatch", _refund(Money(100, "USD"))),
    ("payments.request_refund", "amount_not_positive", _refund(Money(0))),
    ("payments.request_refund", "not_refundable", _refund(Money(100), paid=False)),
    ("payments.request_refund", "no_refund_capability", _refund(Money(100), without=(Capability.REFUND,))),
    ("payments.request_refund", "refund_too_large", _refund(Money(1001))),
    ("payments.request_refund", "no_partial_refund", _refund(Money(100), without=(Capability.PARTIAL_REFUND,))),
    ("payments.create_payment", "no_recurring", _no_recurring),  # refused inside create_recurring's block
]


@pytest.mark.parametrize(("action", "code", "setup"), CASES, ids=[c[1] for c in CASES])
def test_the_refusal_keeps_its_audit_entry(action, code, setup, make_payment, split_accounts, monkeypatch):
    call = setup(make_payment, split_accounts, monkeypatch)
    payments, attempts = Payment.objects.count(), PaymentAttempt.objects.count()
    with pytest.raises((ValidationError, PermissionDenied)):
        call()
    denied = [e for e in AuditEntry.objects.filter(kind=AuditKind.DENIED, action=action) if e.data["code"] == code]
    assert len(denied) == 1, f"{action}/{code}: the audit entry of the refusal was rolled back"
    # ...and the refused work itself left nothing half-written.
    assert (Payment.objects.count(), PaymentAttempt.objects.count()) == (payments, attempts)
    assert not RecurringSchedule.objects.exists()
