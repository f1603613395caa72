"""Read-only admin of the membership registry for national administrators (the admin site is
theirs alone). Every change goes through an action and its screen (convention 1): fee years,
surcharges and rules under "Regole e quote", blocks, transfers and objections on the
membership's page. Opening a record with personal data is audited (rule G4)."""

from __future__ import annotations

from django.contrib import admin

from piazza.core.admin import PersonalDataAdminMixin, ReadOnlyAdmin, ReadOnlyInline
from piazza.membership.models import (
    AlboElection,
    AnomalyFlag,
    CardBlock,
    Congress,
    FeeSchedule,
    Membership,
    MembershipRules,
    Objection,
    RegionalSurcharge,
    Roll,
    RollEntry,
    RollVote,
    Supporter,
    Transfer,
)


@admin.register(Membership)
class MembershipAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["pk", "year", "person", "circolo", "status", "channel", "card_number", "fee_cents", "paid_at"]
    list_filter = ["year", "status", "channel", "payment_method"]
    search_fields = ["=card_number", "=id"]  # no search by personal data here
    list_select_related = ["person", "circolo"]
    raw_id_fields = ["person"]


@admin.register(CardBlock)
class CardBlockAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["pk", "person", "territory", "blocked_at", "lifted_at"]
    list_select_related = ["person", "territory"]


@admin.register(Transfer)
class TransferAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["pk", "from_circolo", "to_circolo", "status", "requested_at", "decided_at", "origin_notified_at"]
    list_filter = ["status"]
    list_select_related = ["from_circolo", "to_circolo"]


@admin.register(Objection)
class ObjectionAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = [
        "pk",
        "membership",
        "raised_by_body",
        "status",
        "raised_at",
        "appeal_deadline",
        "counter_appeal_deadline",
    ]
    list_filter = ["status", "raised_by_body"]


class EntryInline(ReadOnlyInline):
    model = RollEntry
    fields = readonly_fields = ("last_name", "first_name", "birth_date", "card_number", "paid_at", "effective_at")


class VoteInline(ReadOnlyInline):
    model = RollVote
    fields = readonly_fields = (
        "level",
        "members_total",
        "votes_for",
        "votes_against",
        "abstentions",
        "passed",
        "content_hash",
        "recorded_at",
    )


@admin.register(Congress)
class CongressAdmin(ReadOnlyAdmin):
    list_display = ["name", "territory", "cut_off", "membership_years", "require_effective"]


@admin.register(Roll)
class RollAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["pk", "congress", "circolo", "version", "status", "member_count", "content_hash"]
    list_filter = ["status"]
    list_select_related = ["congress", "circolo"]
    inlines = [VoteInline, EntryInline]


@admin.register(AnomalyFlag)
class AnomalyFlagAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["pk", "federation", "year", "kind", "status", "summary", "last_seen_at"]
    list_filter = ["kind", "status", "year"]
    list_select_related = ["federation"]


@admin.register(Supporter)
class SupporterAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["pk", "person", "territory", "source", "registered_at", "withdrawn_at"]
    list_filter = ["source", "channel"]
    list_select_related = ["person", "territory"]
    raw_id_fields = ["person"]


@admin.register(FeeSchedule)
class FeeScheduleAdmin(ReadOnlyAdmin):
    list_display = [
        "year",
        "base_fee_cents",
        "national_surcharge_cents",
        "regional_surcharge_cap_cents",
        "total_cap_cents",
        "regional_deadline",
        "opens_at",
        "closes_at",
    ]


@admin.register(RegionalSurcharge)
class RegionalSurchargeAdmin(ReadOnlyAdmin):
    list_display = ["schedule", "region", "amount_cents", "set_at", "set_by"]
    list_select_related = ["schedule", "region", "set_by"]


@admin.register(MembershipRules)
class MembershipRulesAdmin(ReadOnlyAdmin):
    list_display = [
        "territory",
        "min_age",
        "max_per_instrument",
        "cash_allowed",
        "out_of_area_cap_percent",
        "objection_days",
        "updated_at",
    ]
    list_select_related = ["territory"]


@admin.register(AlboElection)
class AlboElectionAdmin(ReadOnlyAdmin):
    list_display = ["name", "territory", "fee_cents", "opens_at", "closes_at"]
