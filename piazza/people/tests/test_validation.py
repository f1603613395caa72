"""Rule D4: the fast path of `normalise_email` says what `email_validator` says, word for word."""

import pytest
from email_validator import EmailNotValidError, validate_email

from piazza.people.validation import normalise_email

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
