"""What the events app holds about a person, for the data-rights handlers (rule G5).
See `piazza.people.personal_data` for the shape."""

from __future__ import annotations

from typing import Any

from django.db import models

from piazza.core.data_export import rows
from piazza.events.models import Event, Rsvp

SECTION = "events"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    # An RSVP (or a walk-in at the door): what the person typed, their answers and attendance.
    Rsvp: [
        "first_name",
        "last_name",
        "email",
        "phone",
        "comune",
        "postal_code",
        "status",
        "political_consent",
        "consent_recorded_at",
        "walk_in",
        "created_at",
        "cancelled_at",
        "checked_in_at",
    ],
}

NOT_PERSONAL: dict[type[models.Model], str] = {
    Event: "an event of a territory: title, place and times; its organiser is an official account",
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        "events.rsvp": rows(
            Rsvp.objects.filter(person=person).order_by("created_at"),
            exclude=["code", "checked_in_by", "notice_version", "reminder_sent_at", "promoted_at"],
        ),
    }
