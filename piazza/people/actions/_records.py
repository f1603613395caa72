"""Writes on a person's record shared by creation, merging and imports: scope guard, contacts, tags, snapshots."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.utils.translation import gettext as _

from piazza.core.errors import refuse
from piazza.people import dedupe
from piazza.people.models import (
    WRITE_ROLES,
    Email,
    Person,
    Phone,
    Tag,
)
from piazza.people.validation import CleanedPerson
from piazza.territory.models import Territory
from piazza.territory.scoping import has_role_at

PERSON_FIELDS = (
    "first_name",
    "last_name",
    "sex",
    "birth_date",
    "birth_comune",
    "birth_country",
    "codice_fiscale",
    "citizenship",
    "residence_street",
    "residence_cap",
    "residence_comune",
    "domicile_street",
    "domicile_cap",
    "domicile_comune",
    "notes",
)


def _is_user(actor: Any) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)


def _require_scope(action: str, actor: Any, territory: Territory) -> None:
    """An official may only write people inside their subtree; system flows (actor None) may."""
    if _is_user(actor) and not has_role_at(actor, territory, WRITE_ROLES):
        refuse(
            action,
            _(
                "«%(territory)s» è fuori dal tuo territorio: puoi gestire solo le persone dei territori "
                "dove hai un incarico."
            )
            % {"territory": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )


def _set_contacts(
    person: Person, model: type[Email] | type[Phone], values: list[str], *, new: bool = False
) -> list[str]:
    """Add the values not yet there; the first value becomes primary if none is. Returns added.

    `new`: the person was inserted in this transaction, so it has no contacts to read (issue 14, P8)."""
    existing = {} if new else {c.value: c for c in model.objects.filter(person=person)}
    has_primary = any(c.primary for c in existing.values())
    added = []
    for value in values:
        if value in existing:
            continue
        model.objects.create(person=person, value=value, primary=not has_primary)
        has_primary = True
        added.append(value)
    return added


def _set_tags(person: Person, names: Iterable[str], *, new: bool = False) -> list[str]:
    """Add the tags not yet there (`new` as for `_set_contacts`). Returns added."""
    added = []
    current: set[str] = set() if new else set(person.tags.values_list("name", flat=True))
    for name in names:
        if name in current:
            continue
        tag, _created = Tag.objects.get_or_create(name=name[:60])
        person.tags.add(tag)
        added.append(name)
    return added


def _snapshot(person: Person) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in PERSON_FIELDS:
        value = getattr(person, name)
        if isinstance(value, models.Model):
            value = value.pk
        elif isinstance(value, dt.date):
            value = value.isoformat()
        out[name] = value
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _probe(cleaned: CleanedPerson) -> dedupe.Probe:
    values = cleaned.values
    return dedupe.Probe(
        first_name=values.get("first_name", ""),
        last_name=values.get("last_name", ""),
        birth_date=values.get("birth_date"),
        codice_fiscale_canonical=values.get("codice_fiscale_canonical", ""),
        emails=cleaned.emails,
        phones=cleaned.phones,
        comune_ids={c.pk for c in (values.get("birth_comune"), values.get("residence_comune")) if c},
    )
