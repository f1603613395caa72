"""Fixtures of the bank rails: two treasurers of the Bologna federation, its bank account."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from piazza.ledger.accounts import get_account
from piazza.payments.bank.actions import accounts as accounts_actions
from piazza.payments.bank.actions import mandates as mandates_actions
from piazza.payments.bank.banking_days import is_banking_day, next_banking_day
from piazza.payments.bank.models import BankAccount, MandateChannel
from piazza.territory.models import Role
from piazza.territory.testing import make_official

OUR_IBAN = "IT60X0542811101000000123456"
CREDITOR_ID = "IT66ZZZA1B2C3D4E5F6G7H8"
CONSENT = (
    "Sottoscrivendo questo mandato autorizzi il Partito Democratico – Federazione di Bologna a inviare "
    "istruzioni alla tua banca per addebitare il tuo conto. Hai diritto al rimborso entro 8 settimane."
)


@dataclass
class Bank:
    anna: Any  # treasurer of the federation
    bruno: Any  # second treasurer (four eyes)
    account: BankAccount
    funds: Any  # the federation's ledger account receiving money

    def mandate(self, name: str = "Nicolò Dell'Acqua", iban: str = "IT25O0306909606100000012345", **extra: Any):
        return mandates_actions.sign_mandate(
            actor=self.anna,
            creditor=self.account,
            debtor_name=name,
            debtor_iban=iban,
            debtor_email=extra.pop("email", "nicolo@example.org"),
            signed_on=signature_day(),
            channel=MandateChannel.ONLINE,
            consent_text=CONSENT,
            **extra,
        )


def signature_day() -> datetime.date:
    """When the test mandates were signed: 5 January of last year, in the past whatever today is."""
    return datetime.date(timezone.localdate().year - 1, 1, 5)


def far_date(days: int = 20) -> datetime.date:
    """A TARGET2 business day at least `days` ahead: a due date every check accepts."""
    return next_banking_day(timezone.localdate() + datetime.timedelta(days=days))


def inside_lead_time(days: int) -> datetime.date:
    """The last TARGET2 business day less than `days` calendar days ahead: a due date a `days`-day
    pre-notification lead time refuses, whatever weekday and holidays today falls near.

    (Not `far_date(days - 1)`: when that lands on a weekend or holiday it rolls forward, out of the
    lead time; 2026-12-06 + 13 days is a Saturday and rolls to 15 days away.)"""
    day = timezone.localdate() + datetime.timedelta(days=days - 1)
    while not is_banking_day(day):
        day -= datetime.timedelta(days=1)
    assert day > timezone.localdate(), "no TARGET2 business day inside the lead time"
    return day


@pytest.fixture
def bank(tree) -> Bank:
    anna = make_official("anna.tesoriera", tree.bologna, [Role.TREASURY], email="anna@example.org")
    bruno = make_official("bruno.tesoriere", tree.bologna, [Role.TREASURY], email="bruno@example.org")
    account = accounts_actions.register_bank_account(
        actor=anna,
        territory=tree.bologna,
        name="PD Federazione di Bologna",
        iban=OUR_IBAN,
        creditor_id=CREDITOR_ID,
    )
    funds = get_account("territory", territory=tree.bologna)
    return Bank(anna=anna, bruno=bruno, account=account, funds=funds)
