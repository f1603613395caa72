"""The payment page with the sandbox card processor: success, decline, retry, 3DS, timeout."""

from __future__ import annotations

import html

import pytest
from django.core import mail
from django.urls import reverse

from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.queries import balance
from piazza.payments.actions.lifecycle import pay
from piazza.payments.actions.sync import reconcile_payment
from piazza.payments.models import AttemptState, Payment, PaymentEvent, SandboxCharge, State

pytestmark = pytest.mark.usefixtures("check_ledger")

OK = "4242 4242 4242 4242"
DECLINE = "4000 0000 0000 0002"
NO_FUNDS = "4000 0000 0000 9995"
AUTH = "4000 0025 0000 3155"
TIMEOUT = "4000 0000 0000 0077"


def card(number, key="k1"):
    return {"card_number": number, "expiry": "08/29", "cvc": "123", "idempotency_key": key}


def test_success_books_split_and_fee(
    client, make_payment, split_accounts, handler, tree, django_capture_on_commit_callbacks
):
    payment = make_payment(2500)
    url = reverse("payments:pay", args=[payment.token])
    page = client.get(url)
    assert "25,00 €" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, card(OK))
    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    centro, emilia = split_accounts
    assert balance(centro) == Money(2000)
    assert balance(emilia) == Money(500)
    assert balance(get_account("provider_fees", key="sandbox")) == Money(63)  # 1.5% of 25 € + 0,25 €
    assert balance(get_account("provider_clearing", key="sandbox")) == Money(2500 - 63)
    assert handler.calls == [("succeeded", payment.pk)]
    assert len(mail.outbox) == 1 and "i-miei-pagamenti" in mail.outbox[0].body
    done = client.get(response["Location"])
    assert "Pagamento riuscito" in done.content.decode()


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (DECLINE, "Questa carta è stata rifiutata dalla banca. Prova un'altra carta o il bonifico."),
        (NO_FUNDS, "non ci sono fondi sufficienti"),
    ],
)
def test_decline_clear_message_nothing_booked_then_retry(client, make_payment, handler, number, message):
    payment = make_payment(1000)
    url = reverse("payments:pay", args=[payment.token])
    response = client.post(url, card(number, "a1"))
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    payment.refresh_from_db()
    assert payment.state == State.FAILED
    assert not payment.is_booked
    assert handler.calls == [("failed", payment.pk)]
    # The page offers a fresh key: retry with a good card succeeds.
    response = client.post(url, card(OK, "a2"))
    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert payment.attempts.count() == 2


def test_decline_message_in_english(client, make_payment):
    payment = make_payment(1000)
    client.cookies["django_language"] = "en"
    response = client.post(reverse("payments:pay", args=[payment.token]), card(DECLINE), HTTP_ACCEPT_LANGUAGE="en")
    body = html.unescape(response.content.decode())
    assert "This card was declined by the bank. Try another card or a bank transfer." in body


def test_double_submit_same_key_charges_once(client, make_payment):
    payment = make_payment(1500)
    url = reverse("payments:pay", args=[payment.token])
    first = client.post(url, card(OK, "same"))
    second = client.post(url, card(OK, "same"))
    assert first.status_code == second.status_code == 302
    assert SandboxCharge.objects.count() == 1
    assert payment.attempts.count() == 1
    # A paid payment's page does not offer to pay again.
    assert client.get(url).status_code == 302


def test_invalid_card_number_is_a_form_error(client, make_payment):
    payment = make_payment(1000)
    response = client.post(reverse("payments:pay", args=[payment.token]), card("1234 5678 9012 3456"))
    assert "Il numero della carta non è valido" in response.content.decode()
    assert not SandboxCharge.objects.exists()


def test_requires_authentication(client, make_payment):
    payment = make_payment(1000)
    response = client.post(reverse("payments:pay", args=[payment.token]), card(AUTH))
    assert response.status_code == 302 and "/sandbox/3ds/" in response["Location"]
    payment.refresh_from_db()
    assert payment.state == State.PENDING
    auth_page = response["Location"]
    assert "Conferma il pagamento" in client.get(auth_page).content.decode()
    back = client.post(auth_page, {"decision": "approve"})
    assert back.status_code == 302
    client.get(back["Location"])
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED


def test_authentication_refused(client, make_payment):
    payment = make_payment(1000)
    response = client.post(reverse("payments:pay", args=[payment.token]), card(AUTH))
    back = client.post(response["Location"], {"decision": "refuse"})
    client.get(back["Location"])
    payment.refresh_from_db()
    assert payment.state == State.FAILED
    assert "3-D Secure" in payment.failure_message


def test_timeout_stays_pending_and_reconciles_without_second_charge(make_payment, handler):
    payment = make_payment(1000)
    attempt = pay(
        actor=None, payment=payment, client_key="t1", data={"card_number": TIMEOUT.replace(" ", "")}, return_url="/"
    )
    payment.refresh_from_db()
    assert attempt.state == AttemptState.UNKNOWN
    assert payment.state == State.PENDING
    assert PaymentEvent.objects.filter(payment=payment, kind="provider_unreachable").exists()
    # A replayed submission never reaches the processor again.
    pay(actor=None, payment=payment, client_key="t1", data={"card_number": TIMEOUT.replace(" ", "")}, return_url="/")
    reconcile_payment(actor=None, payment=payment)
    reconcile_payment(actor=None, payment=payment)
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert SandboxCharge.objects.count() == 1
    assert handler.calls == [("succeeded", payment.pk)]


def test_sandbox_refused_in_production(settings, make_payment):
    from piazza.payments.providers.registry import get_provider

    payment = make_payment(1000)
    provider = get_provider("sandbox")
    settings.PRODUCTION = True
    with pytest.raises(LookupError):  # not registered in production (issue 10, finding 13)
        get_provider("sandbox")
    assert not provider.is_available()  # and an instance obtained before still refuses to act
    with pytest.raises(RuntimeError, match="production"):
        provider.fetch(payment)


def test_unknown_payment_page_is_404(client, db):
    assert client.get(reverse("payments:pay", args=["nope"])).status_code == 404
    assert Payment.objects.count() == 0
