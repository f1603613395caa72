"""Issue 16: API keys created, shown once, stored hashed and revoked by an official in the back office."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from piazza.api.actions import hash_token
from piazza.api.models import ApiKey, Permission
from piazza.core.models import AuditEntry, AuditKind
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

from .conftest import osdi

pytestmark = pytest.mark.django_db


def _post(client: Client, territory_id: int, **overrides: object) -> Any:
    data = {
        "name": "Sito del circolo",
        "territory": territory_id,
        "permissions": [Permission.READ_PEOPLE],
        "expires_on": (timezone.localdate() + dt.timedelta(days=30)).isoformat(),
        **overrides,
    }
    return client.post("/api/chiavi/", data)


def test_official_creates_a_key_shown_once_and_stored_hashed(tree, circolo_secretary):
    client = verified_client(circolo_secretary)
    response = _post(client, tree.bologna_centro.pk)
    assert response.status_code == 200
    key = ApiKey.objects.get()
    token = response.context["token"]
    assert token.startswith(f"pz_{key.prefix}_") and len(token) > 40
    assert token.encode() in response.content
    assert key.token_hash == hash_token(token) and token not in key.token_hash
    assert key.owner == circolo_secretary and key.territory == tree.bologna_centro
    assert AuditEntry.objects.filter(action="api.create_key", object_id=str(key.pk)).exists()
    again = client.get("/api/chiavi/")
    assert token.encode() not in again.content and b"Sito del circolo" in again.content
    assert osdi(Client(), token, "/people").status_code == 200


def test_keys_page_is_in_the_back_office_menu(circolo_secretary):
    page = verified_client(circolo_secretary).get("/", follow=True)
    assert b'href="/api/chiavi/"' in page.content


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"permissions": []}, "Questo campo è obbligatorio"),
        ({"name": " "}, "Questo campo è obbligatorio"),
        ({"permissions": [Permission.READ_DONATIONS, Permission.READ_MEMBERSHIPS]}, "solo permessi che il tuo ruolo"),
        ({"expires_on": "2020-01-01"}, "tra domani e un anno"),
        ({"expires_on": "2030-01-01"}, "tra domani e un anno"),
    ],
)
def test_bad_key_requests_are_refused_with_a_message(tree, overrides, message):
    # A communication officer holds the campaign roles (donations) but not the membership ones.
    official = make_official("comunicazione", tree.bologna_centro, [Role.COMMUNICATION])
    client = verified_client(official)
    response = _post(client, tree.bologna_centro.pk, **overrides)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiKey.objects.exists()


def test_a_key_cannot_be_bound_outside_the_officials_scope(tree, circolo_secretary):
    response = _post(verified_client(circolo_secretary), tree.bologna_navile.pk)
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_revoked_key_stops_at_once_and_is_audited(tree, circolo_secretary, make_key):
    key, token = make_key(circolo_secretary, tree.bologna_centro)
    assert osdi(Client(), token, "/people").status_code == 200
    client = verified_client(circolo_secretary)
    assert client.post(f"/api/chiavi/{key.pk}/revoca/").status_code == 302
    refused = osdi(Client(), token, "/people")
    assert refused.status_code == 401
    assert "OSDI-API-Token" in refused.json()["error"]
    assert AuditEntry.objects.filter(action="api.revoke_key", object_id=str(key.pk)).exists()


def test_another_territorys_key_cannot_be_revoked(tree, circolo_secretary, make_key):
    other = make_official("navile", tree.bologna_navile, [Role.ORGANISATION])
    key, _ = make_key(other, tree.bologna_navile)
    response = verified_client(circolo_secretary).post(f"/api/chiavi/{key.pk}/revoca/")
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_expired_or_wrong_tokens_get_a_clear_401(tree, circolo_secretary, make_key, clock):
    _, token = make_key(circolo_secretary, tree.bologna_centro)
    assert osdi(Client(), token[:-2] + "xx", "/people").status_code == 401
    assert osdi(Client(), "", "/people").status_code == 401
    clock.move_to(timezone.now() + dt.timedelta(days=31))
    assert osdi(Client(), token, "/people").status_code == 401


def test_the_audit_log_names_every_use_of_a_key(tree, circolo_secretary, make_key):
    key, token = make_key(circolo_secretary, tree.bologna_centro)
    osdi(Client(), token, "/people")
    entry = AuditEntry.objects.filter(action="api.read").latest("pk")
    assert entry.kind == AuditKind.VIEW
    assert entry.actor == circolo_secretary
    assert entry.data["api_key"] == key.prefix and entry.data["path"].startswith("/api/v1/people")
