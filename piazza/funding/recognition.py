"""Recognition that respects rule G1 (issue 17): "donatori fondatori" of a local project and
streaks of monthly givers, shown only for donors who chose to appear (`Donation.on_wall`, the
same opt-in as the wall of recent donors). Nobody who did not tick it is ever named or counted here.

Both figures are parameters (settings.RECOGNITION_FOUNDERS, RECOGNITION_STREAK_MIN_MONTHS)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Min
from django.utils import timezone

from piazza.funding.models import Campaign, CampaignKind, Donation, DonationStatus, Frequency

CACHE_SECONDS = 60


@dataclass(frozen=True)
class Recognised:
    name: str
    founder_rank: int | None = None
    streak_months: int = 0


def _month_index(moment: dt.datetime) -> int:
    local = timezone.localtime(moment)
    return local.year * 12 + local.month - 1


def streak(months: set[int], now: dt.datetime | None = None) -> int:
    """Consecutive calendar months (Rome) with a gift, ending this month or the last one (this
    month's charge may not have run yet)."""
    current = _month_index(now or timezone.now())
    month = current if current in months else current - 1
    count = 0
    while month in months:
        count += 1
        month -= 1
    return count


def _name(first: str, last: str) -> str:
    return f"{first} {last[:1]}."


def _founder_ids(campaign_id: int, limit: int) -> list[int]:
    """The first `limit` distinct donors of the campaign (by their first succeeded gift), whoever
    they are: the rank is a fact, the name is shown only with their consent."""
    rows = (
        Donation.objects.filter(campaign_id=campaign_id, status=DonationStatus.SUCCEEDED, person__isnull=False)
        .values("person_id")
        .annotate(first=Min("succeeded_at"))
        .order_by("first", "person_id")[:limit]
    )
    return [r["person_id"] for r in rows]


def _consenting(campaign_id: int, person_ids: list[int] | None = None) -> dict[int, tuple[str, str]]:
    """Person id → (first name, last name) of the campaign's donors who chose to appear."""
    rows = Donation.objects.filter(
        campaign_id=campaign_id, status=DonationStatus.SUCCEEDED, on_wall=True, person__isnull=False
    )
    if person_ids is not None:
        rows = rows.filter(person_id__in=person_ids)
    return {
        r["person_id"]: (r["first_name"], r["last_name"])
        for r in rows.order_by("person_id", "-succeeded_at").values("person_id", "first_name", "last_name")
    }


def _monthly_months(campaign_id: int, person_ids: list[int] | None = None) -> dict[int, set[int]]:
    """Person id → months in which one of their monthly gifts to the campaign succeeded (consenting only)."""
    rows = Donation.objects.filter(
        campaign_id=campaign_id,
        status=DonationStatus.SUCCEEDED,
        frequency=Frequency.MONTHLY,
        on_wall=True,
        person__isnull=False,
        succeeded_at__isnull=False,
    )
    if person_ids is not None:
        rows = rows.filter(person_id__in=person_ids)
    months: dict[int, set[int]] = {}
    for person_id, at in rows.values_list("person_id", "succeeded_at"):
        if at is not None:
            months.setdefault(person_id, set()).add(_month_index(at))
    return months


def founders_apply(campaign: Campaign) -> bool:
    """Founders are a local project's: the first people who believed in it."""
    return campaign.kind == CampaignKind.PROJECT


def campaign_recognition(campaign: Campaign) -> dict[str, list[Recognised]]:
    """What the campaign page shows: consenting founders (in order) and consenting monthly streaks
    (longest first). A few indexed reads, cached for a minute."""
    key = f"funding:recognition:{campaign.pk}"
    cached: Any = cache.get(key)
    if cached is not None:
        return dict(cached)
    founders: list[Recognised] = []
    if founders_apply(campaign):
        ids = _founder_ids(campaign.pk, int(settings.RECOGNITION_FOUNDERS))
        names = _consenting(campaign.pk, ids)
        founders = [
            Recognised(name=_name(*names[pid]), founder_rank=rank)
            for rank, pid in enumerate(ids, start=1)
            if pid in names
        ]
    minimum = int(settings.RECOGNITION_STREAK_MIN_MONTHS)
    months = _monthly_months(campaign.pk)
    names = _consenting(campaign.pk, list(months))
    streaks = sorted(
        (
            Recognised(name=_name(*names[pid]), streak_months=n)
            for pid, m in months.items()
            if pid in names and (n := streak(m)) >= minimum
        ),
        key=lambda r: (-r.streak_months, r.name),
    )
    result = {"founders": founders, "streaks": streaks}
    cache.set(key, result, CACHE_SECONDS)
    return result


def forget_cached(campaign_id: int) -> None:
    cache.delete(f"funding:recognition:{campaign_id}")
    cache.delete(f"funding:thermo:{campaign_id}")


@dataclass(frozen=True)
class OwnRecognition:
    campaign_id: int
    slug: str
    title: str
    founder_rank: int | None
    streak_months: int


def recognition_of(person_id: int) -> list[OwnRecognition]:
    """Where the person appears by name (they chose it when giving) and with which recognition:
    what Il mio spazio shows them, with a button to take their name off."""
    campaign_ids = list(
        Donation.objects.filter(person_id=person_id, status=DonationStatus.SUCCEEDED, on_wall=True)
        .values_list("campaign_id", flat=True)
        .distinct()
    )
    out = []
    limit = int(settings.RECOGNITION_FOUNDERS)
    for campaign in Campaign.objects.filter(pk__in=campaign_ids).order_by("title"):
        rank = None
        if founders_apply(campaign):
            ids = _founder_ids(campaign.pk, limit)
            rank = ids.index(person_id) + 1 if person_id in ids else None
        months = _monthly_months(campaign.pk, [person_id]).get(person_id, set())
        out.append(OwnRecognition(campaign.pk, campaign.slug, campaign.title, rank, streak(months)))
    return out


def has_recognition_to_show(result: dict[str, list[Recognised]]) -> bool:
    return bool(result["founders"] or result["streaks"])


__all__ = ["campaign_recognition", "recognition_of", "streak"]
