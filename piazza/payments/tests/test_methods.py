"""The method step (issue 11 item 1) and the instrument each provider reports (item 6).

Visibility per territory: the bank rails need a party bank account at or above the payment's
territory (the Bologna federation has one, Milano none); PayPal and Stripe need their keys; a
treasurer turns a rail off for a subtree (`PaymentMethodSetting`, nearest territory decides).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from piazza.core.models import AuditEntry
from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions import methods as methods_actions
from piazza.payments.actions import sync as sync_actions
from piazza.payments.bank.actions import accounts as accounts_bank_actions
from piazza.payments.bank.models import ExpectedTransfer
from piazza.payments.bank.references import format_reference
from piazza.payments.bank.tests.conftest import CREDITOR_ID, OUR_IBAN
from piazza.payments.methods import offered_methods
from piazza.payments.models import AttemptState, Payment, SandboxCharge, State
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.usefixtures("check_ledger")

CARD = {"card_number": "4242424242424242", "expiry": "12/39", "cvc": "123"}


@pytest.fixture
def bank(tree):
    """The Bologna federation's bank account (with a SEPA creditor id); Milano has none."""
    treasurer = make_official("anna.tesoriera", tree.bologna, [Role.TREASURY])
    return accounts_bank_actions.register_bank_account(
        actor=treasurer,
        territory=tree.bologna,
        name="PD Federazione di Bologna",
        iban=OUR_IBAN,
        creditor_id=CREDITOR_ID,
    )


@pytest.fixture
def stepped(make_payment):
    """A payment whose flow left the choice to the payer (as donations and joins do)."""
    return lambda cents=2500, **extra: make_payment(cents, metadata={"method_step": True}, **extra)


def _milano_payment(tree, cents=2500):
    amount = Money(cents)
    account = get_account("territory", owner=tree.milano, territory=tree.milano)
    return lifecycle_actions.create_payment(
        actor=None,
        amount=amount,
        allocations=[(account, amount)],
        provider="sandbox",
        description="Donazione",
        creation_key=f"milano:{cents}",
        payable=tree.milano,
        payer_name="Luca Bianchi",
        payer_email="luca@example.org",
        territory=tree.milano,
        metadata={"method_step": True},
    )


def _kinds(page) -> list[str]:
    return [m.kind for m in page.context["offered"]]


def test_the_step_offers_what_the_territory_has(bank, fake_paypal, tree, stepped):
    client = Client()
    payment = stepped()
    response = client.get(reverse("payments:pay", args=[payment.token]))
    assert response.status_code == 302 and response["Location"] == reverse(
        "payments:choose_method", args=[payment.token]
    )
    page = client.get(response["Location"])
    assert _kinds(page) == ["card", "paypal", "bank_transfer"]  # SEPA DD only where the payable allows it
    html = page.content.decode()
    assert 'type="radio" name="method" value="bank_transfer"' in html and "<legend>" in html
    # Milano has no party bank account above it: no bank transfer there.
    assert _kinds(client.get(reverse("payments:choose_method", args=[_milano_payment(tree).token]))) == [
        "card",
        "paypal",
    ]


def test_a_territory_turns_a_rail_off_for_its_subtree_and_a_circolo_back_on(bank, fake_paypal, tree, stepped):
    treasurer = make_official("tes.bo", tree.bologna, [Role.TREASURY])
    payment = stepped()
    methods_actions.set_territory_method(actor=treasurer, territory=tree.bologna, provider="paypal", enabled=False)
    assert [m.kind for m in offered_methods(payment)] == ["card", "bank_transfer"]
    assert [m.kind for m in offered_methods(_milano_payment(tree))] == ["card", "paypal"]  # another federation
    circolo_treasurer = make_official("tes.centro", tree.bologna_centro, [Role.TREASURY])
    methods_actions.set_territory_method(
        actor=circolo_treasurer, territory=tree.bologna_centro, provider="paypal", enabled=True
    )
    assert [m.kind for m in offered_methods(payment)] == ["card", "paypal", "bank_transfer"]


def test_bad_input_rail_setting_out_of_scope_or_unknown(tree):
    outsider = make_official("tes.mi", tree.milano, [Role.TREASURY])
    with pytest.raises(PermissionDenied):
        methods_actions.set_territory_method(actor=outsider, territory=tree.bologna, provider="paypal", enabled=False)
    treasurer = make_official("tes.bo", tree.bologna, [Role.TREASURY])
    with pytest.raises(ValidationError) as refused:
        methods_actions.set_territory_method(actor=treasurer, territory=tree.bologna, provider="bitcoin", enabled=True)
    assert "sconosciuto" in str(refused.value)
    assert not tree.bologna.payment_methods.exists()


def test_with_one_method_there_is_no_step(stepped):
    client = Client()
    payment = stepped()  # only the sandbox card is configured
    page = client.get(reverse("payments:pay", args=[payment.token]))
    assert page.status_code == 200 and "card_number" in page.context["form"].fields
    assert "change-method" not in page.content.decode()
    assert client.get(reverse("payments:choose_method", args=[payment.token]))["Location"] == reverse(
        "payments:pay", args=[payment.token]
    )


def test_a_flow_that_imposes_a_rail_gets_no_step(bank, make_payment):
    payment = make_payment(provider="sandbox")  # no "method_step": e.g. a one-click gift
    assert Client().get(reverse("payments:pay", args=[payment.token])).status_code == 200


def test_donor_chooses_bank_transfer_and_gets_iban_rf_and_qr(bank, stepped):
    client = Client()
    payment = stepped()
    page = client.get(reverse("payments:choose_method", args=[payment.token]))
    key = page.context["form"].initial["idempotency_key"]
    response = client.post(
        reverse("payments:choose_method", args=[payment.token]), {"idempotency_key": key, "method": "bank_transfer"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("bank:pay_by_transfer", args=[payment.token])
    payment.refresh_from_db()
    assert payment.provider == "bank_transfer" and payment.state == State.PENDING  # until the CAMT import
    expected = ExpectedTransfer.objects.get(payment=payment)
    html = client.get(response["Location"]).content.decode()
    assert OUR_IBAN in html and format_reference(expected.reference) in html and "<svg" in html
    assert AuditEntry.objects.filter(action="payments.choose_method").exists()
    # The same submit again (a double tap) starts nothing new.
    client.post(
        reverse("payments:choose_method", args=[payment.token]), {"idempotency_key": key, "method": "bank_transfer"}
    )
    assert ExpectedTransfer.objects.filter(payment=payment).count() == 1 and payment.attempts.count() == 1


def test_bad_input_a_method_not_offered_is_refused_and_nothing_changes(bank, stepped):
    client = Client()
    payment = stepped()
    response = client.post(
        reverse("payments:choose_method", args=[payment.token]), {"idempotency_key": "k1", "method": "sepa_dd"}
    )  # not for this payable
    assert response.status_code == 400 and "non è disponibile" in response.content.decode()
    response = client.post(reverse("payments:choose_method", args=[payment.token]), {"idempotency_key": "k2"})
    assert response.status_code == 400 and "Scegli come vuoi pagare" in response.content.decode()
    with pytest.raises(ValidationError):
        methods_actions.choose_method(actor=None, payment=payment, method="paypal")  # PayPal is not configured
    payment.refresh_from_db()
    assert payment.provider == "sandbox" and not payment.attempts.exists()


def test_no_switch_while_a_charge_is_in_flight(bank, stepped):
    client = Client()
    payment = stepped()
    client.post(
        reverse("payments:choose_method", args=[payment.token]), {"idempotency_key": "k1", "method": "bank_transfer"}
    )
    with pytest.raises(ValidationError) as refused:
        methods_actions.choose_method(actor=None, payment=payment, method="card")
    assert "già in corso" in str(refused.value)
    payment.refresh_from_db()
    assert payment.provider == "bank_transfer"


def test_a_failed_card_can_switch_to_transfer(bank, stepped):
    client = Client()
    payment = stepped()
    client.post(reverse("payments:choose_method", args=[payment.token]), {"idempotency_key": "k1", "method": "card"})
    declined = client.post(
        reverse("payments:pay", args=[payment.token]),
        {"idempotency_key": "k2", **CARD, "card_number": "4000000000000002"},
    )
    assert declined.status_code == 200 and 'id="change-method"' in declined.content.decode()
    response = client.post(
        reverse("payments:choose_method", args=[payment.token]), {"idempotency_key": "k3", "method": "bank_transfer"}
    )
    assert response["Location"] == reverse("bank:pay_by_transfer", args=[payment.token])


def test_paypal_chosen_in_the_step_reports_the_payer(fake_paypal, stepped, handler):
    client = Client()
    payment = stepped()
    response = client.post(
        reverse("payments:choose_method", args=[payment.token]), {"idempotency_key": "k1", "method": "paypal"}
    )
    order_id = payment.attempts.get().provider_reference
    assert response["Location"] == f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}"
    fake_paypal.approve(order_id, payer_id="PAYERGIULIA")
    client.get(reverse("payments:return", args=[payment.token]), {"token": order_id, "PayerID": "PAYERGIULIA"})
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED and payment.provider == "paypal"
    assert payment.metadata["instrument_fingerprint"] == "paypal:PAYERGIULIA"  # item 6: PayPal's payer id
    assert payment.metadata["prepaid"] is False
    assert handler.calls == [("succeeded", payment.pk)]


def test_sandbox_reports_a_deterministic_fingerprint_and_the_funding(make_payment):
    client = Client()
    first, second, prepaid = make_payment(1000), make_payment(2000), make_payment(3000)
    for payment, number in (
        (first, CARD["card_number"]),
        (second, CARD["card_number"]),
        (prepaid, "5105 1051 0510 5100"),
    ):
        client.post(
            reverse("payments:pay", args=[payment.token]),
            {"idempotency_key": f"k{payment.pk}", **CARD, "card_number": number},
        )
        payment.refresh_from_db()
        assert payment.state == State.SUCCEEDED
    assert first.metadata["instrument_fingerprint"] == second.metadata["instrument_fingerprint"]
    assert first.metadata["instrument_fingerprint"].startswith("sandbox:sbfp_")
    assert first.metadata["funding"] == "credit" and first.metadata["prepaid"] is False
    assert prepaid.metadata["prepaid"] is True and prepaid.metadata["funding"] == "prepaid"
    assert prepaid.metadata["instrument_fingerprint"] != first.metadata["instrument_fingerprint"]
    assert "4242" not in first.metadata["instrument_fingerprint"]  # never the number
    assert SandboxCharge.objects.filter(funding="prepaid").count() == 1


def test_sandbox_fingerprint_survives_reconciliation(make_payment):
    """The answer lost (timeout card): the re-fetch reports the instrument too."""
    client = Client()
    payment = make_payment()
    client.post(
        reverse("payments:pay", args=[payment.token]),
        {"idempotency_key": "k1", **CARD, "card_number": "4000000000000077"},
    )
    payment.refresh_from_db()
    assert payment.state == State.PENDING and payment.attempts.get().state == AttemptState.UNKNOWN
    sync_actions.reconcile_payment(actor=None, payment=payment)
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED and payment.metadata["instrument_fingerprint"].startswith("sandbox:")


def test_stripe_reports_card_fingerprint_and_funding(fake_stripe, make_payment):
    client = Client()
    payment = make_payment(provider="stripe")
    client.post(reverse("payments:pay", args=[payment.token]), {"idempotency_key": "k1"})
    intent = payment.attempts.get().provider_reference
    fake_stripe.confirm(intent, "pm_card_mastercard_prepaid")
    client.get(reverse("payments:return", args=[payment.token]))
    payment = Payment.objects.get(pk=payment.pk)
    assert payment.state == State.SUCCEEDED
    assert payment.metadata["instrument_fingerprint"].startswith("stripe:")
    assert payment.metadata["prepaid"] is True and payment.metadata["funding"] == "prepaid"


def test_a_treasurer_turns_a_method_off_from_the_back_office(bank, fake_paypal, tree, stepped):
    """Issue 11 item 1, built means reachable: the page under Tesoreria → Metodi di pagamento."""
    treasurer = make_official("tes.bo", tree.bologna, [Role.TREASURY])
    client = verified_client(treasurer)
    url = reverse("payments:treasury_methods")
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "PayPal" in body and "Non offrire" in body and 'data-provider="paypal"' in body
    answer = client.post(url, {"territorio": tree.bologna.pk, "provider": "paypal", "enabled": "0"})
    assert answer.status_code == 302
    assert [m.kind for m in offered_methods(stepped())] == ["card", "bank_transfer"]
    assert AuditEntry.objects.filter(action="payments.set_territory_method", data__provider="paypal").exists()
    # a territory outside the treasurer's scope cannot be chosen: the page falls back to their own
    client.post(url, {"territorio": tree.milano.pk, "provider": "paypal", "enabled": "0"})
    assert not tree.milano.payment_methods.exists()
    # an unknown method is refused with words and nothing is written
    refused = client.post(url, {"territorio": tree.bologna.pk, "provider": "bitcoin", "enabled": "1"}, follow=True)
    assert "sconosciuto" in refused.content.decode()
    assert not tree.bologna.payment_methods.filter(provider="bitcoin").exists()


def test_the_methods_page_is_for_treasurers_only(tree):
    secretary = make_official("seg.centro", tree.bologna_centro, [Role.MEMBERSHIP])
    assert verified_client(secretary).get(reverse("payments:treasury_methods")).status_code in (403, 404)
