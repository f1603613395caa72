"""Journeys (issue 15, on a phone): a supporter signs up for a gazebo shift from the public page;
a caller takes contacts from a call list and records how each call went."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from piazza.people.actions.notices import ensure_default_notices
from piazza.people.models import Channel, Consent, Person, Phone, Purpose, Segment
from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official, verified_client
from piazza.volunteers import actions
from piazza.volunteers.models import CallContact, Opportunity, OpportunityKind, Outcome, Shift, ShiftSignup
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 45_000


def _login(page: Any, live_server: Any, user: Any) -> None:
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_a_supporter_signs_up_for_a_shift_on_a_phone(phone_page: Any, live_server: Any) -> None:
    ensure_default_notices()  # a transactional test before may have emptied the shipped notices
    tree = build_tree()
    ensure_default_notices()
    opportunity = Opportunity.objects.create(
        territory=tree.bologna_centro, kind=OpportunityKind.GAZEBO, title="Gazebo al mercato", place="Piazza Aldrovandi"
    )
    start = timezone.now() + dt.timedelta(days=2)
    shift = Shift.objects.create(
        opportunity=opportunity, starts_at=start, ends_at=start + dt.timedelta(hours=3), capacity=4
    )
    page = phone_page
    page.goto(f"/volontari/{opportunity.public_id}/")
    expect(page.get_by_role("heading", name="Gazebo al mercato", level=1)).to_be_visible(timeout=WAIT)
    assert_accessible(page)
    page.get_by_role("button", name="Mi iscrivo").click()  # nothing filled in: each field says what is missing
    expect(page.get_by_text("Scegli il turno che vuoi fare.").first).to_be_visible(timeout=WAIT)
    page.get_by_label(re.compile("posti liberi: 4")).check()
    page.get_by_label(re.compile(r"^Nome")).fill("Giulia")
    page.get_by_label(re.compile(r"^Cognome")).fill("Bianchi")
    page.get_by_label(re.compile(r"^Email")).fill("giulia@example.org")
    page.get_by_label(re.compile(r"^Cellulare")).fill("333 123 4567")
    page.get_by_label(re.compile("comunicazioni politiche")).check()
    page.get_by_role("button", name="Mi iscrivo").click()
    expect(page.get_by_role("heading", name="Grazie, sei iscritto!")).to_be_visible(timeout=WAIT)
    assert_accessible(page)
    signup = ShiftSignup.objects.get(shift=shift)
    assert signup.person.first_name == "Giulia"
    assert Consent.objects.filter(person=signup.person, purpose=Purpose.POLITICAL_COMMUNICATION, granted=True).exists()


def test_a_caller_takes_contacts_and_records_outcomes(phone_page: Any, live_server: Any) -> None:
    ensure_default_notices()  # a transactional test before may have emptied the shipped notices
    tree = build_tree()
    caller = make_official("chiamate.centro", tree.bologna_centro, [Role.COMMUNICATION])
    for i, name in enumerate(("Anna", "Bruno")):
        person = Person.objects.create(first_name=name, last_name="Rossi", territory=tree.bologna_centro)
        Phone.objects.create(person=person, value=f"+39333000000{i}", primary=True)
        Consent.objects.create(
            person=person, purpose=Purpose.POLITICAL_COMMUNICATION, granted=True, channel=Channel.WEB, text_version="x"
        )
    segment = Segment.objects.create(name="Tutti", territory=tree.bologna_centro, definition={})
    call_list = actions.create_call_list(
        actor=caller,
        territory=tree.bologna_centro,
        name="Richiamo di giugno",
        segment=segment,
        script="**Buongiorno!**",
    )
    _login(phone_page, live_server, caller)
    page = phone_page
    page.goto("/")
    page.get_by_role("link", name="Volontari").first.click()
    page.get_by_role("link", name="Richiamo di giugno").click()
    expect(page.get_by_role("heading", name="Richiamo di giugno", level=1)).to_be_visible(timeout=WAIT)
    assert_accessible(page)
    for outcome in ("Ha risposto: favorevole", "Non vuole essere chiamato"):
        page.get_by_role("button", name="Prendi il prossimo contatto").click()
        expect(page.get_by_text("Buongiorno!")).to_be_visible(timeout=WAIT)
        assert_accessible(page)
        page.get_by_label(outcome).check()
        page.get_by_role("button", name="Registra l'esito").click()
        expect(page.get_by_text("Esito registrato.")).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="Prendi il prossimo contatto").click()
    expect(page.get_by_text("Non c'è nessun altro da chiamare")).to_be_visible(timeout=WAIT)
    outcomes = set(CallContact.objects.filter(call_list=call_list).values_list("outcome", flat=True))
    assert outcomes == {Outcome.SUPPORTIVE, Outcome.DO_NOT_CALL}
