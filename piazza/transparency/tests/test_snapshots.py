"""A portal page is a published snapshot (issue 13: "fast, cached, correct under load: a published
figure equals the ledger at its publication time"): the page equals the ledger at the moment it
states, is served without a database query while the ledger does not move, and a new ledger
entry makes a new snapshot — computed by one request while the others keep the previous one,
whose page says how old it is."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from piazza.core.money import format_eur
from piazza.funding.tests.flows import give
from piazza.transparency.queries import CACHE_PREFIX, ledger_position, scope_of_territory
from piazza.transparency.reports import compute_report
from piazza.transparency.tests.helpers import campaign_at
from piazza.transparency.tests.test_ledger_totals import _ledger_balance

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]

YEAR = 2026  # the suite's frozen clock: 10 June 2026


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _balance(page: str) -> str:
    return page.split('data-testid="balance">', 1)[1].split("<", 1)[0]


def test_the_snapshot_equals_the_ledger_then_and_a_new_entry_makes_a_new_one(
    client, tree, clock, settings, django_assert_max_num_queries
):
    settings.TRANSPARENCY_REFRESH_SECONDS = 300
    campaign = campaign_at(tree.bologna_centro)
    for n in range(1, 5):
        give(campaign, 2_000, n=n)
    url = reverse("transparency:territory", args=[tree.bologna.pk, YEAR])
    first = client.get(url).content.decode()
    published_at = ledger_position()
    # The snapshot is the ledger at its publication time, and says when that was.
    assert _balance(first) == format_eur(_ledger_balance(tree.bologna))
    assert "Dati al 10 Giugno 2026, 10:00" in first
    assert compute_report(scope_of_territory(tree.bologna), YEAR, published_at).summary["closing_cents"] == (
        _ledger_balance(tree.bologna)
    )

    # Served again from the snapshot: no database query at all.
    with django_assert_max_num_queries(0):
        assert client.get(url).content.decode().count(_balance(first)) >= 1

    # A new gift: until the portal reads the ledger's position again, the page keeps its figures
    # and its time — a page never mixes two moments of the ledger.
    give(campaign, 5_000, n=5)
    clock.tick(60)
    again = client.get(url).content.decode()
    assert _balance(again) == _balance(first) and "Dati al 10 Giugno 2026, 10:00" in again

    # After the interval the ledger has moved: a new snapshot, equal to the ledger now, with its time.
    clock.tick(300)
    new = client.get(url).content.decode()
    assert ledger_position() > published_at
    assert _balance(new) == format_eur(_ledger_balance(tree.bologna)) != _balance(first)
    assert "Dati al 10 Giugno 2026, 10:06" in new


def test_while_one_request_computes_the_new_snapshot_the_others_serve_the_previous_with_its_time(
    client, tree, clock, settings, django_assert_max_num_queries
):
    settings.TRANSPARENCY_REFRESH_SECONDS = 300
    campaign = campaign_at(tree.bologna_centro)
    for n in range(1, 5):
        give(campaign, 2_000, n=n)
    url = reverse("transparency:territory", args=[tree.bologna.pk, YEAR])
    first = client.get(url).content.decode()
    give(campaign, 5_000, n=5)
    clock.tick(301)
    position = ledger_position()
    # Another worker has taken the lock of the new position and is computing it.
    key = f"{CACHE_PREFIX}:page:{url}:it"
    assert cache.add(f"{key}:lock:{position}", 1, 120)
    with django_assert_max_num_queries(0):
        stale = client.get(url).content.decode()
    assert _balance(stale) == _balance(first)
    assert "Dati al 10 Giugno 2026, 10:00" in stale  # the page states the age of its figures
    cache.delete(f"{key}:lock:{position}")
    fresh = client.get(url).content.decode()
    assert _balance(fresh) == format_eur(_ledger_balance(tree.bologna))
