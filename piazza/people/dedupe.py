"""Duplicate detection: exact on codice fiscale (any omocodia form, rule D1), email and phone;
fuzzy on name + birth date (+ comune) with rapidfuzz.

An on-write check looks up only indexed columns (canonical code, email, phone, birth date), all
in one statement (`fetch_candidates`, P7), so it stays one round trip of index look-ups at any
size. The full pass walks people ordered by birth date and compares names only inside each birth
date, which keeps it linear in practice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from piazza.people.models import Email, Person, Phone

# Open parameter (no rule fixes it): how similar two names must be to call them a likely pair.
DEFAULT_NAME_THRESHOLD = 85


def name_threshold() -> int:
    return int(getattr(settings, "PEOPLE_DUPLICATE_NAME_THRESHOLD", DEFAULT_NAME_THRESHOLD))


@dataclass
class Match:
    person_id: int
    score: int = 0
    reasons: list[str] = field(default_factory=list)
    # Strong: the same human beyond reasonable doubt (same code, or contact + similar name, or
    # same name + birth date + comune, the last two only when no code or birth date disagrees:
    # see `_disagree`). Weak matches go to the review queue.
    strong: bool = False

    def add(self, score: int, reason: str) -> None:
        self.score = min(100, self.score + score)
        if reason not in self.reasons:
            self.reasons.append(reason)


@dataclass
class Probe:
    """What we know about a (possibly unsaved) person, for matching."""

    first_name: str = ""
    last_name: str = ""
    birth_date: dt.date | None = None
    codice_fiscale_canonical: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    comune_ids: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, person: Person) -> Probe:
        return cls(
            first_name=person.first_name,
            last_name=person.last_name,
            birth_date=person.birth_date,
            codice_fiscale_canonical=person.codice_fiscale_canonical,
            emails=[e.value for e in person.emails.all()],
            phones=[p.value for p in person.phones.all()],
            comune_ids={c for c in (person.birth_comune_id, person.residence_comune_id) if c},
        )


def name_similarity(a_first: str, a_last: str, b_first: str, b_last: str) -> float:
    """Order-insensitive name similarity (0-100): "Rossi Mario" = "Mario Rossi"."""
    return float(fuzz.token_sort_ratio(f"{a_last} {a_first}".lower(), f"{b_last} {b_first}".lower()))


@dataclass
class Known:
    """An existing person as the matcher sees it (or, with a negative id, one about to be created
    by the same import chunk)."""

    pk: int
    first_name: str
    last_name: str
    birth_date: dt.date | None
    comune_ids: set[int]
    territory_path: str = ""
    codice_fiscale_canonical: str = ""


def _reasons() -> dict[str, str]:
    """The reasons in the active language, translated once per pool (P6: `gettext` per row cost
    more than the matching itself)."""
    return {
        "code": _("stesso codice fiscale (anche in forma di omocodia)"),
        "email": _("stessa email %(value)s"),
        "phone": _("stesso telefono %(value)s"),
        "name": _("nome simile (%(score)d%%) e stessa data di nascita"),
        "comune": _("stesso comune"),
    }


@dataclass
class Pool:
    """Every active person that may match a set of probes, indexed by what they are matched on.
    Filled with four queries for a whole import chunk (`fetch_pool`), then matched in memory."""

    reasons: dict[str, str] = field(default_factory=_reasons)
    threshold: int = field(default_factory=name_threshold)
    people: dict[int, Known] = field(default_factory=dict)
    by_code: dict[str, list[int]] = field(default_factory=dict)
    by_email: dict[str, list[int]] = field(default_factory=dict)
    by_phone: dict[str, list[int]] = field(default_factory=dict)
    by_birth: dict[dt.date, list[int]] = field(default_factory=dict)

    def add(self, known: Known, *, code: str = "", emails: Iterable[str] = (), phones: Iterable[str] = ()) -> None:
        if known.pk not in self.people:
            self.people[known.pk] = known
            if known.birth_date is not None:
                self.by_birth.setdefault(known.birth_date, []).append(known.pk)
        if code:
            _append(self.by_code, code, known.pk)
        for value in emails:
            _append(self.by_email, value, known.pk)
        for value in phones:
            _append(self.by_phone, value, known.pk)


def _append(index: dict[Any, list[int]], key: Any, pk: int) -> None:
    ids = index.setdefault(key, [])
    if pk not in ids:
        ids.append(pk)


PERSON_VALUES = (
    "pk",
    "first_name",
    "last_name",
    "birth_date",
    "birth_comune_id",
    "residence_comune_id",
    "territory__path",
    "codice_fiscale_canonical",
)


# Up to this many birth dates (a small import chunk) the same-date people are read whole in one
# query; a bigger set (a full chunk) reads their names first (see `fetch_pool`).
WHOLE_ROWS_DATES = 16


def fetch_pool(probes: Iterable[Probe], *, exclude_id: int | None = None) -> Pool:
    """The candidates of all `probes` in at most five indexed queries (four for a few probes).
    None is ordered: the pool is a set of candidates, and `match` orders its answer (P7)."""
    probes = list(probes)
    codes = {p.codice_fiscale_canonical for p in probes if p.codice_fiscale_canonical}
    emails = {e for p in probes for e in p.emails}
    phones = {v for p in probes for v in p.phones}
    base = Person.objects.active().order_by()
    if exclude_id is not None:
        base = base.exclude(pk=exclude_id)
    pool = Pool()
    threshold = pool.threshold

    def known(row: tuple[Any, ...]) -> Known:
        pk, first, last, birth, birth_comune, residence_comune, path, code = row[:8]
        return Known(pk, first, last, birth, {c for c in (birth_comune, residence_comune) if c}, path, code)

    if codes:
        for row in base.filter(codice_fiscale_canonical__any=codes).values_list(*PERSON_VALUES):
            pool.add(known(row), code=row[7])
    names: dict[dt.date, list[str]] = {}
    for p in probes:
        if p.birth_date and (p.first_name or p.last_name):
            names.setdefault(p.birth_date, []).append(f"{p.last_name} {p.first_name}".lower())

    def similar(first: str, last: str, birth: dt.date | None) -> bool:
        """Whether `match` would call this person similar to a probe of the same date."""
        return any(
            fuzz.token_sort_ratio(name, f"{last} {first}".lower(), score_cutoff=threshold)
            for name in (names.get(birth, ()) if birth else ())
        )

    if 0 < len(names) <= WHOLE_ROWS_DATES:
        # A few dates (~40 people each at a million): whole, in one query.
        for row in base.filter(birth_date__any=names).values_list(*PERSON_VALUES):
            if similar(row[1], row[2], row[3]):
                pool.add(known(row))
    elif names:
        # An import chunk's ~2,000 dates hold ~80,000 people at a million: read only their names,
        # keep the similar ones and read those whole (P6: the whole rows of every same-date person
        # cost more than the rest of the chunk).
        ids = [
            pk
            for pk, first, last, birth in base.filter(birth_date__any=names).values_list(
                "pk", "first_name", "last_name", "birth_date"
            )
            if similar(first, last, birth)
        ]
        if ids:
            for row in base.filter(pk__any=ids).values_list(*PERSON_VALUES):
                pool.add(known(row))
    person_values = [f"person__{name}" if name != "pk" else "person_id" for name in PERSON_VALUES]
    if emails:
        for row in (
            Email.objects.filter(value__any=emails, person__in=base).order_by().values_list(*person_values, "value")
        ):
            pool.add(known(row), emails=[row[8]])
    if phones:
        for row in (
            Phone.objects.filter(value__any=phones, person__in=base).order_by().values_list(*person_values, "value")
        ):
            pool.add(known(row), phones=[row[8]])
    return pool


def _disagree(probe: Probe, other: Known) -> bool:
    """Whether something identifying differs: two codici fiscali in canonical form (rule D1: the
    omocodia forms of one code agree) or two birth dates. Then a shared contact or a namesake is a
    pair for the duplicates review, never the same human for certain (a family shares an e-mail)."""
    codes = probe.codice_fiscale_canonical, other.codice_fiscale_canonical
    dates = probe.birth_date, other.birth_date
    return (all(codes) and codes[0] != codes[1]) or (None not in dates and dates[0] != dates[1])


def match(probe: Probe, pool: Pool, *, exclude_id: int | None = None) -> list[Match]:
    """Every person of `pool` that may be the same human as `probe`, with the reasons, best first."""
    matches: dict[int, Match] = {}
    threshold = pool.threshold
    reasons = pool.reasons

    def get(pk: int) -> Match:
        return matches.setdefault(pk, Match(person_id=pk))

    if probe.codice_fiscale_canonical:
        for pk in pool.by_code.get(probe.codice_fiscale_canonical, ()):
            if pk == exclude_id:
                continue
            m = get(pk)
            m.add(100, reasons["code"])
            m.strong = True
    contacts: list[tuple[dict[str, list[int]], list[str], str]] = [
        (pool.by_email, probe.emails, reasons["email"]),
        (pool.by_phone, probe.phones, reasons["phone"]),
    ]
    for index, values, label in contacts:
        for value in values:
            for pk in index.get(value, ()):
                if pk == exclude_id:
                    continue
                other = pool.people[pk]
                similar = (
                    name_similarity(probe.first_name, probe.last_name, other.first_name, other.last_name) >= threshold
                )
                m = get(pk)
                m.add(60 if similar else 30, label % {"value": value})
                if similar and not _disagree(probe, other):
                    m.strong = True
    if probe.birth_date and (probe.first_name or probe.last_name):
        for pk in pool.by_birth.get(probe.birth_date, ()):
            if pk == exclude_id:
                continue
            other = pool.people[pk]
            similarity = name_similarity(probe.first_name, probe.last_name, other.first_name, other.last_name)
            if similarity < threshold:
                continue
            m = get(pk)
            m.add(int(similarity) // 2, reasons["name"] % {"score": similarity})
            if probe.comune_ids & other.comune_ids:
                m.add(20, reasons["comune"])
                if similarity >= 100 and not _disagree(probe, other):
                    m.strong = True
    return sorted(matches.values(), key=lambda m: (-m.strong, -m.score, m.person_id))


def find_matches(probe: Probe, *, exclude_id: int | None = None) -> list[Match]:
    """Every active person that may be the same human, with the reasons, best first (one
    statement, `fetch_candidates`)."""
    pool, _emails, _phones = fetch_candidates(probe, exclude_id=exclude_id)
    return match(probe, pool, exclude_id=exclude_id)


def find_matches_of(person: Person) -> list[Match]:
    """The on-write check (P7) of a saved person: as `find_matches(Probe.of(person))`, but its
    e-mails and phones are read from the database by the same statement as its candidates (one
    round trip instead of up to six; a prefetched or stale `person.emails` plays no part)."""
    probe = Probe(
        first_name=person.first_name,
        last_name=person.last_name,
        birth_date=person.birth_date,
        codice_fiscale_canonical=person.codice_fiscale_canonical,
        comune_ids={c for c in (person.birth_comune_id, person.residence_comune_id) if c},
    )
    pool, probe.emails, probe.phones = fetch_candidates(probe, exclude_id=person.pk, contacts_of=person.pk)
    return match(probe, pool, exclude_id=person.pk)


# `fetch_candidates`: one UNION ALL of index look-ups, each row tagged with the probe that found it
# (its kind) and, for a contact, the value shared. Written as SQL, not composed with the ORM: the
# same union through querysets cost ~3.8 ms of CPU to build and compile (ADRs 0041, 0034), as
# much as the whole check before. Columns: kind, value, rank (order of the person's own contacts), then
# the candidate as in PERSON_VALUES. Plain SQL that PostgreSQL and SQLite both run; no ORDER BY
# (the pool is a set, `match` orders its answer). The NULLs of the first branch are typed where
# a later branch has a number: PostgreSQL resolves a UNION's column types pair by pair.
_CANDIDATE = (
    "p.id, p.first_name, p.last_name, p.birth_date, p.birth_comune_id, p.residence_comune_id, t.path, "
    "p.codice_fiscale_canonical"
)
_NO_CANDIDATE = "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
_CONTACT_TABLES = {"e": "people_email", "p": "people_phone"}


def _candidates_sql(probe: Probe, *, exclude_id: int | None, contacts_of: int | None) -> tuple[list[str], list[Any]]:
    """The branches of the candidates statement and their parameters (every value a parameter;
    the SQL text holds only constants: table names, kinds, placeholders)."""
    branches: list[str] = []
    params: list[Any] = []

    def candidates(kind: str, value: str, joins: str, where: str, values: list[Any]) -> None:
        """People found by one probe: active, not the person checked, with their territory path."""
        others = "" if exclude_id is None else " AND p.id <> %s"
        branches.append(
            f"SELECT '{kind}', {value}, CAST(NULL AS bigint), {_CANDIDATE} FROM {joins} "  # noqa: S608 (constants)
            f"INNER JOIN territory_territory t ON t.id = p.territory_id "
            f"WHERE {where} AND p.merged_into_id IS NULL AND p.erased_at IS NULL{others}"
        )
        params.extend([*values, *([] if exclude_id is None else [exclude_id])])

    if probe.codice_fiscale_canonical:
        candidates("c", "NULL", "people_person p", "p.codice_fiscale_canonical = %s", [probe.codice_fiscale_canonical])
    if probe.birth_date and (probe.first_name or probe.last_name):
        candidates("b", "NULL", "people_person p", "p.birth_date = %s", [probe.birth_date])
    for kind, values in (("e", probe.emails), ("p", probe.phones)):
        table = _CONTACT_TABLES[kind]
        joins = f"{table} c INNER JOIN people_person p ON p.id = c.person_id"
        if contacts_of is not None:
            own = f"SELECT o.value FROM {table} o WHERE o.person_id = %s"  # noqa: S608 (constants)
            candidates(kind, "c.value", joins, f"c.value IN ({own})", [contacts_of])
        elif values:
            candidates(kind, "c.value", joins, f"c.value IN ({', '.join(['%s'] * len(values))})", list(values))
    if contacts_of is not None:
        for kind, table in _CONTACT_TABLES.items():
            # The person's own contacts, ranked primary first, then by id (their model ordering).
            branches.append(
                f"SELECT '{kind.upper()}', value, CASE WHEN \"primary\" THEN 0 ELSE id END, {_NO_CANDIDATE} "  # noqa: S608 (constants)
                f"FROM {table} WHERE person_id = %s"
            )
            params.append(contacts_of)
    return branches, params


def fetch_candidates(
    probe: Probe, *, exclude_id: int | None = None, contacts_of: int | None = None
) -> tuple[Pool, list[str], list[str]]:
    """The pool of one probe in ONE statement (P7, issue 14): same canonical code, same e-mail or
    phone, same birth date with a similar name, found as `fetch_pool` finds them. With
    `contacts_of` (a saved person) the probe's e-mails and phones are that person's in the
    database, read by the same statement and returned with the pool; else the probe's own."""
    pool = Pool()
    emails: list[tuple[int, str]] = []
    phones: list[tuple[int, str]] = []
    branches, params = _candidates_sql(probe, exclude_id=exclude_id, contacts_of=contacts_of)
    if not branches:
        return pool, list(probe.emails), list(probe.phones)
    name = f"{probe.last_name} {probe.first_name}".lower()
    threshold = pool.threshold
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(branches), params)
        rows = cursor.fetchall()
    for kind, value, rank, pk, first, last, birth, birth_comune, residence_comune, path, code in rows:
        if kind == "E" or kind == "P":
            (emails if kind == "E" else phones).append((rank, value))
            continue
        if isinstance(birth, str):  # SQLite without the column's declared type
            birth = dt.date.fromisoformat(birth)
        if kind == "b" and not fuzz.token_sort_ratio(name, f"{last} {first}".lower(), score_cutoff=threshold):
            continue  # not similar: `match` would skip it (as `fetch_pool` does)
        known = Known(pk, first, last, birth, {c for c in (birth_comune, residence_comune) if c}, path or "", code)
        if kind == "c":
            pool.add(known, code=code)
        elif kind == "e":
            pool.add(known, emails=[value])
        elif kind == "p":
            pool.add(known, phones=[value])
        else:
            pool.add(known)
    if contacts_of is None:
        return pool, list(probe.emails), list(probe.phones)
    return pool, [v for _r, v in sorted(emails)], [v for _r, v in sorted(phones)]


def fuzzy_pairs_by_birth_date(
    rows: Iterable[tuple[int, str, str, dt.date | None, int | None, int | None]],
) -> Iterator[tuple[int, int, int, list[str]]]:
    """The full pass: rows (pk, first, last, birth_date, birth_comune, residence_comune) sorted by
    birth date; yields (a, b, score, reasons) with a < b for likely pairs within each date."""
    threshold = name_threshold()
    group: list[tuple[int, str, str, dt.date | None, int | None, int | None]] = []
    current: dt.date | None = None

    def flush() -> Iterator[tuple[int, int, int, list[str]]]:
        if len(group) < 2:
            return
        names = [f"{r[2]} {r[1]}".lower() for r in group]
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                similarity = fuzz.token_sort_ratio(names[i], names[j], score_cutoff=threshold)
                if not similarity:
                    continue
                a, b = group[i], group[j]
                reasons = [_("nome simile (%(score)d%%) e stessa data di nascita") % {"score": similarity}]
                score = int(similarity) // 2
                if ({a[4], a[5]} - {None}) & {b[4], b[5]}:
                    reasons.append(_("stesso comune"))
                    score += 20
                yield min(a[0], b[0]), max(a[0], b[0]), score, reasons

    for row in rows:
        if row[3] != current:
            yield from flush()
            group = []
            current = row[3]
        group.append(row)
    yield from flush()


def contact_pairs() -> Iterator[tuple[int, int, str]]:
    """Pairs of active people sharing a canonical code, an email or a phone (full pass)."""
    active = Person.objects.active()
    seen: set[tuple[int, int]] = set()
    sources = [
        (
            active.exclude(codice_fiscale_canonical="")
            .values_list("codice_fiscale_canonical", "pk")
            .order_by("codice_fiscale_canonical"),
            _("stesso codice fiscale"),
        ),
        (
            Email.objects.filter(person__in=active).values_list("value", "person_id").order_by("value"),
            _("stessa email"),
        ),
        (
            Phone.objects.filter(person__in=active).values_list("value", "person_id").order_by("value"),
            _("stesso telefono"),
        ),
    ]
    for queryset, reason in sources:
        previous_value = None
        bucket: list[int] = []
        for value, pk in queryset.iterator(chunk_size=5000):
            if value != previous_value:
                yield from _pairs(bucket, reason, seen)
                bucket = []
                previous_value = value
            bucket.append(pk)
        yield from _pairs(bucket, reason, seen)


def _pairs(bucket: list[int], reason: str, seen: set[tuple[int, int]]) -> Iterator[tuple[int, int, str]]:
    ids = sorted(set(bucket))
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            pair = (ids[i], ids[j])
            if pair not in seen:
                seen.add(pair)
                yield ids[i], ids[j], reason


def overlapping(person_ids: Iterable[int]) -> Q:
    ids = list(person_ids)
    return Q(person_a_id__in=ids) | Q(person_b_id__in=ids)
