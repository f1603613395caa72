"""Italian political-finance rules (DOMAIN.md, F*) as plain functions over configurable parameters.

Numbers that the law fixes but that we could only verify second-hand, or that are marked
"open" in DOMAIN.md, are never constants here: they come from `FinanceRules`, which reads
the `FinanceRuleSet` in force on a date (editable in the admin) and falls back to the stated
defaults. Funding and membership both call these functions, so one donor's money is judged
the same way whatever channel it came through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.core.prepared import PreparedStatement, Statement

if TYPE_CHECKING:
    from django.db.models import QuerySet

# --- Parameters (defaults; the database can override them per period) ----------------------


@dataclass(frozen=True)
class FinanceRules:
    """The parameters in force on one date. All amounts in euro cents."""

    # rule F1/F2: above this yearly total per donor the name is registered and published.
    publication_threshold_cents: int = 500_00
    # rule F6 (secondary): at most this much per donor per year.
    annual_cap_cents: int = 100_000_00
    # rule F14 (open): "party" = one total across the whole party; "entity" = per receiving
    # territory (national, region, federation each count as a separate party).
    cap_scope: str = "party"
    # rule F14 (open): do membership fees count toward F1/F6 totals? Cautious default: yes.
    fees_count: bool = True
    # rule F10: candidates spending under this, only their own money, need no mandatario.
    candidate_exemption_cents: int = 2_500_00
    # rule F11: cap = base per constituency + per resident.
    candidate_cap_base_cents: int = 52_000_00
    candidate_cap_per_resident_cents: int = 1
    # rule F11: natural persons above this are itemised by name in the declaration.
    itemise_threshold_cents: int = 5_000_00
    # rule F12: gifts to a candidate above this need a joint declaration within 3 months.
    joint_declaration_threshold_cents: int = 3_000_00
    # rule F1: the register entry is due by the end of the calendar month this many months after receipt.
    register_deadline_months: int = 1
    # rule F1: inside an election period (a Chamber dissolved, or the months before an election)
    # the entry is due this many days after receipt instead.
    election_deadline_days: int = 15
    # rule F1: how many months before election day an election period starts.
    election_period_months: int = 6
    # rule F3 (open): the levels that issue receipts; money received below them (a circolo) is
    # receipted by the nearest ancestor at one of these levels. Comma-separated Territory levels.
    receipt_issuing_levels: str = "national,region,federation"
    # rule F3 (open): how a receipt number is written; `{year}` and `{number}` (the counter) only.
    receipt_number_format: str = "{year}/{number:06d}"
    # rule F7: the tax credit is this share (basis points: 2600 = 26%) of the gifts of a year whose
    # traceable total lies between the floor and the ceiling (below the floor: no credit; above the
    # ceiling: the ceiling counts).
    tax_credit_rate_bp: int = 2600
    tax_credit_floor_cents: int = 30_00
    tax_credit_ceiling_cents: int = 30_000_00
    # rule F8: the levels whose entities issue statements (national party, regional and provincial
    # branches with administrative autonomy); a gift to a lower node counts for its nearest such ancestor.
    tax_credit_levels: tuple[str, ...] = ("national", "region", "federation")
    # rule F7/F14 (open): do membership fees count toward the credit? Default no: a fee is not a gift.
    tax_credit_fees_count: bool = False


def validate_receipt_issuing_levels(value: str) -> None:
    """Rule F3: known levels, the national one among them (every territory then has an issuer)."""
    from django.core.exceptions import ValidationError

    levels = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [level for level in levels if level not in {"national", "region", "federation", "circolo"}]
    if unknown or "national" not in levels:
        raise ValidationError(
            _(
                "Indica i livelli separati da virgola tra national, region, federation e circolo, "
                "sempre con national (chi emette le ricevute quando nessun altro livello lo fa)."
            ),
            code="bad_levels",
        )


def validate_receipt_number_format(value: str) -> None:
    """Rule F3: a format that writes a number from the year and the progressive, nothing else."""
    from django.core.exceptions import ValidationError

    try:
        sample = value.format(year=2026, number=1)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ValidationError(
            _("Formato non valido (%(e)s): usa solo {year} e {number}, es. {year}/{number:06d}.") % {"e": exc},
            code="bad_format",
        ) from exc
    if "{number" not in value or not sample or len(value.format(year=2026, number=999_999_999)) > 30:
        raise ValidationError(
            _("Il formato deve contenere {number} e dare numeri di al più 30 caratteri, es. {year}/{number:06d}."),
            code="bad_format",
        )


CAP_SCOPE_PARTY = "party"
CAP_SCOPE_ENTITY = "entity"
DEFAULT_RULES = FinanceRules()


RULES_CACHE_SECONDS = 60


def rules_on(day: dt.date | None = None) -> FinanceRules:
    """The parameters in force on `day` (today by default): the latest rule set not after it.

    Cached a minute per day (every donation asks; the table changes a few times a year and
    saving a rule set clears the cache).
    """
    from django.core.cache import cache

    from piazza.compliance.models import FinanceRuleSet

    day = day or timezone.localdate()
    version = cache.get_or_set("compliance:rules:version", 1)
    key = f"compliance:rules:{version}:{day.isoformat()}"
    cached = cache.get(key)
    if isinstance(cached, FinanceRules):
        return cached
    row = FinanceRuleSet.objects.filter(valid_from__lte=day).order_by("-valid_from").first()
    rules = row.as_rules() if row is not None else DEFAULT_RULES
    cache.set(key, rules, RULES_CACHE_SECONDS)
    return rules


def forget_rules() -> None:
    """Drop cached parameters (a rule set was saved): a new version makes every old key unused."""
    import secrets

    from django.core.cache import cache

    cache.set("compliance:rules:version", secrets.token_hex(4), None)


# --- F4: attestations ---------------------------------------------------------------------

# Bump the version whenever a text changes: the version is stored with each donation.
ATTESTATION_VERSION = "2026-01"
ATTESTATIONS: list[tuple[str, Any]] = [
    ("adult", _("Dichiaro di essere maggiorenne.")),
    (
        "electoral_lists",
        _("Dichiaro di essere iscritto/a nelle liste elettorali italiane e di godere dei diritti politici."),
    ),
    ("own_funds", _("Dichiaro che il contributo proviene da fondi miei personali e non da terzi.")),
    (
        "not_foreign_entity",
        _("Dichiaro di non versare per conto di governi, enti pubblici o persone giuridiche esteri."),
    ),
]
ATTESTATION_KEYS = [key for key, _text in ATTESTATIONS]


def missing_attestations(given: Iterable[str]) -> list[str]:
    """Rule F4: the keys of the attestations the donor did not tick (empty means accepted)."""
    given_set = set(given)
    return [key for key in ATTESTATION_KEYS if key not in given_set]


# --- F6 / F14: per-donor annual totals across every channel ---------------------------------

# A contribution source answers: how many cents did this person give in `year` to any entity
# whose territory path starts with `entity_path` ("" for the whole party)? `kind` is
# "donation" or "fee" so that F14's fees_count can leave fees out.
ContributionSource = Callable[[int, int, str], int]
_SOURCES: dict[str, tuple[str, ContributionSource]] = {}
# The same total as a query (a one-row, one-column QuerySet, see `total_query`), or None where the
# source must total in Python (e.g. per-entity fee shares): every such query of one person is read
# in a single statement (issue 14), the caps judged on exactly what the callables would return.
ContributionQuery = Callable[[int, int, str], "QuerySet[Any] | None"]
_QUERIES: dict[str, ContributionQuery] = {}
# Which payable kinds (payments' registry labels, "app.model") each source totals: every
# channel through which a person's money comes in must be covered (see `uncovered_payables`).
_COVERED: dict[str, frozenset[str]] = {}
_NOT_CONTRIBUTIONS: dict[str, str] = {}


def register_contribution_source(
    name: str,
    kind: str,
    source: ContributionSource,
    *,
    payables: Iterable[str] = (),
    query: ContributionQuery | None = None,
) -> None:
    """Apps holding money from persons (funding, membership) register how to total it.

    `payables` names the payable kinds (as registered with `payments.payables.register_payable`)
    whose money this source counts, so a startup check can prove no channel is forgotten (F6/F14).
    `query`, if given, answers the same total as a `total_query` (None: use `source`), so that the
    caps read every channel of a person in one statement.
    """
    if kind not in {"donation", "fee"}:
        raise ValueError(f"kind must be 'donation' or 'fee', got {kind!r}")
    _SOURCES[name] = (kind, source)
    if query is not None:
        _QUERIES[name] = query
    else:
        _QUERIES.pop(name, None)
    _COVERED[name] = frozenset(label.lower() for label in payables)


def register_not_a_contribution(payable_label: str, reason: str) -> None:
    """Declare that a payable kind is not money given by a person (e.g. a refund-only flow).

    The reason is shown by the startup check's listing; without it, the kind must have a source."""
    if not reason.strip():
        raise ValueError("say why this payable is not a contribution")
    _NOT_CONTRIBUTIONS[payable_label.lower()] = reason


def registered_sources() -> dict[str, tuple[str, ContributionSource]]:
    return dict(_SOURCES)


def uncovered_payables(payable_labels: Iterable[str]) -> list[str]:
    """Rules F6/F14: the payable kinds (money in) that no contribution source counts, sorted."""
    covered = set().union(*_COVERED.values()) if _COVERED else set()
    return sorted({label.lower() for label in payable_labels} - covered - set(_NOT_CONTRIBUTIONS))


def cap_entity_path(receiving_path: str, rules: FinanceRules) -> str:
    """Rule F14: the subtree whose receipts count toward one donor's cap.

    With the "party" scope that is the whole tree (""); with "entity" it is the receiving
    node itself (its own path), so national, regional and provincial receipts count apart.
    """
    return "" if rules.cap_scope == CAP_SCOPE_PARTY else receiving_path


# Rule F13: a legal person is a contributor of its own, known by its VAT number / codice fiscale.
# An entity source answers how many cents that entity gave in `year` within `entity_path`; the
# person sources above never count a legal person's money toward its representative.
EntitySource = Callable[[str, int, str], int]
_ENTITY_SOURCES: dict[str, EntitySource] = {}


def register_entity_source(name: str, source: EntitySource) -> None:
    """Apps accepting money from legal persons (funding) register how to total it (from ready())."""
    _ENTITY_SOURCES[name] = source


def entity_annual_total_cents(entity_code: str, year: int, receiving_path: str, rules: FinanceRules) -> int:
    """Rules F6/F13/F14: what one legal person gave in `year` within the cap's scope."""
    entity = cap_entity_path(receiving_path, rules)
    return sum(source(entity_code, year, entity) for source in _ENTITY_SOURCES.values())


def annual_total_cents(person_id: int, year: int, receiving_path: str, rules: FinanceRules) -> int:
    """Rules F6/F14: what one person gave in `year` within the cap's scope, every channel.

    The channels that can answer as a query are summed in one statement (issue 14: four round
    trips were one per channel, twice per gift), its SQL built once per year and scope (ADR 0043);
    the others are asked one by one."""
    entity = cap_entity_path(receiving_path, rules)
    channels = tuple((name, kind, _QUERIES.get(name)) for name, (kind, _source) in _SOURCES.items())
    statement = _TOTALS.bind(person_id, year, entity, rules.fees_count, channels)
    total = sum(_SOURCES[name][1](person_id, year, entity) for name in statement.note)
    if not statement.sql:
        return total
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, statement.params)
        row = cursor.fetchone()
    return total + int(row[0] or 0)


def _totals_statement(person_id: int, year: int, entity: str, fees_count: bool, channels: tuple[Any, ...]) -> Statement:
    """The F6/F14 channels' totals as one statement; its note names the sources asked apart.

    `channels` (name, kind, query builder of each registered source) is part of the shape, so a
    source registered or replaced later gets a statement of its own."""
    apart: list[str] = []
    queries: list[QuerySet[Any]] = []
    for name, kind, as_query in channels:
        if kind == "fee" and not fees_count:
            continue
        query = as_query(person_id, year, entity) if as_query is not None else None
        if query is None:
            apart.append(name)
        else:
            queries.append(query)
    sql, params = _summed(queries)
    return Statement(sql, params, tuple(apart))


_TOTALS = PreparedStatement(_totals_statement, values=1)


def total_query(qs: QuerySet[Any], *fields: str) -> QuerySet[Any]:
    """The sum of `fields` over `qs` as a one-row, one-column query (0 when no row matches).

    SUM as a plain function, not Django's aggregate: no GROUP BY is added, so the query can be
    embedded as a scalar subquery (`sum_of_totals`)."""
    from django.db.models import F, Func, IntegerField, Value
    from django.db.models.functions import Coalesce

    parts = [Coalesce(Func(F(f), function="SUM", output_field=IntegerField()), Value(0)) for f in fields]
    expression: Any = parts[0]
    for part in parts[1:]:
        expression = expression + part
    return qs.order_by().values(total=expression)


def sum_of_totals(queries: list[QuerySet[Any]]) -> int:
    """The sum of several `total_query` results, read in one statement."""
    sql, params = _summed(queries)
    if not sql:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return int(row[0] or 0)


def _summed(queries: list[QuerySet[Any]]) -> tuple[str, list[Any]]:
    """One SELECT adding the `total_query` results ("" when there are none)."""
    parts: list[str] = []
    params: list[Any] = []
    for query in queries:
        sql, query_params = query.query.sql_with_params()
        parts.append(f"COALESCE(({sql}), 0)")
        params.extend(query_params)
    return ("SELECT " + " + ".join(parts), params) if parts else ("", [])


@dataclass(frozen=True)
class CapCheck:
    allowed: bool
    already_cents: int
    remaining_cents: int
    cap_cents: int


def check_annual_cap(already_cents: int, amount_cents: int, rules: FinanceRules) -> CapCheck:
    """Rule F6: may a gift of `amount_cents` be accepted on top of `already_cents` this year?"""
    remaining = max(rules.annual_cap_cents - already_cents, 0)
    return CapCheck(
        allowed=amount_cents <= remaining,
        already_cents=already_cents,
        remaining_cents=remaining,
        cap_cents=rules.annual_cap_cents,
    )


# --- F1 / F2: publication ------------------------------------------------------------------


def publication_required(year_total_cents: int, rules: FinanceRules) -> bool:
    """Rules F1/F2: strictly above the threshold, the donor's name is registered and published."""
    return year_total_cents > rules.publication_threshold_cents


def may_accept(year_total_after_cents: int, objects_to_publication: bool, rules: FinanceRules) -> bool:
    """Rule F2: a donor who objects to publication cannot give once the yearly total passes it."""
    return not (objects_to_publication and publication_required(year_total_after_cents, rules))


# --- F10 / F11 / F12: candidates ------------------------------------------------------------


def candidate_spending_cap_cents(residents: int, rules: FinanceRules) -> int:
    """Rule F11: €52,000 per constituency + €0.01 per resident (both parameters)."""
    return rules.candidate_cap_base_cents + rules.candidate_cap_per_resident_cents * max(residents, 0)


def needs_mandatario(
    elections_called_on: dt.date | None, on: dt.date, own_funds_only: bool, spending_cents: int, rules: FinanceRules
) -> bool:
    """Rule F10: from the day after elections are called, money goes through one mandatario,
    unless the candidate spends less than the exemption and only their own money."""
    if elections_called_on is None or on <= elections_called_on:
        return False
    return not (own_funds_only and spending_cents < rules.candidate_exemption_cents)


def needs_joint_declaration(donor_total_to_candidate_cents: int, rules: FinanceRules) -> bool:
    """Rule F12: strictly above the threshold, giver and receiver file a joint declaration."""
    return donor_total_to_candidate_cents > rules.joint_declaration_threshold_cents


def must_itemise(donor_total_to_candidate_cents: int, natural_person: bool, rules: FinanceRules) -> bool:
    """Rule F11: natural persons above €5,000 are itemised by name; other subjects always."""
    return (not natural_person) or donor_total_to_candidate_cents > rules.itemise_threshold_cents


# --- F2 / F6 at the moment money arrives: admission under a per-donor lock ------------------


@dataclass(frozen=True)
class Admission:
    """May this contribution be kept? `code` says why not ("annual_cap" or "publication_objection")."""

    allowed: bool
    code: str
    cap: CapCheck


def lock_contributor(identity: str) -> None:
    """Serialise, until the caller's transaction ends, every admission of one contributor.

    `identity` is the canonical codice fiscale (the legal identity the caps are about), so the
    lock holds even before the person's record exists. PostgreSQL: a transaction-level advisory
    lock; SQLite serialises writing transactions anyway.
    """
    import hashlib

    from django.db import transaction

    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("lock_contributor must run inside transaction.atomic()")
    if connection.vendor == "postgresql":
        digest = hashlib.blake2b(f"piazza.contributor:{identity}".encode(), digest_size=8).digest()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def admit_contribution(
    person_id: int,
    amount_cents: int,
    receiving_path: str,
    *,
    objects_to_publication: bool = False,
    on: dt.date | None = None,
    entity_code: str = "",
) -> Admission:
    """Rules F6 (cap) and F2 (publication objection) judged again when a payment succeeds.

    Call it inside the transaction that marks the contribution as received, after
    `lock_contributor` for the donor: two gifts of one person succeeding at the same time are
    then judged one after the other, the second sees the first in the totals, and together
    they cannot exceed the cap. Every channel holding money from persons (donations, fees)
    should admit its contributions this way. With `entity_code` (rule F13) the money is that legal
    person's, judged on its own yearly total, never on its representative's (`person_id`).
    """
    day = on or timezone.localdate()
    rules = rules_on(day)
    if entity_code:
        already = entity_annual_total_cents(entity_code, day.year, receiving_path, rules)
    else:
        already = annual_total_cents(person_id, day.year, receiving_path, rules)
    cap = check_annual_cap(already, amount_cents, rules)
    if not cap.allowed:
        return Admission(False, "annual_cap", cap)
    if not may_accept(already + amount_cents, objects_to_publication, rules):
        return Admission(False, "publication_objection", cap)
    return Admission(True, "", cap)
