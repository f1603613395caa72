"""Signed tokens of an RSVP: the link to manage it (cancel, confirm the consent) and the QR code
scanned at the door. Nothing is stored: the signature (SECRET_KEY, a salt per use) proves them."""

from __future__ import annotations

from django.core import signing

MANAGE_SALT = "piazza.events.manage"
CHECKIN_SALT = "piazza.events.checkin"


def manage_token(rsvp_id: int) -> str:
    return signing.dumps(rsvp_id, salt=MANAGE_SALT)


def read_manage_token(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=MANAGE_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def checkin_token(event_id: int, rsvp_id: int) -> str:
    return signing.dumps([event_id, rsvp_id], salt=CHECKIN_SALT, compress=True)


def read_checkin_token(token: str) -> tuple[int, int] | None:
    try:
        value = signing.loads(token.strip(), salt=CHECKIN_SALT)
    except signing.BadSignature:
        return None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0], value[1]
    return None
