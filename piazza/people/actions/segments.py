"""Saved segments."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.people.models import (
    Segment,
)
from piazza.territory.models import Territory

from ._records import _is_user, _require_scope


def save_segment(
    *,
    actor: Any,
    name: str,
    territory: Territory,
    definition: dict[str, Any],
    segment: Segment | None = None,
) -> Segment:
    """A saved filter definition; evaluated later always within the viewer's scope."""
    from piazza.people.queries import clean_definition

    _require_scope("people.save_segment", actor, territory)
    if not name.strip():
        refuse("people.save_segment", _("Dai un nome al segmento."), actor=actor, territory=territory, field="name")
    with transaction.atomic():
        if segment is None:
            segment = Segment(created_by=actor if _is_user(actor) else None)
        segment.name = name.strip()[:120]
        segment.territory = territory
        segment.definition = clean_definition(definition)
        segment.save()
        record(
            "people.save_segment",
            actor=actor,
            obj=segment,
            territory=territory,
            data={"definition": segment.definition},
        )
    return segment


def delete_segment(*, actor: Any, segment: Segment) -> None:
    _require_scope("people.delete_segment", actor, segment.territory)
    with transaction.atomic():
        record(
            "people.delete_segment",
            actor=actor,
            obj=segment,
            territory=segment.territory,
            data={"name": segment.name, "definition": segment.definition},
        )
        segment.delete()
