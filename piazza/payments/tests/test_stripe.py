"""The `stripe` provider with the real SDK against a local fake of Stripe's API (no network)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry
from piazza.core.money import Money
from piazza.core.testing_queries import exact_queries
from piazza.ledger.accounts import get_account
from piazza.ledger.queries import balance
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions import recurring as recurring_actions
from piazza.payments.actions import refunds as refunds_actions
from piazza.payments.actions import sync as sync_actions
from piazza.payments.models import (
    AttemptState,
    Payment,
    RecurringSchedule,
    ScheduleState,
    State,
    WebhookEvent,
    WebhookStatus,
)
from piazza.payments.tasks import reconcile_pending, run_due_charges

pytestmark = pytest.mark.usefixtures("check_ledger")


def start(client, payment):
    """The payer presses "Paga": a PaymentIntent is made and they land on our Stripe.js page."""
    page = client.get(reverse("payments:pay", args=[payment.token]))
    key = page.context["form"].initial["idempotency_key"]
    response = client.post(reverse("payments:pay", args=[payment.token]), {"idempotency_key": key})
    assert response.status_code == 302
    assert response["Location"] == reverse("payments:stripe_checkout", args=[payment.token])
    return payment.attempts.get(client_key=key).provider_reference


def back(client, payment):
    return client.get(reverse("payments:return", args=[payment.token]))


def webhook(client, body, signature):
    return client.post(
        reverse("payments:webhook", args=["stripe"]),
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )


def test_card_payment_succeeds_once_with_fee_booked(fake_stripe, make_payment, handler):
    client = Client()
    payment = make_payment(2500, provider="stripe")
    intent = start(client, payment)
    assert fake_stripe.intents[intent]["metadata"]["piazza_payment"] == str(payment.pk)

    page = client.get(reverse("payments:stripe_checkout", args=[payment.token]))
    assert page.status_code == 200
    assert fake_stripe.intents[intent]["client_secret"] in page.content.decode()
    assert "https://js.stripe.com" in page["Content-Security-Policy"]
    # Stripe.js is allowed on that page only.
    other = client.get(reverse("payments:pay", args=[payment.token]))
    assert "js.stripe.com" not in other["Content-Security-Policy"]

    fake_stripe.confirm(intent, "pm_card_visa")  # what Stripe.js does in the browser
    assert back(client, payment).status_code == 302
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED and payment.provider_reference == intent
    assert payment.fee_cents == 2500 * 15 // 1000 + 25
    assert balance(get_account("provider_fees", key="stripe")) == Money(payment.fee_cents)
    assert handler.calls == [("succeeded", payment.pk)]
    # The browser comes back twice and the webhook arrives too: still one booking.
    back(client, payment)
    body, signature = fake_stripe.event("payment_intent.succeeded", fake_stripe.intents[intent])
    assert webhook(client, body, signature).status_code == 200
    assert handler.calls == [("succeeded", payment.pk)]
    assert len(fake_stripe.succeeded_charges) == 1


def test_declined_card_then_another_card_succeeds(fake_stripe, make_payment):
    client = Client()
    payment = make_payment(4000, provider="stripe")
    intent = start(client, payment)
    fake_stripe.confirm(intent, "pm_card_chargeDeclinedInsufficientFunds")
    response = back(client, payment)
    payment.refresh_from_db()
    assert payment.state == State.FAILED and payment.failure_code == "insufficient_funds"
    assert response["Location"] == reverse("payments:pay", args=[payment.token])
    page = client.get(response["Location"])
    assert "fondi sufficienti" in page.content.decode()
    assert balance(get_account("provider_clearing", key="stripe")) == Money(0)  # nothing booked

    fake_stripe.confirm(intent, "pm_card_visa")  # Stripe.js lets them retry on the same intent
    back(client, payment)
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert len(fake_stripe.succeeded_charges) == 1


def test_double_click_on_pay_creates_one_intent(fake_stripe, make_payment):
    client = Client()
    payment = make_payment(1500, provider="stripe")
    page = client.get(reverse("payments:pay", args=[payment.token]))
    key = page.context["form"].initial["idempotency_key"]
    for _ in range(2):
        client.post(reverse("payments:pay", args=[payment.token]), {"idempotency_key": key})
    assert len(fake_stripe.intents) == 1
    assert payment.attempts.count() == 1


def test_webhook_signature_mode_and_unknown_payment(fake_stripe, make_payment):
    client = Client()
    payment = make_payment(2500, provider="stripe")
    intent = start(client, payment)
    fake_stripe.confirm(intent, "pm_card_visa")
    obj = fake_stripe.intents[intent]

    body, _signature = fake_stripe.event("payment_intent.succeeded", obj)
    _b, forged = fake_stripe.event("payment_intent.succeeded", obj, secret="whsec_attacker")
    assert webhook(client, body, forged.replace(forged.split("v1=")[1], "0" * 64)).status_code == 400
    body2, wrong_secret = fake_stripe.event("payment_intent.succeeded", obj, secret="whsec_attacker")
    assert webhook(client, body2, wrong_secret).status_code == 400
    live_body, live_sig = fake_stripe.event("payment_intent.succeeded", obj, livemode=True)
    assert webhook(client, live_body, live_sig).status_code == 400
    old_body, old_sig = fake_stripe.event("payment_intent.succeeded", obj, timestamp=1_600_000_000)
    assert webhook(client, old_body, old_sig).status_code == 400  # replay outside the tolerance
    assert not WebhookEvent.objects.exists()
    payment.refresh_from_db()
    assert payment.state == State.PENDING  # nothing applied
    assert AuditEntry.objects.filter(action="payments.webhook_refused", kind="denied").count() == 4

    stranger = dict(obj, id="pi_unknown", metadata={})
    body, signature = fake_stripe.event("payment_intent.succeeded", stranger, event_id="evt_stranger")
    assert webhook(client, body, signature).status_code == 200
    assert WebhookEvent.objects.get(event_id="evt_stranger").status == WebhookStatus.UNMATCHED


def test_webhook_ten_times_books_once(fake_stripe, make_payment, handler):
    client = Client()
    payment = make_payment(2500, provider="stripe")
    intent = start(client, payment)
    fake_stripe.confirm(intent, "pm_card_visa")
    body, signature = fake_stripe.event("payment_intent.succeeded", fake_stripe.intents[intent], event_id="evt_1")
    for _ in range(10):
        assert webhook(client, body, signature).status_code == 200
    assert WebhookEvent.objects.count() == 1
    assert handler.calls == [("succeeded", payment.pk)]


# The webhook's POST pinned exactly (issue 11 item 24): the first delivery applies the success, a replay of
# the same event stops at the stored (provider, event_id) (convention 5).
# −13 (issue 14, P4): payment and fee booked as one ledger batch without savepoints, accounts cached per
# process, the audit chain's head read once per transaction, the territory read with the row lock.
WEBHOOK_PINS = {"sqlite": 26, "postgresql": 20}
WEBHOOK_REPLAY_PINS = {"sqlite": 5, "postgresql": 5}


def test_webhook_query_pin(fake_stripe, make_payment, handler):
    client = Client()
    for n, pins in ((1, None), (2, WEBHOOK_PINS)):  # the first round warms the per-process caches
        payment = make_payment(2500, provider="stripe")
        intent = start(client, payment)
        fake_stripe.confirm(intent, "pm_card_visa")
        body, signature = fake_stripe.event(
            "payment_intent.succeeded", fake_stripe.intents[intent], event_id=f"evt_pin_{n}"
        )
        if pins is None:
            assert webhook(client, body, signature).status_code == 200
            continue
        with exact_queries(pins, "stripe webhook, first delivery"):
            assert webhook(client, body, signature).status_code == 200
        with exact_queries(WEBHOOK_REPLAY_PINS, "stripe webhook, replay"):
            assert webhook(client, body, signature).status_code == 200
    assert handler.calls == [("succeeded", p.pk) for p in Payment.objects.order_by("pk")]


def test_refund_event_before_success_event(fake_stripe, make_payment):
    """Out of order: the refund's webhook comes first; re-fetching applies success, then refund."""
    client = Client()
    payment = make_payment(3000, provider="stripe")
    intent = start(client, payment)
    fake_stripe.confirm(intent, "pm_card_visa")
    refund = fake_stripe.dashboard_refund(intent, 1000)
    body, signature = fake_stripe.event("charge.refund.updated", refund)
    assert webhook(client, body, signature).status_code == 200
    payment.refresh_from_db()
    assert payment.state == State.PARTIALLY_REFUNDED
    assert payment.refunds.get().amount == Money(1000)
    body, signature = fake_stripe.event("payment_intent.succeeded", fake_stripe.intents[intent])
    webhook(client, body, signature)
    payment.refresh_from_db()
    assert payment.state == State.PARTIALLY_REFUNDED


def test_partial_then_full_refund_and_refused_excess(fake_stripe, make_payment, tree):
    client = Client()
    payment = make_payment(5000, provider="stripe")
    intent = start(client, payment)
    fake_stripe.confirm(intent, "pm_card_visa")
    back(client, payment)
    payment.refresh_from_db()
    refunds_actions.refund_payment(actor=None, payment=payment, amount=Money(2000), reason="doppione")
    payment.refresh_from_db()
    assert payment.state == State.PARTIALLY_REFUNDED
    remote = next(iter(fake_stripe.refunds.values()))
    assert remote["amount"] == 2000 and remote["metadata"]["piazza_refund"] == str(payment.refunds.get().pk)
    refunds_actions.refund_payment(actor=None, payment=payment)
    payment.refresh_from_db()
    assert payment.state == State.REFUNDED
    assert sum(r["amount"] for r in fake_stripe.refunds.values()) == 5000
    centre = get_account("territory", owner=tree.bologna_centro, territory=tree.bologna_centro)
    assert balance(centre) == Money(0)


def test_refund_timeout_stays_pending_then_reconciled(fake_stripe, make_payment, settings):
    client = Client()
    payment = make_payment(5000, provider="stripe")
    intent = start(client, payment)
    fake_stripe.confirm(intent, "pm_card_visa")
    back(client, payment)
    payment.refresh_from_db()
    settings.STRIPE_TIMEOUT_SECONDS = 0.5  # the next call times out; others keep the generous default
    fake_stripe.slow_once("/v1/refunds", 1.5)
    refund = refunds_actions.refund_payment(actor=None, payment=payment, amount=Money(1000))
    settings.STRIPE_TIMEOUT_SECONDS = 5
    assert refund.state == "pending"
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    sync_actions.reconcile_payment(actor=None, payment=payment)
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.state == "succeeded" and payment.state == State.PARTIALLY_REFUNDED
    assert len(fake_stripe.refunds) == 1


def test_dispute_opened_then_lost(fake_stripe, make_payment, handler):
    client = Client()
    payment = make_payment(2500, provider="stripe")
    intent = start(client, payment)
    fake_stripe.confirm(intent, "pm_card_visa")
    back(client, payment)
    dispute = fake_stripe.dispute(intent)
    body, signature = fake_stripe.event("charge.dispute.created", dispute)
    webhook(client, body, signature)
    payment.refresh_from_db()
    assert payment.state == State.DISPUTED
    assert balance(get_account("disputes", key="stripe")) != Money(0) or payment.disputes.get().fee_cents == 1500
    dispute = fake_stripe.dispute(intent, status="lost")
    body, signature = fake_stripe.event("charge.dispute.closed", dispute)
    webhook(client, body, signature)
    payment.refresh_from_db()
    assert payment.state == State.CHARGED_BACK
    assert ("disputed:lost", payment.pk) in handler.calls


def test_dispute_won_restores_the_payment(fake_stripe, make_payment):
    client = Client()
    payment = make_payment(2500, provider="stripe")
    intent = start(client, payment)
    fake_stripe.confirm(intent, "pm_card_visa")
    back(client, payment)
    fake_stripe.dispute(intent)
    sync_actions.reconcile_payment(actor=None, payment=payment)
    fake_stripe.dispute(intent, status="won")
    sync_actions.reconcile_payment(actor=None, payment=payment)
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED


def _recurring(fake_stripe, tree, split_accounts, method="pm_card_visa"):
    amount = Money(1000)
    schedule, first = recurring_actions.create_recurring(
        actor=None,
        amount=amount,
        allocations=list(zip(split_accounts, amount.allocate([80, 20]), strict=True)),
        provider="stripe",
        description="Donazione mensile",
        creation_key="stripe-monthly",
        payer_name="Giulia Rossi",
        payer_email="giulia@example.org",
        territory=tree.bologna_centro,
    )
    client = Client()
    intent = start(client, first)
    assert fake_stripe.intents[intent]["setup_future_usage"] == "off_session"
    assert fake_stripe.intents[intent]["customer"].startswith("cus_")
    fake_stripe.confirm(intent, method)
    back(client, first)
    schedule.refresh_from_db()
    assert schedule.saved_method is not None and schedule.saved_method.method_reference == method
    RecurringSchedule.objects.filter(pk=schedule.pk).update(next_charge_on=timezone.localdate())
    return schedule


def test_recurring_off_session_charge_and_second_run(fake_stripe, tree, split_accounts):
    schedule = _recurring(fake_stripe, tree, split_accounts)
    assert run_due_charges.call() == 1
    assert run_due_charges.call() == 0  # safe to run twice
    charges = fake_stripe.succeeded_charges
    assert len(charges) == 2
    off_session = [
        i
        for i in fake_stripe.intents.values()
        if i["metadata"].get("piazza_attempt", "").endswith("-1")
        and i["customer"]
        and i["payment_method"] == "pm_card_visa"
    ]
    assert len(off_session) == 2
    cycle2 = Payment.objects.get(creation_key="stripe-monthly:cycle:2")
    assert cycle2.state == State.SUCCEEDED and cycle2.fee_cents == 1000 * 15 // 1000 + 25
    schedule.refresh_from_db()
    assert schedule.cycle == 3


def test_recurring_decline_counts_a_failure(fake_stripe, tree, split_accounts):
    schedule = _recurring(fake_stripe, tree, split_accounts, method="pm_card_chargeCustomerFail")
    run_due_charges.call()
    schedule.refresh_from_db()
    assert schedule.failure_count == 1 and schedule.state == ScheduleState.ACTIVE
    cycle2 = Payment.objects.get(creation_key="stripe-monthly:cycle:2")
    assert cycle2.state == State.FAILED and cycle2.failure_code == "card_declined"


def test_recurring_timeout_is_reconciled_never_charged_twice(fake_stripe, tree, split_accounts, settings):
    _recurring(fake_stripe, tree, split_accounts)
    settings.STRIPE_TIMEOUT_SECONDS = 0.5  # the next call times out; others keep the generous default
    fake_stripe.slow_once("/v1/payment_intents", 1.5)
    run_due_charges.call()
    settings.STRIPE_TIMEOUT_SECONDS = 5
    cycle2 = Payment.objects.get(creation_key="stripe-monthly:cycle:2")
    assert cycle2.state == State.PENDING
    assert cycle2.attempts.get().state == AttemptState.UNKNOWN
    run_due_charges.call()  # the next run does not charge again
    Payment.objects.filter(pk=cycle2.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert reconcile_pending.call() == 1  # found by searching our metadata
    cycle2.refresh_from_db()
    assert cycle2.state == State.SUCCEEDED
    assert len(fake_stripe.succeeded_charges) == 2  # the first payment and this one, once


def test_start_timeout_keeps_payment_pending(fake_stripe, make_payment, settings):
    client = Client()
    payment = make_payment(2500, provider="stripe")
    settings.STRIPE_TIMEOUT_SECONDS = 0.5  # the next call times out; others keep the generous default
    fake_stripe.slow_once("/v1/payment_intents", 1.5)
    page = client.get(reverse("payments:pay", args=[payment.token]))
    key = page.context["form"].initial["idempotency_key"]
    response = client.post(reverse("payments:pay", args=[payment.token]), {"idempotency_key": key})
    settings.STRIPE_TIMEOUT_SECONDS = 5
    assert response["Location"] == reverse("payments:done", args=[payment.token])
    payment.refresh_from_db()
    assert payment.state == State.PENDING
    sync_actions.reconcile_payment(actor=None, payment=payment)  # never confirmed: still pending, no charge
    payment.refresh_from_db()
    assert payment.state == State.PENDING and not fake_stripe.charges


def test_unconfigured_stripe_is_refused(settings, tree, split_accounts):
    from django.core.exceptions import ValidationError

    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(ValidationError, match="non è disponibile"):
        lifecycle_actions.create_payment(
            actor=None,
            amount=Money(100),
            allocations=[(split_accounts[0], Money(100))],
            provider="stripe",
            description="x",
            creation_key="nostripe",
        )


def _parallel(n, fn):
    import threading

    from django.db import connection

    barrier = threading.Barrier(n)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_stripe_webhook_ten_times_in_parallel_and_racing_the_return(fake_stripe, make_payment, handler, settings):
    from piazza.ledger.checks import run_checks

    settings.STRIPE_TIMEOUT_SECONDS = 10  # twelve threads on a small machine: slow is not a timeout here
    client = Client()
    payment = make_payment(2500, provider="stripe")
    intent = start(client, payment)
    fake_stripe.confirm(intent, "pm_card_visa")
    body, signature = fake_stripe.event("payment_intent.succeeded", fake_stripe.intents[intent], event_id="evt_p")
    calls = iter(range(12))

    def deliver():
        if next(calls) % 6 == 5:
            return back(Client(), payment).status_code  # the browser's return, racing the webhooks
        return webhook(Client(), body, signature).status_code

    results, errors = _parallel(12, deliver)
    assert not errors
    assert set(results) <= {200, 302}
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert WebhookEvent.objects.count() == 1
    assert handler.calls == [("succeeded", payment.pk)]
    assert run_checks() == []
