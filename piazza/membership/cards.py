"""Card numbers: unique per year (database constraint), hard to guess, with a check digit.

Random numbers instead of a per-year counter so that thousands of joins on deadline day do
not serialise on one counter row (PERFORMANCE P8); a collision is retried.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.core import signing
from stdnum import luhn

if TYPE_CHECKING:
    from piazza.membership.models import Membership

CARD_DIGITS = 8


def new_card_number(year: int) -> str:
    """e.g. `26-4817 2203-5`: two year digits, 8 random digits, a Luhn check digit."""
    body = f"{year % 100:02d}{secrets.randbelow(10**CARD_DIGITS):0{CARD_DIGITS}d}"
    return body + luhn.calc_check_digit(body)


def is_valid_card_number(value: str) -> bool:
    digits = "".join(ch for ch in value if ch.isdigit())
    return len(digits) == CARD_DIGITS + 3 and luhn.is_valid(digits)


def display(card_number: str) -> str:
    d = card_number
    return f"{d[:2]}-{d[2:6]} {d[6:10]}-{d[10:]}" if len(d) == CARD_DIGITS + 3 else d


# The signed link to a member's card and application status; views and the card email both build it,
# so it lives here rather than in views (nothing imports views: ARCHITECTURE.md, tests/test_import_contracts.py).
CARD_SALT = "membership.card"


def card_token(membership: Membership) -> str:
    """The signed token of the member's card page (`membership:card`); also used by Il mio spazio."""
    return signing.dumps(membership.pk, salt=CARD_SALT)
