"""What erasure does to Il mio spazio's data (rule G5; vocabulary in piazza.core.erasure)."""

from __future__ import annotations

from typing import Any

from piazza.community.models import DigestSent, DigestStop, Follow, Passkey, SpaceLink
from piazza.core.erasure import BLANK, DELETE_ROW, EMPTY, LINK, ROW, TOKEN, Declaration, HoldBook, scrub

ERASURE: Declaration = {
    # Sign-in and address-change links: nothing the law keeps.
    SpaceLink: {ROW: DELETE_ROW, "person": LINK, "email": BLANK, "token_hash": BLANK},
    # What the person followed: nothing the law keeps.
    Follow: {ROW: DELETE_ROW, "person": LINK, "campaign": LINK, "territory": LINK, "candidacy": LINK},
    # Digests sent and the choice to stop them (issue 17): nothing the law keeps.
    DigestSent: {ROW: DELETE_ROW, "person": LINK},
    DigestStop: {ROW: DELETE_ROW, "person": LINK},
    # Passkeys (docs/adr/0018): keys to a space that is gone; nothing the law keeps.
    Passkey: {
        ROW: DELETE_ROW,
        "person": LINK,
        "name": BLANK,
        "credential_id": TOKEN,
        "public_key": BLANK,
        "user_handle": BLANK,
        "aaguid": BLANK,
        "transports": EMPTY,
    },
}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    return {
        "links": scrub(SpaceLink.objects.filter(person=person), ERASURE[SpaceLink]),
        "follows": scrub(Follow.objects.filter(person=person), ERASURE[Follow]),
        "digests": scrub(DigestSent.objects.filter(person=person), ERASURE[DigestSent]),
        "digest_stops": scrub(DigestStop.objects.filter(person=person), ERASURE[DigestStop]),
        "passkeys": scrub(Passkey.objects.filter(person=person), ERASURE[Passkey]),
    }
