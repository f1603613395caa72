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

`report(scope, year)` is cached per scope, year and ledger position (the id of the last ledger
transaction, read at most every `TRANSPARENCY_REFRESH_SECONDS`): a page shows the figures of one
moment of the ledger, computed in one snapshot, with that moment ("dati al …").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max, Min, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from piazza.compliance.candidates import EXPENSES_KEY
from piazza.compliance.contributions import ContributionLine, contribution_lines
from piazza.compliance.models import Candidacy
from piazza.compliance.rules import CAP_SCOPE_PARTY, rules_on
from piazza.funding.models import BudgetLine, Campaign, CampaignKind, Donation, DonationStatus
from piazza.ledger.kinds import get_kind
from piazza.ledger.models import Account, Cause, Entry, LedgerTransaction
from piazza.territory.models import Comune, Kind, Level, Territory
from piazza.transparency.disclosure import Cell, at_risk, median, merge_small_cells

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


def ledger_position(*, fresh: bool = False) -> int:
    """The id of the last ledger transaction: figures computed at this position equal the ledger
    then. Read at most every `refresh_seconds()`, so a busy day does not recompute every page."""
    key = f"{CACHE_PREFIX}:position"
    position = None if fresh else cache.get(key)
    if position is None:
        position = int(LedgerTransaction.objects.aggregate(m=Max("id"))["m"] or 0)
        cache.set(key, position, refresh_seconds())
    return int(position)


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


def _donor(line: ContributionLine) -> Hashable:
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
    totals: dict[Hashable, int] = defaultdict(int)
    for line in contribution_lines(year):
        if line.kind == "fee" and not rules.fees_count:
            continue
        entity = "" if rules.cap_scope == CAP_SCOPE_PARTY else _entity_of(line.territory_path)
        totals[(_donor(line), entity)] += line.amount_cents
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


# --- The tables --------------------------------------------------------------------------------------------

MONEY = "integer"


def _income_table(
    scope: Scope, year: int, lines: list[ContributionLine], registered: set[Hashable], money: LedgerYear, k: int
) -> tuple[Table, bool]:
    """Income by source; (table, withheld). Rule G1 merges the small rows; rule F1's donors are
    one total with the link to the register, where they are published by name."""
    small = Cell("small_gifts", _("Piccole donazioni (sotto la soglia del registro)"))
    large = Cell("large_gifts", _("Contributi sopra la soglia del registro"))
    fees = Cell("fees", _("Quote di iscrizione e all'Albo"))
    for line in lines:
        donor = _donor(line)
        protected = donor not in registered
        if line.kind == "fee":
            fees.add(donor, line.amount_cents, protected=protected)
        elif protected:
            small.add(donor, line.amount_cents, protected=True)
        else:
            large.add(donor, line.amount_cents, protected=False)
    visible, merged = merge_small_cells(
        [small, fees, large],
        k,
        key="merged",
        label=_("Contributi accorpati (meno di %(k)s persone per voce)") % {"k": k},
    )
    withheld = merged is not None and at_risk(merged, k)
    link = register_url(scope.pk, year) if scope.kind == "territory" else ""
    rows = []
    for cell in [*visible, *([merged] if merged is not None else [])]:
        rows.append(
            {
                "source": cell.key,
                "label": cell.label,
                "contributions": cell.count,
                "contributors": len(cell.donors),
                "amount_cents": cell.total_cents,
                "register_url": link if cell.key == "large_gifts" and cell.count else "",
            }
        )
    lines_total = sum(line.amount_cents for line in lines)
    other = money.contributions_cents - lines_total
    if other:
        rows.append(
            {
                "source": "other",
                "label": _(
                    "Altre entrate registrate in contabilità (rimborsi di contributi di anni precedenti, rettifiche)"
                ),
                "contributions": None,
                "contributors": None,
                "amount_cents": other,
                "register_url": "",
            }
        )
    rows.append(
        {
            "source": "matchfunding",
            "label": _("Co-finanziamento (raddoppio) ricevuto dalle raccolte"),
            "contributions": None,
            "contributors": None,
            "amount_cents": money.matchfunding_cents,
            "register_url": "",
        }
    )
    table = Table(
        "income",
        _("Entrate per fonte"),
        [
            Column(
                "source",
                _("Codice della fonte"),
                "string",
                _("small_gifts, large_gifts, fees, merged, other, matchfunding"),
            ),
            Column("label", _("Fonte")),
            Column("contributions", _("Contributi"), "integer", _("Numero di versamenti")),
            Column("contributors", _("Persone"), "integer", _("Persone diverse che hanno versato")),
            Column("amount_cents", _("Importo (centesimi di euro)"), MONEY),
            Column(
                "register_url",
                _("Registro dei contributi"),
                "string",
                _("Pagina del registro, dove i nomi sono pubblicati"),
            ),
        ],
        rows,
    )
    return table, withheld


def _expenses_table(money: LedgerYear) -> Table:
    rows = [
        {"category": "payouts", "label": _("Pagamenti e versamenti a fornitori"), "amount_cents": money.payouts_cents},
    ]
    if money.candidate_expenses_cents:
        rows.append(
            {
                "category": "candidate_expenses",
                "label": _("Spese elettorali"),
                "amount_cents": money.candidate_expenses_cents,
            }
        )
    for kind in COST_KINDS:
        if kind in money.costs:
            rows.append({"category": kind, "label": get_kind(kind).label, "amount_cents": money.costs[kind]})
    return Table(
        "expenses",
        _("Uscite per categoria"),
        [
            Column("category", _("Codice della categoria")),
            Column("label", _("Categoria")),
            Column("amount_cents", _("Importo (centesimi di euro)"), MONEY),
        ],
        rows,
        note=_("I dati personali di fornitori e beneficiari non sono mai pubblicati: solo i totali per categoria."),
    )


def _balance_table(money: LedgerYear, year: int) -> Table:
    rows = [
        {"item": "opening", "label": _("Saldo al 1° gennaio %(y)s") % {"y": year}, "amount_cents": money.opening_cents},
        {"item": "income", "label": _("Entrate"), "amount_cents": money.income_cents},
        {"item": "expenses", "label": _("Uscite"), "amount_cents": -money.expenses_cents},
        {
            "item": "transfers",
            "label": _("Trasferimenti con altri livelli del partito (netto)"),
            "amount_cents": money.transfers_cents,
        },
        {"item": "adjustments", "label": _("Rettifiche"), "amount_cents": money.adjustments_cents},
        {"item": "closing", "label": _("Saldo di fine periodo"), "amount_cents": money.closing_cents},
    ]
    return Table(
        "balance",
        _("Saldo"),
        [
            Column("item", _("Voce (codice)")),
            Column("label", _("Voce")),
            Column("amount_cents", _("Importo (centesimi di euro)"), MONEY),
        ],
        [r for r in rows if r["item"] in ("opening", "income", "expenses", "closing") or r["amount_cents"]],
    )


def _gift_cells(lines: Iterable[ContributionLine], registered: set[Hashable], key_of: Any) -> dict[str, Cell]:
    cells: dict[str, Cell] = {}
    for line in lines:
        if line.kind != "donation":
            continue
        key, label = key_of(line)
        if key is None:
            continue
        cell = cells.setdefault(key, Cell(key, label))
        donor = _donor(line)
        cell.add(donor, line.amount_cents, protected=donor not in registered)
    return cells


def _stats(cell: Cell, small_max: int) -> dict[str, Any]:
    total = cell.total_cents
    small = sum(a for a in cell.amounts if a <= small_max)
    return {
        "donors": len(cell.donors),
        "gifts": cell.count,
        "amount_cents": total,
        "median_gift_cents": median(cell.amounts),
        "small_share_percent": round(100 * small / total) if total else 0,
    }


STAT_COLUMNS = [
    Column("donors", _("Donatori"), "integer", _("Persone diverse che hanno donato")),
    Column("gifts", _("Donazioni"), "integer"),
    Column("amount_cents", _("Donato (centesimi di euro)"), MONEY),
    Column("median_gift_cents", _("Donazione mediana (centesimi di euro)"), MONEY),
    Column("small_share_percent", _("Quota da donazioni fino a 100 € (%)"), "integer"),
]


def _months_table(lines: list[ContributionLine], registered: set[Hashable], year: int, k: int) -> Table:
    def month(line: ContributionLine) -> tuple[str, str]:
        local = timezone.localtime(line.received_at)
        return f"{local.year:04d}-{local.month:02d}", f"{local.year:04d}-{local.month:02d}"

    cells = _gift_cells(lines, registered, month)
    ordered = [cells[key] for key in sorted(cells)]
    visible, merged = merge_small_cells(
        ordered,
        k,
        key="merged",
        label=_("Altri mesi del %(y)s (accorpati: meno di %(k)s donatori)") % {"y": year, "k": k},
    )
    small_max = small_gift_cents()
    rows = [{"month": c.key, "label": c.label, **_stats(c, small_max)} for c in visible]
    if merged is not None and not at_risk(merged, k):
        rows.append({"month": "merged", "label": merged.label, **_stats(merged, small_max)})
    return Table(
        "donors_by_month",
        _("Piccoli donatori mese per mese"),
        [Column("month", _("Mese (AAAA-MM)")), Column("label", _("Mese")), *STAT_COLUMNS],
        rows,
        note=_("I mesi con meno di %(k)s donatori sono accorpati, perché nessuno sia riconoscibile.") % {"k": k},
    )


def _territories_table(
    scope: Scope, lines: list[ContributionLine], registered: set[Hashable], children: list[Territory], k: int
) -> Table:
    by_path = [(t.path, t) for t in sorted(children, key=lambda t: -len(t.path))]

    def child(line: ContributionLine) -> tuple[str | None, str]:
        for path, territory in by_path:
            if line.territory_path.startswith(path):
                return str(territory.pk), territory.name
        return "self", str(_("Direttamente a %(t)s") % {"t": scope.name})

    cells = _gift_cells(lines, registered, child)
    ordered = [cells.get(str(t.pk), Cell(str(t.pk), t.name)) for t in children]
    if "self" in cells:
        ordered.insert(0, cells["self"])
    visible, merged = merge_small_cells(
        ordered, k, key="merged", label=_("Altre strutture (accorpate: meno di %(k)s donatori)") % {"k": k}
    )
    small_max = small_gift_cents()
    people = {str(t.pk): residents(t) for t in children}
    rows = []
    for cell in visible:
        if not cell.donors:
            continue
        count = people.get(cell.key, 0)
        stats = _stats(cell, small_max)
        rows.append(
            {
                "territory_id": int(cell.key) if cell.key.isdigit() else None,
                "label": cell.label,
                "residents": count or None,
                **stats,
                "donors_per_1000": round(1000 * stats["donors"] / count, 2) if count else None,
            }
        )
    if merged is not None and not at_risk(merged, k):
        rows.append(
            {
                "territory_id": None,
                "label": merged.label,
                "residents": None,
                **_stats(merged, small_max),
                "donors_per_1000": None,
            }
        )
    return Table(
        "donors_by_territory",
        _("Piccoli donatori per territorio"),
        [
            Column("territory_id", _("Codice del territorio"), "integer"),
            Column("label", _("Territorio")),
            Column("residents", _("Residenti (ISTAT, censimento 2011)"), "integer"),
            *STAT_COLUMNS,
            Column("donors_per_1000", _("Donatori ogni 1.000 residenti"), "number"),
        ],
        rows,
        note=_("Le strutture con meno di %(k)s donatori sono accorpate.") % {"k": k},
    )


def _campaign_tables(scope: Scope, year: int, position: int, registered: set[Hashable], k: int) -> tuple[Table, Table]:
    """Budget versus actual of each campaign with money in the year, and its budget lines."""
    start, end = year_bounds(year)
    campaigns = Campaign.objects.public().order_by("pk")
    if scope.kind == "candidacy":
        campaigns = campaigns.filter(candidacy_id=scope.pk)
    else:
        campaigns = campaigns.filter(territory__path__startswith=scope.path).exclude(kind=CampaignKind.CANDIDATE)
    campaigns = list(campaigns.filter(Q(launched_at__lt=end) & (Q(ended_at__isnull=True) | Q(ended_at__gte=start))))
    budget: dict[int, list[BudgetLine]] = defaultdict(list)
    for line in BudgetLine.objects.filter(campaign__in=campaigns).order_by("campaign_id", "position", "pk"):
        budget[int(line.campaign_id)].append(line)
    campaign_type = ContentType.objects.get_for_model(Campaign)
    candidacy_type = ContentType.objects.get_for_model(Candidacy)
    raised: dict[int, int] = defaultdict(int)
    used: dict[int, int] = defaultdict(int)
    ids = {str(c.pk): int(c.pk) for c in campaigns}
    entries = Entry.objects.filter(transaction_id__lte=position, created_at__lt=end)
    own = entries.filter(account__owner_type=campaign_type, account__owner_id__in=list(ids))
    rows: Iterable[tuple[str, str, str, int]] = (
        own.values_list("account__owner_id", "account__key", "transaction__cause")
        .annotate(t=Sum("amount_cents"))
        .order_by()
    )
    candidate_keys = {f"campaign:{pk}": pk for pk in ids.values()}
    mandatario_rows = (
        entries.filter(account__owner_type=candidacy_type, account__key__in=list(candidate_keys))
        .values_list("account__key", "account__key", "transaction__cause")
        .annotate(t=Sum("amount_cents"))
        .order_by()
    )
    for owner, key, cause, total in [*rows, *mandatario_rows]:
        pk = ids.get(owner) or candidate_keys.get(owner)
        if pk is None:
            continue
        natural = -int(total or 0)
        if cause in CONTRIBUTION_CAUSES or (cause == Cause.TRANSFER and key.startswith("match")):
            raised[pk] += natural
        else:
            used[pk] -= natural
    donors: dict[int, set[Hashable]] = defaultdict(set)
    protected: dict[int, set[Hashable]] = defaultdict(set)
    for campaign_id, person_id, donation_id in Donation.objects.filter(
        campaign__in=campaigns, status=DonationStatus.SUCCEEDED, succeeded_at__lt=end
    ).values_list("campaign_id", "person_id", "pk"):
        donor: Hashable = person_id if person_id is not None else ("funding.donation", donation_id)
        donors[int(campaign_id)].add(donor)
        if donor not in registered:
            protected[int(campaign_id)].add(donor)
    summary_rows, line_rows = [], []
    for campaign in campaigns:
        pk = int(campaign.pk)
        hidden = 0 < len(protected[pk]) < k  # rule G1
        planned = sum(int(b.amount_cents) for b in budget[pk])
        summary_rows.append(
            {
                "campaign_id": pk,
                "label": campaign.title,
                "url": campaign.get_absolute_url(),
                "budget_cents": planned,
                "raised_cents": None if hidden else raised[pk],
                "spent_cents": used[pk],
                "donors": None if hidden else len(donors[pk]),
                "raised_percent": None if hidden or not planned else round(100 * raised[pk] / planned),
            }
        )
        for b in budget[pk]:
            line_rows.append(
                {"campaign_id": pk, "campaign": campaign.title, "label": b.label, "amount_cents": int(b.amount_cents)}
            )
    summary = Table(
        "campaigns",
        _("Raccolte: preventivo e consuntivo"),
        [
            Column("campaign_id", _("Codice della raccolta"), "integer"),
            Column("label", _("Raccolta")),
            Column("url", _("Pagina della raccolta")),
            Column("budget_cents", _("Preventivo (centesimi di euro)"), MONEY, _("Somma delle voci di spesa")),
            Column(
                "raised_cents",
                _("Raccolto (centesimi di euro)"),
                MONEY,
                _("Donazioni e co-finanziamento, al netto dei rimborsi"),
            ),
            Column("spent_cents", _("Speso o trasferito (centesimi di euro)"), MONEY),
            Column("donors", _("Donatori"), "integer"),
            Column("raised_percent", _("Raccolto sul preventivo (%)"), "integer"),
        ],
        summary_rows,
        note=_("Le cifre di una raccolta con meno di %(k)s donatori non sono mostrate.") % {"k": k},
    )
    lines = Table(
        "budget_lines",
        _("Voci di spesa delle raccolte"),
        [
            Column("campaign_id", _("Codice della raccolta"), "integer"),
            Column("campaign", _("Raccolta")),
            Column("label", _("Voce di spesa")),
            Column("amount_cents", _("Preventivo (centesimi di euro)"), MONEY),
        ],
        line_rows,
    )
    return summary, lines


# --- The report ------------------------------------------------------------------------------------------------


def _children(scope: Scope) -> list[Territory]:
    if scope.kind != "territory":
        return []
    return list(Territory.objects.filter(parent_id=scope.pk, closed_at__isnull=True).order_by("name"))


def has_mandatario_account(candidacy: Candidacy) -> bool:
    candidacy_type = ContentType.objects.get_for_model(Candidacy)
    return Account.objects.filter(
        kind__in=CANDIDATE_FUND_KINDS, owner_type=candidacy_type, owner_id=str(candidacy.pk)
    ).exists()


def _candidacies(scope: Scope) -> list[tuple[int, str]]:
    """Candidacies below the territory whose mandatario has an account (rule F10)."""
    if scope.kind != "territory":
        return []
    candidacy_type = ContentType.objects.get_for_model(Candidacy)
    with_accounts = set(
        Account.objects.filter(kind__in=CANDIDATE_FUND_KINDS, owner_type=candidacy_type).values_list(
            "owner_id", flat=True
        )
    )
    return [
        (int(c.pk), f"{c.candidate_name} · {c.election}")
        for c in Candidacy.objects.filter(territory__path__startswith=scope.path).order_by("-pk")
        if str(c.pk) in with_accounts
    ]


def compute_report(scope: Scope, year: int, position: int | None = None) -> Report:
    """The figures of one scope and year at one ledger position, read in one snapshot."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return _compute(scope, year, position)
    return _compute(scope, year, position)


def _registered(year: int, position: int) -> set[Hashable]:
    key = f"{CACHE_PREFIX}:registered:{year}:{position}"
    found = cache.get(key)
    if found is None:
        found = registered_donors(year)
        cache.set(key, found, refresh_seconds() * 2)
    return set(found)


def _compute(scope: Scope, year: int, position: int | None) -> Report:
    computed_at = timezone.now()
    if position is None:
        position = ledger_position(fresh=True)
    k = min_donors()
    rules = rules_on(dt.date(year, 12, 31))
    registered = _registered(year, position)
    lines = scope_lines(scope, year)
    money = ledger_year(scope, year, position)
    income, withheld = _income_table(scope, year, lines, registered, money, k)
    children = _children(scope)
    campaigns, budget_lines = _campaign_tables(scope, year, position, registered, k)
    tables = {
        "income": income,
        "expenses": _expenses_table(money),
        "balance": _balance_table(money, year),
        "campaigns": campaigns,
        "budget_lines": budget_lines,
        "donors_by_month": _months_table(lines, registered, year, k),
        "donors_by_territory": _territories_table(scope, lines, registered, children, k),
    }
    gifts = _gift_cells(lines, registered, lambda _line: ("all", ""))
    everyone = gifts.get("all", Cell("all", ""))
    territory = Territory.objects.get(pk=scope.pk) if scope.kind == "territory" else None
    people = residents(territory) if territory is not None else 0
    summary = {
        **_stats(everyone, small_gift_cents()),
        "residents": people or None,
        "donors_per_1000": round(1000 * len(everyone.donors) / people, 2) if people else None,
        "closing_cents": money.closing_cents,
        "income_cents": money.income_cents,
        "expenses_cents": money.expenses_cents,
    }
    if withheld or at_risk(everyone, k):
        withheld = True
        for table in tables.values():
            table.rows = []
            table.withheld = True
        summary = {}
    return Report(
        scope=scope,
        year=year,
        computed_at=computed_at,
        ledger_position=position,
        k=k,
        threshold_cents=rules.publication_threshold_cents,
        withheld=withheld,
        tables=tables,
        summary=summary,
        children=[(int(t.pk), t.name) for t in children],
        candidacies=_candidacies(scope),
    )


def report(scope: Scope, year: int) -> Report:
    """The cached report: one computation per scope, year and ledger position."""
    position = ledger_position()
    key = f"{CACHE_PREFIX}:report:{scope.slug}:{year}:{position}"
    found = cache.get(key)
    if isinstance(found, Report):
        return found
    built = compute_report(scope, year, position)
    cache.set(key, built, max(refresh_seconds() * 4, 60))
    return built


def register_url(territory_id: int, year: int) -> str:
    """The register's public page of a territory and year (built by the register's app)."""
    return f"/trasparenza/registro/{territory_id}/{year}/"


def report_url(scope: Scope, year: int) -> str:
    name = "transparency:territory" if scope.kind == "territory" else "transparency:candidacy"
    return reverse(name, args=[scope.pk, year])
