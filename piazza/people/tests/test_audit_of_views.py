"""Issue 10, finding 10 (rule G4): every page of the people database that shows personal data
writes one audit entry of kind VIEW, with the search or filter and the ids shown, never the
data itself; the rejected rows download is an EXPORT."""

import pytest
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.people.actions import imports as imports_actions
from piazza.people.actions import person as person_actions
from piazza.people.models import DuplicateCandidate
from piazza.people.tests.test_import_export import MESSY, _run
from piazza.territory.testing import verified_client

pytestmark = pytest.mark.django_db


def _views(action):
    return list(AuditEntry.objects.filter(action=action, kind=AuditKind.VIEW))


def test_the_list_and_its_search_are_audited_with_the_query_and_the_ids(tree, circolo_secretary, mario_data):
    person = person_actions.create_person(actor=None, data=mario_data, circolo=tree.bologna_centro)
    client = verified_client(circolo_secretary)
    assert "Rossi" in client.get(reverse("people:list"), {"q": "rossi"}).content.decode()
    [entry] = _views("people.view_list")
    assert entry.actor_id == circolo_secretary.pk
    assert entry.data["query"] == {"q": ["rossi"]} and entry.data["ids"] == [str(person.pk)]
    assert "Mario" not in str(entry.data)  # what was found is not copied into the log


def test_the_edit_page_is_audited(tree, circolo_secretary, mario_data):
    person = person_actions.create_person(actor=None, data=mario_data, circolo=tree.bologna_centro)
    response = verified_client(circolo_secretary).get(reverse("people:edit", args=[person.pk]))
    assert response.status_code == 200 and "Rossi" in response.content.decode()
    [entry] = _views("people.view_person_form")
    assert entry.object_id == str(person.pk) and entry.territory_id == tree.bologna_centro.pk


def test_a_refused_page_writes_no_view_entry(tree, circolo_secretary):
    outside = person_actions.create_person(
        actor=None, data={"first_name": "Anna", "last_name": "Verdi"}, circolo=tree.modena_nord
    )
    assert verified_client(circolo_secretary).get(reverse("people:edit", args=[outside.pk])).status_code == 404
    assert _views("people.view_person_form") == []


def test_the_duplicates_queue_and_review_are_audited(tree, circolo_secretary, mario_data):
    a = person_actions.create_person(actor=None, data=mario_data, circolo=tree.bologna_centro)
    b = person_actions.create_person(
        actor=None, data={"first_name": "Mario", "last_name": "Rossi"}, circolo=tree.bologna_centro
    )
    candidate = DuplicateCandidate.objects.create(person_a=a, person_b=b, score=80, reasons=["nome"])
    client = verified_client(circolo_secretary)
    assert client.get(reverse("people:duplicates")).status_code == 200
    [entry] = _views("people.view_duplicates")
    assert entry.data["ids"] == [str(candidate.pk)] and entry.data["people"] == sorted([a.pk, b.pk])
    assert client.get(reverse("people:duplicate_review", args=[candidate.pk])).status_code == 200
    [entry] = _views("people.view_duplicate")
    assert entry.object_id == str(candidate.pk) and entry.data["people"] == [a.pk, b.pk]


def test_the_import_preview_report_and_rejected_rows_are_audited(
    tree, circolo_secretary, django_capture_on_commit_callbacks
):
    batch = imports_actions.start_import(
        actor=circolo_secretary, territory=tree.bologna_centro, file_name="iscritti.csv", content=MESSY.encode()
    )
    imports_actions.set_import_mapping(actor=circolo_secretary, batch=batch, mapping=batch.mapping)
    client = verified_client(circolo_secretary)
    assert client.get(reverse("people:import_preview", args=[batch.pk])).status_code == 200
    [entry] = _views("people.view_import_preview")
    assert entry.object_id == str(batch.pk) and entry.data["rows"] == [2, 3, 4, 5, 6, 7]
    with django_capture_on_commit_callbacks(execute=True):
        batch = _run(circolo_secretary, tree.bologna_centro, MESSY.encode(), name="di-nuovo.csv")
    assert client.get(reverse("people:import_report", args=[batch.pk])).status_code == 200
    [entry] = _views("people.view_import_report")
    assert entry.object_id == str(batch.pk) and entry.data["rows"] == [3, 4, 5, 6]
    response = client.get(reverse("people:import_rejected", args=[batch.pk]))
    assert response.status_code == 200 and "lucia@@example" in response.content.decode("utf-8-sig")
    entry = AuditEntry.objects.get(action="people.export_rejected_rows")
    assert entry.kind == AuditKind.EXPORT and entry.data["rows"] == 4 and entry.object_id == str(batch.pk)


def test_the_admin_person_list_is_audited_with_its_search(tree, national_admin, mario_data):
    person = person_actions.create_person(actor=None, data=mario_data, circolo=tree.bologna_centro)
    client = verified_client(national_admin)
    assert client.get(reverse("admin:people_person_changelist"), {"q": str(person.pk)}).status_code == 200
    [entry] = _views("admin.view_list")
    assert entry.data["model"] == "people.person" and entry.data["query"] == {"q": str(person.pk)}
    assert entry.data["ids"] == [str(person.pk)] and entry.actor_id == national_admin.pk
