"""A privacy objection stops outreach without an official doing anything else (rule G3, GDPR art. 21):
on the person's own path (Il mio spazio) and on the privacy board's (a request received on paper),
the next broadcast's count shows them left out, with the reason in words, and nothing reaches them."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from piazza.outreach.models import Suppression, SuppressionReason
from piazza.outreach.tests.conftest import make_person
from piazza.outreach.tests.test_sending import send_now, write
from piazza.people.models import Purpose, TimelineEntry
from piazza.privacy.models import DataRequest, RequestKind
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


def _detail(officer, broadcast) -> str:
    return verified_client(officer).get(reverse("outreach:detail", args=[broadcast.pk])).content.decode()


def test_objection_recorded_by_the_privacy_board_excludes_from_the_next_broadcast(
    tree, officer, segment, smtp, django_capture_on_commit_callbacks
):
    stays = make_person(tree.bologna_centro, "Resta", "resta@example.org", member=True)
    objects = make_person(tree.bologna_centro, "Obietta", "obietta@example.org", member=True)
    assert "2 persone la riceveranno" in _detail(officer, write(officer, tree, segment))

    privacy = make_official("privacy.bo", tree.bologna, [Role.PRIVACY_OFFICER])
    response = verified_client(privacy).post(
        reverse("privacy:paper_request", args=[objects.pk]),
        {"kind": RequestKind.OBJECTION, "received_on": timezone.localdate().isoformat(), "email": "", "notes": ""},
    )
    assert response.status_code == 200 and DataRequest.objects.filter(person=objects).exists()
    assert Suppression.objects.filter(person=objects, reason=SuppressionReason.OBJECTION).count() == 1
    assert TimelineEntry.objects.filter(person=objects, kind="outreach.objection").exists()

    # The communication officer did nothing: the next broadcast already leaves her out, in words.
    broadcast = write(officer, tree, segment)
    page = _detail(officer, broadcast)
    assert "1 persona la riceverà" in page
    assert "Si sono opposti al trattamento dei loro dati" in page and "objection" not in page
    send_now(officer, broadcast, django_capture_on_commit_callbacks)
    assert smtp.to(stays.emails.get().value) and not smtp.to("obietta@example.org")


def test_other_request_kinds_do_not_stop_outreach(tree, officer, segment):
    person = make_person(tree.bologna_centro, "Chiede", "chiede@example.org", member=True)
    privacy = make_official("privacy.bo", tree.bologna, [Role.PRIVACY_OFFICER])
    verified_client(privacy).post(
        reverse("privacy:paper_request", args=[person.pk]),
        {"kind": RequestKind.RECTIFICATION, "received_on": timezone.localdate().isoformat()},
    )
    assert DataRequest.objects.filter(person=person).exists()
    assert not Suppression.objects.filter(person=person).exists()
    assert "1 persona la riceverà" in _detail(officer, write(officer, tree, segment))


def test_withdrawal_in_il_mio_spazio_excludes_from_the_next_broadcast(
    tree, officer, segment, smtp, django_capture_on_commit_callbacks
):
    make_person(tree.bologna_centro, "Ritira", "ritira@example.org", member=True, consent=True)
    assert "1 persona la riceverà" in _detail(officer, write(officer, tree, segment))

    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("community:door"), {"email": "ritira@example.org"})
    # The sign-in link arrives in the local SMTP server like every other email in this test.
    arrived = smtp.to("ritira@example.org")[-1].message
    body = (arrived.get_body(preferencelist=("plain",)) or arrived).get_content()
    link = re.search(r"http\S+(/il-mio-spazio/accesso/\S+/)", body)
    assert link is not None and client.post(link.group(1)).status_code == 302
    response = client.post(
        reverse("community:consent", args=[Purpose.POLITICAL_COMMUNICATION]), {"give": "0"}, follow=True
    )
    assert "consenso revocato" in response.content.decode()

    broadcast = write(officer, tree, segment)
    page = _detail(officer, broadcast)
    # Rule G3: the withdrawal wins even for a member (G2 would otherwise let them receive).
    assert "0 persone la riceveranno" in page
    assert "Hanno revocato il consenso alla comunicazione politica" in page
    before = len(smtp.to("ritira@example.org"))  # the sign-in link
    send_now(officer, broadcast, django_capture_on_commit_callbacks)
    assert len(smtp.to("ritira@example.org")) == before
