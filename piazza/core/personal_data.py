"""A page that shows personal data writes an audit entry (rule G4), by construction.

A back-office view that renders personal data is decorated with
`@shows_personal_data("people.list")`: every request it answers with a page (status 200)
writes one audit entry of kind VIEW with the action, the query string (the search or filter the
official used) and what the view notes with `note_access` (the object, the ids shown or how
many rows), never the data itself. Redirects, refusals and errors write nothing: nothing was shown.

The same module is core's data-rights handler (rule G5, docs/adr/0015): `export` returns the
audit entries about a person and about the rows other apps exported for them.

The decorator also marks the view (`view.shows_personal_data`), and a test walks every URL
pattern of the apps that hold personal data and fails on an unmarked back-office view that is
not in its allow-list of views showing no personal data, each with a reason
(tests/test_personal_data_sweep.py). Views that already write their own, more specific entry
(a download through the export writer, a page that records the object it opens) are marked
with `audited_inline=True`; the same test opens each of them and checks an entry is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.db import models
from django.db.models import Q
from django.http import HttpRequest, HttpResponse

from piazza.core.audit import HasTerritory, record
from piazza.core.models import AuditEntry, AuditKind

View = Callable[..., HttpResponse]

MARK = "shows_personal_data"
MAX_IDS = 500
MAX_QUERY_VALUE = 200


@dataclass
class Access:
    """What one request showed: filled by the view with `note_access`, logged by the decorator."""

    obj: models.Model | None = None
    territory: HasTerritory | None = None
    data: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[Access | None] = ContextVar("piazza_personal_data_access", default=None)


def note_access(
    *,
    obj: models.Model | None = None,
    territory: HasTerritory | None = None,
    ids: Iterable[Any] | None = None,
    count: int | None = None,
    **data: Any,
) -> None:
    """Tell the audit entry of the current page what it showed: the object opened, the
    territory it belongs to, the ids of the rows listed or their number. Outside a view marked
    with `shows_personal_data` it does nothing."""
    access = _current.get()
    if access is None:
        return
    if obj is not None:
        access.obj = obj
    if territory is not None:
        access.territory = territory
    if ids is not None:
        listed = [str(i) for i in ids]
        access.data["ids"] = listed[:MAX_IDS]
        access.data["count"] = len(listed)
    if count is not None:
        access.data["count"] = count
    access.data.update(data)


def _query(request: HttpRequest) -> dict[str, list[str]]:
    return {
        key[:50]: [v[:MAX_QUERY_VALUE] for v in values][:10]
        for key, values in list(request.GET.lists())[:30]
        if key != "csrfmiddlewaretoken"
    }


def is_marked(view: Any) -> bool:
    return bool(getattr(view, MARK, None))


def shows_personal_data(action: str, *, audited_inline: bool = False) -> Callable[[View], View]:
    """Mark a view as showing personal data and log each page it renders (rule G4).

    `audited_inline`: the view writes its own entry of kind VIEW or EXPORT (with the object it
    opens, or through the export writer); the decorator only marks it, so one request never
    writes two entries."""

    def decorator(view: View) -> View:
        if audited_inline:
            setattr(view, MARK, action)
            return view

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            access = Access()
            token = _current.set(access)
            try:
                response = view(request, *args, **kwargs)
            finally:
                _current.reset(token)
            user: Any = getattr(request, "user", None)
            if response.status_code == 200 and user is not None and user.is_authenticated:
                data: dict[str, Any] = {"method": request.method}
                query = _query(request)
                if query:
                    data["query"] = query
                if kwargs:
                    data["args"] = {k: str(v)[:MAX_QUERY_VALUE] for k, v in kwargs.items()}
                record(
                    action,
                    actor=user,
                    obj=access.obj,
                    territory=access.territory,
                    kind=AuditKind.VIEW,
                    data={**data, **access.data},
                )
            return response

        setattr(wrapper, MARK, action)
        return wrapper

    return decorator


# --- Data-rights handler (rule G5): audit entries about the person --------------------------------

SECTION = "audit"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    AuditEntry: ["object_id", "data"],
}

# Who did it is exported by name; the official's address and browser are not the person's data.
_AUDIT_COLUMNS = ["at", "kind", "action", "actor_label", "channel", "object_type", "object_id", "data"]


def export(person: Any, *, related: Iterable[tuple[str, Any]] = ()) -> dict[str, list[dict[str, Any]]]:
    """Entries whose object is the person or one of the rows exported for them (`related`:
    (model label, primary key) pairs gathered by the privacy registry from the other sections)."""
    wanted: dict[str, set[str]] = {person._meta.label_lower: {str(person.pk)}}
    for label, pk in related:
        wanted.setdefault(label, set()).add(str(pk))
    condition = Q(pk__in=[])
    for label, ids in wanted.items():
        condition |= Q(object_type=label, object_id__in=sorted(ids))
    entries = AuditEntry.objects.filter(condition).order_by("at", "id").values(*_AUDIT_COLUMNS)
    return {"core.auditentry": [{**entry, "at": entry["at"].isoformat()} for entry in entries]}
