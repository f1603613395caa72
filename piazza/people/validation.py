"""Input cleaning shared by the edit form, the import and the actions (rules D1, D2, D4).

`clean_person_data` turns loosely typed input (a form, a spreadsheet row, an API payload) into
the values stored on a `Person`, collecting one Italian message per problem, keyed by field,
so the caller can say which field is wrong and what to do.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from django.utils import timezone
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email

from piazza.people.codice_fiscale import (
    clean_code,
    consistency_problems,
    disagreeing_birth_date,
    validate_codice_fiscale,
)
from piazza.people.models import Citizenship, Sex
from piazza.territory.models import Comune

SEX_WORDS = {
    "m": Sex.MALE,
    "maschio": Sex.MALE,
    "uomo": Sex.MALE,
    "male": Sex.MALE,
    "f": Sex.FEMALE,
    "femmina": Sex.FEMALE,
    "donna": Sex.FEMALE,
    "female": Sex.FEMALE,
}
CITIZENSHIP_WORDS = {
    "italiana": Citizenship.ITALIAN,
    "italia": Citizenship.ITALIAN,
    "it": Citizenship.ITALIAN,
    "italian": Citizenship.ITALIAN,
    "ue": Citizenship.EU,
    "eu": Citizenship.EU,
    "europea": Citizenship.EU,
    "extra ue": Citizenship.NON_EU_PERMIT,
    "extraue": Citizenship.NON_EU_PERMIT,
    "non_eu_permit": Citizenship.NON_EU_PERMIT,
}
DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%d/%m/%y", "%Y/%m/%d")
EXCEL_EPOCH = dt.date(1899, 12, 30)


def search_name(first_name: str, last_name: str) -> str:
    """Lower-case, accent-free "surname name", the text that name search compares against."""
    text = f"{last_name} {first_name}".strip().lower()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text)


def _email_problem(exc: EmailNotValidError, value: str) -> str:
    """What is wrong with an address, in our Italian words (issue 11, item 14): the library's
    English message is only matched here, never shown."""
    text = str(exc).lower()
    if "must have an @-sign" in text:
        return _("manca la chiocciola @")
    if "something before the @-sign" in text:
        return _("manca il nome prima della @")
    if "something after the @-sign" in text:
        return _("manca il dominio dopo la @ (per esempio gmail.com)")
    if value.count("@") > 1:
        return _("contiene più di una @")
    if "two periods in a row" in text:
        return _("contiene due punti di seguito")
    if "period" in text and ("start" in text or "end" in text or "immediately" in text):
        return _("ha un punto all'inizio, alla fine o accanto alla @")
    if "should have a period" in text or "top-level domain" in text:
        return _("il dominio dopo la @ è incompleto (per esempio manca «.it» o «.com»)")
    if "hyphen" in text:
        return _("il dominio dopo la @ non può iniziare o finire con un trattino")
    if "too long" in text:
        return _("è troppo lungo")
    if "invalid characters" in text or "not allowed" in text or "not valid" in text:
        return _("contiene spazi o caratteri non ammessi")
    return _("non è scritto come un indirizzo email (nome@dominio.it)")


# A plain local part (letters, digits, "._+-", no dot at either end or twice in a row): what
# `email_validator` accepts unchanged, so only the domain needs the library (P6).
_PLAIN_LOCAL = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*")


@functools.lru_cache(maxsize=4096)
def _checked_domain(domain: str) -> str | None:
    """The library's normalised form of `domain` (lower case), None if it refuses it. An import
    meets the same few domains (gmail.com, libero.it) thousands of times."""
    try:
        return str(validate_email("x@" + domain, check_deliverability=False).domain).lower()
    except EmailNotValidError:
        return None


def normalise_email(value: str) -> str:
    """Rule D4: the normalised address, or ValueError with a message saying what is wrong.

    A plain address (the usual one) is checked with its domain's cached verdict; anything else,
    and every refusal with its message, goes through `email_validator` whole."""
    text = value.strip().lower()
    local, at, domain = text.rpartition("@")
    if at and len(text) <= 254 and len(local) <= 64 and _PLAIN_LOCAL.fullmatch(local):
        checked = _checked_domain(domain)
        if checked is not None:
            return f"{local}@{checked}"
    try:
        info = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(
            _("L'indirizzo email «%(value)s» non è valido: %(why)s. Correggilo o lascialo vuoto.")
            % {"value": value.strip(), "why": _email_problem(exc, value.strip())}
        ) from exc
    return str(info.normalized).lower()


def normalise_phone(value: str) -> str:
    """Rule D4: E.164, Italian numbers assumed when there is no international prefix."""
    return _normalised_phone(value.strip())


@functools.lru_cache(maxsize=65536)
def _normalised_phone(value: str) -> str:
    """Per distinct value (P6: ~0.15 ms of `phonenumbers` each; a re-import, or a file listing a
    family's landline on every row, meets the same values again). Refusals are not cached."""
    raw = value
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    fast = _plain_italian(raw)
    if fast is not None:
        return fast
    try:
        number = phonenumbers.parse(raw, "IT")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(
            _(
                "Il numero di telefono «%(value)s» non è leggibile: scrivilo con sole cifre, "
                "con il prefisso internazionale se non è italiano (es. +41 …)."
            )
            % {"value": value}
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            _(
                "Il numero di telefono «%(value)s» non esiste nel piano di numerazione: controlla le cifre "
                "e il prefisso."
            )
            % {"value": value}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# The Italian numbering plan as `phonenumbers` itself holds it (ADR 0045): a number written as
# digits and separators, with or without +39, is valid when its digits fit the plan's general
# shape and its mobile or fixed-line shape, and its E.164 form is then +39 and those digits (an
# Italian landline keeps its leading 0). Anything else (other countries, other kinds of line, a
# refusal and its words) goes through the library. `test_validation` checks both agree.
_ITALY = phonenumbers.PhoneMetadata.metadata_for_region("IT")
assert _ITALY is not None  # the library ships the Italian plan
_PLAIN_DIGITS = re.compile(r"(?:\+39[ ./-]?)?([0-9]+(?:[ ./-][0-9]+)*)")
_NOT_DIGIT = re.compile(r"[^0-9]")


def _shape(desc: Any) -> tuple[frozenset[int], re.Pattern[str]]:
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


_GENERAL = _shape(_ITALY.general_desc)
_LINES = (_shape(_ITALY.mobile), _shape(_ITALY.fixed_line))


def _plain_italian(raw: str) -> str | None:
    """Rule D4: E.164 of an Italian mobile or landline written plainly, None when the library must say."""
    shape = _PLAIN_DIGITS.fullmatch(raw)
    if shape is None:
        return None
    digits = _NOT_DIGIT.sub("", shape.group(1))
    lengths, pattern = _GENERAL
    if len(digits) not in lengths or not pattern.fullmatch(digits):
        return None
    for lengths, pattern in _LINES:
        if len(digits) in lengths and pattern.fullmatch(digits):
            return "+39" + digits
    return None


def _today() -> dt.date:
    """Today in Italy: `localdate()` reads the active time zone through a slow thread-local on
    every call, and the default zone is the one that matters for a birth date."""
    return timezone.localtime(timezone.now(), timezone.get_default_timezone()).date()


def parse_date(value: Any) -> dt.date:
    """Dates as found in spreadsheets: Italian formats, ISO, Excel serial numbers, datetime."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return EXCEL_EPOCH + dt.timedelta(days=int(value))
    text = str(value).strip()
    day, _slash, rest = text.partition("/")
    month, _slash, year = rest.partition("/")
    if len(year) == 4 and day.isdigit() and month.isdigit() and year.isdigit():  # 12/03/1985, most files
        with contextlib.suppress(ValueError):  # 31/02/1985: said in the words below
            return dt.date(int(year), int(month), int(day))
    if re.fullmatch(r"\d{5}(\.0+)?", text):  # Excel serial date exported as text
        return EXCEL_EPOCH + dt.timedelta(days=int(float(text)))
    text = text.split(" ")[0]
    for fmt in DATE_FORMATS:
        try:
            parsed = dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007 -- a calendar date, no instant
        except ValueError:
            continue
        if fmt.endswith("%y") and parsed.year > timezone.localdate().year:
            parsed = parsed.replace(year=parsed.year - 100)
        return parsed
    raise ValueError(
        _("La data «%(value)s» non è leggibile: scrivila come giorno/mese/anno, per esempio 12/03/1985.")
        % {"value": text}
    )


# An import looks the same few comuni up thousands of times: inside `comune_cache()` each value
# is read once. Outside it every look-up queries, so no stale row outlives the work that read it.
_CACHE: contextvars.ContextVar[dict[str, Comune | None] | None] = contextvars.ContextVar(
    "people_comune_cache", default=None
)


@contextlib.contextmanager
def comune_cache() -> Iterator[None]:
    token = _CACHE.set({})
    try:
        yield
    finally:
        _CACHE.reset(token)


def _cached(key: str, load: Callable[[], Comune | None]) -> Comune | None:
    cache = _CACHE.get()
    if cache is None:
        return load()
    if not cache:
        # First use: every comune in memory once (~8,000 rows), by name too, so a file naming
        # thousands of different comuni costs one query instead of thousands of scans.
        names: dict[str, list[Comune]] = {}
        for comune in Comune.objects.all():
            cache["istat:" + comune.istat_code] = comune
            if comune.valid_to is None:
                cache["belfiore:" + comune.belfiore] = comune
            names.setdefault(_comune_key(comune.name), []).append(comune)
        for name, found in names.items():
            if len(found) == 1:
                cache["name:" + name] = found[0]
        cache["loaded:"] = None
    if key not in cache:
        cache[key] = load()
    return cache[key]


@functools.lru_cache(maxsize=32768)
def _comune_key(value: str) -> str:
    """A name folded for comparison (pure: cached, the ~8,000 names of the ISTAT list are folded
    once per process, not once per import batch)."""
    text = unicodedata.normalize("NFKD", value.strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"\s*\([a-z]{2}\)\s*$", "", text)  # "Bologna (BO)"
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def find_comune(value: Any) -> Comune:
    """A comune from its ISTAT code, Belfiore code or name (rule D2); ValueError if unknown."""
    if isinstance(value, Comune):
        return value
    text = str(value).strip()
    cache = _CACHE.get()
    key = "text:" + text
    if cache is not None and key in cache:  # the same spelling again: no pattern, no name folding (P6)
        comune = cache[key]
    else:
        comune = _find_comune(text)
        if cache is not None:
            cache[key] = comune
    if comune is None:
        raise ValueError(
            _("Il comune «%(value)s» non è nell'elenco ISTAT: controlla il nome o usa il codice ISTAT a 6 cifre.")
            % {"value": text}
        )
    return comune


def _find_comune(text: str) -> Comune | None:
    comune: Comune | None
    if re.fullmatch(r"\d{5,6}", text):
        code = text.zfill(6)
        comune = _cached("istat:" + code, lambda: Comune.objects.filter(istat_code=code).first())
    elif re.fullmatch(r"[A-Za-z]\d{3}", text):
        code = text.upper()
        comune = _cached(
            "belfiore:" + code, lambda: Comune.objects.filter(belfiore=code, valid_to__isnull=True).first()
        )
    else:
        comune = _cached("name:" + _comune_key(text), lambda: _comune_by_name(text))
    return comune


def _comune_by_name(text: str) -> Comune | None:
    key = _comune_key(text)
    candidates = list(Comune.objects.filter(name__iexact=text.split("(")[0].strip()))
    if not candidates:
        candidates = [c for c in Comune.objects.filter(name__istartswith=key[:3]) if _comune_key(c.name) == key]
    if len(candidates) > 1:  # a merged comune and the new one of the same name: the one in force
        in_force = [c for c in candidates if c.valid_to is None]
        candidates = in_force if len(in_force) == 1 else candidates
    if len(candidates) > 1:
        raise ValueError(_("Ci sono più comuni di nome «%(value)s»: indica il codice ISTAT.") % {"value": text})
    return candidates[0] if candidates else None


@dataclass
class CleanedPerson:
    values: dict[str, Any] = field(default_factory=dict)
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Set instead of an error when the caller keeps rows whose code disagrees with the birth
    # date (the import, issue 11 item 14): the date the code says, to be reviewed.
    code_birth_date: dt.date | None = None

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


TAG_MAX_LENGTH = 60  # Tag.name


TEXT_FIELDS = (
    "first_name",
    "last_name",
    "birth_country",
    "residence_street",
    "residence_cap",
    "domicile_street",
    "domicile_cap",
    "notes",
)


def clean_person_data(data: dict[str, Any], *, partial: bool = False, flag_birth_date: bool = False) -> CleanedPerson:
    """Validate and normalise one person's data. `partial` skips required-field checks (updates).

    `flag_birth_date` (the import) keeps a codice fiscale that disagrees only with the birth date
    on the row: instead of an error, `code_birth_date` says what the code reads, for review (D1)."""
    out = CleanedPerson()
    for name in TEXT_FIELDS:
        if name in data and data[name] is not None:
            out.values[name] = " ".join(str(data[name]).split()) if name != "notes" else str(data[name]).strip()
    for name in ("first_name", "last_name"):
        if not partial and not out.values.get(name):
            out.add_error(name, _("Il campo è obbligatorio: inseriscilo."))
    for name in ("residence_cap", "domicile_cap"):
        cap = out.values.get(name, "")
        if cap and not re.fullmatch(r"\d{5}", cap):
            out.add_error(name, _("Il CAP «%(value)s» deve avere 5 cifre.") % {"value": cap})
    if data.get("sex"):
        sex = SEX_WORDS.get(str(data["sex"]).strip().lower())
        if sex is None:
            out.add_error("sex", _("Sesso «%(value)s» non riconosciuto: usa M o F.") % {"value": data["sex"]})
        else:
            out.values["sex"] = sex
    if data.get("citizenship"):
        citizenship = CITIZENSHIP_WORDS.get(str(data["citizenship"]).strip().lower())
        if citizenship is None:
            out.add_error(
                "citizenship",
                _("Cittadinanza «%(value)s» non riconosciuta: usa italiana, UE o extra UE.")
                % {"value": data["citizenship"]},
            )
        else:
            out.values["citizenship"] = citizenship
    if data.get("birth_date"):
        try:
            birth = parse_date(data["birth_date"])
            if birth > _today() or birth.year < 1900:
                raise ValueError(
                    _("La data di nascita %(value)s non è plausibile.") % {"value": birth.strftime("%d/%m/%Y")}
                )
            out.values["birth_date"] = birth
        except ValueError as exc:
            out.add_error("birth_date", str(exc))
    for name in ("birth_comune", "residence_comune", "domicile_comune"):
        if data.get(name):
            try:
                out.values[name] = find_comune(data[name])
            except ValueError as exc:
                out.add_error(name, str(exc))
        elif name in data:
            out.values[name] = None
    for raw in _as_list(data.get("emails")):
        try:
            value = normalise_email(raw)
        except ValueError as exc:
            out.add_error("emails", str(exc))
        else:
            if value not in out.emails:
                out.emails.append(value)
    for raw in _as_list(data.get("phones")):
        try:
            value = normalise_phone(raw)
        except ValueError as exc:
            out.add_error("phones", str(exc))
        else:
            if value not in out.phones:
                out.phones.append(value)
    out.tags = [t.strip() for t in _as_list(data.get("tags")) if t.strip()]
    for tag in out.tags:
        if len(tag) > TAG_MAX_LENGTH:  # said in words: a cut tag would be a different tag (issue 14)
            out.add_error(
                "tags",
                _("L'etichetta «%(value)s…» è troppo lunga (massimo %(max)d caratteri): accorciala.")
                % {"value": tag[:20], "max": TAG_MAX_LENGTH},
            )
    if "codice_fiscale" in data:
        code = clean_code(data.get("codice_fiscale"))
        out.values["codice_fiscale"] = code
        out.values["codice_fiscale_canonical"] = ""
        if code:
            _check_codice_fiscale(code, data, out, flag_birth_date=flag_birth_date)
    return out


def _check_codice_fiscale(
    code: str, data: dict[str, Any], out: CleanedPerson, *, flag_birth_date: bool = False
) -> None:
    result = validate_codice_fiscale(code)
    for message in result.errors:
        out.add_error("codice_fiscale", message)
    if result.errors:
        return
    out.values["codice_fiscale_canonical"] = result.canonical
    birth_comune = out.values.get("birth_comune")
    flagged = disagreeing_birth_date(result, out.values.get("birth_date")) if flag_birth_date else None
    problems = consistency_problems(
        result,
        first_name=out.values.get("first_name", ""),
        last_name=out.values.get("last_name", ""),
        sex=out.values.get("sex", ""),
        birth_date=None if flagged else out.values.get("birth_date"),
        birth_belfiore=birth_comune.belfiore if birth_comune else "",
        birth_place_label=str(birth_comune) if birth_comune else "",
    )
    if problems and not data.get("accept_inconsistent_codice_fiscale"):
        for message in problems:
            out.add_error("codice_fiscale", message)
    elif flagged:
        out.code_birth_date = flagged
    # Fill what the code tells and the record does not say.
    if not out.values.get("sex") and "sex" not in out.errors:
        out.values["sex"] = result.sex
    if not out.values.get("birth_date") and "birth_date" not in out.errors and result.birth_date:
        out.values["birth_date"] = result.birth_date


def _as_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [part for part in re.split(r"[;,\n]", value) if part.strip()]
    return [str(v) for v in value if v]
