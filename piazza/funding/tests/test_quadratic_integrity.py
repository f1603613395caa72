"""Quadratic rounds, issue 17 continued: one person one voice, the treasurer's exclusions, the live
estimate on the campaign page, the simulation, and the published results anyone can recompute."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import format_eur
from piazza.funding.actions import pools as pools_actions
from piazza.funding.actions.rounds import close_quadratic_round, exclude_from_round
from piazza.funding.models import MatchingPool, PoolMatch, PoolMode, RoundExclusion
from piazza.funding.quadratic import allocate
from piazza.funding.queries import counter_totals, round_estimates, round_standing
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import give_own_card
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]


@pytest.fixture
def treasurer(tree):
    """The federation's treasury: it opens a round for its circoli."""
    return make_official("tesoriere.bologna", tree.bologna, [Role.TREASURY])


def _round(treasurer, tree, budget_cents=50_000, **rules):
    return pools_actions.open_pool(
        actor=treasurer,
        territory=tree.bologna,
        name="Round dei circoli bolognesi",
        budget_cents=budget_cents,
        mode=PoolMode.QUADRATIC,
        closes_at=timezone.now() + dt.timedelta(days=7),
        **rules,
    )


def _by_campaign(pool):
    return {line.campaign.pk: line for line in round_standing(pool)}


def test_a_sybil_split_sharing_a_card_gains_nothing_after_deduplication(
    tree, treasurer, live_campaign, circolo_official, federation_official, clock
):
    split = build_live_campaign(tree, circolo_official, federation_official, title="Raccolta gonfiata")
    alone = build_live_campaign(tree, circolo_official, federation_official, title="Raccolta di uno")
    pool = _round(treasurer, tree)
    for n in range(1, 4):
        give_own_card(live_campaign, 1_000, n=n)  # three real people
    for n in range(10, 15):
        give_own_card(split, 1_000, n=n, card_id="stessa")  # one person as five identities, one card
    give_own_card(alone, 5_000, n=20)  # the same €50 given honestly by one person

    lines = _by_campaign(pool)
    assert lines[split.pk].donors == 1 and lines[split.pk].counted_cents == 5_000
    assert lines[split.pk].match_cents == lines[alone.pk].match_cents == 0
    clock.move_to(timezone.now() + dt.timedelta(days=8))
    assert close_quadratic_round(actor=treasurer, pool=pool) == {live_campaign.pk: 6_000}  # (3·√1000)² − 3000


def test_the_treasurer_sees_a_shared_card_and_excludes_it_with_a_reason(
    tree, treasurer, live_campaign, circolo_official, federation_official, clock
):
    other = build_live_campaign(tree, circolo_official, federation_official, title="Biblioteca del circolo")
    early = give_own_card(live_campaign, 700, n=30)  # before the round: not one of its gifts
    clock.tick(dt.timedelta(minutes=1))
    pool = _round(treasurer, tree, budget_cents=3_000)
    shared = [give_own_card(live_campaign, 1_000, n=n, card_id="famiglia") for n in (1, 2)]
    for n in (3, 6):
        give_own_card(live_campaign, 1_000, n=n)
    for n in (4, 5):
        give_own_card(other, 500, n=n)
    client = verified_client(treasurer)
    url = reverse("funding:pool_round", args=[pool.pk])
    page = client.get(url).content.decode()
    assert "Stessa carta o conto per più donatori" in page
    assert "2 donatori diversi hanno pagato con la stessa carta" in page
    assert "Rossi" not in page and "Donatore" not in page  # gift numbers and amounts, never a name

    exclude = reverse("funding:pool_round_exclude", args=[pool.pk])
    ids = ",".join(str(d.pk) for d in shared)
    short = client.post(exclude, {"donations": ids, "category": "instrument", "reason": "no"}, follow=True)
    assert "almeno 10 caratteri" in short.content.decode()
    garbled = client.post(exclude, {"donations": "la prima", "category": "instrument", "reason": "x" * 20}, follow=True)
    assert "separati da virgole" in garbled.content.decode()
    outside = client.post(exclude, {"donations": str(early.pk), "category": "other", "reason": "x" * 20}, follow=True)
    assert "non è tra quelle contate" in outside.content.decode()
    assert not RoundExclusion.objects.exists()

    response = client.post(
        exclude, {"donations": ids, "category": "instrument", "reason": "Due nomi, una carta: la stessa famiglia"}
    )
    assert response.status_code == 302
    assert RoundExclusion.objects.filter(pool=pool).count() == 2
    entry = AuditEntry.objects.get(action="funding.exclude_from_round", kind=AuditKind.WRITE)
    assert entry.data["category"] == "instrument" and sorted(entry.data["donations"]) == sorted(d.pk for d in shared)
    again = client.post(exclude, {"donations": ids, "category": "instrument", "reason": "Ancora la stessa carta"})
    assert again.status_code == 302 and RoundExclusion.objects.count() == 2  # idempotent

    lines = _by_campaign(pool)
    assert lines[live_campaign.pk].excluded == 2
    assert counter_totals(live_campaign.pk)["gifts"] == 4_700  # the excluded gifts stay gifts
    page = client.get(url).content.decode()
    assert "Due nomi, una carta: la stessa famiglia" in page and "esclusa" in page

    stranger = verified_client(make_official("tesoriere.milano", tree.milano, [Role.TREASURY]))
    assert stranger.post(exclude, {"donations": ids, "category": "other", "reason": "x" * 20}).status_code == 404

    clock.move_to(timezone.now() + dt.timedelta(days=8))
    matches = close_quadratic_round(actor=treasurer, pool=pool)
    # without the shared card: (2·√1000)² − 2000 = 2000 and (2·√500)² − 1000 = 1000; with it, 4000 + 1000
    assert matches == {live_campaign.pk: 2_000, other.pk: 1_000}
    client = verified_client(treasurer)  # a new day, a new sign-in
    late = client.post(exclude, {"donations": str(shared[0].pk), "category": "other", "reason": "x" * 20}, follow=True)
    assert "già chiuso" in late.content.decode()


def test_the_campaign_page_shows_the_estimate_and_what_one_more_donor_adds(tree, treasurer, live_campaign, clock):
    _round(treasurer, tree)
    give_own_card(live_campaign, 1_000, n=1)
    give_own_card(live_campaign, 1_000, n=2)
    (estimate,) = round_estimates(live_campaign)
    assert estimate.match_cents == 2_000  # (2·√1000)² − 2000
    assert estimate.one_more_cents == 2_828  # 2·(2·√1000)·√500, the pool is ample
    page = verified_client(make_official("x", tree.milano, [])).get(live_campaign.get_absolute_url())
    text = page.content.decode()
    assert "Raddoppio stimato oggi: " + format_eur(2_000) in text
    assert "il tuo contributo vale " + format_eur(2_828) + " in più" in text

    give_own_card(live_campaign, 500, n=3)  # the €5 donor arrives: the estimate was honest
    (after,) = round_estimates(live_campaign)
    assert after.match_cents == 2_000 + 2_828
    assert (
        format_eur(4_828)
        in verified_client(make_official("y", tree.milano, [])).get(live_campaign.get_absolute_url()).content.decode()
    )


def test_a_campaign_outside_any_round_shows_no_estimate(tree, live_campaign):
    assert round_estimates(live_campaign) == []
    assert (
        "Raddoppio stimato"
        not in verified_client(make_official("z", tree.milano, []))
        .get(live_campaign.get_absolute_url())
        .content.decode()
    )


def test_the_simulation_compares_the_linear_pool_and_the_quadratic_rule(
    tree, treasurer, live_campaign, circolo_official, federation_official, clock
):
    big = build_live_campaign(tree, circolo_official, federation_official, title="Grande donatore")
    for n in (1, 2, 3):
        give_own_card(live_campaign, 1_000, n=n)
    give_own_card(big, 10_000, n=4)
    client = verified_client(treasurer)
    url = reverse("funding:pool_simulate")
    assert url in client.get(reverse("funding:pools")).content.decode()  # reachable from the pools page
    today = timezone.localdate().isoformat()
    query = {
        "territory": tree.bologna.pk,
        "since": today,
        "until": today,
        "budget": "100",
        "ratio_num": 1,
        "ratio_den": 1,
        "min_distinct_donors": 0,
        "quadratic_variant": "standard",
    }
    page = client.get(url, query).content.decode()
    assert "Grande donatore" in page and live_campaign.title in page
    # linear, in order of arrival: €30 to the three small donors, €70 of the €100 gift; quadratic: (3·√1000)²−3000
    assert format_eur(3_000) in page and format_eur(7_000) in page and format_eur(6_000) in page
    assert not MatchingPool.objects.exists()  # a simulation writes nothing
    backwards = client.get(url, {**query, "since": today, "until": "2000-01-01"}).content.decode()
    assert "La fine del periodo viene prima" in backwards and "scambia le due date" in backwards
    outside = client.get(url, {**query, "territory": tree.milano.pk})
    assert outside.status_code == 404


def test_results_are_published_and_recomputed_from_the_open_data(
    tree, treasurer, live_campaign, circolo_official, federation_official, clock, client
):
    other = build_live_campaign(tree, circolo_official, federation_official, title="Festa di quartiere")
    pool = _round(treasurer, tree, budget_cents=5_001, cap_per_campaign_cents=4_000)
    for n in range(1, 6):
        give_own_card(live_campaign, 1_000 + 37 * n, n=n)
    for n in range(6, 9):
        give_own_card(other, 2_000, n=n)
    excluded = give_own_card(other, 900, n=9)
    exclude_from_round(
        actor=treasurer, pool=pool, donation_ids=[excluded.pk], category="burst", reason="Arrivata in un'ondata"
    )
    assert client.get(reverse("transparency:round", args=[pool.pk])).status_code == 404  # not before the close
    clock.move_to(timezone.now() + dt.timedelta(days=8))
    booked = close_quadratic_round(actor=treasurer, pool=pool)

    assert reverse("transparency:rounds") in client.get(reverse("transparency:index")).content.decode()
    page = client.get(reverse("transparency:round", args=[pool.pk])).content.decode()
    assert "Festa di quartiere" in page and "(Σ √c)² − Σ c" in page
    data = json.loads(client.get(reverse("transparency:round_file", args=[pool.pk, "json"])).content)
    published = {c["campaign_id"]: c for c in data["campaigns"]}
    assert published[other.pk]["excluded_reasons"] == {"burst": 1} and published[other.pk]["donors"] == 3
    rules = data["round"]
    ideal = {
        c["campaign_id"]: (
            max(c["sum_sqrt_cents"] ** 2 - c["counted_cents"], 0.0)
            if c["donors"] >= rules["min_distinct_donors"]
            else 0
        )
        for c in data["campaigns"]
    }
    recomputed = {c: v for c, v in allocate(ideal, rules["pool_cents"], rules["cap_per_campaign_cents"]).items() if v}
    assert recomputed == booked == {c["campaign_id"]: c["match_cents"] for c in data["campaigns"] if c["match_cents"]}
    assert dict(PoolMatch.objects.filter(pool=pool).values_list("campaign_id", "amount_cents")) == booked
    text = json.dumps(data, ensure_ascii=False)
    assert "Donatore" not in text and "@example.org" not in text  # no personal data

    body = client.get(reverse("transparency:round_file", args=[pool.pk, "csv"])).content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    from_csv = {
        int(r["campaign_id"]): max(float(r["sum_sqrt_cents"]) ** 2 - int(r["counted_cents"]), 0.0) for r in rows
    }
    assert {c: v for c, v in allocate(from_csv, rules["pool_cents"], 4_000).items() if v} == booked
    assert client.get(reverse("transparency:round_file", args=[pool.pk, "xml"])).status_code == 404
