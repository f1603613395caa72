"""What the funding app holds about a person, for the data-rights handlers (rule G5): gifts
(with the details copied for the receipt and the register, F1/F3, and the attestations, F4),
fundraising pages and update subscriptions. See `piazza.people.personal_data` for the shape.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from piazza.core.data_export import rows
from piazza.core.processing import Processing
from piazza.funding.models import Donation, FundraisingPage, UpdateSubscription

SECTION = "funding"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    Donation: [
        "person",
        "first_name",
        "last_name",
        "codice_fiscale",
        "email",
        "address",
        "postal_code",
        "comune",
        "attestations",
        "message",
        "utm_source",
        "utm_medium",
        "utm_campaign",
    ],
    FundraisingPage: ["person", "display_name", "title", "story"],
    UpdateSubscription: ["email"],
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    emails = [value.lower() for value in person.emails.values_list("value", flat=True)]
    donations = (
        Donation.objects.filter(
            Q(person=person) | (Q(email__in=emails, person__isnull=True) if emails else Q(pk__in=[]))
        )
        .select_related("campaign", "comune")
        .order_by("created_at", "id")
    )
    return {
        "funding.donation": rows(donations, exclude=["user", "payment", "page", "parent"]),
        "funding.fundraisingpage": rows(
            FundraisingPage.objects.filter(person=person).order_by("created_at"), exclude=["moderated_by", "team"]
        ),
        "funding.updatesubscription": rows(UpdateSubscription.objects.filter(email__in=emails).order_by("created_at")),
    }


PROCESSING = [
    Processing(
        name=_("Raccolta fondi e donazioni"),
        purpose=_("Ricevere donazioni, rilasciare ricevute, tenere e pubblicare il registro dei contributi"),
        legal_basis=_("Art. 6.1.b e 6.1.c GDPR (L. 3/2019, art. 2220 c.c.); art. 6.1.a per gli aggiornamenti"),
        subjects=_("Donatori e chi apre una pagina di raccolta"),
        retention=("accounting", "donor_register"),
    ),
]
