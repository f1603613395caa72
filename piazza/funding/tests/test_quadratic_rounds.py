"""Quadratic rounds on a matching pool (issue 17): many small donors attract the pool, the ledger balances."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from piazza.funding.actions import pools as pools_actions
from piazza.funding.actions.closing import end_campaign
from piazza.funding.actions.rounds import close_quadratic_round
from piazza.funding.models import MatchingPool, MatchStatus, PoolMatch, PoolMode, QuadraticVariant
from piazza.funding.queries import counter_totals, round_standing
from piazza.funding.tasks import close_due_quadratic_rounds
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import give, give_own_card
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


@pytest.fixture
def treasurer(tree):
    return make_official("tesoriere.emilia", tree.emilia, [Role.TREASURY])


def _round(treasurer, tree, **rules):
    return pools_actions.open_pool(
        actor=treasurer,
        territory=tree.emilia,
        name="Round dei circoli",
        budget_cents=50_000,
        mode=PoolMode.QUADRATIC,
        closes_at=timezone.now() + dt.timedelta(days=7),
        **rules,
    )


def test_many_small_donors_take_the_pool_from_one_large_donor(
    tree, treasurer, live_campaign, circolo_official, federation_official, clock
):
    other = build_live_campaign(tree, circolo_official, federation_official, title="Festa di quartiere")
    pool = _round(treasurer, tree, min_distinct_donors=2)
    for n in range(10):
        give_own_card(live_campaign, 1_000, n=n)  # ten people give €10
    give_own_card(other, 10_000, n=20)  # one person gives €100
    give_own_card(other, 200, n=21)  # and a friend €2

    standing = {line.campaign.pk: line for line in round_standing(pool)}
    assert standing[live_campaign.pk].donors == 10
    assert standing[live_campaign.pk].match_cents > 20 * standing[other.pk].match_cents  # an estimate until closed

    with pytest.raises(ValidationError, match="aperto fino al"):
        close_quadratic_round(actor=treasurer, pool=pool)
    clock.move_to(timezone.now() + dt.timedelta(days=8))

    matches = close_quadratic_round(actor=treasurer, pool=pool)
    # ideal: (10·√1000)² − 10,000 = 90,000 and (√10000 + √200)² − 10,200 = 2,828.4; the pool is 50,000
    assert matches == {live_campaign.pk: 48_477, other.pk: 1_523}
    pool.refresh_from_db()
    assert pool.round_closed_at is not None and pool.reserved_cents == 50_000
    assert counter_totals(live_campaign.pk)["matched"] == 48_477
    assert close_quadratic_round(actor=treasurer, pool=pool) == matches  # idempotent
    assert PoolMatch.objects.filter(pool=pool).count() == 2


def test_a_gift_after_the_close_does_not_count_and_a_single_donor_gets_nothing(tree, treasurer, live_campaign, clock):
    pool = _round(treasurer, tree)
    give(live_campaign, 5_000, n=1)
    clock.move_to(timezone.now() + dt.timedelta(days=8))
    give(live_campaign, 5_000, n=2)  # after the round closed
    assert close_quadratic_round(actor=None, pool=pool) == {}
    pool.refresh_from_db()
    assert pool.reserved_cents == 0 and pool.remaining_cents == 50_000


def test_one_address_counts_as_one_voice_in_the_cluster_variant(tree, treasurer, live_campaign, clock):
    pool = _round(treasurer, tree, quadratic_variant=QuadraticVariant.CLUSTER)
    for n in range(4):
        give_own_card(live_campaign, 2_500, n=n)  # four cards, but the same address (Via Zamboni 1)
    lines = round_standing(pool)
    assert lines[0].donors == 1 and lines[0].match_cents == 0
    pool.quadratic_variant = QuadraticVariant.STANDARD
    assert round_standing(pool)[0].donors == 4 and round_standing(pool)[0].match_cents > 0


def test_a_shared_card_is_one_voice_in_every_variant(tree, treasurer, live_campaign, clock):
    pool = _round(treasurer, tree)
    for n in range(4):
        give(live_campaign, 2_500, n=n)  # the sandbox card: one instrument fingerprint for all four
    lines = round_standing(pool)
    assert lines[0].donors == 1 and lines[0].match_cents == 0


def test_a_settled_campaign_receives_its_match_at_once(
    tree, treasurer, live_campaign, circolo_official, federation_official, clock
):
    pool = _round(treasurer, tree)
    give_own_card(live_campaign, 1_000, n=1)
    give_own_card(live_campaign, 1_000, n=2)
    clock.move_to(timezone.now() + dt.timedelta(days=40))
    campaign = end_campaign(actor=None, campaign=live_campaign)
    assert campaign.status == "settled"
    assert close_due_quadratic_rounds.call() == 1
    match = PoolMatch.objects.get(pool=pool)
    assert match.status == MatchStatus.SETTLED and match.amount_cents == 2_000  # (2·√1000)² − 2000


def test_only_the_pool_territory_treasury_closes_a_round_and_only_a_quadratic_pool(tree, treasurer, clock):
    pool = _round(treasurer, tree)
    clock.move_to(timezone.now() + dt.timedelta(days=8))
    stranger = make_official("tesoriere.lombardia", tree.lombardia, [Role.TREASURY])
    with pytest.raises(PermissionDenied):
        close_quadratic_round(actor=stranger, pool=pool)
    per_gift = pools_actions.open_pool(actor=treasurer, territory=tree.emilia, name="Raddoppio", budget_cents=1_000)
    with pytest.raises(ValidationError, match="non è un round quadratico"):
        close_quadratic_round(actor=treasurer, pool=per_gift)


def test_the_treasurer_opens_follows_and_closes_a_round_from_the_back_office(tree, treasurer, live_campaign, clock):
    client = verified_client(treasurer)
    missing_day = client.post(
        reverse("funding:pools"),
        {
            "territory": tree.emilia.pk,
            "name": "Round",
            "budget": "300",
            "ratio_num": 1,
            "ratio_den": 1,
            "min_distinct_donors": 0,
            "mode": "quadratic",
            "top_up_threshold_pct": 75,
            "priority": 100,
            "quadratic_variant": "standard",
        },
    )
    assert "ha bisogno del giorno di chiusura" in missing_day.content.decode()
    closes_on = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    response = client.post(
        reverse("funding:pools"),
        {
            "territory": tree.emilia.pk,
            "name": "Round",
            "budget": "300",
            "ratio_num": 1,
            "ratio_den": 1,
            "min_distinct_donors": 0,
            "mode": "quadratic",
            "top_up_threshold_pct": 75,
            "priority": 100,
            "quadratic_variant": "pairwise",
            "closes_on": closes_on,
        },
    )
    assert response.status_code == 302
    pool = MatchingPool.objects.get(name="Round")
    give_own_card(live_campaign, 1_000, n=1)
    give_own_card(live_campaign, 1_000, n=2)
    page = client.get(reverse("funding:pool_round", args=[pool.pk])).content.decode()
    assert "Raddoppio stimato" in page and live_campaign.title in page
    assert "Chiudi il round" not in page  # not before the closing day is over
    clock.move_to(timezone.now() + dt.timedelta(days=4))
    client = verified_client(treasurer)  # a new day, a new sign-in
    assert "Chiudi il round" in client.get(reverse("funding:pool_round", args=[pool.pk])).content.decode()
    client.post(reverse("funding:pool_round", args=[pool.pk]))
    pool.refresh_from_db()
    assert pool.round_closed_at is not None
    assert (
        "sono registrati in contabilità" in client.get(reverse("funding:pool_round", args=[pool.pk])).content.decode()
    )
    other = verified_client(make_official("tesoriere.lombardia", tree.lombardia, [Role.TREASURY]))
    assert other.get(reverse("funding:pool_round", args=[pool.pk])).status_code == 404
