"""Write the audit log (rule G4). Every action and every view/export of personal data calls this."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from piazza.core.context import current_origin
from piazza.core.models import AuditEntry, AuditKind


class HasTerritory(Protocol):
    pk: Any
    path: str


if TYPE_CHECKING:
    from django.contrib.auth.models import User

Actor = AbstractBaseUser | AnonymousUser | None


def acting_user(actor: Actor) -> User | None:
    """The actor as the user row a `…_by` foreign key stores: None for the system (actor None) and for an
    anonymous visitor. Lets actions take `actor: Actor` instead of `Any`."""
    if actor is None or not actor.is_authenticated:
        return None
    return cast("User", actor)


def _without_nul(value: object) -> object:
    """PostgreSQL's JSON cannot hold U+0000: a refusal quoting what was typed (an API body may carry
    one; the forms refuse it) is still logged, the character shown as U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


def record(
    action: str,
    *,
    actor: Actor,
    obj: models.Model | None = None,
    territory: HasTerritory | None = None,
    kind: str = AuditKind.WRITE,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit entry. Call it inside the action's transaction so both commit together."""
    origin = current_origin()
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    entry = AuditEntry(
        actor=user,  # type: ignore[misc]
        actor_label=user.get_username() if user is not None else "",
        kind=kind,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        territory_id=territory.pk if territory is not None else None,
        territory_path=territory.path if territory is not None else "",
        ip=origin.ip,
        user_agent=origin.user_agent,
        channel=origin.channel,
        data=cast("dict[str, Any]", _without_nul(data or {})),
    )
    entry.save()
    return entry
