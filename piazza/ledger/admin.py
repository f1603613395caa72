"""Read-only admin of the ledger: history is never edited here (convention 8)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from piazza.core.admin import ReadOnlyAdmin
from piazza.ledger.models import Account, Entry, LedgerTransaction


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "key", "territory", "currency", "created_at"]
    list_filter = ["kind", "currency"]
    search_fields = ["name", "key"]


class EntryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Entry
    fields = ("account", "amount_cents", "currency")
    readonly_fields = ("account", "amount_cents", "currency")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["pk", "created_at", "cause", "memo", "actor_label"]
    list_filter = ["cause"]
    search_fields = ["memo", "idempotency_key"]
    inlines = [EntryInline]
