"""Fees per band and surcharge (rules M5–M8)."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from piazza.core.models import AuditEntry, AuditKind
from piazza.membership.actions.parameters import set_regional_surcharge
from piazza.membership.fees import compute_fee, split
from piazza.membership.models import RegionalSurcharge
from piazza.territory.models import Role
from piazza.territory.testing import make_official

from .conftest import YEAR


def schedule(**kw):
    values = {
        "year": 2023,
        "currency": "EUR",
        "base_fee_cents": 1500,
        "national_surcharge_cents": 500,
        "reduced_min_age": 16,
        "reduced_max_age": 26,
        "reduced_percent": 50,
        "base_fee_national_percent": 0,
        "national_surcharge_national_percent": 80,
        "regional_surcharge_national_percent": 20,
    }
    values.update(kw)
    return SimpleNamespace(**values)


ON = dt.date(2023, 1, 20)


def test_m5_base_and_national_surcharge_adult():
    quote = compute_fee(schedule(), regional_surcharge_cents=0, birth_date=dt.date(1970, 5, 1), on=ON)
    assert [line.code for line in quote.lines] == ["base", "national_surcharge"]
    assert quote.total_cents == 2000
    assert not quote.reduced
    assert quote.explanation()[-1] == "Totale: 20,00 €"


def test_m5_fee_schedule_is_per_year_without_national_surcharge():
    quote = compute_fee(
        schedule(year=2024, national_surcharge_cents=0),
        regional_surcharge_cents=0,
        birth_date=dt.date(1970, 5, 1),
        on=ON,
    )
    assert quote.total_cents == 1500 and len(quote.lines) == 1


def test_m6_regional_surcharge_line():
    quote = compute_fee(
        schedule(), regional_surcharge_cents=1000, birth_date=dt.date(1970, 5, 1), on=ON, region_name="Emilia-Romagna"
    )
    assert quote.total_cents == 3000
    assert "Emilia-Romagna" in quote.lines[-1].label


@pytest.mark.parametrize(
    ("birth", "reduced"),
    [
        (dt.date(2007, 1, 20), True),  # 16 today: first day of the band
        (dt.date(2007, 1, 21), False),  # 15 (refused at joining, not reduced)
        (dt.date(1996, 1, 21), True),  # 26, last day of the band
        (dt.date(1996, 1, 20), False),  # 27 today
    ],
)
def test_m7_reduction_band_boundaries(birth, reduced):
    quote = compute_fee(schedule(), regional_surcharge_cents=1000, birth_date=birth, on=ON)
    assert quote.reduced is reduced
    assert quote.total_cents == (1500 if reduced else 3000)


def test_m7_halves_odd_cents_half_up():
    quote = compute_fee(
        schedule(base_fee_cents=1501, national_surcharge_cents=0),
        regional_surcharge_cents=0,
        birth_date=dt.date(2000, 1, 1),
        on=ON,
    )
    assert quote.total_cents == 751


def test_m8_splits_80_20():
    quote = compute_fee(schedule(), regional_surcharge_cents=1000, birth_date=dt.date(1970, 1, 1), on=ON)
    national_line = quote.lines[1]
    regional_line = quote.lines[2]
    assert (national_line.national_cents, national_line.territorial_cents) == (400, 100)
    assert (regional_line.national_cents, regional_line.territorial_cents) == (200, 800)
    assert quote.national_cents + quote.territorial_cents == quote.total_cents


@given(st.integers(min_value=0, max_value=10_000_000), st.integers(min_value=0, max_value=100))
def test_m8_split_never_loses_a_cent(cents, percent):
    national, territorial = split(cents, percent)
    assert national + territorial == cents and national >= 0 and territorial >= 0


@given(
    st.integers(0, 5000),
    st.integers(0, 2000),
    st.integers(0, 2000),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2010, 1, 1)),
)
def test_quote_lines_always_add_up(base, national, regional, birth):
    quote = compute_fee(
        schedule(base_fee_cents=base, national_surcharge_cents=national),
        regional_surcharge_cents=regional,
        birth_date=birth,
        on=ON,
    )
    assert sum(x.national_cents + x.territorial_cents for x in quote.lines) == quote.total_cents
    assert quote.total_cents <= base + national + regional


@pytest.fixture
def regional_officer(tree):
    return make_official("tesseramento.er", tree.emilia, [Role.MEMBERSHIP])


def test_m6_regional_surcharge_set_before_deadline(tree, schedule, regional_officer):
    surcharge = set_regional_surcharge(
        actor=regional_officer,
        region=tree.emilia,
        year=YEAR,
        amount_cents=1000,
        now=timezone.make_aware(dt.datetime(YEAR, 1, 10, 23, 0)),
    )
    assert surcharge.amount_cents == 1000


def test_m6_surcharge_above_cap_refused_and_audited(tree, schedule, regional_officer):
    with pytest.raises(ValidationError) as err:
        set_regional_surcharge(
            actor=regional_officer,
            region=tree.emilia,
            year=YEAR,
            amount_cents=2001,
            now=timezone.make_aware(dt.datetime(YEAR, 1, 5)),
        )
    assert "al massimo 20,00 €" in str(err.value)
    assert not RegionalSurcharge.objects.exists()
    assert AuditEntry.objects.filter(action="membership.set_regional_surcharge", kind=AuditKind.DENIED).exists()


def test_m6_total_cap_refused(tree, schedule, regional_officer):
    schedule.national_surcharge_cents = 1000
    schedule.save()
    with pytest.raises(ValidationError) as err:
        set_regional_surcharge(
            actor=regional_officer,
            region=tree.emilia,
            year=YEAR,
            amount_cents=2000,
            now=timezone.make_aware(dt.datetime(YEAR, 1, 5)),
        )
    assert "oltre il tetto di 40,00 €" in str(err.value)
    assert "al massimo 15,00 €" in str(err.value)


def test_m6_surcharge_after_deadline_refused(tree, schedule, regional_officer):
    with pytest.raises(ValidationError) as err:
        set_regional_surcharge(
            actor=regional_officer,
            region=tree.emilia,
            year=YEAR,
            amount_cents=500,
            now=timezone.make_aware(dt.datetime(YEAR, 1, 11, 0, 0, 1)),
        )
    assert f"10/01/{YEAR}" in str(err.value)


def test_m6_surcharge_only_by_the_regions_officers(tree, schedule):
    lombardia = make_official("tess.lo", tree.lombardia, [Role.MEMBERSHIP])
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        set_regional_surcharge(
            actor=lombardia,
            region=tree.emilia,
            year=YEAR,
            amount_cents=500,
            now=timezone.make_aware(dt.datetime(YEAR, 1, 5)),
        )
