"""Membership deadlines on Rome's calendar: an objection window of 15 days ends at the same wall-clock
time it opened, even across a switch to or from summer time (rule M18)."""

import datetime as dt

import pytest
from django.utils import timezone

from .conftest import YEAR, paid

pytestmark = pytest.mark.django_db


def _last_sunday(year: int, month: int) -> dt.date:
    day = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
    return day - dt.timedelta(days=(day.weekday() - 6) % 7)


@pytest.mark.parametrize("month", [3, 10], ids=["summer-time-starts", "summer-time-ends"])
def test_the_objection_window_keeps_its_wall_clock_time_across_a_switch(tree, schedule, month):
    paid_at = timezone.make_aware(dt.datetime.combine(_last_sunday(YEAR, month) - dt.timedelta(days=7), dt.time(12, 0)))
    membership = paid(tree, paid_at=paid_at.astimezone(dt.UTC), now=paid_at)  # as timezone.now() gives it
    deadline = timezone.localtime(membership.objection_deadline)
    assert (deadline.date(), deadline.time()) == (paid_at.date() + dt.timedelta(days=15), dt.time(12, 0))
