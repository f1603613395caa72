"""What the membership app holds about a person, for the data-rights handlers (rule G5):
memberships with fees and cards (M4–M13), card blocks (M9), transfers and objections, the
Albo (M1, M3, M21) and its election registrations, certified roll entries and anomaly flags
naming them. See `piazza.people.personal_data` for the shape.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from piazza.core.data_export import rows
from piazza.core.processing import Processing
from piazza.membership.models import (
    AnomalyFlag,
    Appeal,
    CardBlock,
    ElectionRegistration,
    Membership,
    Objection,
    RenewalReminder,
    RollEntry,
    Supporter,
    Transfer,
)

SECTION = "membership"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    Membership: [
        "person",
        "card_number",
        "payer_name",
        "payment_reference",
        "paper_form",
        "signature_scan",
        "end_reason",
        "fee_explanation",
    ],
    CardBlock: ["person", "reason", "lift_note"],
    Transfer: ["reason", "decision_reason"],
    Objection: ["reason", "decision_reason"],
    Appeal: ["reason", "counter_reason", "decision_reason", "outcome"],
    Supporter: ["person"],
    ElectionRegistration: ["supporter"],
    RollEntry: ["person", "card_number", "last_name", "first_name", "birth_date"],
    AnomalyFlag: ["people", "summary", "evidence"],
    RenewalReminder: ["previous"],
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    memberships = Membership.objects.filter(person=person).select_related("circolo").order_by("year", "applied_at")
    return {
        "membership.membership": rows(memberships, exclude=["registered_by", "delivered_by", "payment_id"]),
        "membership.cardblock": rows(
            CardBlock.objects.filter(person=person).order_by("blocked_at"), exclude=["blocked_by", "lifted_by"]
        ),
        "membership.transfer": rows(
            Transfer.objects.filter(membership__in=memberships).order_by("requested_at"),
            exclude=["requested_by", "decided_by"],
        ),
        "membership.objection": rows(
            Objection.objects.filter(membership__in=memberships).order_by("raised_at"),
            exclude=["raised_by", "decided_by"],
        ),
        "membership.appeal": rows(
            Appeal.objects.filter(objection__membership__in=memberships).order_by("filed_at"),
            exclude=["filed_by", "decided_by"],
        ),
        "membership.supporter": rows(Supporter.objects.filter(person=person)),
        "membership.electionregistration": rows(
            ElectionRegistration.objects.filter(supporter__person=person).order_by("registered_at"),
            exclude=["payment_id"],
        ),
        "membership.rollentry": rows(
            RollEntry.objects.filter(person=person).select_related("roll").order_by("paid_at")
        ),
        # The evidence and key of a flag name other people too: only what concerns this person.
        "membership.anomalyflag": rows(
            AnomalyFlag.objects.filter(people=person).order_by("detected_at"),
            exclude=["evidence", "key", "reviewed_by", "federation", "circolo"],
        ),
        "membership.renewalreminder": rows(
            RenewalReminder.objects.filter(previous__in=memberships).order_by("sent_at")
        ),
    }


PROCESSING = [
    Processing(
        name=_("Tesseramento e Albo dei sostenitori"),
        purpose=_("Iscrizioni, tessere, quote, rinnovi, trasferimenti, anagrafi dei congressi, Albo"),
        legal_basis=_("Art. 6.1.b GDPR (adesione e statuto); art. 9.2.a e 9.2.d; art. 6.1.c per la contabilità"),
        subjects=_("Iscritti e sostenitori"),
        retention=("congress_roll", "accounting", "inactive_contacts_years"),
    ),
]
