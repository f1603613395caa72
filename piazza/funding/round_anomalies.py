"""Suspicious clusters in a quadratic round (issue 17), shown to the treasurer on the round page.

Like the membership anomalies (`piazza.membership.anomalies`) these only read and explain: nothing
is excluded automatically. The treasurer decides, with a reason (`actions.rounds.exclude_from_round`).
The page shows gift numbers, campaigns, amounts and times, never a donor's name.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from piazza.funding.models import Donation, DonationStatus, ExclusionReason, MatchingPool
from piazza.funding.queries import RoundGiftRow, excluded_donations, round_gift_rows

ADDRESS_MIN_PEOPLE = 3  # two people at one address is a household; three is worth a look
REFERRAL_MIN_NEW = 5  # new donors arriving through the same invitation
BURST_MIN_NEW = 5  # new donors on one campaign …
BURST_MINUTES = 10  # … within this many minutes


@dataclass(frozen=True)
class Cluster:
    category: str  # an ExclusionReason value: the treasurer's exclusion reuses it
    key: str
    summary: str
    rows: list[RoundGiftRow]
    excluded: frozenset[int]

    @property
    def label(self) -> str:
        return str(ExclusionReason(self.category).label)

    @property
    def donation_ids(self) -> list[int]:
        return [row.donation_id for row in self.rows]

    @property
    def open_ids(self) -> list[int]:
        """The gifts of the cluster still counted (the ones an exclusion would add)."""
        return [row.donation_id for row in self.rows if row.donation_id not in self.excluded]

    @property
    def cents(self) -> int:
        return sum(row.cents for row in self.rows)

    @property
    def people(self) -> int:
        return len({row.person_id for row in self.rows})


def _grouped(rows: list[RoundGiftRow], key: str) -> dict[str, list[RoundGiftRow]]:
    groups: dict[str, list[RoundGiftRow]] = defaultdict(list)
    for row in rows:
        value = getattr(row, key)
        if value:
            groups[value].append(row)
    return groups


def _new_donors(pool: MatchingPool, rows: list[RoundGiftRow]) -> set[int]:
    """People whose first kept gift ever was made during the round."""
    people = {row.person_id for row in rows}
    earlier = Donation.objects.filter(
        person_id__in=people, status=DonationStatus.SUCCEEDED, succeeded_at__lt=pool.created_at
    ).values_list("person_id", flat=True)
    return people - set(earlier)


def round_clusters(pool: MatchingPool) -> list[Cluster]:
    """Every suspicious cluster of the round, the most money first."""
    rows = round_gift_rows(pool)
    excluded = frozenset(excluded_donations(pool))
    clusters: list[Cluster] = []
    for fingerprint, group in _grouped(rows, "instrument").items():
        people = len({row.person_id for row in group})
        if people >= 2:
            summary = _(
                "%(people)s donatori diversi hanno pagato con la stessa carta o lo stesso conto: "
                "nel calcolo contano già come una persona sola."
            ) % {"people": people}
            clusters.append(Cluster(ExclusionReason.SHARED_INSTRUMENT, fingerprint, summary, group, excluded))
    for address, group in _grouped(rows, "address_key").items():
        people = len({row.person_id for row in group})
        if people >= ADDRESS_MIN_PEOPLE:
            summary = _("%(people)s donatori diversi allo stesso indirizzo (CAP %(cap)s).") % {
                "people": people,
                "cap": address.split("|", 1)[0],
            }
            clusters.append(Cluster(ExclusionReason.SHARED_ADDRESS, address, summary, group, excluded))
    new = _new_donors(pool, rows)
    for refcode, group in _grouped(rows, "refcode").items():
        newcomers = [row for row in group if row.person_id in new]
        people = len({row.person_id for row in newcomers})
        if people >= REFERRAL_MIN_NEW:
            summary = _("%(people)s nuovi donatori sono arrivati con lo stesso invito «%(code)s».") % {
                "people": people,
                "code": refcode,
            }
            clusters.append(Cluster(ExclusionReason.SHARED_REFERRAL, refcode, summary, newcomers, excluded))
    clusters.extend(_bursts(rows, new, excluded))
    return sorted(clusters, key=lambda c: (-c.cents, c.category, c.key))


def _bursts(rows: list[RoundGiftRow], new: set[int], excluded: frozenset[int]) -> list[Cluster]:
    """Many new donors on one campaign within a few minutes: the widest such window per campaign."""
    window = dt.timedelta(minutes=BURST_MINUTES)
    found = []
    by_campaign: dict[int, list[RoundGiftRow]] = defaultdict(list)
    for row in rows:
        if row.person_id in new:
            by_campaign[row.campaign_id].append(row)
    for campaign_id, group in sorted(by_campaign.items()):
        group.sort(key=lambda r: (r.succeeded_at, r.donation_id))
        best: list[RoundGiftRow] = []
        start = 0
        for end in range(len(group)):
            while group[end].succeeded_at - group[start].succeeded_at > window:
                start += 1
            if end - start + 1 > len(best):
                best = group[start : end + 1]
        people = len({row.person_id for row in best})
        if people >= BURST_MIN_NEW:
            summary = ngettext(
                "%(people)s nuovo donatore in %(minutes)s minuti sulla stessa raccolta.",
                "%(people)s nuovi donatori in %(minutes)s minuti sulla stessa raccolta.",
                people,
            ) % {"people": people, "minutes": BURST_MINUTES}
            key = f"{campaign_id}@{best[0].succeeded_at.isoformat()}"
            found.append(Cluster(ExclusionReason.BURST, key, summary, best, excluded))
    return found
