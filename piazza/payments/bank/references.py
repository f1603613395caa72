"""ISO 11649 structured creditor references ("RF" references) for expected bank transfers.

A donor types or pastes the reference into the transfer's remittance field; banks carry it
through to our CAMT statement, where it matches the line to the expected payment without
any guessing. The check digits (ISO 7064 mod 97-10, via python-stdnum) catch typos.
"""

from __future__ import annotations

import re

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

MAX_BODY = 21  # ISO 11649: at most 25 characters including "RF" and the two check digits
_CANDIDATE = re.compile(r"RF\d{2}")


def creditor_reference(body: str) -> str:
    """Build the compact reference "RFkk<body>" for an alphanumeric body."""
    body = "".join(body.split()).upper()
    if not body or len(body) > MAX_BODY or not body.isalnum() or not body.isascii():
        raise ValueError(f"an RF reference body is 1–{MAX_BODY} ASCII letters or digits, got {body!r}")
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def reference_for(prefix: str, number: int) -> str:
    """A deterministic reference from one of our own ids: prefix + zero-padded number."""
    return creditor_reference(f"{prefix}{number:08d}")


def is_valid_reference(value: str) -> bool:
    return bool(iso11649.is_valid(value or ""))


def compact_reference(value: str) -> str:
    return str(iso11649.compact(value or ""))


def format_reference(value: str) -> str:
    """Groups of four, as printed on a payment slip: RF18 5390 0754 7034."""
    return str(iso11649.format(value))


def find_references(text: str) -> list[str]:
    """Every valid RF reference written in a free-text remittance field, compact, in order.

    Banks and donors insert spaces ("RF18 5390 0754 7034") or glue words to it, so from each
    "RFkk" we take the longest run of letters/digits/single spaces that validates.
    """
    upper = (text or "").upper()
    found: list[str] = []
    for match in _CANDIDATE.finditer(upper):
        chars: list[str] = []
        position = match.start()
        while position < len(upper) and len(chars) < 4 + MAX_BODY:
            char = upper[position]
            if char.isascii() and char.isalnum():
                chars.append(char)
            elif char == " " and position + 1 < len(upper) and upper[position + 1] != " ":
                pass
            else:
                break
            position += 1
        for end in range(len(chars), 4, -1):
            candidate = "".join(chars[:end])
            if iso11649.is_valid(candidate):
                if candidate not in found:
                    found.append(candidate)
                break
    return found
