from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from piazza.membership.models import Membership, Status
from piazza.outreach.testing import LocalSMTP
from piazza.people.models import Channel, Consent, Email, Person, Purpose, Segment
from piazza.territory.models import Role
from piazza.territory.testing import make_official


@pytest.fixture
def smtp(settings: Any) -> Iterator[LocalSMTP]:
    """A real SMTP server (aiosmtpd) on a free port; Django's SMTP backend sends into it."""
    server = LocalSMTP().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.OUTREACH_RATE_PER_SECOND = 10_000
    try:
        yield server
    finally:
        server.stop()


def make_person(
    territory: Any, first: str, email: str | None, *, member: bool = False, consent: bool | None = None
) -> Person:
    person = Person.objects.create(first_name=first, last_name="Test", territory=territory)
    if email:
        Email.objects.create(person=person, value=email, primary=True)
    if member:
        now = timezone.now()
        Membership.objects.create(
            person=person,
            year=timezone.localdate().year,
            circolo=territory,
            status=Status.PAID,
            channel="online",
            fee_cents=2000,
            national_cents=1000,
            territorial_cents=1000,
            art9_authorised_at=now,
            art9_text_version="t",
            art9_channel="online",
            declarations_at=now,
            declarations_text_version="t",
        )
    if consent is not None:
        Consent.objects.create(
            person=person,
            purpose=Purpose.POLITICAL_COMMUNICATION,
            granted=consent,
            channel=Channel.WEB,
            text_version="v1",
            at=timezone.now() - dt.timedelta(days=1),
        )
    return person


@pytest.fixture
def officer(tree: Any) -> Any:
    """The communication officer of the Bologna federation."""
    return make_official(
        "comunicazione.bo", tree.bologna, [Role.COMMUNICATION], email="comunicazione@bologna.example.org"
    )


@pytest.fixture
def segment(tree: Any) -> Segment:
    return Segment.objects.create(name="Tutti Bologna", territory=tree.bologna, definition={})
