"""What the bank sub-app holds about a person (SEPA mandates, their collections, expected bank
transfers), for the data-rights handlers (rule G5). See `piazza.people.personal_data`.

Mandates and transfers carry no person key: they are the person's when a collection paid one of
the person's payments or when the debtor's or payer's email is one of the person's addresses.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from piazza.core.data_export import rows
from piazza.payments.bank.models import Collection, ExpectedTransfer, Mandate, MandateAmendment
from piazza.payments.personal_data import payments_of

SECTION = "bank"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    Mandate: ["debtor_name", "debtor_email", "debtor_iban", "debtor_bic", "paper_scan", "pending_original_iban"],
    MandateAmendment: ["old_debtor_name", "new_debtor_name", "old_iban", "new_iban"],
    Collection: ["description"],
    ExpectedTransfer: ["payer_name", "payer_email", "description"],
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    emails = [value.lower() for value in person.emails.values_list("value", flat=True)]
    payments = payments_of(person)
    mandates = (
        Mandate.objects.filter(
            Q(collections__payment__in=payments) | (Q(debtor_email__in=emails) if emails else Q(pk__in=[]))
        )
        .distinct()
        .order_by("created_at", "id")
    )
    transfers = (
        ExpectedTransfer.objects.filter(
            Q(payment__in=payments) | (Q(payer_email__in=emails) if emails else Q(pk__in=[]))
        )
        .distinct()
        .order_by("created_at", "id")
    )
    return {
        "bank.mandate": rows(mandates, exclude=["creditor"]),
        "bank.mandateamendment": rows(
            MandateAmendment.objects.filter(mandate__in=mandates).order_by("created_at"), exclude=["actor"]
        ),
        "bank.collection": rows(
            Collection.objects.filter(mandate__in=mandates).order_by("due_date", "id"),
            exclude=["credit_account", "batch", "end_to_end_id"],
        ),
        "bank.expectedtransfer": rows(transfers, exclude=["credit_account", "account"]),
    }
