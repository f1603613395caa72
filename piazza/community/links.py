"""Making one-time links. The sign-in link is issued off the request, by a task: the door does the
same work (one audit entry, one task) whether or not the address is on a record, so neither its
answer nor its timing tells a stranger anything (convention 16)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from piazza.community import queries
from piazza.community.emails import send_sign_in_link
from piazza.community.models import LinkPurpose, SpaceLink, token_digest
from piazza.core.audit import record
from piazza.people.models import Person


def new_link(*, person: Person, purpose: str, email: str) -> tuple[SpaceLink, str]:
    """A link row (only the token's hash) and the raw token, for the email alone."""
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    link = SpaceLink.objects.create(
        person=person,
        purpose=purpose,
        email=email,
        token_hash=token_digest(raw),
        created_at=now,
        expires_at=now + timedelta(minutes=int(settings.COMMUNITY_LINK_MINUTES)),
    )
    return link, raw


def issue_sign_in_link(*, email: str) -> bool:
    """In the background: if `email` is on a live record, a sign-in link for its owner, emailed to
    that address only. The return value is for tests and the audit log."""
    address = email.strip().lower()
    with transaction.atomic():
        person, sharing = queries.owner_of_email(address) if address else (None, 0)
        if person is None:
            record("community.issue_link", actor=None, data={"sent": False})
            return False
        link, raw = new_link(person=person, purpose=LinkPurpose.SIGN_IN, email=address)
        record(
            "community.issue_link",
            actor=None,
            obj=person,
            territory=person.territory,
            data={"sent": True, "link": link.pk, "shared_address": sharing > 1},
        )
    send_sign_in_link.call(link.pk, raw)
    return True
