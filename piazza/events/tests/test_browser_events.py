"""Journeys (issue 15), on a phone: a supporter finds an event near her and RSVPs; a volunteer of
the organising federation checks people in at the door (search, then a walk-in)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from piazza.events import actions
from piazza.events.models import Rsvp
from piazza.people.models import TimelineEntry
from piazza.territory.testing import verified_client
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_supporter_on_a_phone_finds_an_event_and_rsvps(phone_page: Any, make_event: Any, notice: Any) -> None:
    event = make_event(capacity=30)
    page = phone_page
    page.goto("/")
    page.get_by_role("link", name="Eventi").first.click()
    page.get_by_label("Comune o CAP").fill("Bologna")
    page.get_by_role("button", name="Cerca").click()
    page.get_by_role("link", name=event.title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(event.title)
    expect(page.get_by_role("link", name=re.compile("OpenStreetMap"))).to_be_visible()
    assert_accessible(page)
    consent = page.get_by_label(re.compile("comunicazioni politiche"))
    expect(consent).not_to_be_checked()
    page.locator("#id_first_name").fill("Giulia")
    page.locator("#id_last_name").fill("Bianchi")
    page.get_by_role("button", name="Conferma la partecipazione").click()
    expect(page.locator(".error-summary")).to_be_visible()  # the email is missing: said, not lost
    page.get_by_label("Email").fill("giulia@example.org")
    page.get_by_label("Comune dove vivi").fill("Bologna")
    page.get_by_role("button", name="Conferma la partecipazione").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Grazie, ci vediamo lì")
    assert_accessible(page)
    rsvp = Rsvp.objects.get()
    assert rsvp.email == "giulia@example.org" and rsvp.notice_version_id == notice.pk


def test_a_volunteer_checks_people_in_at_the_door(
    phone_page: Any, live_server: Any, make_event: Any, organiser: Any
) -> None:
    event = make_event(capacity=30)
    actions.rsvp_to_event(event=event, first_name="Anna", last_name="Rossi", email="a@example.org")
    actions.rsvp_to_event(event=event, first_name="Bruno", last_name="Verdi", email="b@example.org")
    client = verified_client(organiser)
    page = phone_page
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto("/")
    page.get_by_role("link", name="Eventi").first.click()
    page.get_by_role("link", name=event.title).click()
    page.get_by_role("link", name="Ingresso: registra le presenze").click()
    assert_accessible(page)
    page.get_by_label("Nome, cognome o email").fill("ross")
    expect(page.locator("#attendees")).not_to_contain_text("Bruno Verdi")
    page.get_by_role("button", name="Fai entrare Anna Rossi").click()
    expect(page.get_by_role("status").first).to_contain_text("Anna Rossi è entrato")
    page.locator("#id_first_name").fill("Dario")
    page.locator("#id_last_name").fill("Fo")
    page.get_by_label("Cellulare").fill("+39 333 765 4321")
    page.get_by_role("button", name="Registra e fai entrare").click()
    expect(page.get_by_role("status").first).to_contain_text("Dario Fo registrato ed entrato")
    expect(page.locator("#counts")).to_contain_text("2 presenti su 3 iscritti")
    assert TimelineEntry.objects.filter(kind="event_attended").count() == 2
