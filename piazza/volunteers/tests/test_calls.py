"""Call lists (issue 15): built from a segment within scope and the contact rules (G2, G3), one
caller per contact, outcomes in the timeline, "do not call" withdraws the phone consent, and the
caller sees only name, phone and script (G1)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.people.models import Channel, Consent, Person, Phone, Purpose, Segment, TimelineEntry
from piazza.people.queries import contact_permission
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client
from piazza.volunteers import actions, queries
from piazza.volunteers.models import CallContact, Outcome

pytestmark = pytest.mark.django_db


def _person(territory: Any, first: str, phone: str, *, consent: bool | None = True) -> Person:
    person = Person.objects.create(
        first_name=first, last_name="Rossi", territory=territory, birth_date="1980-01-01", notes="Segreto"
    )
    Phone.objects.create(person=person, value=phone, primary=True)
    if consent is not None:
        Consent.objects.create(
            person=person,
            purpose=Purpose.POLITICAL_COMMUNICATION,
            granted=consent,
            channel=Channel.WEB,
            text_version="event-2026.1",
        )
    return person


def _take(caller: Any, call_list: Any) -> CallContact:
    contact = actions.take_next_contact(actor=caller, call_list=call_list)
    assert contact is not None
    return contact


@pytest.fixture
def call_list(tree: Any, organiser: Any) -> Any:
    _person(tree.bologna_centro, "Anna", "+393330000001")
    _person(tree.bologna_centro, "Bruno", "+393330000002")
    _person(tree.bologna_centro, "Carla", "+393330000003", consent=False)  # withdrew: never called (G3)
    _person(tree.bologna_centro, "Dario", "+393330000004", consent=None)  # no consent, no relation (G2)
    _person(tree.modena_nord, "Elena", "+393330000005")  # outside the organiser's scope
    segment = Segment.objects.create(name="Tutti", territory=tree.bologna_centro, definition={})
    return actions.create_call_list(
        actor=organiser,
        territory=tree.bologna_centro,
        name="Richiamo",
        segment=segment,
        script="**Ciao!** Sono del PD.",
    )


def test_the_list_holds_only_people_in_scope_who_may_be_called(call_list):
    names = set(CallContact.objects.filter(call_list=call_list).values_list("person__first_name", flat=True))
    assert names == {"Anna", "Bruno"}


def test_two_callers_never_get_the_same_contact_and_claims_expire(tree, call_list, organiser, clock):
    second = make_official("caller.two", tree.bologna_centro, [Role.COMMUNICATION])
    first_contact = _take(organiser, call_list)
    second_contact = _take(second, call_list)
    assert first_contact.pk != second_contact.pk
    # Asking again gives the caller the contact already claimed, not a third one.
    assert _take(organiser, call_list).pk == first_contact.pk
    third = make_official("caller.three", tree.bologna_centro, [Role.COMMUNICATION])
    assert actions.take_next_contact(actor=third, call_list=call_list) is None
    clock.tick(actions.CLAIM_MINUTES * 60 + 1)  # an abandoned claim frees the contact
    assert actions.take_next_contact(actor=third, call_list=call_list) is not None


def test_outcome_is_recorded_in_the_timeline_and_closes_the_contact(call_list, organiser):
    contact = _take(organiser, call_list)
    actions.record_outcome(actor=organiser, contact=contact, outcome=Outcome.SUPPORTIVE)
    contact.refresh_from_db()
    assert contact.done and contact.outcome == Outcome.SUPPORTIVE and contact.claimed_by is None
    entry = TimelineEntry.objects.get(person=contact.person, kind=actions.CALL_KIND)
    assert entry.data["outcome"] == "supportive"
    assert queries.progress(call_list).done == 1
    with pytest.raises(ValidationError, match="non è più assegnato"):
        actions.record_outcome(actor=organiser, contact=contact, outcome=Outcome.AGAINST)
    assert AuditEntry.objects.filter(action="volunteers.record_outcome", kind=AuditKind.DENIED).count() == 1


def test_call_back_puts_the_contact_back_in_the_queue(call_list, organiser):
    contact = _take(organiser, call_list)
    actions.record_outcome(actor=organiser, contact=contact, outcome=Outcome.CALL_BACK)
    contact.refresh_from_db()
    assert not contact.done and contact.attempts == 1
    # The next one is the person never called yet; then the call back comes round again.
    following = _take(organiser, call_list)
    assert following.pk != contact.pk


def test_do_not_call_withdraws_the_phone_consent(tree, call_list, organiser):
    """Rule G3: "non chiamatemi più" is a withdrawal, recorded as a consent row; then the person
    may no longer be contacted for political communication. A communication officer (who may not
    edit people's records) records it too."""
    caller = make_official("caller.comm", tree.bologna_centro, [Role.COMMUNICATION])
    contact = _take(caller, call_list)
    actions.record_outcome(actor=caller, contact=contact, outcome=Outcome.DO_NOT_CALL)
    latest = Consent.objects.filter(person=contact.person, purpose=Purpose.POLITICAL_COMMUNICATION).first()
    assert latest is not None and not latest.granted and latest.channel == Channel.PHONE
    assert not contact_permission(contact.person, Purpose.POLITICAL_COMMUNICATION, Channel.PHONE).allowed
    # A new list from the same segment leaves them out.
    again = actions.create_call_list(
        actor=organiser, territory=call_list.territory, name="Di nuovo", segment=call_list.segment, script="Ciao"
    )
    assert not CallContact.objects.filter(call_list=again, person=contact.person).exists()


def test_unknown_outcome_is_refused(call_list, organiser):
    contact = _take(organiser, call_list)
    with pytest.raises(ValidationError, match="Scegli com"):
        actions.record_outcome(actor=organiser, contact=contact, outcome="maybe")


def test_caller_page_shows_name_phone_and_script_only(tree, call_list, organiser):
    client = verified_client(organiser)
    detail = client.get(reverse("volunteers:call_list", args=[call_list.pk]))
    assert "Prendi il prossimo contatto" in detail.content.decode()
    taken = client.post(reverse("volunteers:call_take", args=[call_list.pk]))
    assert taken.status_code == 302
    page = client.get(taken["Location"])
    body = page.content.decode()
    contact = CallContact.objects.get(claimed_by=organiser)
    assert contact.person.first_name in body and contact.person.phones.get().value in body
    assert "<strong>Ciao!</strong>" in body
    assert "Segreto" not in body and "1980" not in body  # G1: no other personal data
    assert AuditEntry.objects.filter(action="volunteers.view_call", kind=AuditKind.VIEW).exists()
    # Another caller cannot open a contact claimed by someone else.
    other = verified_client(make_official("caller.two", tree.bologna_centro, [Role.COMMUNICATION]))
    assert other.get(taken["Location"]).status_code == 404
    missing = client.post(reverse("volunteers:call_outcome", args=[contact.pk]), {})
    assert missing.status_code == 400
    assert "Scegli com&#x27;è andata la telefonata." in missing.content.decode()
    done = client.post(reverse("volunteers:call_outcome", args=[contact.pk]), {"outcome": "undecided"})
    assert done.status_code == 302
    contact.refresh_from_db()
    assert contact.outcome == Outcome.UNDECIDED


def test_call_list_form_offers_segments_in_scope_and_creates_the_list(tree, organiser):
    Segment.objects.create(name="Centro", territory=tree.bologna_centro, definition={})
    Segment.objects.create(name="Modena", territory=tree.modena_nord, definition={})
    client = verified_client(organiser)
    page = client.get(reverse("volunteers:call_list_create")).content.decode()
    assert "Centro" in page and ">Modena<" not in page
    blank = client.post(reverse("volunteers:call_list_create"), {"territory": tree.bologna_centro.pk})
    assert blank.status_code == 400
    segment = Segment.objects.get(name="Centro")
    answer = client.post(
        reverse("volunteers:call_list_create"),
        {"territory": tree.bologna_centro.pk, "name": "Lista", "segment": segment.pk, "script": "Ciao"},
    )
    assert answer.status_code == 302
