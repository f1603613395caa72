"""Model permissions for Django admin follow the party role, not per-user permission lists."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend

from piazza.territory.models import Level, Role, RoleAssignment


class NationalAdministratorBackend(BaseBackend):
    """National administrators hold every model permission; the admin site itself still
    requires a verified second factor (see `piazza.web.admin_site`), and admin classes may
    refuse changes (audit log, role assignments) regardless."""

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return self._is_national_admin(user_obj)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return self._is_national_admin(user_obj)

    def _is_national_admin(self, user: Any) -> bool:
        if not getattr(user, "is_active", False) or not getattr(user, "is_authenticated", False):
            return False
        cached = user.__dict__.get("_piazza_national_admin")
        if cached is None:
            cached = RoleAssignment.objects.filter(
                user=user,
                role=Role.ADMINISTRATOR,
                territory__level=Level.NATIONAL,
                revoked_at__isnull=True,
            ).exists()
            user.__dict__["_piazza_national_admin"] = cached
        return bool(cached)
