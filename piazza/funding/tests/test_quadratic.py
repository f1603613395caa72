"""Quadratic matching (issue 17): the number of donors decides, the pool is never exceeded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from piazza.funding.quadratic import (
    CLUSTER,
    PAIRWISE,
    PROBE_CENTS,
    STANDARD,
    Gift,
    RoundRules,
    allocate,
    estimate,
    ideal_matches,
    one_voice,
    quadratic_matches,
    standing,
)


def _many(campaign: int, donors: int, cents: int, prefix: str = "d") -> list[Gift]:
    return [Gift(campaign, f"{prefix}{campaign}-{i}", cents) for i in range(donors)]


def test_a_hundred_donors_of_ten_euro_attract_far_more_than_one_donor_of_a_thousand():
    gifts = [*_many(1, 100, 1_000), Gift(2, "rich", 100_000)]
    ideal = ideal_matches(gifts, RoundRules(pool_cents=10**9))
    assert ideal[1] == pytest.approx((100 * 1_000**0.5) ** 2 - 100_000)  # €99,000 of ideal match
    assert ideal[2] == 0  # one donor alone: (√c)² − c
    assert quadratic_matches(gifts, RoundRules(pool_cents=5_000_00)) == {1: 5_000_00, 2: 0}


def test_the_pool_is_shared_in_proportion_and_adds_up_to_the_cent():
    gifts = _many(1, 3, 900) + _many(2, 2, 1_600)  # ideal 3·900·2 = 5,400 and 2·1,600 = 3,200
    matches = quadratic_matches(gifts, RoundRules(pool_cents=1_001))
    assert sum(matches.values()) == 1_001
    assert matches == {1: 629, 2: 372}  # 1,001 × 5,400/8,600 = 628.5 → the larger remainder


def test_an_ample_pool_pays_the_ideal_match_and_keeps_the_rest():
    gifts = _many(1, 2, 400)  # (20 + 20)² − 800 = 800
    assert quadratic_matches(gifts, RoundRules(pool_cents=10_000)) == {1: 800}


def test_a_cap_per_campaign_passes_what_it_leaves_to_the_others():
    gifts = _many(1, 50, 1_000) + _many(2, 5, 1_000)
    matches = quadratic_matches(gifts, RoundRules(pool_cents=100_000, cap_cents=60_000))
    assert matches[1] == 60_000
    assert matches[2] == 20_000  # its ideal (5²·1,000 − 5,000), wholly paid from what the cap freed


def test_below_the_minimum_of_donors_there_is_no_match_and_the_ceiling_counts_gifts_up_to_it():
    gifts = [*_many(1, 4, 1_000), *_many(2, 5, 1_000), Gift(2, "d2-0", 50_000)]
    rules = RoundRules(pool_cents=10**9, min_donors=5, donor_ceiling_cents=2_000)
    ideal = ideal_matches(gifts, rules)
    assert ideal[1] == 0
    roots = 2_000**0.5 + 4 * 1_000**0.5  # donor d2-0 gave 51,000, counted up to 2,000
    assert ideal[2] == pytest.approx(roots**2 - 6_000)


def test_clustered_donors_count_as_one_so_splitting_a_wallet_buys_nothing():
    split = [Gift(1, f"kin{i}", 1_000, cluster="card:abc") for i in range(10)]
    honest = _many(2, 10, 1_000)
    rules = RoundRules(pool_cents=10**9, variant=CLUSTER)
    ideal = ideal_matches(split + honest, rules)
    assert ideal[1] == 0  # one card, one voice
    assert ideal[2] == pytest.approx(90_000)
    assert ideal_matches(split, RoundRules(pool_cents=10**9, variant=STANDARD))[1] == pytest.approx(90_000)


def test_pairwise_bound_damps_a_pair_that_funds_many_campaigns_together():
    colluding = [Gift(c, d, 10_000) for c in range(1, 6) for d in ("a", "b")]
    independent = [Gift(9, "x", 10_000), Gift(9, "y", 10_000)]
    rules = RoundRules(pool_cents=10**9, variant=PAIRWISE, pairwise_m_cents=2_500)
    ideal = ideal_matches(colluding + independent, rules)
    assert ideal[9] == pytest.approx(2 * 10_000 * 2_500 / (2_500 + 10_000))
    assert ideal[1] == pytest.approx(2 * 10_000 * 2_500 / (2_500 + 50_000))
    assert ideal[1] < ideal[9] / 4


def test_a_donor_giving_twice_is_one_donor():
    twice = [Gift(1, "a", 500), Gift(1, "a", 500), Gift(1, "b", 1_000)]
    assert ideal_matches(twice, RoundRules(pool_cents=10**9))[1] == pytest.approx(2_000)


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="variant"):
        RoundRules(pool_cents=1, variant="weighted")


gifts_strategy = st.lists(
    st.builds(
        Gift,
        campaign_id=st.integers(1, 6),
        donor=st.sampled_from([f"p{i}" for i in range(12)]),
        cents=st.integers(1, 200_000),
        cluster=st.sampled_from(["", "", "c1", "c2"]),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    gifts=gifts_strategy,
    pool=st.integers(0, 5_000_000),
    cap=st.one_of(st.none(), st.integers(0, 2_000_000)),
    variant=st.sampled_from([STANDARD, CLUSTER, PAIRWISE]),
    min_donors=st.integers(1, 4),
)
def test_matches_never_exceed_the_pool_the_cap_or_the_ideal(gifts, pool, cap, variant, min_donors):
    rules = RoundRules(pool_cents=pool, cap_cents=cap, variant=variant, min_donors=min_donors)
    matches = quadratic_matches(gifts, rules)
    ideal = ideal_matches(gifts, rules)
    assert all(isinstance(v, int) and v >= 0 for v in matches.values())
    assert sum(matches.values()) <= pool
    for campaign, cents in matches.items():
        assert cents <= ideal[campaign] + 1
        if cap is not None:
            assert cents <= cap
    if sum(ideal.values()) >= pool and cap is None and pool > 0 and any(ideal.values()):
        assert sum(matches.values()) >= pool - 1  # a short pool is spent to the last cent (±1 for flooring)


# --- Brute-force reference (issue 17): the allocation equals it on random rounds -------------


def _reference_ideal(gifts: list[Gift], rules: RoundRules) -> dict[int, float]:
    """Straight from the definitions, pair by pair: (Σ√c)² − Σc = Σ_{i≠j} √(cᵢcⱼ)."""
    totals: dict[int, dict[str, int]] = {}
    cluster_of: dict[str, str] = {}
    for g in gifts:
        if g.cents > 0:
            totals.setdefault(g.campaign_id, {})
            totals[g.campaign_id][g.donor] = totals[g.campaign_id].get(g.donor, 0) + g.cents
            named = [c for c in (g.cluster, cluster_of.get(g.donor, "")) if c]
            cluster_of[g.donor] = min(named) if named else ""  # the least cluster a donor's gifts name
    ideal = {}
    for campaign, donors in totals.items():
        counted = {
            d: (min(c, rules.donor_ceiling_cents) if rules.donor_ceiling_cents else c) for d, c in donors.items()
        }
        if len(counted) < rules.min_donors:
            ideal[campaign] = 0.0
            continue
        units: dict[str, int] = {}
        for d, c in counted.items():
            key = (cluster_of[d] or f"donor:{d}") if rules.variant == CLUSTER else d
            units[key] = units.get(key, 0) + c
        names = list(units)
        total = 0.0
        for i, a in enumerate(names):
            for b in names[:i]:
                term = 2 * (units[a] * units[b]) ** 0.5
                if rules.variant == PAIRWISE:
                    together = sum(
                        (min(o[a], rules.donor_ceiling_cents or o[a]) * min(o[b], rules.donor_ceiling_cents or o[b]))
                        ** 0.5
                        for o in totals.values()
                        if a in o and b in o
                    )
                    term *= rules.pairwise_m_cents / (rules.pairwise_m_cents + together)
                total += term
        ideal[campaign] = total if total >= 1e-6 else 0.0
    return ideal


def _reference_shares(ideal: dict[int, float], pool: int, cap: int | None) -> dict[int, float]:
    """The one factor k ≤ 1 with Σ min(k·ideal, cap) = min(pool, Σ min(ideal, cap)), by bisection."""

    def spent(k: float) -> float:
        return sum(min(k * v, cap) if cap is not None else k * v for v in ideal.values())

    target = min(pool, spent(1.0))
    low, high = 0.0, 1.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if spent(mid) < target else (low, mid)
    return {c: (min(high * v, cap) if cap is not None else high * v) for c, v in ideal.items()}


@settings(max_examples=150, deadline=None)
@given(
    gifts=gifts_strategy,
    pool=st.integers(0, 5_000_000),
    cap=st.one_of(st.none(), st.integers(0, 2_000_000)),
    variant=st.sampled_from([STANDARD, CLUSTER, PAIRWISE]),
    min_donors=st.integers(1, 4),
    ceiling=st.one_of(st.none(), st.integers(1, 100_000)),
    seed=st.randoms(use_true_random=False),
)
def test_the_allocation_equals_a_brute_force_reference_and_is_deterministic(
    gifts, pool, cap, variant, min_donors, ceiling, seed
):
    rules = RoundRules(
        pool_cents=pool, cap_cents=cap, variant=variant, min_donors=min_donors, donor_ceiling_cents=ceiling
    )
    reference = _reference_ideal(gifts, rules)
    ideal = ideal_matches(gifts, rules)
    assert set(ideal) == set(reference)
    for campaign, value in ideal.items():
        assert value == pytest.approx(reference[campaign], rel=1e-9, abs=1e-6)
    matches = quadratic_matches(gifts, rules)
    shares = _reference_shares(reference, pool, cap)
    for campaign, cents in matches.items():
        assert abs(cents - shares[campaign]) < 1 + 1e-6 * max(1.0, shares[campaign])  # whole cents of the share
    assert sum(matches.values()) <= pool
    assert abs(sum(matches.values()) - sum(shares.values())) <= 1 + 1e-6 * pool
    shuffled = list(gifts)
    seed.shuffle(shuffled)
    assert quadratic_matches(shuffled, rules) == matches  # the order of the gifts changes nothing


def test_the_published_rounding_rule_recomputes_the_matches_from_the_ideals():
    gifts = _many(1, 3, 900) + _many(2, 2, 1_600) + _many(3, 7, 250)
    rules = RoundRules(pool_cents=7_777, cap_cents=4_000)
    assert allocate(ideal_matches(gifts, rules), 7_777, 4_000) == quadratic_matches(gifts, rules)


# --- One person, one voice ---------------------------------------------------------------------


def test_identities_sharing_an_instrument_are_one_voice_whatever_the_order():
    links = [("7", "card:x"), ("3", "card:y"), ("12", "card:x"), ("3", "card:x"), ("20", ""), ("21", "card:z")]
    voice = one_voice(links)
    assert voice == {"7": "3", "3": "3", "12": "3", "20": "20", "21": "21"}
    assert one_voice(reversed(links)) == voice


def test_a_sybil_split_gains_nothing_after_deduplication():
    honest = _many(1, 5, 1_000)
    # one person giving €50 as five identities that pay with the same card
    sybil_links = [(f"s{i}", "card:same") for i in range(5)]
    voice = one_voice(sybil_links)
    split = [Gift(2, voice[f"s{i}"], 1_000) for i in range(5)]
    alone = [Gift(3, "s0", 5_000)]
    rules = RoundRules(pool_cents=10**9)
    ideal = ideal_matches(honest + split + alone, rules)
    assert ideal[2] == ideal[3] == 0  # split or not: one person, no match
    assert ideal[1] == pytest.approx(20 * 1_000)


# --- The live estimate -------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    gifts=gifts_strategy,
    pool=st.integers(0, 5_000_000),
    cap=st.one_of(st.none(), st.integers(0, 2_000_000)),
    variant=st.sampled_from([STANDARD, CLUSTER, PAIRWISE]),
    min_donors=st.integers(1, 4),
    campaign=st.integers(1, 7),
)
def test_the_estimate_is_the_match_now_and_with_one_more_five_euro_donor(
    gifts, pool, cap, variant, min_donors, campaign
):
    rules = RoundRules(pool_cents=pool, cap_cents=cap, variant=variant, min_donors=min_donors)
    now, more = estimate(standing(gifts, rules), campaign)
    share_now = _reference_shares(_reference_ideal(gifts, rules), pool, cap).get(campaign, 0.0)
    assert abs(now - share_now) < 1 + 1e-6 * max(1.0, share_now)
    newcomer = Gift(campaign, "newcomer", PROBE_CENTS, cluster="newcomer-own")
    share_after = _reference_shares(_reference_ideal([*gifts, newcomer], rules), pool, cap)[campaign]
    assert abs((now + more) - max(share_after, now)) < 2 + 1e-6 * max(1.0, share_after)
