"""Journey (the national treasurer, on a phone): the back-office navigation → the register board
shows a donor above the threshold as due → the treasurer opens the register and publishes it →
the board shows it met → the public page shows the donor (rules F1, F15)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from piazza.compliance.register.tasks import refresh_registers
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import give
from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official, verified_client
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 45_000


def _login(page, live_server, user):
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_treasurer_meets_the_deadline_and_the_donor_is_public(phone_page, live_server):
    page = phone_page
    tree = build_tree()
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    campaign = build_live_campaign(tree, owner, approver, goal_cents=500_000)
    give(campaign, 60_000)  # Giulia Rossi, 600 €: above the 500 € threshold
    refresh_registers.call()  # the nightly task
    treasurer = make_official("tesoreria.nazionale", tree.national, [Role.TREASURY])
    _login(page, live_server, treasurer)

    # 1. From the back office's navigation to the board: the entry is due.
    page.goto("/")
    page.get_by_role("link", name="Registro dei contributi").first.click()
    expect(page.get_by_role("heading", name="Registro dei contributi", level=1)).to_be_visible(timeout=WAIT)
    row = page.locator("tr[data-status=due]")
    expect(row).to_contain_text("Giulia Rossi", timeout=WAIT)
    expect(row).to_contain_text("Da pubblicare")
    expect(row).to_contain_text("entro il 31/07/2026")
    assert_accessible(page)

    # 2. Publish the register.
    page.get_by_role("link", name=re.compile("^Apri il registro di")).click()
    page.get_by_role("button", name="Pubblica il registro").click()
    expect(page.get_by_role("status")).to_contain_text("Registro pubblicato: versione 1", timeout=WAIT)
    assert_accessible(page)

    # 3. The board shows it met.
    page.locator(".breadcrumbs").get_by_role("link", name="Registro dei contributi").click()
    met = page.locator("tr[data-status=met]")
    expect(met).to_contain_text("Giulia Rossi", timeout=WAIT)
    expect(met).to_contain_text("pubblicato il")

    # 4. The public page shows the donor, with the date of the last update.
    page.get_by_role("link", name=re.compile("^Apri il registro di")).click()
    page.get_by_role("link", name="Vedi la pagina pubblica").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Contributi ricevuti nel", timeout=WAIT)
    expect(page.get_by_role("table")).to_contain_text("Giulia Rossi")
    expect(page.get_by_test_id("updated")).to_contain_text("Ultimo aggiornamento")
    assert_accessible(page)
