"""Refusals that users can act on (convention 15): one place to raise them and log the attempt."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from piazza.core.audit import Actor, HasTerritory, record
from piazza.core.models import AuditKind


def refuse(
    action: str,
    message: Any,
    *,
    actor: Actor,
    territory: HasTerritory | None = None,
    code: str = "invalid",
    field: str | None = None,
    permission: bool = False,
    rule: str = "",
) -> None:
    """Log a refused attempt in the audit log (outside any rolled-back work) and raise.

    `permission=True` raises PermissionDenied (HTTP 403); otherwise a ValidationError whose
    message is shown in the form, optionally attached to `field`. `rule` (a DOMAIN.md id such as
    "M17") goes into the audit detail only: people read the message, never the rule id.
    """
    with transaction.atomic():
        record(
            action, actor=actor, territory=territory, kind=AuditKind.DENIED,
            data={"reason": str(message), "code": code, **({"rule": rule} if rule else {})},
        )
    if permission:
        raise PermissionDenied(message)
    if field:
        raise ValidationError({field: ValidationError(message, code=code)})
    raise ValidationError(message, code=code)
