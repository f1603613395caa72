"""Volunteer callers (issue 15): a volunteer signed up for a phone-bank shift calls from Il mio
spazio (signed in by the emailed link, no back-office account), one contact at a time, only the
contacts claimed by them and only while the shift lasts (404 otherwise); the name, phone and
script only (rule G1), each view audited with the volunteer who saw it (rule G4)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.people.models import Channel, Consent, Email, Person, Phone, Purpose, Segment, TimelineEntry
from piazza.people.space_session import SESSION_KEY, now_stamp
from piazza.volunteers import actions, emails
from piazza.volunteers.models import CallContact, OpportunityKind, ShiftSignup
from piazza.volunteers.tests.conftest import at

pytestmark = pytest.mark.django_db


def _callee(territory: Any, first: str, phone: str) -> Person:
    person = Person.objects.create(
        first_name=first, last_name="Rossi", territory=territory, birth_date="1980-01-01", notes="Segreto"
    )
    Phone.objects.create(person=person, value=phone, primary=True)
    Consent.objects.create(
        person=person, purpose=Purpose.POLITICAL_COMMUNICATION, granted=True, channel=Channel.WEB, text_version="x"
    )
    return person


def _volunteer(territory: Any, first: str) -> Person:
    person = Person.objects.create(first_name=first, last_name="Volontaria", territory=territory)
    Email.objects.create(person=person, value=f"{first.lower()}@example.org", primary=True)
    return person


def _signed_in(person: Person) -> Client:
    """As after opening the emailed sign-in link (community.session.sign_in)."""
    client = Client()
    session = client.session
    now = now_stamp()
    session[SESSION_KEY] = {"id": person.pk, "since": now, "seen": now}
    session.save()
    return client


@pytest.fixture
def bank(tree: Any, organiser: Any) -> Any:
    """A phone-bank shift on 11 June 17–20 with two volunteers, and a call list of three people."""
    opportunity = actions.create_opportunity(
        actor=organiser,
        territory=tree.bologna_centro,
        kind=OpportunityKind.PHONE_BANK,
        title="Telefonate per la festa",
        place="Sede del circolo",
    )
    shift = actions.add_shift(
        actor=organiser,
        opportunity=opportunity,
        starts_at=at("2026-06-11", 17),
        ends_at=at("2026-06-11", 20),
        capacity=5,
    )
    anna, bruno = _volunteer(tree.bologna_centro, "Anna"), _volunteer(tree.bologna_centro, "Bruno")
    for person in (anna, bruno):
        ShiftSignup.objects.create(shift=shift, person=person)
    for n, name in enumerate(["Carlo", "Diana", "Enzo"]):
        _callee(tree.bologna_centro, name, f"+39333000010{n}")
    segment = Segment.objects.create(name="Tutti", territory=tree.bologna_centro, definition={})
    call_list = actions.create_call_list(
        actor=organiser,
        territory=tree.bologna_centro,
        name="Inviti alla festa",
        segment=segment,
        script="**Ciao!** Ti invitiamo alla festa.",
        shift=shift,
    )
    return type("Bank", (), {"shift": shift, "anna": anna, "bruno": bruno, "call_list": call_list})


def _take(client: Client, call_list: Any) -> Any:
    return client.post(reverse("volunteers:volunteer_take", args=[call_list.pk]))


def test_during_the_shift_a_volunteer_calls_one_contact_at_a_time(bank, clock):
    clock.move_to(at("2026-06-11", 18))
    anna = _signed_in(bank.anna)
    page = anna.get(reverse("volunteers:my_calls"))
    assert "Inviti alla festa" in page.content.decode() and "Chiama il prossimo contatto" in page.content.decode()
    response = _take(anna, bank.call_list)
    contact = CallContact.objects.get(claimed_by_volunteer=bank.anna)
    assert response["Location"] == reverse("volunteers:volunteer_call", args=[contact.pk])
    # Asking again gives the same contact: one at a time.
    assert _take(anna, bank.call_list)["Location"] == response["Location"]
    assert CallContact.objects.filter(claimed_by_volunteer=bank.anna).count() == 1
    call = anna.get(response["Location"]).content.decode()
    assert contact.person.first_name in call and "+39333000010" in call and "Ti invitiamo" in call
    assert "Segreto" not in call and "1980" not in call  # nothing else about the person (G1)
    view = AuditEntry.objects.get(action="volunteers.view_call")
    assert view.kind == AuditKind.VIEW and view.data["volunteer"] == bank.anna.pk
    assert view.data["ids"] == [contact.person_id]
    outcome = anna.post(reverse("volunteers:volunteer_outcome", args=[contact.pk]), {"outcome": "supportive"})
    assert outcome.status_code == 302
    contact.refresh_from_db()
    assert contact.done and contact.outcome == "supportive" and contact.claimed_by_volunteer is None
    assert TimelineEntry.objects.filter(person=contact.person, kind=actions.CALL_KIND).count() == 1


def test_a_volunteer_cannot_fetch_another_callers_contact(bank, clock):
    clock.move_to(at("2026-06-11", 18))
    anna, bruno = _signed_in(bank.anna), _signed_in(bank.bruno)
    _take(anna, bank.call_list)
    _take(bruno, bank.call_list)
    annas = CallContact.objects.get(claimed_by_volunteer=bank.anna)
    brunos = CallContact.objects.get(claimed_by_volunteer=bank.bruno)
    assert annas.pk != brunos.pk  # one caller per contact at a time
    assert bruno.get(reverse("volunteers:volunteer_call", args=[annas.pk])).status_code == 404
    assert (
        bruno.post(reverse("volunteers:volunteer_outcome", args=[annas.pk]), {"outcome": "against"}).status_code == 404
    )
    annas.refresh_from_db()
    assert not annas.done and annas.outcome == ""
    # An unclaimed contact of the list is nobody's to open either.
    free = CallContact.objects.filter(call_list=bank.call_list, claimed_by_volunteer__isnull=True).first()
    assert free is not None
    assert anna.get(reverse("volunteers:volunteer_call", args=[free.pk])).status_code == 404


def test_after_the_shift_no_contact_is_served(bank, clock):
    clock.move_to(at("2026-06-11", 19))
    anna = _signed_in(bank.anna)
    _take(anna, bank.call_list)
    contact = CallContact.objects.get(claimed_by_volunteer=bank.anna)
    # The claim never outlives the shift.
    assert contact.claim_expires_at is not None and contact.claim_expires_at <= bank.shift.ends_at
    clock.move_to(at("2026-06-11", 20))
    anna = _signed_in(bank.anna)
    assert anna.get(reverse("volunteers:volunteer_call", args=[contact.pk])).status_code == 404
    assert (
        anna.post(reverse("volunteers:volunteer_outcome", args=[contact.pk]), {"outcome": "against"}).status_code == 404
    )
    assert _take(anna, bank.call_list).status_code == 404
    assert "Inviti alla festa" not in anna.get(reverse("volunteers:my_calls")).content.decode()


def test_before_the_shift_the_page_says_when_and_serves_nothing(bank, clock):
    clock.move_to(at("2026-06-11", 9))
    anna = _signed_in(bank.anna)
    page = anna.get(reverse("volunteers:my_calls")).content.decode()
    assert "Potrai telefonare" in page and "Chiama il prossimo contatto" not in page
    assert _take(anna, bank.call_list).status_code == 404
    assert not CallContact.objects.filter(claimed_by_volunteer__isnull=False).exists()


def test_only_the_shifts_volunteers_may_call(bank, clock, tree):
    clock.move_to(at("2026-06-11", 18))
    stranger = _signed_in(_volunteer(tree.bologna_centro, "Franca"))
    assert _take(stranger, bank.call_list).status_code == 404
    ShiftSignup.objects.filter(person=bank.bruno).update(attendance="no_show")
    assert _take(_signed_in(bank.bruno), bank.call_list).status_code == 404
    assert not CallContact.objects.filter(claimed_by_volunteer__isnull=False).exists()


def test_signed_out_the_caller_goes_to_the_door_and_a_post_does_nothing(bank, clock):
    clock.move_to(at("2026-06-11", 18))
    response = Client().get(reverse("volunteers:my_calls"))
    assert response.status_code == 302 and response["Location"] == reverse("community:door")
    refused = Client().post(reverse("volunteers:volunteer_take", args=[bank.call_list.pk]))
    assert refused.status_code == 403 and "Non abbiamo registrato nulla" in refused.content.decode()
    assert not CallContact.objects.filter(claimed_by_volunteer__isnull=False).exists()


def test_the_official_and_the_volunteer_never_hold_the_same_contact(bank, clock, organiser):
    clock.move_to(at("2026-06-11", 18))
    taken = {actions.take_next_contact(actor=organiser, call_list=bank.call_list).pk}  # type: ignore[union-attr]
    _take(_signed_in(bank.anna), bank.call_list)
    _take(_signed_in(bank.bruno), bank.call_list)
    taken |= set(CallContact.objects.filter(claimed_by_volunteer__isnull=False).values_list("pk", flat=True))
    assert len(taken) == 3


def test_the_shift_email_and_il_mio_spazio_lead_to_the_calls(bank, clock):
    emails.send_signup_confirmation.call(ShiftSignup.objects.get(person=bank.anna).pk)
    assert reverse("volunteers:my_calls") in mail.outbox[0].body
    home = _signed_in(bank.anna).get(reverse("community:home"))
    assert reverse("volunteers:my_calls") in home.content.decode()


def test_a_call_list_takes_only_a_phone_bank_shift(tree, organiser, shift):
    """`shift` of conftest is a gazebo: no calls from it."""
    from django.core.exceptions import ValidationError

    segment = Segment.objects.create(name="Tutti", territory=tree.bologna_centro, definition={})
    with pytest.raises(ValidationError, match="turno di telefonate"):
        actions.create_call_list(
            actor=organiser, territory=tree.bologna_centro, name="X", segment=segment, script="Ciao", shift=shift
        )
