"""Donation rules and the payable handler: counters, matches, refunds, ledger (rules F2, F4, F6)."""

import datetime as dt
import secrets

import pytest
from django.urls import reverse
from django.utils import timezone

from piazza.core.money import Money
from piazza.funding import actions, queries
from piazza.funding.forms import sign_campaign
from piazza.funding.models import Donation, DonationStatus, MatchingPool, MatchStatus, PoolMatch
from piazza.ledger.actions import post_transaction
from piazza.ledger.models import Cause
from piazza.people.models import Person
from piazza.territory.models import Comune, Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.django_db
VALID_CF = "RSSMRA80A01A944I"  # Bologna, 1 Jan 1980


def form_data(campaign, **over):
    data = {
        "campaign_token": sign_campaign(campaign), "idempotency_key": secrets.token_hex(8),
        "preset": "2500", "frequency": "one_off", "first_name": "Giulia", "last_name": "Rossi",
        "codice_fiscale": VALID_CF, "email": "giulia@example.org", "address": "Via Zamboni 1",
        "postal_code": "40126", "comune": "Bologna", "publication": "accept",
        "attest_adult": "on", "attest_electoral_lists": "on", "attest_own_funds": "on",
        "attest_not_foreign_entity": "on",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def post(client, campaign, **over):
    return client.post(reverse("funding:donate", args=[campaign.slug]), form_data(campaign, **over))


@pytest.mark.parametrize(("over", "message"), [
    ({"attest_own_funds": None}, "dichiarazioni"),
    ({"codice_fiscale": "RSSMRA80A01A944X"}, "lettera di controllo"),
    ({"preset": None, "custom_amount": "1,00"}, "minima"),
    ({"preset": "-500"}, "Scegli un importo"),
    ({"preset": None, "custom_amount": "abc"}, "Scrivi un importo"),
    ({"frequency": None}, "una volta sola o ogni mese"),
    ({"comune": "Atlantide"}, "Non troviamo il comune"),
])
def test_bad_input_is_refused_on_the_page_and_nothing_is_written(client, live_campaign, over, message):
    response = post(client, live_campaign, **over)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Donation.objects.exists()
    assert not Person.objects.exists()


def test_tampered_campaign_id_is_refused(client, live_campaign, tree, circolo_official, federation_official):
    from piazza.funding.tests.conftest import build_live_campaign

    other = build_live_campaign(tree, circolo_official, federation_official, title="Altra raccolta")
    response = client.post(reverse("funding:donate", args=[live_campaign.slug]), form_data(other))
    assert response.status_code == 400
    assert "non appartiene a questa raccolta" in response.content.decode()
    assert not Donation.objects.exists()


def test_closed_campaign_refuses_gifts(client, live_campaign):
    live_campaign.deadline = timezone.now() - dt.timedelta(minutes=1)
    live_campaign.save(update_fields=["deadline"])
    response = post(client, live_campaign)
    assert response.status_code == 409
    assert "chiusa" in response.content.decode()
    assert not Donation.objects.exists()


def _give(campaign, amount_cents, *, cf=VALID_CF, first="Giulia"):
    """A donation whose payment succeeded: the gift booked as payments would, then the handler."""
    person = Person.objects.filter(codice_fiscale=cf).first() or Person.objects.create(
        first_name=first, last_name="Rossi", codice_fiscale=cf, codice_fiscale_canonical=cf,
        territory=campaign.territory)
    donation = Donation.objects.create(
        campaign=campaign, person=person, amount_cents=amount_cents, first_name=first, last_name="Rossi",
        codice_fiscale=cf, email="g@example.org", address="Via 1", postal_code="40100",
        comune=Comune.objects.get(name="Bologna"), attestations=["adult"], attestation_version="t",
        idempotency_key=secrets.token_hex(8), manage_token=secrets.token_hex(8), on_wall=True)
    from piazza.ledger.accounts import get_account

    clearing = get_account("provider_clearing", key="sandbox")
    entries = [(clearing, Money(amount_cents))] + [
        (acct, -share) for acct, share in actions.gift_accounts(campaign, Money(amount_cents))]
    post_transaction(actor=None, cause=Cause.PAYMENT, memo="test gift", entries=entries,
                     idempotency_key=f"test:{donation.pk}")
    return actions.donation_succeeded(donation.pk)


def _refund(donation):
    from piazza.ledger.actions import reverse_transaction
    from piazza.ledger.models import LedgerTransaction

    reverse_transaction(actor=None, original=LedgerTransaction.objects.get(idempotency_key=f"test:{donation.pk}"),
                        memo="test refund")
    return actions.donation_refunded(donation.pk)


@pytest.mark.usefixtures("check_ledger")
def test_success_moves_the_thermometer_and_is_idempotent(live_campaign):
    donation = _give(live_campaign, 2500)
    actions.donation_succeeded(donation.pk)  # a replayed webhook changes nothing
    thermo = queries.thermometer(live_campaign, fresh=True)
    assert (thermo.gifts_cents, thermo.gifts_count, thermo.donors, thermo.percent) == (2500, 1, 1, 2)
    assert thermo.recent[0]["name"] == "Giulia R."


@pytest.mark.usefixtures("check_ledger")
def test_matching_reserves_releases_and_never_overspends(live_campaign, tree):
    treasurer = make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])
    pool = actions.open_pool(actor=treasurer, territory=tree.emilia, name="Raddoppio", budget_cents=3000,
                             cap_per_donation_cents=2000)
    assert actions.preview_match_cents(live_campaign, 1000) == 1000  # "your €10 becomes €20"
    first = _give(live_campaign, 1000)
    second = _give(live_campaign, 2500, cf="VRDLGU85M01A944X", first="Luca")
    third = _give(live_campaign, 1000, cf="BNCNNA90A41A944X", first="Anna")
    pool.refresh_from_db()
    assert [first.matches.get().amount_cents, second.matches.get().amount_cents] == [1000, 2000]
    assert not third.matches.exists()  # pool exhausted: 3000 used
    assert pool.remaining_cents == 0
    _refund(second)
    pool.refresh_from_db()
    assert pool.remaining_cents == 2000
    assert PoolMatch.objects.get(donation=second).status == MatchStatus.RELEASED
    thermo = queries.thermometer(live_campaign, fresh=True)
    assert (thermo.gifts_cents, thermo.matched_cents) == (2000, 1000)


def test_small_donor_figures_and_sources(live_campaign):
    for cents in (1000, 2500, 20000):
        _give(live_campaign, cents, cf=None or VALID_CF)
    Donation.objects.update(refcode="whatsapp")
    figures = queries.small_donor_figures(live_campaign)
    assert (figures.unique_donors, figures.gifts_count, figures.median_gift_cents) == (1, 3, 2500)
    assert figures.small_share_percent == 3500 * 100 // 23500
    assert queries.money_by_source(live_campaign)[0]["cents"] == 23500


def test_annual_cap_counts_every_campaign(client, live_campaign, settings):
    from piazza.compliance.models import FinanceRuleSet

    FinanceRuleSet.objects.create(valid_from=dt.date(2000, 1, 1), annual_cap_cents=3000)
    _give(live_campaign, 2000)
    response = post(client, live_campaign, preset="2500")
    assert response.status_code == 400
    assert "puoi donare ancora al massimo 10,00" in response.content.decode()
    assert Donation.objects.count() == 1


def test_objecting_to_publication_above_500_is_refused(client, live_campaign):
    _give(live_campaign, 49_000)
    response = post(client, live_campaign, preset=None, custom_amount="20", publication="object")
    assert response.status_code == 400
    assert "pubblicato" in response.content.decode()
    assert Donation.objects.count() == 1


def test_pool_exhausted_between_page_view_and_submission(client, live_campaign, tree):
    treasurer = make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])
    actions.open_pool(actor=treasurer, territory=tree.emilia, name="Raddoppio", budget_cents=1000)
    shown = actions.preview_match_cents(live_campaign, 2500)
    assert shown == 1000
    MatchingPool.objects.update(reserved_cents=1000)  # someone else used it meanwhile
    response = post(client, live_campaign, shown_match_cents=str(shown))
    assert response.status_code == 400
    assert "si è esaurito" in response.content.decode()
    assert not Donation.objects.filter(status=DonationStatus.PENDING).exists()


def test_widget_may_be_framed_and_the_page_may_not(client, live_campaign):
    page = client.get(live_campaign.get_absolute_url())
    assert page["X-Frame-Options"] == "DENY"
    assert 'property="og:image"' in page.content.decode()
    widget = client.get(reverse("funding:widget", args=[live_campaign.slug]))
    assert "X-Frame-Options" not in widget
    assert "frame-ancestors *" in widget["Content-Security-Policy"]
    card = client.get(reverse("funding:card", args=[live_campaign.slug]))
    assert card["Content-Type"] == "image/png"
