"""Journey (the Bologna federation's communication officer): compose a broadcast for a segment,
read who is left out and why, send it; the messages arrive in a real local SMTP server (aiosmtpd);
one recipient unsubscribes in one click from the link in the message."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from piazza.outreach.actions.stopping import record_objection
from piazza.outreach.models import Suppression, SuppressionReason
from piazza.outreach.tests.conftest import make_person
from piazza.people.models import Segment
from piazza.territory.models import Role
from piazza.territory.testing import build_tree, make_official, verified_client
from piazza.web.testing_browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 45_000


def _login(page, live_server, user):
    client = verified_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_officer_sends_a_broadcast_and_a_recipient_unsubscribes(page, live_server, smtp, settings):
    settings.SITE_URL = live_server.url
    tree = build_tree()
    officer = make_official("chiara", tree.bologna, [Role.COMMUNICATION], email="chiara@bologna.example.org")
    Segment.objects.create(name="Bologna tutta", territory=tree.bologna, definition={})
    make_person(tree.bologna_centro, "Anna", "anna@example.org", member=True)  # G2: member, no consent needed
    make_person(tree.bologna_navile, "Bruno", "bruno@example.org", consent=True)  # G3: consent given
    make_person(tree.bologna_navile, "Carla", "carla@example.org")  # neither: left out
    make_person(tree.bologna_centro, "Dario", "dario@example.org", member=True, consent=False)  # withdrew
    elena = make_person(tree.bologna_centro, "Elena", "elena@example.org", member=True)
    record_objection(person=elena)  # what the privacy board's "Opposizione" request does (test_objection)
    _login(page, live_server, officer)

    page.goto("/gestione/")
    page.get_by_role("link", name="Comunicazioni email").first.click()
    page.get_by_role("link", name="Nuova comunicazione").click()
    page.get_by_label("A chi (segmento)").select_option(label="Bologna tutta")
    page.locator("#id_subject").fill("{{ nome }}, ci vediamo sabato")
    page.locator("#id_body").fill("Ciao {{ nome }},\n\nsabato **festa** al circolo {{ circolo }}.")
    assert_accessible(page)
    page.get_by_role("button", name="Salva e controlla il pubblico").click()

    expect(page.get_by_test_id("eligible")).to_contain_text("2 persone la riceveranno", timeout=WAIT)
    exclusions = page.get_by_test_id("exclusions")
    expect(exclusions).to_contain_text("non hanno dato il consenso alla comunicazione politica")
    expect(exclusions).to_contain_text("Hanno revocato il consenso alla comunicazione politica")
    expect(exclusions).to_contain_text("Si sono opposti al trattamento dei loro dati")
    assert_accessible(page)
    page.get_by_role("button", name="Invia", exact=True).click()
    expect(page.get_by_test_id("stats")).to_be_visible(timeout=WAIT)

    assert sorted(r for a in smtp.arrived for r in a.recipients) == ["anna@example.org", "bruno@example.org"]
    message = smtp.to("anna@example.org")[0].message
    assert message["Subject"] == "Anna, ci vediamo sabato"
    link = message["List-Unsubscribe"].strip().strip("<>")

    # Anna follows the link in the message: one button, and she is out.
    page.context.clear_cookies()
    page.goto(link)
    assert_accessible(page)
    page.get_by_role("button", name="Disiscrivimi").click()
    expect(page.get_by_role("heading", name=re.compile("non riceverai più"))).to_be_visible(timeout=WAIT)
    assert Suppression.objects.filter(reason=SuppressionReason.UNSUBSCRIBE, person__first_name="Anna").exists()
