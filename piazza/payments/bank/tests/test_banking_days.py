"""TARGET2 business days (issue 5): the calendar, and due dates checked against it with a
message naming the first acceptable date."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from piazza.core.money import Money
from piazza.payments.bank.actions import collections as collections_actions
from piazza.payments.bank.banking_days import (
    add_banking_days,
    banking_days_between,
    closing_days,
    is_banking_day,
    next_banking_day,
)
from piazza.payments.bank.models import Collection, CollectionBatch

D = datetime.date


def test_target2_closing_days_of_2026_and_2027():
    assert closing_days(2026) == {
        D(2026, 1, 1),
        D(2026, 4, 3),
        D(2026, 4, 6),
        D(2026, 5, 1),
        D(2026, 12, 25),
        D(2026, 12, 26),
    }
    assert {D(2027, 3, 26), D(2027, 3, 29)} <= closing_days(2027)  # Easter 2027 is 28 March


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (D(2026, 4, 2), True),
        (D(2026, 4, 3), False),
        (D(2026, 4, 6), False),
        (D(2026, 4, 7), True),
        (D(2026, 5, 1), False),
        (D(2026, 5, 2), False),
        (D(2026, 6, 2), True),  # 2 June: Italian holiday, TARGET2 open
        (D(2026, 8, 15), False),
        (D(2026, 8, 17), True),
        (D(2026, 12, 24), True),
        (D(2026, 12, 28), True),
    ],
)
def test_is_banking_day(day, open_):
    assert is_banking_day(day) is open_


def test_next_and_added_banking_days_skip_weekends_and_holidays():
    assert next_banking_day(D(2026, 12, 25)) == D(2026, 12, 28)
    assert next_banking_day(D(2026, 12, 28)) == D(2026, 12, 28)
    assert add_banking_days(D(2026, 12, 23), 2) == D(2026, 12, 28)  # 24 Dec, then (25, 26, 27 closed) 28 Dec
    assert add_banking_days(D(2026, 4, 2), 1) == D(2026, 4, 7)  # Good Friday and Easter Monday
    assert add_banking_days(D(2026, 12, 31), 1) == D(2027, 1, 4)  # 1 Jan, then the weekend
    assert banking_days_between(D(2026, 12, 23), D(2026, 12, 28)) == 2


def _closed_day_ahead(min_days: int) -> datetime.date:
    """A TARGET2 closing day at least `min_days` ahead (a Saturday at worst)."""
    day = timezone.localdate() + datetime.timedelta(days=min_days)
    while is_banking_day(day):
        day += datetime.timedelta(days=1)
    return day


def test_a_debit_due_on_a_closed_day_is_refused_with_the_next_open_day(bank):
    mandate = bank.mandate()
    due = _closed_day_ahead(20)
    with pytest.raises(ValidationError) as error:
        collections_actions.schedule_collection(
            actor=bank.anna,
            mandate=mandate,
            amount=Money(1500),
            due_date=due,
            description="Quota",
            credit_account=bank.funds,
            creation_key="closed",
        )
    message = error.value.message_dict["due_date"][0]
    assert "TARGET2" in message and next_banking_day(due).strftime("%d/%m/%Y") in message
    assert not Collection.objects.exists()


def test_a_debit_inside_the_prenotification_lead_names_the_first_acceptable_date(bank):
    mandate = bank.mandate()
    first = next_banking_day(timezone.localdate() + datetime.timedelta(days=bank.account.prenotification_days))
    with pytest.raises(ValidationError) as error:
        collections_actions.schedule_collection(
            actor=bank.anna,
            mandate=mandate,
            amount=Money(1500),
            due_date=timezone.localdate() + datetime.timedelta(days=3),
            description="Quota",
            credit_account=bank.funds,
            creation_key="near",
        )
    assert f"La prima data possibile è {first.strftime('%d/%m/%Y')}" in error.value.message_dict["due_date"][0]
    assert collections_actions.schedule_collection(
        actor=bank.anna,
        mandate=mandate,
        amount=Money(1500),
        due_date=first,
        description="Quota",
        credit_account=bank.funds,
        creation_key="ok",
    ).pk


def test_a_batch_needs_two_target2_business_days(bank, settings):
    settings.BANK_SDD_MIN_DAYS_BEFORE_DUE = 2
    first = add_banking_days(timezone.localdate(), 2)
    with pytest.raises(ValidationError) as error:
        collections_actions.prepare_batch(
            actor=bank.anna, creditor=bank.account, due_date=add_banking_days(timezone.localdate(), 1)
        )
    message = error.value.message_dict["due_date"][0]
    assert "giorni lavorativi TARGET2" in message and first.strftime("%d/%m/%Y") in message
    with pytest.raises(ValidationError) as closed:
        collections_actions.prepare_batch(actor=bank.anna, creditor=bank.account, due_date=_closed_day_ahead(5))
    assert "TARGET2" in closed.value.message_dict["due_date"][0]
    assert not CollectionBatch.objects.exists()
