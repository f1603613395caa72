"""Issue 10 (rule G1, convention 16): the public Albo form and the public flows that find a
person by a typed codice fiscale reveal nothing and write nothing to a person already on file.

A. The Albo answers the same whatever the code belongs to (member, non-member on file, nobody);
   the continuation goes by email to the registered address, and a person on file is written
   only after clicking the signed, expiring, single-use link sent there.
B. `find_or_create_person` never writes to a matched person for an anonymous actor: a stranger
   typing a donor's code with his own email leaves the donor's record as it was.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse
from freezegun import freeze_time

from piazza.membership.actions import albo as albo_actions
from piazza.membership.models import AlboElection, ElectionRegistration, Supporter
from piazza.membership.tests.conftest import YEAR, join_data, paid
from piazza.people.actions import person as person_people_actions
from piazza.people.models import Person
from piazza.people.tests.notices import shown

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("schedule")]

NOW = dt.datetime(YEAR, 3, 15, 10, 0, 0, tzinfo=dt.UTC)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def record_of(person: Person) -> dict[str, Any]:
    """Everything of a person a public form could write, field by field and contact by contact."""
    person = Person.objects.get(pk=person.pk)
    supporter = Supporter.objects.filter(person=person).first()
    return {
        "fields": model_to_dict(person),
        "emails": sorted(person.emails.values_list("value", "primary")),
        "phones": sorted(person.phones.values_list("value", "primary")),
        "consents": list(person.consents.values_list("pk", flat=True)),
        "tags": sorted(person.tags.values_list("name", flat=True)),
        "supporter": model_to_dict(supporter) if supporter else None,
        "registrations": list(ElectionRegistration.objects.filter(supporter__person=person).values_list("pk")),
    }


@pytest.fixture
def primaries(tree):
    return AlboElection.objects.create(
        name="Primarie",
        territory=tree.national,
        fee_cents=200,
        opens_at=NOW - dt.timedelta(days=1),
        closes_at=NOW + dt.timedelta(days=5),
    )


def _albo_post(client: Client, election: AlboElection, data: Any, *, email: str, phone: str) -> Any:
    return client.post(
        reverse("membership:albo") + f"?elezione={election.pk}",
        {
            "first_name": data.first_name,
            "last_name": data.last_name,
            "birth_date": data.birth_date.isoformat(),
            "birth_place": "Bologna",
            "codice_fiscale": data.codice_fiscale,
            "citizenship": "italian",
            "residence_street": "Via Po 1",
            "residence_comune": "Bologna",
            "email": email,
            "phone": phone,
            "declares_support": "on",
            "consents_to_contact": "on",
            **shown("albo"),
        },
        follow=True,
    )


def _link(message: Any) -> str:
    found = re.search(r"https?://\S+?(/tesseramento/albo/conferma/[^/\s]+/)", message.body)
    assert found, message.body
    return found.group(1)


def _on_file(first: str, last: str) -> Person:
    """A person on file who is not a member (a donor, say), with a registered address."""
    data = join_data(first=first, last=last)
    return person_people_actions.find_or_create_person(
        actor=None,
        source="donation",
        data={
            "first_name": first,
            "last_name": last,
            "birth_date": data.birth_date,
            "birth_comune": data.birth_comune,
            "codice_fiscale": data.codice_fiscale,
            "emails": [f"{first.lower()}@registrata.example.org"],
            "residence_comune": data.residence_comune,
        },
    )


def _withdrawn_supporter(person: Person, when: dt.datetime) -> None:
    Supporter.objects.update_or_create(
        person=person,
        defaults={
            "territory": person.territory,
            "source": Supporter.Source.REGISTRATION,
            "registered_at": when,
            "contact_consent_at": when,
            "withdrawn_at": when,
        },
    )


@freeze_time(NOW)
def test_albo_answers_the_same_for_a_member_a_person_on_file_and_nobody(
    tree, primaries, django_capture_on_commit_callbacks
):
    member = paid(tree, first="Gabriele", last="Agostini").person
    on_file = _on_file("Lucia", "Bianchi")
    _withdrawn_supporter(on_file, NOW - dt.timedelta(days=300))
    before = {p.pk: record_of(p) for p in (member, on_file)}
    registered = {p.pk: p.emails.get().value for p in (member, on_file)}
    nobody = join_data(first="Marta", last="Nuovi")
    mail.outbox.clear()

    bodies = []
    for data in (
        join_data(first=member.first_name, last=member.last_name, birth_date=member.birth_date),
        join_data(first=on_file.first_name, last=on_file.last_name, birth_date=on_file.birth_date),
        nobody,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = _albo_post(Client(), primaries, data, email="curioso@example.org", phone="+39 333 000 1111")
        assert response.status_code == 200 and response.redirect_chain == [(reverse("membership:albo_sent"), 302)]
        bodies.append(CSRF.sub("", response.content.decode()))
    assert bodies[0] == bodies[1] == bodies[2]
    assert "Controlla la tua posta" in bodies[0] and "/pagamenti/" not in bodies[0]

    # Nothing written to the people on file: no contact, no consent, no Albo change, no registration.
    for person in (member, on_file):
        assert record_of(person) == before[person.pk]
    # The emails: to the registered addresses, never the typed one, except for the brand-new person.
    to_member = [m for m in mail.outbox if registered[member.pk] in m.to]
    to_on_file = [m for m in mail.outbox if registered[on_file.pk] in m.to]
    to_typed = [m for m in mail.outbox if "curioso@example.org" in m.to]
    assert len(to_member) == len(to_on_file) == len(to_typed) == 1 and len(mail.outbox) == 3
    assert "non devi pagare" in to_member[0].body and "/tesseramento/albo/conferma/" in to_member[0].body
    assert "2,00" in to_on_file[0].body and "/tesseramento/albo/conferma/" in to_on_file[0].body
    assert "/pagamenti/" in to_typed[0].body  # the new non-member's continuation: the fee
    new = Person.objects.get(codice_fiscale_canonical__isnull=False, first_name="Marta", last_name="Nuovi")
    assert ElectionRegistration.objects.get(supporter__person=new).fee_cents == 200


@freeze_time(NOW)
def test_the_emailed_link_registers_once_and_only_then_writes(tree, primaries, django_capture_on_commit_callbacks):
    member = paid(tree, first="Gabriele", last="Agostini").person
    _withdrawn_supporter(member, NOW - dt.timedelta(days=300))
    mail.outbox.clear()
    data = join_data(first=member.first_name, last=member.last_name, birth_date=member.birth_date)
    with django_capture_on_commit_callbacks(execute=True):
        _albo_post(Client(), primaries, data, email="gabriele.nuova@example.org", phone="+39 333 000 2222")
    link = _link(mail.outbox[-1])
    client = Client()
    assert client.get(link).status_code == 200  # a mail scanner's GET writes nothing
    assert Supporter.objects.get(person=member).withdrawn_at is not None

    done = client.post(link)
    assert done.status_code == 200 and "completa" in done.content.decode()
    supporter = Supporter.objects.get(person=member)
    assert supporter.withdrawn_at is None and supporter.contact_consent_at == NOW
    assert ElectionRegistration.objects.get(supporter=supporter, election=primaries).fee_cents == 0  # a member
    assert member.emails.filter(value="gabriele.nuova@example.org").exists()  # proved: now written
    consents = member.consents.count()
    assert client.post(link).status_code == 410  # single use
    assert member.consents.count() == consents


def test_the_emailed_link_expires(tree, primaries, django_capture_on_commit_callbacks):
    with freeze_time(NOW):
        person = paid(tree, first="Lucia", last="Bianchi").person
        mail.outbox.clear()
        data = join_data(first=person.first_name, last=person.last_name, birth_date=person.birth_date)
        with django_capture_on_commit_callbacks(execute=True):
            _albo_post(Client(), primaries, data, email="x@example.org", phone="+39 333 000 3333")
        link = _link(mail.outbox[-1])
    with freeze_time(NOW + albo_actions.ALBO_LINK_MAX_AGE + dt.timedelta(minutes=1)):
        assert Client().post(link).status_code == 410
    assert Supporter.objects.get(person=person).contact_consent_at != NOW + albo_actions.ALBO_LINK_MAX_AGE
    assert not person.emails.filter(value="x@example.org").exists()


@freeze_time(NOW)
def test_anonymous_join_with_a_known_persons_code_writes_nothing_to_that_person(
    client, tree, django_capture_on_commit_callbacks
):
    """B via the join: a person on file (not a member this year) is not written by the public form."""
    person = _on_file("Lucia", "Bianchi")
    before = record_of(person)
    data = join_data(first=person.first_name, last=person.last_name, birth_date=person.birth_date)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("membership:join") + "?comune=Bologna",
            {
                "first_name": data.first_name,
                "last_name": data.last_name,
                "sex": data.sex,
                "birth_date": data.birth_date.isoformat(),
                "birth_place": "Bologna",
                "codice_fiscale": data.codice_fiscale,
                "citizenship": "italian",
                "residence_street": "Via Rizzoli 1",
                "residence_cap": "40125",
                "email": "intruso@example.org",
                "phone": "+39 333 000 4444",
                "circolo": tree.online.pk,
                "member_of_other_party": "no",
                "declarations_accepted": "on",
                "art9_authorised": "on",
                **shown("join"),
            },
        )
    after = record_of(person)
    for part in ("fields", "emails", "phones", "consents", "tags"):  # the application itself is the join's
        assert after[part] == before[part], part
    assert not any("intruso@example.org" in m.to for m in mail.outbox)
    assert any("lucia@registrata.example.org" in m.to for m in mail.outbox)  # the link, at the address on record


@freeze_time(NOW)
def test_find_or_create_person_writes_a_match_only_for_an_official_or_after_proof(tree, secretary):
    person = paid(tree, first="Lucia", last="Bianchi").person
    before = record_of(person)
    data = {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "birth_date": person.birth_date,
        "codice_fiscale": person.codice_fiscale,
        "emails": ["intruso@example.org"],
        "phones": ["+39 333 000 5555"],
        "tags": ["curioso"],
    }
    for anonymous in (None, AnonymousUser()):
        found = person_people_actions.find_or_create_person(actor=anonymous, data=data)
        assert found.pk == person.pk and not found.was_created
    assert record_of(person) == before
    person_people_actions.find_or_create_person(actor=None, data=data, proved=True)
    assert person.emails.filter(value="intruso@example.org").exists()


@freeze_time(NOW)
def test_a_non_member_on_file_confirms_then_pays_the_election_fee(tree, primaries, django_capture_on_commit_callbacks):
    person = _on_file("Lucia", "Bianchi")
    data = join_data(first=person.first_name, last=person.last_name, birth_date=person.birth_date)
    with django_capture_on_commit_callbacks(execute=True):
        _albo_post(Client(), primaries, data, email="lucia.nuova@example.org", phone="+39 333 000 6666")
    message = next(m for m in mail.outbox if "lucia@registrata.example.org" in m.to)
    assert "lucia.nuova@example.org" in message.body  # she sees what the link would add
    response = Client().post(_link(message))
    assert response.status_code == 302 and "/pagamenti/" in response["Location"]
    registration = ElectionRegistration.objects.get(supporter__person=person, election=primaries)
    assert registration.fee_cents == 200 and registration.paid_at is None
    assert person.emails.filter(value="lucia.nuova@example.org").exists()


def test_a_forged_or_tampered_link_is_refused(tree, primaries):
    assert Client().get(reverse("membership:albo_confirm", args=["not-a-token"])).status_code == 410
    assert Client().post(reverse("membership:albo_confirm", args=["abc:def"])).status_code == 410
