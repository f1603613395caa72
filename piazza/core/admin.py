"""Admin for the audit log: read-only, national administrators only (see web.admin_site)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from piazza.core.audit import record
from piazza.core.models import AuditEntry, AuditKind


class PersonalDataAdminMixin:
    """For admins of personal data: every opened record and every list page is written to the
    audit log (rule G4); a list logs its search and filters and the ids it shows, not the data."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response: HttpResponse = super().changelist_view(request, extra_context)  # type: ignore[misc]
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if response.status_code == 200 and changelist is not None:
            ids = [str(obj.pk) for obj in changelist.result_list]
            query = {k: v[:200] for k, v in request.GET.items()}
            record(
                "admin.view_list",
                actor=request.user,
                kind=AuditKind.VIEW,
                data={"model": changelist.model._meta.label_lower, "query": query, "ids": ids, "count": len(ids)},
            )
        return response

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
