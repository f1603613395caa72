"""Quadratic matching: how a round's pool is shared so that the number of donors decides (issue 17).

A campaign's ideal match is (Σ √cᵢ)² − Σ cᵢ over its distinct donors: 100 donors of €10 attract
€99,000 of ideal match where one donor of €1,000 attracts nothing. Ideal matches are scaled down
together so the pool is never exceeded, capped per campaign (what a cap leaves over goes to the
others), and paid in whole cents that add up exactly.

Two collusion-resistant variants, chosen per round:
- "cluster": donors sharing a cluster key (a payment instrument, an address, a referral) count as
  one donor giving their sum, so splitting one wallet among relatives buys no match;
- "pairwise": each pair of donors' term √(cᵢcⱼ) is damped by how much that same pair already
  co-funds across the round, M / (M + Σₚ √(cᵢₚcⱼₚ)), the pairwise-bounded rule of Buterin, Hitzig
  and Weyl; a pair that funds many campaigns together counts for less in each.

Pure functions over plain values: the round's actions read the gifts, call `quadratic_matches` and
book its answer; nothing here touches the database.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

STANDARD = "standard"
CLUSTER = "cluster"
PAIRWISE = "pairwise"
VARIANTS = (STANDARD, CLUSTER, PAIRWISE)
NOISE_CENTS = 1e-6


@dataclass(frozen=True)
class Gift:
    campaign_id: int
    donor: str  # one person (their verified identity), never an email typed in a form
    cents: int
    cluster: str = ""  # shared instrument / address / referral; "" = the donor alone


@dataclass(frozen=True)
class RoundRules:
    pool_cents: int
    cap_cents: int | None = None  # at most this much match per campaign
    min_donors: int = 1  # campaigns with fewer distinct donors get nothing
    donor_ceiling_cents: int | None = None  # each donor's gifts to a campaign count up to this
    variant: str = STANDARD
    pairwise_m_cents: int = 2_500  # the "M" of the pairwise bound: how quickly co-funding is damped

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}")
        if self.pool_cents < 0 or (self.cap_cents is not None and self.cap_cents < 0):
            raise ValueError("pool and cap cannot be negative")


def _per_donor(gifts: Iterable[Gift], rules: RoundRules) -> dict[int, dict[str, tuple[int, str]]]:
    """campaign → donor → (counted cents, cluster): a donor's several gifts add up, then the ceiling."""
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    clusters: dict[str, str] = {}
    for gift in gifts:
        if gift.cents <= 0:
            continue
        totals[gift.campaign_id][gift.donor] += gift.cents
        clusters[gift.donor] = gift.cluster or clusters.get(gift.donor, "")
    ceiling = rules.donor_ceiling_cents
    return {
        campaign: {
            donor: (min(cents, ceiling) if ceiling is not None else cents, clusters[donor] or f"donor:{donor}")
            for donor, cents in donors.items()
        }
        for campaign, donors in totals.items()
    }


def ideal_matches(gifts: Iterable[Gift], rules: RoundRules) -> dict[int, float]:
    """Each campaign's unscaled match under the round's variant (0 below the minimum of donors)."""
    per_campaign = _per_donor(gifts, rules)
    pair_funding: dict[tuple[str, str], float] = defaultdict(float)
    if rules.variant == PAIRWISE:
        for donors in per_campaign.values():
            for (a, (ca, _)), (b, (cb, _)) in combinations(sorted(donors.items()), 2):
                pair_funding[(a, b)] += math.sqrt(ca * cb)
    ideal: dict[int, float] = {}
    for campaign, donors in per_campaign.items():
        if len(donors) < max(rules.min_donors, 1):
            ideal[campaign] = 0.0
            continue
        if rules.variant == CLUSTER:
            by_cluster: dict[str, int] = defaultdict(int)
            for cents, cluster in donors.values():
                by_cluster[cluster] += cents
            roots = sum(math.sqrt(c) for c in by_cluster.values())
            ideal[campaign] = max(roots * roots - sum(by_cluster.values()), 0.0)
        elif rules.variant == PAIRWISE:
            m = rules.pairwise_m_cents
            total = 0.0
            for (a, (ca, _)), (b, (cb, _)) in combinations(sorted(donors.items()), 2):
                total += 2 * math.sqrt(ca * cb) * m / (m + pair_funding[(a, b)])
            ideal[campaign] = total
        else:
            roots = sum(math.sqrt(c) for c, _ in donors.values())
            ideal[campaign] = max(roots * roots - sum(c for c, _ in donors.values()), 0.0)
    # (√c)² − c leaves square-root noise of a trillionth of a cent for a lone donor: it is no match.
    return {campaign: value if value >= NOISE_CENTS else 0.0 for campaign, value in ideal.items()}


def _scaled(ideal: dict[int, float], pool: int, cap: int | None) -> dict[int, float]:
    """Shares ≤ ideal and ≤ cap, summing to at most the pool: one factor for all uncapped campaigns,
    recomputed as caps bind (water-filling), never scaled above the ideal."""
    share = dict.fromkeys(ideal, 0.0)
    open_ = {c for c, v in ideal.items() if v > 0}
    left = float(pool)
    while open_:
        wanted = sum(ideal[c] for c in open_)
        factor = min(1.0, left / wanted) if wanted > 0 else 0.0
        capped = {c for c in open_ if cap is not None and ideal[c] * factor >= cap}
        if not capped:
            for c in open_:
                share[c] = ideal[c] * factor
            break
        for c in capped:
            share[c] = float(cap)  # type: ignore[arg-type]
            left -= float(cap)  # type: ignore[arg-type]
        open_ -= capped
    return share


def quadratic_matches(gifts: Iterable[Gift], rules: RoundRules) -> dict[int, int]:
    """campaign → match in whole cents: ≤ pool in total, ≤ cap each, largest remainders get the odd cents."""
    ideal = ideal_matches(gifts, rules)
    share = _scaled(ideal, rules.pool_cents, rules.cap_cents)
    cents = {c: math.floor(v) for c, v in share.items()}
    target = min(rules.pool_cents, math.floor(sum(share.values()) + 1e-6))
    missing = target - sum(cents.values())
    for campaign in sorted(share, key=lambda c: (-(share[c] - cents[c]), c)):
        if missing <= 0:
            break
        if share[campaign] > cents[campaign]:
            cents[campaign] += 1
            missing -= 1
    return cents
