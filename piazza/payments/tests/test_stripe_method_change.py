"""Changing the card of a recurring schedule on Stripe (issue 12): a SetupIntent confirmed the way
Stripe.js `confirmSetup` does, with the real SDK against the local fake of Stripe's API."""

from __future__ import annotations

import pytest
import stripe

from piazza.core.models import AuditEntry
from piazza.payments.actions import method_change as method_change_actions
from piazza.payments.models import MethodChangeState, Payment, SavedMethod, State
from piazza.payments.providers.base import Outcome
from piazza.payments.providers.registry import get_provider
from piazza.payments.providers.stripe import StripeProvider
from piazza.payments.tasks import run_due_charges
from piazza.payments.tests.test_stripe import _recurring

pytestmark = pytest.mark.usefixtures("check_ledger")


def test_new_card_by_setup_intent_charged_next_and_old_card_detached(fake_stripe, tree, split_accounts):
    schedule = _recurring(fake_stripe, tree, split_accounts)
    old = schedule.saved_method
    customer = old.customer_reference
    change = method_change_actions.start_method_change(actor=None, schedule=schedule, via="test")
    setup = fake_stripe.setup_intents[change.provider_reference]
    assert setup["customer"] == customer and setup["usage"] == "off_session"
    assert setup["metadata"] == {"piazza_method_change": str(change.pk), "piazza_schedule": str(schedule.pk)}
    # The same click again (a reload) reuses the open SetupIntent.
    assert method_change_actions.start_method_change(actor=None, schedule=schedule, via="test") == change
    assert len(fake_stripe.setup_intents) == 1

    # Our page asks Stripe for the client secret; nothing is applied before Stripe says succeeded.
    change, result = method_change_actions.sync_method_change(actor=None, change=change, final=False)
    assert result.client_secret == setup["client_secret"] and change.state == MethodChangeState.STARTED

    fake_stripe.confirm_setup(change.provider_reference, "pm_card_visa_debit")  # what Stripe.js does
    change, result = method_change_actions.sync_method_change(actor=None, change=change, final=True)
    assert result.outcome == Outcome.SUCCEEDED and change.state == MethodChangeState.SUCCEEDED
    schedule.refresh_from_db()
    new = schedule.saved_method
    assert new is not None and new.method_reference == "pm_card_visa_debit"
    assert new.customer_reference == customer and new.label == "Visa •••• 5556"
    old.refresh_from_db()
    assert old.forgotten_at is not None and "pm_card_visa" in fake_stripe.detached
    assert ("POST", "/v1/payment_methods/pm_card_visa/detach") in fake_stripe.requests
    assert AuditEntry.objects.get(action="payments.change_saved_method").data["to_method"] == new.pk

    # A second return (the browser, then a reload) changes nothing more.
    method_change_actions.sync_method_change(actor=None, change=change, final=True)
    assert SavedMethod.objects.count() == 2
    assert AuditEntry.objects.filter(action="payments.change_saved_method").count() == 1

    assert run_due_charges.call() == 1
    cycle2 = Payment.objects.get(creation_key="stripe-monthly:cycle:2")
    assert cycle2.state == State.SUCCEEDED
    intent = fake_stripe.intents[cycle2.provider_reference]
    assert intent["payment_method"] == "pm_card_visa_debit" and intent["customer"] == customer


def test_card_refused_at_setup_keeps_the_old_card(fake_stripe, tree, split_accounts):
    schedule = _recurring(fake_stripe, tree, split_accounts)
    old = schedule.saved_method
    change = method_change_actions.start_method_change(actor=None, schedule=schedule, via="test")
    fake_stripe.confirm_setup(change.provider_reference, "pm_card_chargeDeclined")
    # On the page Stripe.js shows the refusal in place: the payer may still try another card.
    change, result = method_change_actions.sync_method_change(actor=None, change=change, final=False)
    assert change.state == MethodChangeState.STARTED and result.failure_code == "card_declined"
    # Coming back through the return URL with the refusal ends the change; the old card stays.
    change, _result = method_change_actions.sync_method_change(actor=None, change=change, final=True)
    assert change.state == MethodChangeState.FAILED and change.failure_code == "card_declined"
    schedule.refresh_from_db()
    old.refresh_from_db()
    assert schedule.saved_method == old and old.forgotten_at is None
    assert not fake_stripe.detached
    assert run_due_charges.call() == 1
    cycle2 = Payment.objects.get(creation_key="stripe-monthly:cycle:2")
    assert fake_stripe.intents[cycle2.provider_reference]["payment_method"] == "pm_card_visa"
    assert cycle2.state == State.SUCCEEDED


def test_a_detached_card_is_never_charged(fake_stripe, tree, split_accounts):
    """The fake refuses a detached card as Stripe does: forgetting is real, not only our flag."""
    schedule = _recurring(fake_stripe, tree, split_accounts)
    old = schedule.saved_method
    change = method_change_actions.start_method_change(actor=None, schedule=schedule, via="test")
    fake_stripe.confirm_setup(change.provider_reference, "pm_card_visa_debit")
    method_change_actions.sync_method_change(actor=None, change=change, final=True)
    payment = Payment.objects.get(creation_key="stripe-monthly:cycle:1")
    attempt = payment.attempts.get()
    provider = get_provider("stripe")
    assert isinstance(provider, StripeProvider)
    with pytest.raises(stripe.InvalidRequestError, match="not attached"):
        provider.client().v1.payment_intents.create(
            {
                "amount": 1000,
                "currency": "eur",
                "customer": old.customer_reference,
                "payment_method": old.method_reference,
                "off_session": True,
                "confirm": True,
            },
            {"idempotency_key": f"{attempt.provider_key}-after-detach"},
        )
