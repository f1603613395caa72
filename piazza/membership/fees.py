"""Fee computation for a person and a membership year, explained line by line (rules M5–M8).

Pure functions on plain values: the schedule (a `FeeSchedule` row or anything with the same
attributes), the regional surcharge in force, and the person's age. Everything is integer
cents; halving (M7) rounds half up to the cent, and every split (M8) is computed so that its
two parts add up exactly to the line they split.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from django.utils.translation import gettext as _


class ScheduleLike(Protocol):
    year: int
    currency: str
    base_fee_cents: int
    national_surcharge_cents: int
    reduced_min_age: int
    reduced_max_age: int
    reduced_percent: int
    base_fee_national_percent: int
    national_surcharge_national_percent: int
    regional_surcharge_national_percent: int


@dataclass(frozen=True)
class FeeLine:
    """One line of the explanation; `national_cents + territorial_cents == amount_cents`."""

    code: str  # "base", "national_surcharge", "regional_surcharge"
    label: str
    full_cents: int
    amount_cents: int
    national_cents: int
    territorial_cents: int
    note: str = ""


@dataclass(frozen=True)
class FeeQuote:
    year: int
    currency: str
    age: int | None
    reduced: bool
    lines: list[FeeLine] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def national_cents(self) -> int:
        return sum(line.national_cents for line in self.lines)

    @property
    def territorial_cents(self) -> int:
        return sum(line.territorial_cents for line in self.lines)

    def explanation(self) -> list[str]:
        """Human-readable lines, e.g. for the join page and the receipt."""
        rows = []
        for line in self.lines:
            text = f"{line.label}: {format_cents(line.amount_cents)}"
            if line.note:
                text += f" ({line.note})"
            rows.append(text)
        rows.append(_("Totale: %(total)s") % {"total": format_cents(self.total_cents)})
        return rows

    def as_dict(self) -> dict[str, object]:
        return {
            "year": self.year,
            "currency": self.currency,
            "age": self.age,
            "reduced": self.reduced,
            "total_cents": self.total_cents,
            "national_cents": self.national_cents,
            "territorial_cents": self.territorial_cents,
            "lines": [
                {
                    "code": x.code,
                    "label": x.label,
                    "full_cents": x.full_cents,
                    "amount_cents": x.amount_cents,
                    "national_cents": x.national_cents,
                    "territorial_cents": x.territorial_cents,
                    "note": x.note,
                }
                for x in self.lines
            ],
        }


def format_cents(cents: int) -> str:
    """Italian format, `1.234,50 €` (the money core's formatter once it is shared)."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    return f"{sign}{euros:,}".replace(",", ".") + f",{rest:02d} €"


def age_on(birth_date: dt.date, day: dt.date) -> int:
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


def percent_of(cents: int, percent: int) -> int:
    """`percent`% of `cents`, rounded half up to the cent (integers only)."""
    return (cents * percent + 50) // 100


def split(cents: int, national_percent: int) -> tuple[int, int]:
    """(national, territorial) parts of `cents`; they always add up to `cents` (rule M8)."""
    national = percent_of(cents, national_percent)
    return national, cents - national


def is_reduced(schedule: ScheduleLike, age: int | None) -> bool:
    """Rule M7: members aged 16–26 (bounds are schedule parameters) pay the reduced share."""
    return age is not None and schedule.reduced_min_age <= age <= schedule.reduced_max_age


def compute_fee(
    schedule: ScheduleLike,
    *,
    regional_surcharge_cents: int,
    birth_date: dt.date | None,
    on: dt.date,
    region_name: str = "",
) -> FeeQuote:
    """The fee a person pays for `schedule.year` if they join on `on` (rules M5–M8)."""
    age = age_on(birth_date, on) if birth_date else None
    reduced = is_reduced(schedule, age)
    note = (
        (
            _("ridotta al %(p)s%% per chi ha tra %(a)s e %(b)s anni")
            % {"p": schedule.reduced_percent, "a": schedule.reduced_min_age, "b": schedule.reduced_max_age}
        )
        if reduced
        else ""
    )

    def line(code: str, label: str, full: int, national_percent: int) -> FeeLine:
        amount = percent_of(full, schedule.reduced_percent) if reduced else full
        national, territorial = split(amount, national_percent)
        return FeeLine(code, label, full, amount, national, territorial, note)

    lines = [
        line(
            "base",
            _("Quota di iscrizione %(year)s") % {"year": schedule.year},
            schedule.base_fee_cents,
            schedule.base_fee_national_percent,
        )
    ]
    if schedule.national_surcharge_cents:
        lines.append(
            line(
                "national_surcharge",
                _("Maggiorazione nazionale"),
                schedule.national_surcharge_cents,
                schedule.national_surcharge_national_percent,
            )
        )
    if regional_surcharge_cents:
        label = (
            _("Maggiorazione regionale (%(region)s)") % {"region": region_name}
            if region_name
            else _("Maggiorazione regionale")
        )
        lines.append(
            line("regional_surcharge", label, regional_surcharge_cents, schedule.regional_surcharge_national_percent)
        )
    return FeeQuote(year=schedule.year, currency=schedule.currency, age=age, reduced=reduced, lines=lines)
