"""Funding on Rome's calendar: days left across a summer-time switch (days of 23 or 25 hours), and the
year a gift counts in for the annual cap (rule F6) when it is paid just after midnight on New Year."""

import datetime as dt

import pytest

from piazza.compliance.models import FinanceRuleSet
from piazza.core import testing_clock
from piazza.funding.models import DonationStatus
from piazza.funding.payable import donations_in_year
from piazza.funding.queries import Thermometer
from piazza.funding.tests.flows import give, pay_donation, submit


def _thermometer(deadline: str) -> Thermometer:
    return Thermometer(
        gifts_cents=0,
        matched_cents=0,
        gifts_count=0,
        small_gifts_cents=0,
        donors=0,
        goal_cents=100_000,
        deadline=testing_clock.parse_local(deadline),
    )


@pytest.mark.clock("2027-10-30 10:00")  # clocks go back on 31 October: that day has 25 hours
def test_days_left_across_the_end_of_summer_time():
    assert _thermometer("2027-11-01 10:00").days_left == 2
    assert _thermometer("2027-11-01 09:00").days_left == 2
    assert _thermometer("2027-10-30 10:00").days_left == 0


@pytest.mark.clock("2027-03-27 10:00")  # clocks go forward on 28 March: that day has 23 hours
def test_days_left_across_the_start_of_summer_time():
    assert _thermometer("2027-03-29 10:00").days_left == 2
    assert _thermometer("2027-03-29 10:01").days_left == 3


@pytest.mark.clock("2026-12-31 23:50")
def test_a_gift_started_on_31_december_and_paid_after_midnight_counts_in_the_new_year(
    live_campaign, clock, django_capture_on_commit_callbacks
):
    """Rule F6's year is the year the money arrived: the cap judged at payment and the totals agree."""
    FinanceRuleSet.objects.create(valid_from=dt.date(2000, 1, 1), annual_cap_cents=5000)
    give(live_campaign, 2000)
    late = submit(live_campaign, 3000)  # submitted in 2026 (2000 + 3000 within the cap) ...
    clock.move_to(testing_clock.parse_local("2027-01-01 00:10"))
    with django_capture_on_commit_callbacks(execute=True):
        pay_donation(late)  # ... paid in 2027
    assert late.status == DonationStatus.SUCCEEDED and late.person_id is not None
    assert donations_in_year(late.person_id, 2026, "") == 2000
    assert donations_in_year(late.person_id, 2027, "") == 3000
