"""Journey (Giulia, first-time donor, on her phone): the donation pages in Chromium, phone
viewport, with the sandbox card: a €25 gift moving the thermometer, a monthly gift, a decline
and its retry, a matched gift, an all-or-nothing campaign that fails and refunds."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from piazza.funding.actions import closing as closing_actions
from piazza.funding.actions import pools as pools_actions
from piazza.funding.models import Donation, DonationStatus, FundingModel
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import DECLINED_CARD, OK_CARD, VALID_CF
from piazza.payments.models import ScheduleState
from piazza.territory.models import Role
from piazza.territory.testing import make_official
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def field(text: str) -> re.Pattern[str]:
    """A field's label, with or without the required-field star."""
    return re.compile(rf"^{re.escape(text)}( \*)?$")


def fill_donation_form(page: Any, amount: str = "25,00 €", monthly: bool = False) -> None:
    page.get_by_label(amount, exact=True).check()
    page.get_by_label("Ogni mese" if monthly else "Una volta", exact=True).check()
    page.get_by_label(field("Nome")).fill("Giulia")
    page.get_by_label(field("Cognome")).fill("Rossi")
    page.get_by_label(field("Codice fiscale")).fill(VALID_CF)
    page.get_by_label(field("Email")).fill("giulia@example.org")
    page.get_by_label(field("Indirizzo di residenza")).fill("Via Zamboni 1")
    page.get_by_label(field("CAP")).fill("40126")
    page.get_by_label(field("Comune di residenza")).fill("Bologna")
    for text in ("maggiorenne", "liste elettorali", "fondi miei personali", "governi, enti pubblici"):
        page.get_by_label(re.compile(text)).check()
    page.get_by_role("button", name="Continua al pagamento").click()


def pay_with(page: Any, number: str, amount: str = "25,00 €") -> None:
    page.wait_for_url("**/pagamenti/**")
    page.get_by_label(field("Numero della carta")).fill(number)
    page.get_by_label(field("Scadenza (MM/AA)")).fill("08/29")
    page.get_by_label(field("Codice di sicurezza (CVC)")).fill("123")
    page.get_by_role("button", name=f"Paga {amount}").click()


@pytest.fixture
def campaign(tree: Any) -> Any:
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    return build_live_campaign(tree, owner, approver)


def test_first_time_donor_gives_25_euro_and_sees_the_thermometer_move(phone_page, campaign):
    watcher = phone_page.context.new_page()  # the campaign page left open in another tab
    watcher.goto(campaign.get_absolute_url())
    expect(watcher.get_by_test_id("raised")).to_have_text("0,00 €")

    phone_page.goto(campaign.get_absolute_url())
    assert phone_page.viewport_size["width"] == 390
    assert_accessible(phone_page)
    fill_donation_form(phone_page)
    phone_page.wait_for_url("**/pagamenti/**")
    assert_accessible(phone_page)
    pay_with(phone_page, OK_CARD)
    phone_page.wait_for_url("**/raccolte/donazione/**")
    expect(phone_page.locator("h1")).to_have_text("Grazie, Giulia!")
    assert_accessible(phone_page)
    expect(phone_page.get_by_test_id("raised")).to_have_text("25,00 €")
    expect(phone_page.get_by_role("link", name="WhatsApp")).to_be_visible()
    # The open tab's thermometer refreshes itself (htmx polling), no reload.
    expect(watcher.get_by_test_id("raised")).to_have_text("25,00 €", timeout=15_000)
    expect(watcher.get_by_test_id("donors")).to_have_text("1")


def test_monthly_gift(phone_page, campaign):
    phone_page.goto(campaign.get_absolute_url())
    fill_donation_form(phone_page, amount="10,00 €", monthly=True)
    phone_page.wait_for_url("**/pagamenti/**")
    expect(phone_page.get_by_text("annullarla in un clic")).to_be_visible()
    pay_with(phone_page, OK_CARD, amount="10,00 €")
    phone_page.wait_for_url("**/raccolte/donazione/**")
    expect(phone_page.get_by_text("Donazione mensile attiva: 10,00 € al mese.")).to_be_visible()
    phone_page.get_by_role("button", name="Annulla la donazione mensile").click()
    expect(phone_page.get_by_text("La donazione mensile è annullata.")).to_be_visible()
    donation = Donation.objects.get()
    assert donation.payment is not None and donation.payment.schedule is not None
    assert donation.payment.schedule.state == ScheduleState.CANCELED


def test_a_declined_card_gets_a_clear_message_and_a_retry(phone_page, campaign):
    phone_page.goto(campaign.get_absolute_url())
    fill_donation_form(phone_page)
    pay_with(phone_page, DECLINED_CARD)
    expect(phone_page.get_by_role("alert")).to_contain_text(
        "Questa carta è stata rifiutata dalla banca. Prova un'altra carta o il bonifico."
    )
    assert_accessible(phone_page)
    assert Donation.objects.get().status == DonationStatus.FAILED
    pay_with(phone_page, OK_CARD)  # the same page, a fresh attempt
    phone_page.wait_for_url("**/raccolte/donazione/**")
    expect(phone_page.get_by_test_id("raised")).to_have_text("25,00 €")
    assert Donation.objects.get().status == DonationStatus.SUCCEEDED


def test_a_matched_gift_says_what_it_became(phone_page, campaign, tree):
    treasurer = make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])
    pools_actions.open_pool(actor=treasurer, territory=tree.emilia, name="Raddoppio regionale", budget_cents=50_000)
    phone_page.goto(campaign.get_absolute_url())
    expect(phone_page.get_by_text("i tuoi 10,00 € diventano 20,00 €")).to_be_visible()
    fill_donation_form(phone_page, amount="10,00 €")
    pay_with(phone_page, OK_CARD, amount="10,00 €")
    phone_page.wait_for_url("**/raccolte/donazione/**")
    expect(phone_page.get_by_test_id("match-outcome")).to_have_text(
        "Con il co-finanziamento i tuoi 10,00 € sono diventati 20,00 €."
    )
    expect(phone_page.get_by_test_id("raised")).to_have_text("20,00 €")


def test_an_all_or_nothing_campaign_that_fails_refunds_the_donor(phone_page, tree):
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    campaign = build_live_campaign(
        tree, owner, approver, funding_model=FundingModel.ALL_OR_NOTHING, minimum_cents=80_000
    )
    phone_page.goto(campaign.get_absolute_url())
    expect(phone_page.get_by_text(re.compile("Tutto o niente: se entro la scadenza"))).to_be_visible()
    fill_donation_form(phone_page)
    pay_with(phone_page, OK_CARD)
    phone_page.wait_for_url("**/raccolte/donazione/**")
    thank_you = phone_page.url
    closing_actions.end_campaign(actor=owner, campaign=campaign)  # the deadline passed below the minimum
    phone_page.goto(thank_you)
    expect(phone_page.locator("h1")).to_have_text("Donazione rimborsata")
    phone_page.goto(campaign.get_absolute_url())
    expect(phone_page.get_by_text("La raccolta non ha raggiunto il minimo")).to_be_visible()
    expect(phone_page.get_by_test_id("raised")).to_have_text("0,00 €")
    assert Donation.objects.get().status == DonationStatus.REFUNDED


def test_the_amount_choice_is_on_the_first_phone_screen(phone_page, campaign):
    """Issue 11 item 17: the first screen of the campaign page on a phone shows the amount choice.
    Item 19: and the page loads without a Content-Security-Policy error (htmx's injected style)."""
    console: list[str] = []
    phone_page.on("console", lambda message: console.append(message.text))
    phone_page.goto(campaign.get_absolute_url())
    phone_page.wait_for_load_state("load")
    height = phone_page.viewport_size["height"]
    first = phone_page.get_by_label("25,00 €", exact=True)
    box = first.bounding_box()
    assert box is not None and box["y"] + box["height"] <= height, box
    assert phone_page.locator("h1").bounding_box()["y"] < box["y"]  # the title still comes first
    assert_accessible(phone_page)
    assert [m for m in console if "Content Security Policy" in m] == []


def test_the_donation_form_with_errors_is_accessible_and_says_so(phone_page, campaign):
    """Issue 11 item 19: a form sent back with errors has one summary, focused, linked to the fields;
    the title says there are errors; no critical or serious axe-core violation."""
    phone_page.goto(campaign.get_absolute_url())
    phone_page.get_by_role("button", name="Continua al pagamento").click()
    summary = phone_page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("errori da correggere")
    assert phone_page.title().startswith("Errori da correggere")
    assert phone_page.locator("ul.errorlist[role=alert]").count() == 0
    first_name = phone_page.get_by_label(field("Nome"))
    assert first_name.get_attribute("aria-describedby") == "id_first_name_error"
    expect(phone_page.locator("#id_first_name_error")).to_be_visible()
    cf = phone_page.get_by_label(field("Codice fiscale"))
    assert cf.get_attribute("aria-describedby") == "id_codice_fiscale_helptext id_codice_fiscale_error"
    expect(phone_page.locator("#id_codice_fiscale_helptext")).to_have_count(1)
    assert_accessible(phone_page)
    # The separate donation page has its own <h1>.
    phone_page.goto(f"{campaign.get_absolute_url()}dona/")
    expect(phone_page.locator("h1")).to_have_count(1)
    assert_accessible(phone_page)
