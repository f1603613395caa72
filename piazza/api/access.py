"""What an API key sees (issue 16, convention 11): its owner's roles, cut down to the key's node.

A key never carries roles of its own. Each permission names the back-office roles that do the
same thing on the pages; the key acts as its owner restricted to the key's territory subtree, so
every read goes through the existing `visible_to` querysets and every write through the same
actions, with the same scope checks, as the owner's pages.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from piazza.api.models import ApiKey, Permission
from piazza.events.models import EVENT_ROLES
from piazza.funding.actions.permissions import CAMPAIGN_ROLES
from piazza.outreach.queries import SEND_ROLES
from piazza.people.models import READ_ROLES, WRITE_ROLES
from piazza.petitions.actions import MANAGE_ROLES as PETITION_ROLES
from piazza.territory.models import Role, RoleAssignment
from piazza.territory.scoping import scope_paths

MEMBERSHIP_READ_ROLES: set[str] = {Role.MEMBERSHIP, Role.ORGANISATION, Role.ADMINISTRATOR, Role.GUARANTEE}

PERMISSION_ROLES: dict[str, set[str]] = {
    Permission.READ_PEOPLE: set(READ_ROLES),
    Permission.WRITE_PEOPLE: set(WRITE_ROLES),
    Permission.READ_DONATIONS: set(CAMPAIGN_ROLES),
    Permission.READ_CAMPAIGNS: set(CAMPAIGN_ROLES),
    Permission.READ_MEMBERSHIPS: MEMBERSHIP_READ_ROLES,
    # Attendees and signers are personal data: only roles that also read people there (READ_ROLES)
    # read them, as on the organiser's and the petition manager's pages.
    Permission.READ_EVENTS: set[str](EVENT_ROLES) & set[str](READ_ROLES),
    Permission.WRITE_EVENTS: set[str](EVENT_ROLES),
    Permission.READ_PETITIONS: set[str](PETITION_ROLES) & set[str](READ_ROLES),
    Permission.WRITE_PETITIONS: set[str](PETITION_ROLES),
    Permission.READ_MESSAGES: set[str](SEND_ROLES),
}


def _narrow(path: str, node: str) -> str | None:
    """The part of the subtree `path` that lies within the subtree `node` (None: they are apart)."""
    if node.startswith(path):
        return node
    if path.startswith(node):
        return path
    return None


def key_actor(key: ApiKey) -> Any:
    """The key's owner as a fresh user object whose role paths are cut down to the key's node.

    `scope_paths` (and so `visible_to`, `has_role_at` and the actions' scope checks) reads the
    role paths cached on the user object: seeding that cache with the narrowed pairs makes every
    existing check see exactly what the owner's role sees at the key's node, and nothing above it.
    """
    user = actor_at(key.owner_id, key.territory.path)
    user.__dict__["_piazza_api_key"] = key
    return user


def actor_at(owner_id: int, node: str) -> Any:
    """The user `owner_id` with role paths cut down to the subtree `node` (a key's, a webhook's)."""
    user: Any = get_user_model().objects.get(pk=owner_id)
    pairs = RoleAssignment.objects.filter(
        user_id=owner_id, revoked_at__isnull=True, territory__closed_at__isnull=True
    ).values_list("role", "territory__path")
    narrowed = [(role, cut) for role, path in pairs if (cut := _narrow(path, node)) is not None]
    user.__dict__["_piazza_role_paths"] = narrowed
    return user


def roles_for(permission: str) -> set[str]:
    return PERMISSION_ROLES[permission]


def grantable_permissions(user: Any, territory: Any) -> list[str]:
    """Permissions whose roles `user` holds at `territory` (a key may not exceed its creator)."""
    return [
        permission
        for permission, roles in PERMISSION_ROLES.items()
        if any(territory.path.startswith(p) for p in scope_paths(user, roles))
    ]
