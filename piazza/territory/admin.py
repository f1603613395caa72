from django.contrib import admin

from piazza.core.admin import ReadOnlyAdmin
from piazza.territory.models import Comune, RoleAssignment, Territory


@admin.register(Territory)
class TerritoryAdmin(ReadOnlyAdmin):
    """Read-only: the tree changes only through territory.actions (create, move, close), which
    keep every path of a subtree consistent and audit the change. Editing `parent` here moved a
    circolo without rewriting its path (issue 10, finding 14)."""

    list_display = ["name", "level", "kind", "code", "closed_at"]
    list_filter = ["level", "kind"]
    search_fields = ["name", "code"]
    readonly_fields = ["path", "depth"]
    raw_id_fields = ["parent"]
    filter_horizontal = ["comuni"]


@admin.register(Comune)
class ComuneAdmin(admin.ModelAdmin[Comune]):
    list_display = ["name", "istat_code", "belfiore", "province_sigla", "region_name"]
    search_fields = ["name", "istat_code", "belfiore"]
    list_filter = ["region_name"]


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(admin.ModelAdmin[RoleAssignment]):
    list_display = ["user", "territory", "role", "granted_at", "revoked_at"]
    list_filter = ["role"]
    raw_id_fields = ["user", "territory", "granted_by"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # roles change only through territory.actions, which audit them
