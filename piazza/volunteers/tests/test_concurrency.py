"""PostgreSQL, real connections in threads (issue 15): a shift never takes more volunteers than it
has seats (row lock), and two callers never get the same person (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from piazza.core.testing_threads import run_in_threads
from piazza.people.actions.notices import ensure_default_notices
from piazza.people.models import Channel, Consent, Person, Phone, Purpose, Segment
from piazza.territory.models import Role
from piazza.territory.testing import make_official
from piazza.volunteers import actions
from piazza.volunteers.models import CallContact, ShiftSignup

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_volunteers_at_once_fill_a_two_seat_shift_exactly(shift):
    ensure_default_notices()  # a transactional test before may have emptied the shipped notices

    def sign(i: int) -> Callable[[], Any]:
        def job() -> None:
            data = actions.SignupData(
                first_name=f"Nome{chr(65 + i)}",
                last_name=f"Cognome{chr(65 + i)}",
                email=f"v{i}@example.org",
                phone=f"+3933300000{i:02d}",
                consents_to_contact=False,
            )
            with contextlib.suppress(ValidationError):
                actions.sign_up_for_shift(actor=None, shift=shift, data=data)

        return job

    assert run_in_threads([sign(i) for i in range(8)]) == []
    assert ShiftSignup.objects.filter(shift=shift).count() == 2


def test_six_callers_at_once_never_share_a_contact(tree, organiser):
    for i in range(4):
        person = Person.objects.create(first_name=f"P{i}", last_name="Rossi", territory=tree.bologna_centro)
        Phone.objects.create(person=person, value=f"+39333111000{i}", primary=True)
        Consent.objects.create(
            person=person, purpose=Purpose.POLITICAL_COMMUNICATION, granted=True, channel=Channel.WEB, text_version="x"
        )
    segment = Segment.objects.create(name="Tutti", territory=tree.bologna_centro, definition={})
    call_list = actions.create_call_list(
        actor=organiser, territory=tree.bologna_centro, name="Lista", segment=segment, script="Ciao"
    )
    callers = [make_official(f"caller{i}", tree.bologna_centro, [Role.COMMUNICATION]) for i in range(6)]
    taken: list[int | None] = []

    def take(caller: Any) -> Callable[[], Any]:
        def job() -> None:
            contact = actions.take_next_contact(actor=caller, call_list=call_list)
            taken.append(contact.person_id if contact else None)

        return job

    assert run_in_threads([take(c) for c in callers]) == []
    people = [p for p in taken if p is not None]
    assert len(people) == 4 and len(set(people)) == 4  # four contacts, four callers, no one twice
    assert taken.count(None) == 2
    assert CallContact.objects.filter(claimed_by__isnull=False).values("claimed_by").distinct().count() == 4
