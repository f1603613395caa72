"""Every payments test ends with the books checked (the ledger plugin's `check_ledger`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.payments.actions.lifecycle import create_payment
from piazza.payments.payables import PayableHandler, register_payable


class RecordingHandler(PayableHandler):
    """A payable handler that remembers what payments told it (tests only)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def on_succeeded(self, payment: Any, payable: Any) -> None:
        self.calls.append(("succeeded", payment.pk))

    def on_failed(self, payment: Any, payable: Any) -> None:
        self.calls.append(("failed", payment.pk))

    def on_canceled(self, payment: Any, payable: Any) -> None:
        self.calls.append(("canceled", payment.pk))

    def on_refunded(self, payment: Any, payable: Any, refund: Any) -> None:
        self.calls.append(("refunded", payment.pk))

    def on_disputed(self, payment: Any, payable: Any, dispute: Any) -> None:
        self.calls.append((f"disputed:{dispute.state}", payment.pk))

    def on_schedule_canceled(self, schedule: Any, payable: Any) -> None:
        self.calls.append(("schedule_canceled", schedule.pk))


@pytest.fixture
def handler() -> Iterator[RecordingHandler]:
    # In tests a territory stands in for a payable of a higher app (payments imports none).
    # Unregistered afterwards: a payable left in the registry fails the startup check of every later
    # test in the same process (membership's test_fee_cap), whatever order xdist runs them in.
    from piazza.payments import payables

    recording = RecordingHandler()
    register_payable("territory.territory", recording)
    yield recording
    payables._handlers.pop("territory.territory", None)


@pytest.fixture
def split_accounts(tree):
    """Rule M8-style split: 80% to the circolo, 20% to the region."""
    return (
        get_account("territory", owner=tree.bologna_centro, territory=tree.bologna_centro),
        get_account("territory", owner=tree.emilia, territory=tree.emilia),
    )


@pytest.fixture
def make_payment(tree, split_accounts, handler):
    counter = {"n": 0}

    def make(cents: int = 2500, provider: str = "sandbox", **extra: Any):
        counter["n"] += 1
        amount = Money(cents)
        shares = amount.allocate([80, 20])
        return create_payment(
            actor=None,
            amount=amount,
            allocations=list(zip(split_accounts, shares, strict=True)),
            provider=provider,
            description="Contributo di prova",
            creation_key=f"test:{counter['n']}:{cents}",
            payable=tree.bologna_centro,
            payer_name="Giulia Rossi",
            payer_email="giulia@example.org",
            territory=tree.bologna_centro,
            **extra,
        )

    return make


@pytest.fixture
def fake_stripe(settings):
    """The real stripe SDK pointed at a local fake of Stripe's API (no network)."""
    from piazza.payments.tests.fakes.stripe_api import FakeStripe

    with FakeStripe() as fake:
        settings.STRIPE_SECRET_KEY = "sk_test_fake"
        settings.STRIPE_PUBLISHABLE_KEY = "pk_test_fake"
        settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_TIMEOUT_SECONDS = 5  # tests of timeouts lower it around one call
        yield fake


@pytest.fixture
def fake_paypal(settings):
    """httpx pointed at a local fake of PayPal's REST API (Orders v2, refunds, webhook verification)."""
    from piazza.payments.tests.fakes.paypal_api import FakePayPal

    with FakePayPal() as fake:
        settings.PAYPAL_CLIENT_ID = fake.client_id
        settings.PAYPAL_CLIENT_SECRET = fake.client_secret
        settings.PAYPAL_WEBHOOK_ID = fake.webhook_id
        settings.PAYPAL_API_BASE = fake.url
        settings.PAYPAL_TIMEOUT_SECONDS = 5
        yield fake
