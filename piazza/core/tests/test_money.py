"""The Money value type (convention 3): exact cents, no floats, no mixed currencies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django import forms
from django.template import Context, Template
from hypothesis import given
from hypothesis import strategies as st

from piazza.core.money import (
    MAX_AMOUNT_CENTS,
    CurrencyMismatch,
    Money,
    MoneyError,
    MoneyFormField,
    format_eur,
    money_sum,
)


def test_refuses_floats_and_bools():
    with pytest.raises(MoneyError, match="integer number of cents"):
        Money(12.5)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(True)
    with pytest.raises(MoneyError, match="floats are refused"):
        Money.from_decimal(12.5)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(100) * 1.5  # type: ignore[operator]
    with pytest.raises(MoneyError):
        Money(100).percent(2.5)  # type: ignore[arg-type]


def test_refuses_bad_currency_and_mixing():
    with pytest.raises(MoneyError, match="ISO 4217"):
        Money(100, "eur")
    with pytest.raises(CurrencyMismatch):
        Money(100, "EUR") + Money(100, "USD")
    with pytest.raises(CurrencyMismatch):
        _ = Money(100, "EUR") < Money(100, "USD")
    with pytest.raises(TypeError):
        Money(100) + 5  # type: ignore[operator]
    # Equality across currencies is simply False, never an exception.
    assert Money(100, "EUR") != Money(100, "USD")


def test_from_decimal_is_exact():
    assert Money.from_decimal(Decimal("12.50")) == Money(1250)
    assert Money.from_decimal("0.01") == Money(1)
    with pytest.raises(MoneyError, match="fractions of a cent"):
        Money.from_decimal(Decimal("0.001"))
    with pytest.raises(MoneyError):
        Money.from_decimal("NaN")
    assert Money(1250).amount == Decimal("12.50")


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("12,50", 1250),
        ("12,5", 1250),
        ("12", 1200),
        ("1.234,50 €", 123450),
        ("€ 1.234,00", 123400),
        ("1.234.567", 123456700),
        ("12.50", 1250),
        ("0,01", 1),
        (" 7 ", 700),
        ("1.234.567,89", 123456789),
        ("-3,00", -300),
        ("1\u00a0234,00", 123400),
        (",50", 50),
    ],
)
def test_parse_italian_and_english_input(text, cents):
    assert Money.parse(text) == Money(cents)


@pytest.mark.parametrize("text", ["", "abc", "12,345", "1,2,3", "12.5.0", "12.3456", "1.23,00", "--5", "1e5"])
def test_parse_refuses_garbage(text):
    with pytest.raises(MoneyError):
        Money.parse(text)


def test_format_italian():
    assert format_eur(Money(123450)) == "1.234,50 €"
    assert format_eur(123450) == "1.234,50 €"
    assert format_eur(Money(5)) == "0,05 €"
    assert format_eur(Money(-1200)) == "-12,00 €"
    assert format_eur(Money(100000000)) == "1.000.000,00 €"
    assert str(Money(1000, "USD")) == "10,00 USD"
    with pytest.raises(MoneyError):
        format_eur(12.5)  # type: ignore[arg-type]


def test_allocate_80_20_loses_no_cent():
    # rule M8: a 5,01 € surcharge split 80/20 books every cent once.
    national, regional = Money(501).allocate([80, 20])
    assert national + regional == Money(501)
    assert (national, regional) == (Money(401), Money(100))
    assert Money(-501).allocate([80, 20]) == [Money(-401), Money(-100)]
    with pytest.raises(MoneyError):
        Money(100).allocate([])
    with pytest.raises(MoneyError):
        Money(100).allocate([0, 0])


@given(st.integers(min_value=-(10**12), max_value=10**12), st.lists(st.integers(0, 1000), min_size=1, max_size=8))
def test_allocate_property(cents, ratios):
    if sum(ratios) == 0:
        return
    parts = Money(cents).allocate(ratios)
    assert money_sum(parts) == Money(cents)
    for part, ratio in zip(parts, ratios, strict=True):
        exact = Decimal(cents) * ratio / sum(ratios)
        assert abs(Decimal(part.cents) - exact) < 1


@given(st.integers(min_value=-MAX_AMOUNT_CENTS, max_value=MAX_AMOUNT_CENTS))
def test_format_parse_round_trip(cents):
    assert Money.parse(format_eur(Money(cents))) == Money(cents)


def test_sum_and_percent():
    assert sum([Money(100), Money(250)]) == Money(350)
    assert money_sum([]) == Money(0)
    assert Money(10000).percent(26) == Money(2600)  # rule F7 share
    assert Money(3).percent(50) == Money(2)  # half-up


class AmountForm(forms.Form):
    amount = MoneyFormField(label="Importo", max_cents=10_000_000)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "almeno 0,01 €"),
        ("-5", "almeno 0,01 €"),
        ("dieci", "Scrivi un importo in euro"),
        ("12,345", "due decimali"),
        ("100.000,01", "non può superare 100.000,00 €"),
    ],
)
def test_form_field_bad_input(value, message):
    form = AmountForm(data={"amount": value})
    assert not form.is_valid()
    assert message in form.errors["amount"][0]


def test_form_field_parses_italian():
    form = AmountForm(data={"amount": "1.234,50"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount"] == Money(123450)
    rendered = str(AmountForm(initial={"amount": Money(1250)})["amount"])
    assert 'value="12,50"' in rendered
    assert 'inputmode="decimal"' in rendered


def test_euro_filter():
    out = Template("{% load money %}{{ a|euro }}|{{ b|euro }}|{{ c|euro }}").render(
        Context({"a": Money(123450), "b": 99, "c": None})
    )
    assert out == "1.234,50 €|0,99 €|"
