"""What the payments app holds about a person, for the data-rights handlers (rule G5).

A payment belongs to the person when it is linked to them (`payer`) or was made with one of
their email addresses before the link existed. See `piazza.people.personal_data` for the shape.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from piazza.core.data_export import rows
from piazza.core.processing import Processing
from piazza.payments.models import (
    MethodDevice,
    PayerAccessLink,
    Payment,
    PaymentAttempt,
    RecurringSchedule,
    SavedMethod,
)

SECTION = "payments"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    Payment: ["payer", "payer_name", "payer_email", "description", "metadata", "provider_customer"],
    PaymentAttempt: ["failure_code"],
    SavedMethod: ["payer", "payer_email", "label", "customer_reference"],
    MethodDevice: ["label", "last_used_at"],
    RecurringSchedule: ["payer", "payer_name", "payer_email", "description"],
    PayerAccessLink: ["email"],
}


def _emails(person: Any) -> list[str]:
    return [value.lower() for value in person.emails.values_list("value", flat=True)]


def payments_of(person: Any) -> models.QuerySet[Payment]:
    emails = _emails(person)
    return Payment.objects.filter(
        Q(payer=person) | Q(payer_email__in=emails, payer__isnull=True) if emails else Q(payer=person)
    )


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    emails = _emails(person)
    by_email = Q(payer_email__in=emails) if emails else Q(pk__in=[])
    payments = payments_of(person).order_by("created_at", "id")
    methods = SavedMethod.objects.filter(Q(payer=person) | by_email).order_by("created_at", "id")
    return {
        "payments.payment": rows(payments, exclude=["return_url", "payable_type", "payable_id"]),
        "payments.paymentattempt": rows(
            PaymentAttempt.objects.filter(payment__in=payments).order_by("created_at"),
            exclude=["client_key", "action_url"],
        ),
        "payments.savedmethod": rows(methods, exclude=["method_reference"]),
        "payments.methoddevice": rows(
            MethodDevice.objects.filter(method__in=methods).order_by("created_at"), exclude=["payment", "link"]
        ),
        "payments.recurringschedule": rows(
            RecurringSchedule.objects.filter(Q(payer=person) | by_email).order_by("created_at", "id"),
            exclude=["payable_type", "payable_id", "allocation_plan"],
        ),
        "payments.payeraccesslink": rows(
            PayerAccessLink.objects.filter(email__in=emails).order_by("created_at"), exclude=["next_path"]
        ),
    }


PROCESSING = [
    Processing(
        name=_("Pagamenti, mandati SEPA e metodi salvati"),
        purpose=_("Incassare quote e donazioni, gestire ricorrenze, rimborsi e riconciliazione bancaria"),
        legal_basis=_("Art. 6.1.b GDPR (esecuzione del pagamento); art. 6.1.c (contabilità)"),
        subjects=_("Chi paga una quota o una donazione"),
        retention=("accounting", "expired_links_days"),
    ),
]
