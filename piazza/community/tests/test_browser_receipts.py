"""Journey (issue 13, on a phone): a donor gives, opens her receipt's PDF from the thank-you page,
then finds the same receipt in Il mio spazio and opens it there (rule F3)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import mail
from playwright.sync_api import expect

from piazza.community.tests.conftest import DONOR_EMAIL
from piazza.compliance.models import Receipt
from piazza.funding.tests.flows import OK_CARD, VALID_CF
from piazza.funding.tests.test_browser_donations import field, pay_with
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("check_ledger")]


def _pdf_of(page: Any, href: str) -> bytes:
    response = page.request.get(href)
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    return bytes(response.body())


def test_donor_gives_then_opens_the_receipt_from_the_thank_you_page_and_from_the_space(
    phone_page: Any, campaign: Any
) -> None:
    page = phone_page
    page.goto(campaign.get_absolute_url())
    page.get_by_label("25,00 €", exact=True).check()
    page.get_by_label("Una volta", exact=True).check()
    page.get_by_label(field("Nome")).fill("Giulia")
    page.get_by_label(field("Cognome")).fill("Rossi")
    page.get_by_label(field("Codice fiscale")).fill(VALID_CF)
    page.get_by_label(field("Email")).fill(DONOR_EMAIL)
    page.get_by_label(field("Indirizzo di residenza")).fill("Via Zamboni 1")
    page.get_by_label(field("CAP")).fill("40126")
    page.get_by_label(field("Comune di residenza")).fill("Bologna")
    for text in ("maggiorenne", "liste elettorali", "fondi miei personali", "governi, enti pubblici"):
        page.get_by_label(re.compile(text)).check()
    page.get_by_role("button", name="Continua al pagamento").click()
    pay_with(page, OK_CARD)
    expect(page.get_by_test_id("donation-outcome")).to_contain_text("è arrivata")

    receipt = Receipt.objects.get()
    link = page.get_by_role("link", name=f"Ricevuta n. {receipt.display_number}")
    expect(link).to_be_visible()
    assert_accessible(page)
    assert _pdf_of(page, link.get_attribute("href") or "").startswith(b"%PDF")

    page.goto("/il-mio-spazio/")
    page.get_by_label(re.compile("Il tuo indirizzo email")).fill(DONOR_EMAIL)
    page.get_by_role("button", name="Mandami il link").click()
    expect(page.get_by_role("status")).to_contain_text("Se l'indirizzo è registrato")
    found = re.search(r"http\S+/il-mio-spazio/accesso/\S+/", str(mail.outbox[-1].body))
    assert found
    page.goto(urlparse(found.group(0)).path)
    page.get_by_role("button", name="Entra in Il mio spazio").click()
    section = page.locator("section", has=page.get_by_role("heading", name="Ricevute"))
    space_link = section.get_by_role("link", name=f"Ricevuta n. {receipt.display_number}")
    expect(space_link).to_be_visible()
    assert_accessible(page)
    assert _pdf_of(page, space_link.get_attribute("href") or "").startswith(b"%PDF")
