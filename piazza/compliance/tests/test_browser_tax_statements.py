"""Journey (issue 13, on a phone): after the national treasury generated the year's statements, a
donor opens the emailed link to Il mio spazio, signs in by link and downloads the tax statement
PDF (rules F7, F8)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import mail
from playwright.sync_api import expect

from piazza.compliance.models import TaxStatement
from piazza.compliance.tax_statements.actions.runs import start_tax_statements
from piazza.compliance.tax_statements.pdf import statement_pdf
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import give
from piazza.territory.models import Role
from piazza.territory.testing import make_official
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("check_ledger")]
DONOR_EMAIL = "giulia.0@example.org"


def test_donor_downloads_the_tax_statement_from_il_mio_spazio_on_a_phone(phone_page: Any, tree: Any) -> None:
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    campaign = build_live_campaign(tree, owner, approver)
    give(campaign, 120_00)
    mail.outbox.clear()
    start_tax_statements(actor=make_official("tesoreria.nazionale", tree.national, [Role.TREASURY]), year=2026)
    statement = TaxStatement.objects.get()
    ready = [m for m in mail.outbox if m.to == [DONOR_EMAIL]]
    assert len(ready) == 1
    space = re.search(r"http\S+/il-mio-spazio/\S*", str(ready[0].body))
    assert space is not None

    page = phone_page
    page.goto(urlparse(space.group(0)).path)  # not signed in yet: the door
    page.get_by_label(re.compile("Il tuo indirizzo email")).fill(DONOR_EMAIL)
    page.get_by_role("button", name="Mandami il link").click()
    expect(page.get_by_role("status")).to_contain_text("Se l'indirizzo è registrato")
    link = re.search(r"http\S+/il-mio-spazio/accesso/\S+/", str(mail.outbox[-1].body))
    assert link and mail.outbox[-1].to == [DONOR_EMAIL]
    page.goto(urlparse(link.group(0)).path)
    page.get_by_role("button", name="Entra in Il mio spazio").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ciao Giulia")

    section = page.locator("section", has=page.get_by_role("heading", name="Dichiarazioni per la detrazione"))
    expect(section).to_contain_text("Federazione")
    expect(section).to_contain_text("31,20 €")  # 26% of €120 (rule F7)
    assert_accessible(page)
    with page.expect_download() as download_info:
        section.get_by_role("link", name="Scarica la dichiarazione 2026 (PDF)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    assert download.path().read_bytes() == statement_pdf(statement)
