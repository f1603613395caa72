"""What erasure does to the broadcasts app's data (rule G5; vocabulary in piazza.core.erasure).

Nothing here is kept by law: the deliveries, stops, preferences and provider events of the person go.
The erased record is never sent to again anyway (the audience reads only active people)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from piazza.core.erasure import BLANK, DELETE_ROW, LINK, ROW, Declaration, HoldBook, scrub
from piazza.outreach.models import Delivery, MailEvent, Suppression, TerritoryPreference

ERASURE: Declaration = {
    Delivery: {ROW: DELETE_ROW, "person": LINK, "email": BLANK, "error": BLANK, "message_id": BLANK},
    Suppression: {ROW: DELETE_ROW, "person": LINK, "email": BLANK, "detail": BLANK},
    TerritoryPreference: {ROW: DELETE_ROW, "person": LINK},
    MailEvent: {ROW: DELETE_ROW, "recipient": BLANK, "detail": BLANK, "message_id": BLANK},
}

NOT_PERSONAL: Declaration = {}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    addresses = list(person.emails.values_list("value", flat=True))
    return {
        "mail_events": scrub(
            MailEvent.objects.filter(Q(delivery__person=person) | Q(recipient__in=addresses)), ERASURE[MailEvent]
        ),
        "deliveries": scrub(Delivery.objects.filter(person=person), ERASURE[Delivery]),
        "suppressions": scrub(
            Suppression.objects.filter(Q(person=person) | Q(email__in=addresses)), ERASURE[Suppression]
        ),
        "preferences": scrub(TerritoryPreference.objects.filter(person=person), ERASURE[TerritoryPreference]),
    }
