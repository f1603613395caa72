"""Journey (issue 13): a visitor on a phone goes from the home page to a federation's accounts,
opens a chart's table and downloads its CSV — Chromium, phone viewport, axe on every page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from piazza.funding.tests.flows import give
from piazza.transparency.tests.helpers import campaign_at
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_visitor_on_a_phone_reads_a_federations_accounts_and_downloads_a_table(phone_page: Any, tree):
    cache.clear()
    campaign = campaign_at(tree.bologna_centro, title="Un tetto nuovo")
    for n in range(1, 6):
        give(campaign, 2_500, n=n)
    page = phone_page

    page.goto("/")
    page.get_by_role("link", name="I conti del partito: entrate, uscite e saldo di ogni territorio").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("I conti del partito")
    assert_accessible(page)
    page.get_by_role("link", name="Unione regionale Emilia-Romagna").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Emilia-Romagna")
    page.get_by_role("link", name="Federazione metropolitana di Bologna").last.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "I conti di Federazione metropolitana di Bologna nel 2026"
    )
    expect(page.get_by_test_id("as-of")).to_contain_text("Dati al")
    assert_accessible(page)

    months = page.locator("details", has_text="Mostra la tabella del grafico").first
    months.locator("summary").click()
    table = months.get_by_role("table")
    expect(table).to_be_visible()
    expect(table).to_contain_text("Donatori")
    assert_accessible(page)

    with page.expect_download() as download_info:
        months.get_by_role("link", name="Piccoli donatori mese per mese (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == f"piazza-territory-{tree.bologna.pk}-2026-donors_by_month.csv"
    content = Path(download.path()).read_text(encoding="utf-8-sig")
    assert content.splitlines()[0].startswith("month,label,donors,gifts,amount_cents")
    assert "2026-06" in content and ",5,5," in content
