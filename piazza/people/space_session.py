"""Who is signed in to Il mio spazio in this browser (issue 12), readable from any layer above
people: community writes the session (sign-in by emailed link), privacy reads it for the
person's own data-rights pages without importing community (tests/test_import_contracts.py).

A key in Django's session points to the Person record (never a copy, never a Django user). It
lapses after `COMMUNITY_IDLE_SECONDS` without a page and after `COMMUNITY_SESSION_MAX_SECONDS`
in any case."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from piazza.people.models import Person

SESSION_KEY = "community.person"


def now_stamp() -> float:
    return timezone.now().timestamp()


def current_person(request: HttpRequest) -> tuple[Person | None, bool]:
    """(the signed-in person, whether a session just expired). Each call counts as activity."""
    state = request.session.get(SESSION_KEY)
    if not isinstance(state, dict):
        return None, False
    now = now_stamp()
    idle = now - float(state.get("seen", 0)) > int(settings.COMMUNITY_IDLE_SECONDS)
    too_old = now - float(state.get("since", 0)) > int(settings.COMMUNITY_SESSION_MAX_SECONDS)
    person = (
        None
        if idle or too_old
        else (
            Person.objects.filter(erased_at__isnull=True, merged_into__isnull=True)
            .select_related("territory")
            .filter(pk=int(state.get("id") or 0))
            .first()
        )
    )
    if person is None:
        request.session.pop(SESSION_KEY, None)
        return None, True
    request.session[SESSION_KEY] = {**state, "seen": now}
    return person, False
