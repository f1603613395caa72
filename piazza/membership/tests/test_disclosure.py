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
from piazza.people.tests.notices import shown
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

NOW = dt.datetime(YEAR, 3, 15, 10, 0, 0)


def _join_post(client: Client, circolo: Any, data: Any, *, email: str, **extra: Any) -> Any:
    url = reverse("membership:join") + "?comune=Bologna"
    return client.post(
        url,
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
            "email": email,
            "phone": "",
            "circolo": circolo.pk,
            "member_of_other_party": "no",
            "declarations_accepted": "on",
            "art9_authorised": "on",
            **shown("join"),
        },
        **extra,
    )


@freeze_time(NOW)
def test_anonymous_join_with_a_members_code_reveals_nothing_and_tells_the_member(
    client, tree, schedule, django_capture_on_commit_callbacks
):
    member = paid(tree, first="Gabriele", last="Agostini")
    registered = member.person.emails.get().value
    memberships = Membership.objects.count()
    fresh = join_data()

    with django_capture_on_commit_callbacks(execute=True):
        probe = _join_post(
            client,
            tree.online,
            join_data(
                first=member.person.first_name, last=member.person.last_name, birth_date=member.person.birth_date
            ),
            email="curioso@example.org",
        )
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
    answers = [
        _join_post(client, tree.online, join_data(), email=f"p{i}@example.org", REMOTE_ADDR="203.0.113.9").status_code
        for i in range(5)
    ]
    assert answers[:4] == [302] * 4 and answers[4] == 429
    assert Membership.objects.count() == 4  # the refused attempt wrote nothing
    refused = _join_post(client, tree.online, join_data(), email="x@example.org", REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429 and "Troppi tentativi" in refused.content.decode()
    # Another client is not affected, and a new window opens after the configured time.
    assert (
        _join_post(client, tree.online, join_data(), email="y@example.org", REMOTE_ADDR="198.51.100.7").status_code
        == 302
    )
    with freeze_time(NOW + dt.timedelta(hours=1, minutes=1)):
        assert (
            _join_post(client, tree.online, join_data(), email="z@example.org", REMOTE_ADDR="203.0.113.9").status_code
            == 302
        )


@freeze_time(NOW)
@override_settings(PUBLIC_FORM_THROTTLE_PER_IP=1000, PUBLIC_FORM_THROTTLE_PER_CODE=3)
def test_join_is_throttled_per_codice_fiscale_from_any_client(tree, schedule):
    member = paid(tree)
    probe = join_data(first=member.person.first_name, last=member.person.last_name, birth_date=member.person.birth_date)
    answers = [
        _join_post(Client(), tree.online, probe, email="curioso@example.org", REMOTE_ADDR=f"203.0.113.{i}").status_code
        for i in range(4)
    ]
    assert answers == [302, 302, 302, 429]
    assert Person.objects.filter(codice_fiscale_canonical=member.person.codice_fiscale_canonical).count() == 1


@freeze_time(NOW)
@override_settings(PUBLIC_FORM_THROTTLE_PER_IP=2, PUBLIC_FORM_THROTTLE_PER_CODE=1000)
def test_albo_registration_is_throttled(client, tree):
    def post() -> int:
        data = join_data()
        return client.post(
            reverse("membership:albo"),
            {
                "first_name": data.first_name,
                "last_name": data.last_name,
                "birth_date": data.birth_date.isoformat(),
                "birth_place": "Bologna",
                "codice_fiscale": data.codice_fiscale,
                "citizenship": "italian",
                "residence_street": "Via Po 1",
                "residence_comune": "Bologna",
                "email": "albo@example.org",
                "phone": "+39 333 765 4321",
                "declares_support": "on",
                "consents_to_contact": "on",
                **shown("albo"),
            },
        ).status_code

    before = Person.objects.count()
    assert [post(), post(), post()] == [302, 302, 429]  # accepted forms redirect to "controlla la tua posta"
    assert Person.objects.count() == before + 2


# --- Finding 6: the back office outside the official's scope ------------------------------

MILANO_ISTAT = "015146"


def _agostini() -> Person:
    """A person of another federation (Milano): what a Bologna secretary must never see."""
    from piazza.people.actions import person as person_people_actions
    from piazza.people.codice_fiscale import make_codice_fiscale
    from piazza.territory.models import Comune

    milano = Comune.objects.get(istat_code=MILANO_ISTAT)
    code = make_codice_fiscale(
        first_name="Gabriele", last_name="Agostini", sex="M", birth_date=dt.date(1975, 5, 4), belfiore=milano.belfiore
    )
    return person_people_actions.create_person(
        actor=None,
        data={
            "first_name": "Gabriele",
            "last_name": "Agostini",
            "sex": "M",
            "birth_date": dt.date(1975, 5, 4),
            "birth_comune": milano,
            "codice_fiscale": code,
            "residence_street": "Via Padova 3",
            "residence_comune": milano,
            "emails": ["gabriele@example.org"],
            "phones": ["+39 333 111 2222"],
        },
    )


def _snapshot(person: Person) -> dict[str, Any]:
    """Every stored field of the record, its contacts, tags, consents and timeline."""
    person = Person.objects.get(pk=person.pk)
    fields = {f.attname: getattr(person, f.attname) for f in Person._meta.concrete_fields}
    return {
        **fields,
        "emails": sorted(person.emails.values_list("value", "primary")),
        "phones": sorted(person.phones.values_list("value", "primary")),
        "tags": sorted(person.tags.values_list("name", flat=True)),
        "consents": person.consents.count() if hasattr(person, "consents") else None,
        "timeline": list(person.timeline.values_list("pk", flat=True)),
        "memberships": list(Membership.objects.filter(person=person).values_list("pk", flat=True)),
    }


def _page(response: Any, *codes: str) -> str:
    import re

    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())
    for code in codes:
        body = body.replace(code, "CODICE")
    return body


@freeze_time(NOW)
def test_congress_roll_lookup_outside_scope_answers_as_not_found(tree, secretary):
    from piazza.membership.actions import roll as roll_actions

    other = _agostini()
    congress = roll_actions.create_congress(
        actor=secretary,
        territory=tree.bologna_centro,
        name="Congresso di circolo",
        cut_off=NOW.replace(tzinfo=dt.UTC),
        membership_years=[YEAR],
    )
    client = verified_client(secretary)
    url = reverse("membership:congress", args=[congress.pk])
    unknown = "RSSMRA80A01A944X"
    outside = client.get(url, {"codice_fiscale": other.codice_fiscale, "circolo": tree.bologna_centro.pk})
    missing = client.get(url, {"codice_fiscale": unknown, "circolo": tree.bologna_centro.pk})
    assert outside.status_code == missing.status_code == 200
    assert "Agostini" not in outside.content.decode() and "Gabriele" not in outside.content.decode()
    assert _page(outside, other.codice_fiscale) == _page(missing, unknown)


@freeze_time(NOW)
def test_a_congress_of_another_federation_is_404_like_a_missing_one(tree, secretary):
    from piazza.membership.actions import roll as roll_actions

    organiser = make_official("organizzazione.mi", tree.milano, [Role.ORGANISATION])
    theirs = roll_actions.create_congress(
        actor=organiser,
        territory=tree.milano,
        name="Congresso provinciale Milano",
        cut_off=NOW.replace(tzinfo=dt.UTC),
        membership_years=[YEAR],
    )
    bologna = make_official("organizzazione.bo", tree.bologna, [Role.ORGANISATION])
    rome = make_official("organizzazione.it", tree.national, [Role.ORGANISATION])
    ours = roll_actions.create_congress(
        actor=bologna,
        territory=tree.bologna,
        name="Congresso provinciale Bologna",
        cut_off=NOW.replace(tzinfo=dt.UTC),
        membership_years=[YEAR],
    )
    national = roll_actions.create_congress(
        actor=rome,
        territory=tree.national,
        name="Congresso nazionale",
        cut_off=NOW.replace(tzinfo=dt.UTC),
        membership_years=[YEAR],
    )
    client = verified_client(secretary)
    other = client.get(reverse("membership:congress", args=[theirs.pk]))
    absent = client.get(reverse("membership:congress", args=[999_999]))
    assert other.status_code == absent.status_code == 404
    # The same page but for the address itself (the language switcher repeats it).
    assert _page(other).replace(f"/{theirs.pk}/", "/ID/") == _page(absent).replace("/999999/", "/ID/")
    assert "Milano" not in other.content.decode()
    compute = client.post(reverse("membership:roll_compute", args=[theirs.pk, tree.bologna_centro.pk]))
    assert compute.status_code == 404
    # Congresses above the official (federation, national) still open.
    assert client.get(reverse("membership:congress", args=[ours.pk])).status_code == 200
    assert client.get(reverse("membership:congress", args=[national.pk])).status_code == 200


@freeze_time(NOW)
def test_desk_registration_of_a_person_of_another_federation_becomes_a_request(tree, secretary, schedule):
    from piazza.people.models import ScopeRequest, ScopeRequestKind

    other = _agostini()
    before = _snapshot(other)
    client = verified_client(secretary)
    response = client.post(
        reverse("membership:desk_register", args=[tree.bologna_centro.pk]),
        {
            "first_name": "Gabriele",
            "last_name": "Agostini",
            "sex": "M",
            "birth_date": "1975-05-04",
            "birth_place": "Milano",
            "codice_fiscale": other.codice_fiscale,
            "citizenship": "italian",
            "residence_street": "Via Rizzoli 1",
            "email": "segretario@example.org",
            "phone": "",
            "circolo": tree.bologna_centro.pk,
            "member_of_other_party": "no",
            "declarations_accepted": "on",
            "art9_authorised": "on",
            "method": "pos",
            "reference": "123",
            **shown("desk"),
        },
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "altro territorio" in body and "responsabili del suo territorio" in body
    assert "Via Padova" not in body and "gabriele@example.org" not in body
    # Nothing attached to the person, nothing written into their record (field by field).
    assert not Membership.objects.filter(person=other).exists()
    assert _snapshot(other) == before
    request = ScopeRequest.objects.get()
    assert (request.person_id, request.territory_id, request.from_territory_id, request.kind) == (
        other.pk,
        other.territory_id,
        tree.bologna_centro.pk,
        ScopeRequestKind.MEMBERSHIP,
    )
    assert request.data["emails"] == "segretario@example.org"
    assert AuditEntry.objects.filter(action="people.request_other_territory").exists()
    assert AuditEntry.objects.filter(action="membership.apply", data__code="other_territory").exists()


@freeze_time(NOW)
def test_certified_roll_lookup_outside_scope_names_nobody(tree, secretary, commission, schedule):
    """The finding as seen: with a certified roll the answer was "Agostini Gabriele non è
    nell'anagrafe certificata…" for a person of another federation."""
    from piazza.membership.actions import card as card_actions
    from piazza.membership.actions import roll as roll_actions
    from piazza.membership.models import Delivery

    cut_off = NOW.replace(tzinfo=dt.UTC)
    member = paid(tree, paid_at=cut_off - dt.timedelta(days=2))
    card_actions.deliver_card(
        actor=secretary, membership=member, delivery=Delivery.CIRCOLO, now=cut_off - dt.timedelta(days=1)
    )
    other = _agostini()
    congress = roll_actions.create_congress(
        actor=secretary,
        territory=tree.bologna_centro,
        name="Congresso di circolo",
        cut_off=cut_off,
        membership_years=[YEAR],
    )
    roll = roll_actions.sign_off_roll(
        actor=secretary, roll=roll_actions.compute_roll(actor=secretary, congress=congress, circolo=tree.bologna_centro)
    )
    roll_actions.record_roll_vote(
        actor=commission, roll=roll, members_total=3, votes_for=3, votes_against=0, abstentions=0
    )
    client = verified_client(secretary)
    url = reverse("membership:congress", args=[congress.pk])
    unknown = "RSSMRA80A01A944X"
    outside = client.get(url, {"codice_fiscale": other.codice_fiscale, "circolo": tree.bologna_centro.pk})
    missing = client.get(url, {"codice_fiscale": unknown, "circolo": tree.bologna_centro.pk})
    assert "Agostini" not in outside.content.decode()
    assert _page(outside, other.codice_fiscale) == _page(missing, unknown)
    # A member on the roll is still answered, with the card number.
    mine = client.get(url, {"codice_fiscale": member.person.codice_fiscale, "circolo": tree.bologna_centro.pk})
    assert member.card_number in mine.content.decode()
