"""A report: every table of a scope and year, computed in one snapshot of the database at one
ledger position, and cached per scope, year and position (issue 13: "a published figure equals
the ledger at its publication time")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from dataclasses import replace
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import get_language

from piazza.compliance.models import Candidacy
from piazza.compliance.rules import rules_on
from piazza.core.replica import REPLICA_ALIAS, Staleness, reading, staleness
from piazza.ledger.models import Account, LedgerTransaction
from piazza.territory.models import Territory
from piazza.transparency.disclosure import Cell, at_risk
from piazza.transparency.queries import (
    CACHE_PREFIX,
    CANDIDATE_FUND_KINDS,
    Report,
    Scope,
    ledger_position,
    ledger_year,
    min_donors,
    refresh_seconds,
    registered_donors,
    residents,
    scope_lines,
    small_gift_cents,
)
from piazza.transparency.tables import (
    balance_table,
    campaign_tables,
    candidate_expense_rows,
    candidate_expenses_table,
    expense_items_table,
    expenses_table,
    gift_cells,
    income_table,
    months_table,
    stats,
    territories_table,
)

# --- The report ------------------------------------------------------------------------------------------------


def _children(scope: Scope) -> list[Territory]:
    if scope.kind != "territory":
        return []
    return list(Territory.objects.filter(parent_id=scope.pk, closed_at__isnull=True).order_by("name"))


def has_mandatario_account(candidacy: Candidacy) -> bool:
    candidacy_type = ContentType.objects.get_for_model(Candidacy)
    return Account.objects.filter(
        kind__in=CANDIDATE_FUND_KINDS, owner_type=candidacy_type, owner_id=str(candidacy.pk)
    ).exists()


def _candidacies(scope: Scope) -> list[tuple[int, str]]:
    """Candidacies below the territory whose mandatario has an account (rule F10)."""
    if scope.kind != "territory":
        return []
    candidacy_type = ContentType.objects.get_for_model(Candidacy)
    with_accounts = set(
        Account.objects.filter(kind__in=CANDIDATE_FUND_KINDS, owner_type=candidacy_type).values_list(
            "owner_id", flat=True
        )
    )
    return [
        (int(c.pk), f"{c.candidate_name} · {c.election}")
        for c in Candidacy.objects.filter(territory__path__startswith=scope.path).order_by("-pk")
        if str(c.pk) in with_accounts
    ]


def compute_report(scope: Scope, year: int, position: int | None = None) -> Report:
    """The figures of one scope and year at one ledger position, read in one snapshot — from the
    streaming replica when it is at most REPLICA_MAX_LAG["portal"] seconds behind (issue 14): the
    figures are then those of that moment, which the page states ("dati al …"). A replica that has
    not yet replayed the ledger position the page is published at is not used: its figures would
    be filed under a position they do not reach."""
    stale = staleness("portal")
    if stale.alias == REPLICA_ALIAS and position is not None:
        with reading(stale):
            replayed = int(LedgerTransaction.objects.aggregate(m=Max("id"))["m"] or 0)
        if replayed < position:
            stale = Staleness("portal", DEFAULT_DB_ALIAS, 0.0)
    with reading(stale):
        reader = connections[stale.alias]
        if reader.vendor == "postgresql" and not reader.in_atomic_block:
            with transaction.atomic(using=stale.alias):
                with reader.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                return _compute(scope, year, position, stale)
        return _compute(scope, year, position, stale)


def _registered(year: int, position: int) -> set[Hashable]:
    key = f"{CACHE_PREFIX}:registered:{year}:{position}"
    found = cache.get(key)
    if found is None:
        found = registered_donors(year)
        cache.set(key, found, refresh_seconds() * 2)
    return set(found)


def _compute(scope: Scope, year: int, position: int | None, stale: Staleness) -> Report:
    # Read from a replica, the figures are those of `lag` seconds ago.
    computed_at = timezone.now() - dt.timedelta(seconds=stale.lag_seconds)
    if position is None:
        position = ledger_position(fresh=True)
    k = min_donors()
    rules = rules_on(dt.date(year, 12, 31))
    registered = _registered(year, position)
    lines = scope_lines(scope, year)
    money = ledger_year(scope, year, position)
    income, withheld = income_table(scope, year, lines, registered, money, k)
    children = _children(scope)
    expenses = candidate_expense_rows(scope, year, position)
    campaigns, budget_lines = campaign_tables(scope, year, position, registered, k)
    tables = {
        "income": income,
        "expenses": expenses_table(scope, money, expenses),
        "candidate_expenses": candidate_expenses_table(scope, expenses),
        "expense_items": expense_items_table(scope, expenses),
        "balance": balance_table(money, year),
        "campaigns": campaigns,
        "budget_lines": budget_lines,
        "donors_by_month": months_table(lines, registered, year, k),
        "donors_by_territory": territories_table(scope, lines, registered, children, k),
    }
    gifts = gift_cells(lines, registered, lambda _line: ("all", ""))
    everyone = gifts.get("all", Cell("all", ""))
    territory = Territory.objects.get(pk=scope.pk) if scope.kind == "territory" else None
    people = residents(territory) if territory is not None else 0
    summary = {
        **stats(everyone, small_gift_cents()),
        "residents": people or None,
        "donors_per_1000": round(1000 * len(everyone.donors) / people, 2) if people else None,
        "closing_cents": money.closing_cents,
        "income_cents": money.income_cents,
        "expenses_cents": money.expenses_cents,
    }
    if withheld or at_risk(everyone, k):
        withheld = True
        for table in tables.values():
            table.rows = []
            table.withheld = True
        summary = {}
    return Report(
        scope=scope,
        year=year,
        computed_at=computed_at,
        ledger_position=position,
        k=k,
        threshold_cents=rules.publication_threshold_cents,
        withheld=withheld,
        tables=tables,
        summary=summary,
        children=[(int(t.pk), t.name) for t in children],
        candidacies=_candidacies(scope),
    )


def _words(value: Any) -> Any:
    return str(value) if isinstance(value, Promise) else value


def in_words(built: Report) -> Report:
    """The report with every translatable text turned into words of the active language: a
    cached copy per language unpickles no lazy translation (each costs a class creation)."""
    tables = {
        name: replace(
            table,
            title=str(table.title),
            note=str(table.note),
            columns=[replace(c, title=str(c.title), description=str(c.description)) for c in table.columns],
            rows=[{k: _words(v) for k, v in row.items()} for row in table.rows],
        )
        for name, table in built.tables.items()
    }
    return replace(built, tables=tables)


def report(scope: Scope, year: int) -> Report:
    """The cached report: one computation per scope, year and ledger position (then one copy in
    words per language)."""
    position = ledger_position()
    key = f"{CACHE_PREFIX}:report:{scope.slug}:{year}:{position}"
    seconds = max(refresh_seconds() * 4, 60)
    words_key = f"{key}:{get_language() or 'it'}"
    found = cache.get(words_key)
    if isinstance(found, Report):
        return found
    built = cache.get(key)
    if not isinstance(built, Report):
        built = compute_report(scope, year, position)
        cache.set(key, built, seconds)
    words = in_words(built)
    cache.set(words_key, words, seconds)
    return words
