"""Amounts people type that must never be guessed or overflow (issue 10, finding 13)."""

import pytest
from django import forms

from piazza.core.money import (
    MAX_AMOUNT_CENTS,
    AmbiguousAmount,
    AmountTooLarge,
    Money,
    MoneyError,
    MoneyFormField,
)


class AmountForm(forms.Form):
    amount = MoneyFormField(label="Importo")


@pytest.mark.parametrize("text", ["²", "1²", "٣", "१२", "12,⁵", "½", "1\x00", "１２"])
def test_only_ascii_digits_are_amounts(text):
    # str.isdigit() accepts superscripts and other scripts; int() then raised a bare ValueError (500).
    with pytest.raises(MoneyError):
        Money.parse(text)
    form = AmountForm(data={"amount": text})
    assert not form.is_valid()
    assert "Scrivi un importo in euro" in form.errors["amount"][0]


@pytest.mark.parametrize("text", ["99999999999999999999", "10.000.000.000,01", "9" * 5000])
def test_amounts_are_bounded_well_inside_a_bigint(text):
    with pytest.raises(AmountTooLarge):
        Money.parse(text)
    form = AmountForm(data={"amount": text})
    assert not form.is_valid()
    assert "non può superare 10.000.000.000,00 €" in form.errors["amount"][0]


def test_the_largest_amount_is_accepted():
    assert Money.parse("10.000.000.000,00") == Money(MAX_AMOUNT_CENTS)


@pytest.mark.parametrize(
    ("text", "readings"),
    [
        ("10.005", ["10,01 €", "10.005,00 €"]),
        ("1.234", ["1,23 €", "1.234,00 €"]),
        ("€ 999.999", ["1.000,00 €", "999.999,00 €"]),
        ("1,234.50", ["1.234,50 €"]),
        ("12,345.6", ["12.345,60 €"]),
    ],
)
def test_ambiguous_amounts_get_a_question_not_a_guess(text, readings):
    # "10.005" was read as 10.005,00 €: a donor meaning ten euros was charged a thousand times more.
    with pytest.raises(AmbiguousAmount) as info:
        Money.parse(text)
    assert [str(r) for r in info.value.readings] == readings
    form = AmountForm(data={"amount": text})
    assert not form.is_valid()
    message = str(form.errors["amount"][0])
    assert message.startswith("Intendevi " + " o ".join(readings) + "?")
    assert "con la virgola per i centesimi" in message


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("10,005", None),
        ("1.234.567", 123456700),
        ("1.234,50", 123450),
        ("12.50", 1250),
        ("10.5", 1050),
    ],
)
def test_unambiguous_amounts_still_parse(text, cents):
    if cents is None:
        with pytest.raises(MoneyError):
            Money.parse(text)
    else:
        assert Money.parse(text) == Money(cents)
