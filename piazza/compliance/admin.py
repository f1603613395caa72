from django.contrib import admin

from piazza.compliance.models import Candidacy, FinanceRuleSet


@admin.register(FinanceRuleSet)
class FinanceRuleSetAdmin(admin.ModelAdmin):
    list_display = ["valid_from", "annual_cap_cents", "publication_threshold_cents", "cap_scope", "fees_count"]


@admin.register(Candidacy)
class CandidacyAdmin(admin.ModelAdmin):
    list_display = ["candidate_name", "election", "constituency", "mandatario_name"]
    search_fields = ["candidate_name", "mandatario_name"]
