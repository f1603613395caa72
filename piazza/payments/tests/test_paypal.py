"""The `paypal` provider (Orders v2 with httpx) against a local fake of PayPal's API."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.queries import balance
from piazza.payments.actions import recurring as recurring_actions
from piazza.payments.actions import refunds as refunds_actions
from piazza.payments.actions import sync as sync_actions
from piazza.payments.models import State, WebhookEvent, WebhookStatus

pytestmark = pytest.mark.usefixtures("check_ledger")


def start(client, payment):
    """ "Paga con PayPal": an order is created and the payer is redirected to approve it."""
    page = client.get(reverse("payments:pay", args=[payment.token]))
    key = page.context["form"].initial["idempotency_key"]
    response = client.post(reverse("payments:pay", args=[payment.token]), {"idempotency_key": key})
    assert response.status_code == 302
    order_id = payment.attempts.get(client_key=key).provider_reference
    assert response["Location"] == f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}"
    return order_id


def back(client, payment, order_id, **params):
    return client.get(
        reverse("payments:return", args=[payment.token]), {"token": order_id, "PayerID": "PAYER1", **params}
    )


def webhook(client, body, headers):
    return client.post(reverse("payments:webhook", args=["paypal"]), body, content_type="application/json", **headers)


def test_approve_and_capture_once(fake_paypal, make_payment, handler):
    client = Client()
    payment = make_payment(2500, provider="paypal")
    order_id = start(client, payment)
    order = fake_paypal.orders[order_id]
    assert order["purchase_units"][0]["amount"] == {"currency_code": "EUR", "value": "25.00"}
    assert order["purchase_units"][0]["custom_id"] == str(payment.pk)
    fake_paypal.approve(order_id)
    assert back(client, payment, order_id).status_code == 302
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED and payment.provider_reference == order_id
    assert payment.fee_cents == 2500 * 34 // 1000 + 35
    assert balance(get_account("provider_fees", key="paypal")) == Money(payment.fee_cents)
    # Reloading the return page and the capture webhook change nothing.
    back(client, payment, order_id)
    body, headers = fake_paypal.event("PAYMENT.CAPTURE.COMPLETED", fake_paypal.capture_of(order_id))
    assert webhook(client, body, headers).status_code == 200
    assert len(fake_paypal.completed_captures) == 1
    assert handler.calls == [("succeeded", payment.pk)]


def test_payer_cancels_at_paypal_then_retries(fake_paypal, make_payment):
    client = Client()
    payment = make_payment(1000, provider="paypal")
    order_id = start(client, payment)
    response = client.get(reverse("payments:return", args=[payment.token]), {"token": order_id})
    assert response["Location"] == reverse("payments:pay", args=[payment.token])
    payment.refresh_from_db()
    assert payment.state == State.FAILED and payment.failure_code == "canceled"
    second = start(client, payment)
    fake_paypal.approve(second)
    back(client, payment, second)
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED


def test_declined_funding_source_is_clear_and_books_nothing(fake_paypal, make_payment):
    client = Client()
    payment = make_payment(1000, provider="paypal")
    order_id = start(client, payment)
    fake_paypal.approve(order_id, declined=True)
    response = back(client, payment, order_id)
    payment.refresh_from_db()
    assert payment.state == State.FAILED and payment.failure_code == "card_declined"
    assert "rifiutata" in client.get(response["Location"]).content.decode()
    assert balance(get_account("provider_clearing", key="paypal")) == Money(0)


def test_approved_but_never_returned_is_captured_by_the_webhook(fake_paypal, make_payment):
    client = Client()
    payment = make_payment(1800, provider="paypal")
    order_id = start(client, payment)
    fake_paypal.approve(order_id)
    body, headers = fake_paypal.event("CHECKOUT.ORDER.APPROVED", dict(fake_paypal.orders[order_id]))
    assert webhook(client, body, headers).status_code == 200
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    back(client, payment, order_id)  # the payer comes back later: still one capture
    assert len(fake_paypal.completed_captures) == 1


def test_webhook_verification_and_unknown_order(fake_paypal, make_payment):
    client = Client()
    payment = make_payment(1800, provider="paypal")
    order_id = start(client, payment)
    fake_paypal.approve(order_id)
    body, headers = fake_paypal.event("CHECKOUT.ORDER.APPROVED", dict(fake_paypal.orders[order_id]), bad_signature=True)
    assert webhook(client, body, headers).status_code == 400
    assert webhook(client, body, {}).status_code == 400  # no signature headers at all
    assert not WebhookEvent.objects.exists()
    payment.refresh_from_db()
    assert payment.state == State.PENDING

    body, headers = fake_paypal.event("CHECKOUT.ORDER.APPROVED", {"id": "UNKNOWNORDER"}, event_id="WH-X")
    assert webhook(client, body, headers).status_code == 200
    assert WebhookEvent.objects.get(event_id="WH-X").status == WebhookStatus.UNMATCHED


def test_verification_unreachable_answers_503(fake_paypal, make_payment, settings):
    client = Client()
    body, headers = fake_paypal.event("CHECKOUT.ORDER.APPROVED", {"id": "X"})
    settings.PAYPAL_TIMEOUT_SECONDS = 0.5  # the next call times out; others keep the generous default
    fake_paypal.slow_once("/v1/notifications", 1.5)
    assert webhook(client, body, headers).status_code == 503
    settings.PAYPAL_TIMEOUT_SECONDS = 5
    assert not WebhookEvent.objects.exists()


def test_refunds_partial_full_and_from_dashboard(fake_paypal, make_payment, tree):
    client = Client()
    payment = make_payment(5000, provider="paypal")
    order_id = start(client, payment)
    fake_paypal.approve(order_id)
    back(client, payment, order_id)
    payment.refresh_from_db()
    refund = refunds_actions.refund_payment(actor=None, payment=payment, amount=Money(1250))
    assert refund.state == "succeeded"
    refunds = fake_paypal.orders[order_id]["purchase_units"][0]["payments"]["refunds"]
    assert refunds[0]["amount"]["value"] == "12.50" and refunds[0]["custom_id"] == str(refund.pk)
    remote = fake_paypal.dashboard_refund(order_id, 750)
    body, headers = fake_paypal.event("PAYMENT.CAPTURE.REFUNDED", remote)
    assert webhook(client, body, headers).status_code == 200
    payment.refresh_from_db()
    assert payment.state == State.PARTIALLY_REFUNDED and payment.refunds.count() == 2
    refunds_actions.refund_payment(actor=None, payment=payment)
    payment.refresh_from_db()
    assert payment.state == State.REFUNDED
    centre = get_account("territory", owner=tree.bologna_centro, territory=tree.bologna_centro)
    assert balance(centre) == Money(0)


def test_dispute_webhook_then_won(fake_paypal, make_payment):
    client = Client()
    payment = make_payment(2000, provider="paypal")
    order_id = start(client, payment)
    fake_paypal.approve(order_id)
    back(client, payment, order_id)
    dispute = fake_paypal.dispute(order_id)
    body, headers = fake_paypal.event("CUSTOMER.DISPUTE.CREATED", dispute)
    webhook(client, body, headers)
    payment.refresh_from_db()
    assert payment.state == State.DISPUTED
    dispute = fake_paypal.dispute(order_id, status="RESOLVED", outcome="RESOLVED_SELLER_FAVOUR")
    body, headers = fake_paypal.event("CUSTOMER.DISPUTE.RESOLVED", dispute)
    webhook(client, body, headers)
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED


def test_capture_timeout_is_reconciled_once(fake_paypal, make_payment, settings):
    client = Client()
    payment = make_payment(2000, provider="paypal")
    order_id = start(client, payment)
    fake_paypal.approve(order_id)
    settings.PAYPAL_TIMEOUT_SECONDS = 0.5  # the next call times out; others keep the generous default
    fake_paypal.slow_once("/v2/checkout/orders", 1.5)
    response = back(client, payment, order_id)
    settings.PAYPAL_TIMEOUT_SECONDS = 5
    assert response["Location"] == reverse("payments:done", args=[payment.token])
    payment.refresh_from_db()
    assert payment.state == State.PENDING
    sync_actions.reconcile_payment(actor=None, payment=payment)
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert len(fake_paypal.completed_captures) == 1


def test_paypal_refuses_recurring(fake_paypal, tree, split_accounts):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="addebiti ricorrenti"):
        recurring_actions.create_recurring(
            actor=None,
            amount=Money(1000),
            allocations=[(split_accounts[0], Money(1000))],
            provider="paypal",
            description="x",
            creation_key="pp-monthly",
        )
