"""TARGET2 business days: the days SEPA payments settle (EPC rulebooks refer to the TARGET2
calendar). Closed on Saturdays, Sundays, 1 January, Good Friday, Easter Monday, 1 May,
25 and 26 December. A debit cannot fall due on a closing day, and the bank must receive a
batch a number of business days before its due date.

Easter comes from `python-dateutil` (Western computus): never hand-roll what a library has.
"""

from __future__ import annotations

import datetime
from functools import lru_cache

from dateutil.easter import easter  # type: ignore[import-untyped]

ONE_DAY = datetime.timedelta(days=1)


@lru_cache(maxsize=64)
def closing_days(year: int) -> frozenset[datetime.date]:
    """The TARGET2 holidays of `year` (weekends excluded: they are closed anyway)."""
    easter_sunday = easter(year)
    return frozenset(
        {
            datetime.date(year, 1, 1),
            easter_sunday - 2 * ONE_DAY,  # Good Friday
            easter_sunday + ONE_DAY,  # Easter Monday
            datetime.date(year, 5, 1),
            datetime.date(year, 12, 25),
            datetime.date(year, 12, 26),
        }
    )


def is_banking_day(day: datetime.date) -> bool:
    return day.weekday() < 5 and day not in closing_days(day.year)


def next_banking_day(day: datetime.date) -> datetime.date:
    """`day` itself if TARGET2 is open, else the first open day after it."""
    while not is_banking_day(day):
        day += ONE_DAY
    return day


def add_banking_days(day: datetime.date, count: int) -> datetime.date:
    """The business day `count` business days after `day` (`day` itself need not be open)."""
    for _ in range(count):
        day = next_banking_day(day + ONE_DAY)
    return day


def banking_days_between(start: datetime.date, end: datetime.date) -> int:
    """Business days in (start, end]: how many settlement days the bank has before `end`."""
    count, day = 0, start
    while day < end:
        day += ONE_DAY
        count += is_banking_day(day)
    return count
