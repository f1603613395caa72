"""Rows of personal data as plain JSON values, for the access and portability export (rule G5).

Each app's `personal_data` module uses `rows()` to turn its querysets into lists of dicts; the
privacy app (a higher layer) gathers them. Lives in core so that a lower app never imports privacy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import models

# Columns that are secrets of the platform, not data about the person: never exported.
SECRET_COLUMNS = frozenset(
    {
        "token_hash",
        "manage_token",
        "idempotency_key",
        "creation_key",
        "payer_fingerprint",
        "token",
        "search_name",
        "codice_fiscale_canonical",
        "digest",
        "prev_digest",
        "key_id",
    }
)


def value(field: models.Field[Any, Any], obj: models.Model) -> Any:
    raw = getattr(obj, field.attname)
    if raw is None:
        return None
    if field.choices:
        display = getattr(obj, f"get_{field.name}_display")()
        return {"value": raw, "label": str(display)}
    if isinstance(field, models.ForeignKey):
        target = getattr(obj, field.name, None)
        return {"id": raw, "label": str(target)} if target is not None else {"id": raw}
    if isinstance(field, models.FileField):
        return raw.name if raw else ""
    if isinstance(raw, (dt.datetime, dt.date)):
        return raw.isoformat()
    if isinstance(raw, (str, int, float, bool, list, dict)):
        return raw
    return str(raw)


def row(obj: models.Model, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """One model instance as {column: value}; choices carry their label, foreign keys their name."""
    skipped = SECRET_COLUMNS | set(exclude)
    return {f.name: value(f, obj) for f in obj._meta.concrete_fields if f.name not in skipped}


def rows(queryset: Iterable[models.Model], *, exclude: Iterable[str] = ()) -> list[dict[str, Any]]:
    excluded = set(exclude)
    return [row(obj, exclude=excluded) for obj in queryset]
