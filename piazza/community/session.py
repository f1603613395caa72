"""The person's session in Il mio spazio: a key in Django's session pointing to the Person record
(never a copy, never a Django user). Signed out after `COMMUNITY_IDLE_SECONDS` without a page and
after `COMMUNITY_SESSION_MAX_SECONDS` in any case; the session id is rotated at sign-in and out."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from piazza.community.queries import live_people
from piazza.people.models import Person

SESSION_KEY = "community.person"


def _now() -> float:
    return timezone.now().timestamp()


def sign_in(request: HttpRequest, person: Person) -> None:
    request.session.cycle_key()  # a session id seen before the link was opened is worth nothing
    now = _now()
    request.session[SESSION_KEY] = {"id": int(person.pk), "since": now, "seen": now}


def sign_out(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()


def current_person(request: HttpRequest) -> tuple[Person | None, bool]:
    """(the signed-in person, whether a session just expired). Each call counts as activity."""
    state = request.session.get(SESSION_KEY)
    if not isinstance(state, dict):
        return None, False
    now = _now()
    idle = now - float(state.get("seen", 0)) > int(settings.COMMUNITY_IDLE_SECONDS)
    too_old = now - float(state.get("since", 0)) > int(settings.COMMUNITY_SESSION_MAX_SECONDS)
    person = None if idle or too_old else live_people().select_related("territory").filter(pk=state.get("id")).first()
    if person is None:
        request.session.pop(SESSION_KEY, None)
        return None, True
    request.session[SESSION_KEY] = {**state, "seen": now}
    return person, False
