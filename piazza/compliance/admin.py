"""Finance rules and candidacies are add-only here, through compliance.actions (audited);
an existing row opens read-only and cannot be changed or deleted (issue 10, finding 14)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from piazza.compliance import actions
from piazza.compliance.models import Candidacy, FinanceRuleSet
from piazza.core.admin import PersonalDataAdminMixin


class AddThroughActionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FinanceRuleSet)
class FinanceRuleSetAdmin(AddThroughActionAdmin):
    list_display = ["valid_from", "annual_cap_cents", "publication_threshold_cents", "cap_scope", "fees_count"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actions.add_finance_rule_set(actor=request.user, rule_set=obj)


@admin.register(Candidacy)
class CandidacyAdmin(PersonalDataAdminMixin, AddThroughActionAdmin):  # names and codici fiscali: logged (G4)
    list_display = ["candidate_name", "election", "constituency", "mandatario_name"]
    search_fields = ["candidate_name", "mandatario_name"]
    raw_id_fields = ["territory", "mandatario_user"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actions.register_candidacy(actor=request.user, candidacy=obj)
