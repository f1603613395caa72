"""Reads of the tax statements: a donor's own (Il mio spazio) and an official's in scope."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from piazza.compliance.models import TaxStatement, TaxStatementRun
from piazza.compliance.tax_statements.actions.runs import SEE_ROLES
from piazza.compliance.tax_statements.figures import exclusion_words, method_words


@dataclass
class StatementHistory:
    """One (year, entity): the latest version, and the ones it replaced (newest first)."""

    latest: TaxStatement
    earlier: list[TaxStatement] = field(default_factory=list)

    @property
    def excluded(self) -> list[dict[str, Any]]:
        """Rule F8: the gifts of the latest version left out, each with its reason in words."""
        return [
            {
                "date": dt.date.fromisoformat(line["date"]),
                "amount_cents": int(line["amount_cents"]),
                "method": method_words(line["method"]),
                "reason": exclusion_words(line["excluded"]),
            }
            for line in self.latest.lines
            if line["excluded"]
        ]


def statements_of(person: Any) -> list[StatementHistory]:
    """The person's statements, newest year first; one query."""
    histories: dict[tuple[int, int], StatementHistory] = {}
    for statement in (
        TaxStatement.objects.filter(person=person)
        .select_related("entity")
        .order_by("-year", "entity__path", "-version")
    ):
        key = (statement.year, statement.entity_id)
        if key in histories:
            histories[key].earlier.append(statement)
        else:
            histories[key] = StatementHistory(latest=statement)
    return list(histories.values())


def statements_visible(user: Any, *, year: int | None = None, search: str = "") -> QuerySet[TaxStatement]:
    """The latest versions an official may see (their subtree's qualifying entities)."""
    rows = TaxStatement.objects.visible_to(user, SEE_ROLES).latest_versions().select_related("entity")
    if year:
        rows = rows.filter(year=year)
    words = search.strip()
    if words:
        rows = rows.filter(Q(donor_name__icontains=words) | Q(donor_codice_fiscale__iexact=words.upper()))
    return rows.order_by("-year", "donor_name", "entity__path", "id")  # type: ignore[no-any-return]


def runs_visible(user: Any) -> QuerySet[TaxStatementRun]:
    return TaxStatementRun.objects.visible_to(user, SEE_ROLES).order_by("-created_at", "-id")  # type: ignore[no-any-return]
