"""Recurring charges keep their day of the month through short months and 29 February."""

from __future__ import annotations

import datetime as dt

import pytest

from piazza.core import testing_clock
from piazza.core.money import Money
from piazza.payments.actions import lifecycle as lifecycle_actions
from piazza.payments.actions import recurring as recurring_actions
from piazza.payments.models import Payment, State
from piazza.payments.tasks import run_due_charges

pytestmark = pytest.mark.usefixtures("check_ledger")


def _recurring(tree, split_accounts, interval="monthly"):
    schedule, first = recurring_actions.create_recurring(
        actor=None,
        amount=Money(1000),
        allocations=[(split_accounts[0], Money(800)), (split_accounts[1], Money(200))],
        provider="sandbox",
        description="Donazione",
        creation_key=f"calendar:{interval}",
        interval=interval,
        payable=tree.bologna_centro,
        payer_name="Marta",
        payer_email="marta@example.org",
        territory=tree.bologna_centro,
    )
    lifecycle_actions.pay(
        actor=None, payment=first, client_key="calendar-first", data={"card_number": "4242424242424242"}, return_url="/"
    )
    schedule.refresh_from_db()
    return schedule


@pytest.mark.clock("2027-01-31 09:00")
def test_a_gift_started_on_the_31st_comes_back_to_the_31st_after_february(tree, split_accounts, handler, clock):
    schedule = _recurring(tree, split_accounts)
    seen = [schedule.next_charge_on]
    for _ in range(3):
        clock.move_to(testing_clock.parse_local(schedule.next_charge_on))
        assert run_due_charges.call() == 1
        schedule.refresh_from_db()
        seen.append(schedule.next_charge_on)
    # Not 28 March, 28 April, 28 May: the donor's day is the 31st (or the month's last day).
    assert seen == [dt.date(2027, 2, 28), dt.date(2027, 3, 31), dt.date(2027, 4, 30), dt.date(2027, 5, 31)]
    assert Payment.objects.filter(schedule=schedule, state=State.SUCCEEDED).count() == 4


@pytest.mark.clock("2028-02-29 09:00")
def test_a_yearly_gift_started_on_29_february_falls_on_the_28th_then_the_29th_again(
    tree, split_accounts, handler, clock
):
    schedule = _recurring(tree, split_accounts, interval="yearly")
    seen = [schedule.next_charge_on]
    for _ in range(4):
        clock.move_to(testing_clock.parse_local(schedule.next_charge_on))
        assert run_due_charges.call() == 1
        schedule.refresh_from_db()
        seen.append(schedule.next_charge_on)
    assert seen == [
        dt.date(2029, 2, 28),
        dt.date(2030, 2, 28),
        dt.date(2031, 2, 28),
        dt.date(2032, 2, 29),
        dt.date(2033, 2, 28),
    ]
