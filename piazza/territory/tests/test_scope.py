"""Convention 11 / rule G4: an official sees only their subtree, through every door."""

import pytest
from django.test import Client
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.territory.models import Role, Territory
from piazza.territory.scoping import scope_paths
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


def test_visible_to_is_the_subtree_of_the_role(tree, circolo_secretary):
    client = verified_client(circolo_secretary)
    client.get(reverse("web:dashboard"))  # a request user is 2FA-verified
    visible = Territory.objects.filter(path__startswith=tree.bologna_centro.path)
    assert set(Territory.objects.visible_to(_request_user(client, circolo_secretary))) == set(visible)


def _request_user(client, user):
    """The user as a request would carry it: verified through django-otp."""
    user.is_verified = lambda: True
    return user


def test_unverified_request_user_sees_nothing(tree, circolo_secretary):
    circolo_secretary.is_verified = lambda: False
    assert scope_paths(circolo_secretary) == []
    assert not Territory.objects.visible_to(circolo_secretary).exists()


def test_secretary_cannot_open_another_circolo_by_any_url(tree, circolo_secretary):
    client = verified_client(circolo_secretary)
    other = tree.modena_nord
    for name in ("territory:detail", "territory:create_child", "territory:edit_area", "territory:assign_role"):
        response = client.get(reverse(name, args=[other.pk]))
        assert response.status_code == 404, name
    response = client.post(reverse("territory:close", args=[other.pk]))
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.is_open
    # the parent federation is outside the circolo's subtree too
    assert client.get(reverse("territory:detail", args=[tree.bologna.pk])).status_code == 404
    # own circolo works
    assert client.get(reverse("territory:detail", args=[tree.bologna_centro.pk])).status_code == 200


def test_secretary_cannot_reach_admin_or_other_scopes_audit(tree, circolo_secretary):
    client = verified_client(circolo_secretary)
    for url in (
        "/admin/",
        "/admin/core/auditentry/",
        "/admin/territory/territory/",
        f"/admin/territory/territory/{tree.modena_nord.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    # audit log: only entries of the secretary's subtree
    AuditEntry(action="test.elsewhere", territory_id=tree.modena_nord.pk, territory_path=tree.modena_nord.path).save()
    AuditEntry(action="test.here", territory_id=tree.bologna_centro.pk, territory_path=tree.bologna_centro.path).save()
    body = client.get(reverse("web:audit_log")).content.decode()
    assert "test.here" in body
    assert "test.elsewhere" not in body


def test_dashboard_shows_the_officials_own_territory_only(tree, circolo_secretary):
    client = verified_client(circolo_secretary)
    body = client.get(reverse("web:dashboard")).content.decode()
    assert "Circolo PD Bologna Centro" in body
    assert "Circolo PD Modena Nord" not in body
    assert "Circolo PD Bologna Navile" not in body


def test_federation_official_sees_its_circoli_but_not_other_federations(tree):
    official = make_official("org.bologna", tree.bologna, [Role.ORGANISATION])
    client = verified_client(official)
    assert client.get(reverse("territory:detail", args=[tree.bologna_navile.pk])).status_code == 200
    assert client.get(reverse("territory:detail", args=[tree.modena_nord.pk])).status_code == 404


def test_official_without_2fa_is_sent_to_set_it_up_and_sees_no_data(tree, circolo_secretary):
    client = Client()
    client.force_login(circolo_secretary)
    for url in (
        reverse("web:dashboard"),
        reverse("territory:detail", args=[tree.bologna_centro.pk]),
        reverse("web:audit_log"),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("web:otp_setup"))


def test_non_official_user_is_refused(tree, django_user_model):
    donor = django_user_model.objects.create_user("donatrice", password="correct-horse-battery")
    client = verified_client(donor)
    assert client.get(reverse("web:dashboard")).status_code == 403


def test_national_admin_reaches_admin_after_2fa_only(tree, national_admin):
    plain = Client()
    plain.force_login(national_admin)
    assert plain.get("/admin/").status_code == 302
    client = verified_client(national_admin)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/core/auditentry/").status_code == 200


def test_audit_entries_cannot_be_changed_in_admin(tree, national_admin):
    client = verified_client(national_admin)
    entry = AuditEntry(action="test.entry", kind=AuditKind.WRITE)
    entry.save()
    response = client.post(f"/admin/core/auditentry/{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    response = client.get(f"/admin/core/auditentry/{entry.pk}/change/")
    assert response.status_code == 200
    assert b'name="action"' not in response.content  # read-only view, no editable field


def test_viewing_officials_names_is_logged(tree, circolo_secretary):
    client = verified_client(circolo_secretary)
    client.get(reverse("territory:detail", args=[tree.bologna_centro.pk]))
    entry = AuditEntry.objects.get(action="territory.view_officials")
    assert entry.kind == AuditKind.VIEW
    assert entry.actor == circolo_secretary
    assert entry.data["officials"] == [circolo_secretary.pk]
