"""Journey (issue 12, on a phone): a donor asks for the link, opens it from the email, sees her
gifts, withdraws a consent (G3), cancels her monthly gift and signs out."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import mail
from playwright.sync_api import expect

from piazza.community.tests.conftest import DONOR_EMAIL
from piazza.funding.tests.flows import give
from piazza.payments.models import RecurringSchedule, ScheduleState
from piazza.people.actions.consent import record_consent
from piazza.people.models import Channel, Consent, Person, Purpose

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("check_ledger")]


def test_donor_signs_in_by_link_sees_gifts_withdraws_consent_cancels_monthly_and_signs_out(
    phone_page: Any, campaign: Any
) -> None:
    give(campaign, 2500)
    give(campaign, 1000, frequency="monthly")
    person = Person.objects.filter(donations__isnull=False, emails__value=DONOR_EMAIL).distinct().get()
    record_consent(
        actor=None,
        person=person,
        purpose=Purpose.POLITICAL_COMMUNICATION,
        channel=Channel.PAPER,
        text_version="2025.1",
        evidence="modulo al gazebo",
    )
    mail.outbox.clear()

    page = phone_page
    page.goto("/il-mio-spazio/")
    assert page.viewport_size["width"] == 390
    page.get_by_label(re.compile("Il tuo indirizzo email")).fill(DONOR_EMAIL)
    page.get_by_role("button", name="Mandami il link").click()
    expect(page.get_by_role("status")).to_contain_text("Se l'indirizzo è registrato")

    found = re.search(r"http\S+/il-mio-spazio/accesso/\S+/", str(mail.outbox[-1].body))
    assert found and mail.outbox[-1].to == [DONOR_EMAIL]
    page.goto(urlparse(found.group(0)).path)
    page.get_by_role("button", name="Entra in Il mio spazio").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ciao Giulia")

    gifts = page.locator("section", has=page.get_by_role("heading", name="Le tue donazioni"))
    expect(gifts).to_contain_text("25,00 €")
    expect(gifts).to_contain_text("10,00 €")

    page.get_by_role("button", name="Revoca il consenso: Comunicazione politica").click()
    expect(page.get_by_role("status")).to_contain_text("consenso revocato")
    expect(page.locator("#consent-political_communication")).to_contain_text("nessun consenso")
    latest = Consent.objects.filter(person=person, purpose=Purpose.POLITICAL_COMMUNICATION).order_by("-at", "-id")
    assert [c.granted for c in latest] == [False, True]

    page.get_by_role("button", name="Annulla la donazione ricorrente di 10,00 €").click()
    expect(page.get_by_role("status")).to_contain_text("Donazione mensile annullata")
    assert RecurringSchedule.objects.get().state == ScheduleState.CANCELED

    page.get_by_role("button", name="Esci da Il mio spazio").click()
    expect(page.get_by_role("status")).to_contain_text("Sei uscito da Il mio spazio")
    page.goto("/il-mio-spazio/")
    expect(page.get_by_role("button", name="Mandami il link")).to_be_visible()
