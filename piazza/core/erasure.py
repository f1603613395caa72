"""The vocabulary every app uses to declare and erase personal data (rule G5, issue 12).

Each app that stores data about people keeps a `piazza/<app>/erasure.py` next to its models:

    ERASURE = {Donation: {"email": BLANK, "first_name": PSEUDONYM, ...}}   # personal columns + treatment
    NOT_PERSONAL = {Donation: {"amount_cents": "an amount, no identity"}}  # looks personal, is not: why
    def erase(person, holds) -> dict[str, int]                             # blank the person's rows

`erase` blanks what the law does not require and hands what it does to `holds.keep(...)`, which
records a named legal hold (privacy.LegalHold) and leaves those columns until the hold expires;
then `scrub` runs on them with the same treatments. Lower apps import this module, never privacy
(the holds book is passed in). `tests/test_erasure_sweep.py` fails on a personal-looking column
declared in neither map.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from django.db import models

from piazza.core.models import AuditEntry, PeriodicRun

# Treatments of a personal column.
BLANK = "blank"  # "" (or None where the column is nullable and not text)
NULL = "null"  # None
PSEUDONYM = "pseudonym"  # the fixed text ERASED_NAME: a record that still needs a name to read
EMPTY = "empty"  # JSON: the column's default ({} or [])
FILE = "file"  # the stored file is deleted, the column blanked
LINK = "link"  # a foreign key to the (pseudonymised) person: kept, it points at nobody any more
KEEP = "keep"  # kept whole by law or structure: the reason is in KEEP_REASONS of the app module
DELETE_ROW = "delete_row"  # the whole row goes (use as {"*": DELETE_ROW} alongside the columns)
TOKEN = "token"  # a unique secret or address (link token, slug): replaced by a fresh random one
REDACT = "redact"  # audit log: the person's values replaced by their pseudonym, the chain kept (audit_redaction)

ROW = "*"
ERASED_NAME = "Persona cancellata"
ERASED_FIRST_NAME = "Persona"
ERASED_LAST_NAME = "cancellata"

Declaration = dict[type[models.Model], dict[str, str]]


class HoldBook(Protocol):
    """What `erase(person, holds)` receives: privacy's book of legal holds for this erasure."""

    def keep(
        self,
        objs: Iterable[models.Model],
        *,
        kind: str,
        fields: Iterable[str],
        start: Callable[[Any], dt.date],
        why: str,
    ) -> set[Any]:
        """Hold `fields` of `objs` under the legal hold `kind` (its basis and length are settings,
        counted from the end of the year of `start(obj)`); returns the primary keys now held
        (an object whose hold would already have ended is not held)."""
        ...


def _value(field: models.Field[Any, Any], treatment: str) -> Any:
    if treatment == PSEUDONYM:
        return ERASED_NAME[: field.max_length or None]
    if treatment == EMPTY:
        return field.get_default()
    text = isinstance(field, models.CharField | models.TextField)
    if treatment == NULL or (treatment == BLANK and field.null and not text):
        return None
    return ""


def update_values(
    model: type[models.Model], treatments: dict[str, str], only: Iterable[str] | None = None
) -> dict[str, Any]:
    """The column → erased value map of `treatments` (restricted to `only`), for a queryset update."""
    wanted = set(only) if only is not None else None
    values: dict[str, Any] = {}
    for name, treatment in treatments.items():
        if (
            name == ROW
            or treatment in (KEEP, LINK, DELETE_ROW, TOKEN, REDACT)
            or (wanted is not None and name not in wanted)
        ):
            continue
        field = model._meta.get_field(name)
        if treatment == FILE:
            continue
        if field.many_to_many:
            continue
        values[name] = _value(field, treatment)  # type: ignore[arg-type]
    return values


def scrub(
    queryset: models.QuerySet[Any],
    treatments: dict[str, str],
    *,
    only: Iterable[str] | None = None,
    skip_pks: Iterable[Any] = (),
) -> int:
    """Apply the treatments to every row of `queryset` (but `skip_pks`); `only` limits the columns
    (the held ones, when a hold expires). Returns the number of rows touched."""
    model = queryset.model
    queryset = queryset.exclude(pk__in=list(skip_pks))
    if treatments.get(ROW) == DELETE_ROW and only is None:
        count = queryset.count()
        queryset.delete()
        return count
    wanted = set(only) if only is not None else None
    for name, treatment in treatments.items():
        if wanted is not None and name not in wanted:
            continue
        if treatment == FILE:
            for obj in queryset.exclude(**{name: ""}):
                getattr(obj, name).delete(save=False)
        elif name != ROW and model._meta.get_field(name).many_to_many:
            for obj in queryset:
                getattr(obj, name).clear()
    tokens = [name for name, t in treatments.items() if t == TOKEN and (wanted is None or name in wanted)]
    if tokens:
        for pk in list(queryset.values_list("pk", flat=True)):
            model._default_manager.filter(pk=pk).update(**{name: secrets.token_urlsafe(32) for name in tokens})
    values = update_values(model, treatments, only)
    for name, treatment in treatments.items():
        if treatment == FILE and (wanted is None or name in wanted):
            values[name] = ""
    if not values:
        return queryset.count()
    return queryset.update(**values)


# --- core's own declarations ---------------------------------------------------------------------


def core_declarations() -> tuple[Declaration, Declaration, dict[str, str]]:
    # The audit log is pseudonymised in place by `piazza.core.audit_redaction` (erasure's last step),
    # not by `scrub`: the chain seals a digest of these columns (docs/dev/erasure.md).
    erasure: Declaration = {AuditEntry: {"data": REDACT, "actor_label": REDACT, "ip": REDACT, "user_agent": REDACT}}
    not_personal: Declaration = {PeriodicRun: {"name": "a task's dotted path"}}
    reasons: dict[str, str] = {}
    return erasure, not_personal, reasons
