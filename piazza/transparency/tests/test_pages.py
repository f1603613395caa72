"""The portal's pages and files: reachable from the home page, stable addresses, open data that
matches its published schema, bad addresses answered with a 404, figures cached per ledger position."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.cache import cache
from django.urls import reverse

from piazza.compliance import actions as compliance_actions
from piazza.compliance.tests import journey as candidate_journey
from piazza.core.money import Money, format_eur
from piazza.funding.tests.flows import give
from piazza.territory.models import Role
from piazza.territory.testing import make_official
from piazza.transparency.opendata import TABLES
from piazza.transparency.tests.helpers import campaign_at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]

YEAR = 2026  # the suite's frozen clock: 10 June 2026


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def gifts(tree):
    campaign = campaign_at(tree.bologna_centro, budget=[("Tegole", 300_000), ("Ponteggio", 200_000)])
    for n in range(1, 6):
        give(campaign, 2_500, n=n)
    return campaign


def test_the_visitor_goes_from_the_home_page_to_a_federations_accounts(client, tree, gifts):
    home = client.get(reverse("web:home")).content.decode()
    assert home.count(f'href="{reverse("transparency:index")}"') == 2  # the public navigation and the page body
    assert reverse("transparency:index") in client.get(reverse("web:transparency")).content.decode()
    index = client.get(reverse("transparency:index"))
    assert index.status_code == 200
    html = index.content.decode()
    national = reverse("transparency:territory", args=[tree.national.pk, YEAR])
    assert national in html and reverse("transparency:territory", args=[tree.emilia.pk, YEAR]) in html
    assert 'aria-label="Donatori ogni 1.000 residenti, regione per regione"' in html  # the map, with its table
    page = client.get(national).content.decode()
    assert reverse("transparency:territory", args=[tree.emilia.pk, YEAR]) in page
    region = client.get(reverse("transparency:territory", args=[tree.emilia.pk, YEAR])).content.decode()
    federation_url = reverse("transparency:territory", args=[tree.bologna.pk, YEAR])
    assert federation_url in region
    federation = client.get(federation_url).content.decode()
    assert "I conti di Federazione metropolitana di Bologna nel 2026" in federation
    assert "Dati al 10 Giugno 2026, 10:00" in federation
    # budget against actual: the campaign, its budget and its lines
    assert gifts.title in federation and "Tegole" in federation and format_eur(500_000) in federation
    assert reverse("transparency:territory_file", args=[tree.bologna.pk, YEAR, "income", "csv"]) in federation


def test_the_data_package_describes_every_file_and_every_column(client, tree, gifts):
    response = client.get(reverse("transparency:territory_package", args=[tree.bologna.pk, YEAR]))
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "*"
    package = response.json()
    assert (
        package["profile"] == "tabular-data-package" and package["name"] == f"piazza-territory-{tree.bologna.pk}-{YEAR}"
    )
    assert [r["name"] for r in package["resources"]] == [t.replace("_", "-") for t in TABLES]
    for resource in package["resources"]:
        path = resource["path"].removeprefix("http://testserver")
        file = client.get(path)
        assert file.status_code == 200 and file["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(file.content.decode("utf-8-sig"))))
        assert rows[0] == [f["name"] for f in resource["schema"]["fields"]]
        for field in resource["schema"]["fields"]:
            assert field["type"] in {"string", "integer", "number", "date"} and field["title"]
    income = client.get(reverse("transparency:territory_file", args=[tree.bologna.pk, YEAR, "income", "json"])).json()
    small = next(r for r in income["rows"] if r["source"] == "small_gifts")
    assert small["contributors"] == 5 and small["contributions"] == 5
    assert income["year"] == YEAR and income["territory"] == tree.bologna.pk


def test_bad_addresses_are_404_and_the_portal_only_answers_reads(client, tree, gifts):
    base = [tree.bologna.pk, YEAR]
    assert client.get(reverse("transparency:territory", args=[tree.bologna.pk, 1999])).status_code == 404
    assert client.get(reverse("transparency:territory", args=[tree.bologna.pk, YEAR + 1])).status_code == 404
    assert client.get(reverse("transparency:territory", args=[999_999, YEAR])).status_code == 404
    assert client.get(reverse("transparency:territory_file", args=[*base, "people", "csv"])).status_code == 404
    assert client.get(reverse("transparency:territory_file", args=[*base, "income", "xlsx"])).status_code == 404
    assert client.post(reverse("transparency:territory", args=base)).status_code == 405
    assert client.get(reverse("transparency:candidacy", args=[999_999, YEAR])).status_code == 404


def test_a_candidacy_is_public_once_its_mandatario_holds_an_account(client, tree):
    official = make_official("federazione.cand", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    candidacy = candidate_journey.candidacy(tree, official)
    url = reverse("transparency:candidacy", args=[candidacy.pk, YEAR])
    assert client.get(url).status_code == 404  # no mandatario account yet: nothing to publish
    compliance_actions.book_candidate_expense(
        actor=official,
        candidacy=candidacy,
        description="Volantini",
        supplier="Mario Bianchi",  # a natural person: never shown
        amount=Money(12_000),
        incurred_on=dt.date(YEAR, 5, 2),
        idempotency_key="portale-cand-1",
    )
    cache.clear()
    page = client.get(url).content.decode()
    assert "Spese elettorali" in page and format_eur(12_000) in page
    assert "Bianchi" not in page and "Volantini" not in page
    federation = client.get(reverse("transparency:territory", args=[tree.bologna.pk, YEAR])).content.decode()
    assert url in federation
    files = json.dumps(client.get(reverse("transparency:candidacy_package", args=[candidacy.pk, YEAR])).json())
    assert "Bianchi" not in files


def test_a_figure_is_the_ledger_at_its_computation_time_and_refreshes_after_the_interval(client, tree, clock, settings):
    settings.TRANSPARENCY_REFRESH_SECONDS = 300
    campaign = campaign_at(tree.bologna_centro)
    for n in range(1, 4):
        give(campaign, 2_000, n=n)
    url = reverse("transparency:territory_file", args=[tree.bologna_centro.pk, YEAR, "income", "json"])

    def small() -> int:
        rows = client.get(url).json()["rows"]
        return int(next(r for r in rows if r["source"] == "small_gifts")["amount_cents"])

    first = small()
    give(campaign, 3_000, n=4)
    assert small() == first  # the same ledger position: the figure computed then
    clock.tick(301)
    assert small() > first + 3_000 - 1  # a new position after the interval: the new gift is there
    page = client.get(reverse("transparency:territory", args=[tree.bologna_centro.pk, YEAR])).content.decode()
    assert "Dati al 10 Giugno 2026, 10:05" in page
