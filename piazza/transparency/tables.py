"""The tables of a report (issue 13): income by source, expenses by category, balance, campaigns'
budget against actual, and the small-donor statistics by month and by territory, each merged by
rule G1 (`disclosure.py`) before anything is published."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.compliance.contributions import ContributionLine
from piazza.compliance.models import Candidacy
from piazza.funding.models import BudgetLine, Campaign, CampaignKind, Donation, DonationStatus
from piazza.ledger.kinds import get_kind
from piazza.ledger.models import Cause, Entry
from piazza.territory.models import Territory
from piazza.transparency.disclosure import Cell, at_risk, median, merge_small_cells
from piazza.transparency.queries import (
    CONTRIBUTION_CAUSES,
    COST_KINDS,
    Column,
    LedgerYear,
    Scope,
    Table,
    donor_key,
    register_url,
    residents,
    small_gift_cents,
    year_bounds,
)

# --- The tables --------------------------------------------------------------------------------------------

MONEY = "integer"


def income_table(
    scope: Scope, year: int, lines: list[ContributionLine], registered: set[Hashable], money: LedgerYear, k: int
) -> tuple[Table, bool]:
    """Income by source; (table, withheld). Rule G1 merges the small rows; rule F1's donors are
    one total with the link to the register, where they are published by name."""
    small = Cell("small_gifts", _("Piccole donazioni (sotto la soglia del registro)"))
    large = Cell("large_gifts", _("Contributi sopra la soglia del registro"))
    fees = Cell("fees", _("Quote di iscrizione e all'Albo"))
    for line in lines:
        donor = donor_key(line)
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


def expenses_table(money: LedgerYear) -> Table:
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


def balance_table(money: LedgerYear, year: int) -> Table:
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


def gift_cells(lines: Iterable[ContributionLine], registered: set[Hashable], key_of: Any) -> dict[str, Cell]:
    cells: dict[str, Cell] = {}
    for line in lines:
        if line.kind != "donation":
            continue
        key, label = key_of(line)
        if key is None:
            continue
        cell = cells.setdefault(key, Cell(key, label))
        donor = donor_key(line)
        cell.add(donor, line.amount_cents, protected=donor not in registered)
    return cells


def stats(cell: Cell, small_max: int) -> dict[str, Any]:
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


def months_table(lines: list[ContributionLine], registered: set[Hashable], year: int, k: int) -> Table:
    def month(line: ContributionLine) -> tuple[str, str]:
        local = timezone.localtime(line.received_at)
        return f"{local.year:04d}-{local.month:02d}", f"{local.year:04d}-{local.month:02d}"

    cells = gift_cells(lines, registered, month)
    ordered = [cells[key] for key in sorted(cells)]
    visible, merged = merge_small_cells(
        ordered,
        k,
        key="merged",
        label=_("Altri mesi del %(y)s (accorpati: meno di %(k)s donatori)") % {"y": year, "k": k},
    )
    small_max = small_gift_cents()
    rows = [{"month": c.key, "label": c.label, **stats(c, small_max)} for c in visible]
    if merged is not None and not at_risk(merged, k):
        rows.append({"month": "merged", "label": merged.label, **stats(merged, small_max)})
    return Table(
        "donors_by_month",
        _("Piccoli donatori mese per mese"),
        [Column("month", _("Mese (AAAA-MM)")), Column("label", _("Mese")), *STAT_COLUMNS],
        rows,
        note=_("I mesi con meno di %(k)s donatori sono accorpati, perché nessuno sia riconoscibile.") % {"k": k},
    )


def territories_table(
    scope: Scope, lines: list[ContributionLine], registered: set[Hashable], children: list[Territory], k: int
) -> Table:
    by_path = [(t.path, t) for t in sorted(children, key=lambda t: -len(t.path))]

    def child(line: ContributionLine) -> tuple[str | None, str]:
        for path, territory in by_path:
            if line.territory_path.startswith(path):
                return str(territory.pk), territory.name
        return "self", str(_("Direttamente a %(t)s") % {"t": scope.name})

    cells = gift_cells(lines, registered, child)
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
        figures = stats(cell, small_max)
        rows.append(
            {
                "territory_id": int(cell.key) if cell.key.isdigit() else None,
                "label": cell.label,
                "residents": count or None,
                **figures,
                "donors_per_1000": round(1000 * figures["donors"] / count, 2) if count else None,
            }
        )
    if merged is not None and not at_risk(merged, k):
        rows.append(
            {
                "territory_id": None,
                "label": merged.label,
                "residents": None,
                **stats(merged, small_max),
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


def campaign_tables(scope: Scope, year: int, position: int, registered: set[Hashable], k: int) -> tuple[Table, Table]:
    """Budget versus actual of each campaign with money in the year, and its budget lines."""
    start, end = year_bounds(year)
    qs = Campaign.objects.public().order_by("pk")
    if scope.kind == "candidacy":
        qs = qs.filter(candidacy_id=scope.pk)
    else:
        qs = qs.filter(territory__path__startswith=scope.path).exclude(kind=CampaignKind.CANDIDATE)
    campaigns = list(qs.filter(Q(launched_at__lt=end) & (Q(ended_at__isnull=True) | Q(ended_at__gte=start))))
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
