"""Webhooks, refunds, disputes, recurring charges and bad input, on the sandbox provider."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry
from piazza.core.money import Money
from piazza.ledger.accounts import get_account
from piazza.ledger.checks import run_checks
from piazza.ledger.queries import balance
from piazza.payments import links
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions import recurring as recurring_actions
from piazza.payments.actions import refunds as refunds_actions
from piazza.payments.actions import sync as sync_actions
from piazza.payments.models import (
    Payment,
    RecurringSchedule,
    SandboxCharge,
    ScheduleState,
    State,
    WebhookEvent,
    WebhookStatus,
)
from piazza.payments.providers.registry import get_provider as _get_provider
from piazza.payments.providers.sandbox import SandboxProvider
from piazza.payments.tasks import run_due_charges


def get_provider(identifier: str) -> SandboxProvider:
    provider = _get_provider(identifier)
    assert isinstance(provider, SandboxProvider)
    return provider


pytestmark = pytest.mark.usefixtures("check_ledger")
OK = "4242424242424242"


def paid(make_payment, cents=2500, key="k", card=OK, **extra):
    payment = make_payment(cents, **extra)
    lifecycle_actions.pay(
        actor=None, payment=payment, client_key=f"{key}-{payment.pk}", data={"card_number": card}, return_url="/"
    )
    payment.refresh_from_db()
    return payment


def post_webhook(client, body, signature):
    return client.post(
        reverse("payments:webhook", args=["sandbox"]),
        body,
        content_type="application/json",
        HTTP_SANDBOX_SIGNATURE=signature,
    )


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (Money(0), "amount_not_positive"),
        (Money(-500), "amount_not_positive"),
        (12.5, "not_money"),
    ],
)
def test_bad_amounts_refused(tree, split_accounts, amount, code):
    with pytest.raises(ValidationError):
        lifecycle_actions.create_payment(
            actor=None,
            amount=amount,
            allocations=[(split_accounts[0], Money(100))],
            provider="sandbox",
            description="x",
            creation_key=f"bad:{code}",
        )
    assert not Payment.objects.exists()
    assert AuditEntry.objects.filter(kind="denied", data__code=code).exists()


def test_currency_mismatch_and_bad_split_refused(tree, split_accounts):
    with pytest.raises(ValidationError, match="Valute diverse"):
        lifecycle_actions.create_payment(
            actor=None,
            amount=Money(100, "USD"),
            allocations=[(split_accounts[0], Money(100, "USD"))],
            provider="sandbox",
            description="x",
            creation_key="usd",
        )
    with pytest.raises(ValidationError, match="non corrispondono"):
        lifecycle_actions.create_payment(
            actor=None,
            amount=Money(100),
            allocations=[(split_accounts[0], Money(90))],
            provider="sandbox",
            description="x",
            creation_key="split",
        )
    with pytest.raises(ValidationError, match="sconosciuto"):
        lifecycle_actions.create_payment(
            actor=None,
            amount=Money(100),
            allocations=[(split_accounts[0], Money(100))],
            provider="bitcoin",
            description="x",
            creation_key="prov",
        )
    assert not Payment.objects.exists()


def test_creation_is_idempotent(make_payment, tree, split_accounts):
    first = lifecycle_actions.create_payment(
        actor=None,
        amount=Money(100),
        allocations=[(split_accounts[0], Money(100))],
        provider="sandbox",
        description="x",
        creation_key="same",
    )
    again = lifecycle_actions.create_payment(
        actor=None,
        amount=Money(100),
        allocations=[(split_accounts[0], Money(100))],
        provider="sandbox",
        description="x",
        creation_key="same",
    )
    assert first.pk == again.pk


# --- webhooks -------------------------------------------------------------------------------


def test_wrong_signature_400_logged_nothing_applied(client, make_payment):
    payment = make_payment(1000)
    body, _sig = SandboxProvider.webhook_body("charge.succeeded", "sbch_x", payment_id=str(payment.pk))
    response = post_webhook(client, body, "0" * 64)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert AuditEntry.objects.filter(action="payments.webhook_refused").exists()
    payment.refresh_from_db()
    assert payment.state == State.CREATED


def test_unknown_payment_stored_and_flagged(client, db):
    body, sig = SandboxProvider.webhook_body("charge.succeeded", "sbch_nobody", event_id="evt_1")
    assert post_webhook(client, body, sig).status_code == 200
    event = WebhookEvent.objects.get(event_id="evt_1")
    assert event.status == WebhookStatus.UNMATCHED
    assert "sbch_nobody" in event.error
    assert post_webhook(client, body, sig).status_code == 200  # duplicate: 200, still one row
    assert WebhookEvent.objects.count() == 1


def test_out_of_order_refund_before_success(client, make_payment, split_accounts, handler):
    """The refund notice arrives first: the re-fetch applies success, then the refund."""
    payment = make_payment(1000)
    provider = get_provider("sandbox")
    # The charge succeeded at the processor but our browser flow never heard back.
    provider._record(f"piazza-payment-{payment.pk}-attempt-1", payment, OK, "succeeded", False)
    lifecycle_actions.begin_attempt(actor=None, payment=payment, client_key="lost")
    charge = SandboxCharge.objects.get()
    provider.simulate_refund(charge.reference, 400)
    body, sig = SandboxProvider.webhook_body(
        "refund.created", charge.reference, event_id="evt_refund", payment_id=str(payment.pk)
    )
    assert post_webhook(client, body, sig).status_code == 200
    payment.refresh_from_db()
    assert payment.state == State.PARTIALLY_REFUNDED
    assert [c[0] for c in handler.calls] == ["succeeded", "refunded"]
    assert balance(split_accounts[0]) + balance(split_accounts[1]) == Money(600)
    body, sig = SandboxProvider.webhook_body("charge.succeeded", charge.reference, event_id="evt_ok")
    assert post_webhook(client, body, sig).status_code == 200  # late success: nothing more
    assert payment.refunds.count() == 1


# --- refunds and disputes ---------------------------------------------------------------------


def test_partial_then_full_refund_reverses_split(make_payment, split_accounts, handler):
    payment = paid(make_payment, 1001)
    centro, emilia = split_accounts
    assert (balance(centro), balance(emilia)) == (Money(801), Money(200))
    refunds_actions.refund_payment(actor=None, payment=payment, amount=Money(333), reason="errore")
    payment.refresh_from_db()
    assert payment.state == State.PARTIALLY_REFUNDED
    with pytest.raises(ValidationError, match="al massimo 6,68 €"):
        refunds_actions.refund_payment(actor=None, payment=payment, amount=Money(669))
    refunds_actions.refund_payment(actor=None, payment=payment)
    payment.refresh_from_db()
    assert payment.state == State.REFUNDED
    assert (balance(centro), balance(emilia)) == (Money(0), Money(0))
    with pytest.raises(ValidationError, match="solo un pagamento riuscito"):
        refunds_actions.refund_payment(actor=None, payment=payment, amount=Money(1))


def test_refund_bad_input(make_payment):
    payment = make_payment(1000)
    with pytest.raises(ValidationError, match="solo un pagamento riuscito"):
        refunds_actions.refund_payment(actor=None, payment=payment, amount=Money(100))
    payment = paid(make_payment, 1000, key="r")
    with pytest.raises(ValidationError, match="maggiore di zero"):
        refunds_actions.refund_payment(actor=None, payment=payment, amount=Money(0))
    with pytest.raises(ValidationError, match="EUR"):
        refunds_actions.refund_payment(actor=None, payment=payment, amount=Money(100, "USD"))


def test_refund_needs_treasury_of_the_territory(make_payment, tree):
    from piazza.territory.models import Role
    from piazza.territory.testing import make_official

    payment = paid(make_payment, 1000)
    outsider = make_official("tesoriere.modena", tree.modena, [Role.TREASURY])
    with pytest.raises(Exception, match="tesoreria"):
        refunds_actions.refund_payment(actor=outsider, payment=payment)
    treasurer = make_official("tesoriere.bologna", tree.bologna, [Role.TREASURY])
    refunds_actions.refund_payment(actor=treasurer, payment=payment)


def test_dispute_lost_and_won(make_payment, split_accounts, handler):
    provider = get_provider("sandbox")
    lost = paid(make_payment, 2000, key="l")
    won = paid(make_payment, 3000, key="w")
    for payment in (lost, won):
        dispute_id = provider.simulate_dispute(payment.provider_reference, status="open", fee_cents=1500)
        sync_actions.reconcile_payment(actor=None, payment=payment)
        payment.refresh_from_db()
        assert payment.state == State.DISPUTED
        payment.dispute_id = dispute_id
    assert balance(split_accounts[0]) == Money(0)
    provider.simulate_dispute(lost.provider_reference, status="lost", dispute_id=lost.dispute_id)
    provider.simulate_dispute(won.provider_reference, status="won", dispute_id=won.dispute_id)
    sync_actions.reconcile_payment(actor=None, payment=lost)
    sync_actions.reconcile_payment(actor=None, payment=won)
    lost.refresh_from_db()
    won.refresh_from_db()
    assert lost.state == State.CHARGED_BACK
    assert won.state == State.SUCCEEDED
    assert balance(split_accounts[0]) == Money(2400)  # 80% of the won 30 €
    assert balance(get_account("disputes", key="sandbox")) == Money(3000)  # two 15 € fees


# --- recurring ----------------------------------------------------------------------------------


def _recurring(tree, split_accounts, card=OK, email="marta@example.org"):
    schedule, first = recurring_actions.create_recurring(
        actor=None,
        amount=Money(1000),
        allocations=[(split_accounts[0], Money(800)), (split_accounts[1], Money(200))],
        provider="sandbox",
        description="Donazione mensile",
        creation_key=f"rec:{email}:{card}",
        payable=tree.bologna_centro,
        payer_name="Marta",
        payer_email=email,
        territory=tree.bologna_centro,
    )
    lifecycle_actions.pay(
        actor=None, payment=first, client_key=f"first-{schedule.pk}", data={"card_number": card}, return_url="/"
    )
    schedule.refresh_from_db()
    return schedule


def _make_due(schedule):
    RecurringSchedule.objects.filter(pk=schedule.pk).update(next_charge_on=timezone.localdate(), retry_at=None)


def test_recurring_charges_once_per_cycle(tree, split_accounts, handler):
    schedule = _recurring(tree, split_accounts)
    assert schedule.saved_method is not None
    assert run_due_charges.call() == 0  # nothing due yet
    _make_due(schedule)
    assert run_due_charges.call() == 1
    assert run_due_charges.call() == 0  # safe to run twice
    schedule.refresh_from_db()
    assert schedule.cycle == 3 and schedule.next_charge_on > timezone.localdate()
    assert Payment.objects.filter(schedule=schedule, state=State.SUCCEEDED).count() == 2
    assert balance(split_accounts[0]) == Money(1600)


def test_recurring_failures_back_off_then_pause(tree, split_accounts, mailoutbox, django_capture_on_commit_callbacks):
    schedule = _recurring(tree, split_accounts, card="4000000000000341")
    for expected in (1, 2, 3):
        _make_due(schedule)
        with django_capture_on_commit_callbacks(execute=True):
            run_due_charges.call()
        schedule.refresh_from_db()
        assert schedule.failure_count == expected
        assert schedule.state == ScheduleState.ACTIVE
        assert schedule.retry_at > timezone.now() + timedelta(hours=23)
    _make_due(schedule)
    with django_capture_on_commit_callbacks(execute=True):
        run_due_charges.call()
    schedule.refresh_from_db()
    assert schedule.state == ScheduleState.PAUSED
    assert Payment.objects.filter(schedule=schedule, state=State.FAILED).count() == 1  # one cycle, retried
    assert "sospeso" in mailoutbox[-1].body
    assert "/pagamenti/ricorrenti/annulla/" in mailoutbox[-1].body


def test_one_click_cancel_from_signed_link(client, tree, split_accounts, handler):
    schedule = _recurring(tree, split_accounts)
    url = links.cancel_schedule_url(schedule.token).split("testserver")[-1].replace("http://127.0.0.1:8000", "")
    page = client.get(url)
    assert "Annulla la donazione" in page.content.decode()
    schedule.refresh_from_db()
    assert schedule.state == ScheduleState.ACTIVE  # opening the link (or a mail scanner) changes nothing
    client.post(url)
    schedule.refresh_from_db()
    assert schedule.state == ScheduleState.CANCELED
    assert ("schedule_canceled", schedule.pk) in handler.calls
    assert client.get(url.replace("annulla/", "annulla/x")).status_code == 403
    _make_due(schedule)
    assert run_due_charges.call() == 0


def test_cancel_page_is_a_single_button_with_no_fields(client, tree, split_accounts):
    """ADR 0012: the link's page changes nothing; one button, nothing to fill in, idempotent."""
    import re

    schedule = _recurring(tree, split_accounts)
    url = links.cancel_schedule_url(schedule.token).replace("http://127.0.0.1:8000", "")
    body = client.get(url).content.decode()
    form = re.search(r"<form method=\"post\">(.*?)</form>", body, re.S)
    assert form is not None
    inputs = re.findall(r"<input[^>]*>", form[1])
    assert len(inputs) == 1 and 'name="csrfmiddlewaretoken"' in inputs[0] and 'type="hidden"' in inputs[0]
    assert len(re.findall(r"<button", form[1])) == 1
    assert "<textarea" not in form[1] and "<select" not in form[1]
    client.post(url)
    client.post(url)  # a second press or a replayed form changes nothing more
    schedule.refresh_from_db()
    assert schedule.state == ScheduleState.CANCELED
    assert AuditEntry.objects.filter(action="payments.cancel_schedule", object_id=str(schedule.pk)).count() == 1


# --- concurrency (PostgreSQL) -------------------------------------------------------------------


def _parallel(n, fn):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # collected and asserted below
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
def test_same_webhook_ten_times_in_parallel_books_once(make_payment):
    payment = make_payment(1000)
    provider = get_provider("sandbox")
    provider._record(f"piazza-payment-{payment.pk}-attempt-1", payment, OK, "succeeded", False)
    lifecycle_actions.begin_attempt(actor=None, payment=payment, client_key="lost")
    charge = SandboxCharge.objects.get()
    body, sig = SandboxProvider.webhook_body(
        "charge.succeeded", charge.reference, event_id="evt_par", payment_id=str(payment.pk)
    )
    results, errors = _parallel(10, lambda: post_webhook(Client(), body, sig).status_code)
    assert not errors
    assert set(results) == {200}
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert WebhookEvent.objects.count() == 1
    assert run_checks() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_webhook_races_browser_return(make_payment):
    payment = make_payment(1000)
    response = Client().post(
        reverse("payments:pay", args=[payment.token]),
        {"card_number": "4000002500003155", "expiry": "08/29", "cvc": "123", "idempotency_key": "race"},
    )
    charge = SandboxCharge.objects.get()
    get_provider("sandbox").authenticate(charge.reference, approve=True)
    body, sig = SandboxProvider.webhook_body("charge.succeeded", charge.reference, event_id="evt_race")
    back = reverse("payments:return", args=[payment.token])

    def one(i):
        if i % 2:
            return lambda: post_webhook(Client(), body, sig).status_code
        return lambda: Client().get(back).status_code

    barrier_fns = [one(i) for i in range(6)]
    index = iter(range(6))
    _results, errors = _parallel(6, lambda: barrier_fns[next(index)]())
    assert not errors and response.status_code == 302
    payment.refresh_from_db()
    assert payment.state == State.SUCCEEDED
    assert run_checks() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_recurring_runs_at_once_book_once(tree, split_accounts):
    schedule = _recurring(tree, split_accounts)
    _make_due(schedule)
    results, errors = _parallel(2, run_due_charges.call)
    assert not errors
    assert sum(results) == 1
    assert Payment.objects.filter(schedule=schedule, state=State.SUCCEEDED).count() == 2
    assert SandboxCharge.objects.count() == 2
    assert run_checks() == []
