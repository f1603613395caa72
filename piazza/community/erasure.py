"""What erasure does to Il mio spazio's data (rule G5; vocabulary in piazza.core.erasure)."""

from __future__ import annotations

from typing import Any

from piazza.community.models import SpaceLink
from piazza.core.erasure import BLANK, DELETE_ROW, LINK, ROW, Declaration, HoldBook, scrub

ERASURE: Declaration = {
    # Sign-in and address-change links: nothing the law keeps.
    SpaceLink: {ROW: DELETE_ROW, "person": LINK, "email": BLANK, "token_hash": BLANK},
}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    return {"links": scrub(SpaceLink.objects.filter(person=person), ERASURE[SpaceLink])}
