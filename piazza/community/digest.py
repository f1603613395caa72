"""The digest's switches (issue 17): a person stops or resumes it from Il mio spazio or from the
link at the foot of every digest. The link carries a signed person id (never an address), and the
page behind it asks for a button press, so a mail scanner opening it changes nothing.

Building and sending the digest reads events, petitions and outreach, apps of this same layer:
that lives in `piazza.discovery`, above them all."""

from __future__ import annotations

from django.core import signing
from django.db import transaction

from piazza.community.models import DigestStop
from piazza.core.audit import record
from piazza.people.models import Person

SALT = "community.digest.stop"
VIA = "il_mio_spazio"


def stop_token(person_id: int) -> str:
    return signing.dumps(person_id, salt=SALT, compress=True)


def person_of_token(token: str) -> Person | None:
    """The person a stop link names, or None for a forged or mangled one (no expiry: an old digest's
    link must still work)."""
    try:
        person_id = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(person_id, int):
        return None
    return Person.objects.filter(pk=person_id).first()


def set_digest(*, person: Person, receive: bool, via: str = VIA) -> bool:
    """Stop (receive=False) or resume the person's digest; True if something changed. Idempotent."""
    with transaction.atomic():
        if receive:
            changed = DigestStop.objects.filter(person=person).delete()[0] > 0
        else:
            _row, changed = DigestStop.objects.get_or_create(person=person)
        if changed:
            record(
                "community.digest_on" if receive else "community.digest_off",
                actor=None,
                obj=person,
                territory=person.territory,
                data={"via": via},
            )
    return changed


def is_stopped(person: Person) -> bool:
    return DigestStop.objects.filter(person=person).exists()
