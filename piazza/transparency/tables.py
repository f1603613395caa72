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
from piazza.compliance.models import Candidacy, CandidateExpense
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


UNCATEGORISED = "uncategorised"


def candidate_expense_rows(scope: Scope, year: int, position: int) -> list[dict[str, Any]]:
    """Electoral expenses booked in `year` up to ledger transaction `position` (rules F10, F11):
    one row per expense, from the mandatario's books (`CandidateExpense`), the year and the
    position judged on its ledger booking, as `ledger_year` judges the money."""
    start, end = year_bounds(year)
    qs = CandidateExpense.objects.filter(
        ledger_transaction__isnull=False,
        ledger_transaction_id__lte=position,
        ledger_transaction__created_at__gte=start,
        ledger_transaction__created_at__lt=end,
    )
    if scope.kind == "candidacy":
        qs = qs.filter(candidacy_id=scope.pk)
    else:
        qs = qs.filter(candidacy__territory__path__startswith=scope.path)
    rows: Iterable[Any] = qs.order_by("incurred_on", "pk").values(
        "pk",
        "candidacy_id",
        "incurred_on",
        "description",
        "amount_cents",
        "receipt",
        "category__code",
        "category__label",
        "category__position",
    )
    return list(rows)


def _by_category(expenses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for e in expenses:
        code = e["category__code"] or UNCATEGORISED
        row = totals.setdefault(
            code,
            {
                "category": code,
                "label": e["category__label"] or _("Spese elettorali senza categoria"),
                "expenses": 0,
                "with_receipt": 0,
                "amount_cents": 0,
                "_order": e["category__position"] if e["category__code"] else 10_000,
            },
        )
        row["expenses"] += 1
        row["with_receipt"] += 1 if e["receipt"] else 0
        row["amount_cents"] += int(e["amount_cents"])
    rows = sorted(totals.values(), key=lambda r: (r["_order"], str(r["label"])))
    for row in rows:
        del row["_order"]
    return rows


EXPENSE_COLUMNS = [
    Column("category", _("Codice della categoria")),
    Column("label", _("Categoria")),
    Column("expenses", _("Spese"), "integer", _("Numero di spese (solo le spese elettorali dei candidati)")),
    Column("with_receipt", _("Con giustificativo"), "integer", _("Spese con il giustificativo agli atti")),
    Column("amount_cents", _("Importo (centesimi di euro)"), MONEY),
]


def expenses_table(scope: Scope, money: LedgerYear, expenses: list[dict[str, Any]]) -> Table:
    """The scope's own money out, by category. A candidacy's electoral expenses are split by the
    categories of the declaration (rule F11); whatever the ledger booked that the books do not
    describe stays one row, so the table always adds up to the ledger."""
    rows: list[dict[str, Any]] = []
    if money.payouts_cents:
        rows.append(
            {
                "category": "payouts",
                "label": _("Pagamenti e versamenti a fornitori"),
                "amount_cents": money.payouts_cents,
            }
        )
    if scope.kind == "candidacy":
        described = _by_category(expenses)
        rows += described
        rest = money.candidate_expenses_cents - sum(r["amount_cents"] for r in described)
        if rest:
            rows.append({"category": "candidate_expenses", "label": _("Altre spese elettorali"), "amount_cents": rest})
    elif money.candidate_expenses_cents:
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
        EXPENSE_COLUMNS,
        rows,
        note=_("I dati personali di fornitori e beneficiari non sono mai pubblicati: solo i totali per categoria."),
    )


def candidate_expenses_table(scope: Scope, expenses: list[dict[str, Any]]) -> Table:
    """A territory's candidates' electoral expenses by category, all its candidacies together: the
    money is each mandatario's, not the party's (rule F10), so it is shown beside the party's."""
    return Table(
        "candidate_expenses",
        _("Spese elettorali dei candidati, per categoria"),
        EXPENSE_COLUMNS,
        _by_category(expenses) if scope.kind == "territory" else [],
        note=_("Pagate dai mandatari elettorali dei candidati del territorio, non dal partito."),
    )


def expense_items_table(scope: Scope, expenses: list[dict[str, Any]]) -> Table:
    """A candidacy's expenses one by one (rule F11), like Open Collective's transactions: date,
    category, amount and whether the receipt is on file. The supplier, the free-text description
    and the receipt itself may name third parties (people paid, their addresses and tax codes):
    none of them is published."""
    rows = []
    if scope.kind == "candidacy":
        for e in expenses:
            rows.append(
                {
                    "expense_id": int(e["pk"]),
                    "date": e["incurred_on"].isoformat(),
                    "category": e["category__code"] or UNCATEGORISED,
                    "label": e["category__label"] or _("Senza categoria"),
                    "receipt": _("sì") if e["receipt"] else _("no"),
                    "amount_cents": int(e["amount_cents"]),
                }
            )
    return Table(
        "expense_items",
        _("Spese elettorali una per una"),
        [
            Column("expense_id", _("Codice della spesa"), "integer"),
            Column("label", _("Categoria")),
            Column("date", _("Data"), "date"),
            Column("category", _("Codice della categoria")),
            Column("receipt", _("Giustificativo agli atti"), "string", _("sì o no")),
            Column("amount_cents", _("Importo (centesimi di euro)"), MONEY),
        ],
        rows,
        note=_(
            "Fornitori, descrizioni e dati personali di terzi presenti nei giustificativi non sono pubblicati; i "
            "giustificativi sono conservati dal mandatario e consegnati al Collegio regionale di garanzia elettorale."
        ),
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
