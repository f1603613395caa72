"""Reads of the membership app: the congress eligibility check, statistics for the dashboards,
the anomaly report. Every query is scoped by the caller (a territory subtree)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.membership import anomalies
from piazza.membership.fees import age_on
from piazza.membership.models import (
    LIVE_STATUSES,
    PAID_STATUSES,
    AnomalyFlag,
    Appeal,
    Congress,
    FlagKind,
    FlagStatus,
    Membership,
    Objection,
    ObjectionStatus,
    Roll,
    RollEntry,
    RollStatus,
)
from piazza.people.models import Person
from piazza.territory.models import Level, Role, Territory
from piazza.territory.scoping import scope_paths

STATS_ROLES = {Role.MEMBERSHIP, Role.ORGANISATION, Role.ADMINISTRATOR, Role.GUARANTEE}


# --- Eligibility from the certified snapshot (M16) --------------------------------------


@dataclass
class Eligibility:
    allowed: bool
    reason: str
    roll: Roll | None = None


def certified_roll(congress: Congress, circolo: Territory) -> Roll | None:
    return Roll.objects.filter(congress=congress, circolo=circolo, status=RollStatus.RATIFIED).first()


def may_vote(congress: Congress, circolo: Territory, person: Person) -> Eligibility:
    """ "May this person vote in this circolo's congress?", answered from the certified snapshot only."""
    roll = certified_roll(congress, circolo)
    if roll is None:
        return Eligibility(
            False,
            _("L'anagrafe del %(c)s per «%(k)s» non è ancora certificata.") % {"c": circolo.name, "k": congress.name},
        )
    entry = RollEntry.objects.filter(roll=roll, person=person).first()
    if entry is None:
        return Eligibility(
            False,
            _("%(p)s non è nell'anagrafe certificata del %(c)s (versione %(v)s).")
            % {"p": person, "c": circolo.name, "v": roll.version},
            roll,
        )
    return Eligibility(
        True,
        _("%(p)s è nell'anagrafe certificata del %(c)s: tessera %(card)s, versione %(v)s, impronta %(h)s.")
        % {"p": person, "c": circolo.name, "card": entry.card_number, "v": roll.version, "h": roll.content_hash[:12]},
        roll,
    )


# --- Statistics (dashboards) --------------------------------------------------------------


def scoped_memberships(user: Any) -> QuerySet[Membership]:
    return Membership.objects.visible_to(user, roles=STATS_ROLES)  # type: ignore[no-any-return]


def members_by_year(qs: QuerySet[Membership]) -> list[tuple[int, int, int]]:
    """(year, new, renewed) among paid memberships, oldest year first."""
    rows = (
        qs.filter(status__in=PAID_STATUSES)
        .values("year")
        .annotate(new=Count("pk", filter=Q(is_renewal=False)), renewed=Count("pk", filter=Q(is_renewal=True)))
        .order_by("year")
    )
    return [(r["year"], r["new"], r["renewed"]) for r in rows]


def members_by_child(qs: QuerySet[Membership], root: Territory, year: int) -> list[tuple[str, int]]:
    """Paid members of `year` per territory one level below `root` (regions, federations or circoli)."""
    depth = root.depth + 1
    counts: Counter[str] = Counter()
    for path, n in (
        qs.filter(year=year, status__in=PAID_STATUSES, circolo__path__startswith=root.path)
        .values_list("circolo__path")
        .annotate(n=Count("pk"))
    ):
        parts = path.strip("/").split("/")
        counts[parts[depth] if len(parts) > depth else parts[-1]] += n
    names = dict(Territory.objects.filter(pk__in=[int(k) for k in counts]).values_list("pk", "name"))
    return sorted(((names.get(int(k), k), n) for k, n in counts.items()), key=lambda x: -x[1])


def renewal_rates(qs: QuerySet[Membership], year: int) -> list[tuple[str, int, int]]:
    """Per circolo: (name, last year's paid members, of whom renewed this year)."""
    previous = qs.filter(year=year - 1, status__in=PAID_STATUSES)
    renewed_people = set(
        Membership.objects.filter(
            year=year, status__in=LIVE_STATUSES, person_id__in=previous.values("person_id")
        ).values_list("person_id", flat=True)
    )
    per: dict[str, list[int]] = {}
    for name, person_id in previous.values_list("circolo__name", "person_id"):
        row = per.setdefault(name, [0, 0])
        row[0] += 1
        row[1] += int(person_id in renewed_people)
    return sorted(((name, a, b) for name, (a, b) in per.items()), key=lambda x: x[0])


AGE_BANDS = [(16, 26), (27, 35), (36, 45), (46, 55), (56, 65), (66, 75), (76, 120)]


def age_sex(qs: QuerySet[Membership], year: int) -> list[tuple[str, int, int]]:
    """(band label, women, men) of paid members, age at 1 January of `year`."""
    on = dt.date(year, 1, 1)
    bands = {f"{a}–{b}" if b < 120 else f"{a}+": [0, 0] for a, b in AGE_BANDS}
    for birth, sex in qs.filter(year=year, status__in=PAID_STATUSES).values_list("person__birth_date", "person__sex"):
        if birth is None:
            continue
        age = age_on(birth, on)
        for a, b in AGE_BANDS:
            if a <= age <= b:
                label = f"{a}–{b}" if b < 120 else f"{a}+"
                bands[label][0 if sex == "F" else 1] += 1
                break
    return [(label, w, m) for label, (w, m) in bands.items()]


def members_by_province(qs: QuerySet[Membership], year: int) -> dict[str, int]:
    """Paid members per federation province code (ISTAT), for the map."""
    counts: Counter[str] = Counter()
    federations = dict(Territory.objects.filter(level=Level.FEDERATION).values_list("pk", "code"))
    for path, n in qs.filter(year=year, status__in=PAID_STATUSES).values_list("circolo__path").annotate(n=Count("pk")):
        for part in path.strip("/").split("/"):
            code = federations.get(int(part))
            if code:
                counts[code] += n
                break
    return dict(counts)


def dashboard_section(user: Any) -> tuple[str, dict[str, Any]] | None:
    """The dashboard card (piazza.web.sections): this year's members in the official's scope."""
    if not scope_paths(user, STATS_ROLES):
        return None
    year = timezone.localdate().year
    qs = scoped_memberships(user).filter(year=year)
    counts = {row["status"]: row["n"] for row in qs.values("status").annotate(n=Count("pk"))}
    open_flags = AnomalyFlag.objects.visible_to(user, roles=STATS_ROLES).filter(status=FlagStatus.OPEN).count()
    return "membership/_dashboard_section.html", {"year": year, "counts": counts, "open_flags": open_flags}


# How serious a kind of signal is for the guarantee commission (issue 11 item 18: the report and its
# index are sorted by it). 3: money or identity (M4, M24); 2: patterns; 1: coincidences to check.
FLAG_SEVERITY: dict[str, int] = {
    FlagKind.SHARED_INSTRUMENT: 3,
    FlagKind.PREPAID_INSTRUMENT: 3,
    FlagKind.INVALID_CF: 3,
    FlagKind.PRE_CUTOFF_SPIKE: 2,
    FlagKind.OUT_OF_AREA: 2,
    FlagKind.IMPLAUSIBLE_AGE: 2,
    FlagKind.SHARED_EMAIL: 1,
    FlagKind.SHARED_PHONE: 1,
    FlagKind.SHARED_ADDRESS: 1,
}


def flag_severity(kind: str, evidence: dict[str, Any]) -> int:
    """A card shared within the federation's limit (M24 allows it) is a coincidence to check."""
    if (
        kind == FlagKind.SHARED_INSTRUMENT
        and isinstance(evidence.get("limit"), int)
        and int(evidence.get("count") or 0) <= evidence["limit"]
    ):
        return 1
    return FLAG_SEVERITY.get(kind, 1)


def anomaly_report(federation: Territory, year: int) -> list[AnomalyFlag]:
    """Open flags first, the most serious kinds first, then the ones involving most people."""
    flags = list(
        AnomalyFlag.objects.filter(federation=federation, year=year)
        .prefetch_related("people")
        .select_related("circolo", "reviewed_by")
        .order_by("-last_seen_at")
    )
    for flag in flags:
        flag.severity = flag_severity(flag.kind, flag.evidence)  # type: ignore[attr-defined]
    shared = [f for f in flags if f.kind == FlagKind.SHARED_INSTRUMENT]
    if shared:  # every membership of each group, not only the ones its evidence lists (ADR 0051)
        groups = anomalies.shared_instrument_memberships(federation, year, [f.key for f in shared])
        for flag in shared:
            flag.group_memberships = groups[flag.key]  # type: ignore[attr-defined]
    return sorted(
        flags,
        key=lambda f: (
            f.status != FlagStatus.OPEN,
            -f.severity,  # type: ignore[attr-defined]
            -len(f.people.all()),
        ),
    )


@dataclass
class AnomalyIndexRow:
    federation: Territory
    serious: int  # open flags of severity 3
    open: int
    reviewed: int
    objections: int  # open objections to memberships of the federation's circoli


def anomaly_index(federations: QuerySet[Territory], year: int) -> list[AnomalyIndexRow]:
    """One row per federation with what waits for the commission, most urgent first; four
    queries whatever the number of federations."""
    ids = list(federations.values_list("pk", flat=True))
    flags: dict[int, Counter[str]] = {}
    for row in (
        AnomalyFlag.objects.filter(federation_id__in=ids, year=year)
        .values("federation_id", "kind", "status")
        .annotate(n=Count("pk"))
    ):
        counts = flags.setdefault(row["federation_id"], Counter())
        if row["status"] == FlagStatus.OPEN:
            counts["open"] += row["n"]
            if FLAG_SEVERITY.get(row["kind"], 1) >= 3 and row["kind"] != FlagKind.SHARED_INSTRUMENT:
                counts["serious"] += row["n"]
        else:
            counts["reviewed"] += row["n"]
    # A shared card is serious only beyond the federation's limit: read the few open ones.
    for federation_id, kind, evidence in AnomalyFlag.objects.filter(
        federation_id__in=ids, year=year, status=FlagStatus.OPEN, kind=FlagKind.SHARED_INSTRUMENT
    ).values_list("federation_id", "kind", "evidence"):
        if flag_severity(kind, evidence) >= 3:
            flags.setdefault(federation_id, Counter())["serious"] += 1
    objections = dict(
        Objection.objects.filter(status=ObjectionStatus.OPEN, membership__circolo__parent_id__in=ids)
        .values("membership__circolo__parent_id")
        .annotate(n=Count("pk"))
        .values_list("membership__circolo__parent_id", "n")
    )
    rows = [
        AnomalyIndexRow(
            f,
            flags.get(f.pk, Counter())["serious"],
            flags.get(f.pk, Counter())["open"],
            flags.get(f.pk, Counter())["reviewed"],
            objections.get(f.pk, 0),
        )
        for f in federations
    ]
    return sorted(rows, key=lambda r: (-r.serious, -r.open, -r.objections, r.federation.name))


def cash_receipts(circolo: Territory, day: dt.date) -> QuerySet[Membership]:
    """Fees a circolo collected in cash on `day` (local time), in receipt order."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    return (
        Membership.objects.filter(circolo=circolo, paid_at__gte=start, paid_at__lt=start + dt.timedelta(days=1))
        .exclude(cash_receipt_number="")
        .select_related("person", "circolo", "registered_by")
        .order_by("paid_at")
    )


def pending_appeals(user: Any, *, roles: Any) -> Any:
    """Rule M18: appeals not yet decided within `user`'s scope, by decision deadline (overdue first)."""
    return (
        Appeal.objects.visible_to(user, roles=roles)
        .filter(decided_at__isnull=True)
        .select_related("commission", "objection__membership__person", "objection__membership__circolo")
        .order_by("decision_due", "pk")
    )
