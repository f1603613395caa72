"""Matchfunding rules (pure functions) under hypothesis: never over a cap, never over the pool."""

from hypothesis import given
from hypothesis import strategies as st

from piazza.funding.matching import (
    TOP_UP,
    PoolRules,
    PoolState,
    match_for_gift,
    preview_matches,
    top_up_for_campaign,
)

caps = st.one_of(st.none(), st.integers(0, 50_000))
rules_strategy = st.builds(
    PoolRules,
    ratio_num=st.integers(1, 3),
    ratio_den=st.integers(1, 2),
    cap_per_donation=caps,
    cap_per_donor=caps,
    cap_per_campaign=caps,
    small_gift_max=caps,
    min_distinct_donors=st.integers(0, 5),
)


@given(
    rules=rules_strategy,
    remaining=st.integers(0, 100_000),
    donor_used=st.integers(0, 60_000),
    campaign_used=st.integers(0, 60_000),
    gift=st.integers(1, 1_000_000),
    donors=st.integers(0, 10),
)
def test_a_match_respects_every_cap_and_the_pool(rules, remaining, donor_used, campaign_used, gift, donors):
    state = PoolState(remaining=remaining, matched_for_donor=donor_used, matched_for_campaign=campaign_used)
    m = match_for_gift(rules, state, gift, donors)
    assert 0 <= m <= remaining
    assert m <= gift * rules.ratio_num // rules.ratio_den
    if rules.cap_per_donation is not None:
        assert m <= rules.cap_per_donation
    if rules.cap_per_donor is not None:
        assert donor_used + m <= max(rules.cap_per_donor, donor_used)
    if rules.cap_per_campaign is not None:
        assert campaign_used + m <= max(rules.cap_per_campaign, campaign_used)
    if rules.small_gift_max is not None and gift > rules.small_gift_max:
        assert m == 0
    if donors < rules.min_distinct_donors:
        assert m == 0


@given(gifts=st.lists(st.integers(1, 20_000), max_size=60), budget=st.integers(0, 100_000))
def test_a_sequence_of_gifts_never_overspends(gifts, budget):
    rules = PoolRules(ratio_num=2, cap_per_donation=5_000)
    remaining = budget
    for gift in gifts:
        m = match_for_gift(rules, PoolState(remaining=remaining), gift, 100)
        remaining -= m
        assert remaining >= 0


def test_ratios_and_thresholds():
    assert match_for_gift(PoolRules(), PoolState(remaining=10_000), 1_000, 0) == 1_000  # 1:1, "€10 becomes €20"
    assert match_for_gift(PoolRules(ratio_num=2), PoolState(remaining=10_000), 1_000, 0) == 2_000
    assert match_for_gift(PoolRules(ratio_num=1, ratio_den=2), PoolState(remaining=10_000), 1_001, 0) == 500
    assert match_for_gift(PoolRules(small_gift_max=5_000), PoolState(remaining=10_000), 5_001, 0) == 0
    assert match_for_gift(PoolRules(min_distinct_donors=3), PoolState(remaining=10_000), 100, 2) == 0
    assert match_for_gift(PoolRules(), PoolState(remaining=300), 1_000, 0) == 300  # nearly empty pool


def test_pools_apply_in_order_and_an_exclusive_pool_stops_the_rest():
    first = (PoolRules(exclusive=True), PoolState(remaining=500))
    second = (PoolRules(), PoolState(remaining=10_000))
    assert preview_matches([first, second], 1_000, 0) == [500, 0]
    empty_first = (PoolRules(exclusive=True), PoolState(remaining=0))
    assert preview_matches([empty_first, second], 1_000, 0) == [0, 1_000]
    assert preview_matches([second, first], 1_000, 0) == [1_000, 500]


@given(
    goal=st.integers(1, 10_000_000),
    raised=st.integers(0, 10_000_000),
    remaining=st.integers(0, 10_000_000),
    pct=st.integers(1, 100),
)
def test_top_up_pays_at_most_the_rest_and_only_past_the_threshold(goal, raised, remaining, pct):
    rules = PoolRules(mode=TOP_UP, top_up_threshold_pct=pct)
    amount = top_up_for_campaign(rules, PoolState(remaining=remaining), raised, goal, 10)
    assert 0 <= amount <= remaining
    assert raised + amount <= max(goal, raised)
    if raised * 100 < goal * pct:
        assert amount == 0


def test_top_up_at_75_percent_pays_the_last_quarter():
    rules = PoolRules(mode=TOP_UP, top_up_threshold_pct=75)
    assert top_up_for_campaign(rules, PoolState(remaining=1_000_000), 7_499, 10_000, 5) == 0
    assert top_up_for_campaign(rules, PoolState(remaining=1_000_000), 7_500, 10_000, 5) == 2_500
    assert top_up_for_campaign(rules, PoolState(remaining=1_000), 7_500, 10_000, 5) == 1_000
