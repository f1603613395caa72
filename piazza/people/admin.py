"""Read-only admin of the people database for national administrators (the admin site lets in
no one else, see `piazza.web.admin_site`). Every change goes through `people.actions` and its
back-office page (create, edit, consents, merge, import), never through the admin, so the
timeline and the audit log stay complete. Opening a record with personal data is audited
(rule G4)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from piazza.core.admin import PersonalDataAdminMixin, ReadOnlyAdmin, ReadOnlyInline
from piazza.people.models import (
    Consent,
    DuplicateCandidate,
    Email,
    ImportBatch,
    ImportMapping,
    Person,
    Phone,
    Segment,
    Tag,
    TimelineEntry,
)


class EmailInline(ReadOnlyInline):
    model = Email
    fields = ["value", "primary", "verified", "created_at"]


class PhoneInline(ReadOnlyInline):
    model = Phone
    fields = ["value", "primary", "verified", "created_at"]


class ConsentInline(ReadOnlyInline):
    model = Consent
    fields = ["purpose", "granted", "at", "channel", "text_version", "evidence", "recorded_by"]


class TimelineInline(ReadOnlyInline):
    model = TimelineEntry
    fields = ["at", "kind", "summary", "actor"]
    max_num = 0  # no "add another" row

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("actor")


@admin.register(Person)
class PersonAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["pk", "last_name", "first_name", "birth_date", "territory", "source", "created_at", "merged_into"]
    list_filter = ["source", "citizenship"]
    # Exact look-ups only: the back-office search (scoped, trigram) is the place for names.
    search_fields = ["=id", "=codice_fiscale_canonical"]
    list_select_related = ["territory"]
    raw_id_fields = [
        "birth_comune",
        "residence_comune",
        "domicile_comune",
        "territory",
        "voting_circolo",
        "merged_into",
        "created_by",
    ]
    inlines = [EmailInline, PhoneInline, ConsentInline, TimelineInline]
    show_full_result_count = False  # an exact count of a million rows on every page is wasted


@admin.register(DuplicateCandidate)
class DuplicateCandidateAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["pk", "person_a", "person_b", "score", "status", "detected_at", "resolved_by"]
    list_filter = ["status"]
    list_select_related = ["person_a", "person_b", "resolved_by"]
    raw_id_fields = ["person_a", "person_b"]


@admin.register(ImportBatch)
class ImportBatchAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = [
        "pk",
        "file_name",
        "territory",
        "status",
        "total_rows",
        "processed_rows",
        "created_by",
        "created_at",
        "closed_at",
    ]
    list_filter = ["status", "file_format"]
    list_select_related = ["territory", "created_by"]
    exclude = ["headers"]


@admin.register(Segment)
class SegmentAdmin(ReadOnlyAdmin):
    list_display = ["name", "territory", "updated_at"]
    list_select_related = ["territory"]


@admin.register(ImportMapping)
class ImportMappingAdmin(ReadOnlyAdmin):
    list_display = ["name", "territory", "created_at"]
    list_select_related = ["territory"]


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
