"""What erasure does to the events app's data (rule G5; vocabulary in piazza.core.erasure)."""

from __future__ import annotations

from typing import Any

from piazza.core.erasure import BLANK, DELETE_ROW, LINK, NULL, ROW, TOKEN, Declaration, HoldBook, scrub
from piazza.events.models import Event, Rsvp

ERASURE: Declaration = {
    # RSVPs and attendance: nothing the law keeps (the timeline entries go with the person's).
    Rsvp: {
        ROW: DELETE_ROW,
        "person": LINK,
        "first_name": BLANK,
        "last_name": BLANK,
        "email": BLANK,
        "phone": BLANK,
        "comune": NULL,
        "postal_code": BLANK,
        "code": TOKEN,
    },
}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    return {"rsvps": scrub(Rsvp.objects.filter(person=person), ERASURE[Rsvp])}


NOT_PERSONAL: Declaration = {
    Event: {"address": "where the event takes place (a hall, a square), published on its public page"},
}
