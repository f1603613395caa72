"""Fixtures of the membership tests: an open fee year, valid join data, officials."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from piazza.core import testing_clock
from piazza.membership.actions.applicant import JoinData
from piazza.membership.actions.join import apply_for_membership
from piazza.membership.actions.payment import mark_paid
from piazza.membership.models import Channel, FeeSchedule, Membership, MembershipRules, PaymentMethod
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.territory.models import Comune, Role
from piazza.territory.testing import make_official

# The membership year under test is the year of the suite's frozen "today" (piazza.core.testing_clock),
# so that pages and actions that read the clock find this year's fee schedule open on any frozen day.
YEAR = testing_clock.today().year


@pytest.fixture
def schedule(tree: Any) -> FeeSchedule:
    return FeeSchedule.objects.create(
        year=YEAR,
        base_fee_cents=1500,
        national_surcharge_cents=500,
        regional_deadline=dt.date(YEAR, 1, 10),
        opens_at=timezone.make_aware(dt.datetime(YEAR - 1, 11, 1)),
        closes_at=timezone.make_aware(dt.datetime(YEAR, 12, 31, 23, 59, 59)),
    )


def bologna() -> Comune:
    return Comune.objects.get(istat_code="037006")


_counter = {"n": 0}
FIRST = ["Giulia", "Marco", "Anna", "Luca", "Sara", "Paolo", "Elena", "Franco", "Chiara", "Davide"]
LAST = ["Rossi", "Bianchi", "Verdi", "Ferrari", "Russo", "Esposito", "Romano", "Gallo", "Conti", "Greco"]


def join_data(
    *,
    birth_date: dt.date | None = None,
    sex: str = "F",
    first: str | None = None,
    last: str | None = None,
    **overrides: Any,
) -> JoinData:
    _counter["n"] += 1
    n = _counter["n"]
    first = first or FIRST[n % 10]
    last = last or f"{LAST[(n // 10) % 10]}"
    # Born 1980–1990 whatever the number of joins before (n grows across the whole suite): adults
    # in their thirties and forties, never in the reduced-fee ages, so a fee never depends on test order.
    birth_date = birth_date or dt.date(1980, 1, 1) + dt.timedelta(days=37 * (n % 100))
    comune = bologna()
    cf = make_codice_fiscale(first_name=first, last_name=last, sex=sex, birth_date=birth_date, belfiore=comune.belfiore)
    values: dict[str, Any] = {
        "first_name": first,
        "last_name": last,
        "birth_date": birth_date,
        "codice_fiscale": cf,
        "sex": sex,
        "birth_comune": comune,
        "residence_street": f"Via Indipendenza {n}",
        "residence_cap": "40121",
        "residence_comune": comune,
        "email": f"persona{n}@example.org",
        "phone": "",
        "declarations_accepted": True,
        "art9_authorised": True,
    }
    values.update(overrides)
    return JoinData(**values)


def now_in_year() -> dt.datetime:
    return timezone.make_aware(dt.datetime(YEAR, 3, 15, 10, 0, 0))


def join(tree: Any, circolo: Any = None, *, now: dt.datetime | None = None, **overrides: Any) -> Membership:
    return apply_for_membership(
        actor=None,
        data=join_data(**overrides),
        circolo=circolo or tree.bologna_centro,
        channel=Channel.ONLINE,
        year=YEAR,
        now=now or now_in_year(),
    )


def paid(
    tree: Any, circolo: Any = None, *, fingerprint: str = "", paid_at: dt.datetime | None = None, **overrides: Any
) -> Membership:
    m = join(tree, circolo, **overrides)
    return mark_paid(
        actor=None,
        membership=m,
        method=PaymentMethod.CARD,
        reference="test",
        fingerprint=fingerprint,
        paid_at=paid_at or now_in_year(),
    )


@pytest.fixture
def secretary(tree: Any) -> Any:
    return make_official("segretario.m", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP, Role.TREASURY])


@pytest.fixture
def commission(tree: Any) -> Any:
    return make_official("garanzia.bo", tree.bologna, [Role.GUARANTEE])


@pytest.fixture
def regional_commission(tree: Any) -> Any:
    return make_official("garanzia.er", tree.emilia, [Role.GUARANTEE])


@pytest.fixture
def cash_allowed(tree: Any) -> MembershipRules:
    return MembershipRules.objects.create(territory=tree.bologna, cash_allowed=True)
