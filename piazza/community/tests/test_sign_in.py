"""Issue 12, convention 16: Il mio spazio opens only through a one-time link emailed to an
address on a person's record; the door answers the same for every address."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from piazza.community.models import LinkPurpose, SpaceLink
from piazza.community.session import SESSION_KEY
from piazza.community.tests.conftest import DONOR_EMAIL, ask_link, emailed_link, sign_in
from piazza.core.models import AuditEntry
from piazza.people.models import Email, Person

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def _answer(response) -> str:
    return CSRF.sub("", response.content.decode())


def test_the_answer_is_identical_for_a_known_and_an_unknown_address_and_only_the_owner_gets_mail(
    donor, django_capture_on_commit_callbacks
):
    known = ask_link(Client(), DONOR_EMAIL, django_capture_on_commit_callbacks)
    unknown = ask_link(Client(), "nessuno@example.org", django_capture_on_commit_callbacks)
    assert known.status_code == unknown.status_code == 200
    assert _answer(known) == _answer(unknown)
    assert "Se l&#x27;indirizzo è registrato" in _answer(known)
    assert [m.to for m in mail.outbox] == [[DONOR_EMAIL]]
    assert SpaceLink.objects.get().person == donor
    asked = AuditEntry.objects.filter(action="community.request_link").order_by("id")
    assert [(e.object_id, e.data) for e in asked] == [("", {}), ("", {})]  # the request itself: the same
    issued = AuditEntry.objects.filter(action="community.issue_link").order_by("id")  # in the background
    assert [e.data["sent"] for e in issued] == [True, False]


def test_a_link_opens_the_space_once_and_proves_the_address(client, donor, django_capture_on_commit_callbacks):
    assert not Email.objects.get(person=donor, value=DONOR_EMAIL).verified
    ask_link(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    link = emailed_link(DONOR_EMAIL)
    assert client.get(link).status_code == 200  # a mail scanner's GET spends nothing
    before = client.session.session_key
    opened = client.post(link)
    assert opened.status_code == 302 and opened["Location"] == reverse("community:home")
    assert client.session[SESSION_KEY]["id"] == donor.pk
    assert client.session.session_key != before  # rotated at sign-in
    assert Email.objects.get(person=donor, value=DONOR_EMAIL).verified
    again = Client().post(link)
    assert again.status_code == 403 and "già stato usato" in again.content.decode()
    assert Person.objects.count() == 1  # the session points to the record: never a second copy


def test_a_link_expires_after_thirty_minutes(client, donor, clock, django_capture_on_commit_callbacks):
    ask_link(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    clock.tick(31 * 60)
    response = client.post(emailed_link(DONOR_EMAIL))
    assert response.status_code == 403 and "scaduto" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_an_unknown_or_tampered_link_opens_nothing(client, donor):
    response = client.post(reverse("community:access", args=["x" * 43]))
    assert response.status_code == 403 and "non è valido" in response.content.decode()
    assert client.get(reverse("community:home"))["Location"] == reverse("community:door")


def test_a_bad_address_gets_a_specific_error_and_no_link(client, donor):
    response = client.post(reverse("community:door"), {"email": "giulia@"})
    assert response.status_code == 400 and "indirizzo email valido" in response.content.decode()
    assert not SpaceLink.objects.exists()


def test_links_are_throttled_per_address_with_the_same_answer(
    client, donor, django_capture_on_commit_callbacks, settings
):
    answers = {_answer(ask_link(Client(), DONOR_EMAIL, django_capture_on_commit_callbacks)) for _i in range(5)}
    assert len(answers) == 1
    assert len(mail.outbox) == settings.COMMUNITY_LINKS_PER_ADDRESS == 3


def test_idle_sessions_end_and_sign_out_ends_the_session(
    client, donor, clock, settings, django_capture_on_commit_callbacks
):
    sign_in(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    assert client.get(reverse("community:home")).status_code == 200
    clock.tick(settings.COMMUNITY_IDLE_SECONDS - 60)
    assert client.get(reverse("community:home")).status_code == 200  # activity keeps it open
    clock.tick(settings.COMMUNITY_IDLE_SECONDS + 1)
    expired = client.get(reverse("community:home"), follow=True)
    assert "inattività" in expired.content.decode()

    sign_in(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    before = client.session.session_key
    out = client.post(reverse("community:sign_out"), follow=True)
    assert "Sei uscito da Il mio spazio" in out.content.decode()
    assert client.session.session_key != before
    assert client.get(reverse("community:home"))["Location"] == reverse("community:door")
    assert AuditEntry.objects.filter(action="community.sign_out", object_id=str(donor.pk)).count() == 1
    assert AuditEntry.objects.filter(action="community.sign_in", object_id=str(donor.pk)).count() == 2


def test_a_shared_address_opens_the_record_whose_verified_address_it_is(
    donor, tree, django_capture_on_commit_callbacks
):
    """Duplicates not merged: the verified holder is chosen; the page says the address is shared."""
    twin = Person.objects.create(first_name="Giulia", last_name="Rossi Bis", territory=tree.bologna_centro)
    Email.objects.create(person=twin, value=DONOR_EMAIL, primary=True, verified=True)
    client = Client()
    sign_in(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    assert client.session[SESSION_KEY]["id"] == twin.pk
    page = client.get(reverse("community:home")).content.decode()
    assert "compare anche in un'altra scheda" in page
    assert "Nessuna donazione registrata" in page  # Giulia's gifts belong to the other record
    assert SpaceLink.objects.filter(purpose=LinkPurpose.SIGN_IN).get().person == twin


def test_actions_without_a_session_do_nothing_and_say_so(client, donor):
    schedule_id = donor.pk  # any id: nothing is looked up without a session
    response = client.post(reverse("community:cancel_schedule", args=[schedule_id]))
    assert response.status_code == 403 and "entra prima in Il mio spazio" in response.content.decode()
    response = client.post(reverse("community:consent", args=["newsletter"]), {"give": "1"})
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action__in=["payments.cancel_schedule", "people.record_consent"]).exists()
