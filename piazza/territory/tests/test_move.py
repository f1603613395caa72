"""Moving a node rewrites the paths of its whole subtree, with an audit entry; the Django admin
cannot change a node's parent or path (issue 10, finding 14)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from piazza.core.models import AuditEntry
from piazza.territory import actions
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import forget_scope, has_role_at
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def organiser(tree):
    return make_official("org.emilia", tree.emilia, [Role.ORGANISATION])


def test_moving_a_circolo_moves_its_officials_scope_with_an_audit_entry(tree, organiser):
    bologna_official = make_official("org.bologna", tree.bologna, [Role.ORGANISATION])
    modena_official = make_official("org.modena", tree.modena, [Role.ORGANISATION])
    circolo = tree.online
    assert has_role_at(bologna_official, circolo, {Role.ORGANISATION})
    assert not has_role_at(modena_official, circolo, {Role.ORGANISATION})
    old_path = circolo.path
    moved = actions.move_territory(actor=organiser, node=circolo, new_parent=tree.modena)
    assert moved.parent_id == tree.modena.pk
    assert moved.path == f"{tree.modena.path}{circolo.pk}/" and moved.depth == tree.modena.depth + 1
    for user in (bologna_official, modena_official):
        forget_scope(user)
    assert has_role_at(modena_official, moved, {Role.ORGANISATION})
    assert not has_role_at(bologna_official, moved, {Role.ORGANISATION})
    entry = AuditEntry.objects.get(action="territory.move")
    assert entry.data["old_path"] == old_path and entry.data["new_path"] == moved.path
    assert entry.data["to_parent"] == tree.modena.pk


def test_moving_a_federation_rewrites_the_whole_subtree(tree):
    admin = make_official("admin.naz", tree.national, [Role.ADMINISTRATOR])
    subtree = list(Territory.objects.filter(path__startswith=tree.bologna.path).values_list("pk", flat=True))
    assert len(subtree) > 3
    actions.move_territory(actor=admin, node=tree.bologna, new_parent=tree.lombardia)
    for node in Territory.objects.filter(pk__in=subtree):
        assert node.path.startswith(f"{tree.lombardia.path}{tree.bologna.pk}/"), node
        assert node.depth == node.path.count("/") - 2
        assert node.parent is None or node.path == f"{node.parent.path}{node.pk}/"
    assert AuditEntry.objects.get(action="territory.move").data["nodes_moved"] == len(subtree)


def test_bad_moves_are_refused_and_change_nothing(tree, organiser):
    before = dict(Territory.objects.values_list("pk", "path"))
    with pytest.raises(ValidationError, match="comuni della propria federazione"):
        actions.move_territory(actor=organiser, node=tree.bologna_centro, new_parent=tree.modena)
    with pytest.raises(ValidationError, match="non può stare sotto"):
        actions.move_territory(actor=organiser, node=tree.bologna_centro, new_parent=tree.emilia)
    admin = make_official("admin.naz", tree.national, [Role.ADMINISTRATOR])
    with pytest.raises(ValidationError, match="dentro sé stesso"):
        actions.move_territory(actor=admin, node=tree.emilia, new_parent=tree.bologna)
    with pytest.raises(PermissionDenied):  # must manage the destination too
        actions.move_territory(actor=organiser, node=tree.bologna, new_parent=tree.lombardia)
    assert dict(Territory.objects.values_list("pk", "path")) == before
    assert not AuditEntry.objects.filter(action="territory.move", kind="write").exists()


def test_admin_change_form_cannot_change_parent_or_path(tree, national_admin):
    client = verified_client(national_admin)
    circolo = tree.online
    before = (circolo.parent_id, circolo.path, circolo.name)
    url = reverse("admin:territory_territory_change", args=[circolo.pk])
    assert client.get(url).status_code == 200  # still opens, read-only
    response = client.post(
        url,
        {
            "name": "Spostato",
            "level": circolo.level,
            "kind": circolo.kind,
            "parent": tree.modena.pk,
            "path": "/x/",
            "code": "",
        },
    )
    assert response.status_code == 403
    circolo.refresh_from_db()
    assert (circolo.parent_id, circolo.path, circolo.name) == before
    assert (
        client.post(
            reverse("admin:territory_territory_add"),
            {"name": "Nuovo", "level": "circolo", "kind": "online", "parent": tree.bologna.pk},
        ).status_code
        == 403
    )
