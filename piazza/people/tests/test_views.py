"""Back-office pages: scope (404 outside the subtree, in lists, counts, segments, exports), VIEW
audit entries, and the import wizard end to end."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.people.actions import exports as exports_actions
from piazza.people.actions import person as person_actions
from piazza.people.models import Segment
from piazza.people.tests.test_import_export import MESSY
from piazza.territory.testing import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_people(tree, mario_data):
    inside = person_actions.create_person(actor=None, data=mario_data, circolo=tree.bologna_centro)
    outside = person_actions.create_person(
        actor=None, data={"first_name": "Mario", "last_name": "Verdi"}, circolo=tree.modena_nord
    )
    return inside, outside


def test_scope_everywhere(tree, circolo_secretary, two_people):
    inside, outside = two_people
    client = verified_client(circolo_secretary)
    listing = client.get(reverse("people:list"), {"q": "mario"}).content.decode()
    assert "Rossi" in listing and "Verdi" not in listing
    assert client.get(reverse("people:detail", args=[outside.pk])).status_code == 404
    assert client.get(reverse("people:edit", args=[outside.pk])).status_code == 404
    assert client.get(reverse("people:detail", args=[inside.pk])).status_code == 200
    entry = AuditEntry.objects.get(action="people.view_person")
    assert entry.kind == AuditKind.VIEW and entry.object_id == str(inside.pk)
    client.post(reverse("people:segment_save") + "?q=mario", {"name": "Tutti i Mario"})
    segment = Segment.objects.get()
    assert client.get(reverse("people:segment_count", args=[segment.pk])).content == b"1"
    response = client.post(
        reverse("people:export") + "?q=mario", {"purpose": "Telefonate per la festa", "file_format": "csv"}
    )
    body = response.content.decode("utf-8-sig")
    assert "Rossi" in body and "Verdi" not in body


def test_unverified_or_unrelated_users_see_nothing(client, tree, circolo_secretary, two_people):
    client.force_login(circolo_secretary)  # no 2FA step
    response = client.get(reverse("people:list"))
    assert response.status_code == 302 and "Rossi" not in response.content.decode()


def test_create_form_shows_field_errors(tree, circolo_secretary):
    client = verified_client(circolo_secretary)
    response = client.post(
        reverse("people:create"),
        {"first_name": "Mario", "last_name": "Rossi", "emails": "non-una-mail", "circolo": tree.bologna_centro.pk},
    )
    assert response.status_code == 200
    assert "non è valido" in response.content.decode()


def test_import_wizard(tree, circolo_secretary, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = verified_client(circolo_secretary)
    upload = SimpleUploadedFile("soci.csv", MESSY.encode("cp1252"), content_type="text/csv")
    response = client.post(reverse("people:import_upload"), {"file": upload, "territory": tree.bologna_centro.pk})
    assert response.status_code == 302
    map_url = response["Location"]
    page = client.get(map_url).content.decode()
    assert "Colonna «Cognome»" in page
    form = {
        f"col_{i}": v
        for i, v in enumerate(
            ["last_name", "first_name", "codice_fiscale", "birth_date", "residence_comune", "emails", "phones"]
        )
    }
    response = client.post(map_url, {**form, "save_as": "Foglio del circolo"})
    target_url = response["Location"]
    assert "Solo persone" in client.get(target_url).content.decode()
    response = client.post(target_url, {"target": ""})
    preview_url = response["Location"]
    assert "lucia@@example" in client.get(preview_url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(preview_url)
    progress = client.get(response["Location"], follow=True)
    text = progress.content.decode()
    assert "Rapporto di importazione" in text and "Creata: <strong>2</strong>" in text
    assert "colonne invece di 7" in text


def test_dashboard_section_counts_only_the_scope(tree, circolo_secretary, two_people):
    page = verified_client(circolo_secretary).get(reverse("web:dashboard")).content.decode()
    assert "1 persona nel tuo territorio" in page


@pytest.mark.postgres
def test_trigram_name_search_tolerates_typos(tree, national_admin, two_people):
    from piazza.people.queries import people_for

    found = people_for(national_admin, {"q": "Rosi Maro"})
    assert [p.last_name for p in found] == ["Rossi"]


def test_edit_form_sets_domicile_tags_voting_circolo_and_citizenship(tree, circolo_secretary, two_people):
    inside, _outside = two_people
    person_actions.set_tags(actor=None, person=inside, names=["volontario", "festa"])
    client = verified_client(circolo_secretary)
    url = reverse("people:edit", args=[inside.pk])
    page = client.get(url).content.decode()
    assert "festa, volontario" in page and "Circolo di voto" in page and "Comune di domicilio" in page
    response = client.post(
        url,
        {
            "first_name": "Mario",
            "last_name": "Rossi",
            "sex": "M",
            "birth_date": "12/03/1985",
            "birth_comune": "Bologna",
            "codice_fiscale": inside.codice_fiscale,
            "residence_comune": "037006",
            "domicile_street": "Via Saragozza 10",
            "domicile_cap": "40123",
            "domicile_comune": "Bologna",
            "citizenship": "eu",
            "tags": "volontario, banchetti",
            "circolo": tree.bologna_centro.pk,
            "voting_circolo": tree.bologna_centro.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()
    inside.refresh_from_db()
    assert inside.domicile_street == "Via Saragozza 10" and inside.domicile_comune.name == "Bologna"
    assert inside.citizenship == "eu" and inside.voting_circolo == tree.bologna_centro
    assert sorted(inside.tags.values_list("name", flat=True)) == ["banchetti", "volontario"]
    kinds = set(inside.timeline.values_list("kind", flat=True))
    assert {"updated", "tags"} <= kinds


def test_edit_form_refuses_an_unknown_domicile_comune(tree, circolo_secretary, two_people):
    inside, _outside = two_people
    response = verified_client(circolo_secretary).post(
        reverse("people:edit", args=[inside.pk]),
        {"first_name": "Mario", "last_name": "Rossi", "citizenship": "italian", "domicile_comune": "Atlantide"},
    )
    assert response.status_code == 200
    assert "Atlantide" in response.content.decode()
    # A voting circolo outside the official's subtree is not offered, hence refused.
    response = verified_client(circolo_secretary).post(
        reverse("people:edit", args=[inside.pk]),
        {"first_name": "Mario", "last_name": "Rossi", "citizenship": "italian", "voting_circolo": tree.modena_nord.pk},
    )
    assert response.status_code == 200 and 'name="voting_circolo" aria-invalid="true"' in response.content.decode()
    inside.refresh_from_db()
    assert inside.domicile_comune is None


def test_export_lets_an_official_with_several_nodes_choose_one(tree, mario_data):
    from piazza.territory.models import Role
    from piazza.territory.testing import make_official

    official = make_official("doppio", tree.bologna_centro, [Role.ORGANISATION])
    official.role_assignments.create(territory=tree.bologna_navile, role=Role.ORGANISATION)
    person_actions.create_person(actor=None, data=mario_data, circolo=tree.bologna_centro)
    person_actions.create_person(
        actor=None, data={"first_name": "Anna", "last_name": "Neri"}, circolo=tree.bologna_navile
    )
    client = verified_client(official)
    page = client.get(reverse("people:export")).content.decode()
    assert "Esporta per l&#x27;ambito" in page and "Circolo PD Bologna Navile" in page
    response = client.post(
        reverse("people:export"),
        {"scope": tree.bologna_navile.pk, "purpose": "Inviti alla festa di Navile", "file_format": "csv"},
    )
    body = response.content.decode("utf-8-sig")
    assert "Neri" in body and "Rossi" not in body
    entry = AuditEntry.objects.get(action="people.export_people", kind=AuditKind.EXPORT)
    assert entry.territory_id == tree.bologna_navile.pk and entry.data["rows"] == 1
    # A node outside the official's scope is not offered, and the action refuses it too.
    response = client.post(
        reverse("people:export"),
        {"scope": tree.modena_nord.pk, "purpose": "Inviti alla festa di Modena", "file_format": "csv"},
    )
    assert response.status_code == 200 and 'name="scope" aria-invalid="true"' in response.content.decode()
    with pytest.raises(ValidationError):
        exports_actions.export_people(
            actor=official, definition={}, purpose="Inviti alla festa di Modena", scope=tree.modena_nord
        )
