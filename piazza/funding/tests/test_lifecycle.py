"""Monthly gifts (payments' recurring schedules), one-click giving, and the end of a campaign:
all-or-nothing refunds, settlement of matches, a late gift to a failed campaign."""

import re
import uuid
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.funding import queries
from piazza.funding.actions import closing as closing_actions
from piazza.funding.actions import pools as pools_actions
from piazza.funding.forms import sign_campaign
from piazza.funding.models import (
    CampaignOutcome,
    CampaignStatus,
    Donation,
    DonationStatus,
    Frequency,
    FundingModel,
    MatchStatus,
    PoolMatch,
)
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import donate_through_pages, give, payment_of, submit
from piazza.ledger.accounts import accounts_owned_by
from piazza.ledger.queries import balances
from piazza.payments.models import RecurringSchedule, SandboxCharge, ScheduleState, State
from piazza.payments.tasks import run_due_charges
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


def ledger_cents(campaign):
    return sum(m.cents for m in balances(list(accounts_owned_by(campaign))).values())


def _next_month_is_due(schedule):
    RecurringSchedule.objects.filter(pk=schedule.pk).update(next_charge_on=timezone.localdate())


def test_monthly_gift_charges_each_month_and_cancels_in_one_click_from_the_email(
    client, live_campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = donate_through_pages(client, live_campaign, frequency="monthly")
    assert response.status_code == 302
    first = Donation.objects.get()
    schedule = payment_of(first).schedule
    assert first.status == DonationStatus.SUCCEEDED and first.frequency == Frequency.MONTHLY
    assert schedule is not None and schedule.state == ScheduleState.ACTIVE and schedule.saved_method_id
    receipt = next(m for m in mail.outbox if "Ricevuta" in m.subject)
    cancel_link = re.search(r"http\S+/ricorrenti/annulla/\S+", str(receipt.body))
    assert cancel_link and "i-miei-pagamenti" in receipt.body

    _next_month_is_due(schedule)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_due_charges.call() == 1
    second = Donation.objects.get(parent=first)
    assert second.status == DonationStatus.SUCCEEDED and second.payment_id != first.payment_id
    thermo = queries.thermometer(live_campaign, fresh=True)
    assert (thermo.gifts_cents, thermo.gifts_count, thermo.donors) == (5000, 2, 1)
    assert ledger_cents(live_campaign) == 5000

    page = client.get(urlparse(cancel_link.group(0)).path)  # the link opens a page with one button
    assert page.status_code == 200
    client.post(urlparse(cancel_link.group(0)).path)
    first.refresh_from_db()
    schedule.refresh_from_db()
    assert schedule.state == ScheduleState.CANCELED and first.cancelled_at is not None
    _next_month_is_due(schedule)
    assert run_due_charges.call() == 0
    assert Donation.objects.count() == 2


def test_monthly_gift_cancelled_from_the_donation_page(client, live_campaign):
    donate_through_pages(client, live_campaign, frequency="monthly")
    first = Donation.objects.get()
    url = reverse("funding:donation", args=[first.manage_token])
    assert "Annulla la donazione mensile" in client.get(url).content.decode()
    client.post(url, {"cancel": "1"})
    schedule = payment_of(first).schedule
    assert schedule is not None
    schedule.refresh_from_db()
    assert schedule.state == ScheduleState.CANCELED
    assert "La donazione mensile è annullata" in client.get(url).content.decode()


def _one_click(client, campaign, amount="1000", key=None):
    return client.post(
        reverse("funding:donate_one_click", args=[campaign.slug]),
        {"campaign_token": sign_campaign(campaign), "idempotency_key": key or uuid.uuid4().hex, "amount": amount},
    )


def test_returning_donor_gives_in_one_click_with_the_saved_card(client, live_campaign):
    thanks = donate_through_pages(client, live_campaign, remember_method="on")
    client.get(thanks["Location"])  # the thank-you page makes this browser recognise the donor
    page = client.get(live_campaign.get_absolute_url()).content.decode()
    assert "Bentornato/a, Giulia!" in page and "Carta di prova •••• 4242" in page
    key = uuid.uuid4().hex
    response = _one_click(client, live_campaign, key=key)
    again = _one_click(client, live_campaign, key=key)  # a double click
    second = Donation.objects.order_by("pk").last()
    assert second is not None
    assert response["Location"] == reverse("funding:donation", args=[second.manage_token])
    assert again.status_code == 302
    assert second.status == DonationStatus.SUCCEEDED and second.amount_cents == 1000
    assert second.codice_fiscale == "RSSGLI80A41A944K" and second.attestations
    assert SandboxCharge.objects.count() == 2
    assert ledger_cents(live_campaign) == 3500


def test_strangers_and_donors_without_a_saved_card_get_no_one_click(client, live_campaign):
    thanks = donate_through_pages(client, live_campaign)  # card not remembered
    client.get(thanks["Location"])
    assert "Bentornato" not in client.get(live_campaign.get_absolute_url()).content.decode()
    stranger = Client()
    response = _one_click(stranger, live_campaign)
    assert response.status_code == 302
    assert Donation.objects.count() == 1 and SandboxCharge.objects.count() == 1


def test_all_or_nothing_campaign_that_fails_refunds_every_gift_and_releases_the_pool(
    tree, circolo_official, federation_official, django_capture_on_commit_callbacks
):
    campaign = build_live_campaign(
        tree,
        circolo_official,
        federation_official,
        title="Tutto o niente",
        funding_model=FundingModel.ALL_OR_NOTHING,
        minimum_cents=50_000,
    )
    treasurer = make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])
    pool = pools_actions.open_pool(actor=treasurer, territory=tree.emilia, name="Raddoppio", budget_cents=5_000)
    gifts = [give(campaign, 1000, n=0), give(campaign, 2000, n=1), give(campaign, 1500, n=2, frequency="monthly")]
    assert ledger_cents(campaign) == 4500 + 4500  # gifts and their reserved matches
    with django_capture_on_commit_callbacks(execute=True):
        closing_actions.end_campaign(actor=circolo_official, campaign=campaign)
    campaign.refresh_from_db()
    pool.refresh_from_db()
    assert (campaign.status, campaign.outcome) == (CampaignStatus.SETTLED, CampaignOutcome.FAILED)
    for donation in gifts:
        donation.refresh_from_db()
        assert donation.status == DonationStatus.REFUNDED
        assert payment_of(donation).state == State.REFUNDED
    assert not PoolMatch.objects.exclude(status=MatchStatus.RELEASED).exists()
    assert pool.remaining_cents == 5_000
    schedule = payment_of(gifts[2]).schedule
    assert schedule is not None and schedule.state == ScheduleState.CANCELED
    assert ledger_cents(campaign) == 0
    thermo = queries.thermometer(campaign, fresh=True)
    assert (thermo.gifts_cents, thermo.matched_cents) == (0, 0)


def test_funded_campaign_settles_its_matches(tree, circolo_official, federation_official):
    campaign = build_live_campaign(tree, circolo_official, federation_official, goal_cents=2_000)
    treasurer = make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])
    pool = pools_actions.open_pool(actor=treasurer, territory=tree.emilia, name="Raddoppio", budget_cents=5_000)
    give(campaign, 1000)
    closing_actions.end_campaign(actor=circolo_official, campaign=campaign)
    campaign.refresh_from_db()
    pool.refresh_from_db()
    assert (campaign.status, campaign.outcome) == (CampaignStatus.SETTLED, CampaignOutcome.FUNDED)
    assert PoolMatch.objects.get().status == MatchStatus.SETTLED
    assert (pool.reserved_cents, pool.settled_cents, pool.remaining_cents) == (0, 1000, 4000)
    matched = next(a for a in accounts_owned_by(campaign) if a.key == "matched")
    assert balances([matched])[matched.pk].cents == 1000
    assert ledger_cents(campaign) == 2000


def test_a_late_payment_to_a_failed_campaign_is_refunded(
    tree, circolo_official, federation_official, django_capture_on_commit_callbacks
):
    from piazza.funding.tests.flows import pay_donation

    campaign = build_live_campaign(
        tree, circolo_official, federation_official, title="Tutto o niente", funding_model=FundingModel.ALL_OR_NOTHING
    )
    pending = submit(campaign, 2500)
    closing_actions.end_campaign(actor=None, campaign=campaign)
    with django_capture_on_commit_callbacks(execute=True):
        pay_donation(pending)
    pending.refresh_from_db()
    assert pending.status == DonationStatus.REFUNDED and "minimo" in pending.failure_reason
    assert ledger_cents(campaign) == 0


def test_only_a_live_campaign_can_end(live_campaign, circolo_official):
    from django.core.exceptions import ValidationError

    closing_actions.end_campaign(actor=circolo_official, campaign=live_campaign)
    with pytest.raises(ValidationError, match="attiva"):
        closing_actions.end_campaign(actor=circolo_official, campaign=live_campaign)


def test_a_login_alone_does_not_offer_a_card_saved_in_another_browser(client, live_campaign, django_user_model):
    """Convention 16: the card is usable only where it was saved (device token), not wherever the
    account logs in: the old login path found the card by the email of the last gift."""
    user = django_user_model.objects.create_user(username="giulia", password="correct-horse-battery")
    client.force_login(user)
    thanks = donate_through_pages(client, live_campaign, remember_method="on")
    client.get(thanks["Location"])
    other_browser = Client()
    other_browser.force_login(user)
    assert "Bentornato" not in other_browser.get(live_campaign.get_absolute_url()).content.decode()
    assert _one_click(other_browser, live_campaign, amount="5000").status_code == 302
    assert not Donation.objects.filter(amount_cents=5000).exists() and SandboxCharge.objects.count() == 1
    assert "Bentornato/a, Giulia!" in client.get(live_campaign.get_absolute_url()).content.decode()


def test_a_month_over_the_annual_cap_is_refunded_and_the_series_stops(
    live_campaign, django_capture_on_commit_callbacks
):
    import datetime as dt

    from piazza.compliance.models import FinanceRuleSet

    FinanceRuleSet.objects.create(valid_from=dt.date(2000, 1, 1), annual_cap_cents=5_000)
    first = give(live_campaign, 3_000, frequency="monthly")
    schedule = payment_of(first).schedule
    assert first.status == DonationStatus.SUCCEEDED and schedule is not None
    _next_month_is_due(schedule)
    with django_capture_on_commit_callbacks(execute=True):
        run_due_charges.call()
    second = Donation.objects.get(parent=first)
    schedule.refresh_from_db()
    assert second.status == DonationStatus.REFUNDED and "tetto annuo" in second.failure_reason
    assert payment_of(second).state == State.REFUNDED
    assert schedule.state == ScheduleState.CANCELED
    assert queries.thermometer(live_campaign, fresh=True).gifts_cents == 3_000
    assert ledger_cents(live_campaign) == 3_000
