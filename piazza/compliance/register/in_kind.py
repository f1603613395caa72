"""Services in kind as a channel of contributions (rules F1, F6; never traceable for F7/F8).

Registered in `ComplianceConfig.ready()` as a contribution *line* source (the register, receipts,
statements read it) and as an F6/F14 total source, like funding's donations and membership's fees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator

from django.db.models import QuerySet, Sum
from django.utils import timezone

from piazza.compliance.contributions import ContributionLine
from piazza.compliance.models import InKindContribution
from piazza.compliance.rules import total_query

SOURCE = "compliance.inkindcontribution"
METHOD = "in_kind"


def _received_at(day: dt.date) -> dt.datetime:
    """Noon of the day received, in the local time zone (a line carries a moment)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12, 0)))


def in_kind_lines(year: int, entity_path: str, person_ids: Collection[int] | None) -> Iterator[ContributionLine]:
    """Rules F1/F7 line source: each contribution in kind received in `year`."""
    qs = InKindContribution.objects.filter(received_on__year=year)
    if person_ids is not None:
        qs = qs.filter(person_id__in=person_ids)
    if entity_path:
        qs = qs.filter(territory__path__startswith=entity_path)
    rows = qs.order_by("pk").values_list(
        "pk", "person_id", "territory_id", "territory__path", "value_cents", "received_on"
    )
    for pk, person_id, territory_id, path, cents, received_on in rows.iterator(chunk_size=2000):
        yield ContributionLine(
            source=SOURCE,
            source_id=pk,
            person_id=person_id,
            kind="donation",
            territory_id=territory_id,
            territory_path=path,
            amount_cents=int(cents),
            received_at=_received_at(received_on),
            method=METHOD,
        )


def in_kind_in_year_query(person_id: int, year: int, entity_path: str) -> QuerySet[InKindContribution]:
    """`in_kind_in_year` as a query, for the one-statement F6 totals (issue 14)."""
    qs = InKindContribution.objects.filter(person_id=person_id, received_on__year=year)
    if entity_path:
        qs = qs.filter(territory__path__startswith=entity_path)
    return total_query(qs, "value_cents")


def in_kind_in_year(person_id: int, year: int, entity_path: str) -> int:
    """Rules F6/F14 source: the value of what one person gave in kind in `year` within the scope."""
    qs = InKindContribution.objects.filter(person_id=person_id, received_on__year=year)
    if entity_path:
        qs = qs.filter(territory__path__startswith=entity_path)
    return int(qs.aggregate(total=Sum("value_cents"))["total"] or 0)
