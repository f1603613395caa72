"""Bounces (DSN mailbox, provider webhook through django-anymail), complaints, the preference
centre (rule G3: Consent rows, withdrawing as easy as giving) and the compiled MJML layout."""

from __future__ import annotations

import base64
import json
import mailbox
from email.message import EmailMessage

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from piazza.outreach import tasks
from piazza.outreach.actions import broadcasts as actions
from piazza.outreach.bounces import parse_dsn
from piazza.outreach.layout_build import COMPILED, compile_layout
from piazza.outreach.models import (
    Delivery,
    DeliveryStatus,
    MailEvent,
    Suppression,
    SuppressionReason,
    TerritoryPreference,
)
from piazza.outreach.queries import audience_count
from piazza.outreach.render import unsubscribe_token
from piazza.outreach.tests.conftest import make_person
from piazza.people.models import Consent, Purpose

pytestmark = pytest.mark.django_db


def dsn(recipient: str, message_id: str, *, action: str = "failed", status: str = "5.1.1") -> bytes:
    report = EmailMessage()
    report["From"] = "MAILER-DAEMON@mx.example.org"
    report["To"] = "bounces@piazza.localhost"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = f"<dsn-{recipient}-{status}@mx.example.org>"
    report.set_content("This is the mail system at host mx.example.org. I'm sorry to have to inform you...")
    report.make_mixed()
    body = report.as_bytes().decode()
    boundary = report.get_boundary()
    status_part = (
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nSubject: Ciao\r\n\r\n"
        f"--{boundary}--\r\n"
    )
    body = body.replace(
        f"--{boundary}--", status_part.rstrip("\r\n").removesuffix(f"--{boundary}--") + f"--{boundary}--"
    )
    body = body.replace("multipart/mixed", "multipart/report; report-type=delivery-status", 1)
    return body.encode()


@pytest.fixture
def sent(tree, officer, segment, smtp, django_capture_on_commit_callbacks):
    make_person(tree.bologna_centro, "Iscritta", "iscritta@example.org", member=True)
    make_person(tree.bologna_centro, "Altra", "altra@example.org", member=True)
    broadcast = actions.save_broadcast(
        actor=officer, territory=tree.bologna, segment=segment, subject="Ciao", body="Ciao"
    )
    with django_capture_on_commit_callbacks(execute=True):
        actions.schedule_broadcast(actor=officer, broadcast=broadcast)
    return broadcast


def test_a_hard_bounce_in_the_mailbox_stops_the_address(tmp_path, sent, smtp):
    delivery = Delivery.objects.get(broadcast=sent, email="iscritta@example.org")
    assert smtp.to("iscritta@example.org")[0].message["Message-ID"] == delivery.message_id
    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    box.add(dsn("iscritta@example.org", delivery.message_id))
    box.add(dsn("altra@example.org", "<x@y>", action="delayed", status="4.4.1"))
    box.add(b"From: someone@example.org\r\nSubject: Fuori ufficio\r\n\r\nSono in ferie.\r\n")
    counts = tasks.process_maildir(str(tmp_path / "bounces"))
    assert counts == {"messages": 3, "hard": 1, "soft": 1}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.BOUNCED
    assert Suppression.objects.filter(reason=SuppressionReason.HARD_BOUNCE, email="iscritta@example.org").exists()
    assert not Suppression.objects.filter(email="altra@example.org").exists()  # a delay stops nothing
    assert len(box) == 0  # processed messages leave the mailbox
    # Processing the same DSN again changes nothing (unique per source and id).
    box.add(dsn("iscritta@example.org", delivery.message_id))
    tasks.process_maildir(str(tmp_path / "bounces"))
    assert MailEvent.objects.filter(kind="bounced").count() == 1


def test_the_management_command_reads_the_mailbox(tmp_path, sent):
    delivery = Delivery.objects.get(broadcast=sent, email="altra@example.org")
    box = mailbox.Maildir(str(tmp_path / "b"), create=True)
    box.add(dsn("altra@example.org", delivery.message_id))
    call_command("process_bounces", str(tmp_path / "b"))
    assert Suppression.objects.filter(reason=SuppressionReason.HARD_BOUNCE, email="altra@example.org").exists()


def test_parse_dsn_reads_recipient_status_and_original_id():
    [bounce] = parse_dsn(dsn("Someone@Example.org", "<abc@piazza.localhost>"))
    assert (bounce.recipient, bounce.action, bounce.status, bounce.message_id) == (
        "someone@example.org",
        "failed",
        "5.1.1",
        "<abc@piazza.localhost>",
    )
    assert bounce.permanent


def _basic(secret: str) -> str:
    return "Basic " + base64.b64encode(secret.encode()).decode()


def test_provider_webhook_hard_bounce_and_complaint(settings, sent):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "piazza:segreto-lungo"}
    url = reverse("outreach:webhook_postmark")
    bounce = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "ID": 42,
        "Email": "iscritta@example.org",
        "MessageID": "pm-1",
        "Description": "Unknown user",
    }
    refused = Client().post(
        url, json.dumps(bounce), content_type="application/json", HTTP_AUTHORIZATION=_basic("piazza:sbagliato")
    )
    assert refused.status_code == 400 and not Suppression.objects.exists()
    ok = Client().post(
        url, json.dumps(bounce), content_type="application/json", HTTP_AUTHORIZATION=_basic("piazza:segreto-lungo")
    )
    assert ok.status_code == 200
    assert Suppression.objects.filter(reason=SuppressionReason.HARD_BOUNCE, email="iscritta@example.org").exists()
    assert Delivery.objects.get(broadcast=sent, email="iscritta@example.org").status == DeliveryStatus.BOUNCED
    complaint = {
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "ID": 43,
        "Email": "altra@example.org",
        "MessageID": "pm-2",
    }
    Client().post(
        url, json.dumps(complaint), content_type="application/json", HTTP_AUTHORIZATION=_basic("piazza:segreto-lungo")
    )
    person = Delivery.objects.get(broadcast=sent, email="altra@example.org").person
    # A complaint is an unsubscribe: never again.
    assert Suppression.objects.filter(person=person, reason=SuppressionReason.COMPLAINT).exists()


def test_webhook_without_a_configured_secret_does_not_exist(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": ""}
    assert Client().post(reverse("outreach:webhook_postmark"), "{}", content_type="application/json").status_code == 404


def test_preference_centre_records_consents_and_territories(tree, officer, segment, sent):
    person = Delivery.objects.get(broadcast=sent, email="iscritta@example.org").person
    url = reverse("outreach:preferences", args=[unsubscribe_token(sent.pk, person.pk)])
    page = Client().get(url)
    assert page.status_code == 200 and tree.bologna.name in page.content.decode()
    # Withdraw political communication, keep the emails, stop this federation's messages.
    Client().post(url, {"emails": "1", f"topic_{Purpose.NEWSLETTER}": "1"})
    latest = Consent.objects.filter(person=person, purpose=Purpose.NEWSLETTER).first()
    assert latest is not None and latest.granted and latest.channel == "email"
    assert TerritoryPreference.objects.get(person=person, territory=tree.bologna).receive is False
    # A member who never consented has nothing to withdraw: no row; the federation opt-out excludes.
    assert not Consent.objects.filter(person=person, purpose=Purpose.POLITICAL_COMMUNICATION).exists()
    again = actions.save_broadcast(actor=officer, territory=tree.bologna, segment=segment, subject="x", body="x")
    assert "territory_opt_out" in {c for c, _w, _n in audience_count(again).exclusions}
    # Giving it back is as easy (G3): tick again, a new grant row.
    Client().post(
        url, {"emails": "1", f"topic_{Purpose.POLITICAL_COMMUNICATION}": "1", f"territory_{tree.bologna.pk}": "1"}
    )
    given = Consent.objects.filter(person=person, purpose=Purpose.POLITICAL_COMMUNICATION).first()
    assert given is not None and given.granted
    assert TerritoryPreference.objects.get(person=person, territory=tree.bologna).receive is True


def test_the_committed_layout_is_the_compiled_mjml():
    assert COMPILED.read_text() == compile_layout()
    assert "<table" in COMPILED.read_text()  # tables come from MJML, never written by hand
