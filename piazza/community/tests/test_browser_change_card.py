"""Journey (issue 12, on a phone): a donor signs in by link and changes the card of her monthly gift;
a refused card first leaves the old one, then a good one replaces it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import mail
from playwright.sync_api import expect

from piazza.community.tests.conftest import DONOR_EMAIL
from piazza.funding.tests.flows import give
from piazza.payments.models import RecurringSchedule
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("check_ledger")]


def _card(page: Any, number: str) -> None:
    page.get_by_label("Numero della carta").fill(number)
    page.get_by_label("Scadenza (MM/AA)").fill("08/29")
    page.get_by_label("Codice di sicurezza (CVC)").fill("123")
    page.get_by_role("button", name="Salva la nuova carta").click()


def test_donor_changes_the_card_of_her_monthly_gift(phone_page: Any, campaign: Any) -> None:
    give(campaign, 1000, frequency="monthly")
    mail.outbox.clear()
    page = phone_page
    page.goto("/il-mio-spazio/")
    page.get_by_label(re.compile("Il tuo indirizzo email")).fill(DONOR_EMAIL)
    page.get_by_role("button", name="Mandami il link").click()
    found = re.search(r"http\S+/il-mio-spazio/accesso/\S+/", str(mail.outbox[-1].body))
    assert found
    page.goto(urlparse(found.group(0)).path)
    page.get_by_role("button", name="Entra in Il mio spazio").click()

    gifts = page.locator("section", has=page.get_by_role("heading", name="Le tue donazioni"))
    expect(gifts).to_contain_text("Carta: Carta di prova •••• 4242")
    page.get_by_role("button", name="Cambia carta della donazione ricorrente di 10,00 €").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cambia la carta")
    expect(page.locator("main")).to_contain_text("Carta attuale: Carta di prova •••• 4242")
    assert_accessible(page)

    _card(page, "4000 0000 0000 0002")  # refused by the bank at setup
    expect(page.get_by_role("status")).to_contain_text("La carta non è stata cambiata")
    expect(gifts).to_contain_text("Carta: Carta di prova •••• 4242")

    page.get_by_role("button", name="Cambia carta della donazione ricorrente di 10,00 €").click()
    page.get_by_label("Numero della carta").fill("4000 0566 5566 5556")
    page.get_by_label("Scadenza (MM/AA)").fill("13/29")  # a typo: said at the field
    page.get_by_label("Codice di sicurezza (CVC)").fill("123")
    page.get_by_role("button", name="Salva la nuova carta").click()
    expect(page.locator("main")).to_contain_text("Scrivi la scadenza come MM/AA")
    assert_accessible(page)
    _card(page, "4000 0566 5566 5556")
    expect(page.get_by_role("status")).to_contain_text("Carta cambiata: dal prossimo addebito useremo Visa •••• 5556")
    expect(gifts).to_contain_text("Carta: Visa •••• 5556")
    assert_accessible(page)
    schedule = RecurringSchedule.objects.get()
    assert schedule.saved_method is not None and schedule.saved_method.label == "Visa •••• 5556"
