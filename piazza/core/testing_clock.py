"""The test suite's clock: every test runs at one frozen instant unless it says otherwise.

No test may depend on the real date (a test that passes on Tuesday and fails on Saturday is a
defect). The root conftest freezes the clock (freezegun) for every test at `FROZEN_AT`:

- by default Wednesday 10 June 2026, 10:00 in Europe/Rome (08:00 UTC). A plain weekday on
  purpose: a TARGET2 business day with no closing day in the following 14-day SEPA
  pre-notification window, mid-month, mid-membership-year (the fee year is open and its regional
  deadline has passed), far from New Year, Easter and both summer-time switches, and 10:00 is
  the same calendar day in Rome and in UTC. The awkward days are the sweep's job, not the
  default's.
- `PIAZZA_TEST_TODAY=2027-12-24` moves it (10:00 local of that day); a local time may be given,
  `PIAZZA_TEST_TODAY=2027-03-28T02:30`, even one that does not exist (02:30 on the day summer
  time starts is read with the offset before the switch, i.e. 01:30 UTC = 03:30 CEST).
  `PIAZZA_TEST_TODAY=real` freezes nothing by default (the real clock, as before this module).
  `make date-sweep` runs the date-sensitive modules (DATE_SENSITIVE_TESTS in the Makefile) once
  per awkward day.

Tests written against the frozen "today" use `today()` / `now()` (or the `clock` fixture) and
must hold whatever the frozen day is. A test that needs a particular day says so:
`@pytest.mark.clock("2027-03-26 09:00")` (local time), `@pytest.mark.clock(tick=True)` for a clock
that starts at the frozen instant and moves, `@pytest.mark.real_clock` for the real clock.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

ENV_VAR = "PIAZZA_TEST_TODAY"
ROME = ZoneInfo("Europe/Rome")  # settings.TIME_ZONE
DEFAULT_LOCAL = dt.datetime(2026, 6, 10, 10, 0)  # noqa: DTZ001 -- a Rome wall time; Wednesday, see the docstring
DEFAULT_TIME = dt.time(10, 0)


def parse_local(value: str | dt.date | dt.datetime) -> dt.datetime:
    """An aware instant from a local (Europe/Rome) date or date-time; a date means 10:00 of it."""
    if isinstance(value, str):
        value = value.strip().replace(" ", "T")
        value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, DEFAULT_TIME)
    if value.tzinfo is None:
        # fold=0: an ambiguous or non-existent wall time takes the offset in force before the switch.
        value = value.replace(tzinfo=ROME)
    return value.astimezone(dt.UTC)


_RAW = os.environ.get(ENV_VAR, "").strip()
REAL = _RAW.lower() == "real"  # no default freezing at all: the suite on the machine's clock


def _from_environment() -> dt.datetime:
    if REAL:
        return dt.datetime.now(dt.UTC)
    try:
        return parse_local(_RAW) if _RAW else parse_local(DEFAULT_LOCAL)
    except ValueError as error:
        raise SystemExit(f"{ENV_VAR}={_RAW!r}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM or real ({error})") from None


FROZEN_AT: dt.datetime = _from_environment()  # aware, UTC (with `real`: when the run started)


def now() -> dt.datetime:
    """The suite's default frozen instant (aware, UTC), read without freezegun."""
    return FROZEN_AT


def today() -> dt.date:
    """The suite's default frozen day in Europe/Rome."""
    return FROZEN_AT.astimezone(ROME).date()


def describe() -> str:
    local = FROZEN_AT.astimezone(ROME)
    return f"{local:%A %Y-%m-%d %H:%M %Z} ({FROZEN_AT:%Y-%m-%dT%H:%MZ})"
