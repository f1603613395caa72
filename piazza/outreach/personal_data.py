"""What the broadcasts app holds about a person, for the data-rights handlers (rule G5).
See `piazza.people.personal_data` for the shape."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from piazza.core.data_export import rows
from piazza.outreach.models import Delivery, MailEvent, Suppression, TerritoryPreference

SECTION = "outreach"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    Delivery: ["broadcast", "email", "variant", "status", "queued_at", "sent_at", "unsubscribed_at"],
    Suppression: ["reason", "email", "at", "detail"],
    TerritoryPreference: ["territory", "receive", "updated_at"],
    MailEvent: ["source", "kind", "recipient", "received_at", "detail"],
}


def _addresses(person: Any) -> list[str]:
    return list(person.emails.values_list("value", flat=True))


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    addresses = _addresses(person)
    return {
        "outreach.delivery": rows(Delivery.objects.filter(person=person).order_by("queued_at"), exclude=["message_id"]),
        "outreach.suppression": rows(
            Suppression.objects.filter(Q(person=person) | Q(email__in=addresses)).order_by("at")
        ),
        "outreach.territorypreference": rows(TerritoryPreference.objects.filter(person=person)),
        "outreach.mailevent": rows(
            MailEvent.objects.filter(Q(delivery__person=person) | Q(recipient__in=addresses)).order_by("received_at")
        ),
    }
