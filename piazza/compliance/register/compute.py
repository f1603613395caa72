"""Who enters the donor register and by when (rules F1, F14, F15), as pure functions over
contribution lines, the parameters in force and the declared election periods.

* Scope (F14): with `cap_scope` "party" there is one register, the national entity's, totalling
  every line of the party; with "entity" each receiving node keeps its own register of the lines
  it received. Fees count only when `fees_count` is on.
* Entry (F1): a donor whose money and services in kind in the calendar year exceed
  `publication_threshold_cents` (strictly) enters with every contribution of that year.
* Deadline (F1): the contributions up to the one that crossed the threshold are due by the end of
  the calendar month `register_deadline_months` after the crossing one's receipt; each later one
  by the end of the month after its own receipt. Received inside an election period of a
  territory above or below the entity (the cautious reading: the shorter deadline whenever the
  entity takes part in that election), due `election_deadline_days` after receipt instead.
* F15: only dates and days; no sanction amount exists anywhere.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.utils import timezone

from piazza.compliance.contributions import ContributionLine
from piazza.compliance.rules import CAP_SCOPE_PARTY, FinanceRules


@dataclass(frozen=True)
class Period:
    """An election period as the computation needs it (from `ElectionPeriod` rows)."""

    territory_path: str
    starts_on: dt.date
    ends_on: dt.date

    def covers(self, entity_path: str, day: dt.date) -> bool:
        related = entity_path.startswith(self.territory_path) or self.territory_path.startswith(entity_path)
        return related and self.starts_on <= day <= self.ends_on


@dataclass
class Item:
    source: str
    source_id: int
    kind: str
    method: str
    amount_cents: int
    received_on: dt.date
    due_on: dt.date = dt.date.min
    in_election_period: bool = False
    resolution_on: dt.date | None = None  # rule F13: the board resolution of a legal person's gift


@dataclass
class Entry:
    """One contributor of one entity's register: a natural person (`person_id`) or, rule F13, a
    legal person (`entity_code`, `legal_name`; `signatory_id` its legal representative)."""

    entity_id: int
    person_id: int | None
    total_cents: int
    crossed_on: dt.date
    items: list[Item] = field(default_factory=list)
    entity_code: str = ""
    legal_name: str = ""
    signatory_id: int | None = None

    @property
    def contributor(self) -> tuple[str, int | str] | None:
        if self.entity_code:
            return ("entity", self.entity_code)
        return ("person", self.person_id) if self.person_id is not None else None


def end_of_month_after(day: dt.date, months: int) -> dt.date:
    """The last day of the calendar month `months` after `day`'s (F1: "entro il mese successivo")."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, calendar.monthrange(year, month + 1)[1])


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier (the last day of a shorter month)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def deadline(
    received_on: dt.date, entity_path: str, rules: FinanceRules, periods: Sequence[Period]
) -> tuple[dt.date, bool]:
    """Rule F1: (due date, inside an election period?) for a contribution received on that day."""
    if any(p.covers(entity_path, received_on) for p in periods):
        return received_on + dt.timedelta(days=rules.election_deadline_days), True
    return end_of_month_after(received_on, rules.register_deadline_months), False


def entity_of(line: ContributionLine, rules: FinanceRules, national_id: int) -> int:
    """Rule F14: the register a line belongs to."""
    return national_id if rules.cap_scope == CAP_SCOPE_PARTY else line.territory_id


def compute_entries(
    lines: Iterable[ContributionLine],
    *,
    rules: FinanceRules,
    national_id: int,
    national_path: str,
    periods: Sequence[Period],
    only_entity: int | None = None,
) -> list[Entry]:
    """Every register entry of the lines' year (rules F1, F14), items in order of receipt.

    A line without a person (never the case for money kept, but possible in a source) is skipped.
    A legal person's money (rule F13) is its own entry, totalled apart from its representative's.
    """
    grouped: dict[tuple[int, tuple[str, int | str]], dict[tuple[str, int], Item]] = defaultdict(dict)
    entity_paths = {national_id: national_path}
    legal: dict[str, ContributionLine] = {}  # the latest line of each legal person: its name, its signatory
    for line in lines:
        contributor = line.contributor
        if contributor is None or (line.kind == "fee" and not rules.fees_count):
            continue
        entity = entity_of(line, rules, national_id)
        if only_entity is not None and entity != only_entity:
            continue
        entity_paths.setdefault(entity, line.territory_path)
        if line.entity_code and (
            line.entity_code not in legal or line.received_at >= legal[line.entity_code].received_at
        ):
            legal[line.entity_code] = line
        items = grouped[(entity, contributor)]
        key = (line.source, line.source_id)
        found = items.get(key)
        if found is None:  # a fee split among levels (M8) is one contribution of the party
            items[key] = Item(
                source=line.source,
                source_id=line.source_id,
                kind=line.kind,
                method=line.method,
                amount_cents=line.amount_cents,
                received_on=timezone.localdate(line.received_at),
                resolution_on=line.resolution_on,
            )
        else:
            found.amount_cents += line.amount_cents
    entries: list[Entry] = []
    for (entity, (who, code_or_id)), by_key in grouped.items():
        ordered = sorted(by_key.values(), key=lambda i: (i.received_on, i.source, i.source_id))
        total = sum(i.amount_cents for i in ordered)
        if total <= rules.publication_threshold_cents:
            continue
        running, crossing = 0, len(ordered) - 1
        for index, item in enumerate(ordered):
            running += item.amount_cents
            if running > rules.publication_threshold_cents:
                crossing = index
                break
        path = entity_paths.get(entity, "")
        crossing_due, crossing_period = deadline(ordered[crossing].received_on, path, rules, periods)
        for index, item in enumerate(ordered):
            if index <= crossing:
                item.due_on, item.in_election_period = crossing_due, crossing_period
            else:
                item.due_on, item.in_election_period = deadline(item.received_on, path, rules, periods)
        if who == "entity":
            latest = legal[str(code_or_id)]
            entries.append(
                Entry(
                    entity,
                    None,
                    total,
                    ordered[crossing].received_on,
                    ordered,
                    entity_code=str(code_or_id),
                    legal_name=latest.legal_name,
                    signatory_id=latest.person_id,
                )
            )
        else:
            entries.append(Entry(entity, int(code_or_id), total, ordered[crossing].received_on, ordered))
    return entries
