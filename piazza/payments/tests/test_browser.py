"""Journey (a donor on the payment page, sandbox cards): a card that succeeds; one that is
declined, with a clear message and a retry with another card; a double click on "Pay" that
charges once. The books are checked at the end of each."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.checks import run_checks
from piazza.payments.actions.lifecycle import create_payment
from piazza.payments.models import Payment, SandboxCharge, State
from piazza.territory.testing import build_tree
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 15_000


def _payment(cents: int = 2500) -> Payment:
    tree = build_tree()
    amount = Money(cents)
    accounts = (
        get_account("territory", owner=tree.bologna_centro, territory=tree.bologna_centro),
        get_account("territory", owner=tree.emilia, territory=tree.emilia),
    )
    return create_payment(
        actor=None,
        amount=amount,
        allocations=list(zip(accounts, amount.allocate([80, 20]), strict=True)),
        provider="sandbox",
        description="Donazione alla festa",
        creation_key=f"browser:{cents}",
        payer_name="Giulia Rossi",
        payer_email="giulia@example.org",
        territory=tree.bologna_centro,
    )


def _card(page, number: str) -> None:
    page.get_by_label("Numero della carta").fill(number)
    page.get_by_label("Scadenza (MM/AA)").fill("12/39")
    page.get_by_label("Codice di sicurezza (CVC)").fill("123")


def _charges(payment: Payment) -> int:
    keys = [a.provider_key for a in payment.attempts.all()]
    return SandboxCharge.objects.filter(idempotency_key__in=keys, outcome="succeeded").count()


def test_card_that_succeeds(page):
    payment = _payment()
    page.goto(f"/pagamenti/{payment.token}/")
    expect(page.locator("#amount")).to_have_text("25,00 €")
    assert_accessible(page)
    _card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Paga 25,00 €").click()
    expect(page.locator("#outcome")).to_have_text("Grazie! Pagamento riuscito", timeout=WAIT)
    assert_accessible(page)
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED and _charges(payment) == 1
    assert run_checks() == []


def test_declined_card_then_another_card(page):
    payment = _payment(4000)
    page.goto(f"/pagamenti/{payment.token}/")
    _card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Paga 40,00 €").click()
    error = page.get_by_role("alert")
    expect(error).to_contain_text("Questa carta è stata rifiutata dalla banca", timeout=WAIT)
    assert_accessible(page)  # the error state (issue 11 item 19)
    payment.refresh_from_db()
    assert payment.state == State.FAILED and _charges(payment) == 0
    assert run_checks() == []  # nothing booked for a declined card

    # The form is ready for another card (a fresh key: a new attempt, not a replay).
    _card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Paga 40,00 €").click()
    expect(page.locator("#outcome")).to_have_text("Grazie! Pagamento riuscito", timeout=WAIT)
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED and _charges(payment) == 1
    assert payment.attempts.count() == 2
    assert run_checks() == []


def test_double_click_on_pay_charges_once(page):
    payment = _payment(1500)
    page.goto(f"/pagamenti/{payment.token}/")
    _card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile("Paga")).dblclick()
    expect(page.locator("#outcome")).to_have_text("Grazie! Pagamento riuscito", timeout=WAIT)
    payment.refresh_from_db()
    assert payment.attempts.count() == 1 and _charges(payment) == 1
    assert run_checks() == []


def test_double_submit_without_javascript_charges_once(browser, live_server):
    """Even with the page's script off, the form's one-time key makes a second POST a replay."""
    payment = _payment(1800)
    context = browser.new_context(base_url=live_server.url, locale="it-IT", java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"/pagamenti/{payment.token}/")
        _card(page, "4242 4242 4242 4242")
        form = page.locator("form[data-pay-form]")
        data = {
            field.get_attribute("name"): field.input_value()
            for field in form.locator("input").all()
            if field.get_attribute("name")
        }
        url = f"/pagamenti/{payment.token}/"
        first = page.request.post(url, form=data)
        second = page.request.post(url, form=data)
        assert first.ok and second.ok
    finally:
        context.close()
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert payment.attempts.count() == 1 and _charges(payment) == 1
    assert run_checks() == []
