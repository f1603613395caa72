"""Rule D4: the fast paths of `normalise_email` and `normalise_phone` say what `email_validator`
and `phonenumbers` say, word for word."""

import random

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email

from piazza.people.validation import _plain_italian, normalise_email, normalise_phone

ADDRESSES = [
    "Mario.Rossi@Libero.it",
    "  anna_bianchi+iscritti@gmail.com ",
    "a@b.co",
    "luca-verdi@sub.dominio.example.org",
    "x" * 64 + "@libero.it",
    "x" * 65 + "@libero.it",
    "mario.rossi@" + "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + ".it",
    "mario.rossi@" + "a" * 64 + ".it",
    "mario..rossi@libero.it",
    ".mario@libero.it",
    "mario.@libero.it",
    "mario rossi@libero.it",
    "mario.rossi@@libero",
    "mario.rossi@libero",
    "mario.rossi@localhost",
    "mario.rossi@-libero.it",
    "mario.rossi@libero..it",
    "mario.rossi@libero.it.",
    "mario.rossi@123.456",
    "mario@test",
    "mario@esempio.invalid",
    "mario.rossi@xn--citt-5qa.it",
    "mario.rossi@città.it",
    "mària@libero.it",
    '"mario rossi"@libero.it',
    "mario!rossi@libero.it",
    "@libero.it",
    "mario@",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_fast_path_agrees_with_the_library(address):
    try:
        expected = str(validate_email(address.strip(), check_deliverability=False).normalized).lower()
    except EmailNotValidError:
        with pytest.raises(ValueError, match="non è valido"):
            normalise_email(address)
    else:
        assert normalise_email(address) == expected


def _library_e164(value: str) -> str | None:
    """What `phonenumbers` alone says of a number (rule D4), None when it refuses it."""
    raw = "+" + value[2:] if value.startswith("00") else value
    try:
        number = phonenumbers.parse(raw, "IT")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _generated_numbers(count: int) -> list[str]:
    """Numbers as circoli type them: mobiles and landlines of every length around the valid ones,
    with and without +39/0039, spaces, dots, dashes and slashes, other countries' prefixes."""
    rnd = random.Random(14)
    numbers = []
    for _ in range(count):
        digits = rnd.choice("3333330000123456789") + "".join(
            rnd.choice("0123456789") for _ in range(rnd.randint(3, 12))
        )
        if rnd.random() < 0.5:
            cut = rnd.randint(1, len(digits) - 1)
            digits = digits[:cut] + rnd.choice(" ./-") + digits[cut:]
        numbers.append(rnd.choice(["", "", "", "+39", "+39 ", "0039", "0039 ", "39", "+41 ", "+3", "+390"]) + digits)
    return numbers


def test_the_phone_fast_path_agrees_with_the_library():
    """ADR 0045: the plain-Italian path gives the library's E.164, or leaves the number to it."""
    numbers = _generated_numbers(30_000)
    fast = 0
    for value in numbers:
        raw = "+" + value[2:] if value.startswith("00") else value
        mine = _plain_italian(raw)
        if mine is not None:
            fast += 1
            assert mine == _library_e164(value), value
        expected = _library_e164(value)
        if expected is None:
            with pytest.raises(ValueError, match="telefono"):
                normalise_phone(value)
        else:
            assert normalise_phone(value) == expected, value
    assert fast > 3_000  # the path is taken, for mobiles and landlines alike
    assert _plain_italian("347 1234567") == "+393471234567"
    assert _plain_italian("051 6543210") == "+390516543210"
    assert _plain_italian("+41 44 668 18 00") is None
