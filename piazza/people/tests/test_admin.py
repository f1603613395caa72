"""The admin of the people database: national administrators only, read-only, every opened
record audited (rule G4)."""

import pytest
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.people.actions import person as person_actions
from piazza.territory.testing import verified_client

pytestmark = pytest.mark.django_db


def test_national_admin_opens_a_person_read_only_and_is_audited(tree, national_admin, mario_data):
    person = person_actions.create_person(actor=None, data=mario_data, circolo=tree.bologna_centro)
    client = verified_client(national_admin)
    listing = client.get(reverse("admin:people_person_changelist"))
    assert listing.status_code == 200 and "Rossi" in listing.content.decode()
    response = client.get(reverse("admin:people_person_change", args=[person.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "mario.rossi@example.org" in page  # the emails inline
    entry = AuditEntry.objects.get(action="admin.view", object_id=str(person.pk))
    assert entry.kind == AuditKind.VIEW and entry.actor_id == national_admin.pk
    assert client.get(reverse("admin:people_person_add")).status_code == 403
    assert client.post(reverse("admin:people_person_delete", args=[person.pk]), {"post": "yes"}).status_code == 403
    person.refresh_from_db()  # still there


@pytest.mark.parametrize("model", ["person", "duplicatecandidate", "importbatch", "segment", "tag"])
def test_officials_below_national_cannot_enter(tree, circolo_secretary, model):
    client = verified_client(circolo_secretary)
    response = client.get(reverse(f"admin:people_{model}_changelist"))
    assert response.status_code == 302 and "Rossi" not in response.content.decode()
