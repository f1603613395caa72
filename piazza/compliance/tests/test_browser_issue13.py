"""Journey (issue 13, one run for the whole issue, Chromium on a phone-sized viewport, axe on every page):

1. A federation treasurer (each entity keeps its own register, rule F14) opens the deadline board
   from the back-office navigation: a gift received in an election period of the region is due
   this month, within 15 days (rule F1); she publishes the register before the deadline and the
   board shows it met, with no sanction anywhere (rule F15); the public page shows the donor.
2. The donor signs into Il mio spazio by email link and downloads her numbered receipt (rule F3)
   and her tax statement with the 26% credit (rules F7, F8): both responses are the PDFs of
   those documents.
3. A visitor browses the federation's accounts on the transparency portal.

Replaces the separate register and tax-statement journeys; the donation form with the receipt on
the thank-you page (community) and the portal's table download (transparency) keep theirs.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import expect

from piazza.compliance.models import ElectionPeriodKind, FinanceRuleSet, Receipt, TaxStatement
from piazza.compliance.receipt_documents import receipts_pdf
from piazza.compliance.register import actions as register
from piazza.compliance.register.tasks import refresh_registers
from piazza.compliance.tax_statements.actions.runs import start_tax_statements
from piazza.compliance.tax_statements.pdf import statement_pdf
from piazza.funding.tests.flows import give
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client
from piazza.transparency.tests.helpers import campaign_at
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("check_ledger")]
WAIT = 45_000
DONOR_EMAIL = "giulia.0@example.org"


def _sign_in_as(page: Any, live_server: Any, user: Any) -> None:
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def _pdf(page: Any, href: str) -> bytes:
    response = page.request.get(href)
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    return bytes(response.body())


def test_issue_13_treasurer_meets_the_deadline_donor_downloads_documents_visitor_reads_accounts(
    phone_page: Any, live_server: Any, tree: Any
) -> None:
    cache.clear()
    FinanceRuleSet.objects.create(valid_from=dt.date(2026, 1, 1), cap_scope="entity")  # rule F14: per entity
    organiser = make_official("organizzazione.er", tree.emilia, [Role.ORGANISATION])
    register.declare_election_period(
        actor=organiser,
        territory=tree.emilia,
        kind=ElectionPeriodKind.ELECTION,
        election_day=dt.date(2026, 9, 20),
        description="Elezioni regionali dell'Emilia-Romagna 2026",
    )
    campaign = campaign_at(tree.bologna, title="Sede nuova della federazione")
    give(campaign, 600_00)  # Giulia Rossi, 10 June 2026: above the €500 threshold
    refresh_registers.call()  # the nightly task
    page = phone_page

    # 1. The federation treasurer: board → the entry due this month → publish → met → public page.
    treasurer = make_official("tesoreria.bo", tree.bologna, [Role.TREASURY])
    _sign_in_as(page, live_server, treasurer)
    page.goto("/")
    page.get_by_role("link", name="Registro dei contributi").first.click()
    expect(page.get_by_role("heading", name="Registro dei contributi", level=1)).to_be_visible(timeout=WAIT)
    row = page.locator("tr[data-status=due]")
    expect(row).to_contain_text("Giulia Rossi", timeout=WAIT)
    expect(row).to_contain_text("entro il 25/06/2026")  # 15 days: an election period (rule F1)
    expect(row).to_contain_text("periodo elettorale")
    assert_accessible(page)
    page.get_by_role("link", name=re.compile("^Apri il registro di")).click()
    page.get_by_role("button", name="Pubblica il registro").click()
    expect(page.get_by_role("status")).to_contain_text("Registro pubblicato: versione 1", timeout=WAIT)
    assert_accessible(page)
    page.locator(".breadcrumbs").get_by_role("link", name="Registro dei contributi").click()
    met = page.locator("tr[data-status=met]")
    expect(met).to_contain_text("Giulia Rossi", timeout=WAIT)
    expect(met).to_contain_text("pubblicato il 10/06/2026")  # before the deadline: no days late
    assert "sanzion" not in page.content().lower()  # rule F15
    page.get_by_role("link", name=re.compile("^Apri il registro di")).click()
    page.get_by_role("link", name="Vedi la pagina pubblica").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Federazione metropolitana di Bologna")
    expect(page.get_by_role("table")).to_contain_text("Giulia Rossi")
    expect(page.get_by_test_id("updated")).to_contain_text("Ultimo aggiornamento")
    assert_accessible(page)
    page.context.clear_cookies()

    # 2. The donor: the year's statements are generated; she signs in and downloads both PDFs.
    mail.outbox.clear()
    start_tax_statements(actor=make_official("tesoreria.nazionale", tree.national, [Role.TREASURY]), year=2026)
    statement = TaxStatement.objects.get()
    receipt = Receipt.objects.get()
    assert (statement.credit_cents, receipt.amount_cents) == (156_00, 600_00)  # 26% of €600 (rule F7)
    ready = [m for m in mail.outbox if m.to == [DONOR_EMAIL]]
    space = re.search(r"http\S+/il-mio-spazio/\S*", str(ready[0].body)) if len(ready) == 1 else None
    assert space is not None and not ready[0].attachments  # the statement waits in the space
    page.goto(urlparse(space.group(0)).path)  # the emailed link; not signed in yet: the door
    page.get_by_label(re.compile("Il tuo indirizzo email")).fill(DONOR_EMAIL)
    page.get_by_role("button", name="Mandami il link").click()
    expect(page.get_by_role("status")).to_contain_text("Se l'indirizzo è registrato")
    link = re.search(r"http\S+/il-mio-spazio/accesso/\S+/", str(mail.outbox[-1].body))
    assert link and mail.outbox[-1].to == [DONOR_EMAIL]
    page.goto(urlparse(link.group(0)).path)
    page.get_by_role("button", name="Entra in Il mio spazio").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ciao Giulia")
    receipts = page.locator("section", has=page.get_by_role("heading", name="Ricevute"))
    receipt_link = receipts.get_by_role("link", name=f"Ricevuta n. {receipt.display_number}")
    expect(receipt_link).to_be_visible()
    statements = page.locator("section", has=page.get_by_role("heading", name="Dichiarazioni per la detrazione"))
    expect(statements).to_contain_text("156,00 €")
    assert_accessible(page)
    assert _pdf(page, receipt_link.get_attribute("href") or "") == receipts_pdf([receipt])
    with page.expect_download() as download_info:
        statements.get_by_role("link", name="Scarica la dichiarazione 2026 (PDF)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    assert download.path().read_bytes() == statement_pdf(statement)
    page.context.clear_cookies()

    # 3. A visitor reads the federation's accounts on the transparency portal.
    page.goto("/")
    page.get_by_role("link", name="I conti del partito: entrate, uscite e saldo di ogni territorio").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("I conti del partito")
    page.get_by_role("link", name="Unione regionale Emilia-Romagna").first.click()
    page.get_by_role("link", name="Federazione metropolitana di Bologna").last.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "I conti di Federazione metropolitana di Bologna nel 2026"
    )
    assert "/trasparenza/conti/" in page.url
    expect(page.get_by_test_id("as-of")).to_contain_text("Dati al")
    expect(page.locator("main")).to_contain_text("600,00")
    assert_accessible(page)
