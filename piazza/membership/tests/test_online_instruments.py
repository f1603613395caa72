"""Rule M24 online (issue 11 item 6): the providers report the instrument, so "no prepaid cards"
and "at most N memberships per card" hold for online joins, before any money moves, and the
shared-instrument anomaly sees online joins.

Each test goes the applicant's way: the application, its status page, the payment link, the
payment page (sandbox card typed there, or PayPal through the method step).
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from piazza.membership.models import AnomalyFlag, FlagKind, MembershipRules, Status
from piazza.membership.payments import start_online_payment
from piazza.membership.views import card_token
from piazza.payments.bank.actions.accounts import register_bank_account
from piazza.payments.models import Payment, SandboxCharge, State
from piazza.payments.tests.fakes.paypal_api import FakePayPal
from piazza.payments.tests.fakes.stripe_api import FakeStripe
from piazza.territory.models import Role
from piazza.territory.testing import make_official

from .conftest import join

pytestmark = pytest.mark.usefixtures("schedule", "check_ledger")

CARD = {"card_number": "4242 4242 4242 4242", "expiry": "12/39", "cvc": "123"}
PREPAID = {**CARD, "card_number": "5105 1051 0510 5100"}


@pytest.fixture
def fake_paypal(settings):
    """PayPal's REST API faked locally (no network), as in the payments tests."""
    with FakePayPal() as fake:
        settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET = fake.client_id, fake.client_secret
        settings.PAYPAL_WEBHOOK_ID, settings.PAYPAL_API_BASE = fake.webhook_id, fake.url
        settings.PAYPAL_TIMEOUT_SECONDS = 5
        yield fake


def _apply(tree, **overrides):
    """An online application and its payment, as the join view makes them; the payment page URL
    is the one the applicant's status page links to."""
    membership = join(tree, **overrides)
    status_url = reverse("membership:status", args=[card_token(membership)])
    start_online_payment(membership, actor=None, return_url=status_url)
    page = Client().get(status_url).content.decode()
    found = re.search(r'href="(/pagamenti/[^"/]+/)"', page)
    assert found is not None, "the status page links to the payment"
    return membership, found.group(1)


def _pay_by_card(client, pay_url, card, key):
    return client.post(pay_url, {"idempotency_key": key, **card})


def test_prepaid_card_refused_before_money_moves_where_the_federation_forbids_it(tree):
    MembershipRules.objects.create(territory=tree.bologna, refuse_prepaid_cards=True)
    membership, pay_url = _apply(tree)
    client = Client()
    refused = _pay_by_card(client, pay_url, PREPAID, "k1")
    assert refused.status_code == 200
    assert "non accetta carte prepagate" in refused.content.decode()
    assert not SandboxCharge.objects.exists()  # the processor was never asked: no money moved
    payment = Payment.objects.get(creation_key=f"membership:{membership.pk}")
    assert not payment.attempts.exists() and payment.state == State.CREATED
    membership.refresh_from_db()
    assert membership.status == Status.APPLIED
    # A named card goes through at once.
    _pay_by_card(client, pay_url, CARD, "k2")
    membership.refresh_from_db()
    assert membership.status == Status.EFFECTIVE and not membership.prepaid_instrument
    assert membership.payer_fingerprint  # from the fingerprint the sandbox reported


def test_prepaid_card_accepted_where_allowed_is_flagged(tree):
    membership, pay_url = _apply(tree)
    _pay_by_card(Client(), pay_url, PREPAID, "k1")
    membership.refresh_from_db()
    assert membership.status == Status.EFFECTIVE and membership.prepaid_instrument
    assert AnomalyFlag.objects.filter(kind=FlagKind.PREPAID_INSTRUMENT, people=membership.person).exists()


def test_a_fourth_membership_with_the_same_card_is_refused(tree):
    client = Client()
    paid = []
    for n in range(3):
        membership, pay_url = _apply(tree)
        _pay_by_card(client, pay_url, CARD, f"k{n}")
        membership.refresh_from_db()
        assert membership.status == Status.EFFECTIVE
        paid.append(membership)
    assert len({m.payer_fingerprint for m in paid}) == 1 and paid[0].payer_fingerprint
    fourth, pay_url = _apply(tree)
    charges = SandboxCharge.objects.count()
    refused = _pay_by_card(client, pay_url, CARD, "k4")
    assert "al massimo 3" in refused.content.decode()
    assert SandboxCharge.objects.count() == charges
    fourth.refresh_from_db()
    assert fourth.status == Status.APPLIED
    # Another card of their own is fine.
    _pay_by_card(client, pay_url, {**CARD, "card_number": "4000 0566 5566 5556"}, "k5")
    fourth.refresh_from_db()
    assert fourth.status == Status.EFFECTIVE


def test_the_limit_is_the_federations_parameter(tree):
    MembershipRules.objects.create(territory=tree.bologna, max_per_instrument=1)
    client = Client()
    _first, pay_url = _apply(tree)
    _pay_by_card(client, pay_url, CARD, "k1")
    second, pay_url = _apply(tree)
    assert "al massimo 1" in _pay_by_card(client, pay_url, CARD, "k2").content.decode()
    second.refresh_from_db()
    assert second.status == Status.APPLIED


def test_the_shared_instrument_anomaly_sees_online_joins(tree):
    client = Client()
    people = []
    for n in range(2):
        membership, pay_url = _apply(tree)
        _pay_by_card(client, pay_url, CARD, f"k{n}")
        people.append(membership.person_id)
    flag = AnomalyFlag.objects.get(kind=FlagKind.SHARED_INSTRUMENT)
    assert sorted(flag.people.values_list("pk", flat=True)) == sorted(people)
    assert flag.evidence["count"] == 2


def test_join_paid_by_paypal_then_the_same_account_refused_before_capture(tree, fake_paypal):
    MembershipRules.objects.create(territory=tree.bologna, max_per_instrument=1)
    client = Client()
    first, pay_url = _apply(tree)
    step = client.get(pay_url)
    assert step.status_code == 302 and step["Location"].endswith("/metodo/")
    page = client.get(step["Location"])
    assert [m.kind for m in page.context["offered"]] == ["card", "paypal"]
    response = client.post(step["Location"], {"idempotency_key": "pp1", "method": "paypal"})
    payment = Payment.objects.get(creation_key=f"membership:{first.pk}")
    order_id = payment.attempts.get().provider_reference
    assert response["Location"].endswith(f"token={order_id}")
    fake_paypal.approve(order_id, payer_id="PAYERMARIO")
    client.get(reverse("payments:return", args=[payment.token]), {"token": order_id, "PayerID": "PAYERMARIO"})
    first.refresh_from_db()
    assert first.status == Status.EFFECTIVE and first.payment_method == "paypal" and first.payer_fingerprint

    second, pay_url = _apply(tree)
    step = client.get(pay_url)
    client.post(step["Location"], {"idempotency_key": "pp2", "method": "paypal"})
    payment = Payment.objects.get(creation_key=f"membership:{second.pk}")
    order_id = payment.attempts.get().provider_reference
    fake_paypal.approve(order_id, payer_id="PAYERMARIO")  # the same PayPal account again
    # PayPal's "order approved" notification may come before the payer: it captures nothing.
    body, headers = fake_paypal.event("CHECKOUT.ORDER.APPROVED", fake_paypal.orders[order_id])
    assert (
        client.post(
            reverse("payments:webhook", args=["paypal"]), body, content_type="application/json", **headers
        ).status_code
        == 200
    )
    assert len(fake_paypal.completed_captures) == 1
    for _reload in range(2):  # the return page, then a reload of it: never a capture
        back = client.get(
            reverse("payments:return", args=[payment.token]), {"token": order_id, "PayerID": "PAYERMARIO"}
        )
        assert back["Location"] == reverse("payments:pay", args=[payment.token])
    assert len(fake_paypal.completed_captures) == 1  # never captured: no money moved
    assert "al massimo 1" in client.get(back["Location"]).content.decode()
    payment.refresh_from_db()
    second.refresh_from_db()
    assert payment.state == State.FAILED and second.status == Status.APPLIED


def test_a_fee_offers_sepa_direct_debit_where_there_is_a_creditor_a_donation_does_not(tree):
    """Membership fees are yearly: SEPA DD (the mandate flow) is offered next to card and transfer,
    in a territory whose federation has a bank account with a SEPA creditor id (Bologna)."""
    treasurer = make_official("anna.tesoriera", tree.bologna, [Role.TREASURY])
    register_bank_account(
        actor=treasurer,
        territory=tree.bologna,
        name="PD Federazione di Bologna",
        iban="IT60X0542811101000000123456",
        creditor_id="IT66ZZZA1B2C3D4E5F6G7H8",
    )
    client = Client()
    _membership, pay_url = _apply(tree)
    step = client.get(pay_url)
    page = client.get(step["Location"])
    assert [m.kind for m in page.context["offered"]] == ["card", "bank_transfer", "sepa_dd"]
    response = client.post(step["Location"], {"idempotency_key": "s1", "method": "sepa_dd"})
    assert response["Location"] == pay_url  # the mandate is signed on the payment page
    assert "debtor_iban" in client.get(pay_url).context["form"].fields


@pytest.fixture
def fake_stripe(settings):
    """Stripe's API faked locally (no network), as in the payments tests."""
    with FakeStripe() as fake:
        settings.STRIPE_SECRET_KEY, settings.STRIPE_PUBLISHABLE_KEY = "sk_test_fake", "pk_test_fake"
        settings.STRIPE_WEBHOOK_SECRET, settings.STRIPE_API_BASE = fake.webhook_secret, fake.url
        settings.STRIPE_TIMEOUT_SECONDS = 5
        yield fake


def test_stripe_prepaid_card_is_only_authorised_then_released_where_the_federation_refuses_it(tree, fake_stripe):
    """Stripe.js takes the card, so the fee is only authorised (manual capture): the card's
    funding type is checked before the capture, and a refused card's hold is cancelled."""
    MembershipRules.objects.create(territory=tree.bologna, refuse_prepaid_cards=True)
    membership, pay_url = _apply(tree)
    client = Client()
    payment = Payment.objects.get(creation_key=f"membership:{membership.pk}")
    started = client.post(pay_url, {"idempotency_key": "st1"})
    assert started["Location"] == reverse("payments:stripe_checkout", args=[payment.token])
    intent = payment.attempts.get().provider_reference
    fake_stripe.confirm(intent, "pm_card_mastercard_prepaid")  # what Stripe.js does
    assert fake_stripe.intents[intent]["status"] == "requires_capture"
    back = client.get(reverse("payments:return", args=[payment.token]))
    assert back["Location"] == pay_url
    assert "non accetta carte prepagate" in client.get(pay_url).content.decode()
    assert fake_stripe.intents[intent]["status"] == "canceled"  # the hold is released, nothing captured
    client.get(reverse("payments:return", args=[payment.token]))  # a reload captures nothing either
    body, signature = fake_stripe.event("payment_intent.canceled", fake_stripe.intents[intent])
    assert (
        client.post(
            reverse("payments:webhook", args=["stripe"]),
            body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        ).status_code
        == 200
    )  # our own cancel, notified
    membership.refresh_from_db()
    payment.refresh_from_db()
    assert membership.status == Status.APPLIED and payment.state == State.FAILED
    # A named card: authorised, checked, captured.
    client.post(pay_url, {"idempotency_key": "st2"})
    second = payment.attempts.get(client_key="st2").provider_reference
    fake_stripe.confirm(second, "pm_card_visa")
    client.get(reverse("payments:return", args=[payment.token]))
    payment.refresh_from_db()
    membership.refresh_from_db()
    assert fake_stripe.intents[second]["status"] == "succeeded" and payment.state == State.SUCCEEDED
    assert membership.status == Status.EFFECTIVE and membership.payer_fingerprint
