"""Issue 15, events: RSVP from the public page, dedupe into people (convention 16), consent per
notice (rules G2, G3), waiting list and promotion, cancellation notice, reminders, iCalendar."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from piazza.events import actions
from piazza.events.models import Rsvp, RsvpStatus
from piazza.events.tokens import manage_token
from piazza.people.actions.person import create_person
from piazza.people.models import Consent, NoticeAcceptance, Person, Purpose, TimelineEntry
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = pytest.mark.django_db


def _form(notice, **extra):
    data = {
        "first_name": "Anna",
        "last_name": "Rossi",
        "email": "anna.rossi@example.org",
        "phone": "",
        "comune": "Bologna",
        "postal_code": "40121",
        "notice_version": str(notice.pk),
    }
    data.update(extra)
    return data


def _rsvp(client, event, notice, capture, **extra):
    with capture(execute=True):
        return client.post(reverse("events:detail", args=[event.public_key]), _form(notice, **extra))


def test_a_supporter_rsvps_and_lands_in_people_with_the_notice_and_no_consent_unticked(
    client, make_event, notice, mailoutbox, django_capture_on_commit_callbacks
):
    event = make_event()
    response = _rsvp(client, event, notice, django_capture_on_commit_callbacks)
    assert response.status_code == 302 and response["Location"].endswith("/grazie/")
    rsvp = Rsvp.objects.get()
    assert rsvp.status == RsvpStatus.CONFIRMED and rsvp.person is not None
    assert rsvp.person.emails.filter(value="anna.rossi@example.org").exists()
    assert NoticeAcceptance.objects.filter(person=rsvp.person, version=notice).exists()
    assert not Consent.objects.filter(person=rsvp.person).exists()  # rule G3: unticked means no
    assert TimelineEntry.objects.filter(person=rsvp.person, kind="event_rsvp").exists()
    (mail,) = mailoutbox
    assert mail.to == ["anna.rossi@example.org"]
    names = [a[0] for a in mail.attachments]
    assert names == ["evento.ics", "ingresso.png"]
    assert rsvp.code in mail.body


def test_the_public_page_sanitises_markdown_and_links_the_map(client, make_event):
    event = make_event()
    page = client.get(reverse("events:detail", args=[event.public_key])).content.decode()
    assert "<strong>dibattiti</strong>" in page and "<script>alert(1)" not in page
    assert "https://www.openstreetmap.org/search?query=Via+del+Pratello+1%2C+Bologna%2C+Italia" in page


def test_ticked_consent_of_a_new_person_is_recorded_with_the_notice_version(
    client, make_event, notice, django_capture_on_commit_callbacks
):
    event = make_event()
    _rsvp(client, event, notice, django_capture_on_commit_callbacks, political_consent="on")
    consent = Consent.objects.get(purpose=Purpose.POLITICAL_COMMUNICATION)
    assert consent.granted and consent.text_version == notice.code


def test_dedupe_links_an_existing_person_but_writes_nothing_on_an_unverified_email(
    client, tree, make_event, notice, organiser, mailoutbox, django_capture_on_commit_callbacks
):
    """Convention 16: a stranger typing Anna's email gets an RSVP linked to her record, but her
    record gets no phone and no consent until the link sent to her address is clicked."""
    anna = create_person(
        actor=make_official("segreteria.centro", tree.bologna_centro, [Role.ORGANISATION]),
        circolo=tree.bologna_centro,
        data={"first_name": "Anna", "last_name": "Rossi", "emails": ["anna.rossi@example.org"]},
    )
    event = make_event()
    _rsvp(client, event, notice, django_capture_on_commit_callbacks, phone="+39 333 123 4567", political_consent="on")
    rsvp = Rsvp.objects.get()
    assert rsvp.person == anna and Person.objects.count() == 1
    assert not anna.phones.exists()
    assert not Consent.objects.filter(person=anna).exists()
    # The owner of the address clicks the link in her email: now it is on her record.
    found = re.search(r"http\S+(/eventi/iscrizione/\S+/)", mailoutbox[0].body)
    assert found is not None
    client.post(found.group(1), {"action": "consent"})
    consent = Consent.objects.get(person=anna)
    assert consent.purpose == Purpose.POLITICAL_COMMUNICATION and consent.text_version == notice.code


def test_a_second_rsvp_with_the_same_email_is_the_same_rsvp(
    client, make_event, notice, django_capture_on_commit_callbacks
):
    event = make_event()
    _rsvp(client, event, notice, django_capture_on_commit_callbacks)
    _rsvp(client, event, notice, django_capture_on_commit_callbacks, first_name="ANNA")
    assert Rsvp.objects.count() == 1 and Person.objects.count() == 1


def test_bad_input_is_said_at_its_field_and_writes_nothing(client, make_event, notice):
    event = make_event()
    response = client.post(
        reverse("events:detail", args=[event.public_key]),
        _form(notice, email="non-una-email", comune="Atlantide", postal_code="4012"),
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "Non troviamo il comune «Atlantide»" in page and "Il CAP è fatto di 5 cifre" in page
    assert not Rsvp.objects.exists() and not Person.objects.exists()


def test_full_event_puts_people_on_the_waiting_list_and_a_cancellation_promotes_the_first(
    make_event, notice, mailoutbox, django_capture_on_commit_callbacks
):
    event = make_event(capacity=1)
    with django_capture_on_commit_callbacks(execute=True):
        first = actions.rsvp_to_event(event=event, first_name="Anna", last_name="Rossi", email="a@example.org")
        second = actions.rsvp_to_event(event=event, first_name="Bruno", last_name="Verdi", email="b@example.org")
        third = actions.rsvp_to_event(event=event, first_name="Carla", last_name="Neri", email="c@example.org")
    assert (first.status, second.status, third.status) == ("confirmed", "waiting", "waiting")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.cancel_rsvp(rsvp=first)
    second.refresh_from_db()
    third.refresh_from_db()
    assert second.status == RsvpStatus.CONFIRMED and second.promoted_at is not None
    assert third.status == RsvpStatus.WAITING
    assert [m.to for m in mailoutbox] == [["b@example.org"]]
    assert "ingresso.png" in [a[0] for a in mailoutbox[0].attachments]
    # Cancelling someone waiting frees no seat: nobody is promoted.
    actions.cancel_rsvp(rsvp=third)
    assert Rsvp.objects.filter(status=RsvpStatus.CONFIRMED).count() == 1


def test_full_event_without_waiting_list_refuses_with_a_clear_message(make_event):
    event = make_event(capacity=1, waiting_list=False)
    actions.rsvp_to_event(event=event, first_name="Anna", last_name="Rossi", email="a@example.org")
    with pytest.raises(ValidationError, match="al completo"):
        actions.rsvp_to_event(event=event, first_name="Bruno", last_name="Verdi", email="b@example.org")
    assert Rsvp.objects.count() == 1


def test_cancelling_the_event_emails_every_attendee_and_closes_the_rsvp(
    client, make_event, organiser, notice, mailoutbox, django_capture_on_commit_callbacks
):
    event = make_event(capacity=1)
    actions.rsvp_to_event(event=event, first_name="Anna", last_name="Rossi", email="a@example.org")
    actions.rsvp_to_event(event=event, first_name="Bruno", last_name="Verdi", email="b@example.org")
    mailoutbox.clear()
    with pytest.raises(ValidationError):
        actions.cancel_event(actor=organiser, event=event, notice="  ")
    with django_capture_on_commit_callbacks(execute=True):
        actions.cancel_event(actor=organiser, event=event, notice="Allerta meteo rossa: ci rivediamo sabato.")
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.org", "b@example.org"]
    assert all("Allerta meteo rossa" in m.body for m in mailoutbox)
    response = client.post(reverse("events:detail", args=[event.public_key]), _form(notice))
    assert "annullato" in response.content.decode() and Rsvp.objects.count() == 2


def test_reminders_go_the_day_before_once(make_event, mailoutbox, django_capture_on_commit_callbacks, clock):
    event = make_event()
    actions.rsvp_to_event(event=event, first_name="Anna", last_name="Rossi", email="a@example.org")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.send_due_reminders() == 0  # Wednesday: the event is on Friday
    clock.move_to("2026-06-11 09:00")
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.send_due_reminders() == 1
        assert actions.send_due_reminders() == 0  # a second run (or a second worker) sends nothing
    assert [m.subject for m in mailoutbox] == [f"Domani: {event.title}"]


def _unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_the_calendar_file_parses_back(client, make_event):
    event = make_event(title="Assemblea; bilancio, e \\ progetti " + "lunga " * 20)
    response = client.get(reverse("events:ics", args=[event.public_key]))
    assert response["Content-Type"].startswith("text/calendar")
    raw = response.content.decode("utf-8")
    assert all(len(line.encode()) <= 75 for line in raw.split("\r\n"))
    lines = [line for line in _unfold(raw) if line]
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    props = dict(line.split(":", 1) for line in lines)
    assert props["DTSTART"] == "20260612T160000Z" and props["DTEND"] == "20260612T190000Z"  # 18:00 in Rome
    summary = props["SUMMARY"].replace("\\;", ";").replace("\\,", ",").replace("\\\\", "\\")
    assert summary == event.title
    assert props["LOCATION"] == "Via del Pratello 1\\, Bologna (BO)"


def test_manage_link_is_signed(client, make_event):
    event = make_event()
    rsvp = actions.rsvp_to_event(event=event, first_name="Anna", last_name="Rossi", email="a@example.org")
    assert client.get(reverse("events:manage", args=[manage_token(rsvp.pk)])).status_code == 200
    assert client.get(reverse("events:manage", args=[f"{rsvp.pk}:forged"])).status_code == 404


def test_events_near_me_by_comune_and_cap(client, tree, make_event, bologna_comune):
    from piazza.territory.models import Comune

    here = make_event(title="In centro")
    province = make_event(title="A Imola", comune=Comune.objects.get(name="Imola"), postal_code="40026")
    elsewhere = make_event(title="A Milano", comune=Comune.objects.get(name="Milano"), postal_code="20121")
    unlisted = make_event(title="Riservato", visibility="unlisted")
    page = client.get(reverse("events:list"), {"q": "Bologna"}).content.decode()
    assert page.index(here.title) < page.index(province.title)
    assert elsewhere.title not in page and unlisted.title not in page
    page = client.get(reverse("events:list"), {"q": "40026"}).content.decode()
    assert page.index(province.title) < page.index(here.title) and elsewhere.title not in page
    page = client.get(reverse("events:list"), {"q": "Atlantide"}).content.decode()
    assert "Non troviamo il comune" in page


def test_the_form_is_throttled_per_address(client, make_event, notice, mailoutbox, django_capture_on_commit_callbacks):
    event = make_event(capacity=50)
    responses = [_rsvp(client, event, notice, django_capture_on_commit_callbacks) for _ in range(7)]
    assert [r.status_code for r in responses] == [302] * 5 + [429, 429]
    assert "riprova tra un&#x27;ora" in responses[-1].content.decode()
    assert len(mailoutbox) == 5 and Rsvp.objects.count() == 1
