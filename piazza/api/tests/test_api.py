"""Issue 16: OSDI resources read within the key's scope (convention 11), pagination, rate limits,
the person signup helper going through the people actions (dedupe, consents G3, audit G4)."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from piazza.api.models import Permission
from piazza.core.models import AuditEntry, AuditKind
from piazza.people.actions.notices import ensure_default_notices
from piazza.people.models import Consent, Person, Purpose, Segment, Tag
from piazza.territory.models import Role, RoleAssignment
from piazza.territory.testing import make_official

from .conftest import make_person, osdi

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(tree):
    return {
        "centro": make_person(tree.bologna_centro, "Anna", "Rossi", "anna@example.org"),
        "navile": make_person(tree.bologna_navile, "Bruno", "Bianchi", "bruno@example.org"),
        "modena": make_person(tree.modena_nord, "Carla", "Verdi", "carla@example.org"),
    }


def _ids(body, key="osdi:people"):
    return {i for item in body["_embedded"][key] for i in item["identifiers"]}


def test_a_circolo_key_lists_only_its_circolo(tree, circolo_secretary, make_key, people):
    _, token = make_key(circolo_secretary, tree.bologna_centro)
    body = osdi(Client(), token, "/people").json()
    assert _ids(body) == {f"piazza:person-{people['centro'].pk}"}
    person = body["_embedded"]["osdi:people"][0]
    assert person["given_name"] == "Anna" and person["email_addresses"][0]["address"] == "anna@example.org"
    assert person["_links"]["self"]["href"].endswith(f"/api/v1/people/{people['centro'].pk}")
    assert osdi(Client(), token, f"/people/{people['navile'].pk}").status_code == 404
    assert osdi(Client(), token, f"/people/piazza:person-{people['modena'].pk}").status_code == 404
    assert osdi(Client(), token, f"/people/piazza:person-{people['centro'].pk}").status_code == 200


def test_a_key_sees_its_owners_role_cut_down_to_its_node(tree, national_admin, make_key, people):
    """A national administrator's key bound to a federation sees that federation, nothing above."""
    _, token = make_key(national_admin, tree.bologna)
    assert _ids(osdi(Client(), token, "/people").json()) == {
        f"piazza:person-{people['centro'].pk}",
        f"piazza:person-{people['navile'].pk}",
    }
    assert osdi(Client(), token, f"/people/{people['modena'].pk}").status_code == 404


def test_a_key_loses_what_its_owner_loses(tree, circolo_secretary, make_key, people):
    _, token = make_key(circolo_secretary, tree.bologna_centro)
    RoleAssignment.objects.filter(user=circolo_secretary).update(revoked_at=timezone.now())
    assert osdi(Client(), token, f"/people/{people['centro'].pk}").status_code == 404
    assert osdi(Client(), token, "/people").json()["total_records"] == 0


def test_osdi_pagination(tree, circolo_secretary, make_key):
    for n in range(5):
        make_person(tree.bologna_centro, f"Nome{n}", "Uguale")
    _, token = make_key(circolo_secretary, tree.bologna_centro)
    first = osdi(Client(), token, "/people?per_page=2").json()
    assert (first["total_records"], first["total_pages"], first["page"], first["per_page"]) == (5, 3, 1, 2)
    assert "prev" not in first["_links"] and first["_links"]["next"]["href"].endswith("page=2&per_page=2")
    last = osdi(Client(), token, "/people?page=3&per_page=2").json()
    assert len(last["_embedded"]["osdi:people"]) == 1 and "next" not in last["_links"]
    assert last["_links"]["prev"]["href"].endswith("page=2&per_page=2")
    too_many = osdi(Client(), token, "/people?per_page=1000")
    assert too_many.status_code == 422 and "per_page" in " ".join(too_many.json()["detail"])


def test_bearer_header_and_hal_content_type(tree, circolo_secretary, make_key):
    _, token = make_key(circolo_secretary, tree.bologna_centro)
    response = Client().get("/api/v1/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/hal+json")
    assert "osdi:people" in response.json()["_links"] and "osdi:donations" not in response.json()["_links"]


def test_a_permission_the_key_lacks_is_refused_and_audited(tree, circolo_secretary, make_key):
    _, token = make_key(circolo_secretary, tree.bologna_centro, [Permission.READ_PEOPLE])
    response = osdi(Client(), token, "/donations")
    assert response.status_code == 403
    assert "permesso" in response.json()["error"]
    assert AuditEntry.objects.filter(kind=AuditKind.DENIED, actor=circolo_secretary).exists()


@override_settings(API_RATE_PER_MINUTE=2)
def test_rate_limit_per_key_with_headers_and_a_clear_429(tree, circolo_secretary, make_key):
    _, token = make_key(circolo_secretary, tree.bologna_centro)
    _, other = make_key(circolo_secretary, tree.bologna_centro)
    first = osdi(Client(), token, "/people")
    assert (first["RateLimit-Limit"], first["RateLimit-Remaining"]) == ("2", "1")
    assert 0 < int(first["RateLimit-Reset"]) <= 60
    osdi(Client(), token, "/people")
    refused = osdi(Client(), token, "/people")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0 and "riprova" in refused.json()["error"]
    assert osdi(Client(), other, "/people").status_code == 200  # per key, not global


def test_tags_taggings_and_lists(tree, circolo_secretary, make_key, people):
    tag = Tag.objects.create(name="volontari")
    people["centro"].tags.add(tag)
    people["navile"].tags.add(tag)
    segment = Segment.objects.create(
        name="Volontari", territory=tree.bologna_centro, definition={"tags": ["volontari"]}
    )
    Segment.objects.create(name="Altrove", territory=tree.bologna_navile, definition={})
    _, token = make_key(circolo_secretary, tree.bologna_centro)
    taggings = osdi(Client(), token, f"/tags/{tag.pk}/taggings").json()
    assert _ids(taggings, "osdi:taggings") == {f"piazza:person-{people['centro'].pk}"}
    lists = osdi(Client(), token, "/lists").json()
    assert [item["name"] for item in lists["_embedded"]["osdi:lists"]] == ["Volontari"]
    items = osdi(Client(), token, f"/lists/{segment.pk}/items").json()
    assert _ids(items, "osdi:items") == {f"piazza:person-{people['centro'].pk}"}
    mine = osdi(Client(), token, f"/people/{people['centro'].pk}/taggings").json()
    assert mine["total_records"] == 1


def _signup(token, body):
    return Client().post(
        "/api/v1/people/person_signup_helper", body, content_type="application/json", HTTP_OSDI_API_TOKEN=token
    )


def test_signup_helper_creates_then_finds_the_same_person(tree, circolo_secretary, make_key):
    ensure_default_notices()
    _, token = make_key(circolo_secretary, tree.bologna_centro, [Permission.READ_PEOPLE, Permission.WRITE_PEOPLE])
    body = {
        "person": {
            "given_name": "Dario",
            "family_name": "Neri",
            "email_addresses": [{"address": "Dario.Neri@Example.org"}],
            "phone_numbers": [{"number": "+39 333 1234567"}],
        },
        "add_tags": ["sito"],
        "piazza:consents": {"political_communication": True},
    }
    created = _signup(token, body)
    assert created.status_code == 200, created.content
    person = Person.objects.get(last_name="Neri")
    assert created.json()["identifiers"] == [f"piazza:person-{person.pk}"]
    assert person.territory == tree.bologna_centro and person.source == "api"
    assert list(person.emails.values_list("value", flat=True)) == ["dario.neri@example.org"]
    assert list(person.tags.values_list("name", flat=True)) == ["sito"]
    consent = Consent.objects.get(person=person, purpose=Purpose.POLITICAL_COMMUNICATION)
    assert consent.granted and consent.text_version.startswith("signup")
    assert created.json()["email_addresses"][0]["status"] == "subscribed"
    again = _signup(
        token,
        {
            "person": {
                "given_name": "Dario",
                "family_name": "Neri",
                "email_addresses": [{"address": "dario.neri@example.org"}],
            }
        },
    )
    assert again.status_code == 200 and Person.objects.filter(last_name="Neri").count() == 1
    assert AuditEntry.objects.filter(action="api.person_signup_helper", object_id=str(person.pk)).count() == 2


def test_signup_helper_bad_input_gets_a_specific_message(tree, circolo_secretary, make_key):
    _, token = make_key(circolo_secretary, tree.bologna_centro, [Permission.READ_PEOPLE, Permission.WRITE_PEOPLE])
    bad_email = _signup(
        token,
        {"person": {"given_name": "Ezio", "family_name": "Blu", "email_addresses": [{"address": "non-una-email"}]}},
    )
    assert bad_email.status_code == 422 and "non-una-email" in " ".join(bad_email.json()["detail"])
    missing = _signup(token, {"person": {"given_name": "Ezio"}})
    assert missing.status_code == 422 and "family_name" in " ".join(missing.json()["detail"])
    elsewhere = _signup(
        token,
        {
            "person": {"given_name": "Ezio", "family_name": "Blu"},
            "piazza:circolo": f"piazza:circolo-{tree.bologna_navile.pk}",
        },
    )
    assert elsewhere.status_code == 422 and "fuori dal territorio" in elsewhere.json()["detail"][0]
    purpose = _signup(
        token, {"person": {"given_name": "Ezio", "family_name": "Blu"}, "piazza:consents": {"spam": True}}
    )
    assert purpose.status_code == 422 and "spam" in purpose.json()["detail"][0]
    assert not Person.objects.filter(last_name="Blu").exists()


def test_signup_helper_needs_the_write_permission(tree, circolo_secretary, make_key):
    _, token = make_key(circolo_secretary, tree.bologna_centro, [Permission.READ_PEOPLE])
    response = _signup(token, {"person": {"given_name": "Ezio", "family_name": "Blu"}})
    assert response.status_code == 403 and not Person.objects.filter(last_name="Blu").exists()


def test_signup_helper_never_reveals_a_person_of_another_territory(tree, make_key, people):
    official = make_official("navile.org", tree.bologna_navile, [Role.ORGANISATION])
    _, token = make_key(official, tree.bologna_navile, [Permission.READ_PEOPLE, Permission.WRITE_PEOPLE])
    response = _signup(
        token,
        {
            "person": {
                "given_name": "Carla",
                "family_name": "Verdi",
                "email_addresses": [{"address": "carla@example.org"}],
            }
        },
    )
    assert response.status_code in {200, 403}
    assert "Verdi" not in response.content.decode()
    assert people["modena"].emails.count() == 1


def test_schema_and_docs_are_served_at_stable_urls():
    schema = Client().get("/api/v1/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    assert "/api/v1/people/person_signup_helper" in schema.json()["paths"]
    docs = Client().get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
