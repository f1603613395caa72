"""Who may act, and how a refusal of several fields is written; shared by every membership topic."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from piazza.core.audit import record
from piazza.core.models import AuditKind
from piazza.territory.models import Role

MEMBERSHIP_ROLES = {Role.MEMBERSHIP, Role.ORGANISATION, Role.ADMINISTRATOR}


GUARANTEE_ROLES = {Role.GUARANTEE, Role.ADMINISTRATOR}


def _refuse_many(
    action: str, errors: dict[str, list[str]], *, actor: Any, territory: Any = None, code: str = "invalid"
) -> None:
    """Like `refuse`, for a form with several wrong fields: one audit entry, every message."""
    with transaction.atomic():
        record(
            action,
            actor=actor,
            territory=territory,
            kind=AuditKind.DENIED,
            data={"reason": "; ".join(m for ms in errors.values() for m in ms), "code": code, "fields": sorted(errors)},
        )
    raise ValidationError({f: [ValidationError(m, code=code) for m in ms] for f, ms in errors.items()})
