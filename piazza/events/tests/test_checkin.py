"""Issue 15, events: check-in at the door (signed QR token, typed code, search), walk-ins,
attendance in the timeline, the organiser's export, and scope (convention 11, rule G4)."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.events import actions
from piazza.events.models import Event, Rsvp, RsvpStatus
from piazza.events.tokens import checkin_token
from piazza.people.models import Person, TimelineEntry
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def event_with_two(make_event):
    event = make_event(capacity=5)
    anna = actions.rsvp_to_event(event=event, first_name="Anna", last_name="Rossi", email="a@example.org")
    bruno = actions.rsvp_to_event(event=event, first_name="Bruno", last_name="Verdi", email="b@example.org")
    return event, anna, bruno


def test_check_in_by_scanned_token_lands_in_the_timeline_once(organiser, event_with_two):
    event, anna, _bruno = event_with_two
    rsvp, fresh = actions.check_in_by_code(actor=organiser, event=event, code=checkin_token(event.pk, anna.pk))
    assert fresh and rsvp.checked_in_at is not None and rsvp.checked_in_by == organiser
    _again, fresh_again = actions.check_in_by_code(actor=organiser, event=event, code=checkin_token(event.pk, anna.pk))
    assert not fresh_again
    assert TimelineEntry.objects.filter(person=anna.person, kind="event_attended").count() == 1


def test_a_token_of_another_event_or_a_forged_one_is_refused(organiser, make_event, event_with_two):
    event, anna, _bruno = event_with_two
    other = make_event(title="Un altro evento")
    for code in (checkin_token(other.pk, anna.pk), checkin_token(event.pk, anna.pk)[:-3] + "abc", "ZZZZZZZZ"):
        with pytest.raises(ValidationError, match="non è di un iscritto"):
            actions.check_in_by_code(actor=organiser, event=event, code=code)
    assert not Rsvp.objects.filter(checked_in_at__isnull=False).exists()


def test_check_in_by_typed_code(organiser, event_with_two):
    event, _anna, bruno = event_with_two
    rsvp, fresh = actions.check_in_by_code(actor=organiser, event=event, code=f" {bruno.code.lower()} ")
    assert fresh and rsvp.pk == bruno.pk


def test_the_door_page_searches_and_checks_in(tree, organiser, event_with_two):
    event, anna, _bruno = event_with_two
    client = verified_client(organiser)
    url = reverse("events:checkin", args=[event.pk])
    fragment = client.get(url, {"q": "ross"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Anna Rossi" in fragment and "Bruno Verdi" not in fragment
    response = client.post(reverse("events:checkin_rsvp", args=[event.pk, anna.pk]), {"q": "ross"})
    assert response.status_code == 302 and "q=ross" in response["Location"]
    anna.refresh_from_db()
    assert anna.checked_in_at is not None
    assert AuditEntry.objects.filter(action="events.view_checkin", kind=AuditKind.VIEW).exists()
    page = client.post(reverse("events:checkin_code", args=[event.pk]), {"code": "NONVALE1"})
    assert page.status_code == 400 and "non è di un iscritto" in page.content.decode()


def test_walk_in_in_seconds(organiser, event_with_two):
    event, _anna, _bruno = event_with_two
    client = verified_client(organiser)
    url = reverse("events:walk_in", args=[event.pk])
    missing = client.post(url, {"first_name": "Dario", "last_name": "Fo"})
    assert missing.status_code == 400 and "almeno l&#x27;email o il cellulare" in missing.content.decode()
    assert client.post(url, {"first_name": "Dario", "last_name": "Fo", "phone": "+39 333 765 4321"}).status_code == 302
    walk_in = Rsvp.objects.get(walk_in=True)
    assert walk_in.checked_in_at is not None and walk_in.person is not None
    assert walk_in.person.phones.exists()
    assert TimelineEntry.objects.filter(person=walk_in.person, kind="event_attended").exists()


def test_export_is_audited_and_escapes_formulas(organiser, make_event):
    event = make_event()
    actions.rsvp_to_event(event=event, first_name="=HYPERLINK(1)", last_name="Rossi", email="a@example.org")
    response = verified_client(organiser).get(reverse("events:export", args=[event.pk]))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[1][0] == "'=HYPERLINK(1)"
    entry = AuditEntry.objects.filter(action="events.export_attendees", kind=AuditKind.EXPORT).latest("id")
    assert entry.data["rows"] == 1


def test_a_stranger_cannot_read_the_attendee_list(client, tree, event_with_two, make_event):
    event, anna, _bruno = event_with_two
    urls = [
        reverse("events:organiser", args=[event.pk]),
        reverse("events:checkin", args=[event.pk]),
        reverse("events:export", args=[event.pk]),
    ]
    for url in urls:  # anonymous: to the login page, never the list
        response = client.get(url)
        assert response.status_code == 302 and "Rossi" not in response.content.decode()
    milano = verified_client(make_official("eventi.milano", tree.milano, [Role.COMMUNICATION]))
    for url in urls:
        assert milano.get(url).status_code == 404
    assert milano.post(reverse("events:checkin_rsvp", args=[event.pk, anna.pk])).status_code == 404
    assert (
        milano.post(
            reverse("events:walk_in", args=[event.pk]), {"first_name": "X", "last_name": "Y", "phone": "3331234567"}
        ).status_code
        == 404
    )
    treasurer = verified_client(make_official("tesoriere.bologna", tree.bologna, [Role.TREASURY]))
    assert treasurer.get(urls[0]).status_code == 403
    with pytest.raises(PermissionDenied):
        actions.check_in(actor=make_official("eventi.modena", tree.modena, [Role.COMMUNICATION]), rsvp=anna)


def test_cohosts_see_the_event_and_officials_elsewhere_do_not(tree, organiser, make_event):
    event = make_event(cohosts=[tree.modena])
    modena = make_official("eventi.modena", tree.modena, [Role.ORGANISATION])
    milano = make_official("eventi.milano", tree.milano, [Role.ORGANISATION])
    assert list(Event.objects.visible_to(modena, {"organisation"})) == [event]
    assert list(Event.objects.visible_to(milano, {"organisation"})) == []


def test_an_official_creates_an_event_from_the_back_office(tree, organiser):
    client = verified_client(organiser)
    assert "Eventi" in client.get(reverse("web:dashboard")).content.decode()
    form = {
        "territory": tree.bologna.pk,
        "title": "Assemblea cittadina",
        "description": "Ordine del giorno",
        "comune": "Bologna",
        "address": "Piazza Maggiore 6",
        "postal_code": "40124",
        "starts_at": "2026-06-20T18:00",
        "ends_at": "2026-06-20T20:00",
        "capacity": "100",
        "waiting_list": "on",
        "visibility": "public",
    }
    past = client.post(
        reverse("events:create"), {**form, "starts_at": "2026-06-01T18:00", "ends_at": "2026-06-01T20:00"}
    )
    assert past.status_code == 400 and "già passato" in past.content.decode()
    nowhere = client.post(reverse("events:create"), {**form, "comune": ""})
    assert nowhere.status_code == 400 and "Indica dove si tiene" in nowhere.content.decode()
    outside = client.post(reverse("events:create"), {**form, "territory": tree.milano.pk})
    assert outside.status_code == 400
    response = client.post(reverse("events:create"), form)
    event = Event.objects.get()
    assert response["Location"] == reverse("events:organiser", args=[event.pk])
    assert event.starts_at.hour == 16  # 18:00 in Rome, stored in UTC
    assert client.get(reverse("events:manage_list")).status_code == 200


def test_cancelled_rsvp_cannot_be_checked_in(organiser, event_with_two):
    _event, anna, _bruno = event_with_two
    actions.cancel_rsvp(rsvp=anna)
    with pytest.raises(ValidationError, match="annullato"):
        actions.check_in(actor=organiser, rsvp=Rsvp.objects.get(pk=anna.pk))
    assert Rsvp.objects.get(pk=anna.pk).status == RsvpStatus.CANCELLED
    assert Person.objects.count() == 2
