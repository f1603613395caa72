"""Every contribution a person made, line by line (rules F1, F3, F7, F8, F14).

`rules.register_contribution_source` gives the caps (F6) one total per person; the donor register,
the receipts, the annual tax statements and the transparency portal need the lines themselves: who
gave, how much, when the money arrived, by which means, to which receiving entity. The apps holding
the money (funding, membership) register a *line source* here, as they register their F6 source,
so compliance never imports them and every channel is read the same way.

A line is money kept: refunded or refused money is not a line. A membership fee split among several
levels (rule M8) gives one line per receiving territory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass

# The ways money arrives. Cash is not traceable (rule F8: no tax credit; rule F6: no cash for
# donations at all); POS, cards, PayPal, transfers and direct debits are. Services in kind
# ("in_kind", recorded by a treasurer for the register, F1) are not money: never traceable either.
UNTRACEABLE_METHODS = frozenset({"cash", "in_kind"})


@dataclass(frozen=True)
class ContributionLine:
    source: str  # the payable kind, e.g. "funding.donation", "membership.membership"
    source_id: int  # the row of that kind (the donation, the membership, the Albo registration)
    person_id: int | None
    kind: str  # "donation" or "fee" (rule F14: fees may or may not count)
    territory_id: int  # the receiving entity
    territory_path: str
    amount_cents: int
    received_at: dt.datetime  # when the money arrived (the year a contribution belongs to)
    method: str  # "card", "paypal", "bank_transfer", "sepa_dd", "pos", "cash"
    anonymous: bool = False  # given without identifying the donor (rule F8: no tax credit)
    purpose: str = ""  # what it was for, in words for the receipt (rule F3), e.g. the campaign
    # Rule F13: money of a legal person (a company, an association). The contributor is then the
    # entity, known by its VAT number / codice fiscale; `person_id` is its legal representative,
    # who only signs: the money never counts toward the representative's own totals (F1, F2, F6, F7).
    legal_name: str = ""
    entity_code: str = ""
    resolution_on: dt.date | None = None  # the date of the board resolution approving the gift

    @property
    def traceable(self) -> bool:
        """Rule F8: a payment that identifies the donor through a traceable means."""
        return self.method not in UNTRACEABLE_METHODS and not self.anonymous and self.person_id is not None

    @property
    def from_legal_person(self) -> bool:
        return bool(self.entity_code)

    @property
    def contributor(self) -> tuple[str, int | str] | None:
        """Whose money this is (rules F1, F13): ("entity", VAT code) or ("person", id); None if unknown."""
        if self.entity_code:
            return ("entity", self.entity_code)
        return ("person", self.person_id) if self.person_id is not None else None


# A line source yields the lines of money received in `year` by entities whose territory path
# starts with `entity_path` ("" = the whole party), optionally only for `person_ids`.
LineSource = Callable[[int, str, Collection[int] | None], Iterable[ContributionLine]]
_LINE_SOURCES: dict[str, LineSource] = {}


def register_line_source(name: str, source: LineSource) -> None:
    """Apps holding money from persons register how to list it (called from their ready())."""
    _LINE_SOURCES[name] = source


def registered_line_sources() -> dict[str, LineSource]:
    return dict(_LINE_SOURCES)


def contribution_lines(
    year: int, *, entity_path: str = "", person_ids: Collection[int] | None = None, kinds: Collection[str] = ()
) -> Iterator[ContributionLine]:
    """Every contribution received in `year` within `entity_path`, from every registered channel.

    Sources stream (they iterate their querysets), so a whole year of a national party can be read
    without holding it in memory; the order is per source, not by date.
    """
    for source in _LINE_SOURCES.values():
        for line in source(year, entity_path, person_ids):
            if not kinds or line.kind in kinds:
                yield line


# Rule F3: the receipts of one contribution are issued from the lines of that one row, read by a
# *row source* keyed by the line's `source` ("funding.donation"): the same lines as the yearly
# sources, without scanning the person's year.
RowSource = Callable[[int], Iterable[ContributionLine]]
_ROW_SOURCES: dict[str, RowSource] = {}


def register_row_source(source: str, reader: RowSource) -> None:
    """Apps holding money register how to read the lines of one of their rows (from ready())."""
    _ROW_SOURCES[source] = reader


def lines_of(source: str, source_id: int) -> list[ContributionLine]:
    """The contribution lines of one row (empty when the money is not kept: refunded, refused)."""
    reader = _ROW_SOURCES.get(source)
    if reader is None:
        raise LookupError(f"no row source registered for {source!r}")
    return list(reader(source_id))
