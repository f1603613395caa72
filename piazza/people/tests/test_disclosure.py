"""Issue 10, finding 6 (rule G1, convention 11): creating a person with the codice fiscale of
someone of another federation must not name that record ("scheda n. 406") nor touch it; what
the official typed becomes a request that the person's own officials see and close."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.people.actions import person as person_actions
from piazza.people.codice_fiscale import make_codice_fiscale
from piazza.people.models import Person, ScopeRequest, ScopeRequestKind, ScopeRequestStatus
from piazza.territory.models import Comune, Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


def _milanese() -> Person:
    milano = Comune.objects.get(istat_code="015146")
    code = make_codice_fiscale(
        first_name="Gabriele", last_name="Agostini", sex="M", birth_date=dt.date(1975, 5, 4), belfiore=milano.belfiore
    )
    return person_actions.create_person(
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
            "notes": "nota riservata",
        },
    )


def _snapshot(person: Person) -> dict[str, Any]:
    person = Person.objects.get(pk=person.pk)
    return {
        **{f.attname: getattr(person, f.attname) for f in Person._meta.concrete_fields},
        "emails": sorted(person.emails.values_list("value", "primary")),
        "phones": sorted(person.phones.values_list("value", "primary")),
        "tags": sorted(person.tags.values_list("name", flat=True)),
        "timeline": list(person.timeline.values_list("pk", flat=True)),
    }


def test_creating_a_person_with_a_code_of_another_federation_names_nothing_and_asks_them(tree, circolo_secretary):
    other = _milanese()
    before = _snapshot(other)
    people = Person.objects.count()
    client = verified_client(circolo_secretary)
    response = client.post(
        reverse("people:create"),
        {
            "first_name": "Gabriele",
            "last_name": "Agostini",
            "codice_fiscale": other.codice_fiscale,
            "emails": "nuovo@example.org",
            "circolo": tree.bologna_centro.pk,
        },
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "altro territorio" in body and "responsabili del suo territorio" in body
    assert "scheda n." not in body and f"n. {other.pk}" not in body and "Via Padova" not in body
    assert Person.objects.count() == people and _snapshot(other) == before
    request = ScopeRequest.objects.get()
    assert (request.person_id, request.territory_id, request.from_territory_id, request.kind) == (
        other.pk,
        other.territory_id,
        tree.bologna_centro.pk,
        ScopeRequestKind.CREATE,
    )
    assert request.data["emails"] == "nuovo@example.org"
    assert AuditEntry.objects.filter(
        action="people.create_person", kind=AuditKind.DENIED, data__code="other_territory"
    ).exists()

    # The secretary's own list does not show it; the Milano officials see it and close it.
    assert "Agostini" not in client.get(reverse("people:requests")).content.decode()
    milano = make_official("organizzazione.mi", tree.milano, [Role.ORGANISATION])
    theirs = verified_client(milano)
    page = theirs.get(reverse("people:requests")).content.decode()
    assert "Agostini" in page and "Circolo PD Bologna Centro" in page and "nuovo@example.org" in page
    assert AuditEntry.objects.filter(action="people.view_requests", kind=AuditKind.VIEW).exists()
    assert (
        client.post(reverse("people:request_close", args=[request.pk]), {"outcome": "done", "note": "x"}).status_code
        == 404
    )
    theirs.post(
        reverse("people:request_close", args=[request.pk]),
        {"outcome": "done", "note": "Sentita la persona: resta a Milano."},
    )
    request.refresh_from_db()
    assert request.status == ScopeRequestStatus.DONE and request.decided_by == milano
    assert AuditEntry.objects.filter(action="people.close_request").exists()


def test_in_scope_the_duplicate_code_still_points_to_the_record(tree, circolo_secretary):
    mine = person_actions.create_person(
        actor=circolo_secretary,
        circolo=tree.bologna_centro,
        data={
            "first_name": "Lucia",
            "last_name": "Bianchi",
            "codice_fiscale": make_codice_fiscale(
                first_name="Lucia", last_name="Bianchi", sex="F", birth_date=dt.date(1990, 1, 2), belfiore="A944"
            ),
        },
    )
    response = verified_client(circolo_secretary).post(
        reverse("people:create"),
        {
            "first_name": "Lucia",
            "last_name": "Bianchi",
            "codice_fiscale": mine.codice_fiscale,
            "circolo": tree.bologna_centro.pk,
        },
    )
    assert f"scheda n. {mine.pk}" in response.content.decode()
    assert not ScopeRequest.objects.exists()


def test_updating_a_record_with_a_code_of_another_federation_names_nothing(tree, circolo_secretary):
    other = _milanese()
    before = _snapshot(other)
    mine = person_actions.create_person(
        actor=circolo_secretary, circolo=tree.bologna_centro, data={"first_name": "Gabriele", "last_name": "Agostini"}
    )
    with pytest.raises(Exception) as err:
        person_actions.update_person(
            actor=circolo_secretary, person=mine, data={"codice_fiscale": other.codice_fiscale}
        )
    assert "altro territorio" in str(err.value) and f"n. {other.pk}" not in str(err.value)
    assert _snapshot(other) == before
    assert ScopeRequest.objects.get().kind == ScopeRequestKind.UPDATE
