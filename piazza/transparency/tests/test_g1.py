"""Rule G1 on the portal: a circolo with one donor in a month does not reveal the gift, a circolo
with one donor in the year is published only within its federation, on the page and in every file."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.urls import reverse

from piazza.transparency.opendata import TABLES
from piazza.transparency.tests.helpers import campaign_at, gift_at, local

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]

YEAR = 2026
LONE_GIFT = 3_777  # €37,77: a figure nobody else gives


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _everything(client, territory_id: int) -> str:
    """The page, every CSV and JSON file and the data package of a territory's year, as text."""
    texts = [client.get(reverse("transparency:territory", args=[territory_id, YEAR])).content.decode()]
    for table in TABLES:
        for fmt in ("csv", "json"):
            response = client.get(reverse("transparency:territory_file", args=[territory_id, YEAR, table, fmt]))
            assert response.status_code == 200
            texts.append(response.content.decode("utf-8-sig"))
    texts.append(client.get(reverse("transparency:territory_package", args=[territory_id, YEAR])).content.decode())
    return "\n".join(texts)


def test_rule_g1_a_circolo_with_one_donor_in_a_month_does_not_reveal_the_gift(client, tree, clock):
    campaign = campaign_at(tree.bologna_centro)
    for n in (11, 12, 13):
        gift_at(clock, local(YEAR, 3, 10), campaign, 2_000, n=n)
    gift_at(clock, local(YEAR, 4, 20), campaign, LONE_GIFT, n=14)  # the only donor of April

    months = json.loads(
        client.get(
            reverse("transparency:territory_file", args=[tree.bologna_centro.pk, YEAR, "donors_by_month", "json"])
        ).content
    )["rows"]
    assert [row["month"] for row in months] == ["merged"]  # March (3 donors) had to join April (1)
    assert months[0]["donors"] == 4 and months[0]["amount_cents"] == 3 * 2_000 + LONE_GIFT

    everything = _everything(client, tree.bologna_centro.pk)
    assert "37,77" not in everything and str(LONE_GIFT) + "," not in everything
    assert f'"amount_cents": {LONE_GIFT}' not in everything and "2026-04" not in everything
    # the circolo's page is published: four donors in the year
    page = client.get(reverse("transparency:territory", args=[tree.bologna_centro.pk, YEAR])).content.decode()
    assert "Conti pubblicati insieme al livello superiore" not in page


def test_rule_g1_a_circolo_with_one_donor_in_the_year_is_published_within_its_federation(client, tree, clock):
    lonely = campaign_at(tree.bologna_navile, title="Raccolta di Navile")
    busy = campaign_at(tree.bologna_centro)
    gift_at(clock, local(YEAR, 2, 3), lonely, LONE_GIFT, n=21)
    for n in (22, 23, 24):
        gift_at(clock, local(YEAR, 2, 5), busy, 2_000, n=n)

    page = client.get(reverse("transparency:territory", args=[tree.bologna_navile.pk, YEAR])).content.decode()
    assert "Conti pubblicati insieme al livello superiore" in page
    assert reverse("transparency:territory", args=[tree.bologna.pk, YEAR]) in page
    everything = _everything(client, tree.bologna_navile.pk)
    assert "37,77" not in everything and str(LONE_GIFT) not in everything

    # The federation publishes it, merged with the other circolo in the table by territory.
    federation = client.get(reverse("transparency:territory", args=[tree.bologna.pk, YEAR])).content.decode()
    assert "Conti pubblicati insieme al livello superiore" not in federation
    rows = json.loads(
        client.get(
            reverse("transparency:territory_file", args=[tree.bologna.pk, YEAR, "donors_by_territory", "json"])
        ).content
    )["rows"]
    assert [row["territory_id"] for row in rows] == [None]
    assert rows[0]["donors"] == 4 and rows[0]["amount_cents"] == LONE_GIFT + 3 * 2_000
    income = json.loads(
        client.get(reverse("transparency:territory_file", args=[tree.bologna.pk, YEAR, "income", "json"])).content
    )["rows"]
    small = next(row for row in income if row["source"] == "small_gifts")
    assert small["contributors"] == 4


def test_rule_g1_k_is_a_parameter(client, tree, clock, settings):
    settings.TRANSPARENCY_MIN_DONORS = 5
    campaign = campaign_at(tree.bologna_centro)
    for n in (31, 32, 33, 34):
        gift_at(clock, local(YEAR, 3, 10), campaign, 2_000, n=n)
    page = client.get(reverse("transparency:territory", args=[tree.bologna_centro.pk, YEAR])).content.decode()
    assert "Conti pubblicati insieme al livello superiore" in page  # four donors: fewer than five
