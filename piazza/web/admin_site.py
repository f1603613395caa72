"""Django admin is for national administrators only, after 2FA (issue: Foundation)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from piazza.territory.models import Role, Territory


class PiazzaAdminSite(admin.AdminSite):
    site_header = "piazza · amministrazione nazionale"
    site_title = "piazza"

    def has_permission(self, request: HttpRequest) -> bool:
        user: Any = request.user
        if not (user.is_active and user.is_authenticated and user.is_staff):
            return False
        if not user.is_verified():
            return False
        national = Territory.objects.filter(level="national").first()
        return national is not None and user.role_assignments.filter(
            territory=national, role=Role.ADMINISTRATOR, revoked_at__isnull=True
        ).exists()
