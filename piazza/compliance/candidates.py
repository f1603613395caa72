"""Reads of the candidate journey (rules F10–F12): the money of a candidacy, the donors who need
a joint declaration, and what the end-of-campaign report (rendiconto) still lacks.

Compliance sits below funding, so it cannot read donations itself: the app holding gifts to a
candidacy registers a `CandidacyDonorSource` here (funding does, in its AppConfig.ready()),
as it registers its F6 contribution source in `rules`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from piazza.compliance.models import Candidacy, CandidateExpense, DeclarationStatus, ElectionKind, JointDeclaration
from piazza.compliance.rules import (
    FinanceRules,
    candidate_spending_cap_cents,
    must_itemise,
    needs_joint_declaration,
    rules_on,
)
from piazza.core.money import format_eur
from piazza.ledger.accounts import accounts_owned_by
from piazza.ledger.queries import balances
from piazza.territory.models import Level

# Ledger: the key of the mandatario account's expense side, and the account kind expenses are owed on.
EXPENSES_KEY = "expenses"
EXPENSES_KIND = "candidate_expenses"

# Which level of the tree registers a candidacy, per kind of election: a municipal candidate is
# handled by the provincial federation, a regional one by the regional union, national and
# European ones by the national office. A party choice, not law: `PIAZZA_CANDIDACY_LEVELS` overrides it.
DEFAULT_CANDIDACY_LEVELS: dict[str, str] = {
    ElectionKind.MUNICIPAL: Level.FEDERATION,
    ElectionKind.REGIONAL: Level.REGION,
    ElectionKind.NATIONAL: Level.NATIONAL,
    ElectionKind.EUROPEAN: Level.NATIONAL,
}


def candidacy_level(election_kind: str) -> str:
    levels: dict[str, str] = {**DEFAULT_CANDIDACY_LEVELS, **getattr(settings, "PIAZZA_CANDIDACY_LEVELS", {})}
    return levels[election_kind]


# --- donors of a candidacy, from the app that holds the gifts ------------------------------------


# A source answers: for candidacy `id`, person id → cents received (succeeded, not refunded), plus
# a display name and codice fiscale per person.
@dataclass(frozen=True)
class DonorTotal:
    person_id: int
    name: str
    codice_fiscale: str
    total_cents: int
    natural_person: bool = True


CandidacyDonorSource = Callable[[int], list[DonorTotal]]
_DONOR_SOURCES: dict[str, CandidacyDonorSource] = {}


def register_candidacy_donor_source(name: str, source: CandidacyDonorSource) -> None:
    _DONOR_SOURCES[name] = source


def donor_totals(candidacy: Candidacy) -> list[DonorTotal]:
    """Every donor of the candidacy with their total across every registered source (F12: per donor)."""
    # Keyed by person and code: a company's gift (F13), given through its legal representative,
    # stays apart from what the representative gave in their own name.
    merged: dict[tuple[int, str], DonorTotal] = {}
    for source in _DONOR_SOURCES.values():
        for row in source(int(candidacy.pk)):
            key = (row.person_id, row.codice_fiscale if not row.natural_person else "")
            known = merged.get(key)
            merged[key] = (
                row
                if known is None
                else DonorTotal(
                    row.person_id,
                    known.name,
                    known.codice_fiscale,
                    known.total_cents + row.total_cents,
                    known.natural_person,
                )
            )
    return sorted(merged.values(), key=lambda d: (-d.total_cents, d.name))


# --- figures ----------------------------------------------------------------------------------


def spending_cap_cents(candidacy: Candidacy, rules: FinanceRules | None = None) -> int:
    """Rule F11: the cap set on the candidacy, or base + per resident from the parameters in force."""
    if candidacy.spending_cap_cents is not None:
        return candidacy.spending_cap_cents
    return candidate_spending_cap_cents(candidacy.residents, rules or rules_on())


def spent_cents(candidacy: Candidacy) -> int:
    return int(CandidateExpense.objects.filter(candidacy=candidacy).aggregate(s=Sum("amount_cents"))["s"] or 0)


def collected_cents(candidacy: Candidacy) -> int:
    """Money received on the mandatario's account (every campaign of the candidacy), from the ledger."""
    accounts = list(accounts_owned_by(candidacy).filter(kind="mandatario").exclude(key=EXPENSES_KEY))
    # Credit-normal: money held is a negative (credit) balance.
    return -sum(m.cents for m in balances(accounts).values())


@dataclass
class DonorLine:
    donor: DonorTotal
    declaration: JointDeclaration | None
    needs_declaration: bool
    itemised: bool


@dataclass
class Overview:
    cap_cents: int
    collected_cents: int
    spent_cents: int
    donors: list[DonorLine]
    missing: list[str] = field(default_factory=list)

    @property
    def remaining_cents(self) -> int:
        return max(self.cap_cents - self.spent_cents, 0)

    @property
    def missing_declarations(self) -> list[DonorLine]:
        return [d for d in self.donors if d.needs_declaration and d.declaration is None]

    @property
    def report_ready(self) -> bool:
        return not self.missing


def overview(candidacy: Candidacy) -> Overview:
    """Everything the candidacy page and the rendiconto need, with the list of what is missing."""
    rules = rules_on()
    declarations = {d.donor_id: d for d in JointDeclaration.objects.filter(candidacy=candidacy)}
    donors = [
        DonorLine(
            donor=d,
            declaration=declarations.get(d.person_id),
            needs_declaration=needs_joint_declaration(d.total_cents, rules),  # rule F12
            itemised=must_itemise(d.total_cents, d.natural_person, rules),
        )  # rule F11
        for d in donor_totals(candidacy)
    ]
    result = Overview(
        cap_cents=spending_cap_cents(candidacy, rules),
        collected_cents=collected_cents(candidacy),
        spent_cents=spent_cents(candidacy),
        donors=donors,
    )
    result.missing = report_missing(candidacy, result)
    return result


def report_missing(candidacy: Candidacy, figures: Overview) -> list[str]:
    """What the end-of-campaign declaration (F11) still lacks; empty when it can be produced."""
    missing: list[str] = []
    if not candidacy.has_mandatario and not candidacy.own_funds_only:  # rule F10
        missing.append(_("Manca il mandatario elettorale con il suo conto (IBAN)."))
    if candidacy.election_day is None:
        missing.append(_("Manca il giorno delle elezioni: serve a calcolare la scadenza del rendiconto."))
    if figures.spent_cents > figures.cap_cents:  # rule F11 (possible only if the cap was lowered)
        missing.append(
            _("Le spese (%(spent)s) superano il tetto di spesa (%(cap)s).")
            % {"spent": format_eur(figures.spent_cents), "cap": format_eur(figures.cap_cents)}
        )
    # Rule F11: every expense goes in the declaration under a category, with its receipt annexed.
    for expense in CandidateExpense.objects.filter(candidacy=candidacy).filter(
        Q(receipt="") | Q(category__isnull=True)
    ):
        missing.append(
            _("Alla spesa «%(supplier)s» del %(date)s (%(amount)s) mancano categoria o giustificativo.")
            % {
                "supplier": expense.supplier,
                "date": f"{expense.incurred_on:%d/%m/%Y}",
                "amount": format_eur(expense.amount_cents),
            }
        )
    for line in figures.missing_declarations:  # rule F12
        missing.append(
            _("Manca la dichiarazione congiunta di %(name)s (%(amount)s).")
            % {"name": line.donor.name, "amount": format_eur(line.donor.total_cents)}
        )
    return missing


def declaration_label(declaration: JointDeclaration | None) -> str:
    if declaration is None:
        return _("mancante")
    return str(DeclarationStatus(declaration.status).label)


def _euro(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def report_rows(candidacy: Candidacy, figures: Overview) -> list[list[Any]]:
    """The rendiconto's rows: contributions itemised by name (F11), the others in one line, expenses.
    Columns: item, name or supplier, codice fiscale or date, in (€), out (€), joint declaration (F12)."""
    rows: list[list[Any]] = []
    others = 0
    for line in figures.donors:
        if line.itemised:
            rows.append(
                [
                    str(_("Contributo")),
                    line.donor.name,
                    line.donor.codice_fiscale,
                    _euro(line.donor.total_cents),
                    "",
                    declaration_label(line.declaration) if line.needs_declaration else "",
                ]
            )
        else:
            others += line.donor.total_cents
    if others:
        rows.append([str(_("Contributi non nominativi (sotto la soglia)")), "", "", _euro(others), "", ""])
    for expense in CandidateExpense.objects.filter(candidacy=candidacy):
        rows.append(
            [
                str(_("Spesa")),
                f"{expense.supplier} · {expense.description}",
                f"{expense.incurred_on:%d/%m/%Y}",
                "",
                _euro(expense.amount_cents),
                "",
            ]
        )
    return rows
