"""The person's session in Il mio spazio: a key in Django's session pointing to the Person record
(never a copy, never a Django user); the session id is rotated at sign-in and out. Reading it (with
its idle and maximum age) lives in piazza.people.space_session, so privacy can read it too."""

from __future__ import annotations

from django.http import HttpRequest

from piazza.people.models import Person
from piazza.people.space_session import SESSION_KEY, current_person, now_stamp

__all__ = ["SESSION_KEY", "current_person", "sign_in", "sign_out"]


def sign_in(request: HttpRequest, person: Person) -> None:
    request.session.cycle_key()  # a session id seen before the link was opened is worth nothing
    now = now_stamp()
    request.session[SESSION_KEY] = {"id": int(person.pk), "since": now, "seen": now}


def sign_out(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()
