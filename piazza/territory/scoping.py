"""Scoping (ARCHITECTURE convention 11): an official sees only their territory subtree.

Every queryset of personal or financial data is a `ScopedQuerySet` and is read through
`visible_to(user, roles=...)`. A scope is a set of materialised territory paths; a row is
visible when its territory path starts with one of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q

_M = TypeVar("_M", bound=models.Model)


def _is_unverified(user: Any) -> bool:
    """Users coming from a request carry django-otp's `is_verified`; without 2FA they see nothing.

    Users loaded outside a request (commands, tasks) have no such attribute: their actions are
    checked by role only, since no screen shows them anything.
    """
    check = getattr(user, "is_verified", None)
    return callable(check) and not check()


def scope_paths(user: Any, roles: Iterable[str] | None = None) -> list[str]:
    """Minimal list of subtree paths where `user` holds one of `roles` (any role if None).

    One query per user object and request: every (role, path) pair is read once, and each role
    set asked for afterwards (navigation, sections, scoped querysets) is computed from them.
    """
    if user is None or not getattr(user, "is_authenticated", False) or _is_unverified(user):
        return []
    key = frozenset(roles) if roles is not None else None
    cache: dict[Any, list[str]] = user.__dict__.setdefault("_piazza_scope_cache", {})
    if key in cache:
        return cache[key]
    from piazza.territory.models import RoleAssignment

    if "_piazza_role_paths" not in user.__dict__:
        user.__dict__["_piazza_role_paths"] = list(
            RoleAssignment.objects.filter(
                user=user, revoked_at__isnull=True, territory__closed_at__isnull=True
            ).values_list("role", "territory__path")
        )
    pairs: list[tuple[str, str]] = user.__dict__["_piazza_role_paths"]
    paths = sorted({path for role, path in pairs if key is None or role in key})
    minimal: list[str] = []
    for path in paths:  # sorted, so an ancestor comes before its descendants
        if not any(path.startswith(kept) for kept in minimal):
            minimal.append(path)
    cache[key] = minimal
    return minimal


def forget_scope(user: Any) -> None:
    user.__dict__.pop("_piazza_scope_cache", None)
    user.__dict__.pop("_piazza_role_paths", None)


def is_official(user: Any) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    from piazza.territory.models import RoleAssignment

    return RoleAssignment.objects.filter(user=user, revoked_at__isnull=True).exists()


def path_in_scope(path: str, paths: Iterable[str]) -> bool:
    return any(path.startswith(p) for p in paths)


def has_role_at(user: Any, territory: Any, roles: Iterable[str] | None = None) -> bool:
    return path_in_scope(territory.path, scope_paths(user, roles))


def require_role_at(user: Any, territory: Any, roles: Iterable[str] | None = None) -> None:
    if not has_role_at(user, territory, roles):
        raise PermissionDenied


class ScopedQuerySet(models.QuerySet[_M]):
    """A queryset whose rows hang below a territory; subclasses name the path lookup."""

    scope_path_field: ClassVar[str] = "territory__path"

    def visible_to(self, user: Any, roles: Iterable[str] | None = None) -> Any:
        paths = scope_paths(user, roles)
        if not paths:
            return self.none()
        condition = Q()
        for path in paths:
            condition |= Q(**{f"{self.scope_path_field}__startswith": path})
        return self.filter(condition)
