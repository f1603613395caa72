"""Admin for the audit log: read-only, national administrators only (see web.admin_site)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from piazza.core.audit import record
from piazza.core.models import AuditEntry, AuditKind


class PersonalDataAdminMixin:
    """For admins of personal data: every opened record is written to the audit log (rule G4)."""

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = super().change_view(request, object_id, *args, **kwargs)  # type: ignore[misc]
        obj = self.get_object(request, object_id)  # type: ignore[attr-defined]
        if obj is not None:
            record("admin.view", actor=request.user, obj=obj, kind=AuditKind.VIEW)
        return response


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """History and personal data change only through actions (convention 1), never by hand here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields or ()

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_label", "kind", "action", "object_type", "object_id", "ip"]
    list_filter = ["kind"]
    search_fields = ["action", "actor_label", "object_id"]
