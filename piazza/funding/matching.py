"""Matchfunding (co-finanziamento) rules as pure functions: no database, hypothesis-tested.

The action that books a match (`actions._reserve_matches`) locks the pool row, builds a
`PoolState` from the database and asks these functions how much to reserve; the database
constraint `pool_never_overspent` is the last guard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PER_GIFT = "per_gift"
TOP_UP = "top_up"


@dataclass(frozen=True)
class PoolRules:
    ratio_num: int = 1
    ratio_den: int = 1
    cap_per_donation: int | None = None
    cap_per_donor: int | None = None
    cap_per_campaign: int | None = None
    small_gift_max: int | None = None
    min_distinct_donors: int = 0
    mode: str = PER_GIFT
    top_up_threshold_pct: int = 75
    exclusive: bool = False


@dataclass(frozen=True)
class PoolState:
    """What the pool has left and what it already gave this donor and this campaign."""

    remaining: int
    matched_for_donor: int = 0
    matched_for_campaign: int = 0


def _cap(value: int, cap: int | None, used: int = 0) -> int:
    return value if cap is None else min(value, cap - used)


def eligible_gift(rules: PoolRules, gift: int, distinct_donors: int) -> bool:
    """A per-gift pool matches only gifts up to its small-gift threshold, once enough donors gave."""
    if rules.mode != PER_GIFT or gift <= 0:
        return False
    if rules.small_gift_max is not None and gift > rules.small_gift_max:
        return False
    return distinct_donors >= rules.min_distinct_donors


def match_for_gift(rules: PoolRules, state: PoolState, gift: int, distinct_donors: int) -> int:
    """Cents this pool adds to one gift: ratio, then every cap, never more than what is left."""
    if not eligible_gift(rules, gift, distinct_donors):
        return 0
    amount = gift * rules.ratio_num // rules.ratio_den
    amount = _cap(amount, rules.cap_per_donation)
    amount = _cap(amount, rules.cap_per_donor, state.matched_for_donor)
    amount = _cap(amount, rules.cap_per_campaign, state.matched_for_campaign)
    amount = min(amount, state.remaining)
    return max(amount, 0)


def top_up_for_campaign(rules: PoolRules, state: PoolState, raised: int, goal: int, distinct_donors: int) -> int:
    """Top-up mode: once `raised` reaches the threshold share of `goal`, pay the rest (capped).

    `raised` counts gifts and any earlier matches; a pool tops a campaign up at most once
    (a unique constraint on the match row), so this answers only "how much, now?".
    """
    if rules.mode != TOP_UP or goal <= 0 or raised >= goal:
        return 0
    if distinct_donors < rules.min_distinct_donors:
        return 0
    if raised * 100 < goal * rules.top_up_threshold_pct:
        return 0
    amount = goal - raised
    amount = _cap(amount, rules.cap_per_campaign, state.matched_for_campaign)
    amount = min(amount, state.remaining)
    return max(amount, 0)


def preview_matches(pools: Sequence[tuple[PoolRules, PoolState]], gift: int, distinct_donors: int) -> list[int]:
    """What each pool, in the order given, would add to a gift of `gift` cents.

    Pools apply in their defined order (priority, then id); an exclusive pool that matches
    stops the ones after it. Used both to show "your €10 becomes €20" and to reserve.
    """
    result: list[int] = []
    stopped = False
    for rules, state in pools:
        amount = 0 if stopped else match_for_gift(rules, state, gift, distinct_donors)
        result.append(amount)
        if amount and rules.exclusive:
            stopped = True
    return result
