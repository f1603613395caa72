"""The portal's figures: per territory (or candidacy) and year, from the ledger and the
contribution lines and nothing else (issue 13, rules F1, G1).

Two sources, each for what it knows:

- the **ledger** gives every euro that moved: the party's money is the balance of its *fund*
  accounts (`FUND_KINDS`, credit-normal) minus the *costs* charged to it (`COST_KINDS`,
  debit-normal). By the double-entry identity that is exactly what the party holds (assets
  minus what it owes), and the year's movements, classified by the transaction's cause, explain
  the change from the opening to the closing balance;
- the **contribution lines** (`compliance.contributions`) say who gave what: small gifts,
  gifts of donors above the F1 publication threshold (published by name in the register, not
  here), fees, by month and by territory. Whatever the ledger received that the lines do not
  explain (a refund of last year's gift) is its own row, so the income table always adds up to
  the ledger.

Rule G1 (`disclosure.py`): a cell with between 1 and k-1 contributors below the threshold is
never shown alone; a territory whose contributors are that few is not published by itself and
its page points to its parent, whose figures include it.

`reports.report(scope, year)` is cached per scope, year and ledger position (the id of the last ledger
transaction, read at most every `TRANSPARENCY_REFRESH_SECONDS`): a page shows the figures of one
moment of the ledger, computed in one snapshot, with that moment ("dati al …").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db.models import Max, Min, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise

from piazza.compliance.candidates import EXPENSES_KEY
from piazza.compliance.contributions import ContributionLine, contribution_lines
from piazza.compliance.models import Candidacy
from piazza.compliance.rules import CAP_SCOPE_PARTY, rules_on
from piazza.funding.models import CampaignKind, Donation, DonationStatus
from piazza.ledger.models import Cause, Entry, LedgerTransaction
from piazza.territory.models import Comune, Kind, Level, Territory

# Credit-normal kinds holding the party's own money (a new kind of party funds joins here).
FUND_KINDS = ("territory", "campaign", "matchfunding_pool")
# The candidate's money sits on the mandatario's accounts only (rule F10).
CANDIDATE_FUND_KINDS = ("mandatario",)
# Debit-normal kinds that are costs of the party (fees, charges, lost disputes, write-offs).
COST_KINDS = ("provider_fees", "disputes", "bank_charges", "bank_short_payments", "adjustments")
CONTRIBUTION_CAUSES = (Cause.PAYMENT, Cause.REFUND, Cause.DISPUTE, Cause.DISPUTE_WON)

CACHE_PREFIX = "transparency:v1"


def min_donors() -> int:
    """Rule G1: k, the fewest contributors a published cell may have (setting, default 3)."""
    return max(2, int(getattr(settings, "TRANSPARENCY_MIN_DONORS", 3)))


def small_gift_cents() -> int:
    """The size of a "small" gift for the statistics (setting, default €100)."""
    return int(getattr(settings, "TRANSPARENCY_SMALL_GIFT_CENTS", 100_00))


def refresh_seconds() -> int:
    """How often the portal looks for new ledger transactions (setting, default 5 minutes)."""
    return int(getattr(settings, "TRANSPARENCY_REFRESH_SECONDS", 300))


# --- Tables: what a page shows and what the open data publishes ----------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    title: str | Promise
    type: str = "string"  # Frictionless types: string, integer, number, date
    description: str | Promise = ""


@dataclass
class Table:
    name: str
    title: str | Promise
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str | Promise = ""
    withheld: bool = False  # rule G1: nothing of it may be published

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def values(self) -> Iterator[list[Any]]:
        for row in self.rows:
            yield [row.get(c.name) for c in self.columns]

    def total(self, column: str) -> int:
        return sum(int(r.get(column) or 0) for r in self.rows)


@dataclass(frozen=True)
class Scope:
    """What a page is about: a territory (its whole subtree) or a candidacy (its mandatario)."""

    kind: str  # "territory" or "candidacy"
    pk: int
    name: str
    level: str  # a territory level, or "candidacy"
    path: str  # the territory's path (a candidacy's: its territory's)
    parent_id: int | None = None
    parent_name: str = ""

    @property
    def slug(self) -> str:
        return f"{self.kind}-{self.pk}"


@dataclass
class Report:
    scope: Scope
    year: int
    computed_at: dt.datetime
    ledger_position: int
    k: int
    threshold_cents: int
    withheld: bool  # rule G1: too few contributors, published only within the parent
    tables: dict[str, Table]
    summary: dict[str, Any]
    children: list[tuple[int, str]] = field(default_factory=list)
    candidacies: list[tuple[int, str]] = field(default_factory=list)

    def table(self, name: str) -> Table:
        return self.tables[name]


def scope_of_territory(territory: Territory) -> Scope:
    parent = territory.parent
    return Scope(
        kind="territory",
        pk=int(territory.pk),
        name=territory.name,
        level=territory.level,
        path=territory.path,
        parent_id=int(parent.pk) if parent is not None else None,
        parent_name=parent.name if parent is not None else "",
    )


def scope_of_candidacy(candidacy: Candidacy) -> Scope:
    territory = candidacy.territory
    return Scope(
        kind="candidacy",
        pk=int(candidacy.pk),
        name=f"{candidacy.candidate_name} · {candidacy.election}",
        level="candidacy",
        path=territory.path,
        parent_id=int(territory.pk),
        parent_name=territory.name,
    )


# --- Years and the ledger's position -------------------------------------------------------------


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    """1 January 00:00 to the next 1 January 00:00, in Rome (the party's books' time)."""
    tz = timezone.get_default_timezone()
    return dt.datetime(year, 1, 1, tzinfo=tz), dt.datetime(year + 1, 1, 1, tzinfo=tz)


def published_years() -> list[int]:
    """From the year of the first ledger entry to this year, newest first."""
    key = f"{CACHE_PREFIX}:first-year"
    first = cache.get(key)
    if first is None:
        at = LedgerTransaction.objects.aggregate(m=Min("created_at"))["m"]
        first = timezone.localtime(at).year if at else timezone.localdate().year
        cache.set(key, first, 3600)
    this = timezone.localdate().year
    return list(range(this, min(int(first), this) - 1, -1))


POSITION_KEY = f"{CACHE_PREFIX}:position"


def ledger_position(*, fresh: bool = False, found: Any = None) -> int:
    """The id of the last ledger transaction: figures computed at this position equal the ledger
    then. Read again once `refresh_seconds()` have passed on the clock, so a busy day does not
    recompute every page (the age is judged by the clock, not by the cache's own expiry).
    `found`: the cached value of `POSITION_KEY` when the caller already read it (one round trip)."""
    now = timezone.now()
    if found is None and not fresh:
        found = cache.get(POSITION_KEY)
    if not fresh and isinstance(found, tuple) and 0 <= (now - found[1]).total_seconds() < refresh_seconds():
        return int(found[0])
    position = int(LedgerTransaction.objects.aggregate(m=Max("id"))["m"] or 0)
    cache.set(POSITION_KEY, (position, now), refresh_seconds())
    return position


# --- Residents (ISTAT population, shipped with the comuni) -------------------------------------------


def residents(territory: Territory) -> int:
    """Residents of a territory from the shipped ISTAT list (2011 census, the latest figure it
    carries): a region by ISTAT region code, a federation by province code, a circolo by its
    comuni, the national level all of Italy. 0 when unknown (thematic and online circoli)."""
    key = f"{CACHE_PREFIX}:residents:{territory.pk}"
    value = cache.get(key)
    if value is not None:
        return int(value)
    comuni = Comune.objects.filter(valid_to__isnull=True)
    if territory.level == Level.NATIONAL:
        qs = comuni
    elif territory.kind == Kind.PROVINCIAL_UNION and territory.code:
        qs = comuni.filter(province_code=territory.code)
    elif territory.level == Level.REGION and territory.code:
        qs = comuni.filter(region_code=territory.code)
    elif territory.level == Level.FEDERATION and territory.code:
        qs = comuni.filter(province_code=territory.code)
    elif territory.level == Level.CIRCOLO:
        qs = comuni.filter(circoli=territory)
    else:
        qs = comuni.none()
    value = int(qs.aggregate(p=Sum("population"))["p"] or 0)
    cache.set(key, value, 24 * 3600)
    return value


# --- Contribution lines ------------------------------------------------------------------------------


def donor_key(line: ContributionLine) -> Hashable:
    """A contributor's key: the person, or the line itself when nobody is known (anonymous)."""
    return line.person_id if line.person_id is not None else (line.source, line.source_id)


def _entity_of(path: str) -> str:
    """Rule F14, per-entity reading: national, region and federation are each "the party"; a
    circolo's money belongs to its federation."""
    parts = [p for p in path.strip("/").split("/") if p][:3]
    return "/" + "/".join(parts) + "/"


def registered_donors(year: int) -> set[Hashable]:
    """Rule F1: contributors whose year's total (F14: fees counted or not, per party or per entity,
    the parameters in force at the end of the year) exceeds the publication threshold. Their gifts
    are published by name in the register, so they are not protected by G1 here."""
    rules = rules_on(dt.date(year, 12, 31))
    totals: dict[tuple[Hashable, str], int] = defaultdict(int)
    for line in contribution_lines(year):
        if line.kind == "fee" and not rules.fees_count:
            continue
        entity = "" if rules.cap_scope == CAP_SCOPE_PARTY else _entity_of(line.territory_path)
        totals[(donor_key(line), entity)] += line.amount_cents
    return {donor for (donor, _entity), cents in totals.items() if cents > rules.publication_threshold_cents}


def _candidate_donation_ids(year: int, path: str, candidacy_id: int | None = None) -> set[int]:
    qs = Donation.objects.filter(
        status=DonationStatus.SUCCEEDED, succeeded_at__year=year, campaign__kind=CampaignKind.CANDIDATE
    )
    qs = (
        qs.filter(campaign__candidacy_id=candidacy_id)
        if candidacy_id
        else qs.filter(campaign__territory__path__startswith=path)
    )
    return set(qs.values_list("pk", flat=True))


def scope_lines(scope: Scope, year: int) -> list[ContributionLine]:
    """The contribution lines of the scope: a territory's without its candidates' gifts (their
    money is the mandatario's, rule F10), a candidacy's only those."""
    if scope.kind == "candidacy":
        wanted = _candidate_donation_ids(year, scope.path, scope.pk)
        return [
            line
            for line in contribution_lines(year, entity_path=scope.path, kinds=["donation"])
            if line.source == "funding.donation" and line.source_id in wanted
        ]
    excluded = _candidate_donation_ids(year, scope.path)
    return [
        line
        for line in contribution_lines(year, entity_path=scope.path)
        if not (line.source == "funding.donation" and line.source_id in excluded)
    ]


# --- The ledger ----------------------------------------------------------------------------------------


def _accounts_filter(scope: Scope) -> tuple[Q, Q]:
    """(fund accounts, cost accounts) of the scope, as filters on Entry."""
    if scope.kind == "candidacy":
        candidacy_type = ContentType.objects.get_for_model(Candidacy)
        funds = Q(
            account__kind__in=CANDIDATE_FUND_KINDS, account__owner_type=candidacy_type, account__owner_id=str(scope.pk)
        )
        return funds, Q(pk__in=[])
    funds = Q(account__kind__in=FUND_KINDS, account__territory__path__startswith=scope.path)
    costs = Q(account__kind__in=COST_KINDS, account__territory__path__startswith=scope.path)
    if scope.level == Level.NATIONAL:
        costs |= Q(account__kind__in=COST_KINDS, account__territory__isnull=True)
    return funds, costs


@dataclass
class LedgerYear:
    opening_cents: int = 0
    contributions_cents: int = 0
    matchfunding_cents: int = 0
    transfers_cents: int = 0
    adjustments_cents: int = 0
    payouts_cents: int = 0  # positive: money out
    candidate_expenses_cents: int = 0
    costs: dict[str, int] = field(default_factory=dict)  # cost kind → cents out
    closing_cents: int = 0

    @property
    def expenses_cents(self) -> int:
        return self.payouts_cents + self.candidate_expenses_cents + sum(self.costs.values())

    @property
    def income_cents(self) -> int:
        return self.contributions_cents + self.matchfunding_cents


def ledger_year(scope: Scope, year: int, position: int) -> LedgerYear:
    """The scope's money in `year` from the ledger's entries, up to ledger transaction `position`."""
    start, end = year_bounds(year)
    funds, costs = _accounts_filter(scope)
    upto = Q(transaction_id__lte=position)
    result = LedgerYear()
    before = Entry.objects.filter(upto, created_at__lt=start)
    opening_funds = -int(before.filter(funds).aggregate(t=Sum("amount_cents"))["t"] or 0)
    opening_costs = int(before.filter(costs).aggregate(t=Sum("amount_cents"))["t"] or 0)
    result.opening_cents = opening_funds - opening_costs
    during = Entry.objects.filter(upto, created_at__gte=start, created_at__lt=end)
    for kind, key, cause, total in (
        during.filter(funds)
        .values_list("account__kind", "account__key", "transaction__cause")
        .annotate(t=Sum("amount_cents"))
        .order_by()
    ):
        natural = -int(total or 0)  # funds are credit-normal: a gift credits them
        if cause in CONTRIBUTION_CAUSES:
            result.contributions_cents += natural
        elif cause == Cause.PAYOUT:
            result.payouts_cents -= natural
        elif cause == Cause.TRANSFER and kind in CANDIDATE_FUND_KINDS and key == EXPENSES_KEY:
            result.candidate_expenses_cents -= natural
        elif cause == Cause.TRANSFER and kind == "campaign" and key.startswith("match"):
            result.matchfunding_cents += natural
        elif cause == Cause.TRANSFER:
            result.transfers_cents += natural
        else:
            result.adjustments_cents += natural
    for kind, total in during.filter(costs).values_list("account__kind").annotate(t=Sum("amount_cents")).order_by():
        result.costs[kind] = result.costs.get(kind, 0) + int(total or 0)
    result.closing_cents = (
        result.opening_cents
        + result.income_cents
        + result.transfers_cents
        + result.adjustments_cents
        - result.expenses_cents
    )
    return result


def register_url(territory_id: int, year: int) -> str:
    """The register's public page of a territory and year (built by the register's app)."""
    return f"/trasparenza/registro/{territory_id}/{year}/"


def report_url(scope: Scope, year: int) -> str:
    name = "transparency:territory" if scope.kind == "territory" else "transparency:candidacy"
    return reverse(name, args=[scope.pk, year])
