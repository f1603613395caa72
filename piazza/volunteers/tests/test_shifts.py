"""Volunteer shifts (issue 15): sign-up with dedupe and consent, capacity, confirmation,
reminder the day before (idempotent), attendance, export, and the pages on the way."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.people.models import Consent, Email, NoticeAcceptance, Person, Phone, Purpose, TimelineEntry
from piazza.people.notices import current_version
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client
from piazza.volunteers import actions
from piazza.volunteers.models import Attendance, Shift, ShiftSignup
from piazza.volunteers.tasks import send_shift_reminders

from .conftest import at

pytestmark = pytest.mark.django_db


def _data(**over: Any) -> actions.SignupData:
    values: dict[str, Any] = {
        "first_name": "Giulia",
        "last_name": "Bianchi",
        "email": "giulia@example.org",
        "phone": "+39 333 123 4567",
        "consents_to_contact": True,
        "notice": current_version("event"),
    }
    values.update(over)
    return actions.SignupData(**values)


def test_sign_up_creates_the_person_with_consent_notice_timeline_and_email(shift, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        signup = actions.sign_up_for_shift(actor=None, shift=shift, data=_data())
    person = signup.person
    assert person.territory_id == shift.opportunity.territory_id
    consent = Consent.objects.get(person=person, purpose=Purpose.POLITICAL_COMMUNICATION)
    notice = current_version("event")
    assert notice is not None
    assert consent.granted and consent.text_version == notice.code  # rule G3: the version shown
    assert NoticeAcceptance.objects.filter(person=person, version=notice).exists()
    assert TimelineEntry.objects.filter(person=person, kind=actions.SIGNUP_KIND).count() == 1
    assert [m.to for m in mail.outbox] == [["giulia@example.org"]]
    assert "Gazebo in piazza Maggiore" in str(mail.outbox[0].body)


def test_unticked_box_records_no_consent(shift):
    signup = actions.sign_up_for_shift(actor=None, shift=shift, data=_data(consents_to_contact=False))
    assert not Consent.objects.filter(person=signup.person).exists()


def test_sign_up_dedupes_into_the_existing_person_and_never_writes_to_it(tree, shift):
    """Convention 16: the same email and name match the known person; a public form neither
    adds contacts nor consents to someone it only typed the address of."""
    known = Person.objects.create(first_name="Giulia", last_name="Bianchi", territory=tree.bologna_centro)
    Email.objects.create(person=known, value="giulia@example.org", primary=True)
    signup = actions.sign_up_for_shift(actor=None, shift=shift, data=_data(phone="+39 333 765 4321"))
    assert signup.person_id == known.pk
    assert Person.objects.count() == 1
    assert not Phone.objects.filter(person=known).exists()
    assert not Consent.objects.filter(person=known).exists()


def test_signing_up_twice_keeps_one_seat(shift):
    first = actions.sign_up_for_shift(actor=None, shift=shift, data=_data())
    again = actions.sign_up_for_shift(actor=None, shift=shift, data=_data())
    assert first.pk == again.pk
    assert ShiftSignup.objects.filter(shift=shift).count() == 1


def test_a_full_shift_refuses_the_next_volunteer_and_writes_nothing(shift):
    actions.sign_up_for_shift(actor=None, shift=shift, data=_data())
    actions.sign_up_for_shift(
        actor=None, shift=shift, data=_data(first_name="Marco", last_name="Neri", email="marco@example.org")
    )
    with pytest.raises(ValidationError) as refused:
        actions.sign_up_for_shift(
            actor=None, shift=shift, data=_data(first_name="Luca", last_name="Rossi", email="luca@example.org")
        )
    assert "al completo" in str(refused.value)
    assert not Person.objects.filter(first_name="Luca").exists()
    assert AuditEntry.objects.filter(action="volunteers.sign_up", kind=AuditKind.DENIED).count() == 1


def test_bad_contact_is_refused_with_its_reason(shift):
    with pytest.raises(ValidationError):
        actions.sign_up_for_shift(actor=None, shift=shift, data=_data(phone="abc"))
    assert not Person.objects.exists()


def test_shift_times_and_capacity_are_checked(opportunity, organiser):
    with pytest.raises(ValidationError, match="dopo l'inizio"):
        actions.add_shift(
            actor=organiser,
            opportunity=opportunity,
            starts_at=at("2026-06-12", 10),
            ends_at=at("2026-06-12", 9),
            capacity=3,
        )
    with pytest.raises(ValidationError, match="nel futuro"):
        actions.add_shift(
            actor=organiser,
            opportunity=opportunity,
            starts_at=at("2026-06-09", 10),
            ends_at=at("2026-06-09", 12),
            capacity=3,
        )
    with pytest.raises(ValidationError, match="almeno un posto"):
        actions.add_shift(
            actor=organiser,
            opportunity=opportunity,
            starts_at=at("2026-06-12", 10),
            ends_at=at("2026-06-12", 12),
            capacity=0,
        )


def test_an_official_of_another_territory_cannot_add_shifts(tree, opportunity):
    other = make_official("org.modena", tree.modena_nord, [Role.ORGANISATION])
    with pytest.raises(Exception) as refused:
        actions.add_shift(
            actor=other,
            opportunity=opportunity,
            starts_at=at("2026-06-12", 10),
            ends_at=at("2026-06-12", 12),
            capacity=3,
        )
    assert type(refused.value).__name__ == "PermissionDenied"


def test_reminder_goes_once_the_day_before(shift, opportunity, organiser, django_capture_on_commit_callbacks):
    later = actions.add_shift(
        actor=organiser,
        opportunity=opportunity,
        starts_at=at("2026-06-13", 9),
        ends_at=at("2026-06-13", 12),
        capacity=5,
    )
    actions.sign_up_for_shift(actor=None, shift=shift, data=_data())  # tomorrow (11 June)
    actions.sign_up_for_shift(actor=None, shift=later, data=_data(email="giulia@example.org"))  # 13 June
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert send_shift_reminders.call() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert send_shift_reminders.call() == 0  # idempotent: a second run sends nothing
    assert len(mail.outbox) == 1
    assert "domani" in str(mail.outbox[0].subject).lower()
    assert ShiftSignup.objects.get(shift=shift).reminded_at is not None
    assert ShiftSignup.objects.get(shift=later).reminded_at is None


@pytest.mark.clock("2026-06-11 18:00")
def test_attendance_is_marked_once_in_the_timeline(opportunity, organiser):
    shift = Shift.objects.create(
        opportunity=opportunity, starts_at=at("2026-06-11", 17), ends_at=at("2026-06-11", 20), capacity=2
    )
    person = Person.objects.create(first_name="Anna", last_name="Verdi", territory=shift.opportunity.territory)
    signup = ShiftSignup.objects.create(shift=shift, person=person)
    actions.mark_attendance(actor=organiser, signup=signup, attended=True)
    actions.mark_attendance(actor=organiser, signup=signup, attended=True)
    signup.refresh_from_db()
    assert signup.attendance == Attendance.ATTENDED
    assert TimelineEntry.objects.filter(person=person, kind=actions.ATTENDED_KIND).count() == 1
    actions.mark_attendance(actor=organiser, signup=signup, attended=False)
    assert TimelineEntry.objects.filter(person=person, kind=actions.NO_SHOW_KIND).count() == 1


def test_attendance_before_the_shift_is_refused(shift, organiser):
    person = Person.objects.create(first_name="Anna", last_name="Verdi", territory=shift.opportunity.territory)
    signup = ShiftSignup.objects.create(shift=shift, person=person)
    with pytest.raises(ValidationError, match="dall'inizio"):
        actions.mark_attendance(actor=organiser, signup=signup, attended=True)


def test_public_page_on_a_phone_signs_up_and_thanks(shift, opportunity):
    client = Client()
    url = reverse("volunteers:public", args=[opportunity.public_id])
    page = client.get(url)
    assert page.status_code == 200
    assert "posti liberi: 2" in page.content.decode()
    notice = re.search(r'name="notice_version" value="(\d+)"', page.content.decode())
    assert notice
    answer = client.post(
        url,
        {
            "shift": shift.pk,
            "first_name": "Giulia",
            "last_name": "Bianchi",
            "email": "giulia@example.org",
            "phone": "3331234567",
            "consents_to_contact": "on",
            "notice_version": notice.group(1),
        },
    )
    assert answer.status_code == 302
    thanks = client.get(answer["Location"])
    assert "Grazie" in thanks.content.decode()
    assert ShiftSignup.objects.filter(shift=shift).count() == 1


def test_public_form_says_what_is_missing(shift, opportunity):
    answer = Client().post(reverse("volunteers:public", args=[opportunity.public_id]), {"first_name": "Giulia"})
    assert answer.status_code == 400
    body = answer.content.decode()
    assert "Scegli il turno che vuoi fare." in body
    assert not ShiftSignup.objects.exists()


def test_organiser_path_create_opportunity_add_shift_and_export(tree, organiser):
    client = verified_client(organiser)
    assert "volontari/gestione/" in client.get(reverse("web:dashboard")).content.decode()
    answer = client.post(
        reverse("volunteers:opportunity_create"),
        {
            "territory": tree.bologna_centro.pk,
            "kind": "leafleting",
            "title": "Volantini al mercato",
            "place": "Mercato",
        },
    )
    assert answer.status_code == 302
    detail = answer["Location"]
    pk = int(detail.rstrip("/").split("/")[-1])
    added = client.post(
        reverse("volunteers:shift_add", args=[pk]),
        {"starts_at": "2026-06-20T09:00", "ends_at": "2026-06-20T12:00", "capacity": "4"},
    )
    assert added.status_code == 302
    shift = Shift.objects.get(opportunity_id=pk)
    person = Person.objects.create(first_name="Anna", last_name="Verdi", territory=tree.bologna_centro)
    ShiftSignup.objects.create(shift=shift, person=person)
    page = client.get(detail)
    assert "Anna Verdi" in page.content.decode()
    assert AuditEntry.objects.filter(action="volunteers.view_opportunity", kind=AuditKind.VIEW).exists()
    export = client.get(reverse("volunteers:export", args=[pk]))
    assert export.status_code == 200
    assert "Verdi" in export.content.decode("utf-8-sig")
    assert AuditEntry.objects.filter(action="volunteers.export_signups", kind=AuditKind.EXPORT).exists()
    bad = client.post(
        reverse("volunteers:shift_add", args=[pk]),
        {"starts_at": "2026-06-20T12:00", "ends_at": "2026-06-20T09:00", "capacity": "4"},
    )
    assert bad.status_code == 400
    assert "dopo l&#x27;inizio" in bad.content.decode()


def test_another_territorys_official_gets_404(tree, opportunity):
    other = verified_client(make_official("org.modena", tree.modena_nord, [Role.ORGANISATION]))
    assert other.get(reverse("volunteers:opportunity", args=[opportunity.pk])).status_code == 404
    assert other.get(reverse("volunteers:export", args=[opportunity.pk])).status_code == 404
