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


def per_donor(gifts: Iterable[Gift], rules: RoundRules) -> dict[int, dict[str, tuple[int, str]]]:
    """campaign → donor → (counted cents, cluster): a donor's several gifts add up, then the ceiling."""
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    clusters: dict[str, str] = {}
    for gift in gifts:
        if gift.cents <= 0:
            continue
        totals[gift.campaign_id][gift.donor] += gift.cents
        # A donor's cluster is the least of those their gifts name, whatever order the gifts come in.
        named = [c for c in (gift.cluster, clusters.get(gift.donor, "")) if c]
        clusters[gift.donor] = min(named) if named else ""
    ceiling = rules.donor_ceiling_cents
    return {
        campaign: {
            donor: (min(cents, ceiling) if ceiling is not None else cents, clusters[donor] or f"donor:{donor}")
            for donor, cents in donors.items()
        }
        for campaign, donors in totals.items()
    }


def _ideal_from(per_campaign: dict[int, dict[str, tuple[int, str]]], rules: RoundRules) -> dict[int, float]:
    """Each campaign's unscaled match, before the minimum of donors."""
    pair_funding: dict[tuple[str, str], float] = defaultdict(float)
    if rules.variant == PAIRWISE:
        for _campaign, donors in sorted(per_campaign.items()):
            for (a, (ca, _)), (b, (cb, _)) in combinations(sorted(donors.items()), 2):
                pair_funding[(a, b)] += math.sqrt(ca * cb)
    ideal: dict[int, float] = {}
    for campaign, donors in per_campaign.items():
        if rules.variant == PAIRWISE:
            m = rules.pairwise_m_cents
            total = 0.0
            for (a, (ca, _)), (b, (cb, _)) in combinations(sorted(donors.items()), 2):
                total += 2 * math.sqrt(ca * cb) * m / (m + pair_funding[(a, b)])
            ideal[campaign] = total
        else:
            # fsum is exactly rounded, so the order of the donors cannot move a match by a cent.
            voices = voices_of(donors, rules)
            roots = math.fsum(math.sqrt(c) for c in voices)
            ideal[campaign] = max(roots * roots - sum(voices), 0.0)
    return ideal


def voices_of(donors: dict[str, tuple[int, str]], rules: RoundRules) -> list[int]:
    """The contributions the square roots are taken of: one per donor, or one per cluster."""
    if rules.variant != CLUSTER:
        return [c for c, _ in donors.values()]
    by_cluster: dict[str, int] = defaultdict(int)
    for cents, cluster in donors.values():
        by_cluster[cluster] += cents
    return list(by_cluster.values())


def _denoised(value: float) -> float:
    # (√c)² − c leaves square-root noise of a trillionth of a cent for a lone donor: it is no match.
    return value if value >= NOISE_CENTS else 0.0


def ideal_matches(gifts: Iterable[Gift], rules: RoundRules) -> dict[int, float]:
    """Each campaign's unscaled match under the round's variant (0 below the minimum of donors)."""
    per_campaign = per_donor(gifts, rules)
    raw = _ideal_from(per_campaign, rules)
    least = max(rules.min_donors, 1)
    return {c: _denoised(v) if len(per_campaign[c]) >= least else 0.0 for c, v in raw.items()}


def _scaled(ideal: dict[int, float], pool: int, cap: int | None) -> dict[int, float]:
    """Shares ≤ ideal and ≤ cap, summing to at most the pool: one factor for all uncapped campaigns,
    recomputed as caps bind (water-filling), never scaled above the ideal."""
    share = dict.fromkeys(ideal, 0.0)
    open_ = {c for c, v in ideal.items() if v > 0}
    left = float(pool)
    while open_:
        wanted = math.fsum(ideal[c] for c in open_)
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


def allocate(ideal: dict[int, float], pool_cents: int, cap_cents: int | None) -> dict[int, int]:
    """Ideal matches → whole cents: scaled together (water-filling under the cap), each floored, then
    the cents the flooring left go one each to the largest remainders (ties: the lower campaign id).
    This is the published rounding rule; the open data recompute it from the ideals."""
    share = _scaled(ideal, pool_cents, cap_cents)
    cents = {c: math.floor(v) for c, v in share.items()}
    target = min(pool_cents, math.floor(math.fsum(share.values()) + 1e-6))
    missing = target - sum(cents.values())
    for campaign in sorted(share, key=lambda c: (-(share[c] - cents[c]), c)):
        if missing <= 0:
            break
        if share[campaign] > cents[campaign]:
            cents[campaign] += 1
            missing -= 1
    return cents


def quadratic_matches(gifts: Iterable[Gift], rules: RoundRules) -> dict[int, int]:
    """campaign → match in whole cents: ≤ pool in total, ≤ cap each, largest remainders get the odd cents."""
    return allocate(ideal_matches(gifts, rules), rules.pool_cents, rules.cap_cents)


# --- One person, one voice --------------------------------------------------------------------


def one_voice(links: Iterable[tuple[str, str]]) -> dict[str, str]:
    """donor → the donor who speaks for them. `links` are (donor, instrument) pairs: identities that
    paid with the same card or account are one person for the round (a split identity gains nothing).
    The representative is the smallest donor key, so the answer does not depend on the order."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_by_instrument: dict[str, str] = {}
    for donor, instrument in links:
        find(donor)
        if not instrument:
            continue
        other = first_by_instrument.setdefault(instrument, donor)
        a, b = find(donor), find(other)
        if a != b:
            low, high = sorted((a, b), key=_donor_order)
            parent[high] = low
    return {donor: find(donor) for donor in parent}


def _donor_order(donor: str) -> tuple[int, str]:
    return (len(donor), donor)  # numeric ids sort as numbers


# --- The live estimate (issue 17 item 4) ------------------------------------------------------

PROBE_CENTS = 500  # "one more €5 donor"


@dataclass(frozen=True)
class Standing:
    """What a page view needs to answer "match now, and with one more €5 donor" in O(1) (no cap)
    or one water-filling pass (with a cap): computed once per change of the round's gifts."""

    pool_cents: int
    cap_cents: int | None
    ideal: dict[int, float]
    with_probe: dict[int, float]  # each campaign's ideal if one more new donor gave PROBE_CENTS
    share: dict[int, float]
    wanted: float  # Σ ideal


def standing(gifts: Iterable[Gift], rules: RoundRules, probe_cents: int = PROBE_CENTS) -> Standing:
    per_campaign = per_donor(gifts, rules)
    raw = _ideal_from(per_campaign, rules)
    least = max(rules.min_donors, 1)
    ideal: dict[int, float] = {}
    with_probe: dict[int, float] = {}
    probe = probe_cents if rules.donor_ceiling_cents is None else min(probe_cents, rules.donor_ceiling_cents)
    for campaign, donors in per_campaign.items():
        ideal[campaign] = _denoised(raw[campaign]) if len(donors) >= least else 0.0
        if len(donors) + 1 < least:
            with_probe[campaign] = 0.0
            continue
        if rules.variant == PAIRWISE:
            # a new donor has no co-funding history: each new pair is damped by its own term only
            m = rules.pairwise_m_cents
            gain = sum(2 * math.sqrt(c * probe) * m / (m + math.sqrt(c * probe)) for c, _ in donors.values())
        else:
            roots = sum(math.sqrt(c) for c in voices_of(donors, rules))
            gain = 2 * roots * math.sqrt(probe)  # (S + √p)² − (T + p) − (S² − T)
        with_probe[campaign] = _denoised(raw[campaign] + gain)
    share = _scaled(ideal, rules.pool_cents, rules.cap_cents)
    return Standing(rules.pool_cents, rules.cap_cents, ideal, with_probe, share, sum(ideal.values()))


def estimate(state: Standing, campaign_id: int) -> tuple[int, int]:
    """(estimated match now, what one more €5 donor would add to it), in whole cents."""
    now = state.share.get(campaign_id, 0.0)
    before = state.ideal.get(campaign_id, 0.0)
    after = state.with_probe.get(campaign_id, 0.0)  # a campaign with no gift yet: one donor is no match
    if state.cap_cents is None:
        wanted = state.wanted - before + after
        later = after * min(1.0, state.pool_cents / wanted) if wanted > 0 else 0.0
    else:
        later = _scaled({**state.ideal, campaign_id: after}, state.pool_cents, state.cap_cents)[campaign_id]
    return math.floor(now), max(math.floor(later) - math.floor(now), 0)


# --- The linear pool, for the treasurers' comparison (issue 17 item 5) ------------------------


def linear_matches(
    gifts: Iterable[Gift], *, pool_cents: int, ratio: tuple[int, int] = (1, 1), cap_cents: int | None = None
) -> dict[int, int]:
    """What a per-gift pool ("every euro doubled") gives the same gifts, in the order they arrived:
    each gift matched at the ratio (rounded down), up to the campaign's cap, until the pool runs out."""
    left = pool_cents
    matched: dict[int, int] = defaultdict(int)
    for gift in gifts:
        matched.setdefault(gift.campaign_id, 0)
        want = gift.cents * ratio[0] // ratio[1]
        if cap_cents is not None:
            want = min(want, cap_cents - matched[gift.campaign_id])
        take = max(min(want, left), 0)
        matched[gift.campaign_id] += take
        left -= take
    return dict(matched)
