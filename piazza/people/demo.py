"""Demo people for `manage.py seed_demo --people N` and for the benchmarks (PERFORMANCE.md P5–P7).

Realistic on purpose: Italian names (Faker it_IT pools), residence comuni drawn by 2011
population, birth places mostly near home or abroad, codici fiscali built by
`python-codicefiscale`'s encoders so they agree with the record (rule D1), E.164 mobiles and
normalised emails (rule D4), consents per purpose with evidence (rule G3), circolo assignment
from the residence comune (rules M10/M11), and a share of deliberate duplicates with typos so
the review queue has work.

Why not `actions.create_person`: one million people through the per-row action takes hours.
The seeder writes the same rows the action would (person, contacts, tags, consents, a "created"
timeline entry) in chunks — PostgreSQL `COPY` through psycopg, `bulk_create` elsewhere — and
logs one audit entry per run. It is demo and benchmark data only, never a production path.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import random
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from codicefiscale import codicefiscale as cflib
from django.db import connection, models, transaction
from django.utils import timezone

from piazza.core.audit import record
from piazza.people.codice_fiscale import MONTH_LETTERS, OMOCODIA_LETTERS, canonical_codice_fiscale
from piazza.people.models import (
    Channel,
    Citizenship,
    Consent,
    Email,
    Person,
    Phone,
    Purpose,
    Source,
    Tag,
    TimelineEntry,
)
from piazza.people.validation import search_name
from piazza.territory.models import Comune, Kind, Level, Territory

CHUNK = 20_000
# Above this size `seed` leaves the full duplicate pass to the nightly task (or the benchmark).
SCAN_LIMIT = 100_000
DUPLICATE_SHARE = 0.025
TEXT_VERSION = "informativa-2024-01"
DEMO_TAGS = [
    "volontario",
    "festa dell'unità",
    "giovani democratici",
    "amministratore locale",
    "banchetto",
    "simpatizzante",
]
# Countries of birth for people born abroad (Belfiore Z-codes of the library's table), with the
# citizenship they most often have.
FOREIGN_BIRTH = [
    ("Z129", "Romania", Citizenship.EU),
    ("Z100", "Albania", Citizenship.NON_EU_PERMIT),
    ("Z330", "Marocco", Citizenship.NON_EU_PERMIT),
    ("Z210", "Cina", Citizenship.NON_EU_PERMIT),
    ("Z138", "Ucraina", Citizenship.NON_EU_PERMIT),
    ("Z216", "Filippine", Citizenship.NON_EU_PERMIT),
    ("Z112", "Germania", Citizenship.EU),
    ("Z133", "Svizzera", Citizenship.NON_EU_PERMIT),
    ("Z602", "Brasile", Citizenship.NON_EU_PERMIT),
]
MOBILE_PREFIXES = [
    "320",
    "324",
    "327",
    "328",
    "329",
    "330",
    "331",
    "333",
    "334",
    "335",
    "336",
    "338",
    "339",
    "340",
    "342",
    "345",
    "346",
    "347",
    "348",
    "349",
    "350",
    "351",
    "366",
    "380",
    "388",
    "389",
    "391",
    "392",
    "393",
]
EMAIL_DOMAINS = [
    "gmail.com",
    "libero.it",
    "hotmail.it",
    "yahoo.it",
    "alice.it",
    "virgilio.it",
    "outlook.it",
    "tiscali.it",
    "fastwebnet.it",
    "icloud.com",
]

PERSON_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "search_name",
    "sex",
    "birth_date",
    "birth_comune_id",
    "birth_country",
    "codice_fiscale",
    "codice_fiscale_canonical",
    "citizenship",
    "residence_street",
    "residence_cap",
    "residence_comune_id",
    "domicile_street",
    "domicile_cap",
    "domicile_comune_id",
    "territory_id",
    "voting_circolo_id",
    "source",
    "notes",
    "created_at",
    "updated_at",
)
CONTACT_COLUMNS = ("person_id", "value", "primary", "verified", "created_at")
CONSENT_COLUMNS = ("person_id", "purpose", "granted", "at", "channel", "text_version", "evidence")
TIMELINE_COLUMNS = ("person_id", "at", "kind", "summary", "data")
TAG_COLUMNS = ("person_id", "tag_id")


@dataclass
class Place:
    comune_id: int
    belfiore: str
    territories: list[int]  # open territorial circoli serving the comune, else its federation/national
    postcode: str


@dataclass
class World:
    """What the generator draws from, loaded once per run."""

    places: list[Place]
    cumulative: list[int]
    male: Sequence[str]
    female: Sequence[str]
    last: Sequence[str]
    streets: list[str]
    tag_ids: list[int]
    circolo_ids: set[int] = field(default_factory=set)

    def place(self, rnd: random.Random) -> Place:
        return self.places[bisect.bisect_right(self.cumulative, rnd.randrange(self.cumulative[-1]))]


@dataclass
class Rows:
    person: list[tuple[Any, ...]] = field(default_factory=list)
    email: list[tuple[Any, ...]] = field(default_factory=list)
    phone: list[tuple[Any, ...]] = field(default_factory=list)
    consent: list[tuple[Any, ...]] = field(default_factory=list)
    timeline: list[tuple[Any, ...]] = field(default_factory=list)
    tag: list[tuple[Any, ...]] = field(default_factory=list)


def load_world(rnd: random.Random) -> World:
    from faker import Faker
    from faker.providers.person.it_IT import Provider as Names

    national = Territory.objects.get(level=Level.NATIONAL).pk
    circoli: dict[int, list[int]] = {}
    through = Territory.comuni.through
    for comune_id, territory_id in through.objects.filter(
        territory__level=Level.CIRCOLO,
        territory__kind=Kind.TERRITORIAL,
        territory__closed_at__isnull=True,
    ).values_list("comune_id", "territory_id"):
        circoli.setdefault(comune_id, []).append(territory_id)
    faker = Faker("it_IT")
    faker.seed_instance(rnd.randrange(2**32))
    places, cumulative, total = [], [], 0
    for pk, belfiore, federation_id, population in (
        Comune.objects.filter(valid_to__isnull=True)
        .values_list("pk", "belfiore", "federation_id", "population")
        .order_by("pk")
    ):
        total += max(population, 1)
        cumulative.append(total)
        places.append(Place(pk, belfiore, circoli.get(pk) or [federation_id or national], faker.postcode()))
    tag_ids = [Tag.objects.get_or_create(name=name)[0].pk for name in DEMO_TAGS]
    return World(
        places=places,
        cumulative=cumulative,
        male=Names.first_names_male,
        female=Names.first_names_female,
        last=Names.last_names,
        streets=[faker.street_address() for _ in range(4000)],
        tag_ids=tag_ids,
        circolo_ids={t for ids in circoli.values() for t in ids},
    )


@functools.lru_cache(maxsize=4096)
def _lastname_code(name: str) -> str:
    return str(cflib.encode_lastname(name))


@functools.lru_cache(maxsize=4096)
def _firstname_code(name: str) -> str:
    return str(cflib.encode_firstname(name))


def codice_fiscale(first: str, last: str, sex: str, birth: dt.date, belfiore: str, *, omocodia: int = 0) -> str:
    """The code the Agenzia would issue (library encoders); `omocodia` > 0 substitutes that many
    digits from the right with letters, as the Agenzia does for colliding codes (rule D1)."""
    day = birth.day + (40 if sex == "F" else 0)
    chars = list(
        _lastname_code(last)
        + _firstname_code(first)
        + f"{birth.year % 100:02d}{MONTH_LETTERS[birth.month - 1]}{day:02d}{belfiore}"
    )
    for position in (14, 13, 12, 10, 9, 7, 6)[:omocodia]:
        chars[position] = OMOCODIA_LETTERS[int(chars[position])]
    root = "".join(chars)
    return root + str(cflib.encode_cin(root))


def _ascii(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if c.isalnum() and c.isascii())


def typo(text: str, rnd: random.Random) -> str:
    """One slip of the keyboard: a dropped, doubled, swapped or replaced letter."""
    if len(text) < 4:
        return text + text[-1]
    i = rnd.randrange(1, len(text) - 1)
    kind = rnd.randrange(4)
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    if kind == 2:
        return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]
    return text[:i] + rnd.choice("aeiou") + text[i + 1 :]


def _person(world: World, rnd: random.Random, pk: int, now: dt.datetime, today: dt.date) -> list[Any]:
    sex = "F" if rnd.random() < 0.52 else "M"
    first = rnd.choice(world.female if sex == "F" else world.male)
    last = rnd.choice(world.last)
    age = int(rnd.triangular(16, 96, 62))
    birth = today - dt.timedelta(days=age * 365 + rnd.randrange(365))
    home = world.place(rnd)
    citizenship, birth_country, birth_comune = Citizenship.ITALIAN.value, "", None
    roll = rnd.random()
    if roll < 0.07:
        belfiore, birth_country, usual = rnd.choice(FOREIGN_BIRTH)
        citizenship = usual.value if rnd.random() < 0.6 else Citizenship.ITALIAN.value
    else:
        born = home if roll < 0.6 else world.place(rnd)
        belfiore, birth_comune = born.belfiore, born.comune_id
    code = ""
    if rnd.random() < 0.92:
        code = codice_fiscale(first, last, sex, birth, belfiore, omocodia=1 if rnd.random() < 0.002 else 0)
    territory = rnd.choice(home.territories)
    created = now - dt.timedelta(seconds=rnd.randrange(5 * 365 * 86400))
    domicile = world.place(rnd) if rnd.random() < 0.04 else None
    return [
        pk,
        first,
        last,
        search_name(first, last),
        sex,
        birth,
        birth_comune,
        birth_country,
        code,
        canonical_codice_fiscale(code) if code else "",
        citizenship,
        rnd.choice(world.streets),
        home.postcode,
        home.comune_id,
        rnd.choice(world.streets) if domicile else "",
        domicile.postcode if domicile else "",
        domicile.comune_id if domicile else None,
        territory,
        territory if territory in world.circolo_ids and rnd.random() < 0.3 else None,
        Source.DEMO.value,
        "",
        created,
        created,
    ]


def _duplicate(
    original: list[Any], contacts: dict[str, str], rnd: random.Random, pk: int
) -> tuple[list[Any], dict[str, str]]:
    """A second record of the same human as it really arrives: typed again with a slip, from
    another list, with or without the code or the same contacts."""
    row = list(original)
    row[0] = pk
    kind = rnd.randrange(4)
    new_contacts: dict[str, str] = {}
    if kind == 0:  # same code (sometimes its omocodia form), surname typed with a slip
        row[2] = typo(row[2], rnd)
        if row[8] and row[8][14].isdigit() and rnd.random() < 0.3:  # not already an omocodia form
            row[8] = row[8][:14] + OMOCODIA_LETTERS[int(row[8][14])]
            row[8] += str(cflib.encode_cin(row[8]))
    elif kind == 1:  # no code, a typo in the first name, same birth date and comune
        row[1] = typo(row[1], rnd)
        row[8] = row[9] = ""
    elif kind == 2:  # same email, nothing else known
        row[5] = row[6] = None
        row[7] = row[8] = row[9] = ""
        new_contacts = {k: v for k, v in contacts.items() if k == "email"}
    else:  # same phone, names swapped by whoever typed the sheet
        row[1], row[2] = row[2], row[1]
        row[8] = row[9] = ""
        new_contacts = {k: v for k, v in contacts.items() if k == "phone"}
    row[3] = search_name(row[1], row[2])
    return row, new_contacts


def _contacts(row: list[Any], rnd: random.Random) -> dict[str, str]:
    out = {}
    if rnd.random() < 0.75:
        suffix = str(rnd.randrange(100)) if rnd.random() < 0.6 else ""
        out["email"] = f"{_ascii(row[1])}.{_ascii(row[2])}{suffix}@{rnd.choice(EMAIL_DOMAINS)}"
    if rnd.random() < 0.65:
        out["phone"] = f"+39{rnd.choice(MOBILE_PREFIXES)}{rnd.randrange(10**7):07d}"
    return out


def generate(world: World, rnd: random.Random, ids: Sequence[int], now: dt.datetime) -> Rows:
    """The rows of one chunk of people whose primary keys are `ids`."""
    rows = Rows()
    today = now.date()
    recent: list[tuple[list[Any], dict[str, str]]] = []
    summary = "Scheda creata (Dati dimostrativi)"
    for pk in ids:
        if recent and rnd.random() < DUPLICATE_SHARE:
            person, contacts = _duplicate(*rnd.choice(recent), rnd, pk)
        else:
            person = _person(world, rnd, pk, now, today)
            contacts = _contacts(person, rnd)
            if len(recent) < 2000:
                recent.append((person, contacts))
            else:
                recent[rnd.randrange(2000)] = (person, contacts)
        created = person[-2]
        rows.person.append(tuple(person))
        if "email" in contacts:
            rows.email.append((pk, contacts["email"], True, rnd.random() < 0.4, created))
        if "phone" in contacts:
            rows.phone.append((pk, contacts["phone"], True, False, created))
        for purpose, share in (
            (Purpose.POLITICAL_COMMUNICATION, 0.55),
            (Purpose.NEWSLETTER, 0.35),
            (Purpose.PROFILING, 0.08),
            (Purpose.CANDIDATE_SHARING, 0.05),
        ):
            if rnd.random() < share:
                channel = rnd.choice((Channel.WEB, Channel.PAPER, Channel.IN_PERSON)).value
                rows.consent.append((pk, purpose.value, True, created, channel, TEXT_VERSION, f"modulo demo n. {pk}"))
                if rnd.random() < 0.04:  # G3: withdrawn later, as easily as given
                    rows.consent.append(
                        (
                            pk,
                            purpose.value,
                            False,
                            created + dt.timedelta(days=90),
                            Channel.EMAIL.value,
                            "revoca",
                            "risposta a una email",
                        )
                    )
        if rnd.random() < 0.12:
            rows.tag.append((pk, rnd.choice(world.tag_ids)))
        rows.timeline.append((pk, created, "created", summary, "{}"))
    return rows


# --- Writing -----------------------------------------------------------------------------------


def _reserve_ids(count: int) -> list[int]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Person._meta.db_table, count],
            )
            return [r[0] for r in cursor.fetchall()]
    start = (Person.objects.aggregate(m=models.Max("pk"))["m"] or 0) + 1
    return list(range(start, start + count))


def _write(model: type[models.Model], columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(model._meta.db_table)
        names = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    model._default_manager.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=500)


def write(rows: Rows) -> None:
    _write(Person, PERSON_COLUMNS, rows.person)
    _write(Email, CONTACT_COLUMNS, rows.email)
    _write(Phone, CONTACT_COLUMNS, rows.phone)
    _write(Consent, CONSENT_COLUMNS, rows.consent)
    _write(TimelineEntry, TIMELINE_COLUMNS, rows.timeline)
    _write(Person.tags.through, TAG_COLUMNS, rows.tag)


def generate_people(count: int, *, seed: int = 0, stdout: Any = None, chunk: int = CHUNK) -> int:
    """Add `count` demo people in chunks, each chunk in one transaction; returns how many."""
    rnd = random.Random(seed)
    world = load_world(rnd)
    now = timezone.now()
    started = time.monotonic()
    done = 0
    for size in _chunks(count, chunk):
        with transaction.atomic():
            write(generate(world, rnd, _reserve_ids(size), now))
        done += size
        if stdout is not None and (done == count or done % (chunk * 5) == 0):
            rate = done / max(time.monotonic() - started, 1e-6)
            stdout.write(f"  persone demo: {done}/{count} ({rate:,.0f}/s)")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE people_person, people_email, people_phone, people_consent, "
                "people_timelineentry, people_person_tags"
            )
    with transaction.atomic():
        record("people.seed_demo", actor=None, data={"people": count, "seed": seed})
    return done


def _chunks(count: int, size: int) -> Iterator[int]:
    for start in itertools.count(0, size):
        if start >= count:
            return
        yield min(size, count - start)


def seed(*, people: int, stdout: Any) -> None:
    """`seed_demo --people N`: top up to N demo people (re-running adds none), then fill the
    duplicate review queue when the set is small enough to scan on the spot."""
    from piazza.people.actions.duplicates import scan_duplicates

    existing = Person.objects.filter(source=Source.DEMO).count()
    missing = people - existing
    if missing <= 0:
        stdout.write(f"Persone demo: già {existing}.")
        return
    generate_people(missing, seed=existing, stdout=stdout)
    if people <= SCAN_LIMIT:
        found = scan_duplicates(actor=None)
        stdout.write(f"  possibili duplicati da esaminare: {found}")
