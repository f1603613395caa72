"""Refusals decided inside the people app's transactions keep their audit entry (issue 11, item 23)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from piazza.core.models import AuditEntry, AuditKind
from piazza.people.actions import person as person_actions
from piazza.people.models import Person
from piazza.territory.models import Role
from piazza.territory.testing import make_official


def test_creating_a_person_out_of_scope_is_refused_and_the_entry_survives(tree, mario_data):
    """find_or_create_person checks the scope inside its block (no strong match → create):
    an official of Modena cannot create a person of Bologna, and the refusal stays in the log."""
    modena = make_official("segretario.modena", tree.modena, [Role.MEMBERSHIP])
    with pytest.raises(PermissionDenied, match="fuori dal tuo territorio"):
        person_actions.find_or_create_person(actor=modena, data=mario_data, circolo=tree.bologna_centro)
    assert not Person.objects.exists()
    denied = AuditEntry.objects.filter(kind=AuditKind.DENIED, action="people.create_person", actor=modena)
    assert [e.data["code"] for e in denied] == ["out_of_scope"]
