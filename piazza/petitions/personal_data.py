"""What petitions and sign-up forms hold about a person, for the data-rights handlers (rule G5).
See `piazza.people.personal_data` for the shape."""

from __future__ import annotations

from typing import Any

from django.db import models

from piazza.core.data_export import rows
from piazza.petitions.models import Signature

SECTION = "petitions"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    # What the signer typed, the answers to the form's questions and the consents ticked (rule G3).
    Signature: [
        "petition",
        "first_name",
        "last_name",
        "email",
        "phone",
        "comune",
        "postal_code",
        "answers",
        "consents",
        "notice_version",
        "signed_at",
    ],
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    return {"petitions.signature": rows(Signature.objects.filter(person=person).order_by("signed_at"))}
