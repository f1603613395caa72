"""The donation flow end to end: form → payments' payment page (sandbox card) → payable
handler → thermometer and ledger; declines, replays, caps (rules F2, F4, F6), matching."""

import datetime as dt
import html
import uuid

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from piazza.core.money import Money
from piazza.funding import queries
from piazza.funding.actions import donations as donations_actions
from piazza.funding.actions import pools as pools_actions
from piazza.funding.models import Donation, DonationStatus, MatchStatus, PoolMatch
from piazza.funding.tests.flows import (
    DECLINED_CARD,
    OK_CARD,
    card,
    codice_fiscale_for,
    donate_through_pages,
    form_data,
    give,
    pay_donation,
    payment_of,
    submit,
)
from piazza.ledger.accounts import accounts_owned_by
from piazza.ledger.queries import balances
from piazza.payments.actions.refunds import refund_payment
from piazza.payments.models import Payment, SandboxCharge, State
from piazza.people.models import Person
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


def post(client, campaign, **over):
    return client.post(reverse("funding:donate", args=[campaign.slug]), form_data(campaign, **over))


def campaign_ledger_cents(campaign):
    return sum(m.cents for m in balances(list(accounts_owned_by(campaign))).values())


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"attest_own_funds": None}, "dichiarazioni"),
        ({"codice_fiscale": "RSSGLI80A41A944X"}, "lettera di controllo"),
        ({"preset": None, "custom_amount": "1,00"}, "minima"),
        ({"preset": "-500"}, "Scegli un importo"),
        ({"preset": None, "custom_amount": "abc"}, "Scrivi un importo"),
        ({"frequency": None}, "una volta sola o ogni mese"),
        ({"comune": "Atlantide"}, "Non troviamo il comune"),
    ],
)
def test_bad_input_is_refused_on_the_page_and_nothing_is_written(client, live_campaign, over, message):
    response = post(client, live_campaign, **over)
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert not Donation.objects.exists()
    assert not Person.objects.exists()
    assert not Payment.objects.exists()


def test_tampered_campaign_id_is_refused(client, live_campaign, tree, circolo_official, federation_official):
    from piazza.funding.tests.conftest import build_live_campaign

    other = build_live_campaign(tree, circolo_official, federation_official, title="Altra raccolta")
    response = client.post(reverse("funding:donate", args=[live_campaign.slug]), form_data(other))
    assert response.status_code == 400
    assert "non appartiene a questa raccolta" in response.content.decode()
    assert not Donation.objects.exists() and not Payment.objects.exists()


def test_closed_campaign_refuses_gifts(client, live_campaign):
    live_campaign.deadline = timezone.now() - dt.timedelta(minutes=1)
    live_campaign.save(update_fields=["deadline"])
    response = post(client, live_campaign)
    assert response.status_code == 409
    assert "chiusa" in response.content.decode()
    assert not Donation.objects.exists() and not Payment.objects.exists()


def test_first_time_donor_pays_on_the_payment_page_and_lands_on_the_thank_you_page(
    client, live_campaign, django_capture_on_commit_callbacks
):
    response = post(client, live_campaign)
    donation = Donation.objects.get()
    payment = payment_of(donation)
    assert response["Location"] == reverse("payments:pay", args=[payment.token])
    assert donation.status == DonationStatus.PENDING and payment.amount == Money(2500)
    assert campaign_ledger_cents(live_campaign) == 0  # nothing booked before the money arrives
    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(response["Location"], card(OK_CARD))
    assert paid.status_code == 302
    assert paid["Location"] == reverse("funding:donation", args=[donation.manage_token])
    donation.refresh_from_db()
    assert donation.status == DonationStatus.SUCCEEDED
    thanks = client.get(paid["Location"]).content.decode()
    assert "Grazie, Giulia!" in thanks and "25,00 €" in thanks and "wa.me" in thanks
    thermo = queries.thermometer(live_campaign, fresh=True)
    assert (thermo.gifts_cents, thermo.gifts_count, thermo.donors) == (2500, 1, 1)
    assert campaign_ledger_cents(live_campaign) == 2500  # thermometer = ledger
    receipt = next(m for m in mail.outbox if "Ricevuta" in m.subject)
    assert "i-miei-pagamenti" in receipt.body and f"D-{donation.pk}" in receipt.body
    assert donation.manage_token in receipt.body
    assert len([m for m in mail.outbox if donation.email in m.to]) == 1  # one email per gift


def test_decline_shows_the_clear_message_books_nothing_and_the_retry_succeeds(client, live_campaign):
    response = donate_through_pages(client, live_campaign, number=DECLINED_CARD)
    assert response.status_code == 200
    assert "Questa carta è stata rifiutata dalla banca. Prova un'altra carta o il bonifico." in html.unescape(
        response.content.decode()
    )
    donation = Donation.objects.get()
    assert donation.status == DonationStatus.FAILED
    assert campaign_ledger_cents(live_campaign) == 0
    assert queries.thermometer(live_campaign, fresh=True).gifts_cents == 0
    status_page = html.unescape(client.get(reverse("funding:donation", args=[donation.manage_token])).content.decode())
    assert "Riprova con un'altra carta" in status_page
    payment = payment_of(donation)
    retry = client.post(reverse("payments:pay", args=[payment.token]), card(OK_CARD))
    assert retry.status_code == 302
    donation.refresh_from_db()
    assert donation.status == DonationStatus.SUCCEEDED
    assert Donation.objects.count() == 1 and campaign_ledger_cents(live_campaign) == 2500


def test_a_replayed_submission_never_charges_twice(client, live_campaign):
    data = form_data(live_campaign)
    url = reverse("funding:donate", args=[live_campaign.slug])
    first = client.post(url, data)
    second = client.post(url, data)  # double click / back button / replayed request
    assert first["Location"] == second["Location"]
    assert Donation.objects.count() == 1 and Payment.objects.count() == 1
    client.post(first["Location"], card(OK_CARD))
    third = client.post(url, data)
    followed = client.get(third["Location"])  # the payment page forwards a paid payment
    assert followed.status_code == 302 and "/raccolte/donazione/" in followed["Location"]
    assert SandboxCharge.objects.count() == 1
    assert campaign_ledger_cents(live_campaign) == 2500


def test_a_replayed_key_for_another_campaign_is_refused(
    client, live_campaign, tree, circolo_official, federation_official
):
    from piazza.funding.tests.conftest import build_live_campaign

    other = build_live_campaign(tree, circolo_official, federation_official, title="Altra raccolta")
    data = form_data(live_campaign)
    client.post(reverse("funding:donate", args=[live_campaign.slug]), data)
    response = client.post(
        reverse("funding:donate", args=[other.slug]), {**data, **{"campaign_token": form_data(other)["campaign_token"]}}
    )
    assert response.status_code == 400
    assert "già stato usato per un&#x27;altra raccolta" in response.content.decode()
    assert Donation.objects.count() == 1


def test_matching_reserves_releases_and_never_overspends(live_campaign, tree):
    treasurer = make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])
    pool = pools_actions.open_pool(
        actor=treasurer, territory=tree.emilia, name="Raddoppio", budget_cents=3000, cap_per_donation_cents=2000
    )
    assert donations_actions.preview_match_cents(live_campaign, 1000) == 1000  # "your €10 becomes €20"
    first = give(live_campaign, 1000, n=0)
    second = give(live_campaign, 2500, n=1)
    third = give(live_campaign, 1000, n=2)
    pool.refresh_from_db()
    assert [first.matched_cents, second.matched_cents, third.matched_cents] == [1000, 2000, 0]
    assert pool.remaining_cents == 0
    refund_payment(actor=None, payment=payment_of(second), reason="richiesta")
    second.refresh_from_db()
    pool.refresh_from_db()
    assert second.status == DonationStatus.REFUNDED
    assert pool.remaining_cents == 2000
    assert PoolMatch.objects.get(donation=second).status == MatchStatus.RELEASED
    thermo = queries.thermometer(live_campaign, fresh=True)
    assert (thermo.gifts_cents, thermo.matched_cents) == (2000, 1000)
    assert campaign_ledger_cents(live_campaign) == 3000


def test_matched_gift_says_what_it_became(client, live_campaign, tree):
    treasurer = make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])
    pools_actions.open_pool(actor=treasurer, territory=tree.emilia, name="Raddoppio", budget_cents=10_000)
    page = client.get(live_campaign.get_absolute_url()).content.decode()
    assert "i tuoi 10,00 € diventano 20,00 €" in page
    response = donate_through_pages(client, live_campaign, preset="1000")
    thanks = client.get(response["Location"]).content.decode()
    assert "i tuoi 10,00 € sono diventati 20,00 €" in thanks


def test_small_donor_figures_and_sources(live_campaign):
    for cents in (1000, 2500, 20000):
        give(live_campaign, cents, refcode="whatsapp")
    figures = queries.small_donor_figures(live_campaign)
    assert (figures.unique_donors, figures.gifts_count, figures.median_gift_cents) == (1, 3, 2500)
    assert figures.small_share_percent == 3500 * 100 // 23500
    assert queries.money_by_source(live_campaign)[0]["cents"] == 23500


def test_annual_cap_counts_every_campaign(client, live_campaign):
    from piazza.compliance.models import FinanceRuleSet

    FinanceRuleSet.objects.create(valid_from=dt.date(2000, 1, 1), annual_cap_cents=3000)
    give(live_campaign, 2000)
    response = post(client, live_campaign, preset="2500")
    assert response.status_code == 400
    # The figures go to the donor's registered address, never on the page (issue 10, rule G1).
    assert "supera il limite annuale" in response.content.decode()
    assert "già donato" not in response.content.decode() and "al massimo 10,00" not in response.content.decode()
    assert Donation.objects.count() == 1 and Payment.objects.count() == 1


def test_objecting_to_publication_above_500_is_refused(client, live_campaign):
    give(live_campaign, 49_000)
    response = post(client, live_campaign, preset=None, custom_amount="20", publication="object")
    assert response.status_code == 400
    assert "pubblicazione del nome" in response.content.decode()
    assert "490,00" not in response.content.decode()
    # An amount above the threshold by itself says so plainly (it tells nothing about anyone).
    first, last, code = codice_fiscale_for(7)
    alone = post(
        client,
        live_campaign,
        preset=None,
        custom_amount="600",
        publication="object",
        first_name=first,
        last_name=last,
        codice_fiscale=code,
    )
    assert alone.status_code == 400 and "pubblicato" in alone.content.decode()
    assert Donation.objects.count() == 1


def test_pool_exhausted_between_page_view_and_submission(client, live_campaign, tree):
    import re

    treasurer = make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])
    pools_actions.open_pool(actor=treasurer, territory=tree.emilia, name="Raddoppio", budget_cents=1000)
    page = client.get(reverse("funding:donate", args=[live_campaign.slug])).content.decode()
    shown = re.search(r'name="shown_matches" value="([^"]*)"', page)
    assert shown and "2500:1000" in shown.group(1)  # the page promised €25 → €35
    give(live_campaign, 1000, n=3)  # someone else used the pool meanwhile
    response = post(client, live_campaign, shown_matches=shown.group(1))
    assert response.status_code == 400
    assert "si è esaurito" in response.content.decode()
    assert not Donation.objects.filter(status=DonationStatus.PENDING).exists()


def test_the_cap_is_checked_again_when_the_money_arrives(live_campaign, django_capture_on_commit_callbacks):
    """Rule F6: two gifts, each fine when submitted, together over the cap: the second to be
    paid is refused and refunded automatically, never counted."""
    from piazza.compliance.models import FinanceRuleSet

    FinanceRuleSet.objects.create(valid_from=dt.date(2000, 1, 1), annual_cap_cents=5000)
    first, second = submit(live_campaign, 3000), submit(live_campaign, 3000)
    with django_capture_on_commit_callbacks(execute=True):
        pay_donation(first)
        pay_donation(second)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == DonationStatus.SUCCEEDED
    assert second.status == DonationStatus.REFUNDED and "tetto annuo" in second.failure_reason
    assert payment_of(second).state == State.REFUNDED
    assert queries.thermometer(live_campaign, fresh=True).gifts_cents == 3000
    assert campaign_ledger_cents(live_campaign) == 3000
    assert any("rimborsata" in m.subject for m in mail.outbox)


def test_receipt_task_sends_once(live_campaign, django_capture_on_commit_callbacks):
    from piazza.funding.tasks import send_receipt

    with django_capture_on_commit_callbacks(execute=True):
        donation = give(live_campaign, 2500)
    receipts = [m for m in mail.outbox if "Ricevuta" in m.subject]
    assert len(receipts) == 1 and receipts[0].to == [donation.email]
    assert send_receipt.call(donation.pk) is False  # a retried task sends nothing twice
    assert len([m for m in mail.outbox if "Ricevuta" in m.subject]) == 1


def test_widget_may_be_framed_and_the_page_may_not(client, live_campaign):
    page = client.get(live_campaign.get_absolute_url())
    assert page["X-Frame-Options"] == "DENY"
    assert 'property="og:image"' in page.content.decode()
    widget = client.get(reverse("funding:widget", args=[live_campaign.slug]))
    assert "X-Frame-Options" not in widget
    assert "frame-ancestors *" in widget["Content-Security-Policy"]
    card_png = client.get(reverse("funding:card", args=[live_campaign.slug]))
    assert card_png["Content-Type"] == "image/png"


def test_unknown_provider_key_is_not_a_card_charge(live_campaign):
    """A donation paid twice through two attempts of the same payment is still one charge."""
    donation = submit(live_campaign, 2500)
    payment = payment_of(donation)
    from piazza.payments.actions.lifecycle import pay

    key = uuid.uuid4().hex
    pay(actor=None, payment=payment, client_key=key, data={"card_number": "4242424242424242"}, return_url="")
    pay(actor=None, payment=payment, client_key=key, data={"card_number": "4242424242424242"}, return_url="")
    assert SandboxCharge.objects.count() == 1
    assert campaign_ledger_cents(live_campaign) == 2500


def test_a_top_up_pool_pays_the_last_quarter_once_three_quarters_are_raised(
    tree, circolo_official, federation_official
):
    from piazza.funding.models import PoolMode
    from piazza.funding.tests.conftest import build_live_campaign

    campaign = build_live_campaign(tree, circolo_official, federation_official, title="Quasi", goal_cents=10_000)
    treasurer = make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])
    pools_actions.open_pool(
        actor=treasurer,
        territory=tree.emilia,
        name="Ultimo quarto",
        budget_cents=50_000,
        mode=PoolMode.TOP_UP,
        top_up_threshold_pct=75,
    )
    give(campaign, 5_000, n=1)
    assert queries.thermometer(campaign, fresh=True).matched_cents == 0
    give(campaign, 2_500, n=2)  # 75% reached: the pool pays the last 25%
    thermo = queries.thermometer(campaign, fresh=True)
    assert (thermo.gifts_cents, thermo.matched_cents, thermo.percent) == (7_500, 2_500, 100)
    give(campaign, 1_000, n=3)  # a pool tops a campaign up once
    assert queries.thermometer(campaign, fresh=True).matched_cents == 2_500
    assert campaign_ledger_cents(campaign) == 11_000
