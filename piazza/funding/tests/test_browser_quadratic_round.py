"""Journey (issue 17): the Bologna federation's treasurer opens a quadratic round for its circoli;
two donors on their phones give to two projects and see the estimated match move; the round
closes and the public results page shows the allocation and its inputs."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from piazza.funding.models import MatchingPool
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import VALID_CF, codice_fiscale_for
from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official, verified_client
from piazza.web.testing_browser import PHONE, assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 45_000
DEBIT_CARD = "4000 0566 5566 5556"  # a second sandbox card: another instrument, another person


def field(text: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(text)}( \*)?$")


def _login(page: Any, live_server: Any, user: Any) -> None:
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def _give(page: Any, campaign: Any, *, first: str, last: str, code: str, email: str, card: str) -> None:
    page.goto(campaign.get_absolute_url())
    page.get_by_label("25,00 €", exact=True).check()
    page.get_by_label("Una volta", exact=True).check()
    page.get_by_label(field("Nome")).fill(first)
    page.get_by_label(field("Cognome")).fill(last)
    page.get_by_label(field("Codice fiscale")).fill(code)
    page.get_by_label(field("Email")).fill(email)
    page.get_by_label(field("Indirizzo di residenza")).fill("Via Zamboni 1")
    page.get_by_label(field("CAP")).fill("40126")
    page.get_by_label(field("Comune di residenza")).fill("Bologna")
    for text in ("maggiorenne", "liste elettorali", "fondi miei personali", "governi, enti pubblici"):
        page.get_by_label(re.compile(text)).check()
    page.get_by_role("button", name="Continua al pagamento").click()
    page.wait_for_url("**/pagamenti/**", timeout=WAIT)
    page.get_by_label(field("Numero della carta")).fill(card)
    page.get_by_label(field("Scadenza (MM/AA)")).fill("08/29")
    page.get_by_label(field("Codice di sicurezza (CVC)")).fill("123")
    page.get_by_role("button", name="Paga 25,00 €").click()
    page.wait_for_url("**/raccolte/donazione/**", timeout=WAIT)


def test_a_federation_round_from_opening_to_published_results(phone_page, browser, live_server, clock):
    tree = build_tree()
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    treasurer = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    roof = build_live_campaign(tree, owner, treasurer, title="Un tetto per la Casa del Popolo")
    library = build_live_campaign(tree, owner, treasurer, title="Biblioteca di quartiere")

    # 1. The federation's treasurer opens the round from the pools page (on a phone too).
    page = phone_page
    _login(page, live_server, treasurer)
    page.goto("/raccolte/gestione/fondi/")
    page.get_by_label("Territorio che mette il fondo").select_option(label=tree.bologna.name)
    page.get_by_label(field("Nome del fondo")).fill("Round dei circoli bolognesi")
    page.get_by_label(field("Budget (€)")).fill("500")
    page.get_by_label(field("Modalità")).select_option("quadratic")
    page.get_by_label(field("Chiusura del round (ultimo giorno)")).fill(
        (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    )
    page.get_by_role("button", name="Apri il fondo").click()
    page.get_by_role("link", name="Round dei circoli bolognesi").click()
    expect(page.get_by_role("heading", name="Round dei circoli bolognesi", level=1)).to_be_visible(timeout=WAIT)
    assert_accessible(page)
    pool = MatchingPool.objects.get(name="Round dei circoli bolognesi")

    # 2. Two donors on their phones give to the two projects; the estimate moves.
    giulia = browser.new_context(base_url=live_server.url, locale="it-IT", **PHONE)
    donor = giulia.new_page()
    _give(
        donor, roof, first="Giulia", last="Rossi", code=VALID_CF, email="giulia@example.org", card="4242 4242 4242 4242"
    )
    donor.goto(roof.get_absolute_url())
    estimate = donor.locator(".round-estimate")
    expect(estimate).to_contain_text("Raddoppio stimato oggi: 0,00 €", timeout=WAIT)
    expect(estimate).to_contain_text("il tuo contributo vale 22,36 € in più")  # 2·√(2500·500) cents
    assert_accessible(donor)

    first, last, code = codice_fiscale_for(7)
    luca = browser.new_context(base_url=live_server.url, locale="it-IT", **PHONE)
    second = luca.new_page()
    _give(second, roof, first=first, last=last, code=code, email="secondo@example.org", card=DEBIT_CARD)
    _give(second, library, first=first, last=last, code=code, email="secondo@example.org", card=DEBIT_CARD)
    second.goto(roof.get_absolute_url())
    expect(second.locator(".round-estimate")).to_contain_text("Raddoppio stimato oggi: 50,00 €", timeout=WAIT)
    donor.reload()
    expect(donor.locator(".round-estimate")).to_contain_text("Raddoppio stimato oggi: 50,00 €", timeout=WAIT)
    second.goto(library.get_absolute_url())
    expect(second.locator(".round-estimate")).to_contain_text("Raddoppio stimato oggi: 0,00 €", timeout=WAIT)

    giulia.close()  # their pages poll the thermometer: closed before the clock moves
    luca.close()

    # 3. Four days later the round's time is up; the treasurer (signed in again) closes it.
    clock.move_to(timezone.now() + dt.timedelta(days=4))
    _login(page, live_server, treasurer)
    page.goto(f"/raccolte/gestione/fondi/{pool.pk}/round/")
    page.get_by_role("button", name="Chiudi il round e ripartisci il fondo").click()
    expect(page.get_by_text("Round chiuso", exact=False).first).to_be_visible(timeout=WAIT)

    # 4. The public results: allocation, inputs and open data.
    page.get_by_role("link", name=re.compile("Risultati pubblici del round")).click()
    expect(page.get_by_role("heading", name="Round dei circoli bolognesi", level=1)).to_be_visible(timeout=WAIT)
    row = page.get_by_role("row", name=re.compile("Un tetto per la Casa del Popolo"))
    expect(row).to_contain_text("50,00 €")
    expect(row).to_contain_text("100,00")  # Σ √c: √2500 + √2500
    expect(page.get_by_role("link", name="JSON")).to_be_visible()
    assert_accessible(page)
