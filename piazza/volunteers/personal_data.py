"""What the volunteers app holds about a person, for the data-rights handlers (rule G5).
See `piazza.people.personal_data` for the shape."""

from __future__ import annotations

from typing import Any

from django.db import models

from piazza.core.data_export import rows
from piazza.volunteers.models import CallContact, ShiftSignup

SECTION = "volunteers"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    # Which shifts the person signed up for, whether they came, when they were reminded.
    ShiftSignup: ["shift", "signed_at", "attendance", "attendance_at", "reminded_at"],
    # Being on a call list and how the calls went (G3: "do not call" is also a consent row).
    CallContact: ["call_list", "outcome", "attempts", "done", "last_called_at"],
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        "volunteers.shiftsignup": rows(ShiftSignup.objects.filter(person=person).order_by("signed_at")),
        "volunteers.callcontact": rows(
            CallContact.objects.filter(person=person).order_by("id"), exclude=["claimed_by", "claim_expires_at"]
        ),
    }
