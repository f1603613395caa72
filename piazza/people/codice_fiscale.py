"""Codice fiscale (rule D1): validation, omocodia-canonical form, consistency with the record.

The name codes and the place table come from `python-codicefiscale` (ANPR data keyed by
Belfiore code). The check letter is computed here from the published tables (D.M. 23/12/1976,
ADR 0035): the library's `encode_cin` and `decode()` cost 0.1–1 ms a code, most of an import
row's validation at a million rows (P6); `tests/test_codice_fiscale.py` checks ours against the
library's on thousands of codes. Place look-ups are cached.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from codicefiscale import codicefiscale as cflib
from django.utils import timezone
from django.utils.translation import gettext as _

MONTH_LETTERS = "ABCDEHLMPRST"
# Rule D1: positions (0-based) where omocodia replaces a digit with a letter.
OMOCODIA_POSITIONS = (6, 7, 9, 10, 12, 13, 14)
OMOCODIA_LETTERS = "LMNPQRSTUV"
_TO_DIGIT = str.maketrans(OMOCODIA_LETTERS, "0123456789")
# The shape of a code, upper case as `clean_code` makes it: where digits go, a digit or its
# omocodia letter (any other letter there cannot be read as a date or place).
CODE_SHAPE = re.compile(r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]")
# Check letter (D.M. 23/12/1976): characters in odd places (1st, 3rd, …) count by this table,
# those in even places by their rank (digits 0–9, letters A=0 … Z=25); the sum modulo 26 is the letter.
_ODD_DIGITS = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21)  # 0–9, and A–J count the same
_ODD = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        (*_ODD_DIGITS, *_ODD_DIGITS, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23),
        strict=True,
    )
)
_EVEN = {**{str(d): d for d in range(10)}, **{chr(65 + i): i for i in range(26)}}


def check_letter(root: str) -> str:
    """The 16th character of a code whose first 15 (upper case) are `root`."""
    total = sum(map(_ODD.__getitem__, root[0::2])) + sum(map(_EVEN.__getitem__, root[1::2]))
    return chr(65 + total % 26)


@dataclass
class CodiceFiscaleResult:
    """What a code says, and every problem found (Italian messages, ready to show)."""

    code: str
    canonical: str = ""
    sex: str = ""
    birth_date: dt.date | None = None
    belfiore: str = ""
    place_name: str = ""
    place_is_foreign: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors


def clean_code(value: str | None) -> str:
    return "".join((value or "").split()).upper()


def canonical_codice_fiscale(value: str) -> str:
    """The omocodia-free form (letters at the omocodia positions back to digits, check recomputed).

    Two codes of the same person (rule D1) have the same canonical form. Input that is not
    16 characters comes back cleaned but otherwise untouched.
    """
    code = clean_code(value)
    if len(code) != 16:
        return code
    chars = list(code)
    for pos in OMOCODIA_POSITIONS:
        chars[pos] = chars[pos].translate(_TO_DIGIT)
    root = "".join(chars[:15])
    return root + check_letter(root)


@functools.lru_cache(maxsize=20000)
def _lastname_code(name: str) -> str:
    return str(cflib.encode_lastname(name))


@functools.lru_cache(maxsize=20000)
def _firstname_code(name: str) -> str:
    return str(cflib.encode_firstname(name))


@functools.lru_cache(maxsize=20000)
def _place(belfiore: str) -> dict[str, Any] | None:
    # The library's own place table (ANPR comuni and foreign countries, with history).
    return cflib._get_birthplace(belfiore)


def validate_codice_fiscale(value: str | None) -> CodiceFiscaleResult:
    """Check format, check letter, birth date and place code; decode what can be decoded."""
    code = clean_code(value)
    result = CodiceFiscaleResult(code=code)
    if not code:
        result.errors.append(_("Il codice fiscale è vuoto."))
        return result
    if len(code) != 16:
        result.errors.append(
            _("Il codice fiscale deve avere 16 caratteri, questo ne ha %(n)d: controlla di averlo copiato per intero.")
            % {"n": len(code)}
        )
        return result
    if not CODE_SHAPE.fullmatch(code):
        result.errors.append(
            _(
                "Il codice fiscale «%(code)s» non ha la forma giusta (6 lettere, 2 cifre, una lettera del mese, "
                "2 cifre, il codice del luogo e una lettera di controllo)."
            )
            % {"code": code}
        )
        return result
    expected = check_letter(code[:15])
    if expected != code[15]:
        result.errors.append(
            _(
                "La lettera di controllo del codice fiscale è «%(found)s» ma dovrebbe essere «%(expected)s»: "
                "probabilmente c'è un errore di battitura in uno dei caratteri."
            )
            % {"found": code[15], "expected": expected}
        )
    # Without omocodia letters (nearly every code) the code is its own canonical form (P6: no
    # second check letter computed).
    plain = code[6:8].isdigit() and code[9:11].isdigit() and code[12:15].isdigit()
    canonical = code if plain and expected == code[15] else canonical_codice_fiscale(code)
    result.canonical = canonical
    year = int(canonical[6:8])
    month = MONTH_LETTERS.index(canonical[8]) + 1
    day = int(canonical[9:11])
    result.sex = "F" if day > 40 else "M"
    if day > 40:
        day -= 40
    # The Italian calendar's year; `localdate()` reads the active time zone through a slow
    # thread-local on every call, the default zone is the same for a code.
    this_year = timezone.localtime(timezone.now(), timezone.get_default_timezone()).year
    century = 2000 if 2000 + year <= this_year else 1900
    try:
        result.birth_date = dt.date(century + year, month, day)
    except ValueError:
        result.errors.append(
            _(
                "La data di nascita nel codice fiscale non esiste (giorno %(day)d del mese %(month)d): "
                "controlla le cifre del giorno e la lettera del mese."
            )
            % {"day": day, "month": month}
        )
    result.belfiore = canonical[11:15]
    place = _place(result.belfiore)
    if place is None:
        result.errors.append(
            _("Il codice del luogo di nascita «%(code)s» non corrisponde a nessun comune o stato estero.")
            % {"code": result.belfiore}
        )
    else:
        result.place_name = str(place.get("name", ""))
        result.place_is_foreign = place.get("province") == "EE"
    return result


def consistency_problems(
    result: CodiceFiscaleResult,
    *,
    first_name: str = "",
    last_name: str = "",
    sex: str = "",
    birth_date: dt.date | None = None,
    birth_belfiore: str = "",
    birth_place_label: str = "",
) -> list[str]:
    """Where a (syntactically valid) code disagrees with the record, each difference explained."""
    problems: list[str] = []
    if not result.canonical:
        return problems
    code = result.canonical
    if last_name and _lastname_code(last_name) != code[0:3]:
        problems.append(
            _("Il cognome nel codice fiscale è «%(code)s», ma dal cognome «%(name)s» risulterebbe «%(expected)s».")
            % {"code": code[0:3], "name": last_name, "expected": _lastname_code(last_name)}
        )
    if first_name and _firstname_code(first_name) != code[3:6]:
        problems.append(
            _("Il nome nel codice fiscale è «%(code)s», ma dal nome «%(name)s» risulterebbe «%(expected)s».")
            % {"code": code[3:6], "name": first_name, "expected": _firstname_code(first_name)}
        )
    if sex and result.sex and sex != result.sex:
        problems.append(
            _("Il sesso nel codice fiscale è %(code)s, la scheda dice %(record)s.")
            % {"code": result.sex, "record": sex}
        )
    if birth_date and result.birth_date:
        same = (birth_date.month, birth_date.day, birth_date.year % 100) == (
            result.birth_date.month,
            result.birth_date.day,
            result.birth_date.year % 100,
        )
        if not same:
            shown = result.birth_date
            if shown.year % 100 == birth_date.year % 100:
                shown = shown.replace(year=birth_date.year)
            problems.append(
                _("La data di nascita nel codice è %(code)s, la scheda dice %(record)s.")
                % {"code": shown.strftime("%d/%m/%Y"), "record": birth_date.strftime("%d/%m/%Y")}
            )
    if birth_belfiore and result.belfiore and birth_belfiore.upper() != result.belfiore:
        problems.append(
            _("Il luogo di nascita nel codice è %(code)s (%(belfiore)s), la scheda dice %(record)s.")
            % {
                "code": result.place_name or result.belfiore,
                "belfiore": result.belfiore,
                "record": birth_place_label or birth_belfiore,
            }
        )
    return problems


def disagreeing_birth_date(result: CodiceFiscaleResult, birth_date: dt.date | None) -> dt.date | None:
    """The birth date the code says, when it differs from `birth_date` (None when they agree or
    either is missing). The century follows the record's when the two-digit years match, else
    the one the library reads."""
    if not (birth_date and result.birth_date):
        return None
    code = result.birth_date
    if (birth_date.month, birth_date.day, birth_date.year % 100) == (code.month, code.day, code.year % 100):
        return None
    if code.year % 100 == birth_date.year % 100:
        with contextlib.suppress(ValueError):  # 29 February in a year without it
            code = code.replace(year=birth_date.year)
    return code


def make_codice_fiscale(*, first_name: str, last_name: str, sex: str, birth_date: dt.date, belfiore: str) -> str:
    """A valid code for these data (demo data, tests), built from the library's encoders."""
    day = birth_date.day + (40 if sex == "F" else 0)
    root = (
        _lastname_code(last_name)
        + _firstname_code(first_name)
        + f"{birth_date.year % 100:02d}{MONTH_LETTERS[birth_date.month - 1]}{day:02d}"
        + belfiore.upper()
    )
    return root + check_letter(root)
