"""What Il mio spazio holds about a person, for the data-rights handlers (rule G5).
See `piazza.people.personal_data` for the shape."""

from __future__ import annotations

from typing import Any

from django.db import models

from piazza.community.models import DigestSent, DigestStop, Follow, Passkey, SpaceLink
from piazza.core.data_export import rows

SECTION = "community"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    SpaceLink: ["email", "purpose", "created_at", "used_at"],
    # A key to the person's space (docs/adr/0018): what they named it and when they used it.
    Passkey: ["name", "created_at", "last_used_at", "credential_id", "user_handle", "aaguid", "transports"],
    # What the person follows (campaigns, territories): it says what they care about.
    Follow: ["campaign", "territory", "candidacy", "created_at"],
    # The digests sent (issue 17) and the choice not to receive them.
    DigestSent: ["period_start", "items", "sent_at"],
    DigestStop: ["at"],
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        "community.spacelink": rows(
            SpaceLink.objects.filter(person=person).order_by("created_at"), exclude=["token_hash"]
        ),
        "community.follow": rows(Follow.objects.filter(person=person).order_by("created_at")),
        "community.digestsent": rows(DigestSent.objects.filter(person=person).order_by("period_start")),
        "community.digeststop": rows(DigestStop.objects.filter(person=person)),
        "community.passkey": rows(
            Passkey.objects.filter(person=person).order_by("created_at"), exclude=["public_key", "sign_count"]
        ),
    }
