"""The back-office dashboard: counts of the official's subtree and readable recent activity."""

import pytest
from django.urls import reverse

from piazza.core.audit import record
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


def test_dashboard_counts_the_subtree_and_groups_repeated_activity(tree):
    official = make_official("org.bologna", tree.bologna, [Role.ORGANISATION])
    for _ in range(3):
        record("people.create_person", actor=official, territory=tree.bologna_centro)
    record("territory.create", actor=official, territory=tree.modena_nord)  # outside the scope
    body = verified_client(official).get(reverse("web:dashboard")).content.decode()
    assert "<h1>Federazione metropolitana di Bologna</h1>" in body
    assert "Circoli" in body
    assert '<span title="people.create_person">Persona aggiunta</span> × 3' in body
    assert "territory.create" not in body and "Struttura creata" not in body
