"""Issue 10, findings 4 and 6 (rule G1: membership is a political opinion).

An anonymous join with a member's codice fiscale must answer exactly as a new application and
tell the real person by email, at their registered address; the public forms taking a code are
throttled per client IP and per code; back-office lookups outside the official's scope answer
as "not found".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from freezegun import freeze_time

from piazza.core.models import AuditEntry
from piazza.membership.models import Membership
from piazza.membership.tests.conftest import YEAR, join_data, paid
from piazza.people.models import Person

pytestmark = pytest.mark.django_db

NOW = dt.datetime(YEAR, 3, 15, 10, 0, 0)


def _join_post(client: Client, circolo: Any, data: Any, *, email: str, **extra: Any) -> Any:
    url = reverse("membership:join") + "?comune=Bologna"
    return client.post(url, {
        "first_name": data.first_name, "last_name": data.last_name, "sex": data.sex,
        "birth_date": data.birth_date.isoformat(), "birth_place": "Bologna", "codice_fiscale": data.codice_fiscale,
        "citizenship": "italian", "residence_street": "Via Rizzoli 1", "residence_cap": "40125",
        "email": email, "phone": "", "circolo": circolo.pk, "member_of_other_party": "no",
        "declarations_accepted": "on", "art9_authorised": "on"}, **extra)


@freeze_time(NOW)
def test_anonymous_join_with_a_members_code_reveals_nothing_and_tells_the_member(
        client, tree, schedule, django_capture_on_commit_callbacks):
    member = paid(tree, first="Gabriele", last="Agostini")
    registered = member.person.emails.get().value
    memberships = Membership.objects.count()
    fresh = join_data()

    with django_capture_on_commit_callbacks(execute=True):
        probe = _join_post(client, tree.online, join_data(
            first=member.person.first_name, last=member.person.last_name, birth_date=member.person.birth_date),
            email="curioso@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        new = _join_post(Client(), tree.online, fresh, email="nuova@example.org")

    # The same answer for the member's code and for a new person: a redirect to the same page.
    assert probe.status_code == new.status_code == 302
    assert probe["Location"] == new["Location"] == reverse("membership:join_sent")
    page = client.get(probe["Location"]).content.decode()
    for secret in ("Bologna Centro", "Effettiva", "Pagata", "Risulta già", str(YEAR)):
        assert secret not in page
    # Nothing written for the probe; the new person's application exists.
    assert Membership.objects.count() == memberships + 1
    assert not Membership.objects.filter(person=member.person).exclude(pk=member.pk).exists()
    assert not member.person.emails.filter(value="curioso@example.org").exists()
    # The member learns it at the registered address, never at the typed one.
    to_member = [m for m in mail.outbox if registered in m.to]
    assert len(to_member) == 1 and "Circolo PD Bologna Centro" in to_member[0].body
    assert not any("curioso@example.org" in m.to for m in mail.outbox)
    # The new applicant gets the link to pay, at the address of the application.
    link_mail = next(m for m in mail.outbox if "nuova@example.org" in m.to)
    assert "/tesseramento/iscrizione/" in link_mail.body
    assert AuditEntry.objects.filter(action="membership.apply", data__code="already_member").exists()


@freeze_time(NOW)
@override_settings(PUBLIC_FORM_THROTTLE_PER_IP=4, PUBLIC_FORM_THROTTLE_PER_CODE=1000)
def test_join_is_throttled_per_client_ip(client, tree, schedule):
    answers = [_join_post(client, tree.online, join_data(), email=f"p{i}@example.org",
                          REMOTE_ADDR="203.0.113.9").status_code for i in range(5)]
    assert answers[:4] == [302] * 4 and answers[4] == 429
    assert Membership.objects.count() == 4  # the refused attempt wrote nothing
    refused = _join_post(client, tree.online, join_data(), email="x@example.org", REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429 and "Troppi tentativi" in refused.content.decode()
    # Another client is not affected, and a new window opens after the configured time.
    assert _join_post(client, tree.online, join_data(), email="y@example.org",
                      REMOTE_ADDR="198.51.100.7").status_code == 302
    with freeze_time(NOW + dt.timedelta(hours=1, minutes=1)):
        assert _join_post(client, tree.online, join_data(), email="z@example.org",
                          REMOTE_ADDR="203.0.113.9").status_code == 302


@freeze_time(NOW)
@override_settings(PUBLIC_FORM_THROTTLE_PER_IP=1000, PUBLIC_FORM_THROTTLE_PER_CODE=3)
def test_join_is_throttled_per_codice_fiscale_from_any_client(tree, schedule):
    member = paid(tree)
    probe = join_data(first=member.person.first_name, last=member.person.last_name,
                      birth_date=member.person.birth_date)
    answers = [_join_post(Client(), tree.online, probe, email="curioso@example.org",
                          REMOTE_ADDR=f"203.0.113.{i}").status_code for i in range(4)]
    assert answers == [302, 302, 302, 429]
    assert Person.objects.filter(codice_fiscale_canonical=member.person.codice_fiscale_canonical).count() == 1


@freeze_time(NOW)
@override_settings(PUBLIC_FORM_THROTTLE_PER_IP=2, PUBLIC_FORM_THROTTLE_PER_CODE=1000)
def test_albo_registration_is_throttled(client, tree):
    def post() -> int:
        data = join_data()
        return client.post(reverse("membership:albo"), {
            "first_name": data.first_name, "last_name": data.last_name, "birth_date": data.birth_date.isoformat(),
            "birth_place": "Bologna", "codice_fiscale": data.codice_fiscale, "citizenship": "italian",
            "residence_street": "Via Po 1", "residence_comune": "Bologna", "email": "albo@example.org",
            "phone": "+39 333 765 4321", "declares_support": "on", "consents_to_contact": "on"}).status_code

    before = Person.objects.count()
    assert [post(), post(), post()] == [200, 200, 429]
    assert Person.objects.count() == before + 2
