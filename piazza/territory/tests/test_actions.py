"""Managing the tree and roles: scoped, audited, and bad input refused with nothing half-saved."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.territory import actions
from piazza.territory.models import Kind, Role, RoleAssignment, Territory
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def federation_org(tree):
    return make_official("org.bologna", tree.bologna, [Role.ORGANISATION])


def test_federation_official_creates_a_circolo_with_its_area(tree, federation_org):
    circolo = actions.create_territory(
        actor=federation_org,
        parent=tree.bologna,
        name="Circolo PD Imola",
        kind=Kind.TERRITORIAL,
        comuni_codes=["037032"],
    )
    assert circolo.level == "circolo"
    assert circolo.path == f"{tree.bologna.path}{circolo.pk}/"
    assert list(circolo.comuni.values_list("name", flat=True)) == ["Imola"]
    entry = AuditEntry.objects.get(action="territory.create", object_id=str(circolo.pk))
    assert entry.actor == federation_org
    assert entry.territory_path == circolo.path
    assert entry.verify()


def test_unknown_comune_code_is_refused_and_nothing_is_saved(tree, federation_org):
    before = Territory.objects.count()
    with pytest.raises(ValidationError) as error:
        actions.create_territory(
            actor=federation_org, parent=tree.bologna, name="Circolo X", kind=Kind.TERRITORIAL, comuni_codes=["999999"]
        )
    assert "Codice ISTAT di comune sconosciuto: 999999" in str(error.value)
    assert Territory.objects.count() == before
    assert AuditEntry.objects.filter(action="territory.create", kind=AuditKind.DENIED).exists()


def test_circolo_covering_a_comune_of_another_federation_is_refused(tree, federation_org):
    before = Territory.objects.count()
    with pytest.raises(ValidationError) as error:
        actions.create_territory(
            actor=federation_org,
            parent=tree.bologna,
            name="Circolo Y",
            kind=Kind.TERRITORIAL,
            comuni_codes=["037006", "036023"],
        )
    message = str(error.value)
    assert "Modena (MO) non appartiene alla Federazione metropolitana di Bologna" in message
    assert Territory.objects.count() == before


def test_area_change_outside_the_federation_keeps_the_old_area(tree, federation_org):
    with pytest.raises(ValidationError):
        actions.set_circolo_area(actor=federation_org, circolo=tree.bologna_centro, comuni_codes=["015146"])  # Milano
    assert list(tree.bologna_centro.comuni.values_list("istat_code", flat=True)) == ["037006"]


def test_wrong_level_kind_is_refused(tree, federation_org):
    with pytest.raises(ValidationError) as error:
        actions.create_territory(actor=federation_org, parent=tree.bologna, name="Z", kind=Kind.REGION)
    assert "non si può creare un nodo" in str(error.value)


def test_creating_outside_own_subtree_is_forbidden_and_logged(tree, federation_org):
    with pytest.raises(PermissionDenied):
        actions.create_territory(actor=federation_org, parent=tree.modena, name="Circolo Z", kind=Kind.TERRITORIAL)
    denied = AuditEntry.objects.get(action="territory.create", kind=AuditKind.DENIED)
    assert denied.actor == federation_org
    assert denied.territory_path == tree.modena.path


def test_role_above_the_assigners_own_node_is_refused_with_a_specific_message(
    tree, circolo_secretary, django_user_model
):
    other = django_user_model.objects.create_user("volontario", password="correct-horse-battery")
    with pytest.raises(PermissionDenied) as error:
        actions.assign_role(actor=circolo_secretary, user=other, territory=tree.bologna, role=Role.TREASURY)
    assert "Non puoi assegnare ruoli su Federazione metropolitana di Bologna" in str(error.value)
    assert "Circolo PD Bologna Centro" in str(error.value)
    assert not RoleAssignment.objects.filter(user=other).exists()


def test_role_within_own_node_is_assigned_and_only_admins_make_admins(tree, circolo_secretary, django_user_model):
    other = django_user_model.objects.create_user("cassiera", password="correct-horse-battery")
    assignment = actions.assign_role(
        actor=circolo_secretary, user=other, territory=tree.bologna_centro, role=Role.TREASURY
    )
    assert assignment.granted_by == circolo_secretary
    with pytest.raises(PermissionDenied):
        actions.assign_role(actor=circolo_secretary, user=other, territory=tree.bologna_centro, role=Role.ADMINISTRATOR)
    actions.revoke_role(actor=circolo_secretary, assignment=assignment)
    assert not RoleAssignment.objects.active().filter(user=other).exists()
    assert AuditEntry.objects.filter(action="role.revoke").count() == 1


def test_national_administrator_becomes_staff(tree, national_admin, django_user_model):
    other = django_user_model.objects.create_user("vice", password="correct-horse-battery")
    actions.assign_role(actor=national_admin, user=other, territory=tree.national, role=Role.ADMINISTRATOR)
    other.refresh_from_db()
    assert other.is_staff


def test_closing_a_node_with_open_children_is_refused(tree, federation_org):
    with pytest.raises(ValidationError):
        actions.close_territory(actor=tree and make_official("org.emilia", tree.emilia), territory=tree.bologna)
    circolo = actions.create_territory(
        actor=federation_org, parent=tree.bologna, name="Circolo da chiudere", kind=Kind.ONLINE
    )
    actions.close_territory(actor=federation_org, territory=circolo)
    circolo.refresh_from_db()
    assert not circolo.is_open


def test_create_form_shows_the_error_next_to_the_field(tree, federation_org):
    client = verified_client(federation_org)
    response = client.post(
        reverse("territory:create_child", args=[tree.bologna.pk]),
        {"name": "Circolo Q", "kind": Kind.TERRITORIAL, "comuni": "12"},
    )
    assert response.status_code == 200
    assert "Codice ISTAT di comune sconosciuto: 12" in response.content.decode()
    assert not Territory.objects.filter(name="Circolo Q").exists()
    response = client.post(
        reverse("territory:create_child", args=[tree.bologna.pk]),
        {"name": "Circolo Q", "kind": Kind.TERRITORIAL, "comuni": "037006"},
    )
    assert response.status_code == 302
    assert Territory.objects.filter(name="Circolo Q", parent=tree.bologna).exists()


def test_role_form_above_node_answers_403_with_the_reason(tree, circolo_secretary, django_user_model):
    django_user_model.objects.create_user("nuovo", password="correct-horse-battery")
    client = verified_client(circolo_secretary)
    # the federation is outside the secretary's scope: 404, it is not even disclosed
    response = client.post(
        reverse("territory:assign_role", args=[tree.bologna.pk]), {"username": "nuovo", "role": Role.TREASURY}
    )
    assert response.status_code == 404
