"""Issue 12, notices on a phone (390×844): the national privacy officer writes a new version of
the donation notice, previews it with its differences, publishes it; a donor's donation form then
links that version, and its public page opens. Rule G5 (GDPR art. 13); every page passes axe."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from piazza.funding.tests.conftest import build_live_campaign
from piazza.people.actions.notices import ensure_default_notices
from piazza.people.models import NoticeVersion
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 45_000
ADDED = "Conserviamo la ricevuta per dieci anni, come impone il codice civile."


def test_the_officer_publishes_a_new_notice_and_the_donation_form_links_it(
    phone_page: Any, live_server: Any, tree: Any
) -> None:
    ensure_default_notices()  # an earlier transactional test empties the tables
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    campaign = build_live_campaign(tree, owner, approver)
    officer = make_official("dpo.browser", tree.national, [Role.PRIVACY_OFFICER])
    page = phone_page
    page.set_default_timeout(WAIT)
    client = verified_client(officer)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )

    page.goto(f"{live_server.url}/privacy/gestione/richieste/")
    page.get_by_role("link", name="Informative").click()
    assert_accessible(page)
    page.get_by_role("link", name="Donazioni").click()
    page.get_by_role("link", name="Pubblica una nuova versione").click()
    page.get_by_label("Etichetta della versione").fill("2026.2")
    body = page.get_by_label("Testo")
    body.fill(body.input_value() + "\n\n" + ADDED)
    page.get_by_role("button", name="Anteprima").click()
    expect(page.get_by_role("heading", name="Differenze dalla versione in vigore")).to_be_visible()
    expect(page.locator("ins", has_text=ADDED)).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Pubblica questa versione").click()
    expect(page.get_by_text("(in vigore)")).to_have_count(2)  # the new Italian one and the English one
    assert NoticeVersion.objects.filter(notice__key="donate", label="2026.2", published_by=officer).exists()

    page.context.clear_cookies()
    page.goto(live_server.url + reverse("funding:donate", args=[campaign.slug]))
    link = page.get_by_role("link", name="Informativa privacy (versione 2026.2)")
    expect(link).to_be_visible()
    assert_accessible(page)
    page.goto(f"{live_server.url}{link.get_attribute('href')}")
    expect(page.get_by_text(ADDED)).to_be_visible()
    assert_accessible(page)
