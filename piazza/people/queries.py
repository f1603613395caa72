"""Reads of the people database: search, filters and segments, contact permission (rules G2/G3),
and the relation registry that higher apps fill ("member", "donor", …).

Everything here starts from `Person.objects.visible_to(user)`, so no filter, count, segment or
export can reach outside the viewer's subtree.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Paginator
from django.db import connection, connections, transaction
from django.db.models import BooleanField, Exists, F, FloatField, Func, OuterRef, Q, QuerySet, Value
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from piazza.core.replica import Staleness, reading_stale
from piazza.people.codice_fiscale import canonical_codice_fiscale, clean_code
from piazza.people.models import (
    READ_ROLES,
    Channel,
    Consent,
    DuplicateCandidate,
    DuplicateStatus,
    Email,
    Person,
    Phone,
    Purpose,
)
from piazza.people.validation import normalise_email, normalise_phone, search_name
from piazza.territory.models import Territory
from piazza.territory.scoping import scope_paths

# --- Relations registry -------------------------------------------------------------------------


@dataclass(frozen=True)
class Relation:
    name: str
    label: str
    filter_function: Callable[[QuerySet[Person]], QuerySet[Person]]
    # Rule G2: members and regular contacts may receive political communication without consent.
    regular_contact: bool = False


RELATIONS: dict[str, Relation] = {}


def register_relation(
    name: str,
    label: Any,
    filter_function: Callable[[QuerySet[Person]], QuerySet[Person]],
    *,
    regular_contact: bool = False,
) -> None:
    """Higher apps call this at start-up (AppConfig.ready): e.g. membership registers "member"
    with a function returning the people with a current membership, `regular_contact=True`."""
    RELATIONS[name] = Relation(name, str(label), filter_function, regular_contact)


def relations_of(person: Person) -> list[str]:
    one = Person.objects.filter(pk=person.pk)
    return [r.name for r in RELATIONS.values() if r.filter_function(one).exists()]


# --- Consents and contact permission ------------------------------------------------------------


def current_consents(person: Person) -> dict[str, Consent]:
    """The latest consent row per purpose (granted or withdrawn)."""
    latest: dict[str, Consent] = {}
    for consent in Consent.objects.filter(person=person).order_by("-at", "-id"):
        latest.setdefault(consent.purpose, consent)
    return latest


def with_consent(queryset: QuerySet[Person], purpose: str) -> QuerySet[Person]:
    """People whose latest consent row for `purpose` is a grant: a grant with no later row.

    Written as EXISTS / NOT EXISTS rather than "the granted flag of the newest row" (a subquery
    run once per person: 3.5 s for a segment of 350,000 people at 1,000,000, P5), so PostgreSQL
    may join it as a semi-join and an anti-join over the `consent_purpose_person` index alone."""
    later = Consent.objects.filter(person=OuterRef("person"), purpose=purpose).filter(
        Q(at__gt=OuterRef("at")) | Q(at=OuterRef("at"), pk__gt=OuterRef("pk"))
    )
    granted = Consent.objects.filter(person=OuterRef("pk"), purpose=purpose, granted=True).filter(~Exists(later))
    return queryset.filter(Exists(granted))


@dataclass
class ContactAnswer:
    allowed: bool
    reason: str
    channels: list[str]


CHANNEL_NEEDS = {
    Channel.EMAIL: "email",
    Channel.PHONE: "phone",
    Channel.SMS: "phone",
    Channel.POST: "address",
}


def contact_permission(person: Person, purpose: str, channel: str | None = None) -> ContactAnswer:
    """May we contact this person for `purpose`, and by which channels? (rules G2, G3)

    Political communication: members and regular contacts (relations registered with
    `regular_contact=True`) may be contacted without consent (G2); anyone else needs a current
    consent for that purpose. Every other purpose always needs its own consent (G3).
    """
    if person.erased_at or person.merged_into_id:
        return ContactAnswer(False, _("La scheda è stata cancellata o unita a un'altra."), [])
    available = []
    if any(True for _e in person.emails.all()):
        available.append(Channel.EMAIL.value)
    if any(True for _p in person.phones.all()):
        available += [Channel.PHONE.value, Channel.SMS.value]
    if person.residence_street and person.residence_comune_id:
        available.append(Channel.POST.value)
    consent = current_consents(person).get(purpose)
    regular = [
        r
        for r in RELATIONS.values()
        if r.regular_contact and r.filter_function(Person.objects.filter(pk=person.pk)).exists()
    ]
    if consent is not None and consent.granted:
        reason = _("Consenso per «%(purpose)s» dato il %(date)s (%(version)s).") % {
            "purpose": Purpose(purpose).label,
            "date": timezone.localtime(consent.at).strftime("%d/%m/%Y"),
            "version": consent.text_version,
        }
    elif purpose == Purpose.POLITICAL_COMMUNICATION and regular:
        if consent is not None and not consent.granted:
            return ContactAnswer(
                False,
                _("Ha revocato il consenso alla comunicazione politica il %(date)s.")
                % {"date": timezone.localtime(consent.at).strftime("%d/%m/%Y")},
                [],
            )
        reason = _(
            "%(relation)s: contatto regolare, la comunicazione politica non richiede consenso "
            "(Garante, provv. 96/2019)."
        ) % {"relation": regular[0].label}
    elif consent is not None:
        return ContactAnswer(
            False,
            _("Consenso per «%(purpose)s» revocato il %(date)s.")
            % {"purpose": Purpose(purpose).label, "date": timezone.localtime(consent.at).strftime("%d/%m/%Y")},
            [],
        )
    else:
        return ContactAnswer(False, _("Nessun consenso per «%(purpose)s».") % {"purpose": Purpose(purpose).label}, [])
    if channel is not None:
        if channel not in available:
            return ContactAnswer(
                False,
                _("Manca un recapito per il canale «%(channel)s».") % {"channel": Channel(channel).label},
                available,
            )
        return ContactAnswer(True, reason, [channel])
    if not available:
        return ContactAnswer(False, _("Nessun recapito utilizzabile."), [])
    return ContactAnswer(True, reason, available)


# --- Search, filters and segments ---------------------------------------------------------------

CF_PATTERN = re.compile(r"^[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$")
DEFINITION_KEYS = ("q", "territory", "tags", "consent", "age_min", "age_max", "relation")


def visible_people(user: Any) -> QuerySet[Person]:
    return Person.objects.visible_to(user, roles=READ_ROLES).active()  # type: ignore[no-any-return]


def clean_definition(data: dict[str, Any]) -> dict[str, Any]:
    """Keep only known filter keys with non-empty values (a segment is stored this way)."""
    out: dict[str, Any] = {}
    for key in DEFINITION_KEYS:
        value = data.get(key)
        if value in (None, "", []):
            continue
        if key == "tags" and isinstance(value, str):
            value = [t.strip() for t in value.split(",") if t.strip()]
        if key in ("age_min", "age_max", "territory"):
            value = int(str(value))
        out[key] = value
    return out


def describe_definition(definition: dict[str, Any]) -> str:
    """A saved filter in words for the segment list (never the stored dict)."""
    parts: list[str] = []
    d = clean_definition(definition)
    if "q" in d:
        parts.append(_("cerca «%(q)s»") % {"q": d["q"]})
    if "territory" in d:
        territory = Territory.objects.filter(pk=d["territory"]).first()
        parts.append(_("in %(t)s") % {"t": territory.name if territory else _("un territorio chiuso")})
    if "tags" in d:
        parts.append(_("con le etichette %(tags)s") % {"tags": ", ".join(str(t) for t in d["tags"])})
    if "consent" in d:
        label = Purpose(d["consent"]).label if d["consent"] in Purpose.values else d["consent"]
        parts.append(_("con consenso per «%(purpose)s»") % {"purpose": label})
    if "age_min" in d and "age_max" in d:
        parts.append(_("tra %(a)s e %(b)s anni") % {"a": d["age_min"], "b": d["age_max"]})
    elif "age_min" in d:
        parts.append(_("almeno %(a)s anni") % {"a": d["age_min"]})
    elif "age_max" in d:
        parts.append(_("al massimo %(b)s anni") % {"b": d["age_max"]})
    if "relation" in d:
        relation = RELATIONS.get(d["relation"])
        parts.append(str(relation.label) if relation else _("una relazione non più prevista"))
    return "; ".join(str(p) for p in parts) or str(_("tutte le persone del tuo territorio"))


def search(queryset: QuerySet[Person], text: str) -> QuerySet[Person]:
    """By codice fiscale (any omocodia form), email, phone, or name (name words on PostgreSQL)."""
    text = text.strip()
    if not text:
        return queryset
    code = clean_code(text)
    if CF_PATTERN.match(code):
        return queryset.filter(codice_fiscale_canonical=canonical_codice_fiscale(code))
    if "@" in text:
        try:
            value = normalise_email(text)
        except ValueError:
            value = text.lower()
        return queryset.filter(Exists(Email.objects.filter(person=OuterRef("pk"), value=value)))
    if re.fullmatch(r"[+0-9 ./()-]{6,}", text):
        try:
            value = normalise_phone(text)
        except ValueError:
            return queryset.none()
        return queryset.filter(Exists(Phone.objects.filter(person=OuterRef("pk"), value=value)))
    name = search_name(text, "")
    if connection.vendor == "postgresql":
        # Through the name words (P5, ADR 0038): for each typed word its nearest distinct words
        # (`people_nameword`, GiST trigram), then the people holding one of them for EVERY typed
        # word (GIN on the words of `search_name`). Nearest names first: one word ("rossi") is a
        # part of a name, word distance `<<->`; several ("rosi maro") a whole name, `<->`.
        words = name.split()
        matched = queryset
        for word in words:
            matched = matched.filter(NearNameWords(F("search_name"), Value(word), single=len(words) == 1))
        distance: Func = (
            NameDistance(F("search_name"), Value(name))
            if len(words) > 1
            else WordDistance(Value(name), F("search_name"))
        )
        return matched.alias(name_distance=distance).order_by("name_distance")
    condition = Q()
    for token in name.split():
        condition &= Q(search_name__contains=token)
    return queryset.filter(condition)


# The nearest words of one typed word: at most this many, each within this trigram distance
# (1 − similarity). A single typed word keeps only those within NEAR_SPREAD of its nearest one:
# "rossi" finds the Rossi, not every Rossini and Rosso after them (ADR 0038); and alone it must be
# nearer (NEAR_DISTANCE_ALONE): one shared trigram is a match only when another typed word agrees.
NEAR_WORDS = 50
NEAR_DISTANCE = 0.9
NEAR_DISTANCE_ALONE = 0.7
NEAR_SPREAD = 0.15


class NearNameWords(Func):
    """`string_to_array(search_name, ' ') && ARRAY(nearest words of the typed word)`.

    The array is an uncorrelated subquery, so PostgreSQL computes it once (an InitPlan walking
    the GiST index of `people_nameword` nearest first) and then reads the matching people from
    the GIN index `person_search_words`, whatever else the queryset filters on (scope, tags)."""

    output_field = BooleanField()

    def __init__(self, field: Any, word: Any, *, single: bool) -> None:
        super().__init__(field, word)
        self.single = single

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, list[Any]]:
        field_sql, field_params = compiler.compile(self.source_expressions[0])
        word_sql, word_params = compiler.compile(self.source_expressions[1])
        spread = f" AND near.distance <= near.nearest + {NEAR_SPREAD}" if self.single else ""
        bound = NEAR_DISTANCE_ALONE if self.single else NEAR_DISTANCE
        sql = (
            f"string_to_array({field_sql}, ' ') && ARRAY("  # noqa: S608 (compiled expressions and constants)
            "SELECT near.word FROM ("
            "SELECT w.word, w.distance, min(w.distance) OVER () AS nearest FROM ("
            f"SELECT word, word <-> ({word_sql})::text AS distance FROM people_nameword"
            f" ORDER BY word <-> ({word_sql})::text LIMIT {NEAR_WORDS}"
            ") AS w"
            f") AS near WHERE near.distance < {bound}{spread})"
        )
        return sql, [*field_params, *word_params, *word_params]


class NameDistance(Func):
    """PostgreSQL `field <-> query`: 1 − similarity (the order of a search of several words)."""

    arg_joiner = " <-> "
    template = "(%(expressions)s)"
    output_field = FloatField()


class WordDistance(Func):
    """PostgreSQL `query <<-> field`: 1 − word_similarity (the order of a one-word search)."""

    arg_joiner = " <<-> "
    template = "(%(expressions)s)"
    output_field = FloatField()


# Lists count at most this many rows: above it the page says "oltre 1.000 risultati".
COUNT_CAP = 1000


class CappedPaginator(Paginator):  # type: ignore[type-arg]
    """Counts up to `COUNT_CAP` + 1 rows (`SELECT count(*) FROM (… LIMIT 1001)`): an exact count
    of a wide search at a million people re-checks every candidate, a capped one stops early."""

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        return int(self.object_list[: self.cap + 1].count())  # type: ignore[attr-defined]

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    def page(self, number: Any) -> Any:
        """The page in two steps: the ids of its rows (narrow, served in order by an index such as
        `person_active_territory_name` under a scope), then those rows with their relations. One
        step sorted every member's whole row and its comune before skipping to the page (P5)."""
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(queryset.values_list("pk", flat=True)[bottom:top])
        rows = {row.pk: row for row in queryset.order_by().filter(pk__in=ids)}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)  # type: ignore[attr-defined]


def apply_definition(queryset: QuerySet[Person], definition: dict[str, Any]) -> QuerySet[Person]:
    """Apply a filter definition (search box, list filters, or a saved segment)."""
    d = definition
    if d.get("q"):
        queryset = search(queryset, str(d["q"]))
    if d.get("territory"):
        node = Territory.objects.filter(pk=d["territory"]).first()
        queryset = queryset.filter(territory__path__startswith=node.path) if node else queryset.none()
    for tag in d.get("tags") or []:
        queryset = queryset.filter(tags__name=tag)
    if d.get("consent"):
        queryset = with_consent(queryset, str(d["consent"]))
    today = timezone.localdate()  # ages turn in Italy, not on the server's (UTC) calendar
    if d.get("age_min") is not None:
        queryset = queryset.filter(birth_date__lte=_years_before(today, int(d["age_min"])))
    if d.get("age_max") is not None:
        queryset = queryset.filter(birth_date__gt=_years_before(today, int(d["age_max"]) + 1))
    if d.get("relation"):
        relation = RELATIONS.get(str(d["relation"]))
        queryset = relation.filter_function(queryset) if relation else queryset.none()
    return queryset


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def people_for(user: Any, definition: dict[str, Any]) -> QuerySet[Person]:
    """The people matching `definition` inside `user`'s scope (the only entry point for lists,
    counts, segments and exports)."""
    return apply_definition(visible_people(user), definition)


def count_without_jit(queryset: QuerySet[Any]) -> int:
    """`queryset.count()` with PostgreSQL's JIT compiler off for that statement: a count over a
    few hundred thousand people is planned above `jit_optimize_above_cost` and spent up to 1 s
    compiling (EXPLAIN at 1,000,000 people, P5) for a query that runs in less. `SET LOCAL` in
    its own transaction works behind PgBouncer in transaction mode and on the replica."""
    alias = queryset.db
    if connections[alias].vendor != "postgresql":
        return queryset.count()
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        return queryset.count()


# Segment pages count at most this many people (P5, ADR 0040): exact up to it, "più di 10.000"
# above. An exact count of a wide segment at 1,000,000 people reads every match (> 100,000 rows,
# p99 867 ms); a broadcast or an export still takes the whole set, and counts it when it starts.
SEGMENT_COUNT_CAP = 10_000


@dataclass(frozen=True)
class CappedCount:
    """A count that stopped after `cap` + 1 rows: `value` is exact unless `capped`."""

    value: int
    cap: int

    @property
    def capped(self) -> bool:
        return self.value > self.cap


def count_capped(queryset: QuerySet[Any], cap: int) -> CappedCount:
    """`SELECT count(*) FROM (… LIMIT cap + 1)` without the model's ordering (which would sort
    every match before the limit), JIT off: PostgreSQL stops after cap + 1 matches."""
    return CappedCount(count_without_jit(queryset.order_by().values("pk")[: cap + 1]), cap)


def count_in_words(count: CappedCount) -> str:
    """What a segment page shows: "1.234", or "più di 10.000" once the count stopped at the cap."""
    if count.capped:
        return _("più di %(n)s") % {"n": number_format(count.cap, force_grouping=True)}
    return str(number_format(count.value, force_grouping=True))


def segment_count(user: Any, definition: dict[str, Any]) -> int:
    """The exact number of people matching `definition` (reads every match: not for page views)."""
    return count_without_jit(people_for(user, definition))


def segment_counts(user: Any, definitions: list[dict[str, Any]]) -> tuple[list[CappedCount], Staleness]:
    """The people matching each definition inside `user`'s scope, capped at SEGMENT_COUNT_CAP (P5,
    ADR 0040), counted on the streaming replica when it is at most REPLICA_MAX_LAG["segments"]
    seconds behind (issue 14): a count decides no write. The scope is read on the primary (the
    querysets are built before the block)."""
    querysets = [people_for(user, definition) for definition in definitions]
    cap = SEGMENT_COUNT_CAP  # read at call time: tests lower it
    with reading_stale("segments") as stale:
        return [count_capped(queryset, cap) for queryset in querysets], stale


def open_duplicates(user: Any) -> QuerySet[DuplicateCandidate]:
    return (
        DuplicateCandidate.objects.visible_to(user, roles=READ_ROLES)
        .filter(status=DuplicateStatus.OPEN, person_a__merged_into__isnull=True, person_b__merged_into__isnull=True)
        .select_related("person_a", "person_b")
    )


def dashboard_section(user: Any) -> tuple[str, dict[str, Any]] | None:
    """The people box on the back-office dashboard."""
    if not scope_paths(user, READ_ROLES):
        return None
    return "people/_dashboard.html", {
        "people_count": visible_people(user).count(),
        "duplicates_count": open_duplicates(user).count(),
    }
