"""What erasure does to the volunteers app's data (rule G5; vocabulary in piazza.core.erasure)."""

from __future__ import annotations

from typing import Any

from piazza.core.erasure import DELETE_ROW, LINK, NULL, ROW, Declaration, HoldBook, scrub
from piazza.volunteers.models import CallContact, CallList, ShiftSignup

ERASURE: Declaration = {
    # Sign-ups and calls: nothing the law keeps; the shift's count of seats stays right without them.
    ShiftSignup: {ROW: DELETE_ROW, "person": LINK},
    # The caller's claim (a lock of at most 15 minutes, never beyond the shift): an erased
    # volunteer's open claims go back to the list (erase() below).
    CallContact: {ROW: DELETE_ROW, "person": LINK, "claimed_by_volunteer": NULL},
}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    # An erased volunteer's open claims go back to the list.
    CallContact.objects.filter(claimed_by_volunteer=person).update(claimed_by_volunteer=None, claim_expires_at=None)
    return {
        "shift_signups": scrub(ShiftSignup.objects.filter(person=person), ERASURE[ShiftSignup]),
        "call_contacts": scrub(CallContact.objects.filter(person=person), ERASURE[CallContact]),
    }


NOT_PERSONAL: Declaration = {
    CallList: {"name": "the list's name, chosen by the organiser (e.g. «Richiamo iscritti 2025»), names nobody"},
}
