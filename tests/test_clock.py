"""The suite's clock (root conftest, piazza/core/testing_clock.py): frozen by default, movable per test."""

import datetime as dt
import time

import pytest
from django.utils import timezone

from piazza.core import testing_clock


@pytest.mark.skipif(testing_clock.REAL, reason="PIAZZA_TEST_TODAY=real: nothing is frozen by default")
def test_every_test_starts_at_the_suites_instant(clock):
    assert timezone.now() == testing_clock.now()
    assert timezone.localdate() == testing_clock.today()
    clock.tick(90)
    assert timezone.now() == testing_clock.now() + dt.timedelta(seconds=90)


def test_the_default_instant_is_a_plain_weekday_morning_in_rome():
    default = testing_clock.parse_local(testing_clock.DEFAULT_LOCAL).astimezone(testing_clock.ROME)
    assert default.weekday() < 5 and default.hour == 10
    assert default.date() == default.astimezone(dt.UTC).date()  # the same day in UTC


@pytest.mark.clock("2027-03-28 02:30")
def test_a_wall_time_that_does_not_exist_reads_as_the_instant_after_the_switch():
    now = timezone.localtime()
    assert (now.date(), now.hour, now.minute) == (dt.date(2027, 3, 28), 3, 30)
    assert now.utcoffset() == dt.timedelta(hours=2)


@pytest.mark.clock("2028-03-01 00:30")
def test_date_today_is_the_utc_day_which_is_why_app_code_never_uses_it():
    assert timezone.localdate() == dt.date(2028, 3, 1)
    assert dt.date.today() == dt.date(2028, 2, 29)  # the server's (UTC) calendar: yesterday in Rome


@pytest.mark.clock("2026-12-31 23:59", tick=True)
def test_a_ticking_clock_starts_at_the_given_time_and_runs():
    first = timezone.now()
    assert timezone.localtime(first).date() == dt.date(2026, 12, 31)
    time.sleep(0.01)
    assert timezone.now() > first


@pytest.mark.real_clock
def test_a_real_clock_test_sees_the_machines_time():
    assert abs(time.time() - dt.datetime.now(dt.UTC).timestamp()) < 5
    assert type(dt.datetime.now()).__name__ == "datetime"  # not freezegun's FakeDatetime
    assert abs(timezone.now() - testing_clock.now()) > dt.timedelta(seconds=1) or testing_clock.REAL
