"""Issue 15, on PostgreSQL with real threads: twelve people RSVP at the same instant to an event
with five seats; the row lock on the event gives exactly five seats and a waiting list of seven,
and cancellations racing new RSVPs never overbook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from piazza.core.testing_threads import run_in_threads
from piazza.events import actions
from piazza.events.models import Rsvp, RsvpStatus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twelve_parallel_rsvps_to_five_seats_never_overbook(make_event):
    assert connection.vendor == "postgresql"
    event = make_event(capacity=5)

    def rsvp(n: int):
        return lambda: actions.rsvp_to_event(
            event=event, first_name=f"Persona{n}", last_name=f"Numero{n}", email=f"p{n}@example.org"
        )

    errors = run_in_threads([rsvp(n) for n in range(12)])
    assert errors == []
    assert Rsvp.objects.filter(event=event, status=RsvpStatus.CONFIRMED).count() == 5
    assert Rsvp.objects.filter(event=event, status=RsvpStatus.WAITING).count() == 7


def test_cancellations_racing_rsvps_keep_the_seats_full_and_never_over(make_event):
    event = make_event(capacity=3)
    seated = [
        actions.rsvp_to_event(event=event, first_name=f"Primo{n}", last_name="Arrivato", email=f"s{n}@example.org")
        for n in range(3)
    ]

    def cancel(rsvp: Rsvp) -> Callable[[], Any]:
        return lambda: actions.cancel_rsvp(rsvp=rsvp)

    def join(n: int) -> Callable[[], Any]:
        return lambda: actions.rsvp_to_event(
            event=event, first_name=f"Nuovo{n}", last_name="Arrivo", email=f"n{n}@example.org"
        )

    jobs = [cancel(r) for r in seated] + [join(n) for n in range(6)]
    assert run_in_threads(jobs) == []
    assert Rsvp.objects.filter(event=event, status=RsvpStatus.CONFIRMED).count() == 3
    assert Rsvp.objects.filter(event=event, status=RsvpStatus.WAITING).count() == 3
