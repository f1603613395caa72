"""What erasure does to signatures (rule G5; vocabulary in piazza.core.erasure).

A signature is kept as a row (the petition's counter equals its signatures) but says nothing about
anybody any more: the name becomes the pseudonym, contacts, comune, answers and consents go."""

from __future__ import annotations

from typing import Any

from piazza.core.erasure import BLANK, EMPTY, LINK, NULL, PSEUDONYM, Declaration, HoldBook, scrub
from piazza.petitions.models import Signature

ERASURE: Declaration = {
    Signature: {
        "person": LINK,
        "first_name": PSEUDONYM,
        "last_name": PSEUDONYM,
        "email": BLANK,
        "phone": BLANK,
        "comune": NULL,
        "postal_code": BLANK,
        "answers": EMPTY,
        "consents": EMPTY,
    },
}

NOT_PERSONAL = {
    Signature: {
        "petition": "which petition was signed: kept so the counter equals the signatures",
        "notice_version": "which public notice text was shown; the same for every signer",
        "signed_at": "when, without who once the names are gone",
    }
}


def erase(person: Any, holds: HoldBook) -> dict[str, int]:
    return {"signatures": scrub(Signature.objects.filter(person=person), ERASURE[Signature])}
