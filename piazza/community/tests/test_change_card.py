"""Issue 12: "Cambia carta" on a monthly gift from Il mio spazio, with the sandbox provider, through
the person's own pages (sign in, the button, the card page, the next charge)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.community.tests.conftest import DONOR_EMAIL, sign_in
from piazza.core.models import AuditEntry
from piazza.core.money import Money
from piazza.funding.models import Donation
from piazza.funding.tests.flows import give, payment_of
from piazza.ledger.accounts import get_account
from piazza.payments.actions import recurring as recurring_actions
from piazza.payments.models import (
    MethodChange,
    MethodChangeState,
    RecurringSchedule,
    SandboxCharge,
    SavedMethod,
    ScheduleState,
)
from piazza.payments.tasks import run_due_charges
from piazza.payments.tests.fakes.stripe_api import FakeStripe
from piazza.payments.tests.test_stripe import back as stripe_back
from piazza.payments.tests.test_stripe import start as stripe_start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]

DEBIT_CARD = "4000 0566 5566 5556"  # a sandbox debit card that succeeds
DECLINED_CARD = "4000 0000 0000 0002"


@pytest.fixture
def signed_in(donor, django_capture_on_commit_callbacks):
    client = Client()
    sign_in(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    return client


def _schedule(person):
    schedule = payment_of(Donation.objects.get(person=person, frequency="monthly", parent__isnull=True)).schedule
    assert schedule is not None and schedule.saved_method is not None
    return schedule


def _card(number):
    return {"card_number": number, "expiry": "08/29", "cvc": "123"}


def _open_card_page(client, schedule):
    response = client.post(reverse("community:change_card", args=[schedule.pk]))
    assert response.status_code == 302
    change = MethodChange.objects.get(schedule=schedule, state=MethodChangeState.STARTED)
    assert response["Location"] == reverse("community:card_change", args=[change.token])
    return change


def test_the_space_shows_the_card_and_the_button(signed_in, donor):
    schedule = _schedule(donor)
    html = signed_in.get(reverse("community:home")).content.decode()
    assert "Cambia carta" in html and reverse("community:change_card", args=[schedule.pk]) in html
    assert "Carta: Carta di prova •••• 4242" in html
    assert "4242424242424242" not in html and "4242 4242" not in html  # the last four digits, never more


def test_a_new_card_is_used_from_the_next_charge_and_the_old_one_forgotten(
    signed_in, donor, django_capture_on_commit_callbacks
):
    schedule = _schedule(donor)
    old = schedule.saved_method
    change = _open_card_page(signed_in, schedule)
    page = signed_in.get(reverse("community:card_change", args=[change.token]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Carta attuale: Carta di prova •••• 4242" in html and "Numero della carta" in html
    assert "js.stripe.com" not in page["Content-Security-Policy"]  # the sandbox's form is ours

    done = signed_in.post(reverse("community:card_change", args=[change.token]), _card(DEBIT_CARD), follow=True)
    html = done.content.decode()
    assert "Carta cambiata: dal prossimo addebito useremo Visa •••• 5556." in html
    assert "Carta: Visa •••• 5556" in html
    assert "4000056655665556" not in html and "Carta di prova •••• 4242" not in html  # old card no longer listed

    schedule.refresh_from_db()
    old.refresh_from_db()
    change.refresh_from_db()
    assert schedule.saved_method is not None and schedule.saved_method.label == "Visa •••• 5556"
    assert schedule.saved_method.payer == donor
    assert change.state == MethodChangeState.SUCCEEDED and change.old_method == old
    assert old.forgotten_at is not None
    entry = AuditEntry.objects.get(action="payments.change_saved_method")
    assert entry.data["via"] == "il_mio_spazio" and entry.data["from_method"] == old.pk
    assert entry.data["to_method"] == schedule.saved_method.pk
    assert AuditEntry.objects.filter(action="payments.forget_saved_method", object_id=str(old.pk)).exists()

    # The next month is charged on the new card, once.
    RecurringSchedule.objects.filter(pk=schedule.pk).update(next_charge_on=timezone.localdate())
    with django_capture_on_commit_callbacks(execute=True):
        assert run_due_charges.call() == 1
    first = Donation.objects.get(person=donor, frequency="monthly", parent__isnull=True)
    second = Donation.objects.get(parent=first)
    assert second.status == "succeeded"
    charge = SandboxCharge.objects.get(reference=payment_of(second).provider_reference)
    assert charge.card_last4 == "5556"


def test_a_card_refused_at_setup_leaves_the_old_card(signed_in, donor, django_capture_on_commit_callbacks):
    schedule = _schedule(donor)
    old = schedule.saved_method
    change = _open_card_page(signed_in, schedule)
    response = signed_in.post(reverse("community:card_change", args=[change.token]), _card(DECLINED_CARD), follow=True)
    html = response.content.decode()
    assert "La carta non è stata cambiata" in html and "rifiutata dalla banca" in html
    assert "Resta la carta di prima (Carta di prova •••• 4242)" in html
    schedule.refresh_from_db()
    old.refresh_from_db()
    change.refresh_from_db()
    assert schedule.saved_method == old and old.forgotten_at is None
    assert change.state == MethodChangeState.FAILED and change.failure_code == "card_declined"
    assert AuditEntry.objects.get(action="payments.change_saved_method_failed").data["code"] == "card_declined"
    assert SavedMethod.objects.filter(label__contains="0002").count() == 0
    # The page of a finished change says so, and the next charge still uses the old card.
    again = signed_in.get(reverse("community:card_change", args=[change.token]), follow=True)
    assert "La carta non è stata cambiata" in again.content.decode()
    RecurringSchedule.objects.filter(pk=schedule.pk).update(next_charge_on=timezone.localdate())
    with django_capture_on_commit_callbacks(execute=True):
        assert run_due_charges.call() == 1
    assert SandboxCharge.objects.order_by("-pk").values_list("card_last4", flat=True)[0] == "4242"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"card_number": "4242 4242 4242 4241", "expiry": "08/29", "cvc": "123"}, "numero della carta non è valido"),
        ({"card_number": DEBIT_CARD, "expiry": "13/29", "cvc": "123"}, "Scrivi la scadenza come MM/AA"),
        ({"card_number": DEBIT_CARD, "expiry": "08/29", "cvc": "12"}, "Il CVC sono le 3 cifre"),
    ],
)
def test_bad_card_input_is_explained_and_changes_nothing(signed_in, donor, data, message):
    schedule = _schedule(donor)
    old = schedule.saved_method
    change = _open_card_page(signed_in, schedule)
    response = signed_in.post(reverse("community:card_change", args=[change.token]), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    change.refresh_from_db()
    schedule.refresh_from_db()
    assert change.state == MethodChangeState.STARTED and schedule.saved_method == old
    assert SavedMethod.objects.count() == 1


def test_a_double_click_opens_one_setup(signed_in, donor):
    schedule = _schedule(donor)
    first = _open_card_page(signed_in, schedule)
    signed_in.post(reverse("community:change_card", args=[schedule.pk]))
    assert MethodChange.objects.filter(schedule=schedule).count() == 1
    assert MethodChange.objects.get() == first


def test_nobody_else_can_change_the_card(signed_in, donor, campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        other = give(campaign, 1500, n=3, frequency="monthly")
    theirs = payment_of(other).schedule
    assert theirs is not None
    response = signed_in.post(reverse("community:change_card", args=[theirs.pk]), follow=True)
    assert "non risulta tra le tue" in response.content.decode()
    assert not MethodChange.objects.filter(schedule=theirs).exists()
    # Another person's card page, even with its token: not found for this person.
    mine = _open_card_page(signed_in, _schedule(donor))
    MethodChange.objects.filter(pk=mine.pk).update(schedule=theirs)
    assert signed_in.get(reverse("community:card_change", args=[mine.token])).status_code == 404
    assert signed_in.post(reverse("community:card_change", args=[mine.token]), _card(DEBIT_CARD)).status_code == 404
    # Without signing in: nothing is done, the door says why.
    stranger = Client().post(reverse("community:change_card", args=[theirs.pk]))
    assert stranger.status_code == 403
    theirs.refresh_from_db()
    assert theirs.saved_method is not None and theirs.saved_method.forgotten_at is None


def test_no_button_where_the_card_cannot_be_changed(signed_in, donor):
    schedule = _schedule(donor)
    # A provider without the capability (PayPal here): no button, and the URL refuses too.
    RecurringSchedule.objects.filter(pk=schedule.pk).update(provider="paypal")
    html = signed_in.get(reverse("community:home")).content.decode()
    assert "Cambia carta" not in html
    response = signed_in.post(reverse("community:change_card", args=[schedule.pk]), follow=True)
    assert "non si può cambiare da qui" in response.content.decode()
    assert not MethodChange.objects.exists()
    # A cancelled gift: no card to change.
    RecurringSchedule.objects.filter(pk=schedule.pk).update(provider="sandbox", state=ScheduleState.CANCELED)
    html = signed_in.get(reverse("community:home")).content.decode()
    assert "Cambia carta" not in html
    response = signed_in.post(reverse("community:change_card", args=[schedule.pk]), follow=True)
    assert "è stata annullata" in response.content.decode()


@pytest.fixture
def fake_stripe(settings):
    """The real stripe SDK against the local fake of Stripe's API, as payments' Stripe tests use it."""
    with FakeStripe() as fake:
        settings.STRIPE_SECRET_KEY = "sk_test_fake"
        settings.STRIPE_PUBLISHABLE_KEY = "pk_test_fake"
        settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_TIMEOUT_SECONDS = 5
        yield fake


def _stripe_schedule(fake, donor, tree):
    """A monthly contribution of the donor's paid by card on Stripe (first payment on our Stripe page)."""
    account = get_account("territory", owner=tree.bologna_centro, territory=tree.bologna_centro)
    schedule, first = recurring_actions.create_recurring(
        actor=None,
        amount=Money(1200),
        allocations=[(account, Money(1200))],
        provider="stripe",
        description="Contributo mensile al circolo",
        creation_key="space-stripe-monthly",
        payer=donor,
        payer_name="Giulia Rossi",
        payer_email=DONOR_EMAIL,
        territory=tree.bologna_centro,
    )
    intent = stripe_start(Client(), first)
    fake.confirm(intent, "pm_card_visa")
    stripe_back(Client(), first)
    schedule.refresh_from_db()
    assert schedule.saved_method is not None
    return schedule


@pytest.mark.parametrize(
    ("card", "said", "changed"),
    [
        ("pm_card_visa_debit", "Carta cambiata: dal prossimo addebito useremo Visa •••• 5556.", True),
        ("pm_card_chargeDeclined", "La carta non è stata cambiata", False),
    ],
)
def test_stripe_card_change_through_stripe_js_page_and_return(signed_in, donor, tree, fake_stripe, card, said, changed):
    schedule = _stripe_schedule(fake_stripe, donor, tree)
    old = schedule.saved_method
    response = signed_in.post(reverse("community:change_card", args=[schedule.pk]))
    change = MethodChange.objects.get(schedule=schedule)
    page = signed_in.get(response["Location"], follow=True)
    assert page.redirect_chain == [(reverse("community:card_change_provider", args=[change.token]), 302)]
    setup = fake_stripe.setup_intents[change.provider_reference]
    html = page.content.decode()
    assert setup["client_secret"] in html and "payments/stripe-setup.js" in html
    assert "Carta attuale: Visa •••• 4242" in html
    assert "https://js.stripe.com" in page["Content-Security-Policy"]  # on this page only
    assert "js.stripe.com" not in signed_in.get(reverse("community:home"))["Content-Security-Policy"]

    fake_stripe.confirm_setup(change.provider_reference, card)  # Stripe.js confirmSetup
    back = signed_in.get(reverse("community:card_change_return", args=[change.token]), follow=True)
    assert said in back.content.decode()
    schedule.refresh_from_db()
    old.refresh_from_db()
    if changed:
        assert schedule.saved_method.method_reference == "pm_card_visa_debit"
        assert old.forgotten_at is not None and "pm_card_visa" in fake_stripe.detached
    else:
        assert "Resta la carta di prima (Visa •••• 4242)" in back.content.decode()
        assert schedule.saved_method == old and old.forgotten_at is None and not fake_stripe.detached
