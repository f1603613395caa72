"""The figures of a tax statement (rules F7, F8), computed from contribution lines, no writes.

- Receiving entity (rule F8): a gift counts for the nearest node, itself or an ancestor, whose level
  is one of `FinanceRules.tax_credit_levels` (default national, region, federation: the national
  party and the branches with administrative autonomy); a circolo's gifts count for its federation.
- Traceable (rule F8): cash and anonymous gifts are listed but excluded, each with its reason.
- Deductible base (rule F7): the traceable total of the year for that entity, 0 below the floor
  (€30) and at most the ceiling (€30,000).
- Credit (rule F7): base × rate, rate in basis points (2600 = 26%), rounded to the cent half up:
  `(base × bp + 5000) // 10000` in integers, never a float.
- Fees: counted only if `tax_credit_fees_count` (default no: a membership fee is not a gift).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from piazza.compliance.contributions import UNTRACEABLE_METHODS, ContributionLine
from piazza.compliance.rules import FinanceRules

# Why a line is not in the deductible base (stored as the code, shown in words).
EXCLUDED_CASH = "cash"
EXCLUDED_ANONYMOUS = "anonymous"
EXCLUSION_REASONS: dict[str, Promise] = {
    EXCLUDED_CASH: _("Pagata in contanti: la detrazione spetta solo per pagamenti tracciabili (banca, posta, carta)."),
    EXCLUDED_ANONYMOUS: _("Donazione anonima: la detrazione spetta solo se il pagamento identifica chi dona."),
}

METHOD_WORDS: dict[str, Promise] = {
    "card": _("carta di pagamento"),
    "paypal": _("PayPal"),
    "bank_transfer": _("bonifico bancario"),
    "sepa_dd": _("addebito diretto SEPA"),
    "pos": _("POS"),
    "cash": _("contanti"),
}


def method_words(method: str) -> str:
    return str(METHOD_WORDS.get(method, _("altro pagamento elettronico")))


def exclusion_words(code: str) -> str:
    return str(EXCLUSION_REASONS[code]) if code else ""


def exclusion_of(line: ContributionLine) -> str:
    """Rule F8: why a line gives no credit ("" when it does)."""
    if line.method in UNTRACEABLE_METHODS:
        return EXCLUDED_CASH
    if line.anonymous or line.person_id is None:
        return EXCLUDED_ANONYMOUS
    return ""


def credit_cents(base_cents: int, rate_bp: int) -> int:
    """Rule F7: the credit on `base_cents` at `rate_bp` basis points, rounded half up to the cent."""
    return (base_cents * rate_bp + 5_000) // 10_000


def deductible_cents(traceable_cents: int, rules: FinanceRules) -> int:
    """Rule F7: nothing below the floor, the ceiling at most."""
    if traceable_cents < rules.tax_credit_floor_cents:
        return 0
    return min(traceable_cents, rules.tax_credit_ceiling_cents)


class EntityResolver:
    """Rule F8: the qualifying entity of a receiving territory, from a {territory id: level} map
    read once per run (a few thousand rows), so a year's lines are resolved without queries."""

    def __init__(self, levels_by_id: Mapping[int, str], qualifying_levels: Iterable[str]) -> None:
        self.levels_by_id = levels_by_id
        self.qualifying = frozenset(qualifying_levels)
        self._cache: dict[str, int | None] = {}

    def entity_for(self, territory_path: str) -> int | None:
        if territory_path in self._cache:
            return self._cache[territory_path]
        ids = [int(part) for part in territory_path.strip("/").split("/") if part]
        found = next((i for i in reversed(ids) if self.levels_by_id.get(i) in self.qualifying), None)
        self._cache[territory_path] = found
        return found


@dataclass
class Figures:
    """One statement's content: what is stored in a `TaxStatement` version."""

    person_id: int
    entity_id: int
    year: int
    total_cents: int = 0
    excluded_cents: int = 0
    traceable_cents: int = 0
    deductible_cents: int = 0
    credit_cents: int = 0
    rate_bp: int = 0
    floor_cents: int = 0
    ceiling_cents: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)

    def digest(self) -> str:
        """The same figures and lines give the same digest (a rerun writes no new version)."""
        content = {
            "figures": [
                self.total_cents,
                self.excluded_cents,
                self.traceable_cents,
                self.deductible_cents,
                self.credit_cents,
                self.rate_bp,
                self.floor_cents,
                self.ceiling_cents,
            ],
            "lines": self.lines,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def line_snapshot(line: ContributionLine) -> dict[str, Any]:
    return {
        "source": line.source,
        "id": line.source_id,
        "kind": line.kind,
        "date": timezone.localtime(line.received_at).date().isoformat(),
        "amount_cents": line.amount_cents,
        "method": line.method,
        "excluded": exclusion_of(line),
    }


def figures_of(
    person_id: int, entity_id: int, year: int, lines: Iterable[dict[str, Any]], rules: FinanceRules
) -> Figures:
    """Rules F7/F8: a statement's figures from its line snapshots (sorted by date, then source)."""
    ordered = sorted(lines, key=lambda row: (row["date"], row["source"], row["id"]))
    total = sum(int(row["amount_cents"]) for row in ordered)
    excluded = sum(int(row["amount_cents"]) for row in ordered if row["excluded"])
    traceable = total - excluded
    base = deductible_cents(traceable, rules)
    return Figures(
        person_id=person_id,
        entity_id=entity_id,
        year=year,
        total_cents=total,
        excluded_cents=excluded,
        traceable_cents=traceable,
        deductible_cents=base,
        credit_cents=credit_cents(base, rules.tax_credit_rate_bp),
        rate_bp=rules.tax_credit_rate_bp,
        floor_cents=rules.tax_credit_floor_cents,
        ceiling_cents=rules.tax_credit_ceiling_cents,
        lines=ordered,
    )


def line_kinds(rules: FinanceRules) -> tuple[str, ...]:
    """Rule F7/F14: which kinds of lines count (fees only if the parameter says so)."""
    return ("donation", "fee") if rules.tax_credit_fees_count else ("donation",)


def group_lines(
    lines: Iterable[ContributionLine], resolver: EntityResolver
) -> tuple[dict[tuple[int, int], list[dict[str, Any]]], int]:
    """The lines of persons grouped by (person, qualifying entity), in one pass; lines without a
    person (nobody to address a statement to) or without a qualifying entity are counted apart.
    A legal person's gift (rule F13) is the company's, not its representative's: it never enters
    the representative's personal statement (the F7 credit is for natural persons' own money)."""
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    skipped = 0
    for line in lines:
        entity = resolver.entity_for(line.territory_path)
        if line.person_id is None or entity is None or line.from_legal_person:
            skipped += 1
            continue
        groups[(line.person_id, entity)].append(line_snapshot(line))
    return groups, skipped
