"""Read-only admin of payments, their events and provider webhooks, for national administrators
(the admin site is theirs alone). Opening a record with personal data is audited (rule G4)."""

from __future__ import annotations

from django.contrib import admin

from piazza.core.admin import PersonalDataAdminMixin, ReadOnlyAdmin, ReadOnlyInline
from piazza.payments.models import (
    Dispute,
    Payment,
    PaymentAttempt,
    PaymentEvent,
    RecurringSchedule,
    Refund,
    WebhookEvent,
)


class EventInline(ReadOnlyInline):
    model = PaymentEvent
    fields = readonly_fields = ("at", "kind", "from_state", "to_state", "actor_label", "data")


class AttemptInline(ReadOnlyInline):
    model = PaymentAttempt
    fields = readonly_fields = ("number", "state", "provider_reference", "failure_code", "created_at")


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = readonly_fields = ("created_at", "amount_cents", "state", "reason", "provider_reference")


class DisputeInline(ReadOnlyInline):
    model = Dispute
    fields = readonly_fields = ("created_at", "amount_cents", "fee_cents", "state", "reason", "provider_reference")


@admin.register(Payment)
class PaymentAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ["pk", "created_at", "provider", "state", "amount_cents", "currency", "description", "territory"]
    list_filter = ["state", "provider"]
    search_fields = ["=id", "provider_reference", "creation_key"]  # no search by personal data here
    list_select_related = ["territory"]
    inlines = [AttemptInline, EventInline, RefundInline, DisputeInline]


@admin.register(RecurringSchedule)
class RecurringScheduleAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = [
        "pk",
        "created_at",
        "provider",
        "state",
        "amount_cents",
        "interval",
        "next_charge_on",
        "failure_count",
        "territory",
    ]
    list_filter = ["state", "interval", "provider"]
    list_select_related = ["territory"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    """Raw payloads may carry payer names and emails: opening one is audited."""

    list_display = ["received_at", "provider", "event_type", "status", "reference", "payment", "attempts"]
    list_filter = ["status", "provider", "relevant"]
    search_fields = ["event_id", "reference"]
    exclude = ["payload"]
    readonly_fields = ["payload_text"]

    @admin.display(description="payload")
    def payload_text(self, obj: WebhookEvent) -> str:
        return obj.payload
