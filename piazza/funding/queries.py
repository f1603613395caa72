"""Reads of the funding app that are more than one line: thermometer, small-donor figures,
leaderboards, money by source, the back-office dashboard section."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from piazza.funding.models import (
    Campaign,
    CampaignCounter,
    CampaignOutcome,
    CampaignStatus,
    Donation,
    DonationStatus,
    FundraisingPage,
    MatchingPool,
    MatchStatus,
    ModerationStatus,
    PoolMatch,
    PoolMode,
    QuadraticVariant,
    RoundExclusion,
)
from piazza.funding.quadratic import (
    PROBE_CENTS,
    Gift,
    RoundRules,
    Standing,
    estimate,
    one_voice,
    per_donor,
    quadratic_matches,
    standing,
    voices_of,
)
from piazza.payments.models import MethodDevice
from piazza.territory.models import Comune, Territory
from piazza.territory.scoping import scope_paths

THERMOMETER_CACHE_SECONDS = 3


@dataclass
class Thermometer:
    gifts_cents: int
    matched_cents: int
    gifts_count: int
    small_gifts_cents: int
    donors: int
    goal_cents: int
    deadline: Any
    recent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return self.gifts_cents + self.matched_cents

    @property
    def percent(self) -> int:
        return min(100, self.total_cents * 100 // self.goal_cents) if self.goal_cents else 0

    @property
    def percent_raw(self) -> int:
        return self.total_cents * 100 // self.goal_cents if self.goal_cents else 0

    @property
    def days_left(self) -> int:
        # Wall-clock time in Rome: the days around a summer-time switch have 23 or 25 hours, and
        # "ends in 2 days" must not read 3 on the last Sunday of October.
        def wall(moment: Any) -> Any:
            return timezone.localtime(moment).replace(tzinfo=None)

        seconds = (wall(self.deadline) - wall(timezone.now())).total_seconds()
        return max(0, math.ceil(seconds / 86400))


def counter_totals(campaign_id: int) -> dict[str, int]:
    """Sum of the campaign's counter slots: one indexed read of COUNTER_SLOTS rows."""
    row = CampaignCounter.objects.filter(campaign_id=campaign_id).aggregate(
        gifts=Sum("gifts_cents"), count=Sum("gifts_count"), small=Sum("small_gifts_cents"), matched=Sum("matched_cents")
    )
    return {k: int(v or 0) for k, v in row.items()}


def unique_donors(campaign_id: int) -> int:
    return (
        Donation.objects.filter(campaign_id=campaign_id, status=DonationStatus.SUCCEEDED).aggregate(
            n=Count("person_id", distinct=True)
        )["n"]
        or 0
    )


def recent_wall(campaign_id: int, limit: int = 6) -> list[dict[str, Any]]:
    """Recent donors who chose to appear on the wall (the others are never named)."""
    rows = (
        Donation.objects.filter(campaign_id=campaign_id, status=DonationStatus.SUCCEEDED, on_wall=True)
        .order_by("-succeeded_at")
        .values("first_name", "last_name", "message", "succeeded_at")[:limit]
    )
    return [
        {"name": f"{r['first_name']} {r['last_name'][:1]}.", "message": r["message"], "at": r["succeeded_at"]}
        for r in rows
    ]


def thermometer(campaign: Campaign, *, fresh: bool = False) -> Thermometer:
    """Live figures; cached a few seconds so a viral page costs a handful of reads per second."""
    key = f"funding:thermo:{campaign.pk}"
    data = None if fresh else cache.get(key)
    if data is None:
        totals = counter_totals(campaign.pk)
        data = {"totals": totals, "donors": unique_donors(campaign.pk), "recent": recent_wall(campaign.pk)}
        cache.set(key, data, THERMOMETER_CACHE_SECONDS)
    t = data["totals"]
    return Thermometer(
        gifts_cents=t["gifts"],
        matched_cents=t["matched"],
        gifts_count=t["count"],
        small_gifts_cents=t["small"],
        donors=data["donors"],
        goal_cents=campaign.goal_cents,
        deadline=campaign.deadline,
        recent=data["recent"],
    )


def forget_thermometer(campaign_id: int) -> None:
    cache.delete(f"funding:thermo:{campaign_id}")


@dataclass
class SmallDonorFigures:
    unique_donors: int
    gifts_count: int
    median_gift_cents: int
    small_share_percent: int  # share of money from gifts ≤ €100


def small_donor_figures(campaign: Campaign) -> SmallDonorFigures:
    totals = counter_totals(campaign.pk)
    gifts = Donation.objects.filter(campaign=campaign, status=DonationStatus.SUCCEEDED)
    count = totals["count"]
    median = 0
    if count:
        amounts = gifts.order_by("amount_cents").values_list("amount_cents", flat=True)
        if count % 2:
            median = amounts[count // 2]
        else:
            pair = list(amounts[count // 2 - 1 : count // 2 + 1])
            median = sum(pair) // len(pair) if pair else 0
    share = totals["small"] * 100 // totals["gifts"] if totals["gifts"] else 0
    return SmallDonorFigures(
        unique_donors=unique_donors(campaign.pk), gifts_count=count, median_gift_cents=median, small_share_percent=share
    )


def money_by_source(campaign: Campaign) -> list[dict[str, Any]]:
    """Succeeded money grouped by refcode and UTM source (attribution report)."""
    return list(
        Donation.objects.filter(campaign=campaign, status=DonationStatus.SUCCEEDED)
        .values("refcode", "utm_source", "utm_medium", "utm_campaign")
        .annotate(gifts=Count("id"), cents=Sum("amount_cents"))
        .order_by("-cents")
    )


def leaderboard(campaign: Campaign, limit: int = 10) -> list[FundraisingPage]:
    """Approved peer-to-peer pages by money raised."""
    return list(
        FundraisingPage.objects.filter(campaign=campaign, status=ModerationStatus.APPROVED)
        .annotate(
            raised=Sum("donations__amount_cents", filter=Q(donations__status=DonationStatus.SUCCEEDED)),
            gifts=Count("donations", filter=Q(donations__status=DonationStatus.SUCCEEDED)),
        )
        .order_by("-raised", "created_at")[:limit]
    )


def team_leaderboard(campaign: Campaign) -> list[dict[str, Any]]:
    return list(
        Donation.objects.filter(campaign=campaign, status=DonationStatus.SUCCEEDED, page__team__isnull=False)
        .values("page__team__name")
        .annotate(cents=Sum("amount_cents"), gifts=Count("id"))
        .order_by("-cents")
    )


def page_raised(page: FundraisingPage) -> int:
    return page.donations.filter(status=DonationStatus.SUCCEEDED).aggregate(s=Sum("amount_cents"))["s"] or 0


def open_pools() -> QuerySet[MatchingPool]:
    """Active pools not closed yet, whatever they cover: `pools_for` narrows them to a campaign,
    and a gift's success asks whether there is any at all with its locked read (ADR 0048)."""
    now = timezone.now()
    return MatchingPool.objects.filter(is_active=True).filter(Q(closes_at__isnull=True) | Q(closes_at__gt=now))


def pools_for(campaign: Campaign) -> list[MatchingPool]:
    """Active pools whose eligibility covers the campaign, in their order of application."""
    return [
        p
        for p in open_pools().select_related("eligible_root").order_by("priority", "id")
        if campaign.territory.path.startswith(p.eligible_root.path)
        and (not p.eligible_kinds or campaign.kind in p.eligible_kinds)
    ]


def pool_matched(pool: MatchingPool, *, campaign_id: int | None = None, person_id: int | None = None) -> int:
    qs = PoolMatch.objects.filter(pool=pool, status__in=["reserved", "settled"])
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    if person_id is not None:
        qs = qs.filter(person_id_for_cap=person_id)
    return qs.aggregate(s=Sum("amount_cents"))["s"] or 0


def awaiting_approval(user: Any) -> list[Campaign]:
    from piazza.funding.actions.permissions import can_approve

    qs = Campaign.objects.visible_to(user).filter(status=CampaignStatus.SUBMITTED).select_related("territory")
    return [c for c in qs if can_approve(user, c)]


def dashboard_section(user: Any) -> tuple[str, dict[str, Any]] | None:
    """Back-office dashboard: live campaigns of the official's subtree and those awaiting approval."""
    from piazza.funding.actions.permissions import CAMPAIGN_ROLES

    if not scope_paths(user, CAMPAIGN_ROLES):
        return None
    live = list(
        Campaign.objects.visible_to(user, CAMPAIGN_ROLES)
        .filter(status=CampaignStatus.LIVE)
        .select_related("territory")
        .order_by("deadline")[:8]
    )
    rows = [(c, thermometer(c)) for c in live]
    return "funding/_dashboard_section.html", {"funding_live": rows, "funding_pending": awaiting_approval(user)}


@dataclass
class OneClickOffer:
    """What a browser holding a device token sees: the first name and the card's label, taken
    from the gift whose payment saved that card in this browser (convention 16)."""

    device: MethodDevice
    donation: Donation
    first_name: str

    @property
    def method(self) -> Any:
        return self.device.method

    @property
    def label(self) -> str:
        return str(self.method.label or self.method.method_reference[-4:])


def one_click_offer(device: MethodDevice | None) -> OneClickOffer | None:
    """One-click giving for the device's own saved card, at the card provider in force.

    The card is found by the device token only: never by an email address or a person id, which
    anyone can type into a donation form.
    """
    from piazza.funding.actions.donations import card_provider

    if device is None or device.revoked_at is not None or device.method.provider != card_provider():
        return None
    donation = (
        Donation.objects.filter(payment__saved_method=device.method, status=DonationStatus.SUCCEEDED)
        .select_related("comune")
        .order_by("-succeeded_at", "-pk")
        .first()
    )
    if donation is None:
        return None
    return OneClickOffer(device, donation, donation.first_name)


def comuni_named(name: str) -> list[Comune]:
    """Current comuni with this name (a few names exist in two provinces); a comune merged away
    answers with the comune it became, so "Nanto" still finds what is near Nanto (rule D2)."""
    name = " ".join(name.split())
    if not name:
        return []
    named = list(Comune.objects.filter(name__iexact=name).select_related("successor"))
    current = [c for c in named if c.valid_to is None]
    if current:
        return current
    return list({c.current().pk: c.current() for c in named if c.successor_id}.values())


def live_campaigns_near(comuni: list[Comune]) -> list[Campaign]:
    """Live campaigns of the circoli and federation serving these comuni, and of the levels above them."""
    paths = Territory.objects.filter(Q(comuni__in=comuni) | Q(comuni_served__in=comuni)).values_list("path", flat=True)
    prefixes: set[str] = set()
    for path in paths:
        parts = [p for p in path.strip("/").split("/") if p]
        prefixes.update("/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1))
    return list(
        Campaign.objects.live()
        .filter(territory__path__in=prefixes)
        .select_related("territory")
        .order_by("deadline")[:60]
    )


@dataclass
class PublicTotals:
    """What the transparency page shows of money: every public campaign with its thermometer."""

    rows: list[tuple[Campaign, Thermometer]]

    @property
    def raised_cents(self) -> int:
        return sum(t.gifts_cents for _, t in self.rows)

    @property
    def matched_cents(self) -> int:
        return sum(t.matched_cents for _, t in self.rows)

    @property
    def gifts_count(self) -> int:
        return sum(t.gifts_count for _, t in self.rows)

    @property
    def small_share_percent(self) -> int:
        raised = self.raised_cents
        return sum(t.small_gifts_cents for _, t in self.rows) * 100 // raised if raised else 0


def public_totals(limit: int = 200) -> PublicTotals:
    campaigns = Campaign.objects.public().select_related("territory").order_by("-launched_at", "-pk")[:limit]
    return PublicTotals(rows=[(c, thermometer(c)) for c in campaigns])


# --- Quadratic rounds (issue 17) -------------------------------------------------------------

ROUND_CAMPAIGN_STATUSES = [CampaignStatus.LIVE, CampaignStatus.ENDED, CampaignStatus.SETTLED]


def round_campaigns(pool: MatchingPool) -> QuerySet[Campaign]:
    """Campaigns a quadratic round may match: approved by the level above (live or past), inside the
    pool's subtree, of its kinds, and not failed (an all-or-nothing campaign that failed gave its money back)."""
    qs = Campaign.objects.filter(
        status__in=ROUND_CAMPAIGN_STATUSES, territory__path__startswith=pool.eligible_root.path
    ).exclude(outcome=CampaignOutcome.FAILED)
    if pool.eligible_kinds:
        qs = qs.filter(kind__in=pool.eligible_kinds)
    return qs


@dataclass(frozen=True)
class RoundGiftRow:
    """One kept gift of a round, with what the anomaly view and the dedupe need (no name shown)."""

    donation_id: int
    campaign_id: int
    person_id: int
    cents: int
    instrument: str
    address_key: str
    refcode: str
    succeeded_at: Any


def round_gift_rows(pool: MatchingPool) -> list[RoundGiftRow]:
    """The gifts a round may count: kept, from an identified person (the person record the codice
    fiscale resolved to), made while the round was open. Excluded gifts are still in this list."""
    qs = Donation.objects.filter(
        status=DonationStatus.SUCCEEDED,
        person__isnull=False,
        campaign__in=round_campaigns(pool),
        succeeded_at__gte=pool.created_at,
    )
    if pool.closes_at is not None:
        qs = qs.filter(succeeded_at__lt=pool.closes_at)
    rows = qs.order_by("succeeded_at", "pk").values_list(
        "pk",
        "campaign_id",
        "person_id",
        "amount_cents",
        "payment__metadata",
        "address",
        "postal_code",
        "refcode",
        "succeeded_at",
    )
    return [
        RoundGiftRow(
            donation_id=pk,
            campaign_id=campaign_id,
            person_id=person_id,
            cents=int(cents),
            instrument=str((metadata or {}).get("instrument_fingerprint") or ""),
            address_key=f"{postal_code}|{' '.join(address.lower().replace(',', ' ').split())}" if address else "",
            refcode=refcode,
            succeeded_at=succeeded_at,
        )
        for pk, campaign_id, person_id, cents, metadata, address, postal_code, refcode, succeeded_at in rows
    ]


def excluded_donations(pool: MatchingPool) -> dict[int, str]:
    """donation id → reason category of the gifts the treasurer left out of the match."""
    if pool.pk is None:  # the simulation's unsaved round
        return {}
    return dict(RoundExclusion.objects.filter(pool=pool).values_list("donation_id", "category"))


def round_gifts(pool: MatchingPool, rows: list[RoundGiftRow] | None = None) -> list[Gift]:
    """What the quadratic rule counts. One person, one voice: identities that paid with the same card
    or account are merged into one donor (the smallest person id speaks for them), whatever the
    variant; the gifts the treasurer excluded are left out. The "cluster" variant also counts the
    donors living at one address as one voice."""
    rows = round_gift_rows(pool) if rows is None else rows
    excluded = excluded_donations(pool)
    kept = [row for row in rows if row.donation_id not in excluded]
    voice = one_voice((str(row.person_id), row.instrument) for row in kept)
    clustered = pool.quadratic_variant == QuadraticVariant.CLUSTER
    return [
        Gift(
            campaign_id=row.campaign_id,
            donor=voice[str(row.person_id)],
            cents=row.cents,
            cluster=f"address:{row.address_key}" if clustered and row.address_key else "",
        )
        for row in kept
    ]


def round_rules(pool: MatchingPool, pool_cents: int | None = None) -> RoundRules:
    if pool_cents is None:
        pool_cents = pool.round_shared_cents if pool.round_shared_cents is not None else pool.remaining_cents
    return RoundRules(
        pool_cents=pool_cents,
        cap_cents=pool.cap_per_campaign_cents,
        min_donors=max(pool.min_distinct_donors, 1),
        donor_ceiling_cents=pool.donor_ceiling_cents,
        variant=pool.quadratic_variant,
    )


ROUND_GENERATION_KEY = "funding:qf:generation"
ROUND_STANDING_SECONDS = 300


def touch_rounds() -> None:
    """Any gift, refund or exclusion changes the live estimates: a new generation, so the next page
    view recomputes the round's standing once (then every view reads it from the cache)."""
    try:
        cache.incr(ROUND_GENERATION_KEY)
    except ValueError:
        cache.set(ROUND_GENERATION_KEY, 1, None)


def _standing_key(pool_id: int) -> str:
    return f"funding:qf:standing:{pool_id}"


def refresh_standing(pool: MatchingPool) -> Standing:
    """Recompute the round's standing from its gifts and cache it with the generation it reflects."""
    generation = cache.get(ROUND_GENERATION_KEY, 0)
    state = standing(round_gifts(pool), round_rules(pool))
    cache.set(_standing_key(pool.pk), (generation, state), ROUND_STANDING_SECONDS)
    return state


def live_standing(pool: MatchingPool) -> Standing:
    """The round's `Standing` for a page view: each campaign's Σ√c and Σc already turned into ideal
    matches, read from the cache. After a gift the cached one is a generation behind: the view still
    answers from it at once and a task recomputes it (one at a time per round), so no page view pays
    for reading the round's gifts; only the very first view of a round computes it in the request."""
    cached = cache.get(_standing_key(pool.pk))
    if cached is None:
        return refresh_standing(pool)
    generation, state = cached
    if generation != cache.get(ROUND_GENERATION_KEY, 0) and cache.add(f"funding:qf:refreshing:{pool.pk}", 1, 30):
        from piazza.funding.tasks import refresh_round_standing  # the tasks module reads these queries

        refresh_round_standing.enqueue(pool.pk)
        fresh = cache.get(_standing_key(pool.pk))  # a task run inline (tests, demo) is already done
        if fresh is not None:
            state = fresh[1]
    return state


@dataclass(frozen=True)
class RoundEstimate:
    pool: MatchingPool
    match_cents: int
    one_more_cents: int
    probe_cents: int = PROBE_CENTS


def open_rounds_for(campaign: Campaign) -> list[MatchingPool]:
    """The quadratic rounds open now that count this campaign's gifts."""
    if campaign.status != CampaignStatus.LIVE:
        return []
    now = timezone.now()
    path = campaign.territory.path
    ancestors = [path[: i + 1] for i, ch in enumerate(path) if ch == "/"]
    pools = MatchingPool.objects.filter(
        mode=PoolMode.QUADRATIC,
        is_active=True,
        round_closed_at__isnull=True,
        closes_at__gt=now,
        created_at__lte=now,
        eligible_root__path__in=ancestors,
    ).order_by("closes_at", "pk")
    return [p for p in pools if not p.eligible_kinds or campaign.kind in p.eligible_kinds]


def round_estimates(campaign: Campaign) -> list[RoundEstimate]:
    """For the campaign page: each open round's estimated match and what one more €5 donor adds."""
    answers = []
    for pool in open_rounds_for(campaign):
        match, one_more = estimate(live_standing(pool), campaign.pk)
        answers.append(RoundEstimate(pool, match, one_more))
    return answers


@dataclass(frozen=True)
class RoundLine:
    campaign: Campaign
    donors: int  # distinct voices after one person, one voice
    counted_cents: int
    match_cents: int
    excluded: int = 0  # gifts the treasurer left out of the match
    sum_roots: float = 0.0  # Σ √c over the voices (published: anyone recomputes (Σ√c)² − Σc)


def round_standing(pool: MatchingPool) -> list[RoundLine]:
    """Each eligible campaign's donors, gifts and match: the booked match once the round is closed,
    otherwise what the pool would give if the round closed now."""
    rows = round_gift_rows(pool)
    gifts = round_gifts(pool, rows)
    if pool.round_closed_at is not None:
        matches = dict(
            PoolMatch.objects.filter(pool=pool, donation__isnull=True)
            .exclude(status=MatchStatus.RELEASED)
            .values_list("campaign_id", "amount_cents")
        )
    else:
        matches = quadratic_matches(gifts, round_rules(pool))
    voices = round_voices(gifts, round_rules(pool))
    excluded_ids = excluded_donations(pool)
    excluded: dict[int, int] = {}
    for row in rows:
        if row.donation_id in excluded_ids:
            excluded[row.campaign_id] = excluded.get(row.campaign_id, 0) + 1
    campaigns = round_campaigns(pool).select_related("territory").order_by("title")
    lines = [
        RoundLine(
            c,
            len(voices.get(c.pk, ())),
            sum(voices.get(c.pk, ())),
            int(matches.get(c.pk, 0)),
            excluded.get(c.pk, 0),
            sum(math.sqrt(v) for v in voices.get(c.pk, ())),
        )
        for c in campaigns
    ]
    return sorted(lines, key=lambda line: (-line.match_cents, -line.donors, line.campaign.title))


def round_voices(gifts: list[Gift], rules: RoundRules) -> dict[int, list[int]]:
    """campaign → the counted contribution of each voice (after the ceiling and, in the cluster
    variant, summed per cluster): the inputs of (Σ√c)² − Σc."""
    return {campaign: voices_of(donors, rules) for campaign, donors in per_donor(gifts, rules).items()}
