"""Django admin is for national administrators only, after 2FA (issue: Foundation)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from piazza.territory.models import Level, Role


class PiazzaAdminSite(admin.AdminSite):
    """Admin behind piazza's own login and 2FA; entry only for national administrators."""

    site_header = "piazza · amministrazione nazionale"
    site_title = "piazza"

    def has_permission(self, request: HttpRequest) -> bool:
        user: Any = request.user
        if not (user.is_active and user.is_authenticated and user.is_staff):
            return False
        if not user.is_verified():
            return False
        return user.role_assignments.filter(
            territory__level=Level.NATIONAL, role=Role.ADMINISTRATOR, revoked_at__isnull=True
        ).exists()

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """piazza's own login (throttled, then 2FA) instead of the admin's password-only form."""
        target = request.GET.get("next") or reverse("admin:index")
        if request.user.is_authenticated:
            return redirect(f"{reverse('web:otp_verify')}?{urlencode({'next': target})}")
        return redirect(f"{reverse('web:login')}?{urlencode({'next': target})}")
